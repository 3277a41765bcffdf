#include "kmodel_validate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "emc/format/kmodel_codec.h"
#include "emc/format/kpu_layout.h"
#include "emc/format/layer_footprint.h"

namespace emc::format::detail {

LayerRef layer_ref(std::size_t index, LayerType type) {
  return LayerRef{static_cast<std::int64_t>(index), "", std::string(to_string(type))};
}

std::uint32_t kpu_pool_output_extent(std::uint32_t pool_type, std::uint32_t in) {
  switch (pool_type) {
    case 1:
    case 2:
    case 5:
    case 6:
      return in / 2;  // 2x2 stride 2, floor
    case 3:
    case 4:
    case 7:
      return in / 4;  // 4x4 stride 4, floor
    default:
      return in;  // 0 bypass, 8/9 2x2 stride 1
  }
}

namespace {

// The `channels` field of the bodies that have no other field to check, or nullptr.
const std::uint32_t* channels_field(const LayerBody& body) {
  if (const auto* b = std::get_if<ChannelsBody>(&body)) return &b->channels;
  if (const auto* b = std::get_if<AddPaddingBody>(&body)) return &b->channels;
  if (const auto* b = std::get_if<RemovePaddingBody>(&body)) return &b->channels;
  return nullptr;
}

// Collects the checks of one layer; every failure names the field, value and bound.
class LayerChecker {
 public:
  LayerChecker(const Layer& layer, std::uint64_t main_mem_bytes, std::size_t index)
      : main_mem_bytes_(main_mem_bytes), layer_(layer), index_(index) {}

  Error fail(std::uint64_t field_offset, const std::string& msg,
             Errc code = Errc::kInvalidModel) const {
    return Error(code, msg)
        .at_offset(layer_.body_offset + field_offset)
        .with_layer(layer_ref(index_, layer_.type));
  }

  // [address, address + bytes) must lie inside [0, main_mem_usage).
  Status main(std::uint64_t field_offset, std::string_view field, std::uint64_t address,
              std::uint64_t bytes) const {
    const std::uint64_t limit = main_mem_bytes_;
    if (address > limit || bytes > limit - address) {
      return fail(field_offset, std::string(field) + " " + hex(address) + " + " +
                                    std::to_string(bytes) + " bytes exceeds main_mem_usage " +
                                    std::to_string(limit));
    }
    return ok_status();
  }

  // A map of `bytes` at KPU row `row` must lie inside the 2 MiB KPU RAM.
  Status kpu(std::uint64_t field_offset, std::string_view what, std::uint64_t row,
             std::uint64_t bytes) const {
    const std::uint64_t start = row * kKpuRowBytes;
    if (start > kKpuRamBytes || bytes > kKpuRamBytes - start) {
      return fail(field_offset, std::string(what) + " at KPU row " + std::to_string(row) + " + " +
                                    std::to_string(bytes) + " bytes exceeds the 2 MiB KPU RAM (" +
                                    std::to_string(kKpuRowBytes) + "-byte rows 0.." +
                                    std::to_string(kKpuRamRows - 1) + ")");
    }
    return ok_status();
  }

  Status positive(std::uint64_t field_offset, const char* field, std::uint64_t v) const {
    if (v == 0) return fail(field_offset, std::string(field) + " is 0 (must be >= 1)");
    return ok_status();
  }

  Status finite(std::uint64_t field_offset, const char* field, float v) const {
    if (!std::isfinite(v)) {
      return fail(field_offset, std::string(field) + " " + std::to_string(v) + " is not finite",
                  Errc::kInvalidLayerConfig);
    }
    return ok_status();
  }

  Status shift(std::uint64_t field_offset, const char* field, std::int32_t v) const {
    if (v < 0 || v > 32) {
      return fail(field_offset,
                  std::string(field) + " " + std::to_string(v) + " is outside [0, 32]",
                  Errc::kInvalidLayerConfig);
    }
    return ok_status();
  }

  Status run();

 private:
  // Every range of layer_footprint() inside main memory / KPU RAM, in the order reads, writes.
  Status ranges() const;
  Status conv(const ConvBody& b) const;
  Status emc_conv(const EmcConvGeometry& g, std::uint64_t elem_bytes) const;
  Status emc_conv_int8(const EmcConv2dInt8Body& b) const;
  Status emc_conv_f32(const EmcConv2dF32Body& b) const;
  Status emc_quantize(const EmcQuantizeInt8Body& b) const;
  Status emc_pool(const EmcPool2dInt8Body& b) const;
  Status emc_elementwise(const EmcElementwiseInt8Body& b) const;
  Status emc_concat(const EmcConcatInt8Body& b) const;
  Status emc_lut(const EmcLutInt8Body& b) const;
  Status emc_prelu(const EmcPreluInt8Body& b) const;
  // The head the int8 pool, pad/crop and resize bodies share: flags, then in w/h, channels and
  // out w/h at offsets 12..28, each at least 1.
  template <typename Body>
  Status emc_map_head(const Body& b) const {
    EMC_TRY(reserved_flags(b.flags));
    EMC_TRY(positive(12, "in_width", b.in_width));
    EMC_TRY(positive(16, "in_height", b.in_height));
    EMC_TRY(positive(20, "channels", b.channels));
    EMC_TRY(positive(24, "out_width", b.out_width));
    return positive(28, "out_height", b.out_height);
  }
  Status emc_pad_crop(const EmcPadCropInt8Body& b) const;
  Status emc_resize(const EmcResizeNearestInt8Body& b) const;
  // Field checks of the EMC int8 types; each names the field and its bound.
  Status reserved_flags(std::uint32_t flags) const;
  Status int8_value(std::uint64_t off, const std::string& field, std::int32_t v) const;
  Status clamp_pair(std::uint64_t off, std::int32_t lo, std::int32_t hi) const;
  Status multiplier_shift(std::uint64_t off, const std::string& name, std::int32_t m,
                          std::int32_t s, std::int32_t shift_min, std::int32_t shift_max) const;

