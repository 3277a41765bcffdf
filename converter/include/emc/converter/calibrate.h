// Calibration: per-tensor value ranges collected by running the float graph over a dataset.
//
// Methods
//  * kMinMax: the observed [min, max] of every tensor over all samples.
//  * kKld: TensorRT-style entropy calibration on |x| (our variant, documented in
//    docs/converter_k210.md): a first pass records min/max; a second pass fills a 2048-bin
//    histogram of |x| over [0, max|x|]; the clipping threshold T minimises KL(P || Q) where P is
//    the histogram cut at bin i (outliers folded into the last kept bin) and Q is P merged into
//    the number of uint8 levels the side(s) get (256 for a tensor that is never negative, 128 when
//    it has both signs) and expanded back. The range is then [max(min, −T), min(max, T)].
// Ranges always contain 0 after quantization (quantize.h widens them).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "emc/converter/float_executor.h"
#include "emc/converter/graph.h"
#include "emc/format/error.h"

namespace emc::converter {

enum class CalibrationMethod { kMinMax, kKld };

struct Range {
  double min = 0.0;
  double max = 0.0;
};

// Running statistics of one tensor.
class RangeCollector {
 public:
  static constexpr int kBins = 2048;
  // Pass 1: min/max.
  void observe_minmax(std::span<const float> values);
  // Pass 2 (KLD only; after pass 1): |x| histogram over [0, max|x| of pass 1].
  void observe_histogram(std::span<const float> values);
  bool has_values() const { return seen_; }
  Range minmax() const { return {min_, max_}; }
  Range range(CalibrationMethod method) const;

 private:
  bool seen_ = false;
  double min_ = 0.0, max_ = 0.0;
  std::vector<double> hist_;
};

// The KLD threshold (in units of `bin_width`·bins) for a |x| histogram; `levels` = target bins.
// Returns the upper edge of the chosen cut. Pure; exposed for tests.
double kld_threshold(std::span<const double> histogram, double bin_width, int levels);

// Progress: (samples done, samples total, pass 1 or 2). Return false to cancel (kInvalidArgument).
using CalibrationProgress = std::function<bool(std::size_t, std::size_t, int)>;

// Runs `executor` over `samples` (each: the graph inputs in order) and returns a Range per
// TensorId (graph inputs included). Fails on the first executor error, naming the sample index.
Result<std::vector<Range>> calibrate(const FloatExecutor& executor,
                                     const std::vector<std::vector<Tensor>>& samples,
                                     CalibrationMethod method,
                                     const CalibrationProgress& progress = {});

}  // namespace emc::converter
