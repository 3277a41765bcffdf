#include "body_codec.h"

#include <initializer_list>
#include <string>
#include <type_traits>

namespace emc::format::detail {
namespace {

// Selects a body struct's fixed_bytes/decode/encode overload.
template <class T>
using Tag = std::type_identity<T>;

// Every body starts with the same three words in most structs; helpers keep the pairs short.
#define R32(field) EMC_TRY(r.read_u32(b.field, #field))
#define RI32(field) EMC_TRY(r.read_i32(b.field, #field))
#define RF32(field) EMC_TRY(r.read_f32(b.field, #field))

Status read_shape(ByteReader& r, Shape3& s, const char* what) {
  EMC_TRY(r.read_u32(s.width, what));
  EMC_TRY(r.read_u32(s.height, what));
  return r.read_u32(s.channels, what);
}
void write_shape(ByteWriter& w, const Shape3& s) {
  w.write_u32(s.width);
  w.write_u32(s.height);
  w.write_u32(s.channels);
}

Status read_act(ByteReader& r, CpuActivation& act) {
  std::uint32_t v = 0;
  const std::uint64_t at = r.position();
  EMC_TRY(r.read_u32(v, "act"));
  if (v > 2) {
    return Error(Errc::kInvalidLayerConfig,
                 "act " + std::to_string(v) + " is not one of 0 (linear), 1 (relu), 2 (relu6)")
        .at_offset(at);
  }
  act = static_cast<CpuActivation>(v);
  return ok_status();
}

Status count_fits(std::uint64_t n, const char* what) {
  if (n > 0xffffffffu) {
    return Error(Errc::kInvalidArgument,
                 std::string(what) + " " + std::to_string(n) + " does not fit a uint32 field");
  }
  return ok_status();
}

// Checks that `elements` items of `elem_bytes` each are present in r before allocating.
Status require_array(ByteReader& r, std::uint64_t elements, std::uint64_t elem_bytes,
                     const std::string& what) {
  if (elements > r.remaining() / elem_bytes) {
    return Error(Errc::kInvalidModel, what + ": " + std::to_string(elements) + " x " +
                                          std::to_string(elem_bytes) + " bytes do not fit in the " +
                                          std::to_string(r.remaining()) + " bytes left in the body")
        .at_offset(r.position());
  }
  return ok_status();
}

// ---- K210_CONV head (blobs handled by the parser/encoder) ----
std::uint32_t fixed_bytes(LayerType, Tag<ConvBody>) {
  return static_cast<std::uint32_t>(kConvBodyFixedBytes);
}
Result<LayerBody> decode([[maybe_unused]] LayerType t, ByteReader& r, Tag<ConvBody>) {
  ConvBody b;
  R32(flags);
  R32(main_mem_out_address);
  R32(layer_offset);
  R32(weights_offset);
  R32(bn_offset);
  R32(act_offset);
  return LayerBody{std::move(b)};
}
Status encode([[maybe_unused]] LayerType t, const ConvBody& b, ByteWriter& w) {
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_out_address);
  w.write_u32(b.layer_offset);
  w.write_u32(b.weights_offset);
  w.write_u32(b.bn_offset);
  w.write_u32(b.act_offset);
  return ok_status();
}

// ---- ADD ----
std::uint32_t fixed_bytes(LayerType, Tag<AddBody>) {
  return 20;
}
Result<LayerBody> decode([[maybe_unused]] LayerType t, ByteReader& r, Tag<AddBody>) {
  AddBody b;
  R32(flags);
  R32(main_mem_in_a_address);
  R32(main_mem_in_b_address);
  R32(main_mem_out_address);
  R32(count);
  return LayerBody{b};
}
Status encode([[maybe_unused]] LayerType t, const AddBody& b, ByteWriter& w) {
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_in_a_address);
  w.write_u32(b.main_mem_in_b_address);
  w.write_u32(b.main_mem_out_address);
  w.write_u32(b.count);
  return ok_status();
}

// ---- QUANTIZED_ADD ----
std::uint32_t fixed_bytes(LayerType, Tag<QuantizedAddBody>) {
  return 56;
}
Result<LayerBody> decode([[maybe_unused]] LayerType t, ByteReader& r, Tag<QuantizedAddBody>) {
  QuantizedAddBody b;
  R32(flags);
  R32(main_mem_in_a_address);
  R32(main_mem_in_b_address);
  R32(main_mem_out_address);
  R32(count);
  RI32(in_a_offset);
  RI32(in_a_mul);
  RI32(in_a_shift);
  RI32(in_b_offset);
  RI32(in_b_mul);
  RI32(in_b_shift);
  RI32(out_offset);
  RI32(out_mul);
  RI32(out_shift);
  return LayerBody{b};
}
Status encode([[maybe_unused]] LayerType t, const QuantizedAddBody& b, ByteWriter& w) {
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_in_a_address);
  w.write_u32(b.main_mem_in_b_address);
  w.write_u32(b.main_mem_out_address);
  w.write_u32(b.count);
  for (std::int32_t v : {b.in_a_offset, b.in_a_mul, b.in_a_shift, b.in_b_offset, b.in_b_mul,
                         b.in_b_shift, b.out_offset, b.out_mul, b.out_shift}) {
    w.write_i32(v);
  }
  return ok_status();
}

