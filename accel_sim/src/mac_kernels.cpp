#include "mac_kernels.h"

#include <algorithm>
#include <array>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define EMC_ACCEL_X86 1
#include <immintrin.h>
#endif

namespace emc::accel_sim::detail {
namespace {

void gemm_portable(const PairGemm& g) {
  const std::size_t n_round = (g.n + kPixelBlock - 1) / kPixelBlock * kPixelBlock;
  for (std::size_t ob = 0; ob < g.oblocks; ++ob) {
    const std::int32_t* wb = g.weights + ob * g.kpairs * kOutBlock;
    for (std::size_t n0 = 0; n0 < n_round; n0 += kPixelBlock) {
      std::int32_t a[kOutBlock][kPixelBlock] = {};
      for (std::size_t kp = 0; kp < g.kpairs; ++kp) {
        const std::int16_t* x = g.base + g.offsets[kp] + 2 * n0;
        const std::int32_t* w = wb + kp * kOutBlock;
        for (std::size_t o = 0; o < kOutBlock; ++o) {
          const std::int32_t w_lo = static_cast<std::int16_t>(w[o] & 0xffff);
          const std::int32_t w_hi = static_cast<std::int16_t>((w[o] >> 16) & 0xffff);
          for (std::size_t j = 0; j < kPixelBlock; ++j) {
            a[o][j] += x[2 * j] * w_lo + x[2 * j + 1] * w_hi;
          }
        }
      }
      for (std::size_t o = 0; o < kOutBlock; ++o) {
        std::int32_t* dst = g.acc + (ob * kOutBlock + o) * g.acc_stride + n0;
        for (std::size_t j = 0; j < kPixelBlock; ++j) dst[j] = a[o][j];
      }
    }
  }
}

// The 8 weight rows of output block ob (the last block repeats the last row: nothing is read past
// the weights, the extra results are ignored).
inline void block_rows(const QuadGemm& g, std::size_t ob, const std::uint8_t* rows[kOutBlock]) {
  for (std::size_t j = 0; j < kOutBlock; ++j) {
    rows[j] = g.weights + std::min(ob * kOutBlock + j, g.out_c - 1) * g.w_stride;
  }
}

inline std::uint32_t load_u32(const std::uint8_t* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

void quad_gemm_portable(const QuadGemm& g) {
  const std::size_t n_round = (g.n + kQuadPixelBlock - 1) / kQuadPixelBlock * kQuadPixelBlock;
  const std::size_t oblocks = (g.out_c + kOutBlock - 1) / kOutBlock;
  for (std::size_t ob = 0; ob < oblocks; ++ob) {
    const std::uint8_t* rows[kOutBlock];
    block_rows(g, ob, rows);
    for (std::size_t n0 = 0; n0 < n_round; n0 += kQuadPixelBlock) {
      std::int32_t a[kOutBlock][kQuadPixelBlock] = {};
      for (std::size_t kg = 0; kg < g.kgroups; ++kg) {
        const auto* x = reinterpret_cast<const std::int8_t*>(g.base + g.offsets[kg] + 4 * n0);
        for (std::size_t o = 0; o < kOutBlock; ++o) {
          const std::uint8_t* w = rows[o] + 4 * kg;
          const std::int32_t w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
          for (std::size_t j = 0; j < kQuadPixelBlock; ++j) {
            a[o][j] += w0 * x[4 * j] + w1 * x[4 * j + 1] + w2 * x[4 * j + 2] + w3 * x[4 * j + 3];
          }
        }
      }
      for (std::size_t o = 0; o < kOutBlock; ++o) {
        std::int32_t* dst = g.acc + (ob * kOutBlock + o) * g.acc_stride + n0;
        for (std::size_t j = 0; j < kQuadPixelBlock; ++j) dst[j] = a[o][j];
      }
    }
  }
}

void depthwise_portable(const DepthwisePlane& d) {
  for (std::size_t y = 0; y < d.h; ++y) {
    const std::uint8_t* row = d.plane + y * d.padded_w;
    std::int32_t* acc = d.acc + y * d.w;
    std::int64_t* xt = d.xterm + y * d.w;
    for (std::size_t x = 0; x < d.w; ++x) {
      std::int32_t a = 0, s = 0;
      for (std::size_t t = 0; t < d.taps; ++t) {
        const std::int32_t v = row[x + d.offsets[t]];
        a += d.weights[t] * v;
        s += v;
      }
      acc[x] = a;
      xt[x] = (d.arg_x * s) >> d.shr_x;
    }
  }
}

#ifdef EMC_ACCEL_X86
// GCC 12's AVX-512 intrinsics (_mm512_undefined_epi32 `__Y = __Y`) trip -Wmaybe-uninitialized.
#pragma GCC diagnostic push
#if !defined(__clang__)  // a GCC-only warning; clang warns on the unknown group
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// 16 pixels per step (masked at the row end, nothing is read past it); the Σx term with
// vpmuldq (arg_x is 24-bit and Σx <= 255*9: both fit int32, the product is exact).
template <bool kSmall>
__attribute__((target("avx512f,avx512bw,avx512vl"))) void depthwise_avx512_t(
    const DepthwisePlane& d) {
  __m512i w[9];
  for (std::size_t t = 0; t < d.taps; ++t) {
    w[t] = _mm512_set1_epi32(kSmall ? (d.weights[t] & 0xffff) : d.weights[t]);
  }
  const __m512i arg_x = _mm512_set1_epi64(d.arg_x);
  const __m512i cterm = _mm512_set1_epi32(d.cterm32);
  const __m128i shr = _mm_cvtsi32_si128(static_cast<int>(d.shr_x));
  for (std::size_t y = 0; y < d.h; ++y) {
    const std::uint8_t* row = d.plane + y * d.padded_w;
    std::int32_t* acc = d.acc + y * d.w;
    std::int64_t* xt = d.xterm + y * d.w;
    for (std::size_t x = 0; x < d.w; x += 16) {
      const __mmask16 m = d.w - x >= 16 ? static_cast<__mmask16>(0xffff)
                                        : static_cast<__mmask16>((1u << (d.w - x)) - 1);
      __m512i a = _mm512_setzero_si512(), s = a;
      for (std::size_t t = 0; t < d.taps; ++t) {
        const __m512i v = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, row + x + d.offsets[t]));
        // kSmall: v's high int16 halves are 0, so pmaddwd gives v * w exactly.
        a = _mm512_add_epi32(a, kSmall ? _mm512_madd_epi16(v, w[t]) : _mm512_mullo_epi32(v, w[t]));
        s = _mm512_add_epi32(s, v);
      }
      const __m512i s_lo = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(s));
      const __m512i s_hi = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(s, 1));
      const __m512i x_lo = _mm512_sra_epi64(_mm512_mul_epi32(s_lo, arg_x), shr);
      const __m512i x_hi = _mm512_sra_epi64(_mm512_mul_epi32(s_hi, arg_x), shr);
      if (d.fold) {  // vpmovqd truncates: xterm mod 2^32
        const __m512i x32 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(x_lo)),
                                               _mm512_cvtepi64_epi32(x_hi), 1);
        a = _mm512_add_epi32(_mm512_add_epi32(a, x32), cterm);
        _mm512_mask_storeu_epi32(acc + x, m, a);
        continue;
      }
      _mm512_mask_storeu_epi32(acc + x, m, a);
      _mm512_mask_storeu_epi64(xt + x, static_cast<__mmask8>(m), x_lo);
      _mm512_mask_storeu_epi64(xt + x + 8, static_cast<__mmask8>(m >> 8), x_hi);
    }
  }
}

