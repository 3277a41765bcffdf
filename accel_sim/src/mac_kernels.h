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

// 8-bit weights: a GEMM over *quads* of input channels with x86 vpdpbusd's operands, u8 x s8.
// The input is stored as interleaved bytes (x[4i][p]-128, ..., x[4i+3][p]-128) as int8 (0 for the
// phantom channels past IC); weights stay uint8, four consecutive k-entries in one 32-bit word
// (for a 1x1 layer with IC % 4 == 0 that is the kmodel's own [oc][ic] blob, used in place).
// The caller adds 128 * sum(w) back. |sum| <= 255*128*9*1024 < 2^31: int32 is exact.
inline constexpr std::size_t kQuadPixelBlock = 32;  // pixels per inner step (acc_stride multiple)
inline constexpr std::size_t kQuadSlack = 64;  // pixels (4 bytes each) readable past the planes

struct QuadGemm {
  const std::uint8_t* base = nullptr;       // interleaved int8 quads
  const std::ptrdiff_t* offsets = nullptr;  // per k-group: byte offset of pixel 0 from base
  std::size_t kgroups = 0;
  const std::uint8_t* weights = nullptr;  // row o at weights + o * w_stride, 4 bytes per k-group
  std::size_t w_stride = 0;
  std::size_t out_c = 0;        // rows; blocks of 8, the last one repeats row out_c - 1
  std::size_t n = 0;            // pixels; up to round_up(n, 32) are computed
  std::int32_t* acc = nullptr;  // [round_up(out_c, 8)][acc_stride]
  std::size_t acc_stride = 0;   // multiple of kQuadPixelBlock, >= n
  // Optional, AVX-512 VNNI kernel only (the caller passes them only when quad_sum is set): added
  // to every stored acc[o][p] with int32 wrap-around: add_pixel[p] (read for p < round_up(n, 32))
  // and add_row[min(o, out_c - 1)].
  const std::int32_t* add_pixel = nullptr;
  const std::int32_t* add_row = nullptr;
};

// acc[o][p] = sum_g  sum_i w[o][4g+i] * x_g[p][i]  for every o < out_c and p < round_up(n, 32).
using QuadGemmFn = void (*)(const QuadGemm& g);

// The window's Σ(x − 128) from the same quad planes (only base, offsets, kgroups, n are read):
// sums[p] = sum_g sum_i x_g[p][i] (int8) for p < n, exactly n values written. Pad taps hold
// pad_value − 128 and phantom channels 0, so Σx of §6.1 is sums[p] + 128·IC·k². |sums| <=
// 128·4·9·kgroups < 2^31.
using QuadSumFn = void (*)(const QuadGemm& g, std::int32_t* sums);

// Depthwise 1x1/3x3 over one whole channel: for each output pixel (y, x) of the w x h map,
// acc = sum_t w[t] * plane[y*padded_w + x + offsets[t]] and
// xterm = (arg_x * sum_t plane[...]) >> shr_x (the window's Σx term of §6.1).
// Weights may be up to 65535 (255*65535*9 < 2^31); outputs are dense [h][w].
struct DepthwisePlane {
  const std::uint8_t* plane = nullptr;  // padded input plane (uint8)
  std::size_t padded_w = 0, w = 0, h = 0;
  const std::ptrdiff_t* offsets = nullptr;  // per tap, from pixel (0, 0)
  std::size_t taps = 0;
  const std::int32_t* weights = nullptr;
  bool small_weights = false;  // every weight <= 32767 (the pmaddwd form is exact)
  std::int64_t arg_x = 0;      // sign-extended 24-bit
  std::uint32_t shr_x = 0;
  std::int32_t* acc = nullptr;
  std::int64_t* xterm = nullptr;
  // Only for a kernel with MacKernels::depthwise_folds: acc gets xterm (as int32) + cterm32 added
  // with int32 wrap-around and xterm is not written (the caller proved the sum fits int32).
  bool fold = false;
  std::int32_t cterm32 = 0;
};
using DepthwiseFn = void (*)(const DepthwisePlane& d);

// Depthwise 3x3 (pad 1) read straight from the input map's lines in KPU RAM, no padded copy: for
// the output rows y0 .. y0 + rows - 1 of one w x h channel, acc[(y - y0) * w + x] =
// sum_t w_t * x_t + ((arg_x * Σx) >> shr_x) + cterm32 with int32 wrap-around (the caller proved
// the exact sum fits int32: the folded form of DepthwisePlane), taps outside the map reading
// `pad`. Each kernel row's three taps are one u8 x s8 vpdpbusd group with these coefficients:
// `single`: w_t + arg_x (shr_x is 0 and every one fits int8: one group per kernel row);
// otherwise w_t - 128, and Σx from a second group of ones (Σ w x = Σ (w - 128) x + 128 Σx).
struct DepthwiseLines {
  const std::uint8_t* line0 = nullptr;  // the channel's line 0 (W bytes; lines at line_stride)
  std::size_t line_stride = 0, w = 0, h = 0;
  std::size_t y0 = 0, rows = 0;
  std::uint8_t pad = 0;
  std::uint32_t coef[3] = {};  // per kernel row: s8 coefficients of kx = 0, 1, 2 in bytes 0..2
  bool single = false;
  std::int64_t arg_x = 0;  // sign-extended 24-bit
  std::uint32_t shr_x = 0;
  std::int32_t cterm32 = 0;
  std::int32_t* acc = nullptr;  // [rows][w]
};
using DepthwiseLinesFn = void (*)(const DepthwiseLines& d);

// The best variant of each kernel not above `max_isa` that this CPU supports (every variant gives
// the same bytes); `name` is the GEMMs' level ("avx512-vnni", "avx2", "portable").
struct MacKernels {
  GemmFn gemm;
  QuadGemmFn quad_gemm;
  // AVX-512 VNNI only (vpdpbusd with an all-ones operand); nullptr otherwise, and the caller then
  // sums the channels from the input map itself (the portable path).
  QuadSumFn quad_sum;
  DepthwiseFn depthwise;
  bool depthwise_folds;              // depthwise honours DepthwisePlane::fold (the AVX-512 kernel)
  DepthwiseLinesFn depthwise_lines;  // AVX-512 VNNI + VBMI only; nullptr otherwise
  const char* name;
};
MacKernels select_mac_kernels(GemmIsa max_isa);

}  // namespace emc::accel_sim::detail
