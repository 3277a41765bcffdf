// A symbol-table group ("earliest" file format, what Keras 2 and h5py write by default) as
// libhdf5 1.10 reads it, checked before it does: see check_h5_symbol_table in
// hdf5_header_check.h. Layouts from the HDF5 File Format Specification (version 3.0): version 1
// B-tree nodes (III.A.1), symbol table nodes (III.B), local heaps (III.D), symbol table entries
// (III.C) and the symbol table message (IV.A.2.r).
#include <algorithm>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "hdf5_header_check.h"
#include "hdf5_image_bytes.h"

namespace emc::converter::detail {
namespace {

// A local heap's data segment (absolute offset and size in the image).
struct HeapData {
  std::uint64_t at = 0;
  std::uint64_t size = 0;
};

// Local heap: "HEAP", version 0, 3 reserved bytes, data segment size (L), offset of the first
// free block (L; libhdf5 writes 1 for none), data segment address (O); each free block in the
// data segment starts with the offset of the next one (L) and its own size (L). libhdf5 1.10.8
// allocates the declared data segment size before reading it, and a node per free block,
// following `next` with no visited check.
std::string check_local_heap(std::uint64_t addr, const H5ImageLayout& l,
                             const std::vector<std::uint8_t>& image, HeapData& out) {
  const std::uint64_t o = static_cast<std::uint64_t>(l.offset_size);
  const std::uint64_t len = static_cast<std::uint64_t>(l.length_size);
  const std::string where = "names a local heap at address " + std::to_string(addr);
  const auto heap = image_offset(image, l, addr, 8 + 2 * len + o);
  if (!heap) return where + " past the end of the file";
  const std::uint8_t* h = image.data() + *heap;
  if (std::memcmp(h, "HEAP", 4) != 0 || h[4] != 0) return where + " that is not one";
  const std::uint64_t data_size = le(h + 8, l.length_size);
  std::uint64_t free = le(h + 8 + len, l.length_size);
  const auto data = image_offset(image, l, le(h + 8 + 2 * len, l.offset_size), data_size);
  if (!data)
    return where + " whose data segment of " + std::to_string(data_size) +
           " bytes runs past the end of the file";
  const std::uint8_t* d = image.data() + *data;
  const std::uint64_t undefined = all_ones(len);
  // Each free block takes at least its two fields, so a list longer than this loops.
  const std::uint64_t most = data_size / (2 * len);
  for (std::uint64_t n = 0; free != 1 && free != undefined; ++n) {
    if (n >= most || free > data_size || data_size - free < 2 * len)
      return where + " whose free list " +
             (n >= most ? std::string("loops") : "points past its data segment");
    free = le(d + free, l.length_size);
  }
  out = {*data, data_size};
  return {};
}

// Walks one group's B-tree depth first, left to right.
class GroupTreeCheck {
 public:
  GroupTreeCheck(const H5ImageLayout& l, const std::vector<std::uint8_t>& image, HeapData heap)
      : l_(l), image_(image), heap_(heap) {
    for (std::uint64_t i = 0; i < heap_.size; ++i)
      if (image_[heap_.at + i] == 0) nuls_.push_back(i);
  }

  std::string tree(std::uint64_t root) {
    if (std::string why = node(root, -1); !why.empty()) return why;
    return siblings();
  }

 private:
  struct Node {
    std::uint64_t addr, left, right;
  };

  // A name is an offset into the heap's data segment; libhdf5 reads it as a C string.
  bool name_ok(std::uint64_t offset) const {
    return offset < heap_.size &&
           std::lower_bound(nuls_.begin(), nuls_.end(), offset) != nuls_.end();
  }

  std::string bad_name(const std::string& what, std::uint64_t offset) const {
    return what + " names heap offset " + std::to_string(offset) +
           ", which is not a NUL-terminated name inside the local heap's " +
           std::to_string(heap_.size) + "-byte data segment";
  }

