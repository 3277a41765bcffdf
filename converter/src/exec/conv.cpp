// Conv2D, DepthwiseConv2D and Dense: direct loops (no im2col). Conv2D processes a tile of
// kTileW output pixels of one row against one block of output channels, so each kernel row
// W[ky][kx][ci][co-block] is loaded once per tile and the inner loop over output channels is
// contiguous (vectorizable axpy).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

#include <algorithm>
#include <cstring>

#include "kernels.h"

namespace emc::converter::detail {
namespace {
constexpr int kTileW = 8;
constexpr int kBlockC = 256;
}  // namespace

void conv2d_f32(const Node& n, const Shape& in_shape, const float* in, const Shape& out_shape,
                float* out) {
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
        for (int p = 0; p < tw; ++p) {
          if (bias)
            std::memcpy(acc[p], bias + c0, sizeof(float) * static_cast<std::size_t>(cb));
          else
            std::fill(acc[p], acc[p] + cb, 0.0f);
        }
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
                if (!px[p]) continue;
                const float xv = px[p][ci];
                float* a = acc[p];
                for (int co = 0; co < cb; ++co) a[co] += xv * wr[co];
              }
            }
          }
        }
        for (int p = 0; p < tw; ++p) {
          float* o = out + (static_cast<std::int64_t>(oy) * ow + ox0 + p) * cout + c0;
          std::memcpy(o, acc[p], sizeof(float) * static_cast<std::size_t>(cb));
          activate_inplace(n.activation, o, cb);
        }
      }
    }
  }
}

void depthwise_conv2d_f32(const Node& n, const Shape& in_shape, const float* in,
                          const Shape& out_shape, float* out) {
  const int ih = in_shape.h(), iw = in_shape.w(), c = in_shape.c();
  const int oh = out_shape.h(), ow = out_shape.w(), cout = out_shape.c();
  const int m = n.depth_multiplier;
  const int kh = n.kernel_h, kw = n.kernel_w;
  std::vector<float> acc(static_cast<std::size_t>(cout));
  for (int oy = 0; oy < oh; ++oy) {
    for (int ox = 0; ox < ow; ++ox) {
      if (n.has_bias())
        std::copy(n.bias.begin(), n.bias.end(), acc.begin());
      else
        std::fill(acc.begin(), acc.end(), 0.0f);
      for (int ky = 0; ky < kh; ++ky) {
        const int iy = oy * n.stride_h - n.pad.top + ky * n.dilation_h;
        if (iy < 0 || iy >= ih) continue;
        for (int kx = 0; kx < kw; ++kx) {
          const int ix = ox * n.stride_w - n.pad.left + kx * n.dilation_w;
          if (ix < 0 || ix >= iw) continue;
          const float* x = in + (static_cast<std::int64_t>(iy) * iw + ix) * c;
          // Kernel [ky][kx][c][m] flattened is [ky][kx][c*m + j]: the output channel order.
          const float* wk = n.kernel.data() + (static_cast<std::int64_t>(ky) * kw + kx) * cout;
          float* a = acc.data();
          if (m == 1) {
            for (int ch = 0; ch < c; ++ch) a[ch] += x[ch] * wk[ch];
          } else {
            for (int ch = 0; ch < c; ++ch)
              for (int j = 0; j < m; ++j) a[ch * m + j] += x[ch] * wk[ch * m + j];
          }
        }
      }
      float* o = out + (static_cast<std::int64_t>(oy) * ow + ox) * cout;
      std::copy(acc.begin(), acc.end(), o);
      activate_inplace(n.activation, o, cout);
    }
  }
}

void dense_f32(const Node& n, const Shape& in_shape, const float* in, float* out) {
  const int k = in_shape.c();
  const int units = n.filters;
  const std::int64_t rows = in_shape.num_elements() / k;
  for (std::int64_t r = 0; r < rows; ++r) {
    float* o = out + r * units;
    if (n.has_bias())
      std::copy(n.bias.begin(), n.bias.end(), o);
    else
      std::fill(o, o + units, 0.0f);
    const float* x = in + r * k;
    for (int i = 0; i < k; ++i) {
      const float xv = x[i];
      const float* wr = n.kernel.data() + static_cast<std::int64_t>(i) * units;
      for (int u = 0; u < units; ++u) o[u] += xv * wr[u];
    }
    activate_inplace(n.activation, o, units);
  }
}

}  // namespace emc::converter::detail
