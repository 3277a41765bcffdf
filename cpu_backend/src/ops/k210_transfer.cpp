// The three K210 copy layers (kmodel_v3.md §5.3, SDK kpu.c):
//   K210_UPLOAD (kpu_upload_core): dense CHW uint8 from main memory -> the §5.2 row layout of its
//     width at KPU row kpu_mem_out_address; row bytes past W are untouched.
//   K210_ADD_PADDING (kpu_add_padding): value c -> byte (c/4)*256 + (c%4)*16 of the KPU map at
//     kpu_mem_out_address, i.e. pixel (0,0) of a 4x4 map in the W <= 16 layout; the other 15
//     pixels of each channel are not written.
//   K210_REMOVE_PADDING (kpu_remove_padding): dest[c] = src[16*c], in main memory, in order.
#include "k210_arithmetic.h"
#include "ops.h"

namespace emc::cpu_backend::detail {
namespace {

class UploadLayer final : public interpreter::PreparedLayer {
 public:
  UploadLayer(ByteRange in, ByteRange out, const KpuMap& map) : in_(in), out_(out), map_(map) {}

  Status run(interpreter::ExecContext& ctx) override {
    EMC_CPU_ASSIGN_OR_RETURN(const std::uint8_t* in, fetch(ctx.main, in_));
    auto out = ctx.kpu.at(out_.offset, out_.size);
    if (!out.ok()) return std::move(out).error();
    for (std::uint32_t c = 0; c < map_.channels; ++c)
      for (std::uint32_t y = 0; y < map_.height; ++y)
        for (std::uint32_t x = 0; x < map_.width; ++x) out->data()[map_.offset(c, y, x)] = *in++;
    return ok_status();
  }

 private:
  ByteRange in_, out_;
  KpuMap map_;
};

class AddPaddingLayer final : public interpreter::PreparedLayer {
 public:
  AddPaddingLayer(ByteRange in, ByteRange out, std::uint32_t channels)
      : in_(in), out_(out), channels_(channels) {}

  Status run(interpreter::ExecContext& ctx) override {
    EMC_CPU_ASSIGN_OR_RETURN(const std::uint8_t* in, fetch(ctx.main, in_));
    auto out = ctx.kpu.at(out_.offset, out_.size);
    if (!out.ok()) return std::move(out).error();
    for (std::uint32_t c = 0; c < channels_; ++c) {
      out->data()[std::uint64_t{c / 4} * 256 + (c % 4) * 16] = in[c];
    }
    return ok_status();
  }

 private:
  ByteRange in_, out_;
  std::uint32_t channels_;
};

class RemovePaddingLayer final : public interpreter::PreparedLayer {
 public:
  RemovePaddingLayer(ByteRange in, ByteRange out, std::uint32_t channels)
      : in_(in), out_(out), channels_(channels) {}

  Status run(interpreter::ExecContext& ctx) override {
    EMC_CPU_ASSIGN_OR_RETURN(const std::uint8_t* in, fetch(ctx.main, in_));
    EMC_CPU_ASSIGN_OR_RETURN(std::uint8_t * out, fetch(ctx.main, out_));
    // One element at a time in order, as the SDK loop, so overlapping ranges behave the same.
    for (std::uint32_t c = 0; c < channels_; ++c) out[c] = in[std::size_t{c} * 16];
    return ok_status();
  }
  format::MemRange output_range() const override { return out_.mem_range(); }

 private:
  ByteRange in_, out_;
  std::uint32_t channels_;
};

}  // namespace

Result<PreparedPtr> prepare_k210_upload(const PrepareContext& ctx) {
  LayerChecker c(ctx.info);
  EMC_CPU_ASSIGN_OR_RETURN(const format::UploadBody* body, c.body<format::UploadBody>());
  EMC_TRY(c.positive("width", body->width));
  EMC_TRY(c.positive("height", body->height));
  EMC_TRY(c.positive("channels", body->channels));
  const std::string what = "map " + std::to_string(body->width) + "x" +
                           std::to_string(body->height) + "x" + std::to_string(body->channels);
  const auto count = checked_product({body->width, body->height, body->channels});
  EMC_CPU_ASSIGN_OR_RETURN(
      ByteRange in, c.range("main_mem_in_address", body->main_mem_in_address, count, 1, what));
  const KpuMap map =
      kpu_map_for_width(body->kpu_mem_out_address, body->width, body->height, body->channels);
  EMC_CPU_ASSIGN_OR_RETURN(ByteRange out,
                           c.kpu_range("kpu_mem_out_address", map.base, map.extent(), what));
  return PreparedPtr(std::make_unique<UploadLayer>(in, out, map));
}

Result<PreparedPtr> prepare_k210_add_padding(const PrepareContext& ctx) {
  LayerChecker c(ctx.info);
  EMC_CPU_ASSIGN_OR_RETURN(const format::AddPaddingBody* body, c.body<format::AddPaddingBody>());
  EMC_TRY(c.positive("channels", body->channels));
  const std::string what = std::to_string(body->channels) + " channels";
  EMC_CPU_ASSIGN_OR_RETURN(ByteRange in, c.range("main_mem_in_address", body->main_mem_in_address,
                                                 body->channels, 1, what));
  const std::uint64_t last = body->channels - 1;
  const std::uint64_t extent = (last / 4) * 256 + (last % 4) * 16 + 1;
  EMC_CPU_ASSIGN_OR_RETURN(
      ByteRange out, c.kpu_range("kpu_mem_out_address",
                                 std::uint64_t{body->kpu_mem_out_address} * 64, extent, what));
  return PreparedPtr(std::make_unique<AddPaddingLayer>(in, out, body->channels));
}

Result<PreparedPtr> prepare_k210_remove_padding(const PrepareContext& ctx) {
  LayerChecker c(ctx.info);
  EMC_CPU_ASSIGN_OR_RETURN(const format::RemovePaddingBody* body,
                           c.body<format::RemovePaddingBody>());
  EMC_TRY(c.positive("channels", body->channels));
  const std::string what = std::to_string(body->channels) + " channels";
  // The input is read at 16-byte steps: its last byte is 16 * (channels - 1) (the footprint).
  EMC_CPU_ASSIGN_OR_RETURN(const format::LayerFootprint fp, c.footprint());
  EMC_CPU_ASSIGN_OR_RETURN(ByteRange in,
                           c.range("main_mem_in_address", body->main_mem_in_address,
                                   fp.main_reads.at(0).size, 1, what + " at a 16-byte stride"));
  EMC_CPU_ASSIGN_OR_RETURN(ByteRange out,
                           c.range("main_mem_out_address", body->main_mem_out_address,
                                   fp.main_writes.at(0).size, 1, what));
  return PreparedPtr(std::make_unique<RemovePaddingLayer>(in, out, body->channels));
}

}  // namespace emc::cpu_backend::detail
