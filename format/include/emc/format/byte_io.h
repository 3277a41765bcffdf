// Bounds-checked little-endian byte reading and writing for the kmodel codec.
//
// ByteReader views (does not own) a span of bytes that starts at absolute file offset `base`; every
// read is bounds-checked and a failure is an emc::Error (kTruncatedModel) whose byte offset is the
// absolute file offset of the failed read. Values are assembled with shifts (no casts of file
// bytes, no host-endianness assumptions).
//
// ByteWriter owns a growing byte vector; position() is the absolute offset of the next byte.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "emc/format/error.h"

namespace emc::format {

class ByteReader {
 public:
  // `data` must outlive the reader. `base` is the absolute file offset of data[0].
  explicit ByteReader(std::span<const std::uint8_t> data, std::uint64_t base = 0)
      : data_(data), base_(base) {}

  std::uint64_t position() const { return base_ + pos_; }  // absolute offset of the next read
  std::uint64_t end_position() const { return base_ + data_.size(); }
  std::size_t remaining() const { return data_.size() - pos_; }

  // Moves to absolute offset `offset` (must lie in [base, end]).
  Status seek(std::uint64_t offset, std::string_view what);
  Status skip(std::uint64_t bytes, std::string_view what);

  // Each read consumes the bytes on success and leaves the position unchanged on failure.
  // `what` names the field in the error message ("layer header", "FULLY_CONNECTED weights").
  Status read_u8(std::uint8_t& out, std::string_view what);
  Status read_u32(std::uint32_t& out, std::string_view what);
  Status read_i32(std::int32_t& out, std::string_view what);
  Status read_u64(std::uint64_t& out, std::string_view what);
  Status read_f32(float& out, std::string_view what);  // IEEE-754 binary32, LE
  Status read_bytes(std::span<std::uint8_t> out, std::string_view what);

  // Checks that `bytes` more bytes are available without consuming them.
  Status require(std::uint64_t bytes, std::string_view what) const;

 private:
  std::span<const std::uint8_t> data_;
  std::uint64_t base_ = 0;
  std::size_t pos_ = 0;
};

// Pure helpers on a buffer (no bounds checks: callers check first).
inline std::uint32_t load_u32_le(const std::uint8_t* p) {
  return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
         std::uint32_t{p[3]} << 24;
}
inline std::uint64_t load_u64_le(const std::uint8_t* p) {
  return std::uint64_t{load_u32_le(p)} | std::uint64_t{load_u32_le(p + 4)} << 32;
}

class ByteWriter {
 public:
  std::uint64_t position() const { return bytes_.size(); }

  void write_u8(std::uint8_t v) { bytes_.push_back(v); }
  void write_u32(std::uint32_t v);
  void write_i32(std::int32_t v) { write_u32(static_cast<std::uint32_t>(v)); }
  void write_u64(std::uint64_t v);
  void write_f32(float v);
  void write_bytes(std::span<const std::uint8_t> v) {
    bytes_.insert(bytes_.end(), v.begin(), v.end());
  }
  void write_zeros(std::uint64_t n) { bytes_.resize(bytes_.size() + n, 0); }

  // Writes zero bytes until position() is a multiple of `n` (n >= 1). Returns the new position.
  std::uint64_t align_to(std::uint64_t n);
  // Writes zero bytes up to absolute offset `offset`; fails (kInternal) if already past it.
  Status pad_to(std::uint64_t offset, std::string_view what);
  // Overwrites 4 already-written bytes at absolute `pos`; fails (kInternal) if out of range.
  Status patch_u32_at(std::uint64_t pos, std::uint32_t v);

  const std::vector<std::uint8_t>& bytes() const { return bytes_; }
  std::vector<std::uint8_t> take() { return std::move(bytes_); }

 private:
  std::vector<std::uint8_t> bytes_;
};

}  // namespace emc::format
