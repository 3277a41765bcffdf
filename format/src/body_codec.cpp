#include "body_codec.h"

#include <initializer_list>
#include <string>

namespace emc::format::detail {
namespace {

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
Result<LayerBody> decode_conv(ByteReader& r) {
  ConvBody b;
  R32(flags);
  R32(main_mem_out_address);
  R32(layer_offset);
  R32(weights_offset);
  R32(bn_offset);
  R32(act_offset);
  return LayerBody{std::move(b)};
}
void encode_conv(const ConvBody& b, ByteWriter& w) {
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_out_address);
  w.write_u32(b.layer_offset);
  w.write_u32(b.weights_offset);
  w.write_u32(b.bn_offset);
  w.write_u32(b.act_offset);
}

// ---- ADD ----
Result<LayerBody> decode_add(ByteReader& r) {
  AddBody b;
  R32(flags);
  R32(main_mem_in_a_address);
  R32(main_mem_in_b_address);
  R32(main_mem_out_address);
  R32(count);
  return LayerBody{b};
}
void encode_add(const AddBody& b, ByteWriter& w) {
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_in_a_address);
  w.write_u32(b.main_mem_in_b_address);
  w.write_u32(b.main_mem_out_address);
  w.write_u32(b.count);
}

// ---- QUANTIZED_ADD ----
Result<LayerBody> decode_quantized_add(ByteReader& r) {
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
void encode_quantized_add(const QuantizedAddBody& b, ByteWriter& w) {
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_in_a_address);
  w.write_u32(b.main_mem_in_b_address);
  w.write_u32(b.main_mem_out_address);
  w.write_u32(b.count);
  for (std::int32_t v : {b.in_a_offset, b.in_a_mul, b.in_a_shift, b.in_b_offset, b.in_b_mul,
                         b.in_b_shift, b.out_offset, b.out_mul, b.out_shift}) {
    w.write_i32(v);
  }
}

// ---- GLOBAL_*_POOL2D ----
Result<LayerBody> decode_global_pool(ByteReader& r) {
  GlobalPoolBody b;
  R32(flags);
  R32(main_mem_in_address);
  R32(main_mem_out_address);
  R32(kernel_size);
  R32(channels);
  return LayerBody{b};
}
void encode_global_pool(const GlobalPoolBody& b, ByteWriter& w) {
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_in_address);
  w.write_u32(b.main_mem_out_address);
  w.write_u32(b.kernel_size);
  w.write_u32(b.channels);
}

// ---- *_POOL2D: 60 bytes; + 4-byte act for the float types 7 and 9 ----
bool pool_has_act(LayerType t) {
  return t == LayerType::kMaxPool2d || t == LayerType::kAveragePool2d;
}
Result<LayerBody> decode_pool2d(LayerType t, ByteReader& r) {
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
void encode_pool2d(LayerType t, const Pool2dBody& b, ByteWriter& w) {
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
}

// ---- QUANTIZE / DEQUANTIZE ----
Result<LayerBody> decode_quantize(ByteReader& r) {
  QuantizeBody b;
  R32(flags);
  R32(main_mem_in_address);
  R32(main_mem_out_address);
  R32(count);
  RF32(scale);
  RF32(bias);
  return LayerBody{b};
}
void encode_quantize(const QuantizeBody& b, ByteWriter& w) {
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_in_address);
  w.write_u32(b.main_mem_out_address);
  w.write_u32(b.count);
  w.write_f32(b.scale);
  w.write_f32(b.bias);
}

// ---- REQUANTIZE ----
Result<LayerBody> decode_requantize(ByteReader& r) {
  RequantizeBody b;
  R32(flags);
  R32(main_mem_in_address);
  R32(main_mem_out_address);
  R32(count);
  EMC_TRY(r.read_bytes(b.table, "table"));
  return LayerBody{b};
}
void encode_requantize(const RequantizeBody& b, ByteWriter& w) {
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_in_address);
  w.write_u32(b.main_mem_out_address);
  w.write_u32(b.count);
  w.write_bytes(b.table);
}

