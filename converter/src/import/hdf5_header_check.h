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
// message. The global heap objects a variable-length attribute refers to must exist and hold
// exactly the bytes the attribute declares: libhdf5 1.10 copies the object's own size into a
// buffer sized by the declared length (H5T__conv_vlen).
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
  // Relative addresses the superblock names besides the root (kUndefined when absent): the
  // driver information block (superblock versions 0 and 1) and the superblock extension's object
  // header (versions 2 and 3). libhdf5 reads both while it opens the file.
  static constexpr std::uint64_t kUndefined = ~std::uint64_t{0};
  std::uint64_t driver_info = kUndefined;
  std::uint64_t extension = kUndefined;
  // Group "K" values (superblock versions 0 and 1; libhdf5's defaults for versions 2 and 3, whose
  // superblock extension may hold others, which EMC does not read: it then refuses a node fuller
  // than the defaults allow): a
  // symbol table node holds up to 2 * sym_leaf_k entries, a group B-tree node up to
  // 2 * sym_internal_k children.
  int sym_leaf_k = 4;
  int sym_internal_k = 16;
};

// Reads the superblock at the first HDF5 signature; nullopt when it is not one this check knows
// (libhdf5 then refuses or reads the file itself; the caller refuses it).
std::optional<H5ImageLayout> read_h5_layout(const std::vector<std::uint8_t>& image);

// Checks what libhdf5 reads from the superblock's pointers while it opens the file, before it
// does: the driver information block must hold the bytes its 32-bit size declares (libhdf5 1.10
// allocates that size, up to 4 GiB, before its read fails: fuzz_keras_h5 finding 5), and the
// superblock extension's object header must pass check_h5_object_header. Returns an empty
// string when sound, else what is wrong.
std::string check_h5_superblock(const std::vector<std::uint8_t>& image,
                                const H5ImageLayout& layout);

// One object of a global heap collection ("GCOL", IV.B) as libhdf5 1.10's reader finds it.
struct H5HeapObject {
  std::uint64_t index = 0;
  std::uint64_t size = 0;  // bytes of data after the object's header
};

// Walks the global heap collection at absolute offset `at` the way libhdf5 1.10 does
// (H5HG__cache_heap_deserialize): nullopt when no collection libhdf5 could load is there (no
// signature, or its declared size runs past the image: libhdf5's read then fails cleanly), ""
// when every object lies inside the collection (filling `objects` if given), else what is wrong.
// libhdf5 trusts these sizes: an object of size 0 makes its walk loop forever (finding 1), one
// that runs past the collection makes H5HG_read memcpy past the heap block (finding 4).
std::optional<std::string> walk_h5_global_heap(const std::vector<std::uint8_t>& image,
                                               const H5ImageLayout& layout, std::uint64_t at,
                                               std::vector<H5HeapObject>* objects = nullptr);

// Checks a symbol table message (IV.A.2.r: v1 B-tree address, local heap address; `n` bytes at
// `body`) and what libhdf5 1.10 reads through it when it looks up or lists the group's members,
// none of which it checks itself: the local heap (III.D) must lie in the image with a free list
// that ends (libhdf5 allocates a node per free block without a visited check: fuzz_keras_h5
// finding 7); the B-tree (III.A.1) must be a tree of group nodes inside the image, each level one
// below its parent, siblings linked left to right, at most 2K children each (an undefined B-tree
// address made H5B_find read from an address that wraps around: finding 8); its leaves must be
// symbol table nodes (III.B) of at most 2K entries; and every name a key or entry points to must
// be NUL-terminated inside the heap's data segment (libhdf5 compares them with strcmp). Returns
// an empty string when sound, else what is wrong.
std::string check_h5_symbol_table(const std::uint8_t* body, std::uint64_t n,
                                  const H5ImageLayout& layout,
                                  const std::vector<std::uint8_t>& image);

// Checks the object header at relative address `addr`. Returns an empty string when it is
// sound, else what is wrong ("attribute message 3 in chunk 1: its data runs 1656 bytes past the
// message").
std::string check_h5_object_header(const std::vector<std::uint8_t>& image,
                                   const H5ImageLayout& layout, std::uint64_t addr);

}  // namespace emc::converter::detail