  // Node: "TREE", type (0: group), level, entries used (2), left and right sibling (O); then
  // key 0, child 0, ..., child n-1, key n, each key a heap offset (L).
  std::string node(std::uint64_t addr, int expected_level) {
    const std::uint64_t o = static_cast<std::uint64_t>(l_.offset_size);
    const std::uint64_t len = static_cast<std::uint64_t>(l_.length_size);
    const std::string where = "names a group B-tree node at address " + std::to_string(addr);
    if (addr == all_ones(o)) return "names an undefined group B-tree address";
    if (!seen_.insert(addr).second) return where + " that the tree reaches twice";
    const auto at = image_offset(image_, l_, addr, 8 + 2 * o);
    if (!at) return where + " past the end of the file";
    const std::uint8_t* p = image_.data() + *at;
    if (std::memcmp(p, "TREE", 4) != 0 || p[4] != 0) return where + " that is not one";
    const int level = p[5];
    if (expected_level >= 0 && level != expected_level)
      return where + " of level " + std::to_string(level) + " under a node of level " +
             std::to_string(expected_level + 1);
    const std::uint64_t children = le(p + 6, 2);
    const std::uint64_t most = 2 * static_cast<std::uint64_t>(l_.sym_internal_k);
    if (children > most)
      return where + " with " + std::to_string(children) + " children, more than the " +
             std::to_string(most) + " a node of this file holds";
    if (!image_offset(image_, l_, addr, 8 + 2 * o + children * (len + o) + len))
      return where + " whose " + std::to_string(children) +
             " children run past the end of the file";
    if (levels_.size() <= static_cast<std::size_t>(level)) levels_.resize(level + 1);
    levels_[level].push_back({addr, le(p + 8, l_.offset_size), le(p + 8 + o, l_.offset_size)});
    const std::uint8_t* e = p + 8 + 2 * o;
    // (libhdf5 decodes no key of a node without children.)
    for (std::uint64_t i = 0; children > 0 && i <= children; ++i, e += len + o) {
      const std::uint64_t key = le(e, l_.length_size);
      if (!name_ok(key)) return bad_name(where + " whose key " + std::to_string(i), key);
      if (i == children) break;
      const std::uint64_t child = le(e + len, l_.offset_size);
      std::string why = level > 0 ? node(child, level - 1) : leaf(child);
      if (!why.empty()) return why;
    }
    return {};
  }

  // Symbol table node: "SNOD", version 1, a reserved byte, number of symbols (2), then entries of
  // link name offset (O), object header address (O), cache type (4), reserved (4), scratch (16).
  std::string leaf(std::uint64_t addr) {
    const std::uint64_t o = static_cast<std::uint64_t>(l_.offset_size);
    const std::string where = "names a symbol table node at address " + std::to_string(addr);
    if (!seen_.insert(addr).second) return where + " that the tree reaches twice";
    const auto at = image_offset(image_, l_, addr, 8);
    if (!at) return where + " past the end of the file";
    const std::uint8_t* p = image_.data() + *at;
    if (std::memcmp(p, "SNOD", 4) != 0 || p[4] != 1) return where + " that is not one";
    const std::uint64_t symbols = le(p + 6, 2);
    const std::uint64_t most = 2 * static_cast<std::uint64_t>(l_.sym_leaf_k);
    const std::uint64_t entry = 2 * o + 24;
    if (symbols > most)
      return where + " with " + std::to_string(symbols) + " entries, more than the " +
             std::to_string(most) + " a node of this file holds";
    if (!image_offset(image_, l_, addr, 8 + symbols * entry))
      return where + " whose " + std::to_string(symbols) + " entries run past the end of the file";
    for (std::uint64_t i = 0; i < symbols; ++i) {
      const std::uint8_t* e = p + 8 + i * entry;
      const std::string what = where + " whose entry " + std::to_string(i);
      const std::uint64_t name = le(e, l_.offset_size);
      if (!name_ok(name)) return bad_name(what, name);
      const std::uint64_t cache = le(e + 2 * o, 4);
      if (cache > 2) return what + " has cache type " + std::to_string(cache);
      // Cache type 2: a soft link, whose value is a heap offset (4 bytes) in the scratch pad.
      if (cache == 2 && !name_ok(le(e + 2 * o + 8, 4)))
        return bad_name(what + "'s soft link", le(e + 2 * o + 8, 4));
    }
    return {};
  }

  // Every level, read left to right, must be one sibling chain with both ends undefined.
  std::string siblings() const {
    const std::uint64_t none = all_ones(static_cast<std::uint64_t>(l_.offset_size));
    for (std::size_t level = 0; level < levels_.size(); ++level) {
      const std::vector<Node>& row = levels_[level];
      for (std::size_t i = 0; i < row.size(); ++i) {
        const std::uint64_t left = i == 0 ? none : row[i - 1].addr;
        const std::uint64_t right = i + 1 == row.size() ? none : row[i + 1].addr;
        if (row[i].left != left || row[i].right != right)
          return "names a group B-tree whose node at address " + std::to_string(row[i].addr) +
                 " has sibling addresses " + std::to_string(row[i].left) + " and " +
                 std::to_string(row[i].right) + " that do not link its level left to right";
      }
    }
    return {};
  }

  const H5ImageLayout& l_;
  const std::vector<std::uint8_t>& image_;
  HeapData heap_;
  std::vector<std::uint64_t> nuls_;  // offsets of the NUL bytes in the heap's data segment
  std::set<std::uint64_t> seen_;
  std::vector<std::vector<Node>> levels_;
};

}  // namespace

std::string check_h5_symbol_table(const std::uint8_t* body, std::uint64_t n, const H5ImageLayout& l,
                                  const std::vector<std::uint8_t>& image) {
  const std::uint64_t o = static_cast<std::uint64_t>(l.offset_size);
  if (n < 2 * o) return "is a symbol table message cut short";
  HeapData heap;
  if (std::string why = check_local_heap(le(body + o, l.offset_size), l, image, heap); !why.empty())
    return why;
  return GroupTreeCheck(l, image, heap).tree(le(body, l.offset_size));
}

}  // namespace emc::converter::detail