void depthwise_avx512(const DepthwisePlane& d) {
  if (d.small_weights) {
    depthwise_avx512_t<true>(d);
  } else {
    depthwise_avx512_t<false>(d);
  }
}

// The first min(left, 16) int32 lanes of v to p.
__attribute__((target("avx512f"))) inline void store_i32x16(std::int32_t* p, std::size_t left,
                                                            __m512i v) {
  if (left >= 16) {
    _mm512_storeu_si512(p, v);
  } else {
    _mm512_mask_storeu_epi32(p, static_cast<__mmask16>((1u << left) - 1), v);
  }
}

// Byte 4i + j of a kernel row's vector: window byte i + j (input column x - 1 + i + j) for the
// tap kx = j of pixel x + i; byte 3 (coefficient 0) repeats a window byte.
constexpr std::array<std::uint8_t, 64> kDwTapIndex = [] {
  std::array<std::uint8_t, 64> a{};
  for (std::size_t i = 0; i < 16; ++i)
    for (std::size_t j = 0; j < 4; ++j) a[4 * i + j] = static_cast<std::uint8_t>(i + j);
  return a;
}();

// 16 pixels per step: per kernel row one masked 18-byte load of the window (bytes outside the map
// take the pad value), one vpermb into the (x, x+1, x+2, -) quads of 16 pixels and one vpdpbusd
// (two without kSingle: the coefficients and the ones for Σx).
template <bool kSingle>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi"))) void depthwise_lines_t(
    const DepthwiseLines& d) {
  const __m512i idx = _mm512_loadu_si512(kDwTapIndex.data());
  const __m512i pad = _mm512_set1_epi8(static_cast<char>(d.pad));
  const __m512i ones = _mm512_set1_epi32(0x00010101);
  __m512i coef[3];
  for (int r = 0; r < 3; ++r) coef[r] = _mm512_set1_epi32(static_cast<int>(d.coef[r]));
  const __m512i cterm = _mm512_set1_epi32(d.cterm32);
  // shr_x 0: Σ w x + arg_x Σx = Σ (w - 128) x + (128 + arg_x) Σx, mod 2^32.
  const __m512i sx_mul = _mm512_set1_epi32(static_cast<std::int32_t>(128 + d.arg_x));
  const __m512i arg_x = _mm512_set1_epi64(d.arg_x);
  const __m128i shr = _mm_cvtsi32_si128(static_cast<int>(d.shr_x));
  const auto base = reinterpret_cast<std::uintptr_t>(d.line0);
  for (std::size_t r = 0; r < d.rows; ++r) {
    const std::size_t y = d.y0 + r;  // input rows y - 1, y, y + 1
    std::uintptr_t lines[3];
    bool inside[3];
    for (std::size_t ky = 0; ky < 3; ++ky) {
      inside[ky] = y + ky >= 1 && y + ky <= d.h;
      lines[ky] = base + (y + ky - 1) * d.line_stride - 1;  // column -1 (never read)
    }
    std::int32_t* acc = d.acc + r * d.w;
    for (std::size_t x = 0; x < d.w; x += 16) {
      // Window byte b is column x - 1 + b, read when 0 <= x - 1 + b < w (b < 18).
      const std::size_t end = std::min<std::size_t>(18, d.w - x + 1);
      __mmask64 m = (__mmask64{1} << end) - 1;
      if (x == 0) m &= ~__mmask64{1};
      __m512i a = _mm512_setzero_si512(), s = a;
      for (std::size_t ky = 0; ky < 3; ++ky) {
        const __m512i v = inside[ky] ? _mm512_mask_loadu_epi8(
                                           pad, m, reinterpret_cast<const void*>(lines[ky] + x))
                                     : pad;
        const __m512i q = _mm512_permutexvar_epi8(idx, v);
        a = _mm512_dpbusd_epi32(a, q, coef[ky]);
        if (!kSingle) s = _mm512_dpbusd_epi32(s, q, ones);
      }
      if (!kSingle) {
        if (d.shr_x == 0) {
          a = _mm512_add_epi32(a, _mm512_mullo_epi32(s, sx_mul));
        } else {  // 128 Σx, and the floor-shifted arg_x term in 64 bits, truncated (mod 2^32)
          a = _mm512_add_epi32(a, _mm512_slli_epi32(s, 7));
          const __m512i s_lo = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(s));
          const __m512i s_hi = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(s, 1));
          const __m512i x_lo = _mm512_sra_epi64(_mm512_mul_epi32(s_lo, arg_x), shr);
          const __m512i x_hi = _mm512_sra_epi64(_mm512_mul_epi32(s_hi, arg_x), shr);
          a = _mm512_add_epi32(
              a, _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(x_lo)),
                                    _mm512_cvtepi64_epi32(x_hi), 1));
        }
      }
      store_i32x16(acc + x, d.w - x, _mm512_add_epi32(a, cterm));
    }
  }
}

