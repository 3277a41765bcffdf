// Pools, BatchNorm, padding, softmax, concat and the activation functions.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "emc/converter/float_executor.h"
#include "kernels.h"

namespace emc::converter {

// Each function as tfjs-backend-cpu evaluates it: in double (JS numbers), rounded to float once.
float apply_activation(const Activation& a, float x) {
  const double xd = x;
  switch (a.kind) {
    case ActivationKind::kLinear:
      return x;
    case ActivationKind::kRelu:
      if (x >= a.max_value) return a.max_value;
      if (x >= a.threshold) return x;
      return static_cast<float>(a.alpha * (xd - a.threshold));
    case ActivationKind::kSigmoid:
      return static_cast<float>(1.0 / (1.0 + std::exp(-xd)));
    case ActivationKind::kHardSigmoid:
      // tfjs-layers: add(0.5, mul(alpha, x)), two float32 ops, then clip.
      return std::clamp(static_cast<float>(a.alpha) * x + 0.5f, 0.0f, 1.0f);
    case ActivationKind::kTanh:
      return static_cast<float>(std::tanh(xd));
    case ActivationKind::kElu:
      return x >= 0.0f ? x : static_cast<float>(a.alpha * (std::exp(xd) - 1.0));
    case ActivationKind::kSelu: {
      // tfjs-core's SELU_SCALE and SELU_SCALEALPHA (= scale * alpha, as one constant).
      constexpr double kScale = 1.0507009873554804934, kScaleAlpha = 1.7580993408473768599;
      return static_cast<float>(x >= 0.0f ? kScale * xd : kScaleAlpha * (std::exp(xd) - 1.0));
    }
    case ActivationKind::kSwish: {
      // tfjs-layers: mul(sigmoid(x), x), the sigmoid rounded to float first.
      const float s = static_cast<float>(1.0 / (1.0 + std::exp(-xd)));
      return s * x;
    }
    case ActivationKind::kAffine:
      // tfjs-layers Rescaling: add(mul(x, scale), offset); the JS numbers become float32 scalars.
      return x * static_cast<float>(a.alpha) + static_cast<float>(a.offset);
  }
  return x;
}

namespace detail {

void activate_inplace(const Activation& a, float* data, std::int64_t count) {
  if (a.kind == ActivationKind::kLinear) return;
  if (a.is_plain_relu()) {
    for (std::int64_t i = 0; i < count; ++i) data[i] = data[i] > 0.0f ? data[i] : 0.0f;
    return;
  }
  if (a.is_relu6()) {
    for (std::int64_t i = 0; i < count; ++i) data[i] = std::min(std::max(data[i], 0.0f), 6.0f);
    return;
  }
  for (std::int64_t i = 0; i < count; ++i) data[i] = apply_activation(a, data[i]);
}

void pool2d_f32(const Node& n, const Shape& in_shape, const float* in, const Shape& out_shape,
                float* out) {
  const int ih = in_shape.h(), iw = in_shape.w(), c = in_shape.c();
  const int oh = out_shape.h(), ow = out_shape.w();
  const bool is_max = n.kind == NodeKind::kMaxPool;
  const bool zeros = n.pool_pad_mode == PoolPadMode::kZeros;
  // Max in float; average summed and divided in double, rounded once (tfjs pool_utils).
  std::vector<double> acc(static_cast<std::size_t>(c));
  for (int oy = 0; oy < oh; ++oy) {
    for (int ox = 0; ox < ow; ++ox) {
      std::fill(acc.begin(), acc.end(), is_max ? -std::numeric_limits<double>::infinity() : 0.0);
      int count = 0;
      bool any_pad = false;
      for (int ky = 0; ky < n.kernel_h; ++ky) {
        const int iy = oy * n.stride_h - n.pad.top + ky;
        for (int kx = 0; kx < n.kernel_w; ++kx) {
          const int ix = ox * n.stride_w - n.pad.left + kx;
          if (iy < 0 || iy >= ih || ix < 0 || ix >= iw) {
            any_pad = true;
            continue;
          }
          ++count;
          const float* x = in + (static_cast<std::int64_t>(iy) * iw + ix) * c;
          if (is_max)
            for (int ch = 0; ch < c; ++ch) acc[ch] = std::max(acc[ch], double{x[ch]});
          else
            for (int ch = 0; ch < c; ++ch) acc[ch] += x[ch];
        }
      }
      float* o = out + (static_cast<std::int64_t>(oy) * ow + ox) * c;
      if (is_max) {
        // Explicit zero padding takes part in the max.
        for (int ch = 0; ch < c; ++ch)
          o[ch] = static_cast<float>((zeros && any_pad) ? std::max(acc[ch], 0.0) : acc[ch]);
      } else {
        const double div = zeros ? n.kernel_h * n.kernel_w : count;
        for (int ch = 0; ch < c; ++ch) o[ch] = static_cast<float>(acc[ch] / div);
      }
    }
  }
}

void global_pool_f32(const Node& n, const Shape& in_shape, const float* in, float* out) {
  const int c = in_shape.c();
  const std::int64_t pixels = std::int64_t{in_shape.h()} * in_shape.w();
  if (n.kind == NodeKind::kGlobalMaxPool) {
    std::fill(out, out + c, -std::numeric_limits<float>::infinity());
    for (std::int64_t p = 0; p < pixels; ++p) {
      const float* x = in + p * c;
      for (int ch = 0; ch < c; ++ch) out[ch] = std::max(out[ch], x[ch]);
    }
    return;
  }
  // tfjs-layers: mean(x, [1, 2]) = sum(x / N): each term divided in float32, summed in double
  // (tfjs-backend-cpu's Sum), rounded once.
  const float count = static_cast<float>(pixels);
  std::vector<double> sum(static_cast<std::size_t>(c), 0.0);
  for (std::int64_t p = 0; p < pixels; ++p) {
    const float* x = in + p * c;
    for (int ch = 0; ch < c; ++ch) sum[ch] += x[ch] / count;
  }
  for (int ch = 0; ch < c; ++ch) out[ch] = static_cast<float>(sum[ch]);
}

void batch_norm_f32(const Node& n, const Shape& in_shape, const float* in, float* out) {
  // tfjs-backend-cpu BatchNorm: offset + (x - mean) * scale / sqrt(variance + epsilon), in double,
  // rounded once.
  const int c = in_shape.c();
  std::vector<double> root(static_cast<std::size_t>(c));
  for (int ch = 0; ch < c; ++ch) root[ch] = std::sqrt(double{n.variance[ch]} + n.epsilon);
  const std::int64_t rows = in_shape.num_elements() / c;
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* x = in + r * c;
    float* o = out + r * c;
    for (int ch = 0; ch < c; ++ch)
      o[ch] = static_cast<float>(double{n.beta[ch]} +
                                 (double{x[ch]} - n.mean[ch]) * n.gamma[ch] / root[ch]);
    activate_inplace(n.activation, o, c);
  }
}

void zero_pad_f32(const Node& n, const Shape& in_shape, const float* in, const Shape& out_shape,
                  float* out) {
  const int c = in_shape.c();
  std::fill(out, out + out_shape.num_elements(), 0.0f);
  for (int y = 0; y < in_shape.h(); ++y) {
    const float* src = in + static_cast<std::int64_t>(y) * in_shape.w() * c;
    float* dst =
        out + ((static_cast<std::int64_t>(y) + n.pad.top) * out_shape.w() + n.pad.left) * c;
    std::memcpy(dst, src, sizeof(float) * static_cast<std::size_t>(in_shape.w()) * c);
  }
}

void softmax_f32(const Shape& shape, const float* in, float* out) {
  // tfjs-backend-cpu Softmax: e = exp(x - max) per element (float32 sub, exp in double rounded to
  // float32), sum of e in double rounded to float32, then e / sum in float32.
  const int c = shape.c();
  const std::int64_t rows = shape.num_elements() / c;
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* x = in + r * c;
    float* o = out + r * c;
    const float mx = *std::max_element(x, x + c);
    double sum = 0.0;
    for (int i = 0; i < c; ++i) {
      o[i] = static_cast<float>(std::exp(static_cast<double>(x[i] - mx)));
      sum += o[i];
    }
    const float sum_f = static_cast<float>(sum);
    for (int i = 0; i < c; ++i) o[i] /= sum_f;
  }
}

