// Whole-file reading (load_kmodel_file) and atomic writing (write_file_atomically).
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <system_error>

#include "emc/format/kmodel_codec.h"

namespace emc::format {
namespace {

Result<std::vector<std::uint8_t>> read_whole_file(const std::string& path, std::uint64_t limit) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) {
    return Error(Errc::kIo, "cannot open: " + (ec ? ec.message() : std::string("no such file")))
        .in_file(path);
  }
  if (!std::filesystem::is_regular_file(status)) {
    return Error(Errc::kIo, "not a regular file").in_file(path);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Error(Errc::kIo, std::string("cannot open: ") + std::strerror(errno)).in_file(path);
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) return Error(Errc::kIo, "cannot determine the file size").in_file(path);
  if (static_cast<std::uint64_t>(size) > limit) {
    return Error(Errc::kInvalidModel, "file size " + std::to_string(size) +
                                          " bytes exceeds the limit of " + std::to_string(limit))
        .in_file(path);
  }
  in.seekg(0, std::ios::beg);
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size)) {
    return Error(Errc::kIo, "read error").in_file(path);
  }
  return bytes;
}

}  // namespace

Result<Kmodel> load_kmodel_file(const std::string& path, const ParseLimits& limits) {
  auto bytes = read_whole_file(path, limits.max_file_bytes);
  if (!bytes.ok()) return std::move(bytes).error();
  auto model = parse_kmodel(bytes.value(), limits);
  if (!model.ok()) return std::move(model).error().in_file(path);
  return model;
}

Status write_file_atomically(const std::string& path, std::span<const std::uint8_t> bytes) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  if (target.filename().empty()) {
    return Error(Errc::kInvalidArgument, "output path names a directory").in_file(path);
  }
  std::random_device rd;
  const fs::path temp = target.parent_path() /
                        (target.filename().string() + ".tmp" + std::to_string(rd() & 0xffffff));
  {
    std::FILE* f = std::fopen(temp.c_str(), "wb");
    if (!f) {
      return Error(Errc::kIo,
                   "cannot create temporary file " + temp.string() + ": " + std::strerror(errno))
          .in_file(path);
    }
    const bool wrote =
        bytes.empty() || std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
    const int write_errno = errno;
    const bool closed = std::fclose(f) == 0;
    if (!wrote || !closed) {
      std::error_code ignored;
      fs::remove(temp, ignored);
      return Error(Errc::kIo, std::string("write failed: ") + std::strerror(write_errno))
          .in_file(path);
    }
  }
  std::error_code ec;
  fs::rename(temp, target, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    return Error(Errc::kIo, "cannot rename the temporary file into place: " + ec.message())
        .in_file(path);
  }
  return ok_status();
}

}  // namespace emc::format