void depthwise_lines_vnni(const DepthwiseLines& d) {
  if (d.single) {
    depthwise_lines_t<true>(d);
  } else {
    depthwise_lines_t<false>(d);
  }
}

// AVX2 has no exact u8 x s8 dot (pmaddubsw saturates at int16), so quads are widened to int16 and
// multiplied with pmaddwd: 4 pixels per ymm as (x0w0+x1w1, x2w2+x3w3) pairs, added at the end.
__attribute__((target("avx2"))) void quad_gemm_avx2_block(const QuadGemm& g,
                                                          const std::uint8_t* const* rows,
                                                          std::int32_t* acc, std::size_t n_round) {
  for (std::size_t n0 = 0; n0 < n_round; n0 += 8) {
    __m256i lo[kOutBlock], hi[kOutBlock];  // pixels n0..n0+3 and n0+4..n0+7
    for (std::size_t o = 0; o < kOutBlock; ++o) lo[o] = hi[o] = _mm256_setzero_si256();
    for (std::size_t kg = 0; kg < g.kgroups; ++kg) {
      const std::uint8_t* xp = g.base + g.offsets[kg] + 4 * n0;
      const __m256i x0 =
          _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(xp)));
      const __m256i x1 =
          _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(xp + 16)));
      for (std::size_t o = 0; o < kOutBlock; ++o) {
        const __m256i w =
            _mm256_cvtepu8_epi16(_mm_set1_epi32(static_cast<int>(load_u32(rows[o] + 4 * kg))));
        lo[o] = _mm256_add_epi32(lo[o], _mm256_madd_epi16(x0, w));
        hi[o] = _mm256_add_epi32(hi[o], _mm256_madd_epi16(x1, w));
      }
    }
    for (std::size_t o = 0; o < kOutBlock; ++o) {
      // hadd per 128-bit lane gives (p0, p1, p4, p5 | p2, p3, p6, p7).
      const __m256i s = _mm256_permute4x64_epi64(_mm256_hadd_epi32(lo[o], hi[o]), 0xd8);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + o * g.acc_stride + n0), s);
    }
  }
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) void quad_gemm_vnni_block(
    const QuadGemm& g, const std::uint8_t* const* rows, std::int32_t* acc, std::size_t n_round) {
  // 32 pixels x 8 output channels per step: vpdpbusd does 4 MACs per int32 lane.
  std::int32_t row_add[kOutBlock] = {};
  if (g.add_row != nullptr) {
    const std::size_t first = static_cast<std::size_t>(acc - g.acc) / g.acc_stride;
    for (std::size_t o = 0; o < kOutBlock; ++o)
      row_add[o] = g.add_row[std::min(first + o, g.out_c - 1)];
  }
  for (std::size_t n0 = 0; n0 < n_round; n0 += 32) {
    __m512i lo[kOutBlock], hi[kOutBlock];
    for (std::size_t o = 0; o < kOutBlock; ++o) lo[o] = hi[o] = _mm512_setzero_si512();
    for (std::size_t kg = 0; kg < g.kgroups; ++kg) {
      const std::uint8_t* xp = g.base + g.offsets[kg] + 4 * n0;
      const __m512i x0 = _mm512_loadu_si512(xp);
      const __m512i x1 = _mm512_loadu_si512(xp + 64);
      for (std::size_t o = 0; o < kOutBlock; ++o) {
        const __m512i w = _mm512_set1_epi32(static_cast<int>(load_u32(rows[o] + 4 * kg)));
        lo[o] = _mm512_dpbusd_epi32(lo[o], w, x0);
        hi[o] = _mm512_dpbusd_epi32(hi[o], w, x1);
      }
    }
    if (g.add_pixel != nullptr) {
      const __m512i p0 = _mm512_loadu_si512(g.add_pixel + n0);
      const __m512i p1 = _mm512_loadu_si512(g.add_pixel + n0 + 16);
      for (std::size_t o = 0; o < kOutBlock; ++o) {
        lo[o] = _mm512_add_epi32(lo[o], p0);
        hi[o] = _mm512_add_epi32(hi[o], p1);
      }
    }
    if (g.add_row != nullptr) {
      for (std::size_t o = 0; o < kOutBlock; ++o) {
        const __m512i r = _mm512_set1_epi32(row_add[o]);
        lo[o] = _mm512_add_epi32(lo[o], r);
        hi[o] = _mm512_add_epi32(hi[o], r);
      }
    }
    for (std::size_t o = 0; o < kOutBlock; ++o) {
      _mm512_storeu_si512(acc + o * g.acc_stride + n0, lo[o]);
      _mm512_storeu_si512(acc + o * g.acc_stride + n0 + 16, hi[o]);
    }
  }
  if (n_round < g.n) {  // a last block of <= 16 pixels (the 7x7, 14x14 and 4x4 maps): half a step
    const std::size_t n0 = n_round;
    __m512i lo[kOutBlock];
    for (std::size_t o = 0; o < kOutBlock; ++o) lo[o] = _mm512_setzero_si512();
    for (std::size_t kg = 0; kg < g.kgroups; ++kg) {
      const __m512i x0 = _mm512_loadu_si512(g.base + g.offsets[kg] + 4 * n0);
      for (std::size_t o = 0; o < kOutBlock; ++o) {
        const __m512i w = _mm512_set1_epi32(static_cast<int>(load_u32(rows[o] + 4 * kg)));
        lo[o] = _mm512_dpbusd_epi32(lo[o], w, x0);
      }
    }
    if (g.add_pixel != nullptr) {
      const __m512i p0 = _mm512_loadu_si512(g.add_pixel + n0);
      for (std::size_t o = 0; o < kOutBlock; ++o) lo[o] = _mm512_add_epi32(lo[o], p0);
    }
    if (g.add_row != nullptr) {
      for (std::size_t o = 0; o < kOutBlock; ++o)
        lo[o] = _mm512_add_epi32(lo[o], _mm512_set1_epi32(row_add[o]));
    }
    for (std::size_t o = 0; o < kOutBlock; ++o)
      _mm512_storeu_si512(acc + o * g.acc_stride + n0, lo[o]);
  }
}

