// AVX-512 VNNI kernels of EMC_CONV2D / EMC_DEPTHWISE_CONV2D int8, and the AVX2 GEMM over the
// same packed quads.
//
// The scalar loop computes acc = bias + sum over valid taps of w * (x - zp). Here vpdpbusd
// multiplies u = x + 128 (the int8 code with its sign bit flipped, as uint8) by the int8 weight,
// and acc = corr + sum over all taps of w * u with corr = bias - (zp + 128) * sum(w): a valid tap
// adds w * (x - zp) as before, a padding tap reads u = zp + 128 and adds 0, a phantom tap (past
// the kernel, to fill a quad) has weight 0. The arithmetic is int32 modulo 2^32 (vpdpbusd wraps,
// corr is taken mod 2^32); prepare proved the true sum fits int32, so the result is the true
// accumulator. requant16 is emc_requantize on 16 lanes. Hence the same bytes as the scalar loop.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "emc_conv_kernels.h"

namespace emc::cpu_backend::detail {

bool emc_vnni_available() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
         __builtin_cpu_supports("avx512vbmi");
#else
  return false;
#endif
}

bool avx2_depthwise_fits(const ConvShape& v) {
  return v.x.stride == 1 || (v.x.stride == 2 && v.x.dilation == 1);
}

bool vnni_conv_fits(const ConvShape& v) {
  return !v.depthwise() || 15 * v.x.stride + 3 * v.x.dilation <= 63;
}

namespace {

constexpr std::int64_t kRows = 8;  // output channels per GEMM block

std::int64_t round_up(std::int64_t a, std::int64_t b) {
  return (a + b - 1) / b * b;
}

// One scratch buffer per thread, shared by every layer (layers run one after another).
std::uint8_t* scratch(std::size_t bytes) {
  thread_local std::vector<std::uint8_t> buf;
  if (buf.size() < bytes) buf.resize(bytes);
  return buf.data();
}

// Four int8 weights as one little-endian word (vpdpbusd's signed operand); 0 past `count`.
std::int32_t quad(const std::int8_t* w, std::int64_t count, std::int64_t step = 1) {
  std::uint32_t q = 0;
  for (std::int64_t i = 0; i < std::min<std::int64_t>(count, 4); ++i) {
    q |= std::uint32_t{static_cast<std::uint8_t>(w[i * step])} << (8 * i);
  }
  return static_cast<std::int32_t>(q);
}

#if defined(__x86_64__)
// GCC 12's AVX-512 intrinsics (_mm512_undefined_epi32 `__Y = __Y`) trip -Wmaybe-uninitialized.
#pragma GCC diagnostic push
#if !defined(__clang__)  // a GCC-only warning; clang warns on the unknown group
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#define EMC_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi")))

struct Requant {  // one output channel's emc_requantize constants, broadcast
  __m512i mult, right, half, zp, lo, hi;
};

EMC_VNNI inline Requant requant_for(const Int8Params& p, std::int64_t o) {
  const int right = 31 - p.shift[o];
  return {_mm512_set1_epi64(p.multiplier[o]),
          _mm512_set1_epi64(right),
          _mm512_set1_epi64(std::int64_t{1} << (right - 1)),
          _mm512_set1_epi32(p.out_zp),
          _mm512_set1_epi32(p.lo),
          _mm512_set1_epi32(p.hi)};
}

// emc_requantize on 16 int32 lanes: |acc| * multiplier as uint64 on the even and the odd lanes
// (< 2^62), + half, >> right, capped at 65535 (a larger magnitude ends at lo or hi after + zp
// either way, |zp| <= 128), the sign put back (round half away), + zp, clamp; int8 codes.
EMC_VNNI inline __m128i requant16(__m512i acc, const Requant& r) {
  const __m512i zero = _mm512_setzero_si512();
  const __m512i cap = _mm512_set1_epi64(65535);
  const __mmask16 neg = _mm512_cmplt_epi32_mask(acc, zero);
  const __m512i a = _mm512_abs_epi32(acc);  // |INT32_MIN| reads as 2^31 unsigned
  __m512i ev = _mm512_mul_epu32(a, r.mult);
  __m512i od = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), r.mult);
  ev = _mm512_min_epu64(_mm512_srlv_epi64(_mm512_add_epi64(ev, r.half), r.right), cap);
  od = _mm512_min_epu64(_mm512_srlv_epi64(_mm512_add_epi64(od, r.half), r.right), cap);
  __m512i q = _mm512_or_si512(ev, _mm512_slli_epi64(od, 32));
  q = _mm512_mask_sub_epi32(q, neg, zero, q);
  q = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(q, r.zp), r.lo), r.hi);
  return _mm512_cvtepi32_epi8(q);
}