// ---- GLOBAL_*_POOL2D ----
std::uint32_t fixed_bytes(LayerType, Tag<GlobalPoolBody>) {
  return 20;
}
Result<LayerBody> decode([[maybe_unused]] LayerType t, ByteReader& r, Tag<GlobalPoolBody>) {
  GlobalPoolBody b;
  R32(flags);
  R32(main_mem_in_address);
  R32(main_mem_out_address);
  R32(kernel_size);
  R32(channels);
  return LayerBody{b};
}
Status encode([[maybe_unused]] LayerType t, const GlobalPoolBody& b, ByteWriter& w) {
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_in_address);
  w.write_u32(b.main_mem_out_address);
  w.write_u32(b.kernel_size);
  w.write_u32(b.channels);
  return ok_status();
}

// ---- *_POOL2D: 60 bytes; + 4-byte act for the float types 7 and 9 ----
bool pool_has_act(LayerType t) {
  return t == LayerType::kMaxPool2d || t == LayerType::kAveragePool2d;
}
std::uint32_t fixed_bytes(LayerType t, Tag<Pool2dBody>) {
  return pool_has_act(t) ? 64 : 60;
}
Result<LayerBody> decode([[maybe_unused]] LayerType t, ByteReader& r, Tag<Pool2dBody>) {
  Pool2dBody b;
  R32(flags);
  R32(main_mem_in_address);
  R32(main_mem_out_address);
  EMC_TRY(read_shape(r, b.in_shape, "in_shape"));
  EMC_TRY(read_shape(r, b.out_shape, "out_shape"));
  R32(kernel_width);
  R32(kernel_height);
  R32(stride_width);
  R32(stride_height);
  R32(padding_width);
  R32(padding_height);
  if (pool_has_act(t)) EMC_TRY(read_act(r, b.act));
  return LayerBody{b};
}
Status encode([[maybe_unused]] LayerType t, const Pool2dBody& b, ByteWriter& w) {
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_in_address);
  w.write_u32(b.main_mem_out_address);
  write_shape(w, b.in_shape);
  write_shape(w, b.out_shape);
  for (std::uint32_t v : {b.kernel_width, b.kernel_height, b.stride_width, b.stride_height,
                          b.padding_width, b.padding_height}) {
    w.write_u32(v);
  }
  if (pool_has_act(t)) w.write_u32(static_cast<std::uint32_t>(b.act));
  return ok_status();
}

// ---- QUANTIZE / DEQUANTIZE ----
std::uint32_t fixed_bytes(LayerType, Tag<QuantizeBody>) {
  return 24;
}
Result<LayerBody> decode([[maybe_unused]] LayerType t, ByteReader& r, Tag<QuantizeBody>) {
  QuantizeBody b;
  R32(flags);
  R32(main_mem_in_address);
  R32(main_mem_out_address);
  R32(count);
  RF32(scale);
  RF32(bias);
  return LayerBody{b};
}
Status encode([[maybe_unused]] LayerType t, const QuantizeBody& b, ByteWriter& w) {
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_in_address);
  w.write_u32(b.main_mem_out_address);
  w.write_u32(b.count);
  w.write_f32(b.scale);
  w.write_f32(b.bias);
  return ok_status();
}

// ---- REQUANTIZE ----
std::uint32_t fixed_bytes(LayerType, Tag<RequantizeBody>) {
  return 272;
}
Result<LayerBody> decode([[maybe_unused]] LayerType t, ByteReader& r, Tag<RequantizeBody>) {
  RequantizeBody b;
  R32(flags);
  R32(main_mem_in_address);
  R32(main_mem_out_address);
  R32(count);
  EMC_TRY(r.read_bytes(b.table, "table"));
  return LayerBody{b};
}
Status encode([[maybe_unused]] LayerType t, const RequantizeBody& b, ByteWriter& w) {
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_in_address);
  w.write_u32(b.main_mem_out_address);
  w.write_u32(b.count);
  w.write_bytes(b.table);
  return ok_status();
}

// ---- L2_NORMALIZATION / SOFTMAX / LOGISTIC ----
std::uint32_t fixed_bytes(LayerType, Tag<ChannelsBody>) {
  return 16;
}
Result<LayerBody> decode([[maybe_unused]] LayerType t, ByteReader& r, Tag<ChannelsBody>) {
  ChannelsBody b;
  R32(flags);
  R32(main_mem_in_address);
  R32(main_mem_out_address);
  R32(channels);
  return LayerBody{b};
}
Status encode([[maybe_unused]] LayerType t, const ChannelsBody& b, ByteWriter& w) {
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_in_address);
  w.write_u32(b.main_mem_out_address);
  w.write_u32(b.channels);
  return ok_status();
}

