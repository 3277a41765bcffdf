// A small read-only zip reader over zlib's inflate, for .keras archives (private).
//
// Only what .keras files use: stored (0) and deflated (8) members, no encryption, no zip64, no
// multi-disk archives. Bounds-checked throughout; the central directory is authoritative and
// every member's local header must agree with it. Rejected (kInvalidModel naming the file and
// member): absolute, drive-letter, backslash or '..' member names, duplicate names, members whose
// data overlap (overlapping-member zip bombs), declared sizes past the caller's limit or past
// what deflate can reach (ratio > 1032:1), data that inflates to more or fewer bytes than
// declared, and CRC mismatches.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "emc/format/error.h"

namespace emc::converter::detail {

struct ZipMember {
  std::string name;
  std::uint16_t method = 0;  // 0 stored, 8 deflated
  std::uint32_t crc = 0;
  std::uint64_t compressed_size = 0;
  std::uint64_t size = 0;         // declared uncompressed size
  std::uint64_t data_offset = 0;  // of the member's (compressed) bytes in the archive
};

class ZipReader {
 public:
  // Parses the central directory of `bytes` (which must outlive the reader). Throws
  // ErrorException(kInvalidModel) naming `display_name`.
  ZipReader(const std::vector<std::uint8_t>& bytes, std::string display_name);

  const std::vector<ZipMember>& members() const { return members_; }
  // nullptr when there is no member of that name.
  const ZipMember* find(const std::string& name) const;
  // The member's bytes, at most `max_bytes` (checked on the declared size before inflating).
  std::vector<std::uint8_t> extract(const ZipMember& member, std::uint64_t max_bytes) const;

  [[noreturn]] void fail(const std::string& member, const std::string& message) const;

 private:
  const std::vector<std::uint8_t>& bytes_;
  std::string name_;
  std::vector<ZipMember> members_;
};

}  // namespace emc::converter::detail
