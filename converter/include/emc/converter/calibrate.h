// Calibration: per-tensor value ranges collected by running the float graph over a dataset.
//
// Methods
//  * kMinMax: the observed [min, max] of every tensor over all samples.
//  * kKld: TensorRT-style entropy calibration on |x| (our variant, documented in
//    docs/converter_k210.md): a first pass records min/max; a second pass fills a 2048-bin
//    histogram of |x| over [0, max|x|] (exact zeros and values at max|x| kept apart: both are
//    exactly representable by the full-range cut, see calibrate.cpp); the clipping threshold T
//    minimises KL(P || Q) where P is
//    the histogram cut at bin i (outliers folded into the last kept bin) and Q is P merged into
//    the number of uint8 levels the side(s) get (256 for a tensor that is never negative, 128 when
//    it has both signs) and expanded back. The range is then [max(min, −T), min(max, T)].
//  * kMse: the same two passes; the threshold T minimises the expected squared quantization error
//    of the tensor on the histogram: clipping error Σ(|x| − T)² of the values beyond T, plus the
//    rounding noise step²/12 of every other nonzero value, where step = (range width)/255 of the
//    range the cut produces. Exact zeros and values at an extreme that the range keeps cost
//    nothing. This is the per-tensor SQNR optimum (the criterion of PyTorch's HistogramObserver);
//    it never chooses a cut worse than min/max on the calibration data, and unlike KL divergence it
//    weighs how far clipped values are clipped.
//  * kPercentile: the same two passes; T is the smallest histogram edge below which at least
//    99.99 % of the tensor's values lie (exact zeros count as inside): TensorRT's/NVIDIA's
//    percentile calibration, which drops rare outliers whatever they cost.
// Every Range from calibrate() also says what it did to the calibration data: the observed
// extremes and the fraction of values outside the chosen range (emc-convert --report, sidecar).
// Ranges always contain 0 after quantization (quantize.h widens them).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <utility>
#include <vector>

#include "emc/converter/float_executor.h"
#include "emc/converter/graph.h"
#include "emc/format/error.h"

namespace emc::converter {

enum class CalibrationMethod { kMinMax, kKld, kMse, kPercentile };

// The fraction of values kPercentile keeps.
inline constexpr double kCalibrationPercentile = 0.9999;

struct Range {
  Range() = default;
  Range(double lo, double hi, std::vector<double> means = {})
      : min(lo), max(hi), channel_mean(std::move(means)) {}
  double min = 0.0;
  double max = 0.0;
  // Mean of the tensor per channel (last axis) over every position and sample, in real units;
  // empty for scalars. Used for bias correction (k210_conv_args.h).
  std::vector<double> channel_mean;
  // Mean of the squared values per channel, like channel_mean (empty when it is): with the mean,
  // the spread the rounding-error estimate of EMC int8 convolutions weighs (emc_conv_layer.h).
  std::vector<double> channel_mean_square;
  // Set by calibrate() (0 otherwise): the finite values seen, their extremes, and the fraction
  // of them outside [min, max] (exact at the histogram's resolution).
  std::uint64_t values = 0;
  std::uint64_t non_finite = 0;  // values that were inf or NaN (left out of everything above)
  double observed_min = 0.0, observed_max = 0.0;
  double clipped_fraction = 0.0;
  // Set by calibrate() (meaningful when `values` > 0): the lowest, over the samples, of a sample's
  // largest value. A softmax reading this tensor underflows on a sample whose largest logit is far
  // below 0 (v3_cpu_layers.h, logit_shift).
  double lowest_sample_max = 0.0;
};

// Running statistics of one tensor.
class RangeCollector {
 public:
  static constexpr int kBins = 2048;
  // Pass 1: min/max; one call per sample (its largest value feeds lowest_sample_max).
  void observe_minmax(std::span<const float> values);
  // Pass 1: per-channel sums; `channels` = size of the last axis (values.size() a multiple of it).
  void observe_channel_sums(std::span<const float> values, std::int32_t channels);
  // Pass 2 (KLD, MSE; after pass 1): |x| histogram over [0, max|x| of pass 1].
  void observe_histogram(std::span<const float> values);
  bool has_values() const { return seen_; }
  Range minmax() const { return {min_, max_}; }
  Range range(CalibrationMethod method) const;

 private:
  Range clipped_range(CalibrationMethod method) const;  // min/max only
  bool seen_ = false;
  double min_ = 0.0, max_ = 0.0;
  double lowest_sample_max_ = 0.0;  // the lowest maximum of one observe_minmax call (a sample)
  std::vector<double> channel_sum_, channel_sq_sum_;
  double channel_count_ = 0.0;    // positions summed per channel
  std::vector<double> hist_;      // |x| in (0, max|x|); exact zeros are not counted
  double at_max_ = 0.0;           // values with |x| == max|x| (e.g. ReLU6 saturated at 6)
  std::uint64_t count_ = 0;       // finite values (pass 1)
  std::uint64_t non_finite_ = 0;  // inf and NaN values (pass 1)
};

// The KLD threshold for a |x| histogram of `histogram.size()` bins of `bin_width` (values strictly
// inside the observed range), `levels` = target bins, `at_max` = the count of values exactly at
// the observed extreme |x| = size·bin_width (exact for the full-range cut, clipped for every other
// cut). Returns the upper edge of the chosen cut. Pure; exposed for tests.
double kld_threshold(std::span<const double> histogram, double bin_width, int levels,
                     double at_max = 0.0);

// The MSE-optimal threshold (see kMse) for the same histogram; `neg_extent`/`pos_extent` = the
// observed −min and max (>= 0), `levels` = codes (256). Pure; exposed for tests.
double mse_threshold(std::span<const double> histogram, double bin_width, double at_max,
                     double neg_extent, double pos_extent, int levels);

// The kPercentile threshold: the upper edge of the first bin at which the values inside (the
// `zeros` exact zeros, the histogram bins below it; the `at_max` values only at the full range)
// reach `fraction` of all values. Pure; exposed for tests.
double percentile_threshold(std::span<const double> histogram, double bin_width, double at_max,
                            double zeros, double fraction);

// Progress: (samples done, samples total, pass 1 or 2). Return false to cancel (kInvalidArgument).
using CalibrationProgress = std::function<bool(std::size_t, std::size_t, int)>;

// Runs `executor` over `samples` (each: the graph inputs in order) and returns a Range per
// TensorId (graph inputs included). Fails on the first executor error, naming the sample index.
// `threads` samples run at a time (0: one per hardware thread); the result is bit-identical for
// every thread count (observations happen in sample order). Memory: all tensors of `threads`
// samples are alive at once. `progress` is called on the calling thread, in sample order.
Result<std::vector<Range>> calibrate(const FloatExecutor& executor,
                                     const std::vector<std::vector<Tensor>>& samples,
                                     CalibrationMethod method,
                                     const CalibrationProgress& progress = {}, int threads = 0);

// The number of threads calibrate() uses for `requested` (0: hardware threads) and `samples`.
int calibration_threads(int requested, std::size_t samples);

}  // namespace emc::converter
