// AVX-512 VNNI kernels of EMC_CONV2D / EMC_DEPTHWISE_CONV2D int8.
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
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
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

// Regular 1x1 stride-1 unpadded conv: the quads straight from four CHW planes, 16 pixels at a
// time (phantom channels 0).
EMC_VNNI void pack_planes(const ConvShape& v, std::int64_t kgroups, std::int64_t npad,
                          const std::uint8_t* in, std::uint8_t* q) {
  const std::int64_t n = v.x.in * v.y.in;
  const __m128i flip = _mm_set1_epi8(static_cast<char>(0x80));
  for (std::int64_t g = 0; g < kgroups; ++g) {
    for (std::int64_t p0 = 0; p0 < npad; p0 += 16) {
      const __mmask16 m = lanes_below(p0, n);
      __m128i c[4];
      for (int i = 0; i < 4; ++i) {
        const std::int64_t ch = 4 * g + i;
        c[i] = ch < v.in_c ? _mm_xor_si128(_mm_maskz_loadu_epi8(m, in + ch * n + p0), flip)
                           : _mm_setzero_si128();
      }
      const __m128i ab_lo = _mm_unpacklo_epi8(c[0], c[1]), ab_hi = _mm_unpackhi_epi8(c[0], c[1]);
      const __m128i cd_lo = _mm_unpacklo_epi8(c[2], c[3]), cd_hi = _mm_unpackhi_epi8(c[2], c[3]);
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
void pack_im2col(const ConvShape& v, std::int32_t in_zp, std::int64_t kgroups,
                 const std::uint8_t* in, std::uint8_t* q) {
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
        for (std::int64_t oy = 0; oy < v.y.out; ++oy) {
          const std::int64_t iy = v.y.at(oy, ky);
          const bool row_ok = iy >= 0 && iy < v.y.in;
          const std::uint8_t* row = in + ic * in_plane + iy * v.x.in + off;
          const std::int64_t p = oy * v.x.out;
          std::int64_t ox = 0;
          for (; ox < (row_ok ? lo : v.x.out); ++ox) {
            quad_at(q, kgroups, k / 4, p + ox)[k % 4] = pad;
          }
          for (; ox < hi; ++ox) {
            quad_at(q, kgroups, k / 4, p + ox)[k % 4] =
                static_cast<std::uint8_t>(row[ox * v.x.stride] ^ 0x80);
          }
          for (; ox < v.x.out; ++ox) quad_at(q, kgroups, k / 4, p + ox)[k % 4] = pad;
        }
      }
    }
  }
}

// out[o][p] per block of 32 pixels (outer) and 8 output channels: 16 accumulators, or 8 for a
// last block of <= 16 pixels. wq: [out_c / 8][kgroups][8] quads, rows past out_c zero (computed,
// not stored).
EMC_VNNI void gemm(const ConvShape& v, const Int8Params& p, const std::int32_t* wq,
                   const std::int32_t* corr, std::int64_t kgroups, const std::uint8_t* q,
                   std::uint8_t* out) {
  const std::int64_t n = v.x.out * v.y.out;
  for (std::int64_t p0 = 0; p0 < n; p0 += 32) {
    const std::uint8_t* xb = q + p0 * kgroups * 4;
    const bool half = n - p0 <= 16;
    for (std::int64_t o0 = 0; o0 < v.out_c; o0 += kRows) {
      const std::int32_t* wb = wq + o0 * kgroups;
      const std::int64_t rows = std::min(kRows, v.out_c - o0);
      __m512i lo[kRows], hi[kRows];
      for (std::int64_t j = 0; j < kRows; ++j) lo[j] = hi[j] = _mm512_set1_epi32(corr[o0 + j]);
      if (half) {
        for (std::int64_t g = 0; g < kgroups; ++g) {
          const __m512i x0 = _mm512_loadu_si512(xb + g * 128);
          for (std::int64_t j = 0; j < kRows; ++j) {
            lo[j] = _mm512_dpbusd_epi32(lo[j], x0, _mm512_set1_epi32(wb[g * kRows + j]));
          }
        }
      } else {
        for (std::int64_t g = 0; g < kgroups; ++g) {
          const __m512i x0 = _mm512_loadu_si512(xb + g * 128);
          const __m512i x1 = _mm512_loadu_si512(xb + g * 128 + 64);
          for (std::int64_t j = 0; j < kRows; ++j) {
            const __m512i w = _mm512_set1_epi32(wb[g * kRows + j]);
            lo[j] = _mm512_dpbusd_epi32(lo[j], x0, w);
            hi[j] = _mm512_dpbusd_epi32(hi[j], x1, w);
          }
        }
      }
      for (std::int64_t j = 0; j < rows; ++j) {
        const Requant r = requant_for(p, o0 + j);
        std::uint8_t* dst = out + (o0 + j) * n + p0;
        _mm_mask_storeu_epi8(dst, lanes_below(p0, n), requant16(lo[j], r));
        if (!half) _mm_mask_storeu_epi8(dst + 16, lanes_below(p0 + 16, n), requant16(hi[j], r));
      }
    }
  }
}