// Lanes [p0, p0 + 16) that are below n.
inline __mmask16 lanes_below(std::int64_t p0, std::int64_t n) {
  const std::int64_t k = std::clamp<std::int64_t>(n - p0, 0, 16);
  return static_cast<__mmask16>((1u << k) - 1);
}

// The regular conv's input as quads of taps in blocks of 32 pixels: byte i of pixel p's quad g is
// u at tap 4g + i, at q[((p / 32 * kgroups + g) * 32 + p % 32) * 4 + i]. One block's taps are
// contiguous (kgroups * 128 bytes), so the GEMM streams it from L1 for every output block.
inline std::uint8_t* quad_at(std::uint8_t* q, std::int64_t kgroups, std::int64_t g,
                             std::int64_t p) {
  return q + ((p / 32 * kgroups + g) * 32 + p % 32) * 4;
}

// The output pixels [first, first + count) that one pack + GEMM pass covers (first a multiple of
// 32): scratch stays kChunk pixels of quads however large the map.
struct Chunk {
  std::int64_t first, count;
};
constexpr std::int64_t kChunk = 2048;

// Regular 1x1 stride-1 unpadded conv: the quads straight from four CHW planes, 16 pixels at a
// time (phantom channels 0).
EMC_VNNI void pack_planes(const ConvShape& v, std::int64_t kgroups, Chunk c, const std::uint8_t* in,
                          std::uint8_t* q) {
  const std::int64_t n = v.x.in * v.y.in;
  in += c.first;
  const __m128i flip = _mm_set1_epi8(static_cast<char>(0x80));
  for (std::int64_t g = 0; g < kgroups; ++g) {
    for (std::int64_t p0 = 0; p0 < c.count; p0 += 16) {
      const __mmask16 m = lanes_below(p0, c.count);
      __m128i x[4];
      for (int i = 0; i < 4; ++i) {
        const std::int64_t ch = 4 * g + i;
        x[i] = ch < v.in_c ? _mm_xor_si128(_mm_maskz_loadu_epi8(m, in + ch * n + p0), flip)
                           : _mm_setzero_si128();
      }
      const __m128i ab_lo = _mm_unpacklo_epi8(x[0], x[1]), ab_hi = _mm_unpackhi_epi8(x[0], x[1]);
      const __m128i cd_lo = _mm_unpacklo_epi8(x[2], x[3]), cd_hi = _mm_unpackhi_epi8(x[2], x[3]);
      __m128i* d = reinterpret_cast<__m128i*>(quad_at(q, kgroups, g, p0));
      _mm_storeu_si128(d, _mm_unpacklo_epi16(ab_lo, cd_lo));
      _mm_storeu_si128(d + 1, _mm_unpackhi_epi16(ab_lo, cd_lo));
      _mm_storeu_si128(d + 2, _mm_unpacklo_epi16(ab_hi, cd_hi));
      _mm_storeu_si128(d + 3, _mm_unpackhi_epi16(ab_hi, cd_hi));
    }
  }
}

// Any other regular conv: im2col into the same layout, tap k = (ic, ky, kx) at quad k / 4, byte
// k % 4; padding taps hold zp + 128. Per tap and output row the valid columns are one range.
void pack_im2col(const ConvShape& v, std::int32_t in_zp, std::int64_t kgroups, Chunk c,
                 const std::uint8_t* in, std::uint8_t* q) {
  const std::int64_t end = c.first + c.count;
  const auto pad = static_cast<std::uint8_t>(in_zp + 128);
  const std::int64_t in_plane = v.x.in * v.y.in;
  std::int64_t k = 0;
  for (std::int64_t ic = 0; ic < v.in_c; ++ic) {
    for (std::int64_t ky = 0; ky < v.y.kernel; ++ky) {
      for (std::int64_t kx = 0; kx < v.x.kernel; ++kx, ++k) {
        // Columns ox with 0 <= ox * stride - pad + kx * dilation < in.
        const std::int64_t off = kx * v.x.dilation - v.x.pad;
        const std::int64_t lo =
            std::min(v.x.out, off >= 0 ? 0 : (-off + v.x.stride - 1) / v.x.stride);
        const std::int64_t hi = std::max(
            lo, std::min(v.x.out,
                         v.x.in - off <= 0 ? 0 : (v.x.in - off + v.x.stride - 1) / v.x.stride));
        for (std::int64_t oy = c.first / v.x.out; oy * v.x.out < end; ++oy) {
          const std::int64_t iy = v.y.at(oy, ky);
          const bool row_ok = iy >= 0 && iy < v.y.in;
          const std::uint8_t* row = in + ic * in_plane + iy * v.x.in + off;
          const std::int64_t p = oy * v.x.out - c.first;  // chunk pixel of column 0
          const std::int64_t xa = std::max<std::int64_t>(0, -p);
          const std::int64_t xb = std::min(v.x.out, end - oy * v.x.out);
          std::int64_t ox = xa;
          for (; ox < std::min(xb, row_ok ? lo : xb); ++ox) {
            quad_at(q, kgroups, k / 4, p + ox)[k % 4] = pad;
          }
          for (; ox < std::min(xb, hi); ++ox) {
            quad_at(q, kgroups, k / 4, p + ox)[k % 4] =
                static_cast<std::uint8_t>(row[ox * v.x.stride] ^ 0x80);
          }
          for (; ox < xb; ++ox) quad_at(q, kgroups, k / 4, p + ox)[k % 4] = pad;
        }
      }
    }
  }
}

