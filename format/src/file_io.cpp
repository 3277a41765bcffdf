// Whole-file reading (load_kmodel_file, read_file_bounded), file identity, FNV-1a, and atomic
// writing (write_file_atomically, PendingFile).
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <system_error>

#include "emc/format/file_io.h"
#include "emc/format/kmodel_codec.h"

namespace emc::format {
namespace {

namespace fs = std::filesystem;

// Streams `path` into `out`, stopping with an error as soon as more than `max_bytes` arrived.
Status read_stream(const std::string& path, std::uint64_t max_bytes, std::string_view what,
                   std::vector<std::uint8_t>& out) {
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) {
    return Error(Errc::kIo, "cannot open " + std::string(what) + ": " +
                                (ec ? ec.message() : std::string("no such file")))
        .in_file(path);
  }
  if (fs::is_directory(st))
    return Error(Errc::kIo, std::string(what) + " is a directory, not a file").in_file(path);
  if (fs::is_regular_file(st)) {
    const auto size = fs::file_size(path, ec);
    if (!ec && size > max_bytes) {
      return Error(Errc::kInvalidArgument, std::string(what) + " is " + std::to_string(size) +
                                               " bytes, more than the limit of " +
                                               std::to_string(max_bytes))
          .in_file(path);
    }
    if (!ec) out.reserve(static_cast<std::size_t>(size));
  }
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    return Error(Errc::kIo, "cannot open " + std::string(what) + ": " + std::strerror(errno))
        .in_file(path);
  }
  std::uint8_t buf[1 << 16];
  Status result;
  for (;;) {
    const std::size_t n = std::fread(buf, 1, sizeof buf, f);
    if (n > 0) {
      if (out.size() + n > max_bytes) {
        result = Error(Errc::kInvalidArgument, std::string(what) + " is larger than the limit of " +
                                                   std::to_string(max_bytes) + " bytes")
                     .in_file(path);
        break;
      }
      out.insert(out.end(), buf, buf + n);
    }
    if (n < sizeof buf) {
      if (std::ferror(f)) {
        result = Error(Errc::kIo, "cannot read " + std::string(what) + ": " + std::strerror(errno))
                     .in_file(path);
      }
      break;
    }
  }
  std::fclose(f);
  if (!result.ok()) out.clear();
  return result;
}

Result<std::vector<std::uint8_t>> read_whole_file(const std::string& path, std::uint64_t limit) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    return Error(Errc::kIo, "cannot open: " + (ec ? ec.message() : std::string("no such file")))
        .in_file(path);
  }
  if (fs::is_directory(status))
    return Error(Errc::kIo, "is a directory, not a regular file").in_file(path);
  if (!fs::is_regular_file(status)) return Error(Errc::kIo, "not a regular file").in_file(path);
  const auto size = fs::file_size(path, ec);
  if (!ec && size > limit) {
    return Error(Errc::kInvalidModel, "file size " + std::to_string(size) +
                                          " bytes exceeds the limit of " + std::to_string(limit))
        .in_file(path);
  }
  std::vector<std::uint8_t> bytes;
  if (Status s = read_stream(path, limit, "file", bytes); !s.ok()) {
    Error e = std::move(s).error();
    if (e.code() == Errc::kInvalidArgument)
      e = Error(Errc::kInvalidModel, e.message()).in_file(path);
    return e;
  }
  return bytes;
}

}  // namespace

Result<std::vector<std::uint8_t>> read_file_bounded(const std::string& path,
                                                    std::uint64_t max_bytes,
                                                    std::string_view what) {
  std::vector<std::uint8_t> bytes;
  if (Status s = read_stream(path, max_bytes, what, bytes); !s.ok()) return std::move(s).error();
  return bytes;
}

Result<std::string> read_text_bounded(const std::string& path, std::uint64_t max_bytes,
                                      std::string_view what) {
  std::vector<std::uint8_t> bytes;
  if (Status s = read_stream(path, max_bytes, what, bytes); !s.ok()) return std::move(s).error();
  return std::string(bytes.begin(), bytes.end());
}

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {
  }, sb{};
  if (a.empty() || b.empty()) return false;
  if (::stat(a.c_str(), &sa) != 0 || ::stat(b.c_str(), &sb) != 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

std::uint64_t fnv1a64(std::span<const std::uint8_t> bytes) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::uint8_t b : bytes) {
    h ^= b;
    h *= 0x100000001b3ull;
  }
  return h;
}

