// How error messages print addresses and file offsets: "0x1a4".
#pragma once

#include <cstdint>
#include <string>

namespace emc::format {

std::string hex(std::uint64_t v);

}  // namespace emc::format