// The vector quad GEMMs compute one block of kOutBlock output rows per call.
// kFullBlocks: when n % 32 is 1..16, `Block` is given n rounded down to 32 and computes the last
// <= 16 pixels in one 16-pixel step itself; otherwise n is rounded up to 32.
template <void (*Block)(const QuadGemm&, const std::uint8_t* const*, std::int32_t*, std::size_t),
          bool kFullBlocks = false>
void for_each_quad_block(const QuadGemm& g) {
  const std::size_t n_round = kFullBlocks && g.n % kQuadPixelBlock <= 16
                                  ? g.n / kQuadPixelBlock * kQuadPixelBlock
                                  : (g.n + kQuadPixelBlock - 1) / kQuadPixelBlock * kQuadPixelBlock;
  const std::size_t oblocks = (g.out_c + kOutBlock - 1) / kOutBlock;
  for (std::size_t ob = 0; ob < oblocks; ++ob) {
    const std::uint8_t* rows[kOutBlock];
    block_rows(g, ob, rows);
    Block(g, rows, g.acc + ob * kOutBlock * g.acc_stride, n_round);
  }
}
// Σ over k-groups of the four int8 lanes of each pixel: vpdpbusd with an all-ones u8 operand.
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void quad_sum_vnni(const QuadGemm& g,
                                                                          std::int32_t* sums) {
  const __m512i ones = _mm512_set1_epi8(1);
  for (std::size_t n0 = 0; n0 < g.n; n0 += 16) {
    __m512i s = _mm512_setzero_si512();
    for (std::size_t kg = 0; kg < g.kgroups; ++kg) {
      s = _mm512_dpbusd_epi32(s, ones, _mm512_loadu_si512(g.base + g.offsets[kg] + 4 * n0));
    }
    store_i32x16(sums + n0, g.n - n0, s);
  }
}
void quad_gemm_avx2(const QuadGemm& g) {
  for_each_quad_block<quad_gemm_avx2_block>(g);
}
void quad_gemm_vnni(const QuadGemm& g) {
  for_each_quad_block<quad_gemm_vnni_block, true>(g);
}

