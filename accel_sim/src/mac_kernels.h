// Multiply-accumulate kernels of the KPU convolution (kmodel_v3.md §6.1, the `value` term).
//
// Normal convolutions run as a GEMM over *pairs* of input channels: the input is stored as
// interleaved int16 pairs (x[2i][p], x[2i+1][p]) and each weight word packs the matching pair
// (w[2i] | w[2i+1] << 16), which is the operand order of x86 pmaddwd / vpdpwssd. With uint8 inputs
// and weights <= 255 every pair product sum is <= 130050 and a full 3x3x1024 window is
// <= 255*255*9216 = 599,270,400 < 2^31, so int32 accumulation is exact. (16-bit weights are split
// into two 8-bit halves by the caller.)
#pragma once

#include <cstddef>
#include <cstdint>

namespace emc::accel_sim::detail {

inline constexpr std::size_t kOutBlock = 8;     // output channels per weight block
inline constexpr std::size_t kPixelBlock = 16;  // pixels per inner step (acc_stride multiple)
inline constexpr std::size_t kInputSlack = 64;  // int16 pairs readable past the last valid pixel

struct PairGemm {
  const std::int16_t* base = nullptr;       // interleaved input pairs
  const std::ptrdiff_t* offsets = nullptr;  // per pair-row: int16 offset of pixel 0 from base
  std::size_t kpairs = 0;
  const std::int32_t* weights = nullptr;  // [oblocks][kpairs][kOutBlock] packed pairs
  std::size_t oblocks = 0;
  std::size_t n = 0;            // pixels; up to round_up(n, 16) are computed
  std::int32_t* acc = nullptr;  // [oblocks * kOutBlock][acc_stride]
  std::size_t acc_stride = 0;   // multiple of kPixelBlock, >= n
};

// acc[o][p] = sum_k  x_pair_k[p] . w_pair_k[o]  for every o and p < round_up(n, 16).
using GemmFn = void (*)(const PairGemm& g);

enum class GemmIsa { kPortable, kAvx2, kAvx512Vnni };

// The best variant not above `max_isa` that this CPU supports; `name` receives its name
// ("avx512-vnni", "avx2", "portable").
GemmFn select_gemm(GemmIsa max_isa, const char** name);

// Depthwise: for one channel, acc[x] = sum_t w[t] * row_t[x] and sum[x] = sum_t row_t[x] for
// x < n, where row_t = plane + offsets[t]. Weights may be up to 65535: 255*65535*9 < 2^31.
void depthwise_row(const std::int16_t* plane, const std::ptrdiff_t* offsets,
                   const std::int32_t* weights, std::size_t taps, std::size_t n, std::int32_t* acc,
                   std::int32_t* sum);

}  // namespace emc::accel_sim::detail
