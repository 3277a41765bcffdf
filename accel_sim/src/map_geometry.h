// Addressing of a W x H x C uint8 feature map in KPU RAM (kmodel_v3.md §5.2), from the register
// values (coef_group, row_switch_addr, channel_switch_addr) or from the width alone.
#pragma once

#include <cstdint>
#include <string>

#include "emc/format/error.h"

namespace emc::accel_sim::detail {

struct MapGeometry {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  std::uint32_t channels = 0;
  std::uint32_t groups = 1;         // channels sharing one 64-byte row (1, 2 or 4)
  std::uint64_t row_pitch = 64;     // bytes between those channels (64 / groups)
  std::uint64_t line_stride = 64;   // bytes between image lines (row_switch_addr * 64)
  std::uint64_t group_stride = 64;  // bytes between channel groups (channel_switch_addr * 64)

  // Byte offset of pixel (c, y, 0) from the map start; the W bytes of a line are contiguous.
  std::uint64_t line_offset(std::uint32_t c, std::uint32_t y) const {
    return std::uint64_t{c / groups} * group_stride + std::uint64_t{c % groups} * row_pitch +
           std::uint64_t{y} * line_stride;
  }
  // One past the last byte any pixel occupies (the range to check).
  std::uint64_t extent() const;
};

// From conv registers. kInvalidModel naming `what` if groups is not 1, 2 or 4, or if a line of
// `width` bytes would not fit its slot (width > row_pitch for packed rows, > line_stride
// otherwise).
Result<MapGeometry> geometry_from_registers(std::uint32_t width, std::uint32_t height,
                                            std::uint32_t channels, std::int64_t groups,
                                            std::int64_t row_switch, std::int64_t channel_switch,
                                            const std::string& what);

// The layout every converter and kpu_upload_core uses for a map of this width.
MapGeometry default_geometry(std::uint32_t width, std::uint32_t height, std::uint32_t channels);

}  // namespace emc::accel_sim::detail