// Eight accumulators (one per output channel of the block) times one x vector: named registers,
// since GCC spills an unrolled array of them.
struct Acc8 {
  __m512i a0, a1, a2, a3, a4, a5, a6, a7;
};

EMC_VNNI inline Acc8 acc8_init(const std::int32_t* corr) {
  return {_mm512_set1_epi32(corr[0]), _mm512_set1_epi32(corr[1]), _mm512_set1_epi32(corr[2]),
          _mm512_set1_epi32(corr[3]), _mm512_set1_epi32(corr[4]), _mm512_set1_epi32(corr[5]),
          _mm512_set1_epi32(corr[6]), _mm512_set1_epi32(corr[7])};
}

// out[o][p] per block of 32 pixels (outer) and 8 output channels: 16 accumulators, or 8 for a
// last block of <= 16 pixels. wq: [out_c / 8][kgroups][8] quads, rows past out_c zero
// (computed, not stored).
EMC_VNNI void gemm(const ConvShape& v, const Int8Params& p, const std::int32_t* wq,
                   const std::int32_t* corr, std::int64_t kgroups, Chunk c, const std::uint8_t* q,
                   std::uint8_t* out) {
  const std::int64_t n = v.x.out * v.y.out, cn = c.count;
  out += c.first;
#define EMC_DP(acc, x, j) acc = _mm512_dpbusd_epi32(acc, x, _mm512_set1_epi32(w[j]))
  for (std::int64_t p0 = 0; p0 < cn; p0 += 32) {
    const std::uint8_t* xb = q + p0 * kgroups * 4;
    const bool half = cn - p0 <= 16;
    for (std::int64_t o0 = 0; o0 < v.out_c; o0 += kRows) {
      const std::int32_t* wb = wq + o0 * kgroups;
      Acc8 lo = acc8_init(corr + o0), hi = lo;
      if (half) {
        for (std::int64_t g = 0; g < kgroups; ++g) {
          const __m512i x0 = _mm512_loadu_si512(xb + g * 128);
          const std::int32_t* w = wb + g * kRows;
          EMC_DP(lo.a0, x0, 0), EMC_DP(lo.a1, x0, 1), EMC_DP(lo.a2, x0, 2), EMC_DP(lo.a3, x0, 3);
          EMC_DP(lo.a4, x0, 4), EMC_DP(lo.a5, x0, 5), EMC_DP(lo.a6, x0, 6), EMC_DP(lo.a7, x0, 7);
        }
      } else {
        for (std::int64_t g = 0; g < kgroups; ++g) {
          const __m512i x0 = _mm512_loadu_si512(xb + g * 128);
          const __m512i x1 = _mm512_loadu_si512(xb + g * 128 + 64);
          const std::int32_t* w = wb + g * kRows;
          EMC_DP(lo.a0, x0, 0), EMC_DP(hi.a0, x1, 0), EMC_DP(lo.a1, x0, 1), EMC_DP(hi.a1, x1, 1);
          EMC_DP(lo.a2, x0, 2), EMC_DP(hi.a2, x1, 2), EMC_DP(lo.a3, x0, 3), EMC_DP(hi.a3, x1, 3);
          EMC_DP(lo.a4, x0, 4), EMC_DP(hi.a4, x1, 4), EMC_DP(lo.a5, x0, 5), EMC_DP(hi.a5, x1, 5);
          EMC_DP(lo.a6, x0, 6), EMC_DP(hi.a6, x1, 6), EMC_DP(lo.a7, x0, 7), EMC_DP(hi.a7, x1, 7);
        }
      }
      const __m512i los[kRows] = {lo.a0, lo.a1, lo.a2, lo.a3, lo.a4, lo.a5, lo.a6, lo.a7};
      const __m512i his[kRows] = {hi.a0, hi.a1, hi.a2, hi.a3, hi.a4, hi.a5, hi.a6, hi.a7};
      for (std::int64_t j = 0; j < std::min(kRows, v.out_c - o0); ++j) {
        const Requant r = requant_for(p, o0 + j);
        std::uint8_t* dst = out + (o0 + j) * n + p0;
        _mm_mask_storeu_epi8(dst, lanes_below(p0, cn), requant16(los[j], r));
        if (!half) _mm_mask_storeu_epi8(dst + 16, lanes_below(p0 + 16, cn), requant16(his[j], r));
      }
    }
  }
#undef EMC_DP
}

