// Quantization of one float convolution into EMC's int8 EMC_CONV2D / EMC_DEPTHWISE_CONV2D
// (format/emc_layers.h; scheme and derivation in docs/cpu_target.md): int8 symmetric per-channel
// weights, int8 asymmetric activations, int32 bias, per-channel Q31 multiplier + shift.
//
// This is the piece every lowering that emits EMC convolutions shares: the -p cpu target, and the
// K210 lowering's CPU fallback for convolutions the KPU cannot run exactly (kernels > 3x3, ...).
// It fills the body except the two main-memory addresses, which the caller's planner sets.
#pragma once

#include <cstdint>
#include <vector>

#include "emc/format/error.h"
#include "emc/format/kmodel_v3.h"

namespace emc::converter {

// int8 asymmetric activation quantization: real = (q - zero_point) * scale, q in [-128, 127].
struct Int8Quant {
  double scale = 1.0;           // > 0
  std::int32_t zero_point = 0;  // -128..127
  double dequantize(std::int32_t q) const { return (q - zero_point) * scale; }
  bool operator==(const Int8Quant&) const = default;
};

// Parameters covering [min, max] widened to contain 0 (so real 0, the padding value, is exact)
// and to kMinQuantSpan (quantize.h): scale = (max - min) / 255, zero_point = round(-128 - min /
// scale) clamped to [-128, 127]. A degenerate range (max == min == 0) gets scale 1. Fails for a
// non-finite bound.
Result<Int8Quant> int8_quant_from_range(double min, double max);

// real_multiplier (> 0, < 2^31) as multiplier * 2^(shift - 31) with multiplier in [2^30, 2^31)
// (TFLite QuantizeMultiplier: frexp, then the Q31 mantissa rounded half away from zero). Fails when
// the shift would leave [-31, 30]; a multiplier below 2^-32 becomes (0, 0): the layer's outputs
// are then the output zero point (clamped), which is what the real product rounds to.
Status quantize_multiplier(double real_multiplier, std::int32_t& multiplier, std::int32_t& shift);

// A float convolution to quantize. Geometry fields as in EmcConvGeometry (the addresses are
// ignored). Weights: regular [out_c][in_c][kh][kw], depthwise [out_c][kh][kw] (output channel o
// reads input channel o / depth_multiplier); BN and bias already folded in.
struct FloatConv {
  format::EmcConvGeometry geo;
  bool depthwise = false;
  std::vector<float> weights;
  std::vector<float> bias;  // [out_c]
  // Fused activation as a clamp in real units (ReLU: [0, inf), ReLU6: [0, 6], linear: none).
  double act_min = -1e300, act_max = 1e300;
};

struct Int8ConvResult {
  format::EmcConv2dInt8Body body;
  std::vector<double> weight_scale;  // per output channel
  double worst_weight_sqnr_db = 0;   // the worst channel's weight quantization SQNR
};

// Weights: per output channel, scale_w = max|w| / 127 (an all-zero channel: 1), raised where needed
// so that the bias fits the accumulator bound the parser enforces (a dead channel with a large
// bias), w_q = round(w / scale_w) in [-127, 127]. Bias: round(b / (in.scale * scale_w)) (rejected
// when it still does not fit: too many taps). Multiplier: in.scale * scale_w / out.scale. Clamp:
// the int8 codes of act_min/act_max intersected with [-128, 127]. Errors name the reason; the
// caller adds the layer.
Result<Int8ConvResult> quantize_conv_int8(const FloatConv& conv, const Int8Quant& in,
                                          const Int8Quant& out);

}  // namespace emc::converter
