#include "reference_kpu.h"

#include <algorithm>

namespace emc::test {
namespace {

std::int64_t wrap36(std::int64_t v) {
  // Keep the low 36 bits, sign-extend bit 35.
  std::int64_t low = v & ((std::int64_t{1} << 36) - 1);
  if (low >= (std::int64_t{1} << 35)) low -= std::int64_t{1} << 36;
  return low;
}

std::int64_t floor_shift(std::int64_t v, std::int64_t s) {
  // floor(v / 2^s) without relying on >> for large s.
  if (s >= 63) return v < 0 ? -1 : 0;
  return v >> s;
}

std::int64_t sdk_carry_shift(std::int64_t v, std::int64_t s) {
  if (s <= 0) return v;
  v = floor_shift(v, s - 1);
  if (v % 2 != 0) {
    if (v < 0) return floor_shift(v, 1) - 1;
    return floor_shift(v, 1) + 1;
  }
  return floor_shift(v, 1);
}

std::int64_t banker_carry_shift(std::int64_t v, std::int64_t s) {
  if (s <= 0) return v;
  const std::int64_t integral = floor_shift(v, s);
  const std::int64_t sign = v < 0 ? -1 : 1;
  if (s >= 63) {
    // frac = v - integral * 2^s, half = 2^(s-1): v >= 0 -> frac = v < half; v < 0 -> frac > half.
    return v < 0 ? integral + sign : integral;
  }
  const std::int64_t frac = v - integral * (std::int64_t{1} << s);
  const std::int64_t half = std::int64_t{1} << (s - 1);
  if (frac < half) return integral;
  if (frac > half) return integral + sign;
  return integral % 2 != 0 ? integral + sign : integral;
}

std::int64_t weight_at(const format::ConvBody& body, bool eight_bit, std::size_t i) {
  if (eight_bit) return body.weights.at(i);
  return body.weights.at(2 * i) + 256 * std::int64_t{body.weights.at(2 * i + 1)};
}

std::uint64_t pixel_address(std::int64_t base_row, std::int64_t groups, std::int64_t row_switch,
                            std::int64_t channel_switch, std::int64_t c, std::int64_t y,
                            std::int64_t x) {
  return static_cast<std::uint64_t>(base_row * 64 + (c / groups) * channel_switch * 64 +
                                    (c % groups) * (64 / groups) + y * row_switch * 64 + x);
}

std::int64_t pool_size(std::int64_t n, std::int64_t pool) {
  if (pool == 1 || pool == 2 || pool == 5 || pool == 6) return n / 2;
  if (pool == 3 || pool == 4 || pool == 7) return n / 4;
  return n;
}

}  // namespace

RefOptions ref_options_from(const accel_sim::KpuSimOptions& o) {
  RefOptions r;
  r.strict_segment = o.selection == accel_sim::SegmentSelection::kStartStrictlyLess;
  r.banker = o.rounding == accel_sim::ActivationRounding::kNn02Banker;
  return r;
}

std::vector<std::int64_t> ref_conv_acc(const format::ConvBody& body, bool eight_bit,
                                       const std::vector<std::uint8_t>& kpu) {
  const format::KpuLayerFields f = body.fields();
  const std::int64_t W = f.in_width(), H = f.in_height(), IC = f.in_channels(),
                     OC = f.out_channels();
  const std::int64_t k = f.kernel_type == 1 ? 3 : 1, pad = k == 3 ? 1 : 0;
  const bool dw = f.depth_wise_layer != 0;
  std::vector<std::int64_t> acc(static_cast<std::size_t>(OC * H * W));
  for (std::int64_t o = 0; o < OC; ++o) {
    const std::int64_t first_ic = dw ? o : 0, g_ic = dw ? 1 : IC;
    for (std::int64_t y = 0; y < H; ++y) {
      for (std::int64_t x = 0; x < W; ++x) {
        std::int64_t value = 0, sum_x = 0, sum_w = 0;
        for (std::int64_t i = 0; i < g_ic; ++i) {
          const std::int64_t ic = first_ic + i;
          for (std::int64_t ky = 0; ky < k; ++ky) {
            for (std::int64_t kx = 0; kx < k; ++kx) {
              const std::int64_t iy = y + ky - pad, ix = x + kx - pad;
              std::int64_t xv;
              if (iy < 0 || iy >= H || ix < 0 || ix >= W) {
                xv = f.pad_value;
              } else {
                xv = kpu.at(pixel_address(f.image_src_addr, f.coef_group, f.row_switch_addr,
                                          f.channel_switch_addr, ic, iy, ix));
              }
              // Weights: [oc][ic][ky][kx] normal, [c][ky][kx] depthwise (§3.1).
              const std::size_t wi = static_cast<std::size_t>(
                  dw ? (o * k + ky) * k + kx : ((o * IC + ic) * k + ky) * k + kx);
              const std::int64_t wv = weight_at(body, eight_bit, wi);
              value += xv * wv;
              sum_x += xv;
              sum_w += wv;
            }
          }
        }
        const std::int64_t a = value + floor_shift(f.arg_x * sum_x, f.shr_x) +
                               floor_shift(f.arg_w * sum_w, f.shr_w) + f.arg_add * g_ic;
        acc[static_cast<std::size_t>((o * H + y) * W + x)] = wrap36(a);
      }
    }
  }
  return acc;
}

std::int64_t ref_batch_norm(std::int64_t acc, std::uint64_t bn_word) {
  const format::KpuBatchNorm bn = format::unpack_kpu_batchnorm(bn_word);
  return wrap36(floor_shift(acc * bn.norm_mul, bn.norm_shift) + bn.norm_add);
}

std::uint8_t ref_activation(std::int64_t bn, const format::KpuActivationWords& words,
                            const RefOptions& options) {
  const format::KpuActivationTable t = format::unpack_kpu_activation(words);
  int seg = -1;
  for (int i = 0; i < 16; ++i) {
    const bool ok = options.strict_segment ? t[i].x_start < bn : t[i].x_start <= bn;
    if (ok) seg = i;  // the last qualifying segment
  }
  if (seg < 0) seg = 0;
  const auto& s = t[static_cast<std::size_t>(seg)];
  const std::int64_t product = (bn - s.x_start) * s.y_mul;
  const std::int64_t shifted = options.banker ? banker_carry_shift(product, s.shift_number)
                                              : sdk_carry_shift(product, s.shift_number);
  return static_cast<std::uint8_t>(std::clamp<std::int64_t>(shifted + s.result_bias, 0, 255));
}

bool ref_run_conv(const format::ConvBody& body, bool eight_bit, const RefOptions& options,
                  std::vector<std::uint8_t>& kpu, std::vector<std::uint8_t>& main) {
  const format::KpuLayerFields f = body.fields();
  const std::int64_t W = f.in_width(), H = f.in_height(), OC = f.out_channels();
  const std::int64_t pool = f.pool_type;
  const std::int64_t OW = pool_size(W, pool), OH = pool_size(H, pool);
  // Range checks first (the reference never writes on failure).
  for (std::int64_t c = 0; c < f.in_channels(); ++c) {
    if (pixel_address(f.image_src_addr, f.coef_group, f.row_switch_addr, f.channel_switch_addr, c,
                      H - 1, W - 1) >= kpu.size())
      return false;
  }
  for (std::int64_t c = 0; c < OC; ++c) {
    if (pixel_address(f.image_dst_addr, f.wb_group, f.wb_row_switch_addr, f.wb_channel_switch_addr,
                      c, OH - 1, OW - 1) >= kpu.size())
      return false;
  }
  if (body.main_mem_out() && std::uint64_t{body.main_mem_out_address} + OW * OH * OC > main.size())
    return false;

  const std::vector<std::int64_t> acc = ref_conv_acc(body, eight_bit, kpu);
  std::vector<std::int64_t> act(acc.size());
  for (std::int64_t o = 0; o < OC; ++o) {
    for (std::int64_t i = 0; i < H * W; ++i) {
      const std::size_t at = static_cast<std::size_t>(o * H * W + i);
      act[at] =
          ref_activation(ref_batch_norm(acc[at], body.bn_words.at(static_cast<std::size_t>(o))),
                         body.act_words, options);
    }
  }
  auto in_px = [&](std::int64_t o, std::int64_t y, std::int64_t x) -> std::int64_t {
    return act[static_cast<std::size_t>((o * H + y) * W + x)];
  };
  for (std::int64_t o = 0; o < OC; ++o) {
    for (std::int64_t y = 0; y < OH; ++y) {
      for (std::int64_t x = 0; x < OW; ++x) {
        std::int64_t v = 0;
        switch (pool) {
          case 0:
            v = in_px(o, y, x);
            break;
          case 1:
          case 3:
          case 9: {  // max; out-of-range taps read 0
            const std::int64_t k = pool == 3 ? 4 : 2, s = pool == 9 ? 1 : k;
            for (std::int64_t ky = 0; ky < k; ++ky)
              for (std::int64_t kx = 0; kx < k; ++kx) {
                const std::int64_t iy = y * s + ky, ix = x * s + kx;
                v = std::max(v, (iy < H && ix < W) ? in_px(o, iy, ix) : 0);
              }
            break;
          }
          case 2:
          case 4:
          case 8: {  // mean with clamped coordinates, floor division
            const std::int64_t k = pool == 4 ? 4 : 2, s = pool == 8 ? 1 : k;
            for (std::int64_t ky = 0; ky < k; ++ky)
              for (std::int64_t kx = 0; kx < k; ++kx)
                v += in_px(o, std::min(y * s + ky, H - 1), std::min(x * s + kx, W - 1));
            v /= k * k;
            break;
          }
          case 5:
            v = in_px(o, 2 * y, 2 * x);
            break;
          case 6:
            v = 2 * x + 1 < W ? in_px(o, 2 * y, 2 * x + 1) : 0;
            break;
          case 7:
            v = in_px(o, 4 * y, 4 * x);
            break;
          default:
            return false;
        }
        kpu.at(pixel_address(f.image_dst_addr, f.wb_group, f.wb_row_switch_addr,
                             f.wb_channel_switch_addr, o, y, x)) = static_cast<std::uint8_t>(v);
        if (body.main_mem_out()) {
          main.at(static_cast<std::size_t>(body.main_mem_out_address + (o * OH + y) * OW + x)) =
              static_cast<std::uint8_t>(v);
        }
      }
    }
  }
  return true;
}

}  // namespace emc::test
