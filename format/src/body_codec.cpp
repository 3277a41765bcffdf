#include "body_codec.h"

#include <array>
#include <initializer_list>
#include <string>
#include <type_traits>

namespace emc::format::detail {
namespace {

// Selects a body struct's fixed_bytes/decode/encode overload.
template <class T>
using Tag = std::type_identity<T>;

std::uint64_t pad4(std::uint64_t n) {
  return (n + 3) / 4 * 4;
}

// One field list per body drives both directions: `fields(io, type, body)` is written once per body
// struct, and BodyReader fills the body from the file while BodyWriter writes a const body. Each
// field goes through io.u32/i32/f32 with its name (for error messages); what only one direction
// does (range checks before an allocation, size checks before a write) sits under Io::kReads.
class BodyReader {
 public:
  static constexpr bool kReads = true;
  template <class T>
  using Ref = T&;

  explicit BodyReader(ByteReader& r) : r_(r) {}
  ByteReader& bytes() { return r_; }

  Status u32(std::uint32_t& v, const char* name) { return r_.read_u32(v, name); }
  Status i32(std::int32_t& v, const char* name) { return r_.read_i32(v, name); }
  Status f32(float& v, const char* name) { return r_.read_f32(v, name); }
  Status shape(Shape3& s, const char* name) {
    EMC_TRY(r_.read_u32(s.width, name));
    EMC_TRY(r_.read_u32(s.height, name));
    return r_.read_u32(s.channels, name);
  }
  Status act(CpuActivation& act, const char* name) {
    std::uint32_t v = 0;
    const std::uint64_t at = r_.position();
    EMC_TRY(r_.read_u32(v, name));
    if (v > 2) {
      return Error(Errc::kInvalidLayerConfig,
                   "act " + std::to_string(v) + " is not one of 0 (linear), 1 (relu), 2 (relu6)")
          .at_offset(at);
    }
    act = static_cast<CpuActivation>(v);
    return ok_status();
  }
  template <class Byte, std::size_t N>
  Status table(std::array<Byte, N>& t, const char* name) {
    std::array<std::uint8_t, N> raw{};
    EMC_TRY(r_.read_bytes(raw, name));
    for (std::size_t i = 0; i < N; ++i) t[i] = static_cast<Byte>(raw[i]);
    return ok_status();
  }
  // int8 blob of n bytes, zero-padded to a multiple of 4 in the file.
  Status int8_blob(std::vector<std::int8_t>& v, std::uint64_t n, const std::string& what) {
    EMC_TRY(require_array(pad4(n), 1, what));
    std::vector<std::uint8_t> raw(n);
    EMC_TRY(r_.read_bytes(raw, "weights"));
    v.assign(raw.begin(), raw.end());  // uint8 -> int8: two's complement (C++20)
    return r_.skip(pad4(n) - n, "weights padding");
  }
  // The count of a trailing array stored in the body: read here, used by resize().
  template <class T>
  Status count(const std::vector<T>&, const char*) {
    return ok_status();
  }
  // Checks that n items of elem_bytes each are present before allocating them.
  template <class T>
  Status resize(std::vector<T>& v, std::uint64_t n, std::uint64_t elem_bytes,
                const std::string& what) {
    EMC_TRY(require_array(n, elem_bytes, what));
    v.resize(n);
    return ok_status();
  }
  Status require_array(std::uint64_t elements, std::uint64_t elem_bytes, const std::string& what) {
    if (elements > r_.remaining() / elem_bytes) {
      return Error(Errc::kInvalidModel,
                   what + ": " + std::to_string(elements) + " x " + std::to_string(elem_bytes) +
                       " bytes do not fit in the " + std::to_string(r_.remaining()) +
                       " bytes left in the body")
          .at_offset(r_.position());
    }
    return ok_status();
  }

 private:
  ByteReader& r_;
};

class BodyWriter {
 public:
  static constexpr bool kReads = false;
  template <class T>
  using Ref = const T&;

  // Writes to `w`, or only counts the bytes when `w` is null (see bytes()).
  explicit BodyWriter(ByteWriter* w) : w_(w) {}
  std::uint64_t bytes() const { return n_; }

