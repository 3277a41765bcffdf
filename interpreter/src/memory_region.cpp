#include <string>

#include "emc/interpreter/backend.h"

namespace emc::interpreter {

Result<std::span<std::uint8_t>> MemoryRegion::at(std::uint64_t offset, std::uint64_t size) const {
  if (!contains(offset, size)) {
    return Error(Errc::kKernelFailed, "access of " + std::to_string(size) + " bytes at " +
                                          std::string(name_) + " offset " + std::to_string(offset) +
                                          " is outside " + std::string(name_) + " (" +
                                          std::to_string(bytes_.size()) + " bytes)");
  }
  return bytes_.subspan(static_cast<std::size_t>(offset), static_cast<std::size_t>(size));
}

}  // namespace emc::interpreter
