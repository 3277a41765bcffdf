// Bounded file reading, file identity, content hashing and two-phase publishing of outputs: the
// file primitives every tool and library uses for what it reads and writes.
//
// Every reader takes a byte cap and enforces it while streaming (a FIFO, /dev/zero or a growing
// file cannot make it allocate more than cap + one block); a directory is an error that says so.
// Nothing here throws: filesystem calls use their std::error_code overloads.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "emc/format/error.h"

namespace emc::format {

// Reads the whole of `path` (a regular file or a stream such as a FIFO or character device),
// refusing to hold more than `max_bytes` (kInvalidArgument "<what> is larger than N bytes").
// kIo: missing, unreadable, or a directory ("is a directory"). `what` names the file's role in
// messages ("labels file", "raw input", ...).
Result<std::vector<std::uint8_t>> read_file_bounded(const std::string& path,
                                                    std::uint64_t max_bytes,
                                                    std::string_view what = "file");
Result<std::string> read_text_bounded(const std::string& path, std::uint64_t max_bytes,
                                      std::string_view what = "file");

// True when `a` and `b` name the same existing file (same st_dev and st_ino, symlinks followed).
// False when either does not exist or cannot be examined.
bool same_file(const std::string& a, const std::string& b);

// 64-bit FNV-1a of `bytes` (offset basis 0xcbf29ce484222325, prime 0x100000001b3): identifies a
// kmodel in its sidecar map (a content check against mismatched pairs, not a security hash).
std::uint64_t fnv1a64(std::span<const std::uint8_t> bytes);
// The hash as 16 lowercase hex digits.
std::string fnv1a64_hex(std::span<const std::uint8_t> bytes);
// A file's size and FNV-1a, read in 64 KiB pieces (never the whole file in memory); kIo naming
// `what` when it cannot be opened or read.
struct FileDigest {
  std::uint64_t bytes = 0;
  std::uint64_t fnv1a64 = 0;
};
Result<FileDigest> digest_file(const std::string& path, std::string_view what);

// A file written completely to a temporary name beside its target, not yet visible under the
// target name. Publishing several outputs as a unit: write every one with write_pending(), and
// only when all succeeded commit() each; on any failure discard() the rest. Nothing existing is
// touched before commit(). The destructor discards an uncommitted file.
class PendingFile {
 public:
  PendingFile() = default;
  PendingFile(PendingFile&& other) noexcept;
  PendingFile& operator=(PendingFile&& other) noexcept;
  PendingFile(const PendingFile&) = delete;
  PendingFile& operator=(const PendingFile&) = delete;
  ~PendingFile();

  const std::string& target() const { return target_; }
  // Renames the temporary file onto the target (atomic on POSIX).
  Status commit();
  // Removes the temporary file (no-op after commit).
  void discard();

 private:
  friend Result<PendingFile> write_pending(const std::string& path,
                                           std::span<const std::uint8_t> bytes);
  std::string temp_, target_;
};

// Writes `bytes` to a fresh temporary file in `path`'s folder (kInvalidArgument for an empty path;
// kIo for a path naming a directory, a folder that is not writable or a full disk).
Result<PendingFile> write_pending(const std::string& path, std::span<const std::uint8_t> bytes);

}  // namespace emc::format
