// Fixed-point helpers of the KPU output stage (kmodel_v3.md §6.3-§6.4, §6.8).
#pragma once

#include <algorithm>
#include <cstdint>

namespace emc::accel_sim::detail {

// Two's-complement wrap of `v` to a signed 36-bit value: the width of the KPU accumulator and of
// the BN output (§6.8). Valid layers never reach it (nncase v1.9 asserts 36 bits); wrapping keeps
// out-of-range layers deterministic and free of signed overflow in the following multiplies.
inline std::int64_t wrap36(std::int64_t v) {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(v) << 28) >> 28;
}

// SDK `kpu_carry_shift` / nncase v0.1 `CarryShift`, literally (including its -1 for negative odd
// intermediates). Shifts >= 64 behave as the mathematical floor would (no UB).
inline std::int64_t carry_shift_sdk(std::int64_t v, std::uint32_t shift) {
  if (shift == 0) return v;
  v >>= std::min<std::uint32_t>(shift - 1, 63);
  if (v & 1) return v < 0 ? (v >> 1) - 1 : (v >> 1) + 1;
  return v >> 1;
}

// nncase v0.2 `carry_shift<int64_t, true>` computed on exact integers: integral = floor(v / 2^s),
// frac = v - integral * 2^s, half = 2^(s-1). For |v| < 2^62 and s >= 63 the result is 0 for v >= 0
// and -2 for v < 0 (frac > half, then + sign), which is what the formula gives mathematically.
inline std::int64_t carry_shift_banker(std::int64_t v, std::uint32_t shift) {
  if (shift == 0) return v;
  const std::int64_t sign = v < 0 ? -1 : 1;
  if (shift >= 63) return v < 0 ? -2 : 0;
  const std::int64_t integral = v >> shift;
  const std::int64_t frac = v & ((std::int64_t{1} << shift) - 1);
  const std::int64_t half = std::int64_t{1} << (shift - 1);
  if (frac < half) return integral;
  if (frac > half) return integral + sign;
  return (integral & 1) ? integral + sign : integral;
}

}  // namespace emc::accel_sim::detail
