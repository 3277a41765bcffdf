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
namespace {

// The quantized form of one conv, as the estimate reads it.
struct QuantizedConv {
  std::uint64_t out_channels = 0, in_channels = 0, taps = 0, kk = 1;  // taps per output
  bool depthwise = false;
  std::uint64_t depth_multiplier = 1;
  const std::vector<float>* w = nullptr;  // float weights, [o][taps]
  std::vector<double> w_hat;              // what the form multiplies by, same layout
  const std::vector<float>* b = nullptr;  // float bias
  std::vector<double> b_hat;              // what the form adds
  double x_max = 0, step = 0;             // the input grid's largest magnitude and step
  double lo = 0, hi = 0;                  // the real values of the clamped output codes
  const char* bits = "int8";
};

RoundingEstimate estimate(const QuantizedConv& c, const InputMoments& in, const Node& n) {
  RoundingEstimate out;
  out.lo = c.lo;
  out.hi = c.hi;
  const double x_max = c.x_max;
  const double step_var = in.exact ? 0.0 : c.step * c.step / 12;
  const bool carried = in.err_mean.size() == c.in_channels && in.err_var.size() == c.in_channels;
  const bool have_mean = in.mean.size() == c.in_channels;
  const bool have_sq = have_mean && in.mean_square.size() == c.in_channels;
  const bool bounded = in.err_bound.size() == c.in_channels;
  const std::uint64_t oc = c.out_channels, per = c.taps;
  double worst_err = 0;
  std::uint64_t worst = 0;
  out.err_mean.assign(oc, 0.0);
  out.err_var.assign(oc, 0.0);
  out.err_bound.assign(oc, 0.0);
  for (std::uint64_t o = 0; o < oc; ++o) {
    double mean = c.b_hat[o] - double((*c.b)[o]);
    double independent = 0, together = 0, dw_sum = 0, in_var = 0, bound = 0;
    for (std::uint64_t t = 0; t < per; ++t) {
      const double wq = c.w_hat[o * per + t];
      const double dw = wq - double((*c.w)[o * per + t]);
      const std::uint64_t ic = c.depthwise ? o / c.depth_multiplier : t / c.kk;
      const double mu = have_mean ? in.mean[ic] : 0.0;
      const double sd = have_sq ? std::sqrt(std::max(in.mean_square[ic] - mu * mu, 0.0)) : x_max;
      mean += dw * mu + (carried ? wq * in.err_mean[ic] : 0.0);
      dw_sum += dw;
      independent += dw * dw * sd * sd;
      together += dw * sd;
      in_var += wq * wq * (carried ? in.err_var[ic] : step_var);
      if (bounded) bound += std::fabs(wq) * in.err_bound[ic];
    }
    // An unknown mean: any value up to x_max, in every input channel alike (then carried as a
    // spread, its sign unknown).
    if (!have_mean) mean = std::fabs(mean) + std::fabs(dw_sum) * x_max;
    const double var = std::max(independent, together * together) + in_var;
    out.err_mean[o] = have_mean ? mean : 0.0;
    out.err_var[o] = have_mean ? var : var + mean * mean;
    out.err_bound[o] = bound;
    const double err = std::fabs(mean) + 3 * std::sqrt(var);
    if (err > worst_err) worst_err = err, worst = o;
  }
  const double range = c.hi - c.lo;
  out.worst = worst_err;
  out.range = range;
  // (A clamp to one value has no error to resolve.)
  if (range <= 0 || worst_err < kRoundingErrorWarnShare * range) return out;
  std::ostringstream w;
  w << "layer '" << n.source.name << "' (" << n.source.class_name << "): " << c.bits
    << " cannot resolve its output: its " << c.bits << " weights"
    << (in.exact  ? ""
        : carried ? " and the error its input carries (its grid, earlier layers)"
                  : " and its input's grid")
    << " move output channel " << worst << " by about " << std::setprecision(3) << worst_err << ", "
    << std::fixed << std::setprecision(0) << 100 * worst_err / range
    << " % of the output's calibrated range " << std::defaultfloat << std::setprecision(3) << range
    << " (the output is a small residue of much larger terms); expect large errors from this "
       "layer on: measure them with emc-compare --layers --isolated";
  out.warning = w.str();
  return out;
}

}  // namespace

RoundingEstimate estimate_rounding_error(const FloatConv& fc, const format::EmcConv2dInt8Body& body,
                                         const std::vector<double>& weight_scale,
                                         const Int8Quant& in_q, const Int8Quant& out_q,
                                         const InputMoments& in, const Node& n) {
  const auto& g = body.geo;
  QuantizedConv c;
  c.out_channels = g.out_channels;
  c.in_channels = g.in_channels;
  c.taps = fc.weights.size() / c.out_channels;
  c.kk = std::uint64_t(g.kernel_height) * g.kernel_width;
  c.depthwise = fc.depthwise;
  c.depth_multiplier = g.depth_multiplier;
  c.w = &fc.weights;
  c.b = &fc.bias;
  c.w_hat.resize(fc.weights.size());
  for (std::size_t i = 0; i < c.w_hat.size(); ++i)
    c.w_hat[i] = weight_scale[i / c.taps] * double(body.weights[i]);
  c.b_hat.resize(c.out_channels);
  for (std::uint64_t o = 0; o < c.out_channels; ++o)
    c.b_hat[o] = double(body.bias[o]) * in_q.scale * weight_scale[o];
  c.x_max =
      in_q.scale * std::max(std::abs(-128 - in_q.zero_point), std::abs(127 - in_q.zero_point));
  c.step = in_q.scale;
  c.lo = out_q.dequantize(body.act_min);
  c.hi = out_q.dequantize(body.act_max);
  RoundingEstimate out = estimate(c, in, n);
  out.clamp_low = fc.act_min;
  out.clamp_high = fc.act_max;
  return out;
}