// ---- CONCAT: 12 + 8n ----
std::uint32_t fixed_bytes(LayerType, Tag<ConcatBody>) {
  return 12;
}
Result<LayerBody> decode([[maybe_unused]] LayerType t, ByteReader& r, Tag<ConcatBody>) {
  ConcatBody b;
  std::uint32_t input_count = 0;
  R32(flags);
  R32(main_mem_out_address);
  EMC_TRY(r.read_u32(input_count, "input_count"));
  EMC_TRY(require_array(r, input_count, 8, "CONCAT input_count " + std::to_string(input_count)));
  b.inputs.resize(input_count);
  for (MemRange& m : b.inputs) {
    EMC_TRY(r.read_u32(m.start, "inputs_mem.start"));
    EMC_TRY(r.read_u32(m.size, "inputs_mem.size"));
  }
  return LayerBody{std::move(b)};
}
Status encode([[maybe_unused]] LayerType t, const ConcatBody& b, ByteWriter& w) {
  EMC_TRY(count_fits(b.inputs.size(), "CONCAT input_count"));
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_out_address);
  w.write_u32(static_cast<std::uint32_t>(b.inputs.size()));
  for (const MemRange& m : b.inputs) {
    w.write_u32(m.start);
    w.write_u32(m.size);
  }
  return ok_status();
}

// ---- FULLY_CONNECTED: 24 + 4*(in*out + out) ----
std::uint32_t fixed_bytes(LayerType, Tag<FullyConnectedBody>) {
  return 24;
}
Result<LayerBody> decode([[maybe_unused]] LayerType t, ByteReader& r, Tag<FullyConnectedBody>) {
  FullyConnectedBody b;
  R32(flags);
  R32(main_mem_in_address);
  R32(main_mem_out_address);
  R32(in_channels);
  R32(out_channels);
  EMC_TRY(read_act(r, b.act));
  // in*out < 2^64 for 32-bit operands, and in*out + out <= 2^64 - 2^32: no overflow.
  const std::uint64_t elements = std::uint64_t{b.in_channels} * b.out_channels + b.out_channels;
  EMC_TRY(require_array(r, elements, 4,
                        "FULLY_CONNECTED " + std::to_string(b.in_channels) + "x" +
                            std::to_string(b.out_channels) + " weights + bias"));
  b.weights.resize(std::uint64_t{b.in_channels} * b.out_channels);
  for (float& v : b.weights) EMC_TRY(r.read_f32(v, "weights"));
  b.bias.resize(b.out_channels);
  for (float& v : b.bias) EMC_TRY(r.read_f32(v, "bias"));
  return LayerBody{std::move(b)};
}
Status encode([[maybe_unused]] LayerType t, const FullyConnectedBody& b, ByteWriter& w) {
  if (b.weights.size() != std::uint64_t{b.in_channels} * b.out_channels ||
      b.bias.size() != b.out_channels) {
    return Error(Errc::kInvalidArgument, "FULLY_CONNECTED " + std::to_string(b.in_channels) + "x" +
                                             std::to_string(b.out_channels) + " has " +
                                             std::to_string(b.weights.size()) + " weights and " +
                                             std::to_string(b.bias.size()) + " biases");
  }
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_in_address);
  w.write_u32(b.main_mem_out_address);
  w.write_u32(b.in_channels);
  w.write_u32(b.out_channels);
  w.write_u32(static_cast<std::uint32_t>(b.act));
  for (float v : b.weights) w.write_f32(v);
  for (float v : b.bias) w.write_f32(v);
  return ok_status();
}

// ---- (QUANTIZED_)TENSORFLOW_FLATTEN ----
std::uint32_t fixed_bytes(LayerType, Tag<FlattenBody>) {
  return 24;
}
Result<LayerBody> decode([[maybe_unused]] LayerType t, ByteReader& r, Tag<FlattenBody>) {
  FlattenBody b;
  R32(flags);
  R32(main_mem_in_address);
  R32(main_mem_out_address);
  EMC_TRY(read_shape(r, b.shape, "shape"));
  return LayerBody{b};
}
Status encode([[maybe_unused]] LayerType t, const FlattenBody& b, ByteWriter& w) {
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_in_address);
  w.write_u32(b.main_mem_out_address);
  write_shape(w, b.shape);
  return ok_status();
}

