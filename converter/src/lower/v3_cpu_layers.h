// Internal: the checks and bodies of the kmodel V3 CPU layers (float, main memory) that both
// lowerings emit, the Lowerer (-p k210) and the cpu target's: one definition of what each layer
// accepts. Addresses are 0 (patched by the fixups); buffers and tensor forms stay with the
// lowering.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "emc/converter/calibrate.h"
#include "emc/converter/graph.h"
#include "emc/format/kmodel_v3.h"

namespace emc::converter::detail {

// AVERAGE_POOL2D / MAX_POOL2D / QUANTIZED_MAX_POOL2D geometry of pool node `n` ([H, W, C] input
// `s`, output `os`); the padding fields take the top / left padding (the SDK's form).
format::Pool2dBody pool2d_body(const Node& n, const Shape& s, const Shape& os);

// SOFTMAX of softmax node `n` reading `in`: the layer works on a vector ([C] or [1, 1, C]) over
// its last axis; anything else fails naming `n`.
format::ChannelsBody softmax_body(const Node& n, const Shape& in);

// The SDK's SOFTMAX starts its running max at FLT_MIN, not at the first input: when every input is
// below about -87, every expf underflows to 0 and the layer writes 0/0 = NaN (kmodel_v3.md, the
// kpu_softmax row). Inputs far above 0 are safe (the max is subtracted). Softmax is
// shift-invariant, so a lowering that can add a constant to the logits (a float
// FULLY_CONNECTED's bias) raises them by logit_shift(). Below, `max` is the logits' calibrated
// maximum, `lowest_sample_max` the lowest largest logit of one calibration sample (Range), and
// `error` an estimate of how far the kmodel's logits stray from the float ones (its quantized
// inputs; softmax_logit_error). Errors carried from coarser grids upstream (a Subtract of two
// close wide-range maps) can exceed it, so at least the logits' own magnitude -lowest_sample_max
// is allowed for too: that raise is at most twice the one such logits need anyway, so it costs
// about one more bit of float32 precision. The shift is -max when `max` is negative (0
// otherwise); when even then a sample's largest logit, moved by that error, could fall below
// kSoftmaxUnderflow, it is error - lowest_sample_max instead: that sample's largest logit lands
// at +error, so its kmodel value stays at or above 0.
inline constexpr double kSoftmaxUnderflow = -80.0;
// The logits' lowest per-sample maximum from calibration `r` (its maximum when calibrate() did not
// set it).
inline double lowest_sample_max(const Range& r) {
  return r.values > 0 ? r.lowest_sample_max : r.max;
}
double logit_shift(double max, double lowest_sample_max, double error);

// An estimate of the error of the logits of a float FULLY_CONNECTED (row-major [out][in]
// `weights`) whose input was quantized to 8 bits somewhere before it, on a grid spanning at least
// `input_abs_max` (the input's largest |value|, or qmax * scale of the grid that holds it when
// that is wider: a max pool keeps its input's grid): its step is at least input_abs_max / 255;
// this allows 8 such half steps per input (errors carried from earlier layers), summed over the
// row with the largest sum of |w|.
double softmax_logit_error(const std::vector<float>& weights, std::uint32_t in_channels,
                           double input_abs_max);

// Fails naming `n` when the calibrated maximum after any shift is still below kSoftmaxUnderflow:
// every calibration sample would come out NaN.
void check_softmax_input(const Node& n, double max_after_shift);

// A warning naming `n` (empty when none) when a calibration sample's largest logit after any
// shift, `lowest_sample_max_after_shift`, is below kSoftmaxUnderflow: the kmodel writes NaN for
// that sample, though not for every one.
std::string softmax_underflow_warning(const Node& n, double lowest_sample_max_after_shift);

// A concatenation maps onto consecutive CHW blocks only on the channel (last) axis of its output
// `out`; another axis fails naming `n`.
void check_concat_axis(const Node& n, const Shape& out);

}  // namespace emc::converter::detail
