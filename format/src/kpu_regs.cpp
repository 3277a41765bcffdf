#include "emc/format/kpu_regs.h"

namespace emc::format {
namespace {

constexpr KpuFieldSpec kSpecs[] = {
#define EMC_KPU_FIELD(name, word, lo, width, is_signed) {#name, word, lo, width, is_signed},
#include "emc/format/kpu_fields.def"
#undef EMC_KPU_FIELD
};

constexpr std::uint64_t mask_of(int width) {
  return width >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << width) - 1;
}

// Reads `width` bits at `lo`; sign-extends from bit width-1 when `is_signed`.
constexpr std::int64_t get_bits(std::uint64_t word, int lo, int width, bool is_signed) {
  std::uint64_t v = (word >> lo) & mask_of(width);
  if (is_signed && width < 64 && (v >> (width - 1)) & 1) v |= ~mask_of(width);
  return static_cast<std::int64_t>(v);
}

constexpr std::uint64_t put_bits(std::uint64_t word, int lo, int width, std::int64_t value) {
  const std::uint64_t m = mask_of(width);
  return (word & ~(m << lo)) | ((static_cast<std::uint64_t>(value) & m) << lo);
}

}  // namespace

std::span<const KpuFieldSpec> kpu_field_specs() { return kSpecs; }

KpuLayerFields unpack_kpu_layer(const KpuLayerWords& words) {
  KpuLayerFields f;
#define EMC_KPU_FIELD(name, word, lo, width, is_signed) \
  f.name = get_bits(words[word], lo, width, is_signed);
#include "emc/format/kpu_fields.def"
#undef EMC_KPU_FIELD
  return f;
}

KpuLayerWords pack_kpu_layer(const KpuLayerFields& f) {
  KpuLayerWords w{};
#define EMC_KPU_FIELD(name, word, lo, width, is_signed) w[word] = put_bits(w[word], lo, width, f.name);
#include "emc/format/kpu_fields.def"
#undef EMC_KPU_FIELD
  return w;
}

bool kpu_field_fits(const KpuFieldSpec& spec, std::int64_t value) {
  if (spec.is_signed) {
    const std::int64_t lo = -(std::int64_t{1} << (spec.width - 1));
    const std::int64_t hi = (std::int64_t{1} << (spec.width - 1)) - 1;
    return value >= lo && value <= hi;
  }
  return value >= 0 && static_cast<std::uint64_t>(value) <= mask_of(spec.width);
}

KpuBatchNorm unpack_kpu_batchnorm(std::uint64_t word) {
  KpuBatchNorm bn;
  bn.norm_mul = static_cast<std::int32_t>(get_bits(word, 0, 24, true));
  bn.norm_add = static_cast<std::int32_t>(get_bits(word, 24, 32, true));
  bn.norm_shift = static_cast<std::uint32_t>(get_bits(word, 56, 4, false));
  return bn;
}

std::uint64_t pack_kpu_batchnorm(const KpuBatchNorm& bn) {
  std::uint64_t w = 0;
  w = put_bits(w, 0, 24, bn.norm_mul);
  w = put_bits(w, 24, 32, bn.norm_add);
  w = put_bits(w, 56, 4, bn.norm_shift);
  return w;
}

KpuActivationTable unpack_kpu_activation(const KpuActivationWords& words) {
  KpuActivationTable t;
  for (std::size_t i = 0; i < kKpuActivationSegments; ++i) {
    t[i].shift_number = static_cast<std::uint32_t>(get_bits(words[i], 0, 8, false));
    t[i].y_mul = static_cast<std::int32_t>(get_bits(words[i], 8, 16, true));
    t[i].x_start = get_bits(words[i], 24, 36, true);
    t[i].result_bias = static_cast<std::uint8_t>((words[16 + i / 8] >> (8 * (i % 8))) & 0xff);
  }
  return t;
}

KpuActivationWords pack_kpu_activation(const KpuActivationTable& t) {
  KpuActivationWords w{};
  for (std::size_t i = 0; i < kKpuActivationSegments; ++i) {
    w[i] = put_bits(w[i], 0, 8, t[i].shift_number);
    w[i] = put_bits(w[i], 8, 16, t[i].y_mul);
    w[i] = put_bits(w[i], 24, 36, t[i].x_start);
    w[16 + i / 8] |= std::uint64_t{t[i].result_bias} << (8 * (i % 8));
  }
  return w;
}

}  // namespace emc::format
