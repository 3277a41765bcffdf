#include "emc/converter/emc_conv_quant.h"

#include "emc/converter/quantize.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace emc::converter {

Result<Int8Quant> int8_quant_from_range(double min, double max) {
  if (!std::isfinite(min) || !std::isfinite(max) || min > max) {
    return Error(Errc::kInvalidArgument, "calibrated range [" + std::to_string(min) + ", " +
                                             std::to_string(max) + "] is not a finite interval");
  }
  min = std::min(min, 0.0);
  max = std::max(max, 0.0);
  Int8Quant q;
  if (max - min <= 0) return q;
  widen_to_min_span(min, max);
  q.scale = (max - min) / 255.0;
  const double zp = std::round(-128.0 - min / q.scale);
  q.zero_point = static_cast<std::int32_t>(std::clamp(zp, -128.0, 127.0));
  return q;
}

Status quantize_multiplier(double real, std::int32_t& multiplier, std::int32_t& shift) {
  if (!(real > 0) || !std::isfinite(real)) {
    return Error(Errc::kInvalidArgument,
                 "requantization multiplier " + std::to_string(real) + " is not positive");
  }
  int exp = 0;
  const double mant = std::frexp(real, &exp);  // real = mant * 2^exp, mant in [0.5, 1)
  auto q = static_cast<std::int64_t>(std::round(mant * 2147483648.0));  // half away from zero
  if (q == (std::int64_t{1} << 31)) {
    q /= 2;
    ++exp;
  }
  // real = q * 2^(exp - 31): shift = exp.
  if (exp < -31) {
    if (exp < -62) {  // below 2^-63 even as a denormal Q31: rounds to 0 for any int32 accumulator
      multiplier = 0;
      shift = 0;
      return ok_status();
    }
    // Keep the representable part: q * 2^(exp - 31) = (q >> (-31 - exp)) * 2^(-31 - 31).
    q = (q + (std::int64_t{1} << (-32 - exp))) >> (-31 - exp);
    exp = -31;
  }
  if (exp > 30) {
    return Error(Errc::kInvalidArgument, "requantization multiplier " + std::to_string(real) +
                                             " exceeds 2^30 (shift " + std::to_string(exp) +
                                             " outside [-31, 30])");
  }
  multiplier = static_cast<std::int32_t>(q);
  shift = exp;
  return ok_status();
}

Result<Int8ConvResult> quantize_conv_int8(const FloatConv& c, const Int8Quant& in,
                                          const Int8Quant& out) {
  const auto& g = c.geo;
  const std::uint64_t oc = g.out_channels;
  const std::uint64_t nw = format::emc_conv_weight_count(g, c.depthwise);
  if (oc == 0 || c.weights.size() != nw || c.bias.size() != oc) {
    return Error(Errc::kInvalidArgument, "convolution has " + std::to_string(c.weights.size()) +
                                             " weights and " + std::to_string(c.bias.size()) +
                                             " biases for " + std::to_string(oc) + " channels");
  }
  const std::uint64_t per = nw / oc;
  Int8ConvResult r;
  auto& b = r.body;
  b.geo = c.geo;
  b.geo.main_mem_in_address = b.geo.main_mem_out_address = 0;
  b.input_zero_point = in.zero_point;
  b.output_zero_point = out.zero_point;
  b.weights.resize(nw);
  b.bias.resize(oc);
  b.multiplier.resize(oc);
  b.shift.resize(oc);
  r.weight_scale.resize(oc);
  r.worst_weight_sqnr_db = 1e9;
  for (std::uint64_t o = 0; o < oc; ++o) {
    const float* w = c.weights.data() + o * per;
    double amax = 0;
    for (std::uint64_t k = 0; k < per; ++k) {
      if (!std::isfinite(w[k])) return Error(Errc::kInvalidArgument, "a weight is not finite");
      amax = std::max(amax, std::fabs(static_cast<double>(w[k])));
    }
    // The accumulator holds the bias plus taps * 255 * 128 at most. A bias that dwarfs the
    // weights (a dead channel: weights ~0, a large BatchNormalization shift) would not fit at
    // amax / 127, so the scale grows until it does; the weights' share of such an output is then
    // below taps * 64 / 2^31 of the bias, far under one output step.
    const double taps = static_cast<double>(per);
    const double room = 2147483647.0 - taps * 32640.0 - 1.0;
    double ws = amax > 0 ? amax / 127.0 : 1.0;
    if (room > 0) ws = std::max(ws, std::fabs(static_cast<double>(c.bias[o])) / (in.scale * room));
    r.weight_scale[o] = ws;
    double sig = 0, noise = 0;
    for (std::uint64_t k = 0; k < per; ++k) {
      const double q = std::clamp(std::round(w[k] / ws), -127.0, 127.0);
      b.weights[o * per + k] = static_cast<std::int8_t>(q);
      sig += double{w[k]} * w[k];
      noise += (q * ws - w[k]) * (q * ws - w[k]);
    }
    if (sig > 0) {
      r.worst_weight_sqnr_db =
          std::min(r.worst_weight_sqnr_db, noise > 0 ? 10 * std::log10(sig / noise) : 1e9);
    }
    const double acc_scale = in.scale * ws;
    const double bq = std::round(static_cast<double>(c.bias[o]) / acc_scale);
    if (!std::isfinite(bq) || std::fabs(bq) + taps * 32640.0 > 2147483647.0) {
      return Error(Errc::kQuantization, "channel " + std::to_string(o) + ": bias " +
                                            std::to_string(c.bias[o]) + " in accumulator units (" +
                                            std::to_string(bq) + ") with " + std::to_string(per) +
                                            " taps does not fit the int32 accumulator");
    }
    b.bias[o] = static_cast<std::int32_t>(bq);
    EMC_TRY(quantize_multiplier(acc_scale / out.scale, b.multiplier[o], b.shift[o]));
  }
  auto code = [&](double real) {
    const double q = std::round(real / out.scale) + out.zero_point;
    return static_cast<std::int32_t>(std::clamp(q, -128.0, 127.0));
  };
  b.act_min = c.act_min > -1e299 ? code(c.act_min) : -128;
  b.act_max = c.act_max < 1e299 ? code(c.act_max) : 127;
  if (b.act_min > b.act_max) b.act_min = b.act_max;
  return r;
}

}  // namespace emc::converter