// The vpermb index of a 64-byte row window: lane j's byte i is u[j * stride_x + i * dilation_x]
// (vnni_conv_fits keeps it below 64).
EMC_VNNI inline __m512i window_index(const ConvShape& v) {
  alignas(64) std::uint8_t idx[64];
  for (int b = 0; b < 64; ++b) {
    idx[b] = static_cast<std::uint8_t>((b / 4) * v.x.stride + (b % 4) * v.x.dilation);
  }
  return _mm512_load_si512(idx);
}

// One CHW plane as u = x + 128 into the interior of a padded plane (pw wide; the caller filled
// the border with zp + 128).
EMC_VNNI void copy_plane(const ConvShape& v, std::int64_t pw, const std::uint8_t* src,
                         std::uint8_t* u) {
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  const std::int64_t w = v.x.in;
  for (std::int64_t y = 0; y < v.y.in; ++y) {
    std::uint8_t* dst = u + (y + v.y.pad) * pw + v.x.pad;
    for (std::int64_t x = 0; x < w; x += 64) {
      const std::int64_t left = std::min<std::int64_t>(w - x, 64);
      const __mmask64 m = left == 64 ? ~__mmask64{0} : (__mmask64{1} << left) - 1;
      _mm512_mask_storeu_epi8(dst + x, m,
                              _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, src + y * w + x), flip));
    }
  }
}

// A regular conv whose output rows are whole 16-pixel segments: the quads of each (ic, ky, quad
// of kx) straight from the padded planes u (pw x ph each), one window + vpermb per 16 pixels.
EMC_VNNI void pack_rows(const ConvShape& v, std::int64_t kgroups, std::int64_t pw, std::int64_t ph,
                        Chunk c, const std::uint8_t* u, std::uint8_t* q) {
  const __m512i idx = window_index(v);
  const std::int64_t gx = (v.x.kernel + 3) / 4;
  for (std::int64_t p0 = 0; p0 < c.count; p0 += 16) {  // output width % 16 == 0: whole segments
    const std::int64_t oy = (c.first + p0) / v.x.out, ox0 = (c.first + p0) % v.x.out;
    std::int64_t g = 0;
    for (std::int64_t ic = 0; ic < v.in_c; ++ic) {
      for (std::int64_t ky = 0; ky < v.y.kernel; ++ky) {
        const std::uint8_t* row =
            u + ic * ph * pw + (oy * v.y.stride + ky * v.y.dilation) * pw + ox0 * v.x.stride;
        for (std::int64_t gi = 0; gi < gx; ++gi, ++g) {
          _mm512_storeu_si512(
              quad_at(q, kgroups, g, p0),
              _mm512_permutexvar_epi8(idx, _mm512_loadu_si512(row + 4 * gi * v.x.dilation)));
        }
      }
    }
  }
}

// ---- AVX2 (no VNNI): the same quads and corr, widened to int16 for pmaddwd -------------------

// pack_planes without AVX-512 (a plain byte interleave; pixels past n are left as they are).
void pack_planes_portable(const ConvShape& v, std::int64_t kgroups, Chunk c, const std::uint8_t* in,
                          std::uint8_t* q) {
  const std::int64_t n = v.x.in * v.y.in;
  in += c.first;
  for (std::int64_t g = 0; g < kgroups; ++g) {
    for (std::int64_t i = 0; i < 4; ++i) {
      const std::int64_t ch = 4 * g + i;
      for (std::int64_t p = 0; p < c.count; ++p) {
        quad_at(q, kgroups, g, p)[i] =
            ch < v.in_c ? static_cast<std::uint8_t>(in[ch * n + p] ^ 0x80) : std::uint8_t{0};
      }
    }
  }
}

#define EMC_AVX2 __attribute__((target("avx2")))

