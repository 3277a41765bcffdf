// Internal: the checks and bodies of the kmodel V3 CPU layers (float, main memory) that both
// lowerings emit, the Lowerer (-p k210) and the cpu target's: one definition of what each layer
// accepts. Addresses are 0 (patched by the fixups); buffers and tensor forms stay with the
// lowering.
#pragma once

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
// kpu_softmax row). Softmax is shift-invariant, so a lowering that can add a constant to the
// logits (a float FULLY_CONNECTED's bias) raises them by logit_shift(max) = -max when the
// calibrated maximum `max` is negative (0 otherwise). check_softmax_input then fails naming `n`
// when the calibrated maximum after any shift is still below kSoftmaxUnderflow: every calibration
// sample would come out NaN.
inline constexpr double kSoftmaxUnderflow = -80.0;
inline double logit_shift(double max) {
  return max < 0 ? -max : 0.0;
}
void check_softmax_input(const Node& n, double max_after_shift);

// A concatenation maps onto consecutive CHW blocks only on the channel (last) axis of its output
// `out`; another axis fails naming `n`.
void check_concat_axis(const Node& n, const Shape& out);

}  // namespace emc::converter::detail
