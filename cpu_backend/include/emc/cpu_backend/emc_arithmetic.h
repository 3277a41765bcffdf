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

// round_half_away(v * multiplier / (n * 2^(31 - shift))), exact, without clamp or zero point:
// the one rounding of every EMC int8 rescale (pools divide by the valid tap count n; elsewhere
// n = 1, where it equals emc_requantize's rounding). |v| < 2^31, multiplier in [0, 2^31), shift in
// [-31, 30], n >= 1. Only 64-bit operations: P = |v| * multiplier < 2^62 is split at the binary
// point (A = P >> r, B = P mod 2^r) and A = C * n + D; the fraction (D * 2^r + B) / (n * 2^r) is
// at least 1/2 iff 2D >= n, or 2D = n - 1 and B >= 2^(r - 1).
inline std::int64_t emc_scale_round(std::int64_t v, std::int32_t multiplier, std::int32_t shift,
                                    std::int64_t n = 1) {
  const int r = 31 - shift;
  const std::uint64_t mag = static_cast<std::uint64_t>(v < 0 ? -v : v);
  const std::uint64_t p = mag * static_cast<std::uint64_t>(multiplier);
  const std::uint64_t a = p >> r;
  const std::uint64_t b = p & ((std::uint64_t{1} << r) - 1);
  const auto un = static_cast<std::uint64_t>(n);
  std::uint64_t q = a / un;
  const std::uint64_t d = a % un;
  if (2 * d >= un || (2 * d + 1 == un && b >= (std::uint64_t{1} << (r - 1)))) ++q;
  const auto sq = static_cast<std::int64_t>(q);
  return v < 0 ? -sq : sq;
}

// clamp(v + zero_point, lo, hi) as an int8 code.
inline std::int8_t emc_clamp_code(std::int64_t v, std::int32_t zero_point, std::int32_t lo,
                                  std::int32_t hi) {
  v += zero_point;
  if (v < lo) v = lo;
  if (v > hi) v = hi;
  return static_cast<std::int8_t>(v);
}

// Which implementation runs the EMC convolutions. All give identical bytes (the int32
// accumulation is exact, the requantization is the scalar rule above, vectorized or not).
enum class EmcKernelIsa {
  kBest,        // the best this CPU has (AVX-512 VNNI, else AVX2, else scalar)
  kScalar,      // the portable loops that define the result
  kAvx2,        // the AVX2 kernels (scalar without AVX2)
  kAvx512Vnni,  // the AVX-512 VNNI kernels where the shape allows (else as kAvx2); = kBest
};

// True when this build and CPU can run the AVX2 kernels.
bool emc_avx2_available();
// True when this build and CPU can run `isa`'s kernels (kBest and kScalar: always).
bool emc_kernel_isa_available(EmcKernelIsa isa);

}  // namespace emc::cpu_backend
