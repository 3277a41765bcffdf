// kmodel V3 structures (kendryte-standalone-sdk kpu.h; ../shared/docs/kmodel_v3.md §1-§3).
//
// Plain structs mirroring kpu.h field for field (C names in comments), read and written only by
// the explicit little-endian codec in kmodel_codec.h (byte_io.h): no #pragma pack, no casting of
// file bytes. All offsets/sizes are bytes unless stated; "row" = 64 bytes of KPU RAM.
//
// Bodies with a trailing array in kpu.h (concat, fully connected, channel-wise dequantize) are a
// fixed head plus an owning std::vector here. The K210_CONV body owns copies of the blobs it points
// at (register words, weights, batch-norm words, activation table) together with their absolute
// file offsets, so a decoded model is self-contained and re-encodes byte for byte.
#pragma once

#include <array>
#include <cstdint>
#include <type_traits>
#include <variant>
#include <vector>

#include "emc/format/emc_layers.h"
#include "emc/format/kpu_regs.h"
#include "emc/format/layer_types.h"

namespace emc::format {

inline constexpr std::uint32_t kKmodelVersion3 = 3;
inline constexpr std::uint32_t kKmodelV4Identifier = 0x4B4D444C;  // 'KMDL' (file bytes "LDMK")
inline constexpr std::uint32_t kHeaderFlag8BitWeights = 1;        // flags bit 0
inline constexpr std::uint32_t kLayerFlagMainMemOut = 1;          // K210_CONV body flags bit 0

// Alignments of absolute file offsets used by the writers (kmodel_v3.md §1.5).
inline constexpr std::uint32_t kAlignBodyEnd = 8;
inline constexpr std::uint32_t kAlignConvArgument = 8;
inline constexpr std::uint32_t kAlignConvWeights = 128;
inline constexpr std::uint32_t kAlignConvBatchNorm = 128;
inline constexpr std::uint32_t kAlignConvActivation = 256;  // nncase; Maix-EMC files use 128

// kpu_kmodel_header_t, 28 bytes at offset 0.
struct KmodelHeader {
  std::uint32_t version = kKmodelVersion3;       // 0: must be 3
  std::uint32_t flags = kHeaderFlag8BitWeights;  // 4: bit 0 = 8-bit weights, else 16-bit
  std::uint32_t arch = 0;                        // 8: must be 0
  std::uint32_t layers_length = 0;               // 12
  std::uint32_t max_start_address = 0;  // 16: lowest KPU row used (informational; SDK ignores)
  std::uint32_t main_mem_usage = 0;     // 20: bytes of the main scratch buffer
  std::uint32_t output_count = 0;       // 24
  bool operator==(const KmodelHeader&) const = default;
};
inline constexpr std::size_t kHeaderBytes = 28;

// kpu_model_output_t, 8 bytes each, after the header.
struct OutputDesc {
  std::uint32_t address = 0;  // byte offset in main memory
  std::uint32_t size = 0;     // bytes
  bool operator==(const OutputDesc&) const = default;
};
inline constexpr std::size_t kOutputDescBytes = 8;

// kpu_model_layer_header_t, 8 bytes each, after the outputs.
struct LayerHeader {
  std::uint32_t type = 0;       // raw LayerType value
  std::uint32_t body_size = 0;  // bytes, including internal and trailing padding
  bool operator==(const LayerHeader&) const = default;
};
inline constexpr std::size_t kLayerHeaderBytes = 8;

// kpu_model_shape_t
struct Shape3 {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  std::uint32_t channels = 0;
  bool operator==(const Shape3&) const = default;
};

// kpu_model_activation_t (FULLY_CONNECTED, AVERAGE_POOL2D)
enum class CpuActivation : std::uint32_t { kLinear = 0, kRelu = 1, kRelu6 = 2 };

// ---- K210_CONV (10240): kpu_model_conv_layer_argument_t, 24 bytes + blobs --------------------
struct ConvBody {
  std::uint32_t flags = 0;                 // bit 0: DMA the output to main memory
  std::uint32_t main_mem_out_address = 0;  // dense CHW uint8 output in main memory
  std::uint32_t layer_offset = 0;          // absolute file offset of the 96-byte register block
  std::uint32_t weights_offset = 0;        // absolute file offset of the weights
  std::uint32_t bn_offset = 0;             // absolute file offset of the BN words (8 B x OC)
  std::uint32_t act_offset = 0;            // absolute file offset of the activation table (144 B)

