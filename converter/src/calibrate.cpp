#include "emc/converter/calibrate.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <thread>

namespace emc::converter {

void RangeCollector::observe_minmax(std::span<const float> values) {
  // In float (exact: float -> double is monotone and exact), in a loop the compiler vectorizes.
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  bool any = false;
  std::uint64_t count = 0;
  for (float v : values) {
    const bool finite = std::isfinite(v);
    any |= finite;
    count += finite ? 1 : 0;
    lo = std::min(lo, finite ? v : lo);
    hi = std::max(hi, finite ? v : hi);
  }
  count_ += count;
  non_finite_ += values.size() - count;
  if (!any) return;
  if (!seen_) {
    min_ = lo;
    max_ = hi;
    lowest_sample_max_ = hi;
    seen_ = true;
  }
  min_ = std::min<double>(min_, lo);
  max_ = std::max<double>(max_, hi);
  lowest_sample_max_ = std::min<double>(lowest_sample_max_, hi);
}

void RangeCollector::observe_channel_sums(std::span<const float> values, std::int32_t channels) {
  if (channels <= 0 || values.size() % static_cast<std::size_t>(channels) != 0) return;
  const auto c = static_cast<std::size_t>(channels);
  if (channel_sum_.size() != c) {
    channel_sum_.assign(c, 0.0);
    channel_sq_sum_.assign(c, 0.0);
    channel_count_ = 0;
  }
  // Row by row: each channel's sum sees its values in the same order as element by element.
  // Adding +0.0 for a non-finite value changes nothing (a sum that starts at +0.0 is never -0.0).
  double* sum = channel_sum_.data();
  double* sq = channel_sq_sum_.data();
  for (std::size_t i = 0; i < values.size(); i += c) {
    const float* row = values.data() + i;
    for (std::size_t ch = 0; ch < c; ++ch) {
      const double v = std::isfinite(row[ch]) ? static_cast<double>(row[ch]) : 0.0;
      sum[ch] += v;
      sq[ch] += v * v;
    }
  }
  channel_count_ += static_cast<double>(values.size() / c);
}

void RangeCollector::observe_histogram(std::span<const float> values) {
  const double amax = std::max(std::fabs(min_), std::fabs(max_));
  if (hist_.empty()) hist_.assign(kBins, 0.0);
  if (amax <= 0) return;
  for (float v : values) {
    if (!std::isfinite(v)) continue;
    // Exact zeros (ReLU's dead half, zero padding) are exact in every candidate range (integer
    // zero point): they carry no quantization error and must not weigh on the choice. Left in
    // bin 0 they are a spike that every coarser Q smears over its first group, which drives the
    // KL search to the narrowest cut (ReLU6 maps clipped to a quarter of their range).
    if (v == 0.0f) continue;
    const double a = std::fabs(v);
    // Values at the observed extreme (ReLU6's saturation at 6) are exact when the range ends
    // there and clipped otherwise: kept apart so that the full-range cut sees them exactly.
    if (a >= amax) {
      at_max_ += 1.0;
      continue;
    }
    const auto b = static_cast<std::int64_t>(a / amax * kBins);
    hist_[static_cast<std::size_t>(std::clamp<std::int64_t>(b, 0, kBins - 1))] += 1.0;
  }
}

double kld_threshold(std::span<const double> hist, double bin_width, int levels, double at_max) {
  const int n = static_cast<int>(hist.size());
  if (n <= levels) return n * bin_width;
  double best_kl = std::numeric_limits<double>::infinity();
  int best_i = n;
  std::vector<double> p, q;
  for (int i = levels; i <= n; ++i) {
    p.assign(hist.begin(), hist.begin() + i);
    // Clipped mass: the bins past the cut and, below the full range, the values at the extreme.
    double outliers = i < n ? at_max : 0.0;
    for (int j = i; j < n; ++j) outliers += hist[j];
    p[i - 1] += outliers;
    // Q: the first i bins merged into `levels` groups, each group's mass spread evenly over the
    // group's non-empty bins.
    q.assign(i, 0.0);
    for (int g = 0; g < levels; ++g) {
      const int b0 = static_cast<int>(static_cast<std::int64_t>(g) * i / levels);
      const int b1 = static_cast<int>(static_cast<std::int64_t>(g + 1) * i / levels);
      double mass = 0;
      int nonzero = 0;
      for (int j = b0; j < b1; ++j) {
        mass += hist[j];
        if (hist[j] > 0) ++nonzero;
      }
      for (int j = b0; j < b1; ++j)
        if (hist[j] > 0) q[j] = mass / nonzero;
    }
    double ps = 0, qs = 0;
    for (int j = 0; j < i; ++j) {
      ps += p[j];
      qs += q[j];
    }
    if (ps <= 0 || qs <= 0) continue;
    double kl = 0;
    for (int j = 0; j < i; ++j) {
      if (p[j] <= 0) continue;
      const double pj = p[j] / ps;
      const double qj = q[j] > 0 ? q[j] / qs : 1e-12;  // outlier bin may be empty in Q
      kl += pj * std::log(pj / qj);
    }
    if (kl < best_kl) {
      best_kl = kl;
      best_i = i;
    }
  }
  return best_i * bin_width;
}

double mse_threshold(std::span<const double> hist, double bin_width, double at_max,
                     double neg_extent, double pos_extent, int levels) {
  const int n = static_cast<int>(hist.size());
  const double amax = n * bin_width;
  double best_err = std::numeric_limits<double>::infinity();
  double best_t = amax;
  // Cuts from 1/64 of the range up to the full range, one histogram bin apart.
  for (int i = std::max(1, n / 64); i <= n; ++i) {
    const double t = i * bin_width;
    // The range the cut produces: [−min(neg, t), min(pos, t)], `levels` − 1 steps.
    const double width = std::min(neg_extent, t) + std::min(pos_extent, t);
    const double step = width / (levels - 1);
    const double noise = step * step / 12.0;
    // Inside the range every value gets the rounding noise step²/12 (also the small ones that
    // round to the exact zero: over (0, step/2) their mean x² is the same step²/12).
    double err = 0;
    for (int j = 0; j < n; ++j) {
      if (hist[j] <= 0) continue;
      const double c = (j + 0.5) * bin_width;  // bin centre
      err += hist[j] * (c > t ? (c - t) * (c - t) : noise);
    }
    if (i < n) err += at_max * (amax - t) * (amax - t);  // the extreme is exact only at i == n
    if (err < best_err) {
      best_err = err;
      best_t = t;
    }
  }
  return best_t;
}

double percentile_threshold(std::span<const double> hist, double bin_width, double at_max,
                            double zeros, double fraction) {
  const int n = static_cast<int>(hist.size());
  double total = zeros + at_max;
  for (double h : hist) total += h;
  double inside = zeros;
  for (int i = 1; i < n; ++i) {
    inside += hist[i - 1];
    if (inside >= fraction * total) return i * bin_width;
  }
  return n * bin_width;
}

Range RangeCollector::range(CalibrationMethod method) const {
  if (!seen_) {
    Range none;
    none.non_finite = non_finite_;
    return none;
  }
  Range r = clipped_range(method);
  r.values = count_;
  r.non_finite = non_finite_;
  r.observed_min = min_;
  r.observed_max = max_;
  r.lowest_sample_max = lowest_sample_max_;
  if (!hist_.empty() && (r.min > min_ || r.max < max_)) {
    // Clipped: the values with |x| beyond the cut (a bin edge) on the side(s) the cut shortened.
    const double amax = std::max(std::fabs(min_), std::fabs(max_));
    const double t = std::max(-r.min, r.max);
    const auto first = static_cast<std::size_t>(std::llround(t / (amax / kBins)));
    double clipped = at_max_;
    for (std::size_t b = first; b < hist_.size(); ++b) clipped += hist_[b];
    r.clipped_fraction = count_ ? clipped / double(count_) : 0.0;
  }
  if (channel_count_ > 0) {
    r.channel_mean.resize(channel_sum_.size());
    r.channel_mean_square.resize(channel_sum_.size());
    for (std::size_t c = 0; c < channel_sum_.size(); ++c) {
      r.channel_mean[c] = channel_sum_[c] / channel_count_;
      r.channel_mean_square[c] = channel_sq_sum_[c] / channel_count_;
    }
  }
  return r;
}

Range RangeCollector::clipped_range(CalibrationMethod method) const {
  if (method == CalibrationMethod::kMinMax || hist_.empty()) return Range{min_, max_, {}};
  const double amax = std::max(std::fabs(min_), std::fabs(max_));
  if (amax <= 0) return Range{min_, max_, {}};
  if (method == CalibrationMethod::kMse) {
    const double t =
        mse_threshold(hist_, amax / kBins, at_max_, std::max(0.0, -min_), std::max(0.0, max_), 256);
    return Range{std::max(min_, -t), std::min(max_, t), {}};
  }
  if (method == CalibrationMethod::kPercentile) {
    double inside = 0;
    for (double h : hist_) inside += h;
    const double zeros = std::max(0.0, double(count_) - inside - at_max_);
    const double t =
        percentile_threshold(hist_, amax / kBins, at_max_, zeros, kCalibrationPercentile);
    return Range{std::max(min_, -t), std::min(max_, t), {}};
  }
  const int levels = min_ < 0 && max_ > 0 ? 128 : 256;
  const double t = kld_threshold(hist_, amax / kBins, levels, at_max_);
  return Range{std::max(min_, -t), std::min(max_, t), {}};
}

int calibration_threads(int requested, std::size_t samples) {
  int n = requested > 0 ? requested : static_cast<int>(std::thread::hardware_concurrency());
  n = std::clamp(n, 1, 64);
  return static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(n), samples));
}