  Status u32(std::uint32_t v, const char*) {
    n_ += 4;
    if (w_ != nullptr) w_->write_u32(v);
    return ok_status();
  }
  Status i32(std::int32_t v, const char* name) { return u32(static_cast<std::uint32_t>(v), name); }
  Status f32(float v, const char*) {
    n_ += 4;
    if (w_ != nullptr) w_->write_f32(v);
    return ok_status();
  }
  Status shape(const Shape3& s, const char* name) {
    for (std::uint32_t v : {s.width, s.height, s.channels}) EMC_TRY(u32(v, name));
    return ok_status();
  }
  Status act(CpuActivation act, const char* name) {
    return u32(static_cast<std::uint32_t>(act), name);
  }
  template <class Byte, std::size_t N>
  Status table(const std::array<Byte, N>& t, const char*) {
    return raw_bytes(t.data(), N, 0);
  }
  Status int8_blob(const std::vector<std::int8_t>& v, std::uint64_t, const std::string&) {
    return raw_bytes(v.data(), v.size(), pad4(v.size()) - v.size());
  }
  template <class T>
  Status count(const std::vector<T>& v, const char* what) {
    if (v.size() > 0xffffffffu) {
      return Error(Errc::kInvalidArgument, std::string(what) + " " + std::to_string(v.size()) +
                                               " does not fit a uint32 field");
    }
    return ok_status();
  }
  template <class T>
  Status resize(const std::vector<T>&, std::uint64_t, std::uint64_t, const std::string&) {
    return ok_status();
  }

 private:
  template <class Byte>
  Status raw_bytes(const Byte* p, std::size_t n, std::uint64_t zeros) {
    n_ += n + zeros;
    if (w_ != nullptr) {
      for (std::size_t i = 0; i < n; ++i) w_->write_u8(static_cast<std::uint8_t>(p[i]));
      w_->write_zeros(zeros);
    }
    return ok_status();
  }