// ---- (QUANTIZED_)RESIZE_NEAREST_NEIGHBOR ----
std::uint32_t fixed_bytes(LayerType, Tag<ResizeNearestBody>) {
  return 36;
}
Result<LayerBody> decode([[maybe_unused]] LayerType t, ByteReader& r, Tag<ResizeNearestBody>) {
  ResizeNearestBody b;
  R32(flags);
  R32(main_mem_in_address);
  R32(main_mem_out_address);
  EMC_TRY(read_shape(r, b.in_shape, "in_shape"));
  R32(out_width);
  R32(out_height);
  R32(align_corners);
  return LayerBody{b};
}
Status encode([[maybe_unused]] LayerType t, const ResizeNearestBody& b, ByteWriter& w) {
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_in_address);
  w.write_u32(b.main_mem_out_address);
  write_shape(w, b.in_shape);
  w.write_u32(b.out_width);
  w.write_u32(b.out_height);
  w.write_u32(b.align_corners);
  return ok_status();
}

// ---- CHANNELWISE_DEQUANTIZE: 20 + 8C ----
std::uint32_t fixed_bytes(LayerType, Tag<ChannelwiseDequantizeBody>) {
  return 20;
}
Result<LayerBody> decode([[maybe_unused]] LayerType t, ByteReader& r,
                         Tag<ChannelwiseDequantizeBody>) {
  ChannelwiseDequantizeBody b;
  std::uint32_t channels = 0;
  R32(flags);
  R32(main_mem_in_address);
  R32(main_mem_out_address);
  EMC_TRY(r.read_u32(channels, "channels"));
  R32(channel_size);
  EMC_TRY(
      require_array(r, channels, 8, "CHANNELWISE_DEQUANTIZE channels " + std::to_string(channels)));
  b.params.resize(channels);
  for (ChannelQuant& q : b.params) {
    EMC_TRY(r.read_f32(q.scale, "scale"));
    EMC_TRY(r.read_f32(q.bias, "bias"));
  }
  return LayerBody{std::move(b)};
}
Status encode([[maybe_unused]] LayerType t, const ChannelwiseDequantizeBody& b, ByteWriter& w) {
  EMC_TRY(count_fits(b.params.size(), "CHANNELWISE_DEQUANTIZE channels"));
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_in_address);
  w.write_u32(b.main_mem_out_address);
  w.write_u32(static_cast<std::uint32_t>(b.params.size()));
  w.write_u32(b.channel_size);
  for (const ChannelQuant& q : b.params) {
    w.write_f32(q.scale);
    w.write_f32(q.bias);
  }
  return ok_status();
}

// ---- K210_ADD_PADDING ----
std::uint32_t fixed_bytes(LayerType, Tag<AddPaddingBody>) {
  return 16;
}
Result<LayerBody> decode([[maybe_unused]] LayerType t, ByteReader& r, Tag<AddPaddingBody>) {
  AddPaddingBody b;
  R32(flags);
  R32(main_mem_in_address);
  R32(kpu_mem_out_address);
  R32(channels);
  return LayerBody{b};
}
Status encode([[maybe_unused]] LayerType t, const AddPaddingBody& b, ByteWriter& w) {
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_in_address);
  w.write_u32(b.kpu_mem_out_address);
  w.write_u32(b.channels);
  return ok_status();
}

// ---- K210_REMOVE_PADDING ----
std::uint32_t fixed_bytes(LayerType, Tag<RemovePaddingBody>) {
  return 16;
}
Result<LayerBody> decode([[maybe_unused]] LayerType t, ByteReader& r, Tag<RemovePaddingBody>) {
  RemovePaddingBody b;
  R32(flags);
  R32(main_mem_in_address);
  R32(main_mem_out_address);
  R32(channels);
  return LayerBody{b};
}
Status encode([[maybe_unused]] LayerType t, const RemovePaddingBody& b, ByteWriter& w) {
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_in_address);
  w.write_u32(b.main_mem_out_address);
  w.write_u32(b.channels);
  return ok_status();
}

// ---- K210_UPLOAD ----
std::uint32_t fixed_bytes(LayerType, Tag<UploadBody>) {
  return 24;
}
Result<LayerBody> decode([[maybe_unused]] LayerType t, ByteReader& r, Tag<UploadBody>) {
  UploadBody b;
  R32(flags);
  R32(main_mem_in_address);
  R32(kpu_mem_out_address);
  R32(width);
  R32(height);
  R32(channels);
  return LayerBody{b};
}
Status encode([[maybe_unused]] LayerType t, const UploadBody& b, ByteWriter& w) {
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_in_address);
  w.write_u32(b.kpu_mem_out_address);
  w.write_u32(b.width);
  w.write_u32(b.height);
  w.write_u32(b.channels);
  return ok_status();
}