// ---- L2_NORMALIZATION / SOFTMAX / LOGISTIC ----
Result<LayerBody> decode_channels(ByteReader& r) {
  ChannelsBody b;
  R32(flags);
  R32(main_mem_in_address);
  R32(main_mem_out_address);
  R32(channels);
  return LayerBody{b};
}
void encode_channels(const ChannelsBody& b, ByteWriter& w) {
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_in_address);
  w.write_u32(b.main_mem_out_address);
  w.write_u32(b.channels);
}

// ---- CONCAT: 12 + 8n ----
Result<LayerBody> decode_concat(ByteReader& r) {
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
Status encode_concat(const ConcatBody& b, ByteWriter& w) {
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
Result<LayerBody> decode_fully_connected(ByteReader& r) {
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
Status encode_fully_connected(const FullyConnectedBody& b, ByteWriter& w) {
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
Result<LayerBody> decode_flatten(ByteReader& r) {
  FlattenBody b;
  R32(flags);
  R32(main_mem_in_address);
  R32(main_mem_out_address);
  EMC_TRY(read_shape(r, b.shape, "shape"));
  return LayerBody{b};
}
void encode_flatten(const FlattenBody& b, ByteWriter& w) {
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_in_address);
  w.write_u32(b.main_mem_out_address);
  write_shape(w, b.shape);
}

// ---- (QUANTIZED_)RESIZE_NEAREST_NEIGHBOR ----
Result<LayerBody> decode_resize(ByteReader& r) {
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
void encode_resize(const ResizeNearestBody& b, ByteWriter& w) {
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_in_address);
  w.write_u32(b.main_mem_out_address);
  write_shape(w, b.in_shape);
  w.write_u32(b.out_width);
  w.write_u32(b.out_height);
  w.write_u32(b.align_corners);
}

// ---- CHANNELWISE_DEQUANTIZE: 20 + 8C ----
Result<LayerBody> decode_channelwise_dequantize(ByteReader& r) {
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
Status encode_channelwise_dequantize(const ChannelwiseDequantizeBody& b, ByteWriter& w) {
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
Result<LayerBody> decode_add_padding(ByteReader& r) {
  AddPaddingBody b;
  R32(flags);
  R32(main_mem_in_address);
  R32(kpu_mem_out_address);
  R32(channels);
  return LayerBody{b};
}
void encode_add_padding(const AddPaddingBody& b, ByteWriter& w) {
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_in_address);
  w.write_u32(b.kpu_mem_out_address);
  w.write_u32(b.channels);
}

// ---- K210_REMOVE_PADDING ----
Result<LayerBody> decode_remove_padding(ByteReader& r) {
  RemovePaddingBody b;
  R32(flags);
  R32(main_mem_in_address);
  R32(main_mem_out_address);
  R32(channels);
  return LayerBody{b};
}
void encode_remove_padding(const RemovePaddingBody& b, ByteWriter& w) {
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_in_address);
  w.write_u32(b.main_mem_out_address);
  w.write_u32(b.channels);
}

// ---- K210_UPLOAD ----
Result<LayerBody> decode_upload(ByteReader& r) {
  UploadBody b;
  R32(flags);
  R32(main_mem_in_address);
  R32(kpu_mem_out_address);
  R32(width);
  R32(height);
  R32(channels);
  return LayerBody{b};
}
void encode_upload(const UploadBody& b, ByteWriter& w) {
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_in_address);
  w.write_u32(b.kpu_mem_out_address);
  w.write_u32(b.width);
  w.write_u32(b.height);
  w.write_u32(b.channels);
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

Result<LayerBody> decode_emc_conv_int8(LayerType t, ByteReader& r) {
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
Status encode_emc_conv_int8(LayerType t, const EmcConv2dInt8Body& b, ByteWriter& w) {
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

Result<LayerBody> decode_emc_conv_f32(LayerType t, ByteReader& r) {
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
Status encode_emc_conv_f32(LayerType t, const EmcConv2dF32Body& b, ByteWriter& w) {
  EMC_TRY(check_emc_arrays(t, b.geo, b.weights.size(), {b.bias.size()}));
  write_geometry(b.geo, w);
  w.write_f32(b.act_min);
  w.write_f32(b.act_max);
  for (float v : b.weights) w.write_f32(v);
  for (float v : b.bias) w.write_f32(v);
  return ok_status();
}

Result<LayerBody> decode_emc_quantize(ByteReader& r) {
  EmcQuantizeInt8Body b;
  R32(flags);
  R32(main_mem_in_address);
  R32(main_mem_out_address);
  R32(count);
  RF32(scale);
  RI32(zero_point);
  return LayerBody{b};
}
void encode_emc_quantize(const EmcQuantizeInt8Body& b, ByteWriter& w) {
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_in_address);
  w.write_u32(b.main_mem_out_address);
  w.write_u32(b.count);
  w.write_f32(b.scale);
  w.write_i32(b.zero_point);
}

// ---- EMC int8 pools, elementwise, concat, LUT, pad/crop, resize (emc_layers.h) ----
Result<LayerBody> decode_emc_pool(ByteReader& r) {
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
void encode_emc_pool(const EmcPool2dInt8Body& b, ByteWriter& w) {
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
}

Result<LayerBody> decode_emc_elementwise(ByteReader& r) {
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
void encode_emc_elementwise(const EmcElementwiseInt8Body& b, ByteWriter& w) {
  for (std::uint32_t v : {b.flags, b.main_mem_in_a_address, b.main_mem_in_b_address,
                          b.main_mem_out_address, b.op, b.broadcast, b.channels, b.plane}) {
    w.write_u32(v);
  }
  for (std::int32_t v :
       {b.left_shift, b.a_zero_point, b.a_multiplier, b.a_shift, b.b_zero_point, b.b_multiplier,
        b.b_shift, b.out_zero_point, b.out_multiplier, b.out_shift, b.act_min, b.act_max}) {
    w.write_i32(v);
  }
}

Result<LayerBody> decode_emc_concat(ByteReader& r) {
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
Status encode_emc_concat(const EmcConcatInt8Body& b, ByteWriter& w) {
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

Result<LayerBody> decode_emc_lut(ByteReader& r) {
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
void encode_emc_lut(const EmcLutInt8Body& b, ByteWriter& w) {
  w.write_u32(b.flags);
  w.write_u32(b.main_mem_in_address);
  w.write_u32(b.main_mem_out_address);
  w.write_u32(b.count);
  for (std::int8_t v : b.table) w.write_u8(static_cast<std::uint8_t>(v));
}

Result<LayerBody> decode_emc_pad_crop(ByteReader& r) {
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
void encode_emc_pad_crop(const EmcPadCropInt8Body& b, ByteWriter& w) {
  for (std::uint32_t v : {b.flags, b.main_mem_in_address, b.main_mem_out_address, b.in_width,
                          b.in_height, b.channels, b.out_width, b.out_height}) {
    w.write_u32(v);
  }
  for (std::int32_t v : {b.pad_left, b.pad_right, b.pad_top, b.pad_bottom, b.fill}) w.write_i32(v);
}

Result<LayerBody> decode_emc_resize(ByteReader& r) {
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
void encode_emc_resize(const EmcResizeNearestInt8Body& b, ByteWriter& w) {
  for (std::uint32_t v : {b.flags, b.main_mem_in_address, b.main_mem_out_address, b.in_width,
                          b.in_height, b.channels, b.out_width, b.out_height, b.mode}) {
    w.write_u32(v);
  }
}

#undef R32
#undef RI32
#undef RF32

template <class T>
Status expect_alternative(LayerType type, const LayerBody& body) {
  if (std::holds_alternative<T>(body)) return ok_status();
  return Error(Errc::kInvalidArgument, "layer type " + std::string(to_string(type)) +
                                           " does not match its body (variant index " +
                                           std::to_string(body.index()) + ")");
}

}  // namespace

std::uint32_t body_fixed_bytes(LayerType type) {
  switch (type) {
    case LayerType::kInvalid:
      return 0;
    case LayerType::kAdd:
      return 20;
    case LayerType::kQuantizedAdd:
      return 56;
    case LayerType::kGlobalMaxPool2d:
    case LayerType::kQuantizedGlobalMaxPool2d:
    case LayerType::kGlobalAveragePool2d:
    case LayerType::kQuantizedGlobalAveragePool2d:
      return 20;
    case LayerType::kMaxPool2d:
    case LayerType::kAveragePool2d:
      return 64;
    case LayerType::kQuantizedMaxPool2d:
    case LayerType::kQuantizedAveragePool2d:
      return 60;
    case LayerType::kQuantize:
    case LayerType::kDequantize:
      return 24;
    case LayerType::kRequantize:
      return 272;
    case LayerType::kL2Normalization:
    case LayerType::kSoftmax:
    case LayerType::kLogistic:
      return 16;
    case LayerType::kConcat:
    case LayerType::kQuantizedConcat:
      return 12;
    case LayerType::kFullyConnected:
    case LayerType::kQuantizedFullyConnected:
      return 24;
    case LayerType::kTensorflowFlatten:
    case LayerType::kQuantizedTensorflowFlatten:
      return 24;
    case LayerType::kResizeNearestNeighbor:
    case LayerType::kQuantizedResizeNearestNeighbor:
      return 36;
    case LayerType::kChannelwiseDequantize:
      return 20;
    case LayerType::kK210Conv:
      return static_cast<std::uint32_t>(kConvBodyFixedBytes);
    case LayerType::kK210AddPadding:
    case LayerType::kK210RemovePadding:
      return 16;
    case LayerType::kK210Upload:
      return 24;
    case LayerType::kEmcConv2d:
    case LayerType::kEmcDepthwiseConv2d:
      return static_cast<std::uint32_t>(kEmcConv2dInt8FixedBytes);
    case LayerType::kEmcConv2dF32:
    case LayerType::kEmcDepthwiseConv2dF32:
      return static_cast<std::uint32_t>(kEmcConv2dF32FixedBytes);
    case LayerType::kEmcQuantizeInt8:
    case LayerType::kEmcDequantizeInt8:
      return 24;
    case LayerType::kEmcMaxPool2dInt8:
    case LayerType::kEmcAveragePool2dInt8:
      return 88;
    case LayerType::kEmcElementwiseInt8:
      return 80;
    case LayerType::kEmcConcatInt8:
      return static_cast<std::uint32_t>(kEmcConcatInt8FixedBytes);
    case LayerType::kEmcLutInt8:
      return 272;
    case LayerType::kEmcPadCropInt8:
      return 52;
    case LayerType::kEmcResizeNearestInt8:
      return 36;
  }
  return 0;
}

Result<LayerBody> decode_body(LayerType type, ByteReader& r) {
  switch (type) {
    case LayerType::kInvalid:
      break;
    case LayerType::kAdd:
      return decode_add(r);
    case LayerType::kQuantizedAdd:
      return decode_quantized_add(r);
    case LayerType::kGlobalMaxPool2d:
    case LayerType::kQuantizedGlobalMaxPool2d:
    case LayerType::kGlobalAveragePool2d:
    case LayerType::kQuantizedGlobalAveragePool2d:
      return decode_global_pool(r);
    case LayerType::kMaxPool2d:
    case LayerType::kQuantizedMaxPool2d:
    case LayerType::kAveragePool2d:
    case LayerType::kQuantizedAveragePool2d:
      return decode_pool2d(type, r);
    case LayerType::kQuantize:
    case LayerType::kDequantize:
      return decode_quantize(r);
    case LayerType::kRequantize:
      return decode_requantize(r);
    case LayerType::kL2Normalization:
    case LayerType::kSoftmax:
    case LayerType::kLogistic:
      return decode_channels(r);
    case LayerType::kConcat:
    case LayerType::kQuantizedConcat:
      return decode_concat(r);
    case LayerType::kFullyConnected:
    case LayerType::kQuantizedFullyConnected:
      return decode_fully_connected(r);
    case LayerType::kTensorflowFlatten:
    case LayerType::kQuantizedTensorflowFlatten:
      return decode_flatten(r);
    case LayerType::kResizeNearestNeighbor:
    case LayerType::kQuantizedResizeNearestNeighbor:
      return decode_resize(r);
    case LayerType::kChannelwiseDequantize:
      return decode_channelwise_dequantize(r);
    case LayerType::kK210Conv:
      return decode_conv(r);
    case LayerType::kK210AddPadding:
      return decode_add_padding(r);
    case LayerType::kK210RemovePadding:
      return decode_remove_padding(r);
    case LayerType::kK210Upload:
      return decode_upload(r);
    case LayerType::kEmcConv2d:
    case LayerType::kEmcDepthwiseConv2d:
      return decode_emc_conv_int8(type, r);
    case LayerType::kEmcConv2dF32:
    case LayerType::kEmcDepthwiseConv2dF32:
      return decode_emc_conv_f32(type, r);
    case LayerType::kEmcQuantizeInt8:
    case LayerType::kEmcDequantizeInt8:
      return decode_emc_quantize(r);
    case LayerType::kEmcMaxPool2dInt8:
    case LayerType::kEmcAveragePool2dInt8:
      return decode_emc_pool(r);
    case LayerType::kEmcElementwiseInt8:
      return decode_emc_elementwise(r);
    case LayerType::kEmcConcatInt8:
      return decode_emc_concat(r);
    case LayerType::kEmcLutInt8:
      return decode_emc_lut(r);
    case LayerType::kEmcPadCropInt8:
      return decode_emc_pad_crop(r);
    case LayerType::kEmcResizeNearestInt8:
      return decode_emc_resize(r);
  }
  return Error(Errc::kUnsupportedLayer, "unsupported layer type 0 (INVALID)")
      .at_offset(r.position());
}

Status encode_body(LayerType type, const LayerBody& body, ByteWriter& w) {
  switch (type) {
    case LayerType::kInvalid:
      break;
    case LayerType::kAdd:
      EMC_TRY(expect_alternative<AddBody>(type, body));
      encode_add(std::get<AddBody>(body), w);
      return ok_status();
    case LayerType::kQuantizedAdd:
      EMC_TRY(expect_alternative<QuantizedAddBody>(type, body));
      encode_quantized_add(std::get<QuantizedAddBody>(body), w);
      return ok_status();
    case LayerType::kGlobalMaxPool2d:
    case LayerType::kQuantizedGlobalMaxPool2d:
    case LayerType::kGlobalAveragePool2d:
    case LayerType::kQuantizedGlobalAveragePool2d:
      EMC_TRY(expect_alternative<GlobalPoolBody>(type, body));
      encode_global_pool(std::get<GlobalPoolBody>(body), w);
      return ok_status();
    case LayerType::kMaxPool2d:
    case LayerType::kQuantizedMaxPool2d:
    case LayerType::kAveragePool2d:
    case LayerType::kQuantizedAveragePool2d:
      EMC_TRY(expect_alternative<Pool2dBody>(type, body));
      encode_pool2d(type, std::get<Pool2dBody>(body), w);
      return ok_status();
    case LayerType::kQuantize:
    case LayerType::kDequantize:
      EMC_TRY(expect_alternative<QuantizeBody>(type, body));
      encode_quantize(std::get<QuantizeBody>(body), w);
      return ok_status();
    case LayerType::kRequantize:
      EMC_TRY(expect_alternative<RequantizeBody>(type, body));
      encode_requantize(std::get<RequantizeBody>(body), w);
      return ok_status();
    case LayerType::kL2Normalization:
    case LayerType::kSoftmax:
    case LayerType::kLogistic:
      EMC_TRY(expect_alternative<ChannelsBody>(type, body));
      encode_channels(std::get<ChannelsBody>(body), w);
      return ok_status();
    case LayerType::kConcat:
    case LayerType::kQuantizedConcat:
      EMC_TRY(expect_alternative<ConcatBody>(type, body));
      return encode_concat(std::get<ConcatBody>(body), w);
    case LayerType::kFullyConnected:
    case LayerType::kQuantizedFullyConnected:
      EMC_TRY(expect_alternative<FullyConnectedBody>(type, body));
      return encode_fully_connected(std::get<FullyConnectedBody>(body), w);
    case LayerType::kTensorflowFlatten:
    case LayerType::kQuantizedTensorflowFlatten:
      EMC_TRY(expect_alternative<FlattenBody>(type, body));
      encode_flatten(std::get<FlattenBody>(body), w);
      return ok_status();
    case LayerType::kResizeNearestNeighbor:
    case LayerType::kQuantizedResizeNearestNeighbor:
      EMC_TRY(expect_alternative<ResizeNearestBody>(type, body));
      encode_resize(std::get<ResizeNearestBody>(body), w);
      return ok_status();
    case LayerType::kChannelwiseDequantize:
      EMC_TRY(expect_alternative<ChannelwiseDequantizeBody>(type, body));
      return encode_channelwise_dequantize(std::get<ChannelwiseDequantizeBody>(body), w);
    case LayerType::kK210Conv:
      EMC_TRY(expect_alternative<ConvBody>(type, body));
      encode_conv(std::get<ConvBody>(body), w);
      return ok_status();
    case LayerType::kK210AddPadding:
      EMC_TRY(expect_alternative<AddPaddingBody>(type, body));
      encode_add_padding(std::get<AddPaddingBody>(body), w);
      return ok_status();
    case LayerType::kK210RemovePadding:
      EMC_TRY(expect_alternative<RemovePaddingBody>(type, body));
      encode_remove_padding(std::get<RemovePaddingBody>(body), w);
      return ok_status();
    case LayerType::kK210Upload:
      EMC_TRY(expect_alternative<UploadBody>(type, body));
      encode_upload(std::get<UploadBody>(body), w);
      return ok_status();
    case LayerType::kEmcConv2d:
    case LayerType::kEmcDepthwiseConv2d:
      EMC_TRY(expect_alternative<EmcConv2dInt8Body>(type, body));
      return encode_emc_conv_int8(type, std::get<EmcConv2dInt8Body>(body), w);
    case LayerType::kEmcConv2dF32:
    case LayerType::kEmcDepthwiseConv2dF32:
      EMC_TRY(expect_alternative<EmcConv2dF32Body>(type, body));
      return encode_emc_conv_f32(type, std::get<EmcConv2dF32Body>(body), w);
    case LayerType::kEmcQuantizeInt8:
    case LayerType::kEmcDequantizeInt8:
      EMC_TRY(expect_alternative<EmcQuantizeInt8Body>(type, body));
      encode_emc_quantize(std::get<EmcQuantizeInt8Body>(body), w);
      return ok_status();
    case LayerType::kEmcMaxPool2dInt8:
    case LayerType::kEmcAveragePool2dInt8:
      EMC_TRY(expect_alternative<EmcPool2dInt8Body>(type, body));
      encode_emc_pool(std::get<EmcPool2dInt8Body>(body), w);
      return ok_status();
    case LayerType::kEmcElementwiseInt8:
      EMC_TRY(expect_alternative<EmcElementwiseInt8Body>(type, body));
      encode_emc_elementwise(std::get<EmcElementwiseInt8Body>(body), w);
      return ok_status();
    case LayerType::kEmcConcatInt8:
      EMC_TRY(expect_alternative<EmcConcatInt8Body>(type, body));
      return encode_emc_concat(std::get<EmcConcatInt8Body>(body), w);
    case LayerType::kEmcLutInt8:
      EMC_TRY(expect_alternative<EmcLutInt8Body>(type, body));
      encode_emc_lut(std::get<EmcLutInt8Body>(body), w);
      return ok_status();
    case LayerType::kEmcPadCropInt8:
      EMC_TRY(expect_alternative<EmcPadCropInt8Body>(type, body));
      encode_emc_pad_crop(std::get<EmcPadCropInt8Body>(body), w);
      return ok_status();
    case LayerType::kEmcResizeNearestInt8:
      EMC_TRY(expect_alternative<EmcResizeNearestInt8Body>(type, body));
      encode_emc_resize(std::get<EmcResizeNearestInt8Body>(body), w);
      return ok_status();
  }
  return Error(Errc::kUnsupportedLayer, "cannot encode layer type INVALID (0)");
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
