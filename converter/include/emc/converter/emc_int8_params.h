// The quantization fields of EMC's int8 pools, elementwise ops, concat and lookup table
// (format/emc_layers.h; formulas in docs/cpu_target.md), built from the float parameters a
// lowering knows: each tensor's int8 scale and zero point (int8_quant_from_range) and the fused
// activation as a real clamp. Addresses and shapes stay the caller's; errors name the reason and
// the caller adds the layer.
#pragma once

#include <functional>
#include <vector>

#include "emc/converter/emc_conv_quant.h"

namespace emc::converter {

// Real clamp bounds of no fused activation.
inline constexpr double kNoClamp = 1e300;

// Max / average pool: multiplier = in.scale / out.scale (2^30, shift 1 when the scales are equal,
// the identity), zero points, act_min/act_max = the int8 codes of [act_min, act_max].
Status set_pool_int8_params(const Int8Quant& in, const Int8Quant& out, double act_min,
                            double act_max, format::EmcPool2dInt8Body& body);

// Elementwise (TFLite int8 ADD/SUB/MUL/MAXIMUM/MINIMUM): add/sub/max/min rescale both inputs to
// twice_max = 2 * max(a.scale, b.scale) with left_shift 20 (input multipliers a.scale / twice_max,
// b.scale / twice_max <= 1/2; output twice_max / (2^20 * out.scale)); mul: output multiplier
// a.scale * b.scale / out.scale. `average_of` n >= 2 (a Keras Average of n inputs, the last add
// of its chain) divides the output multiplier of an add by n; 0 = a plain add. body.op must be
// set; the rest of the quantization fields are filled.
Status set_elementwise_int8_params(const Int8Quant& a, const Int8Quant& b, const Int8Quant& out,
                                   double act_min, double act_max, int average_of,
                                   format::EmcElementwiseInt8Body& body);

// Concat: input k is requantized by ins[k].scale / out.scale (an identity copy when the parameters
// are equal). body.inputs must already hold ins.size() entries (addresses and channels).
Status set_concat_int8_params(const std::vector<Int8Quant>& ins, const Int8Quant& out,
                              format::EmcConcatInt8Body& body);

// LUT: table[q + 128] = clamp(round_half_away(f((q - in.zp) * in.scale) / out.scale) + out.zp,
// -128, 127) for every int8 code q. Fails when f gives NaN for some code.
Status set_lut_int8_table(const std::function<double(double)>& f, const Int8Quant& in,
                          const Int8Quant& out, format::EmcLutInt8Body& body);

// PReLU: pos = in.scale / out.scale, neg[c] = alpha[c] * in.scale / out.scale (a negative slope
// gives a negative multiplier; a slope whose |M| is below 2^-62 gives 0, as does slope 0).
// body.channels must equal alpha.size(); the zero points and both rescales are filled.
Status set_prelu_int8_params(const std::vector<double>& alpha, const Int8Quant& in,
                             const Int8Quant& out, format::EmcPreluInt8Body& body);

// The int8 code of a real value under `q`, clamped to [-128, 127]; +-kNoClamp give -128 / 127.
std::int32_t int8_code(const Int8Quant& q, double real);

}  // namespace emc::converter
