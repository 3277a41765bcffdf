#include "map_geometry.h"

#include <algorithm>

namespace emc::accel_sim::detail {

std::uint64_t MapGeometry::extent() const {
  if (width == 0 || height == 0 || channels == 0) return 0;
  // Strides come from registers and need not be ordered, so take the maximum over channels.
  std::uint64_t max_line = 0;
  for (std::uint32_t c = 0; c < channels; ++c) {
    max_line = std::max(max_line, line_offset(c, height - 1));
  }
  return max_line + width;
}

Result<MapGeometry> geometry_from_registers(std::uint32_t width, std::uint32_t height,
                                            std::uint32_t channels, std::int64_t groups,
                                            std::int64_t row_switch, std::int64_t channel_switch,
                                            const std::string& what) {
  if (groups != 1 && groups != 2 && groups != 4) {
    return Error(Errc::kInvalidModel, what + " group " + std::to_string(groups) +
                                          " is not 1, 2 or 4 channels per 64-byte row");
  }
  MapGeometry g;
  g.width = width;
  g.height = height;
  g.channels = channels;
  g.groups = static_cast<std::uint32_t>(groups);
  g.row_pitch = 64 / g.groups;
  g.line_stride = static_cast<std::uint64_t>(row_switch) * 64;
  g.group_stride = static_cast<std::uint64_t>(channel_switch) * 64;
  const std::uint64_t slot = g.groups > 1 ? g.row_pitch : g.line_stride;
  if (width > slot) {
    return Error(Errc::kInvalidModel, what + " lines of " + std::to_string(width) +
                                          " bytes do not fit the " + std::to_string(slot) +
                                          " bytes the row layout gives them (group " +
                                          std::to_string(groups) + ", row_switch_addr " +
                                          std::to_string(row_switch) + ")");
  }
  return g;
}

MapGeometry default_geometry(std::uint32_t width, std::uint32_t height, std::uint32_t channels) {
  MapGeometry g;
  g.width = width;
  g.height = height;
  g.channels = channels;
  g.groups = width <= 16 ? 4 : width <= 32 ? 2 : 1;
  const std::uint64_t row_len = width <= 32 ? 1 : (std::uint64_t{width} + 63) / 64;
  g.row_pitch = 64 / g.groups;
  g.line_stride = row_len * 64;
  g.group_stride = row_len * height * 64;
  return g;
}

}  // namespace emc::accel_sim::detail