  // Blobs (copied from the file on decode; laid out by the writer on encode).
  KpuLayerWords layer_words{};          // raw register words as in the file
  std::vector<std::uint8_t> weights;    // raw bytes: uint8, or uint16 LE in 16-bit mode
  std::vector<std::uint64_t> bn_words;  // raw BN words, one per output channel
  KpuActivationWords act_words{};       // raw activation table words

  // Decoded convenience views (derived from the raw words above).
  KpuLayerFields fields() const { return unpack_kpu_layer(layer_words); }
  bool main_mem_out() const { return (flags & kLayerFlagMainMemOut) != 0; }
  bool operator==(const ConvBody&) const = default;
};
inline constexpr std::size_t kConvBodyFixedBytes = 24;

// ---- ADD (1): kpu_model_add_layer_argument_t, 20 bytes --------------------------------------
struct AddBody {
  std::uint32_t flags = 0;
  std::uint32_t main_mem_in_a_address = 0;  // float32[count]
  std::uint32_t main_mem_in_b_address = 0;
  std::uint32_t main_mem_out_address = 0;
  std::uint32_t count = 0;  // elements
  bool operator==(const AddBody&) const = default;
};

// ---- QUANTIZED_ADD (2): kpu_model_quant_add_layer_argument_t, 56 bytes ----------------------
struct QuantizedAddBody {
  std::uint32_t flags = 0;
  std::uint32_t main_mem_in_a_address = 0;  // uint8[count]
  std::uint32_t main_mem_in_b_address = 0;
  std::uint32_t main_mem_out_address = 0;
  std::uint32_t count = 0;
  std::int32_t in_a_offset = 0, in_a_mul = 0, in_a_shift = 0;
  std::int32_t in_b_offset = 0, in_b_mul = 0, in_b_shift = 0;
  std::int32_t out_offset = 0, out_mul = 0, out_shift = 0;
  bool operator==(const QuantizedAddBody&) const = default;
};

// ---- GLOBAL_{MAX,AVERAGE}_POOL2D and quantized forms (3,4,5,6): gap2d argument, 20 bytes ----
struct GlobalPoolBody {
  std::uint32_t flags = 0;
  std::uint32_t main_mem_in_address = 0;   // CHW, float32 or uint8
  std::uint32_t main_mem_out_address = 0;  // C values
  std::uint32_t kernel_size = 0;           // H*W
  std::uint32_t channels = 0;
  bool operator==(const GlobalPoolBody&) const = default;
};

// ---- MAX/AVERAGE_POOL2D and quantized forms (7,8,9,10): 60 bytes (+4 act for float) --------
struct Pool2dBody {
  std::uint32_t flags = 0;
  std::uint32_t main_mem_in_address = 0;   // CHW
  std::uint32_t main_mem_out_address = 0;  // CHW
  Shape3 in_shape;
  Shape3 out_shape;
  std::uint32_t kernel_width = 0, kernel_height = 0;
  std::uint32_t stride_width = 0, stride_height = 0;
  std::uint32_t padding_width = 0, padding_height = 0;
  // Present in the body (4 more bytes) only for the float types 7 and 9
  // (kpu_model_ave_pool2d_layer_argument_t; ignored by the SDK).
  CpuActivation act = CpuActivation::kLinear;
  bool operator==(const Pool2dBody&) const = default;
};

// ---- QUANTIZE (11) / DEQUANTIZE (12): 24 bytes ---------------------------------------------
// real = q * scale + bias
struct QuantizeBody {
  std::uint32_t flags = 0;
  std::uint32_t main_mem_in_address = 0;
  std::uint32_t main_mem_out_address = 0;  // kpu.h: mem_out_address
  std::uint32_t count = 0;
  float scale = 1.0f;
  float bias = 0.0f;
  bool operator==(const QuantizeBody&) const = default;
};
using DequantizeBody = QuantizeBody;

// ---- REQUANTIZE (13): 16 + 256 bytes -------------------------------------------------------
struct RequantizeBody {
  std::uint32_t flags = 0;
  std::uint32_t main_mem_in_address = 0;
  std::uint32_t main_mem_out_address = 0;
  std::uint32_t count = 0;
  std::array<std::uint8_t, 256> table{};
  bool operator==(const RequantizeBody&) const = default;
};

// ---- L2_NORMALIZATION (14), SOFTMAX (15), LOGISTIC (25): 16 bytes ---------------------------
struct ChannelsBody {
  std::uint32_t flags = 0;
  std::uint32_t main_mem_in_address = 0;  // float32[channels]
  std::uint32_t main_mem_out_address = 0;
  std::uint32_t channels = 0;
  bool operator==(const ChannelsBody&) const = default;
};

// ---- CONCAT (16) / QUANTIZED_CONCAT (17): 12 + 8n bytes -------------------------------------
struct MemRange {
  std::uint32_t start = 0;  // main-memory byte offset
  std::uint32_t size = 0;   // bytes
  bool operator==(const MemRange&) const = default;
};
struct ConcatBody {
  std::uint32_t flags = 0;
  std::uint32_t main_mem_out_address = 0;
  std::vector<MemRange> inputs;  // input_count is inputs.size()
  bool operator==(const ConcatBody&) const = default;
};

// ---- FULLY_CONNECTED (18) / QUANTIZED_FULLY_CONNECTED (19): 24 + 4(in*out + out) -----------
struct FullyConnectedBody {
  std::uint32_t flags = 0;
  std::uint32_t main_mem_in_address = 0;   // float32[in_channels]
  std::uint32_t main_mem_out_address = 0;  // float32[out_channels]
  std::uint32_t in_channels = 0;
  std::uint32_t out_channels = 0;
  CpuActivation act = CpuActivation::kLinear;
  std::vector<float> weights;  // row-major [out][in]
  std::vector<float> bias;     // [out]
  bool operator==(const FullyConnectedBody&) const = default;
};

// ---- TENSORFLOW_FLATTEN (20) / QUANTIZED_TENSORFLOW_FLATTEN (21): 24 bytes ------------------
struct FlattenBody {
  std::uint32_t flags = 0;
  std::uint32_t main_mem_in_address = 0;   // CHW
  std::uint32_t main_mem_out_address = 0;  // HWC
  Shape3 shape;
  bool operator==(const FlattenBody&) const = default;
};

// ---- (QUANTIZED_)RESIZE_NEAREST_NEIGHBOR (22, 23): 36 bytes --------------------------------
struct ResizeNearestBody {
  std::uint32_t flags = 0;
  std::uint32_t main_mem_in_address = 0;
  std::uint32_t main_mem_out_address = 0;
  Shape3 in_shape;
  std::uint32_t out_width = 0;
  std::uint32_t out_height = 0;
  std::uint32_t align_corners = 0;  // ignored by the SDK
  bool operator==(const ResizeNearestBody&) const = default;
};

// ---- CHANNELWISE_DEQUANTIZE (24): 20 + 8C bytes --------------------------------------------
struct ChannelQuant {
  float scale = 1.0f;
  float bias = 0.0f;
  bool operator==(const ChannelQuant&) const = default;
};
struct ChannelwiseDequantizeBody {
  std::uint32_t flags = 0;
  std::uint32_t main_mem_in_address = 0;
  std::uint32_t main_mem_out_address = 0;
  std::uint32_t channel_size = 0;    // elements per channel
  std::vector<ChannelQuant> params;  // channels is params.size()
  bool operator==(const ChannelwiseDequantizeBody&) const = default;
};

// ---- K210_ADD_PADDING (10241): 16 bytes -----------------------------------------------------
struct AddPaddingBody {
  std::uint32_t flags = 0;
  std::uint32_t main_mem_in_address = 0;  // uint8[channels]
  std::uint32_t kpu_mem_out_address = 0;  // KPU row (64-byte units)
  std::uint32_t channels = 0;
  bool operator==(const AddPaddingBody&) const = default;
};

// ---- K210_REMOVE_PADDING (10242): 16 bytes --------------------------------------------------
struct RemovePaddingBody {
  std::uint32_t flags = 0;
  std::uint32_t main_mem_in_address = 0;   // dense CHW of 4x4 maps
  std::uint32_t main_mem_out_address = 0;  // uint8[channels]
  std::uint32_t channels = 0;
  bool operator==(const RemovePaddingBody&) const = default;
};

// ---- K210_UPLOAD (10243): 24 bytes ----------------------------------------------------------
struct UploadBody {
  std::uint32_t flags = 0;
  std::uint32_t main_mem_in_address = 0;  // dense CHW uint8
  std::uint32_t kpu_mem_out_address = 0;  // KPU row (64-byte units)
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  std::uint32_t channels = 0;
  bool operator==(const UploadBody&) const = default;
};

// A decoded body. The alternative is determined by the layer type (several types share one
// struct: e.g. SOFTMAX, L2_NORMALIZATION and LOGISTIC all use ChannelsBody), so a Layer keeps its
// LayerType next to the body.
using LayerBody =
    std::variant<ConvBody, AddBody, QuantizedAddBody, GlobalPoolBody, Pool2dBody, QuantizeBody,
                 RequantizeBody, ChannelsBody, ConcatBody, FullyConnectedBody, FlattenBody,
                 ResizeNearestBody, ChannelwiseDequantizeBody, AddPaddingBody, RemovePaddingBody,
                 UploadBody, EmcConv2dInt8Body, EmcConv2dF32Body, EmcQuantizeInt8Body,
                 EmcPool2dInt8Body, EmcElementwiseInt8Body, EmcConcatInt8Body, EmcLutInt8Body,
                 EmcPadCropInt8Body, EmcResizeNearestInt8Body, EmcPreluInt8Body>;

struct Layer {
  LayerType type = LayerType::kInvalid;
  LayerBody body;
  // Where the body starts in the file and its declared size (set by the decoder; ignored by the
  // encoder, which recomputes them).
  std::uint64_t body_offset = 0;
  std::uint32_t body_size = 0;
  bool operator==(const Layer&) const = default;
};

// A whole decoded model: what the writer takes and the parser returns.
struct Kmodel {
  KmodelHeader header;
  std::vector<OutputDesc> outputs;
  std::vector<Layer> layers;
  // Bytes of the last body's trailing alignment padding that are absent from the file (nncase
  // v0.1 advanced its stream position past the final pad without writing it: nncase01_iris and
  // nncase01_yolo20 end 4 bytes before body_offset + body_size of their last layer). Set by the
  // parser (0..7); EncodeLayout::kPreserve omits that many trailing zero bytes, kCanonical ignores
  // it.
  std::uint32_t missing_tail_bytes = 0;
  bool eight_bit_weights() const { return (header.flags & kHeaderFlag8BitWeights) != 0; }
  // True when some layer has an EMC type (is_emc_type): only EMC's runtime runs such a file.
  bool has_emc_layers() const {
    for (const Layer& l : layers) {
      if (is_emc_type(l.type)) return true;
    }
    return false;
  }
};

static_assert(std::is_trivially_copyable_v<KmodelHeader>);
static_assert(std::is_trivially_copyable_v<OutputDesc>);
static_assert(std::is_trivially_copyable_v<LayerHeader>);
static_assert(sizeof(KmodelHeader) == kHeaderBytes);
static_assert(sizeof(OutputDesc) == kOutputDescBytes);
static_assert(sizeof(LayerHeader) == kLayerHeaderBytes);
static_assert(sizeof(AddBody) == 20);
static_assert(sizeof(QuantizedAddBody) == 56);
static_assert(sizeof(GlobalPoolBody) == 20);
static_assert(sizeof(Pool2dBody) == 64);
static_assert(sizeof(QuantizeBody) == 24);
static_assert(sizeof(RequantizeBody) == 272);
static_assert(sizeof(ChannelsBody) == 16);
static_assert(sizeof(FlattenBody) == 24);
static_assert(sizeof(ResizeNearestBody) == 36);
static_assert(sizeof(AddPaddingBody) == 16);
static_assert(sizeof(RemovePaddingBody) == 16);
static_assert(sizeof(UploadBody) == 24);

}  // namespace emc::format
