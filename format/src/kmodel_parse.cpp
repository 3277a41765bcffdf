// The verifying kmodel V3 parser (robustness.md §2.1). Structure first (header, tables, every body
// and blob inside the file), then per-layer semantics (kmodel_validate.cpp).
#include <algorithm>
#include <array>
#include <new>
#include <stdexcept>
#include <string>

#include "body_codec.h"
#include "emc/format/byte_io.h"
#include "emc/format/kmodel_codec.h"
#include "emc/format/kpu_layout.h"
#include "kmodel_validate.h"

namespace emc::format {
namespace {

using detail::layer_ref;

Error version_error(std::span<const std::uint8_t> data, std::uint32_t version) {
  if (version == kKmodelV4Identifier) {
    std::string v = "4";
    if (data.size() >= 8) v = std::to_string(load_u32_le(data.data() + 4));
    if (v == "4") {
      return Error(Errc::kUnsupportedVersion,
                   "this is a kmodel V4 ('KMDL' identifier, nncase >= 0.2); only V3 is supported")
          .at_offset(0);
    }
    return Error(Errc::kUnsupportedVersion, "this is a kmodel 'KMDL' file of version " + v +
                                                " (nncase >= 0.2); only V3 is supported")
        .at_offset(0);
  }
  if (version == 1) {
    return Error(Errc::kUnsupportedVersion,
                 "this is a legacy kmodel V1 (kpu_model_header_t, kpu_model_load_from_buffer); "
                 "only V3 is supported")
        .at_offset(0);
  }
  if (version == 0x03000000u) {
    return Error(Errc::kUnsupportedVersion,
                 "version bytes 00 00 00 03: a byte-swapped (big-endian) kmodel V3; only "
                 "little-endian V3 is supported")
        .at_offset(0);
  }
  return Error(Errc::kUnsupportedVersion, "unsupported kmodel version " + std::to_string(version) +
                                              " (" + hex(version) + "); only V3 is supported")
      .at_offset(0);
}

// One blob of a conv body: [offset, offset + bytes).
struct Blob {
  const char* name;
  std::uint64_t field_offset;  // absolute offset of the uint32 that points at it
  std::uint64_t offset;
  std::uint64_t bytes;
  std::uint32_t align;
};

Status check_blob(const Blob& b, std::uint64_t region_begin, std::uint64_t region_end,
                  std::uint64_t file_size, const LayerRef& ref) {
  if (b.offset % b.align != 0) {
    return Error(Errc::kInvalidModel, std::string(b.name) + " " + hex(b.offset) +
                                          " is not aligned to " + std::to_string(b.align) +
                                          " bytes")
        .at_offset(b.field_offset)
        .with_layer(ref);
  }
  if (b.offset > file_size || b.bytes > file_size - b.offset) {
    return Error(Errc::kTruncatedModel, std::string(b.name) + " " + hex(b.offset) + " + " +
                                            std::to_string(b.bytes) + " bytes exceeds file size " +
                                            hex(file_size))
        .at_offset(b.field_offset)
        .with_layer(ref);
  }
  if (b.offset < region_begin || b.offset + b.bytes > region_end) {
    return Error(Errc::kInvalidModel, std::string(b.name) + " " + hex(b.offset) + " + " +
                                          std::to_string(b.bytes) +
                                          " bytes lies outside the layer's body [" +
                                          hex(region_begin) + ", " + hex(region_end) + ")")
        .at_offset(b.field_offset)
        .with_layer(ref);
  }
  return ok_status();
}

// Reads the four blobs a K210_CONV head points at. They must lie inside the body (after the
// 24-byte head), in the file, aligned (args 8, weights 128, BN 128, act 128: both converters'
// choices), and must not overlap; the body may end at most 7 padding bytes after the last blob.
Status decode_conv_blobs(std::span<const std::uint8_t> data, bool eight_bit, const Layer& layer,
                         std::size_t index, ConvBody& conv) {
  const LayerRef ref = layer_ref(index, layer.type);
  const std::uint64_t begin = layer.body_offset + kConvBodyFixedBytes;
  const std::uint64_t end = layer.body_offset + layer.body_size;
  const std::uint64_t size = data.size();

  const Blob args{"layer_offset", layer.body_offset + 8, conv.layer_offset, kKpuLayerArgumentBytes,
                  kAlignConvArgument};
  EMC_TRY(check_blob(args, begin, end, size, ref));
  for (std::size_t w = 0; w < kKpuLayerArgumentWords; ++w) {
    conv.layer_words[w] = load_u64_le(data.data() + conv.layer_offset + 8 * w);
  }
  const KpuLayerFields f = conv.fields();
  if (f.kernel_type != 0 && f.kernel_type != 1) {
    return Error(Errc::kInvalidLayerConfig,
                 "kernel_type " + std::to_string(f.kernel_type) + " is not 0 (1x1) or 1 (3x3)")
        .at_offset(conv.layer_offset + 8ull * 4)
        .with_layer(ref);
  }
  const std::uint64_t k2 = f.kernel_type == 1 ? 9 : 1;
  const std::uint64_t oc = static_cast<std::uint64_t>(f.out_channels());
  const std::uint64_t ic = static_cast<std::uint64_t>(f.in_channels());
  const std::uint64_t weights = (f.depth_wise_layer ? oc : oc * ic) * k2 * (eight_bit ? 1 : 2);

  std::array<Blob, 4> blobs = {
      args,
      Blob{"weights_offset", layer.body_offset + 12, conv.weights_offset, weights,
           kAlignConvWeights},
      Blob{"bn_offset", layer.body_offset + 16, conv.bn_offset, 8 * oc, kAlignConvBatchNorm},
      // Maix-EMC aligns the activation table to 128, nncase to 256: accept both.
      Blob{"act_offset", layer.body_offset + 20, conv.act_offset, kKpuActivationTableBytes, 128},
  };
  for (std::size_t k = 1; k < blobs.size(); ++k)
    EMC_TRY(check_blob(blobs[k], begin, end, size, ref));

  std::array<Blob, 4> sorted = blobs;
  std::sort(sorted.begin(), sorted.end(),
            [](const Blob& a, const Blob& b) { return a.offset < b.offset; });
  for (std::size_t k = 1; k < sorted.size(); ++k) {
    if (sorted[k - 1].offset + sorted[k - 1].bytes > sorted[k].offset) {
      return Error(Errc::kInvalidModel, std::string(sorted[k].name) + " " + hex(sorted[k].offset) +
                                            " overlaps " + sorted[k - 1].name + " " +
                                            hex(sorted[k - 1].offset) + " + " +
                                            std::to_string(sorted[k - 1].bytes) + " bytes")
          .at_offset(sorted[k].field_offset)
          .with_layer(ref);
    }
  }
  const std::uint64_t content_end = sorted.back().offset + sorted.back().bytes;
  if (end - content_end >= kAlignBodyEnd) {
    return Error(Errc::kInvalidModel,
                 "body_size " + std::to_string(layer.body_size) + " extends " +
                     std::to_string(end - content_end) +
                     " bytes past the last blob (at most 7 bytes of padding allowed)")
        .at_offset(layer.body_offset)
        .with_layer(ref);
  }

  conv.weights.assign(data.begin() + conv.weights_offset,
                      data.begin() + conv.weights_offset + weights);
  conv.bn_words.resize(oc);
  for (std::uint64_t c = 0; c < oc; ++c) {
    conv.bn_words[c] = load_u64_le(data.data() + conv.bn_offset + 8 * c);
  }
  for (std::size_t w = 0; w < conv.act_words.size(); ++w) {
    conv.act_words[w] = load_u64_le(data.data() + conv.act_offset + 8 * w);
  }
  return ok_status();
}

Result<Kmodel> parse_impl(std::span<const std::uint8_t> data, const ParseLimits& limits) {
  const std::uint64_t size = data.size();
  if (size > limits.max_file_bytes) {
    return Error(Errc::kInvalidModel, "file size " + std::to_string(size) +
                                          " bytes exceeds the limit of " +
                                          std::to_string(limits.max_file_bytes))
        .at_offset(0);
  }
  if (size >= 4) {
    const std::uint32_t version = load_u32_le(data.data());
    if (version != kKmodelVersion3) return version_error(data, version);
  }
  ByteReader r(data);
  if (size < kHeaderBytes) {
    return Error(Errc::kTruncatedModel, "file has " + std::to_string(size) +
                                            " bytes, the kmodel V3 header needs " +
                                            std::to_string(kHeaderBytes))
        .at_offset(size);
  }
  Kmodel m;
  KmodelHeader& h = m.header;
  EMC_TRY(r.read_u32(h.version, "version"));
  EMC_TRY(r.read_u32(h.flags, "flags"));
  EMC_TRY(r.read_u32(h.arch, "arch"));
  EMC_TRY(r.read_u32(h.layers_length, "layers_length"));
  EMC_TRY(r.read_u32(h.max_start_address, "max_start_address"));
  EMC_TRY(r.read_u32(h.main_mem_usage, "main_mem_usage"));
  EMC_TRY(r.read_u32(h.output_count, "output_count"));

  if ((h.flags & ~kHeaderFlag8BitWeights) != 0) {
    return Error(Errc::kInvalidModel,
                 "flags " + hex(h.flags) +
                     " has undefined bits set (only bit 0 = 8-bit weights is defined)")
        .at_offset(4);
  }
  if (h.arch != 0) {
    return Error(Errc::kUnsupportedVersion,
                 "arch " + std::to_string(h.arch) + " is not 0 (the only V3 architecture)")
        .at_offset(8);
  }
  if (h.layers_length == 0 || h.layers_length > limits.max_layers) {
    return Error(Errc::kInvalidModel, "layers_length " + std::to_string(h.layers_length) +
                                          " is outside [1, " + std::to_string(limits.max_layers) +
                                          "]")
        .at_offset(12);
  }
  if (h.max_start_address > kKpuRamRows) {
    return Error(Errc::kInvalidModel, "max_start_address " + hex(h.max_start_address) +
                                          " is beyond the KPU RAM (" + hex(kKpuRamRows) +
                                          " rows of 64 bytes)")
        .at_offset(16);
  }
  if (h.main_mem_usage > limits.max_main_mem_bytes) {
    return Error(Errc::kInvalidModel, "main_mem_usage " + std::to_string(h.main_mem_usage) +
                                          " exceeds the limit of " +
                                          std::to_string(limits.max_main_mem_bytes) + " bytes")
        .at_offset(20);
  }
  if (h.output_count == 0 || h.output_count > limits.max_outputs) {
    return Error(Errc::kInvalidModel, "output_count " + std::to_string(h.output_count) +
                                          " is outside [1, " + std::to_string(limits.max_outputs) +
                                          "]")
        .at_offset(24);
  }
  const std::uint64_t outputs_at = kHeaderBytes;
  const std::uint64_t layer_headers_at = outputs_at + kOutputDescBytes * h.output_count;
  const std::uint64_t body_start = layer_headers_at + kLayerHeaderBytes * h.layers_length;
  if (body_start > size) {
    return Error(Errc::kTruncatedModel, "the tables of " + std::to_string(h.output_count) +
                                            " outputs and " + std::to_string(h.layers_length) +
                                            " layer headers end at " + hex(body_start) +
                                            ", beyond the file size " + hex(size))
        .at_offset(size);
  }

  m.outputs.resize(h.output_count);
  for (std::size_t i = 0; i < m.outputs.size(); ++i) {
    OutputDesc& o = m.outputs[i];
    const std::uint64_t at = r.position();
    EMC_TRY(r.read_u32(o.address, "output address"));
    EMC_TRY(r.read_u32(o.size, "output size"));
    if (o.size == 0 || std::uint64_t{o.address} + o.size > h.main_mem_usage) {
      return Error(Errc::kInvalidModel, "output " + std::to_string(i) + " address " +
                                            hex(o.address) + " + size " + std::to_string(o.size) +
                                            " is empty or exceeds main_mem_usage " +
                                            std::to_string(h.main_mem_usage))
          .at_offset(at);
    }
  }

  std::vector<LayerHeader> headers(h.layers_length);
  m.layers.resize(h.layers_length);
  for (std::size_t i = 0; i < headers.size(); ++i) {
    const std::uint64_t at = r.position();
    EMC_TRY(r.read_u32(headers[i].type, "layer type"));
    EMC_TRY(r.read_u32(headers[i].body_size, "layer body_size"));
    const auto type = layer_type_from_value(headers[i].type);
    if (!type || *type == LayerType::kInvalid) {
      return Error(Errc::kUnsupportedLayer,
                   "unsupported layer type " + std::to_string(headers[i].type))
          .at_offset(at)
          .with_layer(LayerRef{static_cast<std::int64_t>(i), "", ""});
    }
    m.layers[i].type = *type;
    m.layers[i].body_size = headers[i].body_size;
    const std::uint32_t fixed = detail::body_fixed_bytes(*type);
    if (headers[i].body_size < fixed) {
      return Error(Errc::kInvalidModel, "body_size " + std::to_string(headers[i].body_size) +
                                            " is smaller than the " + std::to_string(fixed) +
                                            "-byte " + std::string(to_string(*type)) + " argument")
          .at_offset(at + 4)
          .with_layer(layer_ref(i, *type));
    }
  }

  // Bodies, walked sequentially (body_size is authoritative, kmodel_v3.md §1.1).
  std::uint64_t offset = body_start;
  for (std::size_t i = 0; i < m.layers.size(); ++i) {
    Layer& layer = m.layers[i];
    const LayerRef ref = layer_ref(i, layer.type);
    layer.body_offset = offset;
    const std::uint64_t end = offset + layer.body_size;
    const bool last = i + 1 == m.layers.size();
    // nncase v0.1 never wrote the final body's pad to 8: tolerate up to 7 missing bytes there,
    // provided the body's content itself is present (checked by decoding from present bytes).
    if (end > size && (!last || end - size >= kAlignBodyEnd)) {
      return Error(Errc::kTruncatedModel, "body of " + std::to_string(layer.body_size) +
                                              " bytes at " + hex(offset) + " ends at " + hex(end) +
                                              ", beyond the file size " + hex(size))
          .at_offset(offset)
          .with_layer(ref);
    }
    const std::uint64_t present_end = std::min(end, size);
    ByteReader body_reader(data.subspan(offset, present_end - offset), offset);
    auto body = detail::decode_body(layer.type, body_reader);
    if (!body.ok()) {
      // If the last body is short, tell "content cut off" (decodes once the missing pad bytes are
      // supplied) from "counts disagree with body_size" (fails even then).
      std::vector<std::uint8_t> padded;
      if (end > size) {
        padded.assign(data.begin() + offset, data.end());
        padded.resize(layer.body_size, 0);
        ByteReader full_reader(padded, offset);
        auto full = detail::decode_body(layer.type, full_reader);
        if (!full.ok()) return std::move(full).error().with_layer(ref);
        return Error(Errc::kTruncatedModel,
                     "the file ends " + std::to_string(end - size) +
                         " bytes before the end of the last body and its content is incomplete: " +
                         body.error().message())
            .at_offset(body.error().byte_offset().value_or(offset))
            .with_layer(ref);
      }
      return std::move(body).error().with_layer(ref);
    }
    layer.body = std::move(body).value();
    if (auto* conv = std::get_if<ConvBody>(&layer.body)) {
      EMC_TRY(decode_conv_blobs(data, m.eight_bit_weights(), layer, i, *conv));
    } else {
      const std::uint64_t content = detail::body_content_bytes(layer.type, layer.body);
      if (layer.body_size - content >= kAlignBodyEnd) {
        return Error(Errc::kInvalidModel,
                     "body_size " + std::to_string(layer.body_size) + " disagrees with the " +
                         std::to_string(content) +
                         " bytes its own counts imply (at most 7 bytes of padding allowed)")
            .at_offset(layer_headers_at + kLayerHeaderBytes * i + 4)
            .with_layer(ref);
      }
    }
    if (last && end > size) m.missing_tail_bytes = static_cast<std::uint32_t>(end - size);
    offset = end;
  }
  if (offset < size) {
    return Error(Errc::kInvalidModel, std::to_string(size - offset) +
                                          " unexpected bytes after the last layer body (bodies "
                                          "end at " +
                                          hex(offset) + ")")
        .at_offset(offset);
  }
  for (std::size_t i = 0; i < m.layers.size(); ++i) EMC_TRY(detail::validate_layer(m, i));
  return m;
}

}  // namespace

Result<Kmodel> parse_kmodel(std::span<const std::uint8_t> data, const ParseLimits& limits) {
  try {
    return parse_impl(data, limits);
  } catch (const std::bad_alloc&) {
    return Error(Errc::kInvalidModel, "out of memory while decoding the model");
  } catch (const std::length_error&) {
    return Error(Errc::kInvalidModel, "a count in the model is too large to allocate");
  } catch (...) {
    return error_from_current_exception("parse_kmodel");
  }
}

}  // namespace emc::format
