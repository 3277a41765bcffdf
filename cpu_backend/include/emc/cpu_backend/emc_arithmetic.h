// The scalar arithmetic of EMC's int8 layer types (format/emc_layers.h; derivation in
// docs/cpu_target.md), public so that converters and tests can name the exact rule.
#pragma once

#include <cstdint>

namespace emc::cpu_backend {

// out = clamp(round_half_away(acc * multiplier / 2^(31 - shift)) + out_zero_point, lo, hi).
// multiplier in [0, 2^31), shift in [-31, 30] (so the right shift is 1..62): the 64-bit product
// and the rounding term cannot overflow. Other arguments are the caller's error.
inline std::int8_t emc_requantize(std::int32_t acc, std::int32_t multiplier, std::int32_t shift,
                                  std::int32_t out_zero_point, std::int32_t lo, std::int32_t hi) {
  const int right = 31 - shift;
  const std::int64_t p = std::int64_t{acc} * multiplier;
  const std::int64_t half = std::int64_t{1} << (right - 1);
  const std::int64_t r = p >= 0 ? (p + half) >> right : -((-p + half) >> right);
  std::int64_t v = r + out_zero_point;
  if (v < lo) v = lo;
  if (v > hi) v = hi;
  return static_cast<std::int8_t>(v);
}

// Which implementation runs the EMC convolutions. Both give identical bytes (the int32
// accumulation is exact, the requantization is the scalar rule above in both).
enum class EmcKernelIsa {
  kBest,    // AVX2 when the CPU has it, else scalar
  kScalar,  // the portable loops that define the result
};

// True when this build and CPU can run the AVX2 kernels.
bool emc_avx2_available();

}  // namespace emc::cpu_backend
