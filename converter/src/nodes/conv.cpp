// Conv2D, DepthwiseConv2D and Dense: their shape rules and float kernels. The kernels are direct
// loops (no im2col), in TF.js's own summation order and
// rounding so that the executor reproduces what a user's TF.js model computes, not just a close
// value. tfjs-backend-cpu accumulates a conv output over (ky, kx, ci) into a Float32Array with
// `y += x * w`, evaluated in double: the product of two floats is exact in double, the sum is
// rounded to double and then to float at every step. The bias is added afterwards (fused conv:
// conv, then add). Dense (batchMatMul) sums 48-long blocks of k in a double and adds each block
// to the float32 result. The loops below do exactly that; double arithmetic makes the result
// independent of the ISA (a float FMA would differ from it in rare double-rounding cases).
//
// Conv2D processes a tile of kTileW output pixels of one row against one block of output
// channels, so each kernel row W[ky][kx][ci][co-block] is loaded once per tile and the inner loop
// over output channels is contiguous (vectorizable).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

#include <algorithm>
#include <cstring>

#include "nodes/node_kind.h"

// The inner loops vectorize 4 doubles wide with AVX2; the default clone runs anywhere.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__)
#define EMC_EXEC_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define EMC_EXEC_CLONES
#endif

namespace emc::converter::detail {
namespace {
constexpr int kTileW = 8;
constexpr int kBlockC = 256;
constexpr int kMatMulBlock = 48;  // tfjs-backend-cpu MathBackendCPU::blockSize

// acc[i] = float(double(acc[i]) + double(x) * double(w[i])): one TF.js `y += x * w` step.
inline void axpy_tfjs(float* acc, float x, const float* w, int n) {
  const double xd = x;
  for (int i = 0; i < n; ++i)
    acc[i] = static_cast<float>(static_cast<double>(acc[i]) + xd * static_cast<double>(w[i]));
}

inline void add_bias(float* o, const float* bias, int n) {
  if (bias == nullptr) return;
  for (int i = 0; i < n; ++i) o[i] += bias[i];
}
}  // namespace

Result<Shape> infer_conv2d(const Graph& g, const Node& node) {
  const Shape& in = g.shape(node.inputs[0]);
  EMC_TRY(expect_rank(node, in, 3));
  if (node.filters < 1) return node_error(node, Errc::kInvalidLayerConfig, "filters must be >= 1");
  EMC_TRY(expect_size(node, node.kernel,
                      std::int64_t{node.kernel_h} * node.kernel_w * in.c() * node.filters,
                      "kernel [kh, kw, cin, cout]", false));
  EMC_TRY(expect_size(node, node.bias, node.filters, "bias", true));
  return window_shape(g, node, node.filters);
}

Result<Shape> infer_depthwise_conv2d(const Graph& g, const Node& node) {
  const Shape& in = g.shape(node.inputs[0]);
  EMC_TRY(expect_rank(node, in, 3));
  if (node.depth_multiplier < 1)
    return node_error(node, Errc::kInvalidLayerConfig, "depth_multiplier must be >= 1");
  const std::int64_t out_c = std::int64_t{in.c()} * node.depth_multiplier;
  if (out_c >= (std::int64_t{1} << 31))
    return node_error(node, Errc::kShapeMismatch, "too many output channels");
  EMC_TRY(expect_size(node, node.kernel, std::int64_t{node.kernel_h} * node.kernel_w * out_c,
                      "depthwise kernel [kh, kw, c, m]", false));
  EMC_TRY(expect_size(node, node.bias, out_c, "bias", true));
  return window_shape(g, node, static_cast<std::int32_t>(out_c));
}

Result<Shape> infer_dense(const Graph& g, const Node& node) {
  const Shape& in = g.shape(node.inputs[0]);
  if (in.rank() < 1)
    return node_error(node, Errc::kShapeMismatch, "Dense needs an input of rank >= 1");
  if (node.filters < 1) return node_error(node, Errc::kInvalidLayerConfig, "units must be >= 1");
  EMC_TRY(expect_size(node, node.kernel, std::int64_t{in.c()} * node.filters, "kernel [in, units]",
                      false));
  EMC_TRY(expect_size(node, node.bias, node.filters, "bias", true));
  Shape out = in;
  out.dims.back() = node.filters;
  return out;
}

EMC_EXEC_CLONES void conv2d_f32(const KernelArgs& args) {
  const auto [n, in_shape, in, out_shape, out] = unary(args);
  const int ih = in_shape.h(), iw = in_shape.w(), cin = in_shape.c();
  const int oh = out_shape.h(), ow = out_shape.w(), cout = out_shape.c();
  const int kh = n.kernel_h, kw = n.kernel_w;
  const float* w = n.kernel.data();
  const float* bias = n.has_bias() ? n.bias.data() : nullptr;
  float acc[kTileW][kBlockC];
  const float* px[kTileW];
  for (int oy = 0; oy < oh; ++oy) {
    for (int ox0 = 0; ox0 < ow; ox0 += kTileW) {
      const int tw = std::min(kTileW, ow - ox0);
      for (int c0 = 0; c0 < cout; c0 += kBlockC) {
        const int cb = std::min(kBlockC, cout - c0);
        for (int p = 0; p < tw; ++p) std::fill(acc[p], acc[p] + cb, 0.0f);
        for (int ky = 0; ky < kh; ++ky) {
          const int iy = oy * n.stride_h - n.pad.top + ky * n.dilation_h;
          if (iy < 0 || iy >= ih) continue;
          for (int kx = 0; kx < kw; ++kx) {
            int valid = 0;
            for (int p = 0; p < tw; ++p) {
              const int ix = (ox0 + p) * n.stride_w - n.pad.left + kx * n.dilation_w;
              px[p] = (ix < 0 || ix >= iw) ? nullptr
                                           : in + (static_cast<std::int64_t>(iy) * iw + ix) * cin;
              valid += px[p] != nullptr;
            }
            if (!valid) continue;
            const float* wk = w + (static_cast<std::int64_t>(ky) * kw + kx) * cin * cout + c0;
            for (int ci = 0; ci < cin; ++ci) {
              const float* wr = wk + static_cast<std::int64_t>(ci) * cout;
              for (int p = 0; p < tw; ++p) {
                if (px[p]) axpy_tfjs(acc[p], px[p][ci], wr, cb);
              }
            }
          }
        }
        for (int p = 0; p < tw; ++p) {
          float* o = out + (static_cast<std::int64_t>(oy) * ow + ox0 + p) * cout + c0;
          std::memcpy(o, acc[p], sizeof(float) * static_cast<std::size_t>(cb));
          add_bias(o, bias ? bias + c0 : nullptr, cb);
          activate_inplace(n.activation, o, cb);
        }
      }
    }
  }
}

EMC_EXEC_CLONES void depthwise_conv2d_f32(const KernelArgs& args) {
  const auto [n, in_shape, in, out_shape, out] = unary(args);
  const int ih = in_shape.h(), iw = in_shape.w(), c = in_shape.c();
  const int oh = out_shape.h(), ow = out_shape.w(), cout = out_shape.c();
  const int m = n.depth_multiplier;
  const int kw = n.kernel_w;
  // Locals, not the structured bindings: clang 14 (the fuzz build) cannot capture those.
  const float* const src = in;
  const float* const kernel = n.kernel.data();
  for (int oy = 0; oy < oh; ++oy) {
    for (int ox = 0; ox < ow; ++ox) {
      float* a = out + (static_cast<std::int64_t>(oy) * ow + ox) * cout;
      std::fill(a, a + cout, 0.0f);
      for_each_conv_tap(n, oy, ox, ih, iw, [&](int ky, int kx, int iy, int ix) {
        const float* x = src + (static_cast<std::int64_t>(iy) * iw + ix) * c;
        // Kernel [ky][kx][c][m] flattened is [ky][kx][c*m + j]: the output channel order.
        const float* wk = kernel + (static_cast<std::int64_t>(ky) * kw + kx) * cout;
        if (m == 1) {
          for (int ch = 0; ch < c; ++ch)
            a[ch] = static_cast<float>(static_cast<double>(a[ch]) +
                                       static_cast<double>(x[ch]) * wk[ch]);
        } else {
          for (int ch = 0; ch < c; ++ch) axpy_tfjs(a + ch * m, x[ch], wk + ch * m, m);
        }
      });
      add_bias(a, n.has_bias() ? n.bias.data() : nullptr, cout);
      activate_inplace(n.activation, a, cout);
    }
  }
}

EMC_EXEC_CLONES void dense_f32(const KernelArgs& args) {
  const auto [n, in_shape, in, out_shape, out] = unary(args);
  const int k = in_shape.c();
  const int units = n.filters;
  const std::int64_t rows = in_shape.num_elements() / k;
  std::vector<double> block(static_cast<std::size_t>(units));
  for (std::int64_t r = 0; r < rows; ++r) {
    float* o = out + r * units;
    std::fill(o, o + units, 0.0f);
    const float* x = in + r * k;
    for (int k0 = 0; k0 < k; k0 += kMatMulBlock) {
      const int k1 = std::min(k, k0 + kMatMulBlock);
      std::fill(block.begin(), block.end(), 0.0);
      for (int i = k0; i < k1; ++i) {
        const double xv = x[i];
        const float* wr = n.kernel.data() + static_cast<std::int64_t>(i) * units;
        for (int u = 0; u < units; ++u) block[u] += xv * static_cast<double>(wr[u]);
      }
      for (int u = 0; u < units; ++u)
        o[u] = static_cast<float>(static_cast<double>(o[u]) + block[u]);
    }
    add_bias(o, n.has_bias() ? n.bias.data() : nullptr, units);
    activate_inplace(n.activation, o, units);
  }
}

}  // namespace emc::converter::detail