void concat_f32(const Node& n, const std::vector<const float*>& ins,
                const std::vector<const Shape*>& in_shapes, const Shape& out_shape, float* out) {
  std::int64_t outer = 1;
  for (int a = 0; a < n.axis; ++a) outer *= out_shape.dims[a];
  std::int64_t inner = 1;
  for (int a = n.axis + 1; a < out_shape.rank(); ++a) inner *= out_shape.dims[a];
  const std::int64_t out_row = out_shape.dims[n.axis] * inner;
  std::int64_t offset = 0;
  for (std::size_t i = 0; i < ins.size(); ++i) {
    const std::int64_t row = in_shapes[i]->dims[n.axis] * inner;
    for (std::int64_t o = 0; o < outer; ++o)
      std::memcpy(out + o * out_row + offset, ins[i] + o * row,
                  sizeof(float) * static_cast<std::size_t>(row));
    offset += row;
  }
}

void merge_f32(const Node& n, const std::vector<const float*>& ins, std::int64_t count, float* out) {
  // tfjs-layers Merge layers: out = in0; out = op(out, in_k) for k = 1.. (one float32 op each).
  std::copy(ins[0], ins[0] + count, out);
  for (std::size_t k = 1; k < ins.size(); ++k) {
    const float* b = ins[k];
    switch (n.kind) {
      case NodeKind::kAdd:
      case NodeKind::kAverage:
        for (std::int64_t i = 0; i < count; ++i) out[i] += b[i];
        break;
      case NodeKind::kMultiply:
        for (std::int64_t i = 0; i < count; ++i) out[i] *= b[i];
        break;
      case NodeKind::kSubtract:
        for (std::int64_t i = 0; i < count; ++i) out[i] -= b[i];
        break;
      case NodeKind::kMaximum:  // tfjs maximum: a NaN on either side gives NaN
        for (std::int64_t i = 0; i < count; ++i)
          out[i] = (std::isnan(out[i]) || std::isnan(b[i])) ? NAN : std::max(out[i], b[i]);
        break;
      case NodeKind::kMinimum:
        for (std::int64_t i = 0; i < count; ++i)
          out[i] = (std::isnan(out[i]) || std::isnan(b[i])) ? NAN : std::min(out[i], b[i]);
        break;
      default:
        break;
    }
  }
  if (n.kind == NodeKind::kAverage) {  // mul(1 / n, sum): 1/n rounded to float32 first
    const float inv = static_cast<float>(1.0 / static_cast<double>(ins.size()));
    for (std::int64_t i = 0; i < count; ++i) out[i] = inv * out[i];
  }
  activate_inplace(n.activation, out, count);
}

