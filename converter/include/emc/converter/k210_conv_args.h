// KPU convolution arguments: from a float conv (weights, bias, input/output quantization) to the
// integers a K210_CONV layer carries (kmodel_v3.md §4.2, §6.1-§6.3).
//
// Scheme (all zero points are integers, see quantize.h):
//   input   x = sx·(qx − Zx)                 weights w = sw_c·(qw − Zw)   (Zw shared by channels)
//   conv    acc = Σ qw·qx + arg_x·Σqx + arg_w·Σqw + arg_add·g_ic
//               = Σ (qw − Zw)(qx − Zx)        with arg_x = −Zw, arg_w = −Zx, shr_x = shr_w = 0,
//                                             arg_add = k²·Zw·Zx, pad_value = Zx
//           — exact integer arithmetic (no shifted fractions), padded taps contribute 0.
//   BN      bn = ((acc·mul_c) >> shift_c) + add_c ≈ y_c / s_bn, y_c = sw_c·sx·acc + b_c the real
//           pre-activation value, s_bn = s_out·2^−P a per-layer scale shared by all channels (the
//           activation table is per layer). Per-channel weight scales live in mul_c.
//   act     16-segment table on the integer bn domain (activation_fit.h) → uint8 output code.
// Bias correction (Nagel et al., "Data-Free Quantization", 2019, §4.2 empirical variant): the
// quantized weights ŵ = sw_c·(qw − Zw) differ from w by a rounding error e = ŵ − w that is fixed
// per weight, so the conv output is off by Σ e·x, whose mean E[Σ e·x] = Σ e·E[x] is a constant per
// output channel. After a ReLU the inputs have a large mean, so this constant is most of the
// weight error (MobileNet pointwise convs: 3-8 dB of the weight-only SQNR). It is removed by
// computing the channel's real bias as b_c − Σ_{i,ky,kx} e[c,i,ky,kx]·E[x_i]·f(ky)·f(kx), where
// f = the share of output pixels at which a 3x3 tap reads the map rather than the zero padding
// ((H−1)/H for the outer rows/columns of a stride-1 'same' map; 1 for a 1x1 kernel).
// P is chosen by scanning upwards: the first P >= 8 (BN floor error <= 2^-8 output LSB) at which
// every mul_c has >= 22 significant bits, or the largest P that still keeps every reachable
// |bn| < 2^35 (36-bit BN output / activation x_start), |add_c| < 2^31 and mul_c < 2^23.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "emc/converter/quantize.h"
#include "emc/format/error.h"
#include "emc/format/kpu_regs.h"

namespace emc::converter {

inline constexpr std::int32_t kMaxBnFractionBits = 20;
inline constexpr std::int64_t kKpuAcc36Max = (std::int64_t{1} << 35) - 1;
// Below this weight SQNR of its worst channel, a layer quantized with one weight scale is
// reported (the lowering warns and suggests --per-channel). 8-bit weights of a well-scaled channel
// give 35-45 dB; MobileNet v1's BN-folded pointwise convs 25-35 dB.
inline constexpr double kPerLayerWeightWarnDb = 20.0;

// Largest weight code such that the raw KPU sum Σ qw·qx (qx ≤ 255, `taps` = k²·IC terms) stays
// below 2^35: 2^bits − 1 for every 8-bit layer; lower for large 16-bit layers.
std::int32_t kpu_weight_qmax(std::int32_t bits, std::int64_t taps);

struct KpuConvSpec {
  std::int32_t kernel = 1;  // 1 or 3
  bool depthwise = false;
  std::int32_t in_channels = 0;
  std::int32_t out_channels = 0;
  // OIHW ([oc][ic][ky][kx]) for a normal conv, [c][ky][kx] for depthwise. Float, not owned.
  std::span<const float> weights;
  std::span<const float> bias;  // [out_channels], or empty for no bias
  QuantParam input;             // uint8 input quantization
  QuantParam output;            // uint8 output quantization (of the activation's result)
  std::int32_t weight_bits = 8;
  bool per_channel = false;
  // With per_channel: keep one per-layer scale where it quantizes with less relative noise
  // (quantize_weights_auto).
  bool auto_granularity = false;
  // Bias correction (optional): the mean of the real input per input channel over the
  // calibration data ([in_channels]; empty = none), and the input map size (for the share of
  // output pixels whose 3x3 taps read padding instead of data).
  std::span<const double> input_mean;
  std::int32_t in_h = 0, in_w = 0;
};

struct KpuConvArgs {
  WeightQuant weights;  // codes in the spec's order (what the KPU weight blob holds)
  std::int64_t arg_x = 0, shr_x = 0, arg_w = 0, shr_w = 0, arg_add = 0;
  std::uint8_t pad_value = 0;
  std::vector<format::KpuBatchNorm> bn;  // one per output channel
  std::int32_t bn_fraction_bits = 0;     // P: s_bn = output.scale · 2^-P
  double bn_scale = 0;                   // s_bn: real pre-activation value = bn · s_bn
  std::int64_t bn_min = 0, bn_max = 0;   // bounds of bn over every possible uint8 input
  std::int64_t acc_max = 0;              // bound of |acc| (checked < 2^35)
  std::int32_t min_mul_bits = 0;         // significant bits of the smallest |norm_mul|
  // Bias correction subtracted from each channel's real bias (empty without input_mean): the
  // expected output error of the quantized weights, Σ (ŵ − w)·E[x] (see below).
  std::vector<double> bias_correction;
  // The output channel whose weights the quantization represents worst, and its weight SQNR
  // 10·log10(Σw² / Σ(ŵ − w)²) in dB (+inf when exact; channels of zeros are skipped). With one
  // scale per layer a channel whose weights are much smaller than the layer's largest gets few
  // steps (BN folding makes this common; a trained MobileNetV2's first depthwise conv: < 10 dB).
  std::int32_t worst_weight_channel = -1;
  double worst_weight_sqnr_db = 0;
};

// Derives everything above. Errors: kQuantization when the ranges cannot be represented (e.g. a
// channel whose multiplier would be 0), kInternal for inconsistent spans.
Result<KpuConvArgs> derive_kpu_conv_args(const KpuConvSpec& spec);

// The register fields of §4 this module owns, written into `f`: arg_x, shr_x, arg_w, shr_w,
// arg_add, pad_value (everything else is set by the lowering).
void apply_conv_args(const KpuConvArgs& args, format::KpuLayerFields& f);

}  // namespace emc::converter
