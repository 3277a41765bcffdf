// KPU RAM: 2 MiB addressed in 64-byte rows, and the row layout of a W x H x C uint8 feature map
// (../shared/docs/kmodel_v3.md §5.2). Pure functions shared by the KPU simulator, the interpreter
// (model input placement) and the converter (KPU memory planning).
#pragma once

#include <cstdint>
#include <span>

#include "emc/format/error.h"

namespace emc::format {

inline constexpr std::uint32_t kKpuRamBytes = 2u * 1024 * 1024;
inline constexpr std::uint32_t kKpuRowBytes = 64;
inline constexpr std::uint32_t kKpuRamRows = kKpuRamBytes / kKpuRowBytes;  // 32768

struct KpuRowLayout {
  std::uint32_t groups = 1;     // channels packed per 64-byte row: 4 (W<=16), 2 (W<=32), 1
  std::uint32_t row_len = 1;    // rows per image line: 1, or ceil(W/64) when W > 32
  std::uint32_t row_pitch = 64; // bytes between the channels that share a row: 16, 32, 64
};

// Layout for a map of the given width (W >= 1).
KpuRowLayout kpu_row_layout(std::uint32_t width);

// Bytes a W x H x C map occupies from its start row: ceil(C / min(C, groups)) * row_len * H * 64.
std::uint64_t kpu_map_bytes(std::uint32_t width, std::uint32_t height, std::uint32_t channels);
// Same in rows (kpu_map_bytes / 64).
std::uint64_t kpu_map_rows(std::uint32_t width, std::uint32_t height, std::uint32_t channels);

// Byte offset of pixel (c, y, x) relative to the map start.
inline std::uint64_t kpu_pixel_offset(const KpuRowLayout& l, std::uint32_t height, std::uint32_t c,
                                      std::uint32_t y, std::uint32_t x) {
  return std::uint64_t{c / l.groups} * l.row_len * height * 64 + std::uint64_t{c % l.groups} * l.row_pitch +
         std::uint64_t{y} * l.row_len * 64 + x;
}

// Copies a dense CHW uint8 map into KPU RAM at `start_row` in the row layout (kpu_upload_core).
// Bytes of a row beyond W are left untouched. Fails (no write) when the map does not fit in `ram`
// or `chw` is smaller than W*H*C.
Status kpu_upload(std::span<const std::uint8_t> chw, std::uint32_t width, std::uint32_t height,
                  std::uint32_t channels, std::span<std::uint8_t> ram, std::uint32_t start_row);

// Reads a map from KPU RAM at `start_row` into dense CHW (the DMA download of a conv output).
Status kpu_download(std::span<const std::uint8_t> ram, std::uint32_t start_row, std::uint32_t width,
                    std::uint32_t height, std::uint32_t channels, std::span<std::uint8_t> chw);

}  // namespace emc::format
