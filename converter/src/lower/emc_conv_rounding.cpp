// How far an EMC int8 convolution's int8 form moves its output (emc_conv_rounding.h).
#include "lower/emc_conv_rounding.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "emc/converter/convert.h"

namespace emc::converter::detail {

// The int8 form computes sum(w_q * x_q) + b_q for sum(w * x) + b, x_q within half an input step of
// x, so an output moves by e = sum (w_q - w) * x + sum w_q * (x_q - x) + (b_q - b) before its own
// rounding. Its mean is sum (w_q - w) * E[x] + (b_q - b) (what bias correction removes); its
// spread comes from the weight term, whose inputs may be independent (variance sum dw^2 var x)
// or move together (neighbouring pixels: (sum dw * sd x)^2; the larger of the two is taken), and
// from the input rounding (uniform: step^2 / 12 * sum w_q^2). The estimate is |mean| + 3 spreads,
// the largest over the output channels; an unknown moment is taken at the input grid's largest
// magnitude. Above the output's range the output is a small residue of much larger terms, which
// int8 cannot resolve.
RoundingEstimate estimate_rounding_error(const FloatConv& fc, const format::EmcConv2dInt8Body& body,
                                         const std::vector<double>& weight_scale,
                                         const Int8Quant& in_q, const Int8Quant& out_q,
                                         const InputMoments& in, const Node& n) {
  RoundingEstimate out;
  out.clamp_low = fc.act_min;
  out.clamp_high = fc.act_max;
  out.lo = out_q.dequantize(body.act_min);
  out.hi = out_q.dequantize(body.act_max);
  const auto& g = body.geo;
  const double x_max =
      in_q.scale * std::max(std::abs(-128 - in_q.zero_point), std::abs(127 - in_q.zero_point));
  const double step_var = in.exact ? 0.0 : in_q.scale * in_q.scale / 12;
  const bool carried = in.err_mean.size() == g.in_channels && in.err_var.size() == g.in_channels;
  const bool have_mean = in.mean.size() == g.in_channels;
  const bool have_sq = have_mean && in.mean_square.size() == g.in_channels;
  const std::uint64_t oc = g.out_channels, per = fc.weights.size() / oc;
  const std::uint64_t kk = std::uint64_t(g.kernel_height) * g.kernel_width;
  double worst_err = 0;
  std::uint64_t worst = 0;
  out.err_mean.assign(oc, 0.0);
  out.err_var.assign(oc, 0.0);
  for (std::uint64_t o = 0; o < oc; ++o) {
    double mean = double(body.bias[o]) * in_q.scale * weight_scale[o] - double(fc.bias[o]);
    double independent = 0, together = 0, dw_sum = 0, in_var = 0;
    for (std::uint64_t t = 0; t < per; ++t) {
      const double wq = weight_scale[o] * double(body.weights[o * per + t]);
      const double dw = wq - double(fc.weights[o * per + t]);
      const std::uint64_t ic = fc.depthwise ? o / g.depth_multiplier : t / kk;
      const double mu = have_mean ? in.mean[ic] : 0.0;
      const double sd = have_sq ? std::sqrt(std::max(in.mean_square[ic] - mu * mu, 0.0)) : x_max;
      mean += dw * mu + (carried ? wq * in.err_mean[ic] : 0.0);
      dw_sum += dw;
      independent += dw * dw * sd * sd;
      together += dw * sd;
      in_var += wq * wq * (carried ? in.err_var[ic] : step_var);
    }
    // An unknown mean: any value up to x_max, in every input channel alike (then carried as a
    // spread, its sign unknown).
    if (!have_mean) mean = std::fabs(mean) + std::fabs(dw_sum) * x_max;
    const double var = std::max(independent, together * together) + in_var;
    out.err_mean[o] = have_mean ? mean : 0.0;
    out.err_var[o] = have_mean ? var : var + mean * mean;
    const double err = std::fabs(mean) + 3 * std::sqrt(var);
    if (err > worst_err) worst_err = err, worst = o;
  }
  const double range = double(body.act_max - body.act_min) * out_q.scale;
  out.worst = worst_err;
  out.range = range;
  // (A clamp to one value has no error to resolve.)
  if (range <= 0 || worst_err < kRoundingErrorWarnShare * range) return out;
  std::ostringstream w;
  w << "layer '" << n.source.name << "' (" << n.source.class_name
    << "): int8 cannot resolve its output: its int8 weights"
    << (in.exact  ? ""
        : carried ? " and the error its input carries (its grid, earlier layers)"
                  : " and its input's grid")
    << " move output channel " << worst << " by about " << std::setprecision(3) << worst_err << ", "
    << std::fixed << std::setprecision(0) << (range > 0 ? 100 * worst_err / range : 100.0)
    << " % of the output's calibrated range " << std::defaultfloat << std::setprecision(3) << range
    << " (the output is a small residue of much larger terms); expect large errors from this "
       "layer on: measure them with emc-compare --layers --isolated";
  out.warning = w.str();
  return out;
}

InputMoments exact_moments() {
  InputMoments m;
  m.exact = true;
  return m;
}

InputMoments moments_of(const Range& r) {
  InputMoments m;
  m.mean = r.channel_mean;
  m.mean_square = r.channel_mean_square;
  return m;
}

void carried_error(const RoundingEstimate& e, const Range& r, const Int8Quant& q,
                   std::vector<double>& err_mean, std::vector<double>& err_var) {
  const std::size_t c = e.err_mean.size();
  err_mean.clear();
  err_var.clear();
  if (c == 0 || r.channel_mean.size() != c || r.channel_mean_square.size() != c) return;
  err_mean.resize(c);
  err_var.resize(c);
  for (std::size_t k = 0; k < c; ++k) {
    const double mu = r.channel_mean[k];
    const double sd = std::sqrt(std::max(r.channel_mean_square[k] - mu * mu, 0.0));
    const bool saturated =
        std::fabs(mu - e.clamp_low) < q.scale || std::fabs(mu - e.clamp_high) < q.scale;
    if (sd < q.scale / 4 && !saturated) {
      // A near-constant channel inside the clamp: its codes round the computed mean the same way
      // every time, so that error is carried as it is.
      const double computed = mu + e.err_mean[k];
      const double held = std::clamp(q.scale * std::round(computed / q.scale), e.lo, e.hi);
      err_mean[k] = held - mu;
      err_var[k] = 0;
    } else {
      // A varying (or clamped) channel: its rounding alone (uniform). Carrying the estimates of
      // earlier layers (their mean or spread) compounds through every layer of a deep network,
      // where measured errors do not (MobileNet v1: hundreds of ranges by the last layer).
      err_mean[k] = 0;
      err_var[k] = q.scale * q.scale / 12;
    }
  }
}

InputMoments affine_moments(const InputMoments& m, const std::vector<double>& a,
                            const std::vector<double>& b) {
  InputMoments out;
  out.exact = m.exact;
  if (m.mean.size() != a.size() || b.size() != a.size()) return out;
  out.mean.resize(a.size());
  for (std::size_t c = 0; c < a.size(); ++c) out.mean[c] = a[c] * m.mean[c] + b[c];
  if (m.mean_square.size() == a.size()) {
    out.mean_square.resize(a.size());
    for (std::size_t c = 0; c < a.size(); ++c)
      out.mean_square[c] =
          a[c] * a[c] * m.mean_square[c] + 2 * a[c] * b[c] * m.mean[c] + b[c] * b[c];
  }
  return out;
}

InputMoments pixel_moments(const Range& r, const std::vector<double>& mean,
                           const std::vector<double>& stdv, std::int32_t zx) {
  std::vector<double> shift(mean.size());
  for (std::size_t c = 0; c < shift.size(); ++c) shift[c] = mean[c] - zx;
  InputMoments m = affine_moments(moments_of(r), stdv, shift);
  m.exact = true;
  return m;
}

}  // namespace emc::converter::detail
