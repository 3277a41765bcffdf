#include "zip_reader.h"

#include <zlib.h>

#include <algorithm>
#include <set>

namespace emc::converter::detail {
namespace {

constexpr std::uint32_t kEocdSig = 0x06054b50;
constexpr std::uint32_t kCentralSig = 0x02014b50;
constexpr std::uint32_t kLocalSig = 0x04034b50;
constexpr std::size_t kMaxMembers = 65535;
constexpr std::size_t kMaxNameBytes = 1024;
// Deflate cannot expand data by more than 1032:1 (258-byte matches of 2 bits).
constexpr std::uint64_t kMaxDeflateRatio = 1032;

std::uint16_t le16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] | p[1] << 8);
}
std::uint32_t le32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
         std::uint32_t{p[3]} << 24;
}

std::string check_name(const std::string& n) {
  if (n.empty()) return "is empty";
  if (n.size() > kMaxNameBytes) return "is longer than 1024 bytes";
  if (n.find('\0') != std::string::npos) return "contains NUL";
  if (n.find('\\') != std::string::npos) return "contains a backslash";
  if (n[0] == '/') return "is absolute";
  if (n.size() >= 2 && n[1] == ':') return "has a drive letter";
  std::size_t start = 0;
  while (start <= n.size()) {
    auto end = n.find('/', start);
    if (end == std::string::npos) end = n.size();
    if (n.compare(start, end - start, "..") == 0) return "contains a '..' component";
    start = end + 1;
  }
  return {};
}

}  // namespace

void ZipReader::fail(const std::string& member, const std::string& message) const {
  throw ErrorException(
      Error(Errc::kInvalidModel,
            (member.empty() ? std::string("zip archive: ") : "zip member '" + member + "': ") +
                message)
          .in_file(name_));
}

ZipReader::ZipReader(const std::vector<std::uint8_t>& bytes, std::string display_name)
    : bytes_(bytes), name_(std::move(display_name)) {
  const std::size_t size = bytes_.size();
  const std::uint8_t* b = bytes_.data();
  // End of central directory: 22 bytes + a comment of up to 65535 bytes, at the very end.
  if (size < 22) fail("", "too short to be a zip archive (" + std::to_string(size) + " bytes)");
  std::size_t eocd = size;
  for (std::size_t pos = size - 22 + 1; pos-- > 0 && size - pos <= 22 + 65535;) {
    if (le32(b + pos) == kEocdSig && pos + 22 + le16(b + pos + 20) == size) {
      eocd = pos;
      break;
    }
  }
  if (eocd == size) fail("", "no end-of-central-directory record (truncated or not a zip archive)");
  const std::uint8_t* e = b + eocd;
  const std::uint16_t disk = le16(e + 4), cd_disk = le16(e + 6);
  const std::uint16_t on_disk = le16(e + 8), total = le16(e + 10);
  const std::uint32_t cd_size = le32(e + 12), cd_offset = le32(e + 16);
  if (total == 0xffff || cd_size == 0xffffffffu || cd_offset == 0xffffffffu)
    fail("", "zip64 archives are not supported");
  if (disk != 0 || cd_disk != 0 || on_disk != total)
    fail("", "multi-disk archives are not supported");
  if (std::uint64_t{cd_offset} + cd_size > eocd)
    fail("", "the central directory [" + std::to_string(cd_offset) + ", " +
                 std::to_string(std::uint64_t{cd_offset} + cd_size) +
                 ") runs past its end record at " + std::to_string(eocd));
  std::size_t pos = cd_offset;
  const std::size_t cd_end = std::size_t{cd_offset} + cd_size;
  std::set<std::string> names;
  for (std::size_t i = 0; i < total; ++i) {
    if (pos + 46 > cd_end || le32(b + pos) != kCentralSig)
      fail("", "central directory entry " + std::to_string(i) + " is damaged");
    const std::uint8_t* c = b + pos;
    const std::uint16_t flags = le16(c + 8);
    ZipMember m;
    m.method = le16(c + 10);
    m.crc = le32(c + 16);
    m.compressed_size = le32(c + 20);
    m.size = le32(c + 24);
    const std::size_t name_len = le16(c + 28), extra_len = le16(c + 30), comment_len = le16(c + 32);
    const std::uint32_t local = le32(c + 42);
    if (pos + 46 + name_len + extra_len + comment_len > cd_end)
      fail("", "central directory entry " + std::to_string(i) + " runs past the directory");
    m.name.assign(reinterpret_cast<const char*>(c + 46), name_len);
    pos += 46 + name_len + extra_len + comment_len;
    if (auto why = check_name(m.name); !why.empty()) fail(m.name, "the member name " + why);
    if (!names.insert(m.name).second) fail(m.name, "appears twice in the archive");
    if (flags & 0x1) fail(m.name, "is encrypted");
    if (m.compressed_size == 0xffffffffu || m.size == 0xffffffffu || local == 0xffffffffu)
      fail(m.name, "zip64 members are not supported");
    if (m.method != 0 && m.method != 8)
      fail(m.name, "compression method " + std::to_string(m.method) +
                       " is not supported (stored or deflated only)");
    // The local header: same name; the data follow it and end before the central directory.
    if (std::uint64_t{local} + 30 > cd_offset || le32(b + local) != kLocalSig)
      fail(m.name, "its local header at offset " + std::to_string(local) + " is missing");
    const std::size_t lname = le16(b + local + 26), lextra = le16(b + local + 28);
    m.data_offset = std::uint64_t{local} + 30 + lname + lextra;
    if (m.data_offset + m.compressed_size > cd_offset)
      fail(m.name, "its data [" + std::to_string(m.data_offset) + ", " +
                       std::to_string(m.data_offset + m.compressed_size) +
                       ") run past the end of the member area (truncated archive?)");
    if (lname != name_len ||
        std::string(reinterpret_cast<const char*>(b + local + 30), lname) != m.name)
      fail(m.name, "its local header names a different member");
    if (m.method == 0 && m.compressed_size != m.size)
      fail(m.name, "a stored member with different compressed and uncompressed sizes");
    members_.push_back(std::move(m));
  }
  if (pos != cd_end) fail("", "the central directory size does not match its entries");
  // Members whose data overlap are the overlapping-file zip bomb; Keras never writes them.
  std::vector<const ZipMember*> sorted;
  for (const auto& m : members_) sorted.push_back(&m);
  std::sort(sorted.begin(), sorted.end(),
            [](const ZipMember* x, const ZipMember* y) { return x->data_offset < y->data_offset; });
  for (std::size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i - 1]->data_offset + sorted[i - 1]->compressed_size > sorted[i]->data_offset)
      fail(sorted[i]->name, "its data overlap those of '" + sorted[i - 1]->name + "' (zip bomb?)");
}