// One output channel's emc_requantize constants as plain integers (AVX2 kernels keep them in
// registers; the byte stores would make GCC reload them from Int8Params).
struct Rq8 {
  std::int64_t mult, right;
  std::int32_t zp, lo, hi;
};
inline Rq8 rq8_for(const Int8Params& p, std::int64_t o) {
  return {p.multiplier[o], 31 - p.shift[o], p.out_zp, p.lo, p.hi};
}

// requant16 on 8 lanes (the cap by compare + blend, the sign by vpsignd: acc = 0 gives 0 either
// way); the 8 codes in the low 8 bytes.
EMC_AVX2 inline __m128i requant8(__m256i acc, const Rq8& p) {
  const __m256i mult = _mm256_set1_epi64x(p.mult), shift = _mm256_set1_epi64x(p.right);
  const __m256i half = _mm256_set1_epi64x(std::int64_t{1} << (p.right - 1));
  const __m256i cap = _mm256_set1_epi64x(65535);
  const __m256i a = _mm256_abs_epi32(acc);
  __m256i ev = _mm256_srlv_epi64(_mm256_add_epi64(_mm256_mul_epu32(a, mult), half), shift);
  __m256i od = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), mult);
  od = _mm256_srlv_epi64(_mm256_add_epi64(od, half), shift);
  ev = _mm256_blendv_epi8(ev, cap, _mm256_cmpgt_epi64(ev, cap));
  od = _mm256_blendv_epi8(od, cap, _mm256_cmpgt_epi64(od, cap));
  __m256i q = _mm256_sign_epi32(_mm256_or_si256(ev, _mm256_slli_epi64(od, 32)), acc);
  q = _mm256_add_epi32(q, _mm256_set1_epi32(p.zp));
  q = _mm256_min_epi32(_mm256_max_epi32(q, _mm256_set1_epi32(p.lo)), _mm256_set1_epi32(p.hi));
  const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
  return _mm_packs_epi16(w, w);  // in [-128, 127] already: the packs are exact
}

// The GEMM per 8 pixels and 4 output channels: 8 pixels' quads widened to int16 (two ymm of 4
// pixels), each weight quad broadcast and widened, pmaddwd gives (t0 + t1, t2 + t3) per pixel;
// hadd + permute put the 8 pixel sums in order. Pair sums <= 2 * 255 * 128: exact, and the int32
// adds wrap as in the VNNI kernel.
EMC_AVX2 void gemm_avx2(const ConvShape& v, const Int8Params& p, const std::int32_t* wq,
                        const std::int32_t* corr, std::int64_t kgroups, Chunk c,
                        const std::uint8_t* q, std::uint8_t* out) {
  const std::int64_t n = v.x.out * v.y.out;
  out += c.first;
  for (std::int64_t ps = 0; ps < c.count; ps += 8) {
    const std::uint8_t* xb = q + (ps / 32) * kgroups * 128 + (ps % 32) * 4;
    const std::int64_t valid = std::min<std::int64_t>(c.count - ps, 8);
    for (std::int64_t o0 = 0; o0 < v.out_c; o0 += 4) {
      const std::int32_t* wb = wq + (o0 / kRows) * kgroups * kRows + o0 % kRows;
      __m256i l0 = _mm256_setzero_si256(), l1 = l0, l2 = l0, l3 = l0;
      __m256i h0 = l0, h1 = l0, h2 = l0, h3 = l0;
      for (std::int64_t g = 0; g < kgroups; ++g) {
        const std::uint8_t* x = xb + g * 128;
        const __m256i x0 =
            _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x)));
        const __m256i x1 =
            _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 16)));
        const std::int32_t* w = wb + g * kRows;
#define EMC_MADD(lo, hi, j)                                        \
  {                                                                \
    const __m256i wj = _mm256_cvtepi8_epi16(_mm_set1_epi32(w[j])); \
    lo = _mm256_add_epi32(lo, _mm256_madd_epi16(x0, wj));          \
    hi = _mm256_add_epi32(hi, _mm256_madd_epi16(x1, wj));          \
  }
        EMC_MADD(l0, h0, 0) EMC_MADD(l1, h1, 1) EMC_MADD(l2, h2, 2) EMC_MADD(l3, h3, 3)
