#include "transfer_layers.h"

#include <cstring>
#include <string>

#include "map_geometry.h"

namespace emc::accel_sim::detail {
namespace {

Status check_range(std::uint64_t offset, std::uint64_t size, std::uint64_t limit,
                   const std::string& what, Errc code) {
  if (offset + size > limit) {
    return Error(code, what + " [" + std::to_string(offset) + ", " + std::to_string(offset + size) +
                           ") exceeds " +
                           (code == Errc::kKpuOutOfMemory ? "KPU RAM" : "main memory") + " (" +
                           std::to_string(limit) + " bytes)");
  }
  return ok_status();
}

// Dense CHW in main memory -> row layout at a KPU row (SDK kpu_upload_core). Bytes of a row past
// W are left untouched.
class PreparedUpload final : public interpreter::PreparedLayer {
 public:
  PreparedUpload(const format::UploadBody& b)
      : src_(b.main_mem_in_address),
        dst_(std::uint64_t{b.kpu_mem_out_address} * 64),
        geo_(default_geometry(b.width, b.height, b.channels)) {}

  Status check(const interpreter::LayerInfo& info) const {
    EMC_TRY(check_range(src_, bytes(), info.main_mem_bytes, "upload input (main_mem_in_address)",
                        Errc::kInvalidModel));
    return check_range(dst_, geo_.extent(), info.kpu_mem_bytes,
                       "upload output (kpu_mem_out_address row " + std::to_string(dst_ / 64) + ")",
                       Errc::kKpuOutOfMemory);
  }

  Status run(interpreter::ExecContext& ctx) override {
    auto in = ctx.main.at(src_, bytes());
    if (!in.ok()) return std::move(in).error();
    auto out = ctx.kpu.at(dst_, geo_.extent());
    if (!out.ok()) return std::move(out).error();
    const std::uint8_t* s = in->data();
    for (std::uint32_t c = 0; c < geo_.channels; ++c) {
      for (std::uint32_t y = 0; y < geo_.height; ++y, s += geo_.width) {
        std::memmove(out->data() + geo_.line_offset(c, y), s, geo_.width);
      }
    }
    return ok_status();
  }

 private:
  std::uint64_t bytes() const { return std::uint64_t{geo_.width} * geo_.height * geo_.channels; }
  std::uint64_t src_, dst_;
  MapGeometry geo_;
};

// C values -> pixel (0,0) of a 4x4 map in the W<=16 layout: offset (c/4)*256 + (c%4)*16 (SDK
// kpu_add_padding). The other 15 pixels of each channel are not written.
class PreparedAddPadding final : public interpreter::PreparedLayer {
 public:
  PreparedAddPadding(const format::AddPaddingBody& b)
      : src_(b.main_mem_in_address),
        dst_(std::uint64_t{b.kpu_mem_out_address} * 64),
        channels_(b.channels) {}

  std::uint64_t extent() const {
    if (channels_ == 0) return 0;
    const std::uint64_t c = channels_ - 1;
    return (c / 4) * 256 + (c % 4) * 16 + 1;
  }
  Status check(const interpreter::LayerInfo& info) const {
    EMC_TRY(check_range(src_, channels_, info.main_mem_bytes, "add-padding input",
                        Errc::kInvalidModel));
    return check_range(
        dst_, extent(), info.kpu_mem_bytes,
        "add-padding output (kpu_mem_out_address row " + std::to_string(dst_ / 64) + ")",
        Errc::kKpuOutOfMemory);
  }
  Status run(interpreter::ExecContext& ctx) override {
    auto in = ctx.main.at(src_, channels_);
    if (!in.ok()) return std::move(in).error();
    auto out = ctx.kpu.at(dst_, extent());
    if (!out.ok()) return std::move(out).error();
    for (std::uint32_t c = 0; c < channels_; ++c) {
      (*out)[(c / 4) * 256 + (c % 4) * 16] = (*in)[c];
    }
    return ok_status();
  }

 private:
  std::uint64_t src_, dst_;
  std::uint32_t channels_;
};

// dest[c] = src[c*16]: pixel (0,0) of each dense 4x4 channel (SDK kpu_remove_padding).
class PreparedRemovePadding final : public interpreter::PreparedLayer {
 public:
  PreparedRemovePadding(const format::RemovePaddingBody& b)
      : src_(b.main_mem_in_address), dst_(b.main_mem_out_address), channels_(b.channels) {}

  std::uint64_t in_extent() const {
    return channels_ == 0 ? 0 : std::uint64_t{channels_ - 1} * 16 + 1;
  }
  Status check(const interpreter::LayerInfo& info) const {
    EMC_TRY(check_range(src_, in_extent(), info.main_mem_bytes, "remove-padding input",
                        Errc::kInvalidModel));
    return check_range(dst_, channels_, info.main_mem_bytes, "remove-padding output",
                       Errc::kInvalidModel);
  }
  Status run(interpreter::ExecContext& ctx) override {
    auto in = ctx.main.at(src_, in_extent());
    if (!in.ok()) return std::move(in).error();
    auto out = ctx.main.at(dst_, channels_);
    if (!out.ok()) return std::move(out).error();
    // Sequential like the SDK loop, so overlapping ranges behave the same.
    for (std::uint32_t c = 0; c < channels_; ++c) (*out)[c] = (*in)[std::size_t{c} * 16];
    return ok_status();
  }
  format::MemRange output_range() const override { return {dst_, channels_}; }

 private:
  std::uint32_t src_, dst_, channels_;
};

template <class Body, class Prepared>
Result<std::unique_ptr<interpreter::PreparedLayer>> prepare_as(const interpreter::LayerInfo& info,
                                                               const char* type) {
  const auto* body = std::get_if<Body>(&info.layer->body);
  if (body == nullptr) {
    return Error(Errc::kInternal, std::string(type) + " layer with a body of another type");
  }
  auto p = std::make_unique<Prepared>(*body);
  EMC_TRY(p->check(info));
  return std::unique_ptr<interpreter::PreparedLayer>(std::move(p));
}

}  // namespace

Result<std::unique_ptr<interpreter::PreparedLayer>> prepare_upload(
    const interpreter::LayerInfo& info) {
  return prepare_as<format::UploadBody, PreparedUpload>(info, "K210_UPLOAD");
}
Result<std::unique_ptr<interpreter::PreparedLayer>> prepare_add_padding(
    const interpreter::LayerInfo& info) {
  return prepare_as<format::AddPaddingBody, PreparedAddPadding>(info, "K210_ADD_PADDING");
}
Result<std::unique_ptr<interpreter::PreparedLayer>> prepare_remove_padding(
    const interpreter::LayerInfo& info) {
  return prepare_as<format::RemovePaddingBody, PreparedRemovePadding>(info, "K210_REMOVE_PADDING");
}

}  // namespace emc::accel_sim::detail