__attribute__((target("avx2"))) void gemm_avx2_block(const PairGemm& g, const std::int32_t* wb,
                                                     std::int32_t* acc, std::size_t n_round) {
  // 8 pixels x 8 output channels per step: 8 accumulators + input + broadcast in 16 ymm.
  for (std::size_t n0 = 0; n0 < n_round; n0 += 8) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
            a7 = a0;
    for (std::size_t kp = 0; kp < g.kpairs; ++kp) {
      const __m256i x =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g.base + g.offsets[kp] + 2 * n0));
      const std::int32_t* w = wb + kp * kOutBlock;
      a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(x, _mm256_set1_epi32(w[0])));
      a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(x, _mm256_set1_epi32(w[1])));
      a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(x, _mm256_set1_epi32(w[2])));
      a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(x, _mm256_set1_epi32(w[3])));
      a4 = _mm256_add_epi32(a4, _mm256_madd_epi16(x, _mm256_set1_epi32(w[4])));
      a5 = _mm256_add_epi32(a5, _mm256_madd_epi16(x, _mm256_set1_epi32(w[5])));
      a6 = _mm256_add_epi32(a6, _mm256_madd_epi16(x, _mm256_set1_epi32(w[6])));
      a7 = _mm256_add_epi32(a7, _mm256_madd_epi16(x, _mm256_set1_epi32(w[7])));
    }
    const std::size_t s = g.acc_stride;
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + 0 * s + n0), a0);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + 1 * s + n0), a1);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + 2 * s + n0), a2);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + 3 * s + n0), a3);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + 4 * s + n0), a4);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + 5 * s + n0), a5);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + 6 * s + n0), a6);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + 7 * s + n0), a7);
  }
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) void gemm_vnni_block(const PairGemm& g,
                                                                            const std::int32_t* wb,
                                                                            std::int32_t* acc,
                                                                            std::size_t n_round) {
  // 16 pixels x 8 output channels per step; vpdpwssd = pmaddwd + add in one instruction.
  for (std::size_t n0 = 0; n0 < n_round; n0 += 16) {
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
            a7 = a0;
    for (std::size_t kp = 0; kp < g.kpairs; ++kp) {
      const __m512i x = _mm512_loadu_si512(g.base + g.offsets[kp] + 2 * n0);
      const std::int32_t* w = wb + kp * kOutBlock;
      a0 = _mm512_dpwssd_epi32(a0, x, _mm512_set1_epi32(w[0]));
      a1 = _mm512_dpwssd_epi32(a1, x, _mm512_set1_epi32(w[1]));
      a2 = _mm512_dpwssd_epi32(a2, x, _mm512_set1_epi32(w[2]));
      a3 = _mm512_dpwssd_epi32(a3, x, _mm512_set1_epi32(w[3]));
      a4 = _mm512_dpwssd_epi32(a4, x, _mm512_set1_epi32(w[4]));
      a5 = _mm512_dpwssd_epi32(a5, x, _mm512_set1_epi32(w[5]));
      a6 = _mm512_dpwssd_epi32(a6, x, _mm512_set1_epi32(w[6]));
      a7 = _mm512_dpwssd_epi32(a7, x, _mm512_set1_epi32(w[7]));
    }
    const std::size_t s = g.acc_stride;
    _mm512_storeu_si512(acc + 0 * s + n0, a0);
    _mm512_storeu_si512(acc + 1 * s + n0, a1);
    _mm512_storeu_si512(acc + 2 * s + n0, a2);
    _mm512_storeu_si512(acc + 3 * s + n0, a3);
    _mm512_storeu_si512(acc + 4 * s + n0, a4);
    _mm512_storeu_si512(acc + 5 * s + n0, a5);
    _mm512_storeu_si512(acc + 6 * s + n0, a6);
    _mm512_storeu_si512(acc + 7 * s + n0, a7);
  }
}

