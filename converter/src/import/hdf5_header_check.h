// Bounds check of an HDF5 object header before libhdf5 decodes its messages (private).
//
// Debian's libhdf5 1.10.8 decodes attribute, datatype and dataspace messages without checking
// them against the message's size: an attribute whose dataspace field declares 4104 bytes in a
// 72-byte message makes H5Aexists / H5Aopen / H5Aiterate (every attribute call walks and decodes
// all attribute messages of the object) memcpy from past the object header chunk — a heap
// overflow or use-after-free inside libhdf5 (fuzz_keras_h5 finding 2, fuzz/README.md). EMC
// cannot change libhdf5, so before it asks libhdf5 about an object's attributes or members or
// opens a dataset it walks that object's header itself (version 1 and 2 headers, continuation
// chunks) and checks that every attribute, link, datatype and dataspace message decodes within its
// bounds, with the datatype classes a Keras file uses (integer, float, string, bitfield,
// variable-length string / sequence of those). Anything else is refused naming the object and the
// message.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace emc::converter::detail {

// Where HDF5 addresses in `image` are relative to, and their sizes (from the superblock).
struct H5ImageLayout {
  std::uint64_t base = 0;  // absolute offset of address 0
  int offset_size = 8;     // "size of offsets" (addresses), bytes
  int length_size = 8;     // "size of lengths", bytes
  std::uint64_t root = 0;  // relative address of the root group's object header
};

// Reads the superblock at the first HDF5 signature; nullopt when it is not one this check knows
// (libhdf5 then refuses or reads the file itself; the caller refuses it).
std::optional<H5ImageLayout> read_h5_layout(const std::vector<std::uint8_t>& image);

// Checks the object header at relative address `addr`. Returns an empty string when it is
// sound, else what is wrong ("attribute message 3 in chunk 1: its data runs 1656 bytes past the
// message").
std::string check_h5_object_header(const std::vector<std::uint8_t>& image,
                                   const H5ImageLayout& layout, std::uint64_t addr);

}  // namespace emc::converter::detail
