#include "emc/converter/k210_conv_args.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace emc::converter {

std::int32_t kpu_weight_qmax(std::int32_t bits, std::int64_t taps) {
  const std::int64_t full = (std::int64_t{1} << bits) - 1;
  if (taps <= 0) return static_cast<std::int32_t>(full);
  const std::int64_t lim = kKpuAcc36Max / (255 * taps);
  return static_cast<std::int32_t>(std::max<std::int64_t>(3, std::min(full, lim)));
}

namespace {

constexpr std::int64_t kMul24Max = (std::int64_t{1} << 23) - 1;
constexpr std::int64_t kAdd32Max = (std::int64_t{1} << 31) - 1;

struct ChannelBn {
  std::int64_t mul = 0;
  std::int64_t shift = 0;
  std::int64_t add = 0;
};

// mul·2^-shift ≈ r (r > 0) with the most precision the 24-bit signed multiplier and the 4-bit
// shift allow: the largest shift ≤ 15 keeping round(r·2^shift) ≤ 2^23 − 1.
bool fit_mul_shift(double r, std::int64_t& mul, std::int64_t& shift) {
  for (std::int64_t s = 15; s >= 0; --s) {
    const double m = std::round(std::ldexp(r, static_cast<int>(s)));
    if (m <= static_cast<double>(kMul24Max)) {
      mul = static_cast<std::int64_t>(m);
      shift = s;
      return mul > 0;
    }
  }
  return false;
}

}  // namespace