const ZipMember* ZipReader::find(const std::string& name) const {
  for (const auto& m : members_)
    if (m.name == name) return &m;
  return nullptr;
}

std::vector<std::uint8_t> ZipReader::extract(const ZipMember& m, std::uint64_t max_bytes) const {
  if (m.size > max_bytes)
    fail(m.name, "declares " + std::to_string(m.size) + " bytes, more than the limit " +
                     std::to_string(max_bytes));
  if (m.method == 8 && m.size > m.compressed_size * kMaxDeflateRatio + 1024)
    fail(m.name, "declares " + std::to_string(m.size) + " bytes from " +
                     std::to_string(m.compressed_size) +
                     " compressed, a ratio deflate cannot reach (zip bomb?)");
  const std::uint8_t* data = bytes_.data() + m.data_offset;
  std::vector<std::uint8_t> out(static_cast<std::size_t>(m.size));
  if (m.method == 0) {
    std::copy(data, data + m.size, out.begin());
  } else {
    z_stream z{};
    if (inflateInit2(&z, -MAX_WBITS) != Z_OK) fail(m.name, "cannot initialise zlib");
    // One byte of extra room detects data that inflate past the declared size.
    std::uint8_t extra = 0;
    z.next_in = const_cast<Bytef*>(data);
    z.avail_in = static_cast<uInt>(m.compressed_size);
    z.next_out = out.data();
    z.avail_out = static_cast<uInt>(out.size());
    int rc = inflate(&z, Z_FINISH);
    std::uint64_t produced = out.size() - z.avail_out;
    if (rc != Z_STREAM_END && z.avail_out == 0 && produced == m.size) {
      z.next_out = &extra;
      z.avail_out = 1;
      rc = inflate(&z, Z_FINISH);
      if (z.avail_out == 0) produced += 1;
    }
    const std::string zmsg = z.msg ? z.msg : std::to_string(rc);
    inflateEnd(&z);
    if (produced > m.size)
      fail(m.name,
           "inflates to more than the declared " + std::to_string(m.size) + " bytes (zip bomb?)");
    if (rc != Z_STREAM_END)
      fail(m.name, "its deflate data are damaged or truncated (zlib: " + zmsg + ")");
    if (produced != m.size)
      fail(m.name, "inflates to " + std::to_string(produced) + " bytes, not the declared " +
                       std::to_string(m.size));
  }
  const auto crc = static_cast<std::uint32_t>(crc32(0L, out.data(), static_cast<uInt>(out.size())));
  if (crc != m.crc) fail(m.name, "CRC-32 mismatch (damaged archive)");
  return out;
}

}  // namespace emc::converter::detail