  std::uint64_t main_mem_bytes_;
  const Layer& layer_;
  std::size_t index_;
};

Status LayerChecker::run() {
  const LayerType t = layer_.type;
  const LayerBody& body = layer_.body;
  if (const auto* b = std::get_if<ConvBody>(&body)) return conv(*b);
  if (const auto* b = std::get_if<EmcConv2dInt8Body>(&body)) return emc_conv_int8(*b);
  if (const auto* b = std::get_if<EmcConv2dF32Body>(&body)) return emc_conv_f32(*b);
  if (const auto* b = std::get_if<EmcQuantizeInt8Body>(&body)) return emc_quantize(*b);
  if (const auto* b = std::get_if<EmcPool2dInt8Body>(&body)) return emc_pool(*b);
  if (const auto* b = std::get_if<EmcElementwiseInt8Body>(&body)) return emc_elementwise(*b);
  if (const auto* b = std::get_if<EmcConcatInt8Body>(&body)) return emc_concat(*b);
  if (const auto* b = std::get_if<EmcLutInt8Body>(&body)) return emc_lut(*b);
  if (const auto* b = std::get_if<EmcPreluInt8Body>(&body)) return emc_prelu(*b);
  if (const auto* b = std::get_if<EmcPadCropInt8Body>(&body)) return emc_pad_crop(*b);
  if (const auto* b = std::get_if<EmcResizeNearestInt8Body>(&body)) return emc_resize(*b);
  if (const auto* b = std::get_if<AddBody>(&body)) {
    EMC_TRY(positive(16, "count", b->count));
    return ranges();
  }
  if (const auto* b = std::get_if<QuantizedAddBody>(&body)) {
    EMC_TRY(positive(16, "count", b->count));
    EMC_TRY(ranges());
    EMC_TRY(shift(28, "in_a_shift", b->in_a_shift));
    EMC_TRY(shift(40, "in_b_shift", b->in_b_shift));
    return shift(52, "out_shift", b->out_shift);
  }
  if (const auto* b = std::get_if<GlobalPoolBody>(&body)) {
    EMC_TRY(positive(12, "kernel_size", b->kernel_size));
    EMC_TRY(positive(16, "channels", b->channels));
    return ranges();
  }
  if (const auto* b = std::get_if<Pool2dBody>(&body)) {
    EMC_TRY(positive(12, "in_shape.width", b->in_shape.width));
    EMC_TRY(positive(16, "in_shape.height", b->in_shape.height));
    EMC_TRY(positive(20, "in_shape.channels", b->in_shape.channels));
    EMC_TRY(positive(24, "out_shape.width", b->out_shape.width));
    EMC_TRY(positive(28, "out_shape.height", b->out_shape.height));
    EMC_TRY(positive(36, "kernel_width", b->kernel_width));
    EMC_TRY(positive(40, "kernel_height", b->kernel_height));
    EMC_TRY(positive(44, "stride_width", b->stride_width));
    EMC_TRY(positive(48, "stride_height", b->stride_height));
    if (b->out_shape.channels != b->in_shape.channels) {
      return fail(32, "out_shape.channels " + std::to_string(b->out_shape.channels) +
                          " differs from in_shape.channels " +
                          std::to_string(b->in_shape.channels));
    }
    return ranges();
  }
  if (const auto* b = std::get_if<QuantizeBody>(&body)) {
    const bool quantize = t == LayerType::kQuantize;  // float in, uint8 out
    EMC_TRY(positive(12, "count", b->count));
    EMC_TRY(finite(16, "scale", b->scale));
    EMC_TRY(finite(20, "bias", b->bias));
    if (quantize && b->scale == 0.0f) {
      return fail(16, "scale is 0 (QUANTIZE divides by it)", Errc::kInvalidLayerConfig);
    }
    return ranges();
  }
  if (const auto* b = std::get_if<RequantizeBody>(&body)) {
    EMC_TRY(positive(12, "count", b->count));
    return ranges();
  }
  // SOFTMAX / L2_NORMALIZATION / LOGISTIC and the K210 padding layers: `channels` at offset 12.
  if (const std::uint32_t* channels = channels_field(body)) {
    EMC_TRY(positive(12, "channels", *channels));
    return ranges();
  }
  if (const auto* b = std::get_if<ConcatBody>(&body)) {
    EMC_TRY(positive(8, "input_count", b->inputs.size()));
    return ranges();
  }
  if (const auto* b = std::get_if<FullyConnectedBody>(&body)) {
    EMC_TRY(positive(12, "in_channels", b->in_channels));
    EMC_TRY(positive(16, "out_channels", b->out_channels));
    for (std::size_t k = 0; k < b->weights.size(); ++k) {
      EMC_TRY(finite(24 + 4 * k, "weight", b->weights[k]));
    }
    const std::uint64_t bias_at = 24 + 4 * b->weights.size();
    for (std::size_t k = 0; k < b->bias.size(); ++k)
      EMC_TRY(finite(bias_at + 4 * k, "bias", b->bias[k]));
    return ranges();
  }
  if (const auto* b = std::get_if<FlattenBody>(&body)) {
    EMC_TRY(positive(12, "shape.width", b->shape.width));
    EMC_TRY(positive(16, "shape.height", b->shape.height));
    EMC_TRY(positive(20, "shape.channels", b->shape.channels));
    return ranges();
  }
  if (const auto* b = std::get_if<ResizeNearestBody>(&body)) {
    EMC_TRY(positive(12, "in_shape.width", b->in_shape.width));
    EMC_TRY(positive(16, "in_shape.height", b->in_shape.height));
    EMC_TRY(positive(20, "in_shape.channels", b->in_shape.channels));
    EMC_TRY(positive(24, "out_width", b->out_width));
    EMC_TRY(positive(28, "out_height", b->out_height));
    return ranges();
  }
  if (const auto* b = std::get_if<ChannelwiseDequantizeBody>(&body)) {
    EMC_TRY(positive(12, "channels", b->params.size()));
    EMC_TRY(positive(16, "channel_size", b->channel_size));
    for (std::size_t k = 0; k < b->params.size(); ++k) {
      EMC_TRY(finite(20 + 8 * k, "scale", b->params[k].scale));
      EMC_TRY(finite(24 + 8 * k, "bias", b->params[k].bias));
    }
    return ranges();
  }
  if (const auto* b = std::get_if<UploadBody>(&body)) {
    EMC_TRY(positive(12, "width", b->width));
    EMC_TRY(positive(16, "height", b->height));
    EMC_TRY(positive(20, "channels", b->channels));
    return ranges();
  }
  return fail(0, "internal: unhandled body", Errc::kInternal);
}

Status LayerChecker::conv(const ConvBody& b) const {
  const KpuLayerFields f = b.fields();
  // Errors about register words point at the word inside the 96-byte block.
  auto reg_fail = [&](int word, const std::string& msg) {
    return Error(Errc::kInvalidLayerConfig, msg)
        .at_offset(std::uint64_t{b.layer_offset} + 8ull * word)
        .with_layer(layer_ref(index_, layer_.type));
  };
  if (f.kernel_type != 0 && f.kernel_type != 1) {
    return reg_fail(4,
                    "kernel_type " + std::to_string(f.kernel_type) + " is not 0 (1x1) or 1 (3x3)");
  }
  if (f.pool_type > 9) {
    return reg_fail(4, "pool_type " + std::to_string(f.pool_type) + " is outside 0..9");
  }
  if (f.depth_wise_layer && f.in_channels() != f.out_channels()) {
    return reg_fail(2, "depthwise layer has " + std::to_string(f.in_channels()) + " input but " +
                           std::to_string(f.out_channels()) + " output channels");
  }
  const auto in_w = static_cast<std::uint32_t>(f.in_width());
  const auto in_h = static_cast<std::uint32_t>(f.in_height());
  const auto out_w = static_cast<std::uint32_t>(f.out_width());
  const auto out_h = static_cast<std::uint32_t>(f.out_height());
  const auto out_c = static_cast<std::uint32_t>(f.out_channels());
  const auto pool = static_cast<std::uint32_t>(f.pool_type);
  if (kpu_pool_output_extent(pool, in_w) != out_w || kpu_pool_output_extent(pool, in_h) != out_h) {
    return reg_fail(3, "pool_type " + std::to_string(pool) + " turns the " + std::to_string(in_w) +
                           "x" + std::to_string(in_h) + " input into " +
                           std::to_string(kpu_pool_output_extent(pool, in_w)) + "x" +
                           std::to_string(kpu_pool_output_extent(pool, in_h)) +
                           ", but o_row_wid/o_col_high say " + std::to_string(out_w) + "x" +
                           std::to_string(out_h));
  }
  // The row layout registers must describe the maps the shapes imply (kmodel_v3.md §5.2): the
  // simulator addresses KPU RAM with them.
  const KpuRowLayout li = kpu_row_layout(in_w);
  const KpuRowLayout lo = kpu_row_layout(out_w);
  if (f.coef_group != li.groups || f.row_switch_addr != li.row_len ||
      f.channel_switch_addr != std::int64_t{li.row_len} * in_h) {
    return reg_fail(7, "coef_group/row_switch_addr/channel_switch_addr " +
                           std::to_string(f.coef_group) + "/" + std::to_string(f.row_switch_addr) +
                           "/" + std::to_string(f.channel_switch_addr) + " do not match the " +
                           std::to_string(in_w) + "x" + std::to_string(in_h) + " input (expected " +
                           std::to_string(li.groups) + "/" + std::to_string(li.row_len) + "/" +
                           std::to_string(li.row_len * in_h) + ")");
  }
  if (f.wb_group != lo.groups || f.wb_row_switch_addr != lo.row_len ||
      f.wb_channel_switch_addr != std::int64_t{lo.row_len} * out_h) {
    return reg_fail(8, "wb_group/wb_row_switch_addr/wb_channel_switch_addr " +
                           std::to_string(f.wb_group) + "/" + std::to_string(f.wb_row_switch_addr) +
                           "/" + std::to_string(f.wb_channel_switch_addr) + " do not match the " +
                           std::to_string(out_w) + "x" + std::to_string(out_h) +
                           " output (expected " + std::to_string(lo.groups) + "/" +
                           std::to_string(lo.row_len) + "/" + std::to_string(lo.row_len * out_h) +
                           ")");
  }
  if (f.o_ch_num_coef > f.o_ch_num) {
    return reg_fail(2, "o_ch_num_coef " + std::to_string(f.o_ch_num_coef) + " exceeds o_ch_num " +
                           std::to_string(f.o_ch_num));
  }
  const std::uint64_t out_bytes = std::uint64_t{out_w} * out_h * out_c;
  if (b.main_mem_out()) {
    if (static_cast<std::uint64_t>(f.dma_total_byte) + 1 != out_bytes) {
      return reg_fail(11, "dma_total_byte + 1 = " + std::to_string(f.dma_total_byte + 1) +
                              " differs from the output size " + std::to_string(out_w) + "x" +
                              std::to_string(out_h) + "x" + std::to_string(out_c) + " = " +
                              std::to_string(out_bytes));
    }
  }
  // The registers now describe the maps of the shapes (so the footprint's register-derived map
  // sizes are kpu_map_bytes of the shapes); the DMA range is ceil(N/8)*8 bytes.
  return ranges();
}

Status LayerChecker::ranges() const {
  auto fp = layer_footprint(layer_);
  if (!fp.ok()) return fail(0, fp.error().message());
  for (const auto* list : {&fp->main_reads, &fp->main_writes}) {
    for (const FootprintRange& r : *list) {
      EMC_TRY(main(r.field_offset, r.field, r.start, r.touched_size()));
    }
  }
  for (const auto* list : {&fp->kpu_reads, &fp->kpu_writes}) {
    for (const FootprintRange& r : *list) {
      EMC_TRY(kpu(r.field_offset, r.field, r.start / kKpuRowBytes, r.size));
    }
  }
  return ok_status();
}

// EMC convolutions (emc_layers.h): geometry, per-type parameters, main-memory ranges.
Status LayerChecker::emc_conv(const EmcConvGeometry& g, std::uint64_t elem_bytes) const {
  const LayerType t = layer_.type;
  const bool depthwise =
      t == LayerType::kEmcDepthwiseConv2d || t == LayerType::kEmcDepthwiseConv2dF32;
  if (g.flags != 0) {
    return fail(0, "flags " + hex(g.flags) + " has reserved bits set (must be 0)",
                Errc::kInvalidLayerConfig);
  }
  EMC_TRY(positive(12, "in_width", g.in_width));
  EMC_TRY(positive(16, "in_height", g.in_height));
  EMC_TRY(positive(20, "in_channels", g.in_channels));
  EMC_TRY(positive(24, "out_width", g.out_width));
  EMC_TRY(positive(28, "out_height", g.out_height));
  EMC_TRY(positive(32, "out_channels", g.out_channels));
  EMC_TRY(positive(36, "kernel_width", g.kernel_width));
  EMC_TRY(positive(40, "kernel_height", g.kernel_height));
  EMC_TRY(positive(44, "stride_width", g.stride_width));
  EMC_TRY(positive(48, "stride_height", g.stride_height));
  EMC_TRY(positive(52, "dilation_width", g.dilation_width));
  EMC_TRY(positive(56, "dilation_height", g.dilation_height));
  EMC_TRY(positive(76, "depth_multiplier", g.depth_multiplier));
  if (depthwise) {
    if (std::uint64_t{g.in_channels} * g.depth_multiplier != g.out_channels) {
      return fail(32, "out_channels " + std::to_string(g.out_channels) + " is not in_channels " +
                          std::to_string(g.in_channels) + " x depth_multiplier " +
                          std::to_string(g.depth_multiplier));
    }
  } else if (g.depth_multiplier != 1) {
    return fail(76, "depth_multiplier " + std::to_string(g.depth_multiplier) +
                        " must be 1 for a regular convolution");
  }
  // One axis: padding below the dilated kernel extent, output extent from the formula.
  auto axis = [&](const char* name, std::uint64_t off, std::uint32_t in, std::uint32_t out,
                  std::uint32_t k, std::uint32_t s, std::uint32_t d, std::uint32_t p0,
                  std::uint32_t p1, std::uint64_t p0_off, const char* p0_name,
                  const char* p1_name) -> Status {
    const std::uint64_t extent = std::uint64_t{d} * (k - 1) + 1;
    if (p0 >= extent || p1 >= extent) {
      return fail(p0 >= extent ? p0_off : p0_off + 4,
                  std::string(p0 >= extent ? p0_name : p1_name) + " " +
                      std::to_string(p0 >= extent ? p0 : p1) +
                      " is not smaller than the dilated kernel " + name + " " +
                      std::to_string(extent) + " (a window would hold only padding)");
    }
    const std::uint64_t padded = std::uint64_t{in} + p0 + p1;
    const std::uint64_t expect = padded < extent ? 0 : (padded - extent) / s + 1;
    if (expect != out) {
      return fail(off, std::string("out_") + name + " " + std::to_string(out) + " differs from (" +
                           std::to_string(in) + " + " + std::to_string(p0) + " + " +
                           std::to_string(p1) + " - " + std::to_string(extent) + ") / " +
                           std::to_string(s) + " + 1 = " + std::to_string(expect));
    }
    return ok_status();
  };
  EMC_TRY(axis("width", 24, g.in_width, g.out_width, g.kernel_width, g.stride_width,
               g.dilation_width, g.pad_left, g.pad_right, 60, "pad_left", "pad_right"));
  EMC_TRY(axis("height", 28, g.in_height, g.out_height, g.kernel_height, g.stride_height,
               g.dilation_height, g.pad_top, g.pad_bottom, 68, "pad_top", "pad_bottom"));
  const std::uint64_t in_n = std::uint64_t{g.in_width} * g.in_height * g.in_channels;
  const std::uint64_t out_n = std::uint64_t{g.out_width} * g.out_height * g.out_channels;
  // in_n, out_n < 2^96 could overflow: each factor < 2^32, so check the pair first.
  if (std::uint64_t{g.in_width} * g.in_height > (1ull << 32) ||
      std::uint64_t{g.out_width} * g.out_height > (1ull << 32)) {
    return fail(12, "map of more than 2^32 pixels");
  }
  EMC_TRY(main(4, "main_mem_in_address", g.main_mem_in_address, elem_bytes * in_n));
  return main(8, "main_mem_out_address", g.main_mem_out_address, elem_bytes * out_n);
}

Status LayerChecker::emc_conv_int8(const EmcConv2dInt8Body& b) const {
  EMC_TRY(emc_conv(b.geo, 1));
  auto int8_field = [&](std::uint64_t off, const char* name, std::int32_t v) -> Status {
    if (v < -128 || v > 127) {
      return fail(off, std::string(name) + " " + std::to_string(v) + " is outside [-128, 127]",
                  Errc::kInvalidLayerConfig);
    }
    return ok_status();
  };
  EMC_TRY(int8_field(80, "input_zero_point", b.input_zero_point));
  EMC_TRY(int8_field(84, "output_zero_point", b.output_zero_point));
  EMC_TRY(int8_field(88, "act_min", b.act_min));
  EMC_TRY(int8_field(92, "act_max", b.act_max));
  if (b.act_min > b.act_max) {
    return fail(
        88,
        "act_min " + std::to_string(b.act_min) + " exceeds act_max " + std::to_string(b.act_max),
        Errc::kInvalidLayerConfig);
  }
  const bool depthwise = layer_.type == LayerType::kEmcDepthwiseConv2d;
  const std::uint64_t taps =
      std::uint64_t{b.geo.kernel_width} * b.geo.kernel_height * (depthwise ? 1 : b.geo.in_channels);
  const std::uint64_t oc = b.geo.out_channels;
  const std::uint64_t bias_at = 96 + (b.weights.size() + 3) / 4 * 4;
  // |x - zp| <= 255 and |w| <= 128: the int32 accumulator is exact while
  // taps * 32640 + |bias| <= 2^31 - 1.
  constexpr std::int64_t kAccMax = 2147483647;
  for (std::uint64_t o = 0; o < oc; ++o) {
    const std::int64_t bound =
        static_cast<std::int64_t>(std::min<std::uint64_t>(taps, 1u << 20)) * 32640 +
        std::abs(static_cast<std::int64_t>(b.bias[o]));
    if (bound > kAccMax) {
      return fail(bias_at + 4 * o,
                  "channel " + std::to_string(o) + ": " + std::to_string(taps) +
                      " taps x 255 x 128 + |bias " + std::to_string(b.bias[o]) +
                      "| can overflow the int32 accumulator",
                  Errc::kInvalidLayerConfig);
    }
    if (b.multiplier[o] < 0) {
      return fail(bias_at + 4 * (oc + o),
                  "multiplier[" + std::to_string(o) + "] " + std::to_string(b.multiplier[o]) +
                      " is negative",
                  Errc::kInvalidLayerConfig);
    }
    if (b.shift[o] < -31 || b.shift[o] > 30) {
      return fail(bias_at + 4 * (2 * oc + o),
                  "shift[" + std::to_string(o) + "] " + std::to_string(b.shift[o]) +
                      " is outside [-31, 30]",
                  Errc::kInvalidLayerConfig);
    }
  }
  return ok_status();
}

Status LayerChecker::emc_conv_f32(const EmcConv2dF32Body& b) const {
  EMC_TRY(emc_conv(b.geo, 4));
  if (std::isnan(b.act_min) || std::isnan(b.act_max) || b.act_min > b.act_max) {
    return fail(80,
                "act_min " + std::to_string(b.act_min) + " / act_max " + std::to_string(b.act_max) +
                    " are NaN or out of order",
                Errc::kInvalidLayerConfig);
  }
  for (std::size_t k = 0; k < b.weights.size(); ++k) {
    EMC_TRY(finite(88 + 4 * k, "weight", b.weights[k]));
  }
  const std::uint64_t bias_at = 88 + 4 * b.weights.size();
  for (std::size_t k = 0; k < b.bias.size(); ++k)
    EMC_TRY(finite(bias_at + 4 * k, "bias", b.bias[k]));
  return ok_status();
}

Status LayerChecker::emc_quantize(const EmcQuantizeInt8Body& b) const {
  const bool quantize = layer_.type == LayerType::kEmcQuantizeInt8;  // float in, int8 out
  if (b.flags != 0) {
    return fail(0, "flags " + hex(b.flags) + " has reserved bits set (must be 0)",
                Errc::kInvalidLayerConfig);
  }
  EMC_TRY(positive(12, "count", b.count));
  if (!std::isfinite(b.scale) || !(b.scale > 0.0f)) {
    return fail(16, "scale " + std::to_string(b.scale) + " is not positive and finite",
                Errc::kInvalidLayerConfig);
  }
  if (b.zero_point < -128 || b.zero_point > 127) {
    return fail(20, "zero_point " + std::to_string(b.zero_point) + " is outside [-128, 127]",
                Errc::kInvalidLayerConfig);
  }
  EMC_TRY(
      main(4, "main_mem_in_address", b.main_mem_in_address, (quantize ? 4ull : 1ull) * b.count));
  return main(8, "main_mem_out_address", b.main_mem_out_address,
              (quantize ? 1ull : 4ull) * b.count);
}

Status LayerChecker::reserved_flags(std::uint32_t flags) const {
  if (flags != 0) {
    return fail(0, "flags " + hex(flags) + " has reserved bits set (must be 0)",
                Errc::kInvalidLayerConfig);
  }
  return ok_status();
}

Status LayerChecker::int8_value(std::uint64_t off, const std::string& field, std::int32_t v) const {
  if (v < -128 || v > 127) {
    return fail(off, field + " " + std::to_string(v) + " is outside [-128, 127]",
                Errc::kInvalidLayerConfig);
  }
  return ok_status();
}

// act_min at `off`, act_max at off + 4.
Status LayerChecker::clamp_pair(std::uint64_t off, std::int32_t lo, std::int32_t hi) const {
  EMC_TRY(int8_value(off, "act_min", lo));
  EMC_TRY(int8_value(off + 4, "act_max", hi));
  if (lo > hi) {
    return fail(off, "act_min " + std::to_string(lo) + " exceeds act_max " + std::to_string(hi),
                Errc::kInvalidLayerConfig);
  }
  return ok_status();
}

// A Q31 multiplier at `off` and its shift at off + 4.
Status LayerChecker::multiplier_shift(std::uint64_t off, const std::string& name, std::int32_t m,
                                      std::int32_t s, std::int32_t shift_min,
                                      std::int32_t shift_max) const {
  if (m < 0) {
    return fail(off, name + "multiplier " + std::to_string(m) + " is negative",
                Errc::kInvalidLayerConfig);
  }
  if (s < shift_min || s > shift_max) {
    return fail(off + 4,
                name + "shift " + std::to_string(s) + " is outside [" + std::to_string(shift_min) +
                    ", " + std::to_string(shift_max) + "]",
                Errc::kInvalidLayerConfig);
  }
  return ok_status();
}

Status LayerChecker::emc_pool(const EmcPool2dInt8Body& b) const {
  EMC_TRY(emc_map_head(b));
  EMC_TRY(positive(32, "kernel_width", b.kernel_width));
  EMC_TRY(positive(36, "kernel_height", b.kernel_height));
  EMC_TRY(positive(40, "stride_width", b.stride_width));
  EMC_TRY(positive(44, "stride_height", b.stride_height));
  if (std::uint64_t{b.kernel_width} * b.kernel_height > (1u << 23)) {
    return fail(32, "kernel " + std::to_string(b.kernel_width) + "x" +
                        std::to_string(b.kernel_height) +
                        " has more than 2^23 taps (the int32 window sum could overflow)");
  }
  auto axis = [&](const char* name, std::uint64_t out_off, std::uint32_t in, std::uint32_t out,
                  std::uint32_t k, std::uint32_t s, std::uint32_t p0, std::uint32_t p1,
                  std::uint64_t p0_off, const char* p0_name, const char* p1_name) -> Status {
    if (p0 >= k || p1 >= k) {
      return fail(p0 >= k ? p0_off : p0_off + 4,
                  std::string(p0 >= k ? p0_name : p1_name) + " " +
                      std::to_string(p0 >= k ? p0 : p1) + " is not smaller than kernel_" + name +
                      " " + std::to_string(k) + " (a window would hold only padding)");
    }
    const std::uint64_t padded = std::uint64_t{in} + p0 + p1;
    const std::uint64_t expect = padded < k ? 0 : (padded - k) / s + 1;
    if (expect != out) {
      return fail(out_off, std::string("out_") + name + " " + std::to_string(out) +
                               " differs from (" + std::to_string(in) + " + " + std::to_string(p0) +
                               " + " + std::to_string(p1) + " - " + std::to_string(k) + ") / " +
                               std::to_string(s) + " + 1 = " + std::to_string(expect));
    }
    return ok_status();
  };
  EMC_TRY(axis("width", 24, b.in_width, b.out_width, b.kernel_width, b.stride_width, b.pad_left,
               b.pad_right, 48, "pad_left", "pad_right"));
  EMC_TRY(axis("height", 28, b.in_height, b.out_height, b.kernel_height, b.stride_height, b.pad_top,
               b.pad_bottom, 56, "pad_top", "pad_bottom"));
  EMC_TRY(int8_value(64, "input_zero_point", b.input_zero_point));
  EMC_TRY(int8_value(68, "output_zero_point", b.output_zero_point));
  EMC_TRY(multiplier_shift(72, "", b.multiplier, b.shift, -31, 30));
  EMC_TRY(clamp_pair(80, b.act_min, b.act_max));
  return ranges();
}

Status LayerChecker::emc_elementwise(const EmcElementwiseInt8Body& b) const {
  EMC_TRY(reserved_flags(b.flags));
  if (b.op > static_cast<std::uint32_t>(EmcElementwiseOp::kMin)) {
    return fail(
        16, "op " + std::to_string(b.op) + " is not 0 (add), 1 (sub), 2 (mul), 3 (max) or 4 (min)",
        Errc::kInvalidLayerConfig);
  }
  if (b.broadcast > static_cast<std::uint32_t>(EmcBroadcast::kScalar)) {
    return fail(20,
                "broadcast " + std::to_string(b.broadcast) +
                    " is not 0 (same shape), 1 (per channel) or 2 (scalar)",
                Errc::kInvalidLayerConfig);
  }
  EMC_TRY(positive(24, "channels", b.channels));
  EMC_TRY(positive(28, "plane", b.plane));
  EMC_TRY(int8_value(36, "a_zero_point", b.a_zero_point));
  EMC_TRY(int8_value(48, "b_zero_point", b.b_zero_point));
  EMC_TRY(int8_value(60, "out_zero_point", b.out_zero_point));
  if (b.op == static_cast<std::uint32_t>(EmcElementwiseOp::kMul)) {
    // The product (a - a_zp)(b - b_zp) is requantized directly: the input rescales are unused.
    const std::pair<std::int32_t, const char*> unused[] = {{b.left_shift, "left_shift"},
                                                           {b.a_multiplier, "a_multiplier"},
                                                           {b.a_shift, "a_shift"},
                                                           {b.b_multiplier, "b_multiplier"},
                                                           {b.b_shift, "b_shift"}};
    const std::uint64_t offs[] = {32, 40, 44, 52, 56};
    for (int i = 0; i < 5; ++i) {
      if (unused[i].first != 0) {
        return fail(offs[i],
                    std::string(unused[i].second) + " " + std::to_string(unused[i].first) +
                        " must be 0 for op mul",
                    Errc::kInvalidLayerConfig);
      }
    }
  } else {
    if (b.left_shift < 0 || b.left_shift > 22) {
      return fail(32, "left_shift " + std::to_string(b.left_shift) + " is outside [0, 22]",
                  Errc::kInvalidLayerConfig);
    }
    // Input multipliers below 1 (shift <= 0) keep |a'|, |b'| < 255 * 2^22 < 2^30: the sum fits.
    EMC_TRY(multiplier_shift(40, "a_", b.a_multiplier, b.a_shift, -31, 0));
    EMC_TRY(multiplier_shift(52, "b_", b.b_multiplier, b.b_shift, -31, 0));
  }
  EMC_TRY(multiplier_shift(64, "out_", b.out_multiplier, b.out_shift, -31, 30));
  EMC_TRY(clamp_pair(72, b.act_min, b.act_max));
  return ranges();
}

Status LayerChecker::emc_concat(const EmcConcatInt8Body& b) const {
  EMC_TRY(reserved_flags(b.flags));
  EMC_TRY(positive(8, "plane", b.plane));
  EMC_TRY(int8_value(12, "output_zero_point", b.output_zero_point));
  EMC_TRY(positive(16, "input_count", b.inputs.size()));
  for (std::size_t k = 0; k < b.inputs.size(); ++k) {
    const EmcConcatInput& in = b.inputs[k];
    const std::uint64_t at = 20 + 20 * k;
    const std::string name = "inputs[" + std::to_string(k) + "].";
    if (in.channels == 0) return fail(at + 4, name + "channels is 0 (must be >= 1)");
    EMC_TRY(int8_value(at + 8, name + "zero_point", in.zero_point));
    EMC_TRY(multiplier_shift(at + 12, name, in.multiplier, in.shift, -31, 30));
  }
  return ranges();
}

Status LayerChecker::emc_lut(const EmcLutInt8Body& b) const {
  EMC_TRY(reserved_flags(b.flags));
  EMC_TRY(positive(12, "count", b.count));
  return ranges();
}

Status LayerChecker::emc_prelu(const EmcPreluInt8Body& b) const {
  EMC_TRY(reserved_flags(b.flags));
  EMC_TRY(positive(12, "channels", b.channels));
  EMC_TRY(positive(16, "plane", b.plane));
  EMC_TRY(int8_value(20, "input_zero_point", b.input_zero_point));
  EMC_TRY(int8_value(24, "output_zero_point", b.output_zero_point));
  EMC_TRY(multiplier_shift(28, "pos_", b.pos_multiplier, b.pos_shift, -31, 30));
  const std::uint64_t shifts = 36 + 4 * std::uint64_t{b.channels};
  for (std::size_t c = 0; c < b.neg_multiplier.size() && c < b.neg_shift.size(); ++c) {
    const std::string idx = "[" + std::to_string(c) + "]";
    if (b.neg_multiplier[c] == INT32_MIN) {
      return fail(36 + 4 * c, "neg_multiplier" + idx + " is -2^31 (|multiplier| must be < 2^31)",
                  Errc::kInvalidLayerConfig);
    }
    if (b.neg_shift[c] < -31 || b.neg_shift[c] > 30) {
      return fail(
          shifts + 4 * c,
          "neg_shift" + idx + " " + std::to_string(b.neg_shift[c]) + " is outside [-31, 30]",
          Errc::kInvalidLayerConfig);
    }
  }
  return ranges();
}

Status LayerChecker::emc_pad_crop(const EmcPadCropInt8Body& b) const {
  EMC_TRY(emc_map_head(b));
  auto axis = [&](const char* name, std::uint64_t out_off, std::int64_t in, std::int64_t out,
                  std::int64_t p0, std::int64_t p1, std::uint64_t p0_off, const char* p0_name,
                  const char* p1_name) -> Status {
    if (-p0 >= in || -p1 >= in) {
      return fail(-p0 >= in ? p0_off : p0_off + 4, std::string(-p0 >= in ? p0_name : p1_name) +
                                                       " " + std::to_string(-p0 >= in ? p0 : p1) +
                                                       " crops the whole input " + name + " " +
                                                       std::to_string(in));
    }
    if (in + p0 + p1 != out) {
      return fail(out_off, std::string("out_") + name + " " + std::to_string(out) +
                               " differs from " + std::to_string(in) + " + " + std::to_string(p0) +
                               " + " + std::to_string(p1) + " = " + std::to_string(in + p0 + p1));
    }
    return ok_status();
  };
  EMC_TRY(axis("width", 24, b.in_width, b.out_width, b.pad_left, b.pad_right, 32, "pad_left",
               "pad_right"));
  EMC_TRY(axis("height", 28, b.in_height, b.out_height, b.pad_top, b.pad_bottom, 40, "pad_top",
               "pad_bottom"));
  EMC_TRY(int8_value(48, "fill", b.fill));
  return ranges();
}

Status LayerChecker::emc_resize(const EmcResizeNearestInt8Body& b) const {
  EMC_TRY(emc_map_head(b));
  if (b.mode > static_cast<std::uint32_t>(EmcResizeMode::kAlignCorners)) {
    return fail(32,
                "mode " + std::to_string(b.mode) +
                    " is not 0 (asymmetric), 1 (half pixel) or 2 (align corners)",
                Errc::kInvalidLayerConfig);
  }
  return ranges();
}

}  // namespace

Status validate_layer(const Kmodel& model, std::size_t index) {
  return LayerChecker(model.layers[index], model.header.main_mem_usage, index).run();
}

}  // namespace emc::format::detail

namespace emc::format {

Status validate_layer(const Layer& layer, std::uint64_t main_mem_bytes) {
  return detail::LayerChecker(layer, main_mem_bytes, 0).run();
}

}  // namespace emc::format