// ---- EMC types (emc_layers.h) ----
Status read_geometry(ByteReader& r, EmcConvGeometry& b) {
  const std::uint64_t start = r.position();
  R32(flags);
  R32(main_mem_in_address);
  R32(main_mem_out_address);
  R32(in_width);
  R32(in_height);
  R32(in_channels);
  R32(out_width);
  R32(out_height);
  R32(out_channels);
  R32(kernel_width);
  R32(kernel_height);
  R32(stride_width);
  R32(stride_height);
  R32(dilation_width);
  R32(dilation_height);
  R32(pad_left);
  R32(pad_right);
  R32(pad_top);
  R32(pad_bottom);
  R32(depth_multiplier);
  // The fields that size the trailing arrays are checked here, so that a zero reads as itself and
  // not as a body-size disagreement.
  const std::pair<std::uint32_t, const char*> sizing[] = {{b.in_channels, "in_channels"},
                                                          {b.out_channels, "out_channels"},
                                                          {b.kernel_width, "kernel_width"},
                                                          {b.kernel_height, "kernel_height"}};
  const std::uint64_t offsets[] = {20, 32, 36, 40};
  for (int i = 0; i < 4; ++i) {
    if (sizing[i].first == 0) {
      return Error(Errc::kInvalidModel, std::string(sizing[i].second) + " is 0 (must be >= 1)")
          .at_offset(start + offsets[i]);
    }
  }
  return ok_status();
}
void write_geometry(const EmcConvGeometry& g, ByteWriter& w) {
  for (std::uint32_t v : {g.flags,         g.main_mem_in_address, g.main_mem_out_address,
                          g.in_width,      g.in_height,           g.in_channels,
                          g.out_width,     g.out_height,          g.out_channels,
                          g.kernel_width,  g.kernel_height,       g.stride_width,
                          g.stride_height, g.dilation_width,      g.dilation_height,
                          g.pad_left,      g.pad_right,           g.pad_top,
                          g.pad_bottom,    g.depth_multiplier}) {
    w.write_u32(v);
  }
}

bool emc_depthwise(LayerType t) {
  return t == LayerType::kEmcDepthwiseConv2d || t == LayerType::kEmcDepthwiseConv2dF32;
}

std::uint64_t pad4(std::uint64_t n) {
  return (n + 3) / 4 * 4;
}

std::uint32_t fixed_bytes(LayerType, Tag<EmcConv2dInt8Body>) {
  return static_cast<std::uint32_t>(kEmcConv2dInt8FixedBytes);
}
Result<LayerBody> decode([[maybe_unused]] LayerType t, ByteReader& r, Tag<EmcConv2dInt8Body>) {
  EmcConv2dInt8Body b;
  EMC_TRY(read_geometry(r, b.geo));
  RI32(input_zero_point);
  RI32(output_zero_point);
  RI32(act_min);
  RI32(act_max);
  const std::uint64_t nw = emc_conv_weight_count(b.geo, emc_depthwise(t));
  const std::uint64_t oc = b.geo.out_channels;
  const std::string what = std::string(to_string(t)) + " " + std::to_string(oc) + " channels";
  EMC_TRY(require_array(r, pad4(nw), 1, what + ": weights"));
  std::vector<std::uint8_t> raw(nw);
  EMC_TRY(r.read_bytes(raw, "weights"));
  b.weights.assign(raw.begin(), raw.end());  // uint8 -> int8: two's complement (C++20)
  EMC_TRY(r.skip(pad4(nw) - nw, "weights padding"));
  EMC_TRY(require_array(r, oc, 12, what + ": bias, multiplier, shift"));
  for (auto* v : {&b.bias, &b.multiplier, &b.shift}) {
    v->resize(oc);
    for (std::int32_t& x : *v) EMC_TRY(r.read_i32(x, "per-channel array"));
  }
  return LayerBody{std::move(b)};
}
Status check_emc_arrays(LayerType t, const EmcConvGeometry& g, std::size_t weights,
                        std::initializer_list<std::size_t> per_channel) {
  const std::uint64_t nw = emc_conv_weight_count(g, emc_depthwise(t));
  bool ok = weights == nw;
  for (std::size_t n : per_channel) ok = ok && n == g.out_channels;
  if (!ok) {
    return Error(Errc::kInvalidArgument, std::string(to_string(t)) + ": " +
                                             std::to_string(weights) + " weights (geometry needs " +
                                             std::to_string(nw) + ") or per-channel arrays not " +
                                             std::to_string(g.out_channels) + " long");
  }
  return ok_status();
}
Status encode([[maybe_unused]] LayerType t, const EmcConv2dInt8Body& b, ByteWriter& w) {
  EMC_TRY(check_emc_arrays(t, b.geo, b.weights.size(),
                           {b.bias.size(), b.multiplier.size(), b.shift.size()}));
  write_geometry(b.geo, w);
  for (std::int32_t v : {b.input_zero_point, b.output_zero_point, b.act_min, b.act_max}) {
    w.write_i32(v);
  }
  for (std::int8_t v : b.weights) w.write_u8(static_cast<std::uint8_t>(v));
  for (std::uint64_t k = b.weights.size(); k < pad4(b.weights.size()); ++k) w.write_u8(0);
  for (const auto* v : {&b.bias, &b.multiplier, &b.shift}) {
    for (std::int32_t x : *v) w.write_i32(x);
  }
  return ok_status();
}

