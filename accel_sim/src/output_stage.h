// BN + activation (kmodel_v3.md §6.3-§6.4) and pooling (§6.5) of the KPU output stage.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "emc/accel_sim/kpu_backend.h"
#include "emc/format/kpu_regs.h"

namespace emc::accel_sim::detail {

struct ChannelBn {
  std::int64_t mul = 0;     // sign-extended 24-bit norm_mul
  std::int64_t add = 0;     // sign-extended 32-bit norm_add
  std::uint32_t shift = 0;  // 0..15
};

// The AVX-512 path's table: the sorted segments that can decide an output (see ActivationStage's
// constructor), padded to a power of two `count` with starts no bn reaches.
struct alignas(64) SimdSegments {
  std::int64_t x_start[16], y_mul[16], shift[16], bias[16];
  // Rounding of a non-negative product v by shift s as (v + round_add + ((v >> s) & odd)) >> s:
  // banker: round_add = 2^(s-1) - 1, odd = 1; SDK: round_add = 2^(s-1), odd = 0 (both 0 for s = 0
  // and s >= 63, where the shift alone is exact).
  std::int64_t round_add[16], odd[16];
  int count = 16;      // entries used (a power of two)
  int used = 16;       // entries before the padding
  bool nonneg = false;  // every product (bn - x_start) * y_mul is >= 0 (see the constructor)
};

// The layer's 16-segment activation table, decoded once at prepare.
class ActivationStage {
 public:
  ActivationStage(const format::KpuActivationTable& table, const KpuSimOptions& options);

  // out[i] = clamp(act(bn(value[i])), 0, 255) with value[i] = lo[i] + 256*hi[i] (hi may be null)
  // + xterm[i] + cterm, wrapped to 36 bits; bn wrapped to 36 bits.
  void run(const std::int32_t* lo, const std::int32_t* hi, const std::int64_t* xterm,
           std::int64_t cterm, const ChannelBn& bn, std::size_t n, std::uint8_t* out) const;

 private:
  std::array<std::int64_t, 16> x_start_{};
  std::array<std::int64_t, 16> y_mul_{};
  std::array<std::uint32_t, 16> shift_{};
  std::array<std::int64_t, 16> bias_{};
  bool sorted_ = false;  // x_start non-decreasing: the qualifying segments are a prefix
  bool strict_ = false;
  bool banker_ = false;
  bool simd_ = false;  // AVX-512 path: sorted table, max_isa kAvx512Vnni, CPU has AVX-512F/DQ
  SimdSegments simd_table_{};
};

// Output size of `pool_type` (0..9) on `in` pixels (§6.5; floor for the strided types).
std::uint32_t pool_output_size(std::uint32_t in, std::int64_t pool_type);

// Pools one channel plane in_h x in_w (dense) into out (dense out_h x out_w from
// pool_output_size). pool_type must be 0..9.
void pool_plane(const std::uint8_t* in, std::uint32_t in_h, std::uint32_t in_w,
                std::int64_t pool_type, std::uint8_t* out);

}  // namespace emc::accel_sim::detail
