#include "output_stage.h"

#include <algorithm>

#include "fixed_point.h"

namespace emc::accel_sim::detail {

ActivationStage::ActivationStage(const format::KpuActivationTable& table,
                                 const KpuSimOptions& options) {
  sorted_ = true;
  for (std::size_t i = 0; i < 16; ++i) {
    x_start_[i] = table[i].x_start;
    y_mul_[i] = table[i].y_mul;
    shift_[i] = table[i].shift_number;
    bias_[i] = table[i].result_bias;
    if (i > 0 && x_start_[i] < x_start_[i - 1]) sorted_ = false;
  }
  strict_ = options.selection == SegmentSelection::kStartStrictlyLess;
  banker_ = options.rounding == ActivationRounding::kNn02Banker;
}

namespace {

// The per-element stage, templated on the options so its loop has no option branches.
template <bool kStrict, bool kBanker>
void bn_act_loop(const std::int64_t* x_start, const std::int64_t* y_mul, const std::uint32_t* shift,
                 const std::int64_t* bias, bool sorted, const std::int32_t* lo,
                 const std::int32_t* hi, const std::int64_t* xterm, std::int64_t cterm,
                 const ChannelBn& bn, std::size_t n, std::uint8_t* out) {
  for (std::size_t i = 0; i < n; ++i) {
    std::int64_t value = lo[i];
    if (hi != nullptr) value += std::int64_t{hi[i]} * 256;
    const std::int64_t acc = wrap36(value + xterm[i] + cterm);
    // acc is 36-bit and norm_mul 24-bit: the product fits in 60 bits.
    const std::int64_t b = wrap36(((acc * bn.mul) >> bn.shift) + bn.add);
    std::size_t seg = 0;
    if (sorted) {
      // Qualifying segments form a prefix; the highest one is count - 1.
      std::size_t count = 0;
      for (std::size_t s = 0; s < 16; ++s) count += kStrict ? (x_start[s] < b) : (x_start[s] <= b);
      seg = count > 0 ? count - 1 : 0;
    } else {
      for (std::size_t s = 0; s < 16; ++s) {
        if (kStrict ? (x_start[s] < b) : (x_start[s] <= b)) seg = s;
      }
    }
    // bn and x_start are 36-bit and y_mul 16-bit, so the product stays below 2^53.
    const std::int64_t product = (b - x_start[seg]) * y_mul[seg];
    const std::int64_t y =
        (kBanker ? carry_shift_banker(product, shift[seg]) : carry_shift_sdk(product, shift[seg])) +
        bias[seg];
    out[i] = static_cast<std::uint8_t>(std::clamp<std::int64_t>(y, 0, 255));
  }
}

}  // namespace

void ActivationStage::run(const std::int32_t* lo, const std::int32_t* hi, const std::int64_t* xterm,
                          std::int64_t cterm, const ChannelBn& bn, std::size_t n,
                          std::uint8_t* out) const {
  const auto* xs = x_start_.data();
  const auto* ym = y_mul_.data();
  const auto* sh = shift_.data();
  const auto* bi = bias_.data();
  if (strict_ && banker_) {
    bn_act_loop<true, true>(xs, ym, sh, bi, sorted_, lo, hi, xterm, cterm, bn, n, out);
  } else if (strict_) {
    bn_act_loop<true, false>(xs, ym, sh, bi, sorted_, lo, hi, xterm, cterm, bn, n, out);
  } else if (banker_) {
    bn_act_loop<false, true>(xs, ym, sh, bi, sorted_, lo, hi, xterm, cterm, bn, n, out);
  } else {
    bn_act_loop<false, false>(xs, ym, sh, bi, sorted_, lo, hi, xterm, cterm, bn, n, out);
  }
}

std::uint32_t pool_output_size(std::uint32_t in, std::int64_t pool_type) {
  switch (pool_type) {
    case 1:
    case 2:
    case 5:
    case 6:
      return in / 2;
    case 3:
    case 4:
    case 7:
      return in / 4;
    default:
      return in;  // 0 bypass, 8 mean_2_s1, 9 max_2_s1
  }
}

void pool_plane(const std::uint8_t* in, std::uint32_t in_h, std::uint32_t in_w,
                std::int64_t pool_type, std::uint8_t* out) {
  const std::uint32_t oh = pool_output_size(in_h, pool_type);
  const std::uint32_t ow = pool_output_size(in_w, pool_type);
  auto at = [&](std::uint32_t y, std::uint32_t x) -> std::uint32_t { return in[y * in_w + x]; };
  switch (pool_type) {
    case 0:
      std::copy(in, in + std::size_t{in_h} * in_w, out);
      return;
    case 1:
    case 3: {  // max k x k stride k; floor sizes keep every tap inside
      const std::uint32_t k = pool_type == 1 ? 2 : 4;
      for (std::uint32_t oy = 0; oy < oh; ++oy) {
        for (std::uint32_t ox = 0; ox < ow; ++ox) {
          std::uint32_t m = 0;
          for (std::uint32_t ky = 0; ky < k; ++ky)
            for (std::uint32_t kx = 0; kx < k; ++kx) m = std::max(m, at(oy * k + ky, ox * k + kx));
          out[oy * ow + ox] = static_cast<std::uint8_t>(m);
        }
      }
      return;
    }
    case 2:
    case 4: {  // mean k x k stride k, floor division
      const std::uint32_t k = pool_type == 2 ? 2 : 4;
      for (std::uint32_t oy = 0; oy < oh; ++oy) {
        for (std::uint32_t ox = 0; ox < ow; ++ox) {
          std::uint32_t s = 0;
          for (std::uint32_t ky = 0; ky < k; ++ky)
            for (std::uint32_t kx = 0; kx < k; ++kx) s += at(oy * k + ky, ox * k + kx);
          out[oy * ow + ox] = static_cast<std::uint8_t>(s / (k * k));
        }
      }
      return;
    }
    case 5:
    case 6:
    case 7: {  // select one tap: (s*y, s*x + dx)
      const std::uint32_t s = pool_type == 7 ? 4 : 2;
      const std::uint32_t dx = pool_type == 6 ? 1 : 0;
      for (std::uint32_t oy = 0; oy < oh; ++oy) {
        for (std::uint32_t ox = 0; ox < ow; ++ox) {
          const std::uint32_t x = ox * s + dx;
          out[oy * ow + ox] = x < in_w ? static_cast<std::uint8_t>(at(oy * s, x)) : 0;
        }
      }
      return;
    }
    case 8: {  // mean 2x2 stride 1, coordinates clamped to the edge
      for (std::uint32_t y = 0; y < in_h; ++y) {
        const std::uint32_t y1 = std::min(y + 1, in_h - 1);
        for (std::uint32_t x = 0; x < in_w; ++x) {
          const std::uint32_t x1 = std::min(x + 1, in_w - 1);
          out[y * in_w + x] =
              static_cast<std::uint8_t>((at(y, x) + at(y, x1) + at(y1, x) + at(y1, x1)) / 4);
        }
      }
      return;
    }
    case 9: {  // max 2x2 stride 1, taps beyond the edge read 0
      for (std::uint32_t y = 0; y < in_h; ++y) {
        for (std::uint32_t x = 0; x < in_w; ++x) {
          std::uint32_t m = at(y, x);
          if (x + 1 < in_w) m = std::max(m, at(y, x + 1));
          if (y + 1 < in_h) {
            m = std::max(m, at(y + 1, x));
            if (x + 1 < in_w) m = std::max(m, at(y + 1, x + 1));
          }
          out[y * in_w + x] = static_cast<std::uint8_t>(m);
        }
      }
      return;
    }
    default:
      return;  // rejected at prepare
  }
}

}  // namespace emc::accel_sim::detail