std::uint32_t fixed_bytes(LayerType, Tag<EmcConv2dF32Body>) {
  return static_cast<std::uint32_t>(kEmcConv2dF32FixedBytes);
}
Result<LayerBody> decode([[maybe_unused]] LayerType t, ByteReader& r, Tag<EmcConv2dF32Body>) {
  EmcConv2dF32Body b;
  EMC_TRY(read_geometry(r, b.geo));
  RF32(act_min);
  RF32(act_max);
  const std::uint64_t nw = emc_conv_weight_count(b.geo, emc_depthwise(t));
  const std::uint64_t oc = b.geo.out_channels;
  // nw + oc < 2^65 cannot overflow: both are < 2^64 / 2 for 32-bit factors (checked in count).
  EMC_TRY(require_array(r, nw + oc, 4,
                        std::string(to_string(t)) + " " + std::to_string(nw) + " weights + " +
                            std::to_string(oc) + " bias"));
  b.weights.resize(nw);
  for (float& v : b.weights) EMC_TRY(r.read_f32(v, "weights"));
  b.bias.resize(oc);
  for (float& v : b.bias) EMC_TRY(r.read_f32(v, "bias"));
  return LayerBody{std::move(b)};
}
Status encode([[maybe_unused]] LayerType t, const EmcConv2dF32Body& b, ByteWriter& w) {
  EMC_TRY(check_emc_arrays(t, b.geo, b.weights.size(), {b.bias.size()}));
  write_geometry(b.geo, w);
  w.write_f32(b.act_min);
  w.write_f32(b.act_max);
  for (float v : b.weights) w.write_f32(v);
  for (float v : b.bias) w.write_f32(v);
  return ok_status();
}

std::uint32_t fixed_bytes(LayerType, Tag<EmcQuantizeInt8Body>) {
  return 24;
}
Result<LayerBody> decode([[maybe_unused]] LayerType t, ByteReader& r, Tag<EmcQuantizeInt8Body>) {
  EmcQuantizeInt8Body b;
  R32(flags);
  R32(main_mem_in_address);
  R32(main_mem_out_address);
  R32(count);
  RF32(scale);
  RI32(zero_point);
  return LayerBody{b};
}
Status encode([[maybe_unused]] LayerType t, const EmcQuantizeInt8Body& b, ByteWriter& w) {
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_in_address);
  w.write_u32(b.main_mem_out_address);
  w.write_u32(b.count);
  w.write_f32(b.scale);
  w.write_i32(b.zero_point);
  return ok_status();
}

// ---- EMC int8 pools, elementwise, concat, LUT, pad/crop, resize (emc_layers.h) ----
std::uint32_t fixed_bytes(LayerType, Tag<EmcPool2dInt8Body>) {
  return 88;
}
Result<LayerBody> decode([[maybe_unused]] LayerType t, ByteReader& r, Tag<EmcPool2dInt8Body>) {
  EmcPool2dInt8Body b;
  R32(flags);
  R32(main_mem_in_address);
  R32(main_mem_out_address);
  R32(in_width);
  R32(in_height);
  R32(channels);
  R32(out_width);
  R32(out_height);
  R32(kernel_width);
  R32(kernel_height);
  R32(stride_width);
  R32(stride_height);
  R32(pad_left);
  R32(pad_right);
  R32(pad_top);
  R32(pad_bottom);
  RI32(input_zero_point);
  RI32(output_zero_point);
  RI32(multiplier);
  RI32(shift);
  RI32(act_min);
  RI32(act_max);
  return LayerBody{b};
}
Status encode([[maybe_unused]] LayerType t, const EmcPool2dInt8Body& b, ByteWriter& w) {
  for (std::uint32_t v :
       {b.flags, b.main_mem_in_address, b.main_mem_out_address, b.in_width, b.in_height, b.channels,
        b.out_width, b.out_height, b.kernel_width, b.kernel_height, b.stride_width, b.stride_height,
        b.pad_left, b.pad_right, b.pad_top, b.pad_bottom}) {
    w.write_u32(v);
  }
  for (std::int32_t v :
       {b.input_zero_point, b.output_zero_point, b.multiplier, b.shift, b.act_min, b.act_max}) {
    w.write_i32(v);
  }
  return ok_status();
}