#undef EMC_MADD
      }
      const __m256i lo[4] = {l0, l1, l2, l3}, hi[4] = {h0, h1, h2, h3};
      for (std::int64_t j = 0; j < std::min<std::int64_t>(4, v.out_c - o0); ++j) {
        const __m256i sum =
            _mm256_add_epi32(_mm256_permute4x64_epi64(_mm256_hadd_epi32(lo[j], hi[j]), 0xd8),
                             _mm256_set1_epi32(corr[o0 + j]));
        const __m128i codes = requant8(sum, rq8_for(p, o0 + j));
        std::uint8_t* dst = out + (o0 + j) * n + ps;
        if (valid == 8) {
          _mm_storel_epi64(reinterpret_cast<__m128i*>(dst), codes);
        } else {
          alignas(16) std::uint8_t tmp[16];
          _mm_store_si128(reinterpret_cast<__m128i*>(tmp), codes);
          std::memcpy(dst, tmp, static_cast<std::size_t>(valid));
        }
      }
    }
  }
}

// ---- depthwise ----------------------------------------------------------------------------------

// What both depthwise channel kernels read: groups = tap quads (VNNI) or tap pairs (AVX2) per
// kernel row, pw = the padded plane's width.
struct DepthwiseArgs {
  const ConvShape& v;
  const Int8Params& p;
  const std::int32_t* wq;
  const std::int32_t* corr;
  std::int64_t groups, pw;

  // Output channel o's loop constants, copied out (the byte stores may alias *this).
  struct Loop {
    const std::int32_t* w;  // its [kernel_y][groups] weight words
    std::int32_t corr;
    std::int64_t ow, oh, kh, groups, row_step, ky_step, sx, dx;
  };
  Loop loop(std::int64_t o) const {
    return {wq + o * v.y.kernel * groups,
            corr[o],
            v.x.out,
            v.y.out,
            v.y.kernel,
            groups,
            v.y.stride * pw,
            v.y.dilation * pw,
            v.x.stride,
            v.x.dilation};
  }
};

// The VNNI channel kernel: per 16 outputs, for each kernel row and quad of taps one 64-byte window,
// vpermb, one vpdpbusd. wq: [out_c][kernel_y][kgroups] quads.
struct VnniDepthwiseRow : DepthwiseArgs {
  EMC_VNNI void copy(const std::uint8_t* src, std::uint8_t* u) const { copy_plane(v, pw, src, u); }
  EMC_VNNI void channel(std::int64_t o, const std::uint8_t* u, std::uint8_t* dst) const {
    const __m512i idx = window_index(v);
    const Loop l = loop(o);
    const Requant r = requant_for(p, o);
    for (std::int64_t oy = 0; oy < l.oh; ++oy, dst += l.ow) {
      for (std::int64_t ox0 = 0; ox0 < l.ow; ox0 += 16) {
        __m512i acc = _mm512_set1_epi32(l.corr);
        const std::uint8_t* t = u + oy * l.row_step + ox0 * l.sx;
        for (std::int64_t ky = 0; ky < l.kh; ++ky, t += l.ky_step) {
          for (std::int64_t g = 0; g < l.groups; ++g) {
            acc = _mm512_dpbusd_epi32(
                acc, _mm512_permutexvar_epi8(idx, _mm512_loadu_si512(t + 4 * g * l.dx)),
                _mm512_set1_epi32(l.w[ky * l.groups + g]));
          }
        }
        _mm_mask_storeu_epi8(dst + ox0, lanes_below(ox0, l.ow), requant16(acc, r));
      }
    }
  }
};

// The AVX2 channel kernel (avx2_depthwise_fits): 8 outputs per ymm, taps in pairs (kx, kx + 1) as
// int16 pairs for pmaddwd: stride 1 interleaves two shifted loads, stride 2 (dilation 1) finds the
// pair adjacent in memory; an odd last tap pairs with weight 0. wq: [out_c][kernel_y][pairs] pairs.
struct Avx2DepthwiseRow : DepthwiseArgs {
  EMC_AVX2 void copy(const std::uint8_t* src, std::uint8_t* u) const {
    const std::int64_t w = v.x.in, h = v.y.in;  // locals: the stores may alias v
    u += v.y.pad * pw + v.x.pad;
    for (std::int64_t y = 0; y < h; ++y, src += w, u += pw) {
      for (std::int64_t x = 0; x < w; ++x) u[x] = static_cast<std::uint8_t>(src[x] ^ 0x80);
    }
  }
  EMC_AVX2 void channel(std::int64_t o, const std::uint8_t* u, std::uint8_t* dst) const {
    const Loop l = loop(o);
    const Rq8 r = rq8_for(p, o);
    for (std::int64_t oy = 0; oy < l.oh; ++oy, dst += l.ow) {
      for (std::int64_t ox0 = 0; ox0 < l.ow; ox0 += 8) {
        __m256i acc = _mm256_set1_epi32(l.corr);
        const std::uint8_t* t = u + oy * l.row_step + ox0 * l.sx;
        for (std::int64_t ky = 0; ky < l.kh; ++ky, t += l.ky_step) {
          for (std::int64_t kp = 0; kp < l.groups; ++kp) {
            const std::uint8_t* a = t + 2 * kp * l.dx;
            const __m128i b =
                l.sx == 1
                    ? _mm_unpacklo_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(a)),
                                        _mm_loadl_epi64(reinterpret_cast<const __m128i*>(a + l.dx)))
                    : _mm_loadu_si128(reinterpret_cast<const __m128i*>(a));
            acc = _mm256_add_epi32(acc,
                                   _mm256_madd_epi16(_mm256_cvtepu8_epi16(b),
                                                     _mm256_set1_epi32(l.w[ky * l.groups + kp])));
          }
        }
        alignas(16) std::uint8_t tmp[16];
        _mm_store_si128(reinterpret_cast<__m128i*>(tmp), requant8(acc, r));
        std::memcpy(dst + ox0, tmp,
                    static_cast<std::size_t>(std::min<std::int64_t>(8, l.ow - ox0)));
      }
    }
  }
};