namespace {

// Runs `fn(k)` for k = 0..n-1, k > 0 on their own threads. Exceptions (bad_alloc) become errors.
void run_parallel(int n, const std::function<void(int)>& fn, std::vector<std::string>& failures) {
  failures.assign(static_cast<std::size_t>(n), {});
  auto guarded = [&](int k) {
    try {
      fn(k);
    } catch (const std::exception& e) {
      failures[static_cast<std::size_t>(k)] = e.what();
    }
  };
  std::vector<std::thread> threads;
  for (int k = 1; k < n; ++k) threads.emplace_back(guarded, k);
  guarded(0);
  for (auto& t : threads) t.join();
}

}  // namespace

Result<std::vector<Range>> calibrate(const FloatExecutor& executor,
                                     const std::vector<std::vector<Tensor>>& samples,
                                     CalibrationMethod method, const CalibrationProgress& progress,
                                     int threads) {
  if (samples.empty()) {
    return Error(Errc::kInvalidArgument, "calibration needs at least one sample");
  }
  const std::size_t nt = executor.graph().tensors.size();
  std::vector<RangeCollector> col(nt);
  RunOptions opts;
  opts.keep_all_tensors = true;
  const int passes = method == CalibrationMethod::kMinMax ? 1 : 2;
  const int workers = calibration_threads(threads, samples.size());
  std::vector<std::optional<Result<std::vector<Tensor>>>> batch(static_cast<std::size_t>(workers));
  std::vector<std::string> failures;
  for (int pass = 1; pass <= passes; ++pass) {
    // Batches of `workers` samples run in parallel; the observations then run in sample order
    // (parallel over tensors), so every collector sees the values in the same order as a serial
    // run and the ranges and channel means are bit-identical for any thread count.
    for (std::size_t s0 = 0; s0 < samples.size(); s0 += static_cast<std::size_t>(workers)) {
      const int nb = static_cast<int>(
          std::min<std::size_t>(static_cast<std::size_t>(workers), samples.size() - s0));
      run_parallel(
          nb,
          [&](int k) {
            auto& slot = batch[static_cast<std::size_t>(k)];
            slot.reset();
            slot.emplace(executor.run(samples[s0 + static_cast<std::size_t>(k)], opts));
          },
          failures);
      for (int k = 0; k < nb; ++k) {
        const std::string where = "calibration sample " + std::to_string(s0 + k) + ": ";
        if (!failures[static_cast<std::size_t>(k)].empty())
          return Error(Errc::kInternal, where + failures[static_cast<std::size_t>(k)]);
        auto& r = *batch[static_cast<std::size_t>(k)];
        if (!r.ok()) return std::move(r).error().prefix(where);
      }
      run_parallel(
          std::min<int>(workers, static_cast<int>(std::max<std::size_t>(nt, 1))),
          [&](int k) {
            for (int b = 0; b < nb; ++b) {
              const auto& ts = batch[static_cast<std::size_t>(b)]->value();
              for (std::size_t t = static_cast<std::size_t>(k); t < nt && t < ts.size();
                   t += static_cast<std::size_t>(workers)) {
                if (pass == 1) {
                  col[t].observe_minmax(ts[t].data);
                  if (ts[t].shape.rank() >= 1)
                    col[t].observe_channel_sums(ts[t].data, ts[t].shape.c());
                } else {
                  col[t].observe_histogram(ts[t].data);
                }
              }
            }
          },
          failures);
      for (const auto& f : failures)
        if (!f.empty()) return Error(Errc::kInternal, "calibration: " + f);
      for (int k = 0; k < nb; ++k) {
        batch[static_cast<std::size_t>(k)].reset();
        if (progress && !progress(s0 + static_cast<std::size_t>(k) + 1, samples.size(), pass)) {
          return Error(Errc::kInvalidArgument, "calibration cancelled");
        }
      }
    }
  }
  std::vector<Range> out(nt);
  for (std::size_t t = 0; t < nt; ++t) out[t] = col[t].range(method);
  return out;
}

}  // namespace emc::converter
