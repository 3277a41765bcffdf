// Quantization parameters: asymmetric uint8 activations and uint8/uint16 weights (per layer or
// per output channel), in the convention kmodel V3 stores (QUANTIZE / DEQUANTIZE bodies):
//
//     real = q * scale + bias          (q an unsigned integer code, bias = -zero_point * scale)
//
// Every parameter set here has an INTEGER zero point (the code of real 0.0), so real zero is
// exactly representable: zero padding, ReLU's 0 and the KPU pad_value are exact, and the KPU conv
// stage can remove zero points with integer arg_x/arg_w/arg_add (k210_conv_args.h).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "emc/format/error.h"

namespace emc::converter {

// One affine quantization: real = (q - zero_point) * scale, q in [0, qmax].
struct QuantParam {
  double scale = 1.0;           // > 0, real units per code
  std::int32_t zero_point = 0;  // code of real 0.0, in [0, qmax]
  std::int32_t qmax = 255;      // 255 (uint8) or up to 65535 (uint16)

  // V3's `bias` field: real value of code 0.
  double bias() const { return -static_cast<double>(zero_point) * scale; }
  double real_min() const { return bias(); }
  double real_max() const { return (qmax - zero_point) * scale; }
  // Nearest code, clamped to [0, qmax] (round half away from zero, as roundf).
  std::int32_t quantize(double real) const;
  double dequantize(std::int64_t q) const { return (static_cast<double>(q) - zero_point) * scale; }
  bool operator==(const QuantParam&) const = default;
};

// The narrowest nonzero range an activation or weight is quantized over. A kmodel stores scales
// as float32: a range of float32 denormals (a product of tiny factors, say) would give a step that
// float32 rounds to 0 or to a denormal of a few bits. Narrower ranges are widened about 0 to this
// span (step 1e-30/255 > FLT_MIN); their values are then held to within 1e-30.
inline constexpr double kMinQuantSpan = 1e-30;

// Scales [lo, hi] (lo <= 0 <= hi, hi > lo) about 0 up to kMinQuantSpan when it is narrower.
inline void widen_to_min_span(double& lo, double& hi) {
  if (hi - lo < kMinQuantSpan) {
    const double grow = kMinQuantSpan / (hi - lo);
    lo *= grow;
    hi *= grow;
  }
}

// Asymmetric parameters covering [min, max] widened to contain 0 (and to kMinQuantSpan, keeping
// the ratio of its ends). The zero point is rounded to an integer and the scale then grown (never
// shrunk) so that both ends of the widened range stay representable. A degenerate range
// (max == min == 0) gets scale 1/qmax. Fails (kQuantization) for non-finite bounds or min > max.
Result<QuantParam> quant_param_from_range(double min, double max, std::int32_t qmax = 255);

// Weight quantization of one layer.
struct WeightQuant {
  std::int32_t bits = 8;             // 8 or 16
  std::int32_t qmax = 255;           // largest code used (<= 2^bits - 1; may be lower, see below)
  std::int32_t zero_point = 0;       // shared by every channel (the KPU has one arg_x per layer)
  std::vector<double> scales;        // one per output channel (all equal when per-layer)
  std::vector<std::uint16_t> codes;  // same order and count as the float weights
};

// Quantizes `weights` laid out as `channels` consecutive blocks (output channel major: OIHW for a
// conv, [c][k][k] for a depthwise conv). Per-layer: one min/max (containing 0) for all weights.
// Per-channel: one shared integer zero point Z chosen to minimise the sum of channel scales
// s_c = max(wmax_c / (qmax - Z), -wmin_c / Z); each channel gets its own scale (folded into the
// KPU batch-norm multiplier by the caller). `qmax` may be below 2^bits-1 to keep the KPU's 36-bit
// accumulator in range (see k210_conv_args.h).
Result<WeightQuant> quantize_weights(std::span<const float> weights, std::int32_t channels,
                                     std::int32_t bits, bool per_channel, std::int32_t qmax);

// The relative quantization noise of `q` for `weights` (same layout as quantize_weights): the sum
// over output channels of Σ(dequantized − w)² / Σw² (all-zero channels count 0), i.e. every
// channel's noise-to-signal ratio counts equally, as each feeds its own output.
double weight_relative_noise(std::span<const float> weights, const WeightQuant& q);

// Per-channel scales unless one per-layer scale gives strictly less relative noise
// (weight_relative_noise): weights that already lie on one grid per tensor (a model saved with
// per-tensor weight quantization, e.g. TF.js uint8) are reproduced by that grid and re-rounded by
// per-channel scales. Trained float weights almost always measure better per channel.
Result<WeightQuant> quantize_weights_auto(std::span<const float> weights, std::int32_t channels,
                                          std::int32_t bits, std::int32_t qmax);

}  // namespace emc::converter
