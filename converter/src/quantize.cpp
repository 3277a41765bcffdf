#include "emc/converter/quantize.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <string>

namespace emc::converter {

std::int32_t QuantParam::quantize(double real) const {
  const double q = std::round(real / scale) + zero_point;
  return static_cast<std::int32_t>(std::clamp(q, 0.0, static_cast<double>(qmax)));
}

namespace {

// Smallest scale such that codes [0, qmax] with zero point `zp` cover [lo, hi] (lo <= 0 <= hi).
// Returns +inf when zp cannot cover the range (e.g. zp == 0 but lo < 0).
double scale_for(double lo, double hi, std::int32_t zp, std::int32_t qmax) {
  double s = 0.0;
  if (lo < 0) {
    if (zp == 0) return std::numeric_limits<double>::infinity();
    s = std::max(s, -lo / zp);
  }
  if (hi > 0) {
    if (zp == qmax) return std::numeric_limits<double>::infinity();
    s = std::max(s, hi / (qmax - zp));
  }
  return s;
}

}  // namespace

Result<QuantParam> quant_param_from_range(double min, double max, std::int32_t qmax) {
  if (!std::isfinite(min) || !std::isfinite(max) || min > max) {
    return Error(Errc::kQuantization, "invalid quantization range [" + std::to_string(min) + ", " +
                                          std::to_string(max) + "]");
  }
  if (qmax < 1) return Error(Errc::kInternal, "quant_param_from_range: qmax < 1");
  double lo = std::min(min, 0.0);
  double hi = std::max(max, 0.0);
  QuantParam p;
  p.qmax = qmax;
  if (hi - lo <= 0.0) {
    p.scale = 1.0 / qmax;
    p.zero_point = 0;
    return p;
  }
  widen_to_min_span(lo, hi);
  // The ideal (fractional) zero point is -lo / ((hi - lo) / qmax); try the integers on either
  // side and keep the one that needs the smaller scale.
  const double ideal = -lo * qmax / (hi - lo);
  double best_scale = std::numeric_limits<double>::infinity();
  std::int32_t best_zp = 0;
  for (double cand : {std::floor(ideal), std::ceil(ideal)}) {
    const auto zp = static_cast<std::int32_t>(std::clamp(cand, 0.0, static_cast<double>(qmax)));
    const double s = scale_for(lo, hi, zp, qmax);
    if (s < best_scale) {
      best_scale = s;
      best_zp = zp;
    }
  }
  if (!std::isfinite(best_scale) || best_scale <= 0.0) {
    return Error(Errc::kQuantization, "cannot quantize range [" + std::to_string(min) + ", " +
                                          std::to_string(max) + "]");
  }
  // Keep the range representable after float rounding of scale (never shrink it).
  p.scale = best_scale * (1.0 + 1e-12);
  p.zero_point = best_zp;
  return p;
}

Result<WeightQuant> quantize_weights(std::span<const float> weights, std::int32_t channels,
                                     std::int32_t bits, bool per_channel, std::int32_t qmax) {
  if (bits != 8 && bits != 16) {
    return Error(Errc::kInvalidArgument,
                 "weight bits must be 8 or 16, got " + std::to_string(bits));
  }
  if (channels <= 0 || weights.empty() ||
      weights.size() % static_cast<std::size_t>(channels) != 0) {
    return Error(Errc::kInternal, "quantize_weights: weight count not a multiple of channels");
  }
  if (qmax < 3 || qmax > (1 << bits) - 1) {
    return Error(Errc::kInternal, "quantize_weights: qmax out of range");
  }
  for (float w : weights) {
    if (!std::isfinite(w)) return Error(Errc::kQuantization, "weights contain NaN or Inf");
  }
  const std::size_t per = weights.size() / static_cast<std::size_t>(channels);
  std::vector<double> cmin(channels, 0.0), cmax(channels, 0.0);  // ranges contain 0
  for (std::int32_t c = 0; c < channels; ++c) {
    for (std::size_t i = 0; i < per; ++i) {
      const double w = weights[c * per + i];
      cmin[c] = std::min(cmin[c], w);
      cmax[c] = std::max(cmax[c], w);
    }
  }
  WeightQuant out;
  out.bits = bits;
  out.qmax = qmax;
  out.scales.assign(channels, 1.0);
  if (!per_channel) {
    const double lo = *std::min_element(cmin.begin(), cmin.end());
    const double hi = *std::max_element(cmax.begin(), cmax.end());
    auto p = quant_param_from_range(lo, hi, qmax);
    if (!p.ok()) return p.error();
    out.zero_point = p->zero_point;
    std::fill(out.scales.begin(), out.scales.end(), p->scale);
  } else {
    // Candidate shared zero points: each channel's own ideal one (floor/ceil) and a coarse grid.
    std::set<std::int32_t> cands;
    for (std::int32_t c = 0; c < channels; ++c) {
      if (cmax[c] - cmin[c] <= 0) continue;
      const double ideal = -cmin[c] * qmax / (cmax[c] - cmin[c]);
      cands.insert(static_cast<std::int32_t>(std::floor(ideal)));
      cands.insert(static_cast<std::int32_t>(std::ceil(ideal)));
    }
    for (std::int32_t z = 0; z <= qmax; z += std::max(1, qmax / 256)) cands.insert(z);
    cands.insert(qmax);
    // Objective: sum of log(scale_c), i.e. the product of the channels' step sizes, so each
    // channel's relative precision counts equally whatever its magnitude.
    double best = std::numeric_limits<double>::infinity();
    std::int32_t best_z = -1;
    for (std::int32_t z : cands) {
      if (z < 0 || z > qmax) continue;
      double cost = 0;
      for (std::int32_t c = 0; c < channels && std::isfinite(cost); ++c) {
        if (cmax[c] - cmin[c] <= 0) continue;  // an all-zero channel: any scale is exact
        cost += std::log(scale_for(cmin[c], cmax[c], z, qmax));
      }
      if (cost < best) {
        best = cost;
        best_z = z;
      }
    }
    if (best_z < 0) return Error(Errc::kQuantization, "no shared weight zero point found");
    out.zero_point = best_z;
    for (std::int32_t c = 0; c < channels; ++c) {
      const double s = scale_for(cmin[c], cmax[c], best_z, qmax);
      out.scales[c] = s > 0 ? s * (1.0 + 1e-12) : 1.0;
    }
  }
  out.codes.resize(weights.size());
  for (std::int32_t c = 0; c < channels; ++c) {
    for (std::size_t i = 0; i < per; ++i) {
      const double q = std::round(weights[c * per + i] / out.scales[c]) + out.zero_point;
      out.codes[c * per + i] = static_cast<std::uint16_t>(std::clamp(q, 0.0, double(qmax)));
    }
  }
  return out;
}

double weight_relative_noise(std::span<const float> weights, const WeightQuant& q) {
  const std::size_t channels = q.scales.size();
  if (channels == 0 || weights.size() != q.codes.size()) return 0.0;
  const std::size_t per = weights.size() / channels;
  double total = 0.0;
  for (std::size_t c = 0; c < channels; ++c) {
    double sig = 0.0, noise = 0.0;
    for (std::size_t i = 0; i < per; ++i) {
      const double w = weights[c * per + i];
      const double d = q.scales[c] * (double(q.codes[c * per + i]) - q.zero_point) - w;
      sig += w * w;
      noise += d * d;
    }
    if (sig > 0) total += noise / sig;
  }
  return total;
}

Result<WeightQuant> quantize_weights_auto(std::span<const float> weights, std::int32_t channels,
                                          std::int32_t bits, std::int32_t qmax) {
  auto pc = quantize_weights(weights, channels, bits, true, qmax);
  if (!pc.ok()) return pc;
  auto pl = quantize_weights(weights, channels, bits, false, qmax);
  if (!pl.ok()) return pc;
  if (weight_relative_noise(weights, pl.value()) < weight_relative_noise(weights, pc.value()))
    return pl;
  return pc;
}

}  // namespace emc::converter