std::uint32_t fixed_bytes(LayerType, Tag<EmcElementwiseInt8Body>) {
  return 80;
}
Result<LayerBody> decode([[maybe_unused]] LayerType t, ByteReader& r, Tag<EmcElementwiseInt8Body>) {
  EmcElementwiseInt8Body b;
  R32(flags);
  R32(main_mem_in_a_address);
  R32(main_mem_in_b_address);
  R32(main_mem_out_address);
  R32(op);
  R32(broadcast);
  R32(channels);
  R32(plane);
  RI32(left_shift);
  RI32(a_zero_point);
  RI32(a_multiplier);
  RI32(a_shift);
  RI32(b_zero_point);
  RI32(b_multiplier);
  RI32(b_shift);
  RI32(out_zero_point);
  RI32(out_multiplier);
  RI32(out_shift);
  RI32(act_min);
  RI32(act_max);
  return LayerBody{b};
}
Status encode([[maybe_unused]] LayerType t, const EmcElementwiseInt8Body& b, ByteWriter& w) {
  for (std::uint32_t v : {b.flags, b.main_mem_in_a_address, b.main_mem_in_b_address,
                          b.main_mem_out_address, b.op, b.broadcast, b.channels, b.plane}) {
    w.write_u32(v);
  }
  for (std::int32_t v :
       {b.left_shift, b.a_zero_point, b.a_multiplier, b.a_shift, b.b_zero_point, b.b_multiplier,
        b.b_shift, b.out_zero_point, b.out_multiplier, b.out_shift, b.act_min, b.act_max}) {
    w.write_i32(v);
  }
  return ok_status();
}

std::uint32_t fixed_bytes(LayerType, Tag<EmcConcatInt8Body>) {
  return static_cast<std::uint32_t>(kEmcConcatInt8FixedBytes);
}
Result<LayerBody> decode([[maybe_unused]] LayerType t, ByteReader& r, Tag<EmcConcatInt8Body>) {
  EmcConcatInt8Body b;
  std::uint32_t input_count = 0;
  R32(flags);
  R32(main_mem_out_address);
  R32(plane);
  RI32(output_zero_point);
  const std::uint64_t count_at = r.position();
  EMC_TRY(r.read_u32(input_count, "input_count"));
  if (input_count == 0) {
    return Error(Errc::kInvalidModel, "input_count is 0 (must be >= 1)").at_offset(count_at);
  }
  EMC_TRY(require_array(r, input_count, kEmcConcatInputBytes,
                        "EMC_CONCAT_INT8 input_count " + std::to_string(input_count)));
  b.inputs.resize(input_count);
  for (EmcConcatInput& in : b.inputs) {
    EMC_TRY(r.read_u32(in.main_mem_address, "inputs.main_mem_address"));
    EMC_TRY(r.read_u32(in.channels, "inputs.channels"));
    EMC_TRY(r.read_i32(in.zero_point, "inputs.zero_point"));
    EMC_TRY(r.read_i32(in.multiplier, "inputs.multiplier"));
    EMC_TRY(r.read_i32(in.shift, "inputs.shift"));
  }
  return LayerBody{std::move(b)};
}
Status encode([[maybe_unused]] LayerType t, const EmcConcatInt8Body& b, ByteWriter& w) {
  EMC_TRY(count_fits(b.inputs.size(), "EMC_CONCAT_INT8 input_count"));
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_out_address);
  w.write_u32(b.plane);
  w.write_i32(b.output_zero_point);
  w.write_u32(static_cast<std::uint32_t>(b.inputs.size()));
  for (const EmcConcatInput& in : b.inputs) {
    w.write_u32(in.main_mem_address);
    w.write_u32(in.channels);
    w.write_i32(in.zero_point);
    w.write_i32(in.multiplier);
    w.write_i32(in.shift);
  }
  return ok_status();
}

std::uint32_t fixed_bytes(LayerType, Tag<EmcLutInt8Body>) {
  return 272;
}
Result<LayerBody> decode([[maybe_unused]] LayerType t, ByteReader& r, Tag<EmcLutInt8Body>) {
  EmcLutInt8Body b;
  R32(flags);
  R32(main_mem_in_address);
  R32(main_mem_out_address);
  R32(count);
  std::vector<std::uint8_t> raw(256);
  EMC_TRY(r.read_bytes(raw, "table"));
  for (std::size_t i = 0; i < 256; ++i) b.table[i] = static_cast<std::int8_t>(raw[i]);
  return LayerBody{b};
}
Status encode([[maybe_unused]] LayerType t, const EmcLutInt8Body& b, ByteWriter& w) {
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_in_address);
  w.write_u32(b.main_mem_out_address);
  w.write_u32(b.count);
  for (std::int8_t v : b.table) w.write_u8(static_cast<std::uint8_t>(v));
  return ok_status();
}

std::uint32_t fixed_bytes(LayerType, Tag<EmcPadCropInt8Body>) {
  return 52;
}
Result<LayerBody> decode([[maybe_unused]] LayerType t, ByteReader& r, Tag<EmcPadCropInt8Body>) {
  EmcPadCropInt8Body b;
  R32(flags);
  R32(main_mem_in_address);
  R32(main_mem_out_address);
  R32(in_width);
  R32(in_height);
  R32(channels);
  R32(out_width);
  R32(out_height);
  RI32(pad_left);
  RI32(pad_right);
  RI32(pad_top);
  RI32(pad_bottom);
  RI32(fill);
  return LayerBody{b};
}
Status encode([[maybe_unused]] LayerType t, const EmcPadCropInt8Body& b, ByteWriter& w) {
  for (std::uint32_t v : {b.flags, b.main_mem_in_address, b.main_mem_out_address, b.in_width,
                          b.in_height, b.channels, b.out_width, b.out_height}) {
    w.write_u32(v);
  }
  for (std::int32_t v : {b.pad_left, b.pad_right, b.pad_top, b.pad_bottom, b.fill}) w.write_i32(v);
  return ok_status();
}

