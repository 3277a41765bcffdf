// The kmodel V3 writer: explicit absolute-offset tracking and zero padding (kmodel_v3.md §1.5).
#include <new>
#include <string>

#include "body_codec.h"
#include "emc/format/byte_io.h"
#include "emc/format/kmodel_codec.h"
#include "kmodel_validate.h"

namespace emc::format {
namespace {

using detail::layer_ref;

Status check_conv_blobs(const Kmodel& m, const ConvBody& c, std::size_t index, LayerType type) {
  const KpuLayerFields f = c.fields();
  const std::uint64_t k2 = f.kernel_type == 1 ? 9 : 1;
  const std::uint64_t oc = static_cast<std::uint64_t>(f.out_channels());
  const std::uint64_t ic = static_cast<std::uint64_t>(f.in_channels());
  const std::uint64_t weights =
      (f.depth_wise_layer ? oc : oc * ic) * k2 * (m.eight_bit_weights() ? 1 : 2);
  if (c.weights.size() != weights || c.bn_words.size() != oc) {
    return Error(Errc::kInvalidArgument,
                 "conv blobs disagree with the registers: " + std::to_string(c.weights.size()) +
                     " weight bytes (expected " + std::to_string(weights) + "), " +
                     std::to_string(c.bn_words.size()) + " BN words (expected " +
                     std::to_string(oc) + ")")
        .with_layer(layer_ref(index, type));
  }
  return ok_status();
}

void write_blob_words(ByteWriter& w, std::span<const std::uint64_t> words) {
  for (std::uint64_t v : words) w.write_u64(v);
}

// Writes one conv body starting at w.position(). kCanonical lays the blobs out itself;
// kPreserve puts them at their recorded offsets.
Status write_conv(ByteWriter& w, ConvBody c, EncodeLayout layout, std::uint64_t body_offset) {
  if (layout == EncodeLayout::kCanonical) {
    // Compute the offsets first (the head that points at them is written before them).
    std::uint64_t pos = body_offset + kConvBodyFixedBytes;
    auto align = [](std::uint64_t p, std::uint64_t a) { return (p + a - 1) / a * a; };
    const std::uint64_t args = align(pos, kAlignConvArgument);
    const std::uint64_t weights = align(args + kKpuLayerArgumentBytes, kAlignConvWeights);
    const std::uint64_t bn = align(weights + c.weights.size(), kAlignConvBatchNorm);
    const std::uint64_t act = align(bn + 8 * c.bn_words.size(), kAlignConvActivation);
    if (act + kKpuActivationTableBytes > 0xffffffffu) {
      return Error(Errc::kInvalidArgument, "conv blobs end beyond 4 GiB (" + hex(act) + ")");
    }
    c.layer_offset = static_cast<std::uint32_t>(args);
    c.weights_offset = static_cast<std::uint32_t>(weights);
    c.bn_offset = static_cast<std::uint32_t>(bn);
    c.act_offset = static_cast<std::uint32_t>(act);
  }
  EMC_TRY(detail::encode_body(LayerType::kK210Conv, c, w));
  EMC_TRY(w.pad_to(c.layer_offset, "layer_offset"));
  write_blob_words(w, c.layer_words);
  EMC_TRY(w.pad_to(c.weights_offset, "weights_offset"));
  w.write_bytes(c.weights);
  EMC_TRY(w.pad_to(c.bn_offset, "bn_offset"));
  write_blob_words(w, c.bn_words);
  EMC_TRY(w.pad_to(c.act_offset, "act_offset"));
  write_blob_words(w, c.act_words);
  return ok_status();
}

Result<std::vector<std::uint8_t>> encode_impl(const Kmodel& m, const EncodeOptions& options) {
  if (m.layers.empty() || m.outputs.empty() || m.layers.size() > 0xffffffffu ||
      m.outputs.size() > 0xffffffffu) {
    return Error(Errc::kInvalidArgument, "a kmodel needs at least one layer and one output (" +
                                             std::to_string(m.layers.size()) + " layers, " +
                                             std::to_string(m.outputs.size()) + " outputs)");
  }
  const bool preserve = options.layout == EncodeLayout::kPreserve;
  ByteWriter w;
  w.write_u32(m.header.version);
  w.write_u32(m.header.flags);
  w.write_u32(m.header.arch);
  w.write_u32(static_cast<std::uint32_t>(m.layers.size()));
  w.write_u32(m.header.max_start_address);
  w.write_u32(m.header.main_mem_usage);
  w.write_u32(static_cast<std::uint32_t>(m.outputs.size()));
  for (const OutputDesc& o : m.outputs) {
    w.write_u32(o.address);
    w.write_u32(o.size);
  }
  const std::uint64_t headers_at = w.position();
  for (const Layer& l : m.layers) {
    w.write_u32(static_cast<std::uint32_t>(l.type));
    w.write_u32(0);  // body_size, patched below
  }
  for (std::size_t i = 0; i < m.layers.size(); ++i) {
    const Layer& l = m.layers[i];
    const std::uint64_t start = w.position();
    if (preserve && l.body_offset != start) {
      return Error(Errc::kInvalidArgument,
                   "kPreserve: recorded body_offset " + hex(l.body_offset) +
                       " does not follow the previous body (which ends at " + hex(start) +
                       "); encode with EncodeLayout::kCanonical")
          .with_layer(layer_ref(i, l.type));
    }
    Status st = ok_status();
    if (const auto* conv = std::get_if<ConvBody>(&l.body)) {
      EMC_TRY(check_conv_blobs(m, *conv, i, l.type));
      st = write_conv(w, *conv, options.layout, start);
    } else {
      st = detail::encode_body(l.type, l.body, w);
    }
    if (!st.ok()) return std::move(st).error().with_layer(layer_ref(i, l.type));
    if (preserve) {
      st = w.pad_to(start + l.body_size, "body_size");
      if (!st.ok()) return std::move(st).error().with_layer(layer_ref(i, l.type));
    } else {
      w.align_to(kAlignBodyEnd);
    }
    const std::uint64_t body_size = w.position() - start;
    if (body_size > 0xffffffffu) {
      return Error(Errc::kInvalidArgument, "body of " + std::to_string(body_size) +
                                               " bytes does not fit the uint32 body_size")
          .with_layer(layer_ref(i, l.type));
    }
    EMC_TRY(w.patch_u32_at(headers_at + kLayerHeaderBytes * i + 4,
                           static_cast<std::uint32_t>(body_size)));
  }
  std::vector<std::uint8_t> bytes = w.take();
  if (preserve && m.missing_tail_bytes > 0) {
    // Reproduce nncase v0.1's unwritten final pad: only padding (zero) bytes may be dropped.
    const Layer& last = m.layers.back();
    const std::uint64_t content = std::holds_alternative<ConvBody>(last.body)
                                      ? 0
                                      : detail::body_content_bytes(last.type, last.body);
    if (m.missing_tail_bytes >= kAlignBodyEnd ||
        (content > 0 && last.body_size - content < m.missing_tail_bytes)) {
      return Error(Errc::kInvalidArgument, "missing_tail_bytes " +
                                               std::to_string(m.missing_tail_bytes) +
                                               " is more than the last body's padding");
    }
    bytes.resize(bytes.size() - m.missing_tail_bytes);
  }
  return bytes;
}

}  // namespace

Result<std::vector<std::uint8_t>> encode_kmodel(const Kmodel& model, const EncodeOptions& options) {
  try {
    return encode_impl(model, options);
  } catch (const std::bad_alloc&) {
    return Error(Errc::kInternal, "out of memory while encoding the model");
  } catch (...) {
    return error_from_current_exception("encode_kmodel");
  }
}

}  // namespace emc::format