Result<KpuConvArgs> derive_kpu_conv_args(const KpuConvSpec& spec) {
  const std::int32_t k = spec.kernel;
  if ((k != 1 && k != 3) || spec.in_channels <= 0 || spec.out_channels <= 0 ||
      (spec.depthwise && spec.in_channels != spec.out_channels)) {
    return Error(Errc::kInternal, "derive_kpu_conv_args: bad conv geometry");
  }
  const std::int64_t per_oc = std::int64_t{k} * k * (spec.depthwise ? 1 : spec.in_channels);
  if (spec.weights.size() != static_cast<std::size_t>(per_oc * spec.out_channels) ||
      (!spec.bias.empty() && spec.bias.size() != static_cast<std::size_t>(spec.out_channels))) {
    return Error(Errc::kInternal, "derive_kpu_conv_args: weight/bias size mismatch");
  }
  KpuConvArgs a;
  const std::int32_t qmax = kpu_weight_qmax(spec.weight_bits, per_oc);
  auto wq = spec.per_channel && spec.auto_granularity
                ? quantize_weights_auto(spec.weights, spec.out_channels, spec.weight_bits, qmax)
                : quantize_weights(spec.weights, spec.out_channels, spec.weight_bits,
                                   spec.per_channel, qmax);
  if (!wq.ok()) return wq.error();
  a.weights = std::move(wq).value();

  const std::int64_t zw = a.weights.zero_point;
  // A channel whose weights cannot move its output by 2^-12 of an output step for any uint8
  // input (a dead channel: weights decayed to ~1e-13, its batch-norm bias is the output) is its
  // bias alone: its codes become the zero point, so the KPU adds exactly 0, and it takes the
  // largest scale of the others, so its multiplier fits as theirs do. Its own per-channel scale
  // (~1e-16) would need a multiplier no 24-bit register and 4-bit shift can hold at any
  // fraction width (aXeleRate's YOLOv2 conv1 has two such channels).
  std::vector<bool> negligible(static_cast<std::size_t>(spec.out_channels), false);
  {
    const double x_max =
        spec.input.scale *
        double(std::max<std::int64_t>(spec.input.zero_point, 255 - spec.input.zero_point));
    double live_scale = 0;
    for (std::int32_t c = 0; c < spec.out_channels; ++c) {
      double sum = 0;
      for (std::int64_t i = 0; i < per_oc; ++i)
        sum += std::fabs(double(spec.weights[static_cast<std::size_t>(c * per_oc + i)]));
      negligible[c] = sum * x_max < std::ldexp(spec.output.scale, -12);
      if (!negligible[c]) live_scale = std::max(live_scale, a.weights.scales[c]);
    }
    for (std::int32_t c = 0; c < spec.out_channels; ++c) {
      if (!negligible[c]) continue;
      for (std::int64_t i = 0; i < per_oc; ++i)
        a.weights.codes[static_cast<std::size_t>(c * per_oc + i)] = static_cast<std::uint16_t>(zw);
      a.weights.scales[c] = live_scale > 0 ? live_scale : spec.output.scale / spec.input.scale;
    }
  }
  a.worst_weight_sqnr_db = std::numeric_limits<double>::infinity();
  for (std::int32_t c = 0; c < spec.out_channels; ++c) {
    if (negligible[c]) continue;  // exact to 2^-12 output step (above)
    double sig = 0, noise = 0;
    for (std::int64_t i = 0; i < per_oc; ++i) {
      const auto at = static_cast<std::size_t>(c * per_oc + i);
      const double w = spec.weights[at];
      const double d = a.weights.scales[c] * (double(a.weights.codes[at]) - double(zw)) - w;
      sig += w * w;
      noise += d * d;
    }
    if (sig <= 0) continue;
    const double db =
        noise > 0 ? 10.0 * std::log10(sig / noise) : std::numeric_limits<double>::infinity();
    if (a.worst_weight_channel < 0 || db < a.worst_weight_sqnr_db) {
      a.worst_weight_sqnr_db = db;
      a.worst_weight_channel = c;
    }
  }
  const std::int64_t zx = spec.input.zero_point;
  // acc = Σ(qw − Zw)(qx − Zx) exactly: see the header.
  a.arg_x = -zw;
  a.shr_x = 0;
  a.arg_w = -zx;
  a.shr_w = 0;
  a.arg_add = std::int64_t{k} * k * zw * zx;
  a.pad_value = static_cast<std::uint8_t>(zx);

  // |acc| bound per channel: Σ|qw − Zw| · max|qx − Zx|.
  const std::int64_t mx = std::max<std::int64_t>(zx, 255 - zx);
  std::vector<std::int64_t> acc_bound(spec.out_channels, 0);
  for (std::int32_t c = 0; c < spec.out_channels; ++c) {
    std::int64_t s = 0;
    for (std::int64_t i = 0; i < per_oc; ++i) s += std::llabs(a.weights.codes[c * per_oc + i] - zw);
    acc_bound[c] = s * mx;
    a.acc_max = std::max(a.acc_max, acc_bound[c]);
  }
  if (a.acc_max > kKpuAcc36Max) {
    return Error(Errc::kQuantization, "conv accumulator bound " + std::to_string(a.acc_max) +
                                          " exceeds the KPU's 36-bit range");
  }

  const double sx = spec.input.scale;
  const double so = spec.output.scale;
  if (!spec.input_mean.empty()) {
    const std::int32_t groups_in = spec.depthwise ? 1 : spec.in_channels;
    if (spec.input_mean.size() != static_cast<std::size_t>(spec.in_channels)) {
      return Error(Errc::kInternal, "derive_kpu_conv_args: input_mean size mismatch");
    }
    // Share of output pixels at which tap k (0..2) of a 3x3 kernel reads the map.
    auto inside = [&](std::int32_t tap, std::int32_t n) {
      if (k == 1 || tap == 1 || n <= 0) return 1.0;
      return double(n - 1) / n;
    };
    a.bias_correction.assign(spec.out_channels, 0.0);
    for (std::int32_t c = 0; c < spec.out_channels; ++c) {
      double corr = 0;
      for (std::int32_t i = 0; i < groups_in; ++i) {
        const double mean = spec.input_mean[spec.depthwise ? c : i];
        for (std::int32_t ky = 0; ky < k; ++ky)
          for (std::int32_t kx = 0; kx < k; ++kx) {
            const std::size_t at = static_cast<std::size_t>(c * per_oc + (i * k + ky) * k + kx);
            const double w_hat = a.weights.scales[c] * (double(a.weights.codes[at]) - double(zw));
            corr += (w_hat - double(spec.weights[at])) * mean * inside(ky, spec.in_h) *
                    inside(kx, spec.in_w);
          }
      }
      a.bias_correction[c] = corr;
    }
  }
  auto bias_of = [&](std::int32_t c) {
    const double b = spec.bias.empty() ? 0.0 : double(spec.bias[c]);
    return a.bias_correction.empty() ? b : b - a.bias_correction[c];
  };

  // Scan P upwards; stop at the first feasible P where every multiplier already has ≥ 22
  // significant bits and the BN floor costs ≤ 2^-8 output LSB (P ≥ 8); if a larger P becomes
  // infeasible first, keep the last feasible one. r_c = sw_c·sx·2^P / s_out.
  std::vector<ChannelBn> best;
  std::int32_t best_p = -1;
  for (std::int32_t p = 0; p <= kMaxBnFractionBits; ++p) {
    const double s_bn = std::ldexp(so, -p);
    std::vector<ChannelBn> ch(spec.out_channels);
    bool ok = true;
    std::int64_t min_mul = kMul24Max;
    for (std::int32_t c = 0; c < spec.out_channels && ok; ++c) {
      const double r = a.weights.scales[c] * sx / s_bn;
      if (!fit_mul_shift(r, ch[c].mul, ch[c].shift)) {
        ok = false;
        break;
      }
      min_mul = std::min(min_mul, ch[c].mul);
      // floor() in the BN shift loses 0.5 bn units on average; add them back when shifting.
      const double add = bias_of(c) / s_bn + (ch[c].shift > 0 ? 0.5 : 0.0);
      if (!(std::fabs(add) < static_cast<double>(kAdd32Max))) {
        ok = false;
        break;
      }
      ch[c].add = static_cast<std::int64_t>(std::round(add));
      const std::int64_t prod = (acc_bound[c] * ch[c].mul) >> ch[c].shift;
      if (prod + std::llabs(ch[c].add) + 1 > kKpuAcc36Max) ok = false;
    }
    if (!ok) {
      if (best_p >= 0) break;  // got worse: keep the previous P
      continue;
    }
    best = std::move(ch);
    best_p = p;
    if (p >= 8 && min_mul >= (std::int64_t{1} << 21)) break;
  }
  if (best_p < 0) {
    return Error(Errc::kQuantization,
                 "no batch-norm multiplier/shift fits the KPU register widths (input scale " +
                     std::to_string(sx) + ", output scale " + std::to_string(so) + ")");
  }
  a.bn_fraction_bits = best_p;
  a.bn_scale = std::ldexp(so, -best_p);
  a.bn.resize(spec.out_channels);
  a.bn_min = kKpuAcc36Max;
  a.bn_max = -kKpuAcc36Max;
  std::int64_t min_mul = kMul24Max;
  for (std::int32_t c = 0; c < spec.out_channels; ++c) {
    a.bn[c].norm_mul = static_cast<std::int32_t>(best[c].mul);
    a.bn[c].norm_shift = static_cast<std::uint32_t>(best[c].shift);
    a.bn[c].norm_add = static_cast<std::int32_t>(best[c].add);
    const std::int64_t hi = ((acc_bound[c] * best[c].mul) >> best[c].shift) + best[c].add;
    const std::int64_t lo = ((-acc_bound[c] * best[c].mul) >> best[c].shift) + best[c].add;
    a.bn_min = std::min(a.bn_min, lo);
    a.bn_max = std::max(a.bn_max, hi);
    min_mul = std::min(min_mul, best[c].mul);
  }
  a.min_mul_bits = 0;
  while (a.min_mul_bits < 24 && (std::int64_t{1} << a.min_mul_bits) <= min_mul) ++a.min_mul_bits;
  return a;
}

void apply_conv_args(const KpuConvArgs& args, format::KpuLayerFields& f) {
  f.arg_x = args.arg_x;
  f.shr_x = args.shr_x;
  f.arg_w = args.arg_w;
  f.shr_w = args.shr_w;
  f.arg_add = args.arg_add;
  f.pad_value = args.pad_value;
}

}  // namespace emc::converter