  ByteWriter* w_;
  std::uint64_t n_ = 0;
};

// The count word of a trailing array: the vector's size when writing, filled in when reading.
template <class Io, class T>
std::uint32_t stored_count(const std::vector<T>& v) {
  return Io::kReads ? 0 : static_cast<std::uint32_t>(v.size());
}

#define F(kind, field) EMC_TRY(io.kind(b.field, #field))

// flags, main_mem_in_address, main_mem_out_address: the first three words of most bodies.
template <class Io, class B>
Status in_out_head(Io& io, B& b) {
  F(u32, flags);
  F(u32, main_mem_in_address);
  F(u32, main_mem_out_address);
  return ok_status();
}

// The EMC int8 map layers (pools, pad/crop, resize) continue the head with the five map
// dimensions (in_width, in_height, channels, out_width, out_height).
template <class Io, class B>
Status emc_map_head(Io& io, B& b) {
  EMC_TRY(in_out_head(io, b));
  F(u32, in_width);
  F(u32, in_height);
  F(u32, channels);
  F(u32, out_width);
  F(u32, out_height);
  return ok_status();
}

// REQUANTIZE and EMC_LUT_INT8: the head, an element count and a 256-entry table.
template <class Io, class B>
Status table_body(Io& io, B& b) {
  EMC_TRY(in_out_head(io, b));
  F(u32, count);
  F(table, table);
  return ok_status();
}

// FULLY_CONNECTED and EMC_CONV2D_F32 end with their float weights, then the float bias.
template <class Io, class B>
Status float_weights_bias(Io& io, B& b) {
  for (auto& v : b.weights) EMC_TRY(io.f32(v, "weights"));
  for (auto& v : b.bias) EMC_TRY(io.f32(v, "bias"));
  return ok_status();
}

// ---- K210_CONV head (blobs handled by the parser/encoder) ----
template <class Io>
Status fields(Io& io, LayerType, typename Io::template Ref<ConvBody> b) {
  F(u32, flags);
  F(u32, main_mem_out_address);
  F(u32, layer_offset);
  F(u32, weights_offset);
  F(u32, bn_offset);
  F(u32, act_offset);
  return ok_status();
}

// ---- ADD ----
template <class Io>
Status fields(Io& io, LayerType, typename Io::template Ref<AddBody> b) {
  F(u32, flags);
  F(u32, main_mem_in_a_address);
  F(u32, main_mem_in_b_address);
  F(u32, main_mem_out_address);
  F(u32, count);
  return ok_status();
}

// ---- QUANTIZED_ADD ----
template <class Io>
Status fields(Io& io, LayerType, typename Io::template Ref<QuantizedAddBody> b) {
  F(u32, flags);
  F(u32, main_mem_in_a_address);
  F(u32, main_mem_in_b_address);
  F(u32, main_mem_out_address);
  F(u32, count);
  F(i32, in_a_offset);
  F(i32, in_a_mul);
  F(i32, in_a_shift);
  F(i32, in_b_offset);
  F(i32, in_b_mul);
  F(i32, in_b_shift);
  F(i32, out_offset);
  F(i32, out_mul);
  F(i32, out_shift);
  return ok_status();
}

// ---- GLOBAL_*_POOL2D ----
template <class Io>
Status fields(Io& io, LayerType, typename Io::template Ref<GlobalPoolBody> b) {
  EMC_TRY(in_out_head(io, b));
  F(u32, kernel_size);
  F(u32, channels);
  return ok_status();
}

// ---- *_POOL2D: 60 bytes; + 4-byte act for the float types 7 and 9 ----
bool pool_has_act(LayerType t) {
  return t == LayerType::kMaxPool2d || t == LayerType::kAveragePool2d;
}
template <class Io>
Status fields(Io& io, LayerType t, typename Io::template Ref<Pool2dBody> b) {
  EMC_TRY(in_out_head(io, b));
  F(shape, in_shape);
  F(shape, out_shape);
  F(u32, kernel_width);
  F(u32, kernel_height);
  F(u32, stride_width);
  F(u32, stride_height);
  F(u32, padding_width);
  F(u32, padding_height);
  if (pool_has_act(t)) F(act, act);
  return ok_status();
}

// ---- QUANTIZE / DEQUANTIZE ----
template <class Io>
Status fields(Io& io, LayerType, typename Io::template Ref<QuantizeBody> b) {
  EMC_TRY(in_out_head(io, b));
  F(u32, count);
  F(f32, scale);
  F(f32, bias);
  return ok_status();
}

// ---- REQUANTIZE ----
template <class Io>
Status fields(Io& io, LayerType, typename Io::template Ref<RequantizeBody> b) {
  return table_body(io, b);
}

// ---- L2_NORMALIZATION / SOFTMAX / LOGISTIC ----
template <class Io>
Status fields(Io& io, LayerType, typename Io::template Ref<ChannelsBody> b) {
  EMC_TRY(in_out_head(io, b));
  F(u32, channels);
  return ok_status();
}

// ---- CONCAT: 12 + 8n ----
template <class Io>
Status fields(Io& io, LayerType, typename Io::template Ref<ConcatBody> b) {
  EMC_TRY(io.count(b.inputs, "CONCAT input_count"));
  std::uint32_t input_count = stored_count<Io>(b.inputs);
  F(u32, flags);
  F(u32, main_mem_out_address);
  EMC_TRY(io.u32(input_count, "input_count"));
  EMC_TRY(io.resize(b.inputs, input_count, 8, "CONCAT input_count " + std::to_string(input_count)));
  for (auto& m : b.inputs) {
    EMC_TRY(io.u32(m.start, "inputs_mem.start"));
    EMC_TRY(io.u32(m.size, "inputs_mem.size"));
  }
  return ok_status();
}

// ---- FULLY_CONNECTED: 24 + 4*(in*out + out) ----
template <class Io>
Status fields(Io& io, LayerType, typename Io::template Ref<FullyConnectedBody> b) {
  if constexpr (!Io::kReads) {
    if (b.weights.size() != std::uint64_t{b.in_channels} * b.out_channels ||
        b.bias.size() != b.out_channels) {
      return Error(Errc::kInvalidArgument, "FULLY_CONNECTED " + std::to_string(b.in_channels) +
                                               "x" + std::to_string(b.out_channels) + " has " +
                                               std::to_string(b.weights.size()) + " weights and " +
                                               std::to_string(b.bias.size()) + " biases");
    }
  }
  EMC_TRY(in_out_head(io, b));
  F(u32, in_channels);
  F(u32, out_channels);
  F(act, act);
  if constexpr (Io::kReads) {
    // in*out < 2^64 for 32-bit operands, and in*out + out <= 2^64 - 2^32: no overflow.
    const std::uint64_t weights = std::uint64_t{b.in_channels} * b.out_channels;
    EMC_TRY(io.require_array(weights + b.out_channels, 4,
                             "FULLY_CONNECTED " + std::to_string(b.in_channels) + "x" +
                                 std::to_string(b.out_channels) + " weights + bias"));
    b.weights.resize(weights);
    b.bias.resize(b.out_channels);
  }
  return float_weights_bias(io, b);
}

// ---- (QUANTIZED_)TENSORFLOW_FLATTEN ----
template <class Io>
Status fields(Io& io, LayerType, typename Io::template Ref<FlattenBody> b) {
  EMC_TRY(in_out_head(io, b));
  F(shape, shape);
  return ok_status();
}

// ---- (QUANTIZED_)RESIZE_NEAREST_NEIGHBOR ----
template <class Io>
Status fields(Io& io, LayerType, typename Io::template Ref<ResizeNearestBody> b) {
  EMC_TRY(in_out_head(io, b));
  F(shape, in_shape);
  F(u32, out_width);
  F(u32, out_height);
  F(u32, align_corners);
  return ok_status();
}

// ---- CHANNELWISE_DEQUANTIZE: 20 + 8C ----
template <class Io>
Status fields(Io& io, LayerType, typename Io::template Ref<ChannelwiseDequantizeBody> b) {
  EMC_TRY(io.count(b.params, "CHANNELWISE_DEQUANTIZE channels"));
  std::uint32_t channels = stored_count<Io>(b.params);
  EMC_TRY(in_out_head(io, b));
  EMC_TRY(io.u32(channels, "channels"));
  F(u32, channel_size);
  EMC_TRY(io.resize(b.params, channels, 8,
                    "CHANNELWISE_DEQUANTIZE channels " + std::to_string(channels)));
  for (auto& q : b.params) {
    EMC_TRY(io.f32(q.scale, "scale"));
    EMC_TRY(io.f32(q.bias, "bias"));
  }
  return ok_status();
}

// ---- K210_ADD_PADDING ----
template <class Io>
Status fields(Io& io, LayerType, typename Io::template Ref<AddPaddingBody> b) {
  F(u32, flags);
  F(u32, main_mem_in_address);
  F(u32, kpu_mem_out_address);
  F(u32, channels);
  return ok_status();
}

// ---- K210_REMOVE_PADDING ----
template <class Io>
Status fields(Io& io, LayerType, typename Io::template Ref<RemovePaddingBody> b) {
  EMC_TRY(in_out_head(io, b));
  F(u32, channels);
  return ok_status();
}

// ---- K210_UPLOAD ----
template <class Io>
Status fields(Io& io, LayerType, typename Io::template Ref<UploadBody> b) {
  F(u32, flags);
  F(u32, main_mem_in_address);
  F(u32, kpu_mem_out_address);
  F(u32, width);
  F(u32, height);
  F(u32, channels);
  return ok_status();
}

// ---- EMC conv types (emc_layers.h) ----
template <class Io>
Status geometry(Io& io, typename Io::template Ref<EmcConvGeometry> b) {
  std::uint64_t start = 0;
  if constexpr (Io::kReads) start = io.bytes().position();
  EMC_TRY(in_out_head(io, b));
  F(u32, in_width);
  F(u32, in_height);
  F(u32, in_channels);
  F(u32, out_width);
  F(u32, out_height);
  F(u32, out_channels);
  F(u32, kernel_width);
  F(u32, kernel_height);
  F(u32, stride_width);
  F(u32, stride_height);
  F(u32, dilation_width);
  F(u32, dilation_height);
  F(u32, pad_left);
  F(u32, pad_right);
  F(u32, pad_top);
  F(u32, pad_bottom);
  F(u32, depth_multiplier);
  // The fields that size the trailing arrays are checked here, so that a zero reads as itself and
  // not as a body-size disagreement.
  const std::pair<std::uint32_t, const char*> sizing[] = {{b.in_channels, "in_channels"},
                                                          {b.out_channels, "out_channels"},
                                                          {b.kernel_width, "kernel_width"},
                                                          {b.kernel_height, "kernel_height"}};
  const std::uint64_t offsets[] = {20, 32, 36, 40};
  for (int i = 0; Io::kReads && i < 4; ++i) {
    if (sizing[i].first == 0) {
      return Error(Errc::kInvalidModel, std::string(sizing[i].second) + " is 0 (must be >= 1)")
          .at_offset(start + offsets[i]);
    }
  }
  return ok_status();
}

bool emc_depthwise(LayerType t) {
  return t == LayerType::kEmcDepthwiseConv2d || t == LayerType::kEmcDepthwiseConv2dF32;
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

template <class Io>
Status fields(Io& io, LayerType t, typename Io::template Ref<EmcConv2dInt8Body> b) {
  if constexpr (!Io::kReads) {
    EMC_TRY(check_emc_arrays(t, b.geo, b.weights.size(),
                             {b.bias.size(), b.multiplier.size(), b.shift.size()}));
  }
  EMC_TRY(geometry(io, b.geo));
  F(i32, input_zero_point);
  F(i32, output_zero_point);
  F(i32, act_min);
  F(i32, act_max);
  const std::uint64_t nw = emc_conv_weight_count(b.geo, emc_depthwise(t));
  const std::uint64_t oc = b.geo.out_channels;
  const std::string what = std::string(to_string(t)) + " " + std::to_string(oc) + " channels";
  EMC_TRY(io.int8_blob(b.weights, nw, what + ": weights"));
  if constexpr (Io::kReads) {
    EMC_TRY(io.require_array(oc, 12, what + ": bias, multiplier, shift"));
    for (auto* v : {&b.bias, &b.multiplier, &b.shift}) v->resize(oc);
  }
  for (auto* v : {&b.bias, &b.multiplier, &b.shift}) {
    for (auto& x : *v) EMC_TRY(io.i32(x, "per-channel array"));
  }
  return ok_status();
}

template <class Io>
Status fields(Io& io, LayerType t, typename Io::template Ref<EmcConv2dF32Body> b) {
  if constexpr (!Io::kReads) EMC_TRY(check_emc_arrays(t, b.geo, b.weights.size(), {b.bias.size()}));
  EMC_TRY(geometry(io, b.geo));
  F(f32, act_min);
  F(f32, act_max);
  if constexpr (Io::kReads) {
    const std::uint64_t nw = emc_conv_weight_count(b.geo, emc_depthwise(t));
    const std::uint64_t oc = b.geo.out_channels;
    // nw + oc < 2^65 cannot overflow: both are < 2^64 / 2 for 32-bit factors (checked in count).
    EMC_TRY(io.require_array(nw + oc, 4,
                             std::string(to_string(t)) + " " + std::to_string(nw) + " weights + " +
                                 std::to_string(oc) + " bias"));
    b.weights.resize(nw);
    b.bias.resize(oc);
  }
  return float_weights_bias(io, b);
}

template <class Io>
Status fields(Io& io, LayerType, typename Io::template Ref<EmcQuantizeInt8Body> b) {
  EMC_TRY(in_out_head(io, b));
  F(u32, count);
  F(f32, scale);
  F(i32, zero_point);
  return ok_status();
}

// ---- EMC int8 pools, elementwise, concat, LUT, pad/crop, resize (emc_layers.h) ----
template <class Io>
Status fields(Io& io, LayerType, typename Io::template Ref<EmcPool2dInt8Body> b) {
  EMC_TRY(emc_map_head(io, b));
  F(u32, kernel_width);
  F(u32, kernel_height);
  F(u32, stride_width);
  F(u32, stride_height);
  F(u32, pad_left);
  F(u32, pad_right);
  F(u32, pad_top);
  F(u32, pad_bottom);
  F(i32, input_zero_point);
  F(i32, output_zero_point);
  F(i32, multiplier);
  F(i32, shift);
  F(i32, act_min);
  F(i32, act_max);
  return ok_status();
}

template <class Io>
Status fields(Io& io, LayerType, typename Io::template Ref<EmcElementwiseInt8Body> b) {
  F(u32, flags);
  F(u32, main_mem_in_a_address);
  F(u32, main_mem_in_b_address);
  F(u32, main_mem_out_address);
  F(u32, op);
  F(u32, broadcast);
  F(u32, channels);
  F(u32, plane);
  F(i32, left_shift);
  F(i32, a_zero_point);
  F(i32, a_multiplier);
  F(i32, a_shift);
  F(i32, b_zero_point);
  F(i32, b_multiplier);
  F(i32, b_shift);
  F(i32, out_zero_point);
  F(i32, out_multiplier);
  F(i32, out_shift);
  F(i32, act_min);
  F(i32, act_max);
  return ok_status();
}

template <class Io>
Status fields(Io& io, LayerType, typename Io::template Ref<EmcConcatInt8Body> b) {
  EMC_TRY(io.count(b.inputs, "EMC_CONCAT_INT8 input_count"));
  std::uint32_t input_count = stored_count<Io>(b.inputs);
  F(u32, flags);
  F(u32, main_mem_out_address);
  F(u32, plane);
  F(i32, output_zero_point);
  if constexpr (Io::kReads) {
    const std::uint64_t count_at = io.bytes().position();
    EMC_TRY(io.u32(input_count, "input_count"));
    if (input_count == 0) {
      return Error(Errc::kInvalidModel, "input_count is 0 (must be >= 1)").at_offset(count_at);
    }
  } else {
    EMC_TRY(io.u32(input_count, "input_count"));
  }
  EMC_TRY(io.resize(b.inputs, input_count, kEmcConcatInputBytes,
                    "EMC_CONCAT_INT8 input_count " + std::to_string(input_count)));
  for (auto& in : b.inputs) {
    EMC_TRY(io.u32(in.main_mem_address, "inputs.main_mem_address"));
    EMC_TRY(io.u32(in.channels, "inputs.channels"));
    EMC_TRY(io.i32(in.zero_point, "inputs.zero_point"));
    EMC_TRY(io.i32(in.multiplier, "inputs.multiplier"));
    EMC_TRY(io.i32(in.shift, "inputs.shift"));
  }
  return ok_status();
}

template <class Io>
Status fields(Io& io, LayerType, typename Io::template Ref<EmcLutInt8Body> b) {
  return table_body(io, b);
}

template <class Io>
Status fields(Io& io, LayerType, typename Io::template Ref<EmcPreluInt8Body> b) {
  if constexpr (!Io::kReads) {
    if (b.neg_multiplier.size() != b.channels || b.neg_shift.size() != b.channels) {
      return Error(Errc::kInvalidArgument, "EMC_PRELU_INT8: per-channel arrays of " +
                                               std::to_string(b.neg_multiplier.size()) + " and " +
                                               std::to_string(b.neg_shift.size()) +
                                               " entries for " + std::to_string(b.channels) +
                                               " channels");
    }
  }
  EMC_TRY(in_out_head(io, b));
  F(u32, channels);
  F(u32, plane);
  F(i32, input_zero_point);
  F(i32, output_zero_point);
  F(i32, pos_multiplier);
  F(i32, pos_shift);
  if constexpr (Io::kReads) {
    EMC_TRY(io.require_array(
        b.channels, 8,
        "EMC_PRELU_INT8 " + std::to_string(b.channels) + " channels: neg_multiplier, neg_shift"));
    b.neg_multiplier.resize(b.channels);
    b.neg_shift.resize(b.channels);
  }
  for (auto& x : b.neg_multiplier) EMC_TRY(io.i32(x, "neg_multiplier"));
  for (auto& x : b.neg_shift) EMC_TRY(io.i32(x, "neg_shift"));
  return ok_status();
}

template <class Io>
Status fields(Io& io, LayerType, typename Io::template Ref<EmcPadCropInt8Body> b) {
  EMC_TRY(emc_map_head(io, b));
  F(i32, pad_left);
  F(i32, pad_right);
  F(i32, pad_top);
  F(i32, pad_bottom);
  F(i32, fill);
  return ok_status();
}

template <class Io>
Status fields(Io& io, LayerType, typename Io::template Ref<EmcResizeNearestInt8Body> b) {
  EMC_TRY(emc_map_head(io, b));
  F(u32, mode);
  return ok_status();
}

#undef F

template <class B>
Result<LayerBody> decode(LayerType t, ByteReader& r, Tag<B>) {
  B b;
  BodyReader io(r);
  EMC_TRY(fields<BodyReader>(io, t, b));
  return LayerBody{std::move(b)};
}

// The fixed part of a body is what its field list writes with every trailing array empty, so
// the sizes the parser checks cannot drift from the codec.
template <class B>
std::uint32_t fixed_bytes(LayerType t, Tag<B>) {
  BodyWriter io(nullptr);
  (void)fields<BodyWriter>(io, t, B{});  // counting an empty body cannot fail
  return static_cast<std::uint32_t>(io.bytes());
}

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
    BodyWriter io(&w);
    return fields<BodyWriter>(io, type, std::get<T>(body));
  }
}

}  // namespace

// The switches below are generated from layer_types.def: each row's body struct selects its
// field list above, so a new type with an existing body is one .def row.
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
  return std::visit(
      [type](const auto& b) -> std::uint64_t {
        BodyWriter io(nullptr);
        (void)fields<BodyWriter>(io, type, b);  // bodies here were decoded or encoded already
        return io.bytes();
      },
      body);
}

}  // namespace emc::format::detail
