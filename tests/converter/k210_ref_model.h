// An independent integer model of the KPU layer (kmodel_v3.md §6.1-§6.5), written for the tests
// from the spec text, not from the converter: conv with arg_x/arg_w/arg_add, batch-norm word,
// 16-segment activation (strict selection + banker's rounding as nncase v0.2, the simulator of
// record), pooling. Input/output are dense CHW uint8.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "emc/format/kpu_regs.h"

namespace emc::test {

struct RefConv {
  int in_c = 0, out_c = 0, h = 0, w = 0, k = 1;
  bool depthwise = false;
  std::int64_t arg_x = 0, shr_x = 0, arg_w = 0, shr_w = 0, arg_add = 0;
  int pad_value = 0;
  std::vector<std::int64_t> weights;  // OIHW codes, or [c][ky][kx] for depthwise
  std::vector<format::KpuBatchNorm> bn;
  format::KpuActivationTable act{};
  int pool_type = 0;
};

inline std::int64_t ref_bankers(std::int64_t v, int s) {
  if (s <= 0) return v;
  const std::int64_t i = v >> s, f = v & ((std::int64_t{1} << s) - 1),
                     h = std::int64_t{1} << (s - 1);
  const std::int64_t sg = v < 0 ? -1 : 1;
  if (f < h) return i;
  if (f > h) return i + sg;
  return (i & 1) ? i + sg : i;
}

inline int ref_act(const format::KpuActivationTable& t, std::int64_t bn) {
  int idx = 0;
  for (int i = 15; i >= 0; --i)
    if (bn > t[i].x_start) {
      idx = i;
      break;
    }
  const std::int64_t y =
      ref_bankers((bn - t[idx].x_start) * t[idx].y_mul, t[idx].shift_number) + t[idx].result_bias;
  return static_cast<int>(std::clamp<std::int64_t>(y, 0, 255));
}

// Pre-BN accumulator at (o, y, x).
inline std::int64_t ref_acc(const RefConv& c, const std::vector<std::uint8_t>& in, int o, int y,
                            int x) {
  const int p = c.k / 2;
  std::int64_t value = 0, sum_x = 0, sum_w = 0;
  const int ic0 = c.depthwise ? o : 0, ic1 = c.depthwise ? o + 1 : c.in_c;
  for (int ic = ic0; ic < ic1; ++ic) {
    for (int ky = 0; ky < c.k; ++ky) {
      for (int kx = 0; kx < c.k; ++kx) {
        const int yy = y + ky - p, xx = x + kx - p;
        const std::int64_t xv = (yy < 0 || yy >= c.h || xx < 0 || xx >= c.w)
                                    ? c.pad_value
                                    : in[(static_cast<std::size_t>(ic) * c.h + yy) * c.w + xx];
        const std::size_t wi =
            c.depthwise ? (static_cast<std::size_t>(o) * c.k + ky) * c.k + kx
                        : ((static_cast<std::size_t>(o) * c.in_c + ic) * c.k + ky) * c.k + kx;
        value += xv * c.weights[wi];
        sum_x += xv;
        sum_w += c.weights[wi];
      }
    }
  }
  const std::int64_t g_ic = c.depthwise ? 1 : c.in_c;
  return value + ((c.arg_x * sum_x) >> c.shr_x) + ((c.arg_w * sum_w) >> c.shr_w) + c.arg_add * g_ic;
}

// Full layer: returns the (pooled) CHW output.
inline std::vector<std::uint8_t> ref_kpu_layer(const RefConv& c,
                                               const std::vector<std::uint8_t>& in,
                                               int* out_h = nullptr, int* out_w = nullptr) {
  std::vector<std::uint8_t> act(static_cast<std::size_t>(c.out_c) * c.h * c.w);
  for (int o = 0; o < c.out_c; ++o)
    for (int y = 0; y < c.h; ++y)
      for (int x = 0; x < c.w; ++x) {
        const std::int64_t acc = ref_acc(c, in, o, y, x);
        const auto& b = c.bn[o];
        const std::int64_t bn = ((acc * b.norm_mul) >> b.norm_shift) + b.norm_add;
        act[(static_cast<std::size_t>(o) * c.h + y) * c.w + x] =
            static_cast<std::uint8_t>(ref_act(c.act, bn));
      }
  int oh = c.h, ow = c.w;
  if (c.pool_type == 0) {
    if (out_h) *out_h = oh;
    if (out_w) *out_w = ow;
    return act;
  }
  int win = 2, stride = 2;
  if (c.pool_type == 3 || c.pool_type == 4 || c.pool_type == 7) win = stride = 4;
  oh = c.h / stride;
  ow = c.w / stride;
  std::vector<std::uint8_t> out(static_cast<std::size_t>(c.out_c) * oh * ow);
  for (int o = 0; o < c.out_c; ++o)
    for (int y = 0; y < oh; ++y)
      for (int x = 0; x < ow; ++x) {
        auto at = [&](int yy, int xx) {
          return int(act[(static_cast<std::size_t>(o) * c.h + yy) * c.w + xx]);
        };
        int v = 0;
        if (c.pool_type == 5 || c.pool_type == 7) {
          v = at(y * stride, x * stride);
        } else if (c.pool_type == 6) {
          v = x * stride + 1 < c.w ? at(y * stride, x * stride + 1) : 0;
        } else {
          int m = 0, s = 0;
          for (int dy = 0; dy < win; ++dy)
            for (int dx = 0; dx < win; ++dx) {
              m = std::max(m, at(y * stride + dy, x * stride + dx));
              s += at(y * stride + dy, x * stride + dx);
            }
          v = (c.pool_type == 1 || c.pool_type == 3) ? m : s / (win * win);
        }
        out[(static_cast<std::size_t>(o) * oh + y) * ow + x] = static_cast<std::uint8_t>(v);
      }
  if (out_h) *out_h = oh;
  if (out_w) *out_w = ow;
  return out;
}

}  // namespace emc::test
