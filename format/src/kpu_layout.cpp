#include "emc/format/kpu_layout.h"

#include <algorithm>
#include <string>

namespace emc::format {

// kmodel_v3.md §5.2: narrow maps share a 64-byte row between 4 (W <= 16) or 2 (W <= 32) channels;
// wider maps use ceil(W/64) whole rows per image line.
KpuRowLayout kpu_row_layout(std::uint32_t width) {
  if (width <= 16) return {4, 1, 16};
  if (width <= 32) return {2, 1, 32};
  return {1, (width + 63) / 64, 64};
}

std::uint64_t kpu_map_bytes(std::uint32_t width, std::uint32_t height, std::uint32_t channels) {
  if (channels == 0 || height == 0 || width == 0) return 0;
  const KpuRowLayout l = kpu_row_layout(width);
  const std::uint64_t per_row = std::min(channels, l.groups);
  const std::uint64_t channel_groups = (channels + per_row - 1) / per_row;
  return channel_groups * l.row_len * height * kKpuRowBytes;
}

std::uint64_t kpu_map_rows(std::uint32_t width, std::uint32_t height, std::uint32_t channels) {
  return kpu_map_bytes(width, height, channels) / kKpuRowBytes;
}

namespace {

Status check_map(std::size_t chw_size, std::uint32_t width, std::uint32_t height,
                 std::uint32_t channels, std::size_t ram_size, std::uint32_t start_row,
                 const char* op) {
  const std::uint64_t dense = std::uint64_t{width} * height * channels;
  if (chw_size < dense) {
    return Error(Errc::kInvalidArgument,
                 std::string(op) + ": CHW buffer has " + std::to_string(chw_size) + " bytes, the " +
                     std::to_string(width) + "x" + std::to_string(height) + "x" +
                     std::to_string(channels) + " map needs " + std::to_string(dense));
  }
  const std::uint64_t start = std::uint64_t{start_row} * kKpuRowBytes;
  const std::uint64_t bytes = kpu_map_bytes(width, height, channels);
  if (start > ram_size || bytes > ram_size - start) {
    return Error(Errc::kKpuOutOfMemory, std::string(op) + ": map of " + std::to_string(bytes) +
                                            " bytes at KPU row " + std::to_string(start_row) +
                                            " exceeds KPU RAM of " + std::to_string(ram_size) +
                                            " bytes");
  }
  return ok_status();
}

}  // namespace

// kpu_upload_core (SDK-C): every channel c, line y, pixel x goes to its row-layout address; the
// bytes of a row beyond W stay as they were.
Status kpu_upload(std::span<const std::uint8_t> chw, std::uint32_t width, std::uint32_t height,
                  std::uint32_t channels, std::span<std::uint8_t> ram, std::uint32_t start_row) {
  EMC_TRY(check_map(chw.size(), width, height, channels, ram.size(), start_row, "kpu_upload"));
  const KpuRowLayout l = kpu_row_layout(width);
  std::uint8_t* base = ram.data() + std::uint64_t{start_row} * kKpuRowBytes;
  const std::uint8_t* src = chw.data();
  for (std::uint32_t c = 0; c < channels; ++c) {
    for (std::uint32_t y = 0; y < height; ++y) {
      std::uint8_t* dst = base + kpu_pixel_offset(l, height, c, y, 0);
      std::copy_n(src, width, dst);
      src += width;
    }
  }
  return ok_status();
}

Status kpu_download(std::span<const std::uint8_t> ram, std::uint32_t start_row, std::uint32_t width,
                    std::uint32_t height, std::uint32_t channels, std::span<std::uint8_t> chw) {
  EMC_TRY(check_map(chw.size(), width, height, channels, ram.size(), start_row, "kpu_download"));
  const KpuRowLayout l = kpu_row_layout(width);
  const std::uint8_t* base = ram.data() + std::uint64_t{start_row} * kKpuRowBytes;
  std::uint8_t* dst = chw.data();
  for (std::uint32_t c = 0; c < channels; ++c) {
    for (std::uint32_t y = 0; y < height; ++y) {
      std::copy_n(base + kpu_pixel_offset(l, height, c, y, 0), width, dst);
      dst += width;
    }
  }
  return ok_status();
}

}  // namespace emc::format
