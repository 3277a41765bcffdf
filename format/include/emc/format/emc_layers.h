// EMC's own CPU layer types (not in any Kendryte runtime): int8 convolution in the TFLite/CMSIS-NN
// int8 scheme, a float convolution, and int8 quantize/dequantize. Numbered in the reserved block
// 0x454D0000..0x454DFFFF ("EM" in the high half; docs/format.md "EMC layer types"), which cannot
// collide with kmodel V3's 0..25 and 10240..10243. Arithmetic: docs/cpu_target.md.
//
// Plain structs read and written by the explicit LE codec (src/body_codec.cpp); trailing arrays
// are owning vectors. Tensors in main memory are dense CHW; int8 values are two's complement bytes.
#pragma once

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

static_assert(std::is_trivially_copyable_v<EmcConvGeometry>);
static_assert(sizeof(EmcConvGeometry) == kEmcConvGeometryBytes);
static_assert(sizeof(EmcQuantizeInt8Body) == 24);

// Elements of the weight array a geometry implies (regular: oc*ic*kh*kw; depthwise: oc*kh*kw).
std::uint64_t emc_conv_weight_count(const EmcConvGeometry& g, bool depthwise);

}  // namespace emc::format