RoundingEstimate estimate_kpu_rounding_error(const std::vector<float>& weights,
                                             const std::vector<float>& bias, bool depthwise,
                                             std::int32_t kernel, std::int32_t in_channels,
                                             const WeightQuant& wq,
                                             const std::vector<double>& bias_correction,
                                             const QuantParam& in_q, const QuantParam& out_q,
                                             const InputMoments& in, const Node& n) {
  QuantizedConv c;
  c.out_channels = bias.size();
  c.in_channels = std::uint64_t(in_channels);
  c.taps = c.out_channels ? weights.size() / c.out_channels : 0;
  c.kk = std::uint64_t(kernel) * std::uint64_t(kernel);
  c.depthwise = depthwise;
  c.w = &weights;
  c.b = &bias;
  c.w_hat.resize(weights.size());
  for (std::size_t i = 0; i < c.w_hat.size(); ++i)
    c.w_hat[i] = wq.scales[i / c.taps] * (double(wq.codes[i]) - double(wq.zero_point));
  c.b_hat.resize(c.out_channels);
  for (std::uint64_t o = 0; o < c.out_channels; ++o)
    c.b_hat[o] = double(bias[o]) - (bias_correction.empty() ? 0.0 : bias_correction[o]);
  c.x_max = in_q.scale * std::max(in_q.zero_point, 255 - in_q.zero_point);
  c.step = in_q.scale;
  c.lo = -double(out_q.zero_point) * out_q.scale;
  c.hi = (255 - out_q.zero_point) * out_q.scale;
  c.bits = wq.bits == 16 ? "16-bit" : "8-bit";
  return estimate(c, in, n);
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

void carried_error(const RoundingEstimate& e, const Range& r, double step,
                   std::vector<double>& err_mean, std::vector<double>& err_var,
                   std::vector<double>& err_bound) {
  const std::size_t c = e.err_mean.size();
  err_mean.clear();
  err_var.clear();
  err_bound.clear();
  if (c == 0 || r.channel_mean.size() != c || r.channel_mean_square.size() != c) return;
  err_mean.resize(c);
  err_var.resize(c);
  const bool linear = e.clamp_low < -1e30 && e.clamp_high > 1e30;
  if (linear && e.err_bound.size() == c) err_bound = e.err_bound;
  for (std::size_t k = 0; k < c; ++k) {
    const double mu = r.channel_mean[k];
    const double sd = std::sqrt(std::max(r.channel_mean_square[k] - mu * mu, 0.0));
    const bool saturated =
        std::fabs(mu - e.clamp_low) < step || std::fabs(mu - e.clamp_high) < step;
    if (sd < step / 4 && !saturated) {
      // A near-constant channel inside the clamp: its codes round the computed mean the same way
      // every time, so that error is carried as it is.
      const double computed = mu + e.err_mean[k];
      const double held = std::clamp(step * std::round(computed / step), e.lo, e.hi);
      err_mean[k] = held - mu;
      err_var[k] = 0;
    } else {
      // A varying channel: its rounding (uniform) and, after a conv with no clamp (linear), the
      // estimate's mean: a systematic offset, which the next layers sum as they sum the values.
      // A clamp passes an offset only where it does not clamp, unknown here, and carrying it in
      // full compounds (MobileNet v1 with ReLU6: 50 ranges by the last layer, measured 0.5);
      // carrying the estimates' spreads as independent noise compounds likewise (hundreds of
      // ranges), so neither is carried.
      err_mean[k] = linear ? e.err_mean[k] : 0.0;
      err_var[k] = step * step / 12;
    }
  }
}

void grid_rounding_error(const Range& r, double step, double lo, double hi,
                         std::vector<double>& err_mean, std::vector<double>& err_var) {
  RoundingEstimate none;
  none.err_mean.assign(r.channel_mean.size(), 0.0);
  none.lo = lo;
  none.hi = hi;
  std::vector<double> no_bound;
  carried_error(none, r, step, err_mean, err_var, no_bound);
}

InputMoments slice_moments(const InputMoments& m, std::int32_t c0, std::int32_t c1) {
  auto slice = [&](const std::vector<double>& v) {
    return v.size() >= std::size_t(c1) ? std::vector<double>(v.begin() + c0, v.begin() + c1)
                                       : std::vector<double>{};
  };
  InputMoments out;
  out.exact = m.exact;
  out.mean = slice(m.mean);
  out.mean_square = slice(m.mean_square);
  out.err_mean = slice(m.err_mean);
  out.err_var = slice(m.err_var);
  out.err_bound = slice(m.err_bound);
  out.unresolved_from = m.unresolved_from;
  return out;
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
