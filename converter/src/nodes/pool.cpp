// MaxPool / AvgPool and the global pools: shape rules and float kernels.
#include <algorithm>
#include <limits>

#include "nodes/node_kind.h"

namespace emc::converter::detail {

Result<Shape> infer_pool2d(const Graph& g, const Node& node) {
  const Shape& in = g.shape(node.inputs[0]);
  EMC_TRY(expect_rank(node, in, 3));
  if (node.pool_pad_mode == PoolPadMode::kExcluded &&
      (node.pad.top >= node.kernel_h || node.pad.bottom >= node.kernel_h ||
       node.pad.left >= node.kernel_w || node.pad.right >= node.kernel_w))
    return node_error(node, Errc::kInvalidLayerConfig,
                      "excluded pooling padding must be smaller than the window");
  return window_shape(g, node, in.c());
}

Result<Shape> infer_global_pool(const Graph& g, const Node& node) {
  const Shape& in = g.shape(node.inputs[0]);
  EMC_TRY(expect_rank(node, in, 3));
  return node.keepdims ? Shape{{1, 1, in.c()}} : Shape{{in.c()}};
}

void pool2d_f32(const KernelArgs& args) {
  const auto [n, in_shape, in, out_shape, out] = unary(args);
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

void global_pool_f32(const KernelArgs& args) {
  const auto [n, in_shape, in, out_shape, out] = unary(args);
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

}  // namespace emc::converter::detail