// Depthwise, per input channel: its padded u plane (pw x ph; the border of zp + 128 filled once
// per run, each channel overwrites the interior), then its output channels.
template <class Kernel>
void depthwise(const ConvShape& v, std::int64_t ph, std::int32_t in_zp, const Kernel& k,
               const std::uint8_t* in, std::uint8_t* u, std::uint8_t* out) {
  std::memset(u, in_zp + 128, static_cast<std::size_t>(ph * k.pw + 64));
  const std::int64_t in_plane = v.x.in * v.y.in, out_plane = v.x.out * v.y.out;
  for (std::int64_t ic = 0; ic < v.in_c; ++ic) {
    k.copy(in + ic * in_plane, u);
    for (std::int64_t o = ic * v.mult; o < (ic + 1) * v.mult; ++o) {
      k.channel(o, u, out + o * out_plane);
    }
  }
}
#pragma GCC diagnostic pop
#endif

}  // namespace

PackedConv::PackedConv(const ConvShape& v, const Int8Params& p, bool vnni)
    : v_(v), p_{p.in_zp, p.out_zp, p.lo, p.hi, {}, p.bias, p.multiplier, p.shift}, vnni_(vnni) {
  const std::int64_t taps = v.taps();
  corr_.resize(static_cast<std::size_t>(round_up(v.out_c, kRows)), 0);
  for (std::int64_t o = 0; o < v.out_c; ++o) {
    std::int64_t sum = 0;
    for (std::int64_t k = 0; k < taps; ++k) sum += p.weights[o * taps + k];
    corr_[o] = static_cast<std::int32_t>(static_cast<std::uint32_t>(p.bias[o]) -
                                         static_cast<std::uint32_t>(p.in_zp + 128) *
                                             static_cast<std::uint32_t>(sum));
  }
  // The padded plane the depthwise and the row-window kernels read.
  pw_ = v.x.pad + v.x.in +
        std::max<std::int64_t>(
            0, (v.x.out - 1) * v.x.stride + v.x.dilation * (v.x.kernel - 1) + 1 - v.x.pad - v.x.in);
  ph_ = v.y.pad + v.y.in +
        std::max<std::int64_t>(
            0, (v.y.out - 1) * v.y.stride + v.y.dilation * (v.y.kernel - 1) + 1 - v.y.pad - v.y.in);
  const std::int64_t gx = (v.x.kernel + 3) / 4;
  if (v.depthwise() && !vnni) {
    kgroups_ = (v.x.kernel + 1) / 2;  // tap pairs
    wq_.resize(static_cast<std::size_t>(v.out_c * v.y.kernel * kgroups_));
    for (std::int64_t o = 0; o < v.out_c; ++o) {
      for (std::int64_t ky = 0; ky < v.y.kernel; ++ky) {
        const std::int8_t* w = p.weights.data() + (o * v.y.kernel + ky) * v.x.kernel;
        for (std::int64_t kp = 0; kp < kgroups_; ++kp) {
          const std::int32_t hi = 2 * kp + 1 < v.x.kernel ? w[2 * kp + 1] : 0;
          wq_[(o * v.y.kernel + ky) * kgroups_ + kp] = static_cast<std::int32_t>(
              (static_cast<std::uint32_t>(hi) << 16) | static_cast<std::uint16_t>(w[2 * kp]));
        }
      }
    }
    scratch_bytes_ = static_cast<std::size_t>(ph_ * pw_ + 64);
    scratch(scratch_bytes_);
    return;
  }
  if (v.depthwise()) {
    kgroups_ = gx;
    wq_.resize(static_cast<std::size_t>(v.out_c * v.y.kernel * kgroups_));
    for (std::int64_t o = 0; o < v.out_c; ++o) {
      for (std::int64_t ky = 0; ky < v.y.kernel; ++ky) {
        for (std::int64_t g = 0; g < kgroups_; ++g) {
          wq_[(o * v.y.kernel + ky) * kgroups_ + g] = quad(
              p.weights.data() + (o * v.y.kernel + ky) * v.x.kernel + 4 * g, v.x.kernel - 4 * g);
        }
      }
    }
    scratch_bytes_ = static_cast<std::size_t>(ph_ * pw_ + 64);
    scratch(scratch_bytes_);
    return;
  }
  chunk_ = std::min(round_up(v.x.out * v.y.out, 32), kChunk);
  if (v.x.kernel == 1 && v.y.kernel == 1 && v.x.stride == 1 && v.y.stride == 1 && v.x.pad == 0 &&
      v.y.pad == 0 && v.x.in == v.x.out && v.y.in == v.y.out) {
    pack_ = Pack::kPlanes;
  } else if (vnni && v.x.out % 16 == 0 && 15 * v.x.stride + 3 * v.x.dilation <= 63) {
    pack_ = Pack::kRows;
  } else {
    pack_ = Pack::kIm2col;
  }
  // Quad g of output channel o: taps 4g..4g+3 of (ic, ky, kx), or for kRows the kx quad g % gx
  // of kernel row (ic, ky) = g / gx (zero past the kernel).
  kgroups_ = pack_ == Pack::kRows ? v.in_c * v.y.kernel * gx : (taps + 3) / 4;
  wq_.assign(static_cast<std::size_t>(round_up(v.out_c, kRows) * kgroups_), 0);
  for (std::int64_t o = 0; o < v.out_c; ++o) {
    for (std::int64_t g = 0; g < kgroups_; ++g) {
      wq_[((o / kRows) * kgroups_ + g) * kRows + o % kRows] =
          pack_ == Pack::kRows
              ? quad(p.weights.data() + o * taps + (g / gx) * v.x.kernel + 4 * (g % gx),
                     v.x.kernel - 4 * (g % gx))
              : quad(p.weights.data() + o * taps + 4 * g, taps - 4 * g);
    }
  }
  planes_bytes_ = pack_ == Pack::kRows ? static_cast<std::size_t>(v.in_c * ph_ * pw_ + 64) : 0;
  scratch_bytes_ = planes_bytes_ + static_cast<std::size_t>(kgroups_ * chunk_ * 4);
  scratch(scratch_bytes_);
}

