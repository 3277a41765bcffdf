#include "emc/format/byte_io.h"

#include <bit>
#include <cstdio>
#include <cstring>
#include <string>

#include "emc/format/hex.h"

namespace emc::format {

Status ByteReader::require(std::uint64_t bytes, std::string_view what) const {
  if (bytes <= remaining()) return ok_status();
  return Error(Errc::kTruncatedModel, std::string(what) + ": needs " + std::to_string(bytes) +
                                          " bytes but only " + std::to_string(remaining()) +
                                          " remain before offset " + hex(end_position()))
      .at_offset(position());
}

Status ByteReader::seek(std::uint64_t offset, std::string_view what) {
  if (offset < base_ || offset > end_position()) {
    return Error(Errc::kTruncatedModel, std::string(what) + ": offset " + hex(offset) +
                                            " is outside [" + hex(base_) + ", " +
                                            hex(end_position()) + "]")
        .at_offset(offset);
  }
  pos_ = static_cast<std::size_t>(offset - base_);
  return ok_status();
}

Status ByteReader::skip(std::uint64_t bytes, std::string_view what) {
  EMC_TRY(require(bytes, what));
  pos_ += static_cast<std::size_t>(bytes);
  return ok_status();
}

Status ByteReader::read_u8(std::uint8_t& out, std::string_view what) {
  EMC_TRY(require(1, what));
  out = data_[pos_++];
  return ok_status();
}

Status ByteReader::read_u32(std::uint32_t& out, std::string_view what) {
  EMC_TRY(require(4, what));
  out = load_u32_le(data_.data() + pos_);
  pos_ += 4;
  return ok_status();
}

Status ByteReader::read_i32(std::int32_t& out, std::string_view what) {
  std::uint32_t u = 0;
  EMC_TRY(read_u32(u, what));
  out = static_cast<std::int32_t>(u);  // two's complement (C++20)
  return ok_status();
}

Status ByteReader::read_u64(std::uint64_t& out, std::string_view what) {
  EMC_TRY(require(8, what));
  out = load_u64_le(data_.data() + pos_);
  pos_ += 8;
  return ok_status();
}

Status ByteReader::read_f32(float& out, std::string_view what) {
  std::uint32_t u = 0;
  EMC_TRY(read_u32(u, what));
  out = std::bit_cast<float>(u);
  return ok_status();
}

Status ByteReader::read_bytes(std::span<std::uint8_t> out, std::string_view what) {
  EMC_TRY(require(out.size(), what));
  if (!out.empty()) std::memcpy(out.data(), data_.data() + pos_, out.size());
  pos_ += out.size();
  return ok_status();
}

void ByteWriter::write_u32(std::uint32_t v) {
  for (int i = 0; i < 4; ++i) bytes_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

void ByteWriter::write_u64(std::uint64_t v) {
  for (int i = 0; i < 8; ++i) bytes_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

void ByteWriter::write_f32(float v) {
  write_u32(std::bit_cast<std::uint32_t>(v));
}

std::uint64_t ByteWriter::align_to(std::uint64_t n) {
  if (n > 1) {
    const std::uint64_t rem = position() % n;
    if (rem != 0) write_zeros(n - rem);
  }
  return position();
}

Status ByteWriter::pad_to(std::uint64_t offset, std::string_view what) {
  if (offset < position()) {
    return Error(Errc::kInternal, std::string(what) + ": offset " + hex(offset) +
                                      " lies before the write position " + hex(position()))
        .at_offset(offset);
  }
  write_zeros(offset - position());
  return ok_status();
}

Status ByteWriter::patch_u32_at(std::uint64_t pos, std::uint32_t v) {
  if (pos > position() || position() - pos < 4) {
    return Error(Errc::kInternal, "patch_u32_at " + hex(pos) + " outside the written bytes")
        .at_offset(pos);
  }
  for (int i = 0; i < 4; ++i) bytes_[pos + i] = static_cast<std::uint8_t>(v >> (8 * i));
  return ok_status();
}

}  // namespace emc::format
