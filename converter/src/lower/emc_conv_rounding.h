// Internal: how far an EMC int8 convolution's int8 weights, bias and input grid move its output
// (docs/cpu_target.md, "Outputs int8 cannot resolve"): the estimate from the input's calibrated
// moments, the error a layer's output carries on to the next, and the warning when int8 cannot
// resolve the output at all.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "emc/converter/calibrate.h"
#include "emc/converter/emc_conv_quant.h"
#include "emc/converter/graph.h"
#include "emc/converter/quantize.h"
#include "emc/format/emc_layers.h"

namespace emc::converter::detail {

// The estimate for one quantized conv: per output channel the error's mean and variance before the
// output's rounding (real units), the largest |mean| + 3 spreads and the output's range (the
// LayerInfo's rounding_error and output_range), and a warning naming node `n` when that error
// reaches kRoundingErrorWarnShare of the range.
struct RoundingEstimate {
  std::vector<double> err_mean, err_var;
  // Per output channel: the worst-case offset carried in from the input's err_bound (not in
  // `worst`: the lowering states it as the layer's border_error).
  std::vector<double> err_bound;
  double worst = 0, range = 0;
  double clamp_low = -1e300, clamp_high = 1e300;  // the activation's clamp (real; none: infinite)
  double lo = 0, hi = 0;                          // the real values of the clamped codes
  std::string warning;
};

// Calibrated moments of what a conv reads, per input channel, in its input grid's real units
// (real = (code - zero_point) * scale): E[x] and E[x^2]. Empty vectors: not known.
struct InputMoments {
  std::vector<double> mean, mean_square;
  bool exact = false;  // the codes are the real values themselves (pixels): no input rounding
  // The error the input's codes carry per channel against the float tensor (from earlier int8
  // layers and their rounding): mean and variance. Empty: its rounding onto the grid alone.
  std::vector<double> err_mean, err_var;
  // A worst-case offset per channel at some positions (a folded normalization's border shift and
  // what linear convs make of it), summed as sum |w| * bound. Empty: none.
  std::vector<double> err_bound;
  // The earlier layer int8 could not resolve whose error the input carries ("": none).
  std::string unresolved_from;
};

// Exact pixels of unknown moments.
InputMoments exact_moments();
// The moments of calibration range `r` (a tensor's own values).
InputMoments moments_of(const Range& r);
// The error a conv's quantized output (a grid of step `step` holding 0, clamped as the conv
// clamps) carries per channel after its rounding: from the conv's estimate `e` and the output's
// calibration `r`. A channel that barely varies (sd under a quarter step, not at the clamp) is
// rounded as its mean is: the estimate plus that exact rounding, a fixed offset; any other carries
// its rounding (step^2 / 12) and, when the conv has no clamp (`e`'s clamps infinite), the
// estimate's mean; the estimate's err_bound likewise only without a clamp. Empty when `r` has no
// per-channel moments of the conv's channel count.
void carried_error(const RoundingEstimate& e, const Range& r, double step,
                   std::vector<double>& err_mean, std::vector<double>& err_var,
                   std::vector<double>& err_bound);
// The same for a tensor whose own values are rounded onto a grid of step `step` holding 0 and
// reaching [lo, hi], with no error before (a quantized float tensor, or one whose producer states
// none): a near-constant channel's fixed rounding offset, the others' step^2 / 12.
void grid_rounding_error(const Range& r, double step, double lo, double hi,
                         std::vector<double>& err_mean, std::vector<double>& err_var);
// Channels [c0, c1) of `m` (a depthwise conv split into parts).
InputMoments slice_moments(const InputMoments& m, std::int32_t c0, std::int32_t c1);
// The moments of a * x + b (per channel) for x with moments `m`.
InputMoments affine_moments(const InputMoments& m, const std::vector<double>& a,
                            const std::vector<double>& b);
// What a conv folding the input normalization reads: p - zx = std_c * x + mean_c - zx for the
// tensor's x (calibration `r`), exact pixels (`zx`: the pixel at the input zero point).
InputMoments pixel_moments(const Range& r, const std::vector<double>& mean,
                           const std::vector<double>& stdv, std::int32_t zx);

RoundingEstimate estimate_rounding_error(const FloatConv& fc, const format::EmcConv2dInt8Body& body,
                                         const std::vector<double>& weight_scale,
                                         const Int8Quant& in_q, const Int8Quant& out_q,
                                         const InputMoments& in, const Node& n);
// The same for a K210_CONV: its weights `wq` (codes with one zero point, per-channel scales, in
// `weights`' layout: [o][i][ky][kx], depthwise [c][ky][kx]), its bias less `bias_correction`, its
// uint8 input and output grids (the output range is the whole uint8 grid; the activation table's
// own error is reported apart).
RoundingEstimate estimate_kpu_rounding_error(const std::vector<float>& weights,
                                             const std::vector<float>& bias, bool depthwise,
                                             std::int32_t kernel, std::int32_t in_channels,
                                             const WeightQuant& wq,
                                             const std::vector<double>& bias_correction,
                                             const QuantParam& in_q, const QuantParam& out_q,
                                             const InputMoments& in, const Node& n);

}  // namespace emc::converter::detail