// The vector GEMMs compute one block of kOutBlock output channels per call.
template <void (*Block)(const PairGemm&, const std::int32_t*, std::int32_t*, std::size_t)>
void for_each_out_block(const PairGemm& g) {
  const std::size_t n_round = (g.n + kPixelBlock - 1) / kPixelBlock * kPixelBlock;
  for (std::size_t ob = 0; ob < g.oblocks; ++ob) {
    Block(g, g.weights + ob * g.kpairs * kOutBlock, g.acc + ob * kOutBlock * g.acc_stride, n_round);
  }
}
void gemm_avx2(const PairGemm& g) {
  for_each_out_block<gemm_avx2_block>(g);
}
void gemm_vnni(const PairGemm& g) {
  for_each_out_block<gemm_vnni_block>(g);
}
#pragma GCC diagnostic pop
#endif

}  // namespace

MacKernels select_mac_kernels(GemmIsa max_isa) {
  MacKernels k{gemm_portable, quad_gemm_portable, nullptr, depthwise_portable, false,
               nullptr,       "portable"};
#ifdef EMC_ACCEL_X86
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
  if (max_isa == GemmIsa::kAvx512Vnni && avx512 && __builtin_cpu_supports("avx512vnni")) {
    k = {gemm_vnni, quad_gemm_vnni, quad_sum_vnni, depthwise_portable,
         false,     nullptr,        "avx512-vnni"};
    if (__builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vbmi")) {
      k.depthwise_lines = depthwise_lines_vnni;
    }
  } else if (max_isa != GemmIsa::kPortable && __builtin_cpu_supports("avx2")) {
    k = {gemm_avx2, quad_gemm_avx2, nullptr, depthwise_portable, false, nullptr, "avx2"};
  }
  // The depthwise kernel needs AVX-512 VL rather than VNNI.
  if (max_isa == GemmIsa::kAvx512Vnni && avx512 && __builtin_cpu_supports("avx512vl")) {
    k.depthwise = depthwise_avx512;
    k.depthwise_folds = true;
  }
#else
  (void)max_isa;
#endif
  return k;
}

}  // namespace emc::accel_sim::detail
