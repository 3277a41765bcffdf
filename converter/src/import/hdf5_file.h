// A thin RAII layer over the HDF5 C API, read only, for the Keras readers (private).
//
// Every failure throws ErrorException(kInvalidModel) naming the file and the HDF5 object path
// ("<file>: HDF5 object '/model_weights/conv2d': ..."); HDF5's own error stack printing is
// switched off. Objects are addressed by absolute paths ("/a/b"); every lookup checks each path
// component exists (H5Lexists) before opening, so a missing object is a clear error, not an HDF5
// trace. Sizes are bounded by the caller's limits before anything is allocated. Before libhdf5
// decodes an object's attributes, links or dataset type (a group's members, an attribute
// lookup, a dataset open), that object's header is bounds-checked from the image bytes
// (hdf5_header_check.h): libhdf5 1.10 decodes those messages without bounds checks.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "emc/format/error.h"
#include "hdf5_header_check.h"

namespace emc::converter::detail {

// Owns one hid_t and closes it with the matching H5*close.
class H5Id {
 public:
  using Closer = herr_t (*)(hid_t);
  H5Id() = default;
  H5Id(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  H5Id(H5Id&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = H5I_INVALID_HID; }
  H5Id& operator=(H5Id&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = o.id_;
      closer_ = o.closer_;
      o.id_ = H5I_INVALID_HID;
    }
    return *this;
  }
  H5Id(const H5Id&) = delete;
  H5Id& operator=(const H5Id&) = delete;
  ~H5Id() { reset(); }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset() {
    if (id_ >= 0 && closer_) closer_(id_);
    id_ = H5I_INVALID_HID;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

// A numeric dataset read into float32 (float16 / float32 / float64 or an 8..64-bit integer on
// disk, any byte order; integers beyond 2^24 are rounded).
struct H5FloatData {
  std::vector<std::int64_t> shape;
  std::vector<float> values;
  std::string stored_dtype;  // "float16", "float32", "float64", "int8".."int64", "uint8".."uint64"
};

class Hdf5File {
 public:
  // Opens an HDF5 image held in memory (the core driver; the bytes are copied). `display_name`
  // is what errors call it (the file path).
  static Hdf5File open_memory(const std::vector<std::uint8_t>& bytes, std::string display_name);

  const std::string& name() const { return name_; }

  // Whether the group or dataset at `path` exists (every component is checked).
  bool exists(const std::string& path) const;
  bool is_group(const std::string& path) const;
  // Whether the object at `path` carries attribute `attr`.
  bool has_attribute(const std::string& path, const std::string& attr) const;
  // A scalar string attribute (fixed or variable length), at most `max_bytes` long.
  std::string string_attribute(const std::string& path, const std::string& attr,
                               std::size_t max_bytes) const;
  // A string attribute that is a list (1-D array of fixed or variable length strings; an empty
  // array of any type gives an empty list). Keras splits long lists into attr0, attr1, ...:
  // those are read and joined when `attr` itself is absent. At most `max_items` entries.
  std::vector<std::string> string_list_attribute(const std::string& path, const std::string& attr,
                                                 std::size_t max_items) const;
  // Names of the direct children of the group at `path` (sorted by name), at most `max_items`.
  std::vector<std::string> children(const std::string& path, std::size_t max_items) const;
  // Reads a float or integer dataset of rank <= 8 with at most `max_values` values as float32
  // (Keras stores an int64 `count` beside Normalization's mean and variance).
  H5FloatData read_floats(const std::string& path, std::uint64_t max_values) const;

  // Throws kInvalidModel "<file>: HDF5 object '<path>': <message>".
  [[noreturn]] void fail(const std::string& path, const std::string& message) const;

 private:
  Hdf5File(H5Id file, std::string name, std::vector<std::uint8_t> image, H5ImageLayout layout)
      : file_(std::move(file)), name_(std::move(name)), image_(std::move(image)), layout_(layout) {}
  H5Id open_object(const std::string& path) const;
  // Bounds-checks the object header at relative address `addr` (once per address), the object
  // at `path`, before libhdf5 loads it; fails naming the object otherwise.
  void check_header(const std::string& path, haddr_t addr) const;
  // The strings of attribute `attr` (fixed or variable length): exactly one when `scalar`, else a
  // 1-D list of at most `max_items`; each at most `max_len` bytes.
  std::vector<std::string> read_strings(const std::string& path, const std::string& attr,
                                        bool scalar, std::size_t max_items,
                                        std::size_t max_len) const;

  H5Id file_;
  std::string name_;
  std::vector<std::uint8_t> image_;  // the bytes libhdf5 reads, for check_header
  H5ImageLayout layout_;
  mutable std::set<haddr_t> checked_;
};

// The first bytes of every HDF5 file (at offset 0, 512, 1024, ... when a user block precedes it).
bool looks_like_hdf5(const std::uint8_t* data, std::size_t size);

}  // namespace emc::converter::detail