void PackedConv::run(const std::uint8_t* in, std::uint8_t* out) const {
#if defined(__x86_64__)
  std::uint8_t* s = scratch(scratch_bytes_);
  if (v_.depthwise()) {
    if (vnni_) {
      const VnniDepthwiseRow k{{v_, p_, wq_.data(), corr_.data(), kgroups_, pw_}};
      depthwise(v_, ph_, p_.in_zp, k, in, s, out);
    } else {
      const Avx2DepthwiseRow k{{v_, p_, wq_.data(), corr_.data(), kgroups_, pw_}};
      depthwise(v_, ph_, p_.in_zp, k, in, s, out);
    }
    return;
  }
  std::uint8_t* q = s + planes_bytes_;
  if (pack_ == Pack::kRows) {
    std::memset(s, p_.in_zp + 128, planes_bytes_);
    for (std::int64_t ic = 0; ic < v_.in_c; ++ic) {
      copy_plane(v_, pw_, in + ic * v_.x.in * v_.y.in, s + ic * ph_ * pw_);
    }
  }
  const std::int64_t n = v_.x.out * v_.y.out;
  for (Chunk c{0, 0}; c.first < n; c.first += chunk_) {
    c.count = std::min(chunk_, n - c.first);
    switch (pack_) {
      case Pack::kPlanes:
        if (vnni_) {
          pack_planes(v_, kgroups_, c, in, q);
        } else {
          pack_planes_portable(v_, kgroups_, c, in, q);
        }
        break;
      case Pack::kRows:
        pack_rows(v_, kgroups_, pw_, ph_, c, s, q);
        break;
      case Pack::kIm2col:
        pack_im2col(v_, p_.in_zp, kgroups_, c, in, q);
        break;
    }
    if (vnni_) {
      gemm(v_, p_, wq_.data(), corr_.data(), kgroups_, c, q, out);
    } else {
      gemm_avx2(v_, p_, wq_.data(), corr_.data(), kgroups_, c, q, out);
    }
  }
#else
  (void)in;
  (void)out;
#endif
}

}  // namespace emc::cpu_backend::detail