std::string fnv1a64_hex(std::span<const std::uint8_t> bytes) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(fnv1a64(bytes)));
  return buf;
}

Result<FileDigest> digest_file(const std::string& path, std::string_view what) {
  std::error_code ec;
  if (fs::is_directory(path, ec))
    return Error(Errc::kIo, std::string(what) + " is a directory, not a file").in_file(path);
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    return Error(Errc::kIo, "cannot open " + std::string(what) + ": " + std::strerror(errno))
        .in_file(path);
  }
  FileDigest d;
  std::uint64_t h = 0xcbf29ce484222325ull;
  std::uint8_t buf[1 << 16];
  for (;;) {
    const std::size_t n = std::fread(buf, 1, sizeof buf, f);
    for (std::size_t i = 0; i < n; ++i) {
      h ^= buf[i];
      h *= 0x100000001b3ull;
    }
    d.bytes += n;
    if (n < sizeof buf) break;
  }
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) {
    return Error(Errc::kIo, "cannot read " + std::string(what) + ": " + std::strerror(errno))
        .in_file(path);
  }
  d.fnv1a64 = h;
  return d;
}

PendingFile::PendingFile(PendingFile&& o) noexcept
    : temp_(std::move(o.temp_)), target_(std::move(o.target_)) {
  o.temp_.clear();
}

PendingFile& PendingFile::operator=(PendingFile&& o) noexcept {
  if (this != &o) {
    discard();
    temp_ = std::move(o.temp_);
    target_ = std::move(o.target_);
    o.temp_.clear();
  }
  return *this;
}

PendingFile::~PendingFile() {
  discard();
}

void PendingFile::discard() {
  if (temp_.empty()) return;
  std::error_code ignored;
  fs::remove(temp_, ignored);
  temp_.clear();
}

Status PendingFile::commit() {
  if (temp_.empty()) return Error(Errc::kInternal, "nothing to commit").in_file(target_);
  std::error_code ec;
  fs::rename(temp_, target_, ec);
  if (ec) {
    discard();
    return Error(Errc::kIo, "cannot rename the temporary file into place: " + ec.message())
        .in_file(target_);
  }
  temp_.clear();
  return ok_status();
}

Result<PendingFile> write_pending(const std::string& path, std::span<const std::uint8_t> bytes) {
  if (path.empty()) return Error(Errc::kInvalidArgument, "the output path is empty");
  const fs::path target(path);
  std::error_code ec;
  if (target.filename().empty() || fs::is_directory(target, ec)) {
    return Error(Errc::kIo, "the output path names a directory").in_file(path);
  }
  std::random_device rd;
  const fs::path temp = target.parent_path() / ("." + target.filename().string() + ".tmp" +
                                                std::to_string(rd() & 0xffffff));
  std::FILE* f = std::fopen(temp.c_str(), "wbx");
  if (!f) {
    return Error(Errc::kIo,
                 "cannot create temporary file " + temp.string() + ": " + std::strerror(errno))
        .in_file(path);
  }
  PendingFile p;
  p.temp_ = temp.string();
  p.target_ = path;
  const bool wrote = bytes.empty() || std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  const int write_errno = errno;
  const bool closed = std::fclose(f) == 0;
  if (!wrote || !closed) {
    return Error(Errc::kIo, std::string("write failed: ") + std::strerror(write_errno))
        .in_file(path);  // p's destructor removes the temporary file
  }
  return p;
}

Result<Kmodel> load_kmodel_file(const std::string& path, const ParseLimits& limits) {
  auto bytes = read_whole_file(path, limits.max_file_bytes);
  if (!bytes.ok()) return std::move(bytes).error();
  auto model = parse_kmodel(bytes.value(), limits);
  if (!model.ok()) return std::move(model).error().in_file(path);
  return model;
}

Status write_file_atomically(const std::string& path, std::span<const std::uint8_t> bytes) {
  auto pending = write_pending(path, bytes);
  if (!pending.ok()) return std::move(pending).error();
  return pending->commit();
}

}  // namespace emc::format