std::uint32_t fixed_bytes(LayerType, Tag<EmcResizeNearestInt8Body>) {
  return 36;
}
Result<LayerBody> decode([[maybe_unused]] LayerType t, ByteReader& r,
                         Tag<EmcResizeNearestInt8Body>) {
  EmcResizeNearestInt8Body b;
  R32(flags);
  R32(main_mem_in_address);
  R32(main_mem_out_address);
  R32(in_width);
  R32(in_height);
  R32(channels);
  R32(out_width);
  R32(out_height);
  R32(mode);
  return LayerBody{b};
}
Status encode([[maybe_unused]] LayerType t, const EmcResizeNearestInt8Body& b, ByteWriter& w) {
  for (std::uint32_t v : {b.flags, b.main_mem_in_address, b.main_mem_out_address, b.in_width,
                          b.in_height, b.channels, b.out_width, b.out_height, b.mode}) {
    w.write_u32(v);
  }
  return ok_status();
}

#undef R32
#undef RI32
#undef RF32

// INVALID (body struct `void` in the .def) has no body to read or write.
std::uint32_t fixed_bytes(LayerType, Tag<void>) {
  return 0;
}
Result<LayerBody> decode(LayerType, ByteReader& r, Tag<void>) {
  return Error(Errc::kUnsupportedLayer, "unsupported layer type 0 (INVALID)")
      .at_offset(r.position());
}

template <class T>
Status encode_alternative(LayerType type, const LayerBody& body, ByteWriter& w) {
  if constexpr (std::is_void_v<T>) {
    return Error(Errc::kUnsupportedLayer, "cannot encode layer type INVALID (0)");
  } else {
    if (!std::holds_alternative<T>(body)) {
      return Error(Errc::kInvalidArgument, "layer type " + std::string(to_string(type)) +
                                               " does not match its body (variant index " +
                                               std::to_string(body.index()) + ")");
    }
    return encode(type, std::get<T>(body), w);
  }
}

}  // namespace

// The switches below are generated from layer_types.def: each row's body struct selects the
// fixed_bytes/decode/encode overloads above, so a new type with an existing body is one .def row.
std::uint32_t body_fixed_bytes(LayerType type) {
  switch (type) {
#define EMC_LAYER_TYPE(enumerator, value, printable, Body, ...) \
  case LayerType::enumerator:                                   \
    return fixed_bytes(type, Tag<Body>{});
#include "emc/format/layer_types.def"
#undef EMC_LAYER_TYPE
  }
  return 0;
}

Result<LayerBody> decode_body(LayerType type, ByteReader& r) {
  switch (type) {
#define EMC_LAYER_TYPE(enumerator, value, printable, Body, ...) \
  case LayerType::enumerator:                                   \
    return decode(type, r, Tag<Body>{});
#include "emc/format/layer_types.def"
#undef EMC_LAYER_TYPE
  }
  return decode(type, r, Tag<void>{});
}

Status encode_body(LayerType type, const LayerBody& body, ByteWriter& w) {
  switch (type) {
#define EMC_LAYER_TYPE(enumerator, value, printable, Body, ...) \
  case LayerType::enumerator:                                   \
    return encode_alternative<Body>(type, body, w);
#include "emc/format/layer_types.def"
#undef EMC_LAYER_TYPE
  }
  return encode_alternative<void>(type, body, w);
}

std::uint64_t body_content_bytes(LayerType type, const LayerBody& body) {
  std::uint64_t n = body_fixed_bytes(type);
  if (const auto* c = std::get_if<ConcatBody>(&body)) n += 8ull * c->inputs.size();
  if (const auto* f = std::get_if<FullyConnectedBody>(&body)) {
    n += 4ull * (std::uint64_t{f->in_channels} * f->out_channels + f->out_channels);
  }
  if (const auto* d = std::get_if<ChannelwiseDequantizeBody>(&body)) n += 8ull * d->params.size();
  if (const auto* c = std::get_if<EmcConv2dInt8Body>(&body)) {
    n += pad4(c->weights.size()) + 12ull * c->geo.out_channels;
  }
  if (const auto* c = std::get_if<EmcConv2dF32Body>(&body)) {
    n += 4ull * (c->weights.size() + c->geo.out_channels);
  }
  if (const auto* c = std::get_if<EmcConcatInt8Body>(&body)) {
    n += kEmcConcatInputBytes * c->inputs.size();  // the fixed part holds input_count
  }
  return n;
}

}  // namespace emc::format::detail