void prelu_f32(const Node& n, const float* in, std::int64_t count, float* out) {
  // tfjs-backend-cpu prelu: x < 0 ? alpha * x : x (float32 product).
  for (std::int64_t i = 0; i < count; ++i) out[i] = in[i] < 0.0f ? n.kernel[i] * in[i] : in[i];
}

void upsample_f32(const Node& n, const Shape& in_shape, const float* in, const Shape& out_shape,
                  float* out) {
  // resizeNearestNeighbor to an integer multiple (align_corners and half_pixel_centers false):
  // source = floor(dst / size), i.e. each pixel repeated.
  const int c = in_shape.c();
  for (int y = 0; y < out_shape.h(); ++y)
    for (int x = 0; x < out_shape.w(); ++x) {
      const float* src =
          in + (static_cast<std::int64_t>(y / n.stride_h) * in_shape.w() + x / n.stride_w) * c;
      std::memcpy(out + (static_cast<std::int64_t>(y) * out_shape.w() + x) * c, src,
                  sizeof(float) * static_cast<std::size_t>(c));
    }
}

void crop_f32(const Node& n, const Shape& in_shape, const float* in, const Shape& out_shape,
              float* out) {
  const int c = in_shape.c();
  for (int y = 0; y < out_shape.h(); ++y)
    std::memcpy(out + static_cast<std::int64_t>(y) * out_shape.w() * c,
                in + ((static_cast<std::int64_t>(y) + n.pad.top) * in_shape.w() + n.pad.left) * c,
                sizeof(float) * static_cast<std::size_t>(out_shape.w()) * c);
}

}  // namespace detail
}  // namespace emc::converter