// Depthwise, per input channel: the plane as u = x + 128 inside a border of zp + 128 (pw x ph,
// filled once per run; each channel overwrites only the interior). Per output row and 16 outputs:
// for each kernel row and quad of taps one 64-byte window, vpermb to (u[ox*sx + (4g+i)*dx])_i
// per lane, one vpdpbusd. wq: [out_c][kernel_y][kgroups] quads.
EMC_VNNI void depthwise(const ConvShape& v, const Int8Params& p, const std::int32_t* wq,
                        const std::int32_t* corr, std::int64_t kgroups, std::int64_t pw,
                        std::int64_t ph, const std::uint8_t* in, std::uint8_t* u,
                        std::uint8_t* out) {
  std::memset(u, p.in_zp + 128, static_cast<std::size_t>(ph * pw + 64));
  alignas(64) std::uint8_t idx_bytes[64];
  for (int b = 0; b < 64; ++b) {
    idx_bytes[b] = static_cast<std::uint8_t>((b / 4) * v.x.stride + (b % 4) * v.x.dilation);
  }
  const __m512i idx = _mm512_load_si512(idx_bytes);
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  const std::int64_t in_plane = v.x.in * v.y.in;
  for (std::int64_t ic = 0; ic < v.in_c; ++ic) {
    for (std::int64_t y = 0; y < v.y.in; ++y) {
      const std::uint8_t* src = in + ic * in_plane + y * v.x.in;
      std::uint8_t* dst = u + (y + v.y.pad) * pw + v.x.pad;
      for (std::int64_t x = 0; x < v.x.in; x += 64) {
        const std::int64_t left = std::min<std::int64_t>(v.x.in - x, 64);
        const __mmask64 m = left == 64 ? ~__mmask64{0} : (__mmask64{1} << left) - 1;
        _mm512_mask_storeu_epi8(dst + x, m,
                                _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, src + x), flip));
      }
    }
    for (std::int64_t mi = 0; mi < v.mult; ++mi) {
      const std::int64_t o = ic * v.mult + mi;
      const std::int32_t* w = wq + o * v.y.kernel * kgroups;
      const Requant r = requant_for(p, o);
      const __m512i c = _mm512_set1_epi32(corr[o]);
      for (std::int64_t oy = 0; oy < v.y.out; ++oy) {
        std::uint8_t* dst = out + (o * v.y.out + oy) * v.x.out;
        for (std::int64_t ox0 = 0; ox0 < v.x.out; ox0 += 16) {
          __m512i acc = c;
          for (std::int64_t ky = 0; ky < v.y.kernel; ++ky) {
            const std::uint8_t* row =
                u + (oy * v.y.stride + ky * v.y.dilation) * pw + ox0 * v.x.stride;
            for (std::int64_t g = 0; g < kgroups; ++g) {
              const __m512i win = _mm512_loadu_si512(row + 4 * g * v.x.dilation);
              acc = _mm512_dpbusd_epi32(acc, _mm512_permutexvar_epi8(idx, win),
                                        _mm512_set1_epi32(w[ky * kgroups + g]));
            }
          }
          _mm_mask_storeu_epi8(dst + ox0, lanes_below(ox0, v.x.out), requant16(acc, r));
        }
      }
    }
  }
}
#pragma GCC diagnostic pop
#endif

}  // namespace

VnniConv::VnniConv(const ConvShape& v, const Int8Params& p) : v_(v), p_(p) {
  const std::int64_t taps = v.taps();
  corr_.resize(static_cast<std::size_t>(round_up(v.out_c, kRows)), 0);
  for (std::int64_t o = 0; o < v.out_c; ++o) {
    std::int64_t sum = 0;
    for (std::int64_t k = 0; k < taps; ++k) sum += p.weights[o * taps + k];
    corr_[o] = static_cast<std::int32_t>(static_cast<std::uint32_t>(p.bias[o]) -
                                         static_cast<std::uint32_t>(p.in_zp + 128) *
                                             static_cast<std::uint32_t>(sum));
  }
  if (v.depthwise()) {
    kgroups_ = (v.x.kernel + 3) / 4;
    pw_ = v.x.pad + v.x.in +
          std::max<std::int64_t>(0, (v.x.out - 1) * v.x.stride + v.x.dilation * (v.x.kernel - 1) +
                                        1 - v.x.pad - v.x.in);
    ph_ = v.y.pad + v.y.in +
          std::max<std::int64_t>(0, (v.y.out - 1) * v.y.stride + v.y.dilation * (v.y.kernel - 1) +
                                        1 - v.y.pad - v.y.in);
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
  } else {
    kgroups_ = (taps + 3) / 4;
    npad_ = round_up(v.x.out * v.y.out, 32);
    direct_ = v.x.kernel == 1 && v.y.kernel == 1 && v.x.stride == 1 && v.y.stride == 1 &&
              v.x.pad == 0 && v.y.pad == 0 && v.x.in == v.x.out && v.y.in == v.y.out;
    wq_.assign(static_cast<std::size_t>(round_up(v.out_c, kRows) * kgroups_), 0);
    for (std::int64_t o = 0; o < v.out_c; ++o) {
      for (std::int64_t g = 0; g < kgroups_; ++g) {
        wq_[((o / kRows) * kgroups_ + g) * kRows + o % kRows] =
            quad(p.weights.data() + o * taps + 4 * g, taps - 4 * g);
      }
    }
    scratch_bytes_ = static_cast<std::size_t>(kgroups_ * npad_ * 4);
  }
  scratch(scratch_bytes_);
}

void VnniConv::run(const std::uint8_t* in, std::uint8_t* out) const {
#if defined(__x86_64__)
  std::uint8_t* s = scratch(scratch_bytes_);
  if (v_.depthwise()) {
    depthwise(v_, p_, wq_.data(), corr_.data(), kgroups_, pw_, ph_, in, s, out);
    return;
  }
  if (direct_) {
    pack_planes(v_, kgroups_, npad_, in, s);
  } else {
    pack_im2col(v_, p_.in_zp, kgroups_, in, s);
  }
  gemm(v_, p_, wq_.data(), corr_.data(), kgroups_, s, out);
#else
  (void)in;
  (void)out;
#endif
}

}  // namespace emc::cpu_backend::detail
