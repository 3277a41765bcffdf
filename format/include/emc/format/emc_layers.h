// EMC's own CPU layer types (not in any Kendryte runtime): int8 convolution in the TFLite/CMSIS-NN
// int8 scheme, a float convolution, int8 quantize/dequantize, and the int8 pools, elementwise
// ops, concat, lookup table, pad/crop and nearest resize of the integer path. Numbered in the reserved block
// 0x454D0000..0x454DFFFF ("EM" in the high half; docs/format.md "EMC layer types"), which cannot
// collide with kmodel V3's 0..25 and 10240..10243. Arithmetic: docs/cpu_target.md.
//
// Plain structs read and written by the explicit LE codec (src/body_codec.cpp); trailing arrays
// are owning vectors. Tensors in main memory are dense CHW; int8 values are two's complement bytes.
#pragma once

#include <array>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "emc/format/layer_types.h"

namespace emc::format {

inline constexpr std::uint32_t kEmcTypeBlockFirst = 0x454D0000u;
inline constexpr std::uint32_t kEmcTypeBlockLast = 0x454DFFFFu;

// Geometry shared by every EMC convolution (int8 and float, regular and depthwise): 72 bytes.
// Output (oy, ox), tap (ky, kx) reads input row oy*stride_h - pad_top + ky*dilation_h and column
// ox*stride_w - pad_left + kx*dilation_w; positions outside the input are padding (int8: the input
// zero point, i.e. contributes 0; float: 0.0f). out = floor((in + pads - dil*(k-1) - 1)/stride)+1.
struct EmcConvGeometry {
  std::uint32_t flags = 0;  // reserved, must be 0
  std::uint32_t main_mem_in_address = 0;   // CHW input
  std::uint32_t main_mem_out_address = 0;  // CHW output
  std::uint32_t in_width = 0, in_height = 0, in_channels = 0;
  std::uint32_t out_width = 0, out_height = 0, out_channels = 0;
  std::uint32_t kernel_width = 0, kernel_height = 0;
  std::uint32_t stride_width = 0, stride_height = 0;
  std::uint32_t dilation_width = 0, dilation_height = 0;
  std::uint32_t pad_left = 0, pad_right = 0, pad_top = 0, pad_bottom = 0;
  // Depthwise types: out_channels = in_channels * depth_multiplier, output channel o reads input
  // channel o / depth_multiplier. Regular types: must be 1.
  std::uint32_t depth_multiplier = 1;
  bool operator==(const EmcConvGeometry&) const = default;
};
inline constexpr std::size_t kEmcConvGeometryBytes = 80;

// ---- EMC_CONV2D / EMC_DEPTHWISE_CONV2D: 80 + 16 bytes head + arrays ----------------------------
// acc[o] = bias[o] + sum over taps (x - input_zero_point) * w  (int32, exact: the parser bounds
// the reduction so it cannot overflow), then
// out = clamp(round_half_away(acc * multiplier[o] / 2^(31 - shift[o])) + output_zero_point,
//             act_min, act_max).
struct EmcConv2dInt8Body {
  EmcConvGeometry geo;
  std::int32_t input_zero_point = 0;   // -128..127
  std::int32_t output_zero_point = 0;  // -128..127
  std::int32_t act_min = -128;         // -128..act_max (fused ReLU/ReLU6 as a clamp)
  std::int32_t act_max = 127;          // act_min..127
  // Weights, int8 symmetric per output channel: regular [out_c][in_c][kh][kw], depthwise
  // [out_c][kh][kw]; zero-padded to a multiple of 4 bytes in the file.
  std::vector<std::int8_t> weights;
  std::vector<std::int32_t> bias;        // [out_c], in units of input_scale * weight_scale[o]
  std::vector<std::int32_t> multiplier;  // [out_c], 0..2^31-1 (Q31)
  std::vector<std::int32_t> shift;       // [out_c], -31..30 (right shift 31 - shift: 1..62)
  bool operator==(const EmcConv2dInt8Body&) const = default;
};
inline constexpr std::size_t kEmcConv2dInt8FixedBytes = kEmcConvGeometryBytes + 16;

// ---- EMC_CONV2D_F32 / EMC_DEPTHWISE_CONV2D_F32: 80 + 8 bytes head + arrays --------------------
// out = min(max(bias[o] + sum x * w (float32, taps in (ic, ky, kx) order, no FMA), act_min),
// act_max).
struct EmcConv2dF32Body {
  EmcConvGeometry geo;
  float act_min = 0.0f;  // -inf allowed (no lower clamp); never NaN
  float act_max = 0.0f;  // +inf allowed
  std::vector<float> weights;  // same layout as the int8 body
  std::vector<float> bias;     // [out_c]
  bool operator==(const EmcConv2dF32Body&) const = default;
};
inline constexpr std::size_t kEmcConv2dF32FixedBytes = kEmcConvGeometryBytes + 8;

// ---- EMC_QUANTIZE_INT8 / EMC_DEQUANTIZE_INT8: 24 bytes ------------------------------------------
// quantize: q = clamp(round_half_away(x / scale) + zero_point, -128, 127) (float32 division, NaN
// -> zero_point); dequantize: x = (float)(q - zero_point) * scale.
struct EmcQuantizeInt8Body {
  std::uint32_t flags = 0;  // reserved, must be 0
  std::uint32_t main_mem_in_address = 0;
  std::uint32_t main_mem_out_address = 0;
  std::uint32_t count = 0;  // elements
  float scale = 1.0f;       // > 0, finite
  std::int32_t zero_point = 0;  // -128..127
  bool operator==(const EmcQuantizeInt8Body&) const = default;
};

// ---- EMC_MAX_POOL2D_INT8 / EMC_AVERAGE_POOL2D_INT8: 88 bytes ----------------------------------
// Window (oy, ox) covers input rows oy*stride_h - pad_top + ky, columns ox*stride_w - pad_left + kx
// (ky < kernel_h, kx < kernel_w); taps outside the input are skipped (Keras/TF: max ignores
// padding, average divides by the n valid taps). With acc = max (max pool) or sum (average) of
// (x - input_zero_point) over the valid taps and n = 1 (max) or the valid tap count (average):
// out = clamp(round_half_away(acc * multiplier / (n * 2^(31 - shift))) + output_zero_point,
//             act_min, act_max)   (one exact rounding; multiplier 2^30, shift 1 is the identity).
// out = (in + pads - kernel) / stride + 1; every pad < kernel (so every window has a valid tap).
struct EmcPool2dInt8Body {
  std::uint32_t flags = 0;  // reserved, must be 0
  std::uint32_t main_mem_in_address = 0;   // CHW int8
  std::uint32_t main_mem_out_address = 0;  // CHW int8
  std::uint32_t in_width = 0, in_height = 0, channels = 0;
  std::uint32_t out_width = 0, out_height = 0;
  std::uint32_t kernel_width = 0, kernel_height = 0;  // kernel_w * kernel_h <= 2^23
  std::uint32_t stride_width = 0, stride_height = 0;
  std::uint32_t pad_left = 0, pad_right = 0, pad_top = 0, pad_bottom = 0;
  std::int32_t input_zero_point = 0;   // -128..127
  std::int32_t output_zero_point = 0;  // -128..127
  std::int32_t multiplier = 1 << 30;   // 0..2^31-1 (Q31)
  std::int32_t shift = 1;              // -31..30
  std::int32_t act_min = -128;         // -128..act_max
  std::int32_t act_max = 127;          // act_min..127
  bool operator==(const EmcPool2dInt8Body&) const = default;
};

// ---- EMC_ELEMENTWISE_INT8: 80 bytes -------------------------------------------------------------
// Two int8 inputs a (channels x plane) and b (same shape, one value per channel, or one scalar).
// add/sub/max/min (TFLite int8 ADD): a' = R((a - a_zp) * 2^left_shift, a_multiplier, a_shift),
// b' likewise, acc = a' + b' / a' - b' / max / min, where R(v, m, s) = round_half_away(v * m /
// 2^(31 - s)) (no clamp); mul: acc = (a - a_zp) * (b - b_zp) (the input multipliers are unused
// and must be 0). out = clamp(R(acc, out_multiplier, out_shift) + out_zero_point, act_min,
// act_max).
enum class EmcElementwiseOp : std::uint32_t { kAdd = 0, kSub = 1, kMul = 2, kMax = 3, kMin = 4 };
enum class EmcBroadcast : std::uint32_t { kNone = 0, kPerChannel = 1, kScalar = 2 };
struct EmcElementwiseInt8Body {
  std::uint32_t flags = 0;  // reserved, must be 0
  std::uint32_t main_mem_in_a_address = 0;  // channels x plane int8
  std::uint32_t main_mem_in_b_address = 0;  // channels x plane, channels, or 1 int8 (broadcast)
  std::uint32_t main_mem_out_address = 0;   // channels x plane int8
  std::uint32_t op = 0;                     // EmcElementwiseOp
  std::uint32_t broadcast = 0;              // EmcBroadcast (of input b)
  std::uint32_t channels = 0;               // >= 1
  std::uint32_t plane = 0;                  // elements per channel (w * h), >= 1
  std::int32_t left_shift = 20;             // 0..22 (add/sub/max/min)
  std::int32_t a_zero_point = 0, a_multiplier = 0, a_shift = 0;  // shift -31..0 (a' < 2^30)
  std::int32_t b_zero_point = 0, b_multiplier = 0, b_shift = 0;
  std::int32_t out_zero_point = 0, out_multiplier = 0, out_shift = 0;  // shift -31..30
  std::int32_t act_min = -128, act_max = 127;
  bool operator==(const EmcElementwiseInt8Body&) const = default;
};

// ---- EMC_CONCAT_INT8: 20 + 20 * input_count bytes ------------------------------------------------
// Concatenation of CHW tensors along channels: input k (channels_k x plane) lands after the
// channels of inputs 0..k-1. Each value is requantized to the output's parameters:
// out = clamp(R(x - zero_point_k, multiplier_k, shift_k) + output_zero_point, -128, 127)
// (multiplier 2^30, shift 1 and zero_point_k = output_zero_point: an identity copy).
struct EmcConcatInput {
  std::uint32_t main_mem_address = 0;
  std::uint32_t channels = 0;  // >= 1
  std::int32_t zero_point = 0;  // -128..127
  std::int32_t multiplier = 1 << 30;  // 0..2^31-1
  std::int32_t shift = 1;       // -31..30
  bool operator==(const EmcConcatInput&) const = default;
};
struct EmcConcatInt8Body {
  std::uint32_t flags = 0;  // reserved, must be 0
  std::uint32_t main_mem_out_address = 0;
  std::uint32_t plane = 0;               // elements per channel (w * h), >= 1
  std::int32_t output_zero_point = 0;    // -128..127
  std::vector<EmcConcatInput> inputs;    // >= 1; count stored as u32 before the list
  bool operator==(const EmcConcatInt8Body&) const = default;
};
inline constexpr std::size_t kEmcConcatInt8FixedBytes = 20;
inline constexpr std::size_t kEmcConcatInputBytes = 20;

// ---- EMC_LUT_INT8: 16 + 256 bytes ----------------------------------------------------------------
// out[i] = table[in[i] + 128] for count int8 values: any elementwise activation of one int8
// tensor (sigmoid, tanh, ELU, swish, leaky ReLU, ...), with its requantization folded in.
struct EmcLutInt8Body {
  std::uint32_t flags = 0;  // reserved, must be 0
  std::uint32_t main_mem_in_address = 0;
  std::uint32_t main_mem_out_address = 0;
  std::uint32_t count = 0;  // >= 1
  std::array<std::int8_t, 256> table{};  // indexed by input code + 128
  bool operator==(const EmcLutInt8Body&) const = default;
};

// ---- EMC_PAD_CROP_INT8: 52 bytes -----------------------------------------------------------------
// out(c, y, x) = in(c, y - pad_top, x - pad_left) where that lies inside the input, else fill.
// A negative pad crops. out_width = in_width + pad_left + pad_right (and the same vertically);
// a crop removes less than the whole input extent.
struct EmcPadCropInt8Body {
  std::uint32_t flags = 0;  // reserved, must be 0
  std::uint32_t main_mem_in_address = 0;
  std::uint32_t main_mem_out_address = 0;
  std::uint32_t in_width = 0, in_height = 0, channels = 0;
  std::uint32_t out_width = 0, out_height = 0;
  std::int32_t pad_left = 0, pad_right = 0, pad_top = 0, pad_bottom = 0;
  std::int32_t fill = 0;  // -128..127: the zero point (real 0)
  bool operator==(const EmcPadCropInt8Body&) const = default;
};

// ---- EMC_RESIZE_NEAREST_INT8: 36 bytes -----------------------------------------------------------
// out(c, y, x) = in(c, src(y, in_h, out_h), src(x, in_w, out_w)) with exact integer coordinates:
// kAsymmetric   src = floor(o * in / out)                (TF1 resize_nearest, TF.js UpSampling2D)
// kHalfPixel    src = min(floor((o + 0.5) * in / out), in - 1)  (TF2 tf.image.resize, Keras 3)
// kAlignCorners src = round_half_away(o * (in - 1) / (out - 1)), 0 when out == 1.
// For an integer upscale factor f all three modes but kAlignCorners give src = o / f.
enum class EmcResizeMode : std::uint32_t { kAsymmetric = 0, kHalfPixel = 1, kAlignCorners = 2 };
struct EmcResizeNearestInt8Body {
  std::uint32_t flags = 0;  // reserved, must be 0
  std::uint32_t main_mem_in_address = 0;
  std::uint32_t main_mem_out_address = 0;
  std::uint32_t in_width = 0, in_height = 0, channels = 0;
  std::uint32_t out_width = 0, out_height = 0;
  std::uint32_t mode = 0;  // EmcResizeMode
  bool operator==(const EmcResizeNearestInt8Body&) const = default;
};

// ---- EMC_PRELU_INT8: 36 + 8 * channels bytes -----------------------------------------------------
// Keras PReLU on an int8 CHW tensor (channels x plane), one slope per channel (a per-element slope
// is channels = elements, plane = 1). With d = x - input_zero_point and
// R(v, m, s) = round_half_away(v * m / 2^(31 - s)) (exact, one rounding):
//   out = clamp(R(d, pos_multiplier, pos_shift) + output_zero_point, -128, 127)     d >= 0
//   out = clamp(R(d, neg_multiplier[c], neg_shift[c]) + output_zero_point, -128, 127)  d < 0
// pos: s_x / s_y; neg[c]: alpha[c] * s_x / s_y, whose sign is the multiplier's (a negative slope
// has a negative multiplier; |multiplier| < 2^31; 0 is slope 0).
struct EmcPreluInt8Body {
  std::uint32_t flags = 0;  // reserved, must be 0
  std::uint32_t main_mem_in_address = 0;   // channels x plane int8
  std::uint32_t main_mem_out_address = 0;  // channels x plane int8
  std::uint32_t channels = 0;              // >= 1
  std::uint32_t plane = 0;                 // elements per channel, >= 1
  std::int32_t input_zero_point = 0;       // -128..127
  std::int32_t output_zero_point = 0;      // -128..127
  std::int32_t pos_multiplier = 1 << 30;   // 0..2^31-1
  std::int32_t pos_shift = 1;              // -31..30
  std::vector<std::int32_t> neg_multiplier;  // [channels], -(2^31-1)..2^31-1
  std::vector<std::int32_t> neg_shift;       // [channels], -31..30
  bool operator==(const EmcPreluInt8Body&) const = default;
};
inline constexpr std::size_t kEmcPreluInt8FixedBytes = 36;

static_assert(std::is_trivially_copyable_v<EmcConvGeometry>);
static_assert(sizeof(EmcConvGeometry) == kEmcConvGeometryBytes);
static_assert(sizeof(EmcQuantizeInt8Body) == 24);
static_assert(std::is_trivially_copyable_v<EmcPool2dInt8Body>);
static_assert(sizeof(EmcPool2dInt8Body) == 88);
static_assert(std::is_trivially_copyable_v<EmcElementwiseInt8Body>);
static_assert(sizeof(EmcElementwiseInt8Body) == 80);
static_assert(std::is_trivially_copyable_v<EmcConcatInput>);
static_assert(sizeof(EmcConcatInput) == kEmcConcatInputBytes);
static_assert(sizeof(EmcLutInt8Body) == 16 + 256);
static_assert(std::is_trivially_copyable_v<EmcPadCropInt8Body>);
static_assert(sizeof(EmcPadCropInt8Body) == 52);
static_assert(std::is_trivially_copyable_v<EmcResizeNearestInt8Body>);
static_assert(sizeof(EmcResizeNearestInt8Body) == 36);

// Elements of the weight array a geometry implies (regular: oc*ic*kh*kw; depthwise: oc*kh*kw).
std::uint64_t emc_conv_weight_count(const EmcConvGeometry& g, bool depthwise);

}  // namespace emc::format
