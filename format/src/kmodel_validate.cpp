#include "kmodel_validate.h"

#include <cmath>
#include <cstdio>
#include <string>

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

// Collects the checks of one layer; every failure names the field, value and bound.
class LayerChecker {
 public:
  LayerChecker(const Kmodel& m, std::size_t index)
      : m_(m), layer_(m.layers[index]), index_(index) {}

  Error fail(std::uint64_t field_offset, const std::string& msg,
             Errc code = Errc::kInvalidModel) const {
    return Error(code, msg)
        .at_offset(layer_.body_offset + field_offset)
        .with_layer(layer_ref(index_, layer_.type));
  }

  // [address, address + bytes) must lie inside [0, main_mem_usage).
  Status main(std::uint64_t field_offset, std::string_view field, std::uint64_t address,
              std::uint64_t bytes) const {
    const std::uint64_t limit = m_.header.main_mem_usage;
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

  const Kmodel& m_;
  const Layer& layer_;
  std::size_t index_;
};

Status LayerChecker::run() {
  const LayerType t = layer_.type;
  const LayerBody& body = layer_.body;
  if (const auto* b = std::get_if<ConvBody>(&body)) return conv(*b);
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
  if (const auto* b = std::get_if<ChannelsBody>(&body)) {
    EMC_TRY(positive(12, "channels", b->channels));
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
  if (const auto* b = std::get_if<AddPaddingBody>(&body)) {
    EMC_TRY(positive(12, "channels", b->channels));
    return ranges();
  }
  if (const auto* b = std::get_if<RemovePaddingBody>(&body)) {
    EMC_TRY(positive(12, "channels", b->channels));
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

}  // namespace

Status validate_layer(const Kmodel& model, std::size_t index) {
  return LayerChecker(model, index).run();
}

}  // namespace emc::format::detail
