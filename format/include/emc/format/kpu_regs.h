// KPU register words: the 96-byte `kpu_layer_argument_t`, the per-channel batch-norm word and the
// 144-byte activation table (../shared/docs/kmodel_v3.md §4). Packed and unpacked with explicit
// shifts and masks from one field table (kpu_fields.def); no C bitfields.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

namespace emc::format {

inline constexpr std::size_t kKpuLayerArgumentWords = 12;
inline constexpr std::size_t kKpuLayerArgumentBytes = kKpuLayerArgumentWords * 8;  // 96

using KpuLayerWords = std::array<std::uint64_t, kKpuLayerArgumentWords>;

// One row of kpu_fields.def.
struct KpuFieldSpec {
  std::string_view name;
  int word;
  int lo;
  int width;
  bool is_signed;
};

// All fields in .def order.
std::span<const KpuFieldSpec> kpu_field_specs();

// Decoded register fields, register encodings as stored (i_ch_num = channels - 1, ...); signed
// fields are sign-extended. Generated from kpu_fields.def so names match kpu.h.
struct KpuLayerFields {
#define EMC_KPU_FIELD(name, word, lo, width, is_signed) std::int64_t name = 0;
#include "emc/format/kpu_fields.def"
#undef EMC_KPU_FIELD

  // Convenience views of the "-1" encodings.
  std::int64_t in_channels() const { return i_ch_num + 1; }
  std::int64_t out_channels() const { return o_ch_num + 1; }
  std::int64_t in_width() const { return i_row_wid + 1; }
  std::int64_t in_height() const { return i_col_high + 1; }
  std::int64_t out_width() const { return o_row_wid + 1; }
  std::int64_t out_height() const { return o_col_high + 1; }
  std::int64_t kernel_size() const { return kernel_type == 1 ? 3 : 1; }
  bool operator==(const KpuLayerFields&) const = default;
};

// Decodes every field of `words`. Reserved bits are ignored (callers keep the raw words when they
// need a byte-exact copy: Maix-EMC sets reserved bits 40..63 of word 10 for negative arg_add).
KpuLayerFields unpack_kpu_layer(const KpuLayerWords& words);

// Encodes `fields` into 12 words; reserved bits are 0. A value that does not fit its field is
// truncated to the field width (two's complement for signed fields); use kpu_field_fits() first.
KpuLayerWords pack_kpu_layer(const KpuLayerFields& fields);

// True when `value` is representable in the field (unsigned: 0..2^w-1; signed: -2^(w-1)..).
bool kpu_field_fits(const KpuFieldSpec& spec, std::int64_t value);

// --- batch-norm word `kpu_batchnorm_argument_t`: one uint64 per output channel (§4.2) ---
struct KpuBatchNorm {
  std::int32_t norm_mul = 0;     // bits 0..23, signed 24-bit
  std::int32_t norm_add = 0;     // bits 24..55, signed 32-bit
  std::uint32_t norm_shift = 0;  // bits 56..59, 0..15
  bool operator==(const KpuBatchNorm&) const = default;
};
KpuBatchNorm unpack_kpu_batchnorm(std::uint64_t word);
std::uint64_t pack_kpu_batchnorm(const KpuBatchNorm& bn);

// --- activation table `kpu_activate_table_t`: 16 segments + 16 bias bytes = 144 bytes (§4.3) ---
inline constexpr std::size_t kKpuActivationSegments = 16;
inline constexpr std::size_t kKpuActivationTableBytes = 144;
struct KpuActivationSegment {
  std::int64_t x_start = 0;       // bits 24..59, signed 36-bit
  std::int32_t y_mul = 0;         // bits 8..23, 16-bit; sign-extended (as every emulator does)
  std::uint32_t shift_number = 0; // bits 0..7
  std::uint8_t result_bias = 0;   // byte i of word 16 (i < 8) or word 17 (i >= 8)
  bool operator==(const KpuActivationSegment&) const = default;
};
using KpuActivationTable = std::array<KpuActivationSegment, kKpuActivationSegments>;
using KpuActivationWords = std::array<std::uint64_t, 18>;
KpuActivationTable unpack_kpu_activation(const KpuActivationWords& words);
KpuActivationWords pack_kpu_activation(const KpuActivationTable& table);

}  // namespace emc::format
