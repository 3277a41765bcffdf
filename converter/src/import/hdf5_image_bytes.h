// Reading little-endian HDF5 fields from a file image held in memory (private to the HDF5
// checks: hdf5_header_check.cpp, hdf5_symbol_table.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "hdf5_header_check.h"

namespace emc::converter::detail {

// The unsigned little-endian value of the `n` (1..8) bytes at `p`.
inline std::uint64_t le(const std::uint8_t* p, int n) {
  std::uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

// HDF5's undefined address / length: all ones in `bytes` (2, 4 or 8) bytes.
inline std::uint64_t all_ones(std::uint64_t bytes) {
  return bytes == 8 ? ~std::uint64_t{0} : (std::uint64_t{1} << (8 * bytes)) - 1;
}

// The absolute offset of relative address `addr` when `n` bytes from there lie in the image.
inline std::optional<std::uint64_t> image_offset(const std::vector<std::uint8_t>& image,
                                                 const H5ImageLayout& l, std::uint64_t addr,
                                                 std::uint64_t n) {
  const std::uint64_t size = image.size();
  if (addr > size || l.base > size - addr || n > size - (l.base + addr)) return std::nullopt;
  return l.base + addr;
}

}  // namespace emc::converter::detail
