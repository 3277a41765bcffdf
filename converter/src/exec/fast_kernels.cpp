#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

#include "exec/fast_kernels.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <new>
#include <utility>
#include <vector>

#include "nodes/node_kind.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define EMC_FAST_X86 1
#include <immintrin.h>
#endif

namespace emc::converter::detail {

AlignedFloats::AlignedFloats(std::size_t n) : n_(n) {
  const std::size_t bytes = (std::max<std::size_t>(n, 1) * sizeof(float) + 63) / 64 * 64;
  p_.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
  if (!p_) throw std::bad_alloc();
  std::memset(p_.get(), 0, bytes);
}

namespace {

constexpr int kKc = 256;                         // k per block: a [kKc][nr] panel slice stays in L1
constexpr std::int64_t kMc = 240;                // output pixels per block (multiple of 12 and 6)
constexpr std::int64_t kIm2colFloats = 1 << 19;  // im2col scratch bound (2 MiB)

// c[0..MR)[0..nvalid) = (accumulate ? c : bias) + a[0..MR)[0..kc) x b[0..kc)[0..nr)
using MicroKernel = void (*)(const float* a, std::int64_t lda, const float* b, int kc, float* c,
                             std::int64_t ldc, const float* bias, int nvalid, bool accumulate);

struct GemmIsa {
  int mr = 0, nr = 0;
  const MicroKernel* kernels = nullptr;  // [mr + 1], index = rows (1..mr)
};

// ---- portable: 4x8 in GCC/Clang vector types (SSE2 on any x86-64, NEON on Arm, ...) --------
typedef float V4 __attribute__((vector_size(16)));
inline V4 load4(const float* p) {
  V4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store4(float* p, V4 v) {
  std::memcpy(p, &v, sizeof v);
}

template <int MR>
void micro_portable(const float* a, std::int64_t lda, const float* b, int kc, float* c,
                    std::int64_t ldc, const float* bias, int nvalid, bool accumulate) {
  constexpr int kNr = 8;
  float tile[MR][kNr];
  V4 c0[MR], c1[MR];
  for (int i = 0; i < MR; ++i) {
    if (accumulate) {
      for (int j = 0; j < kNr; ++j) tile[i][j] = j < nvalid ? c[i * ldc + j] : 0.0f;
      c0[i] = load4(tile[i]);
      c1[i] = load4(tile[i] + 4);
    } else {
      c0[i] = load4(bias);
      c1[i] = load4(bias + 4);
    }
  }
  for (int k = 0; k < kc; ++k) {
    const V4 w0 = load4(b + k * kNr), w1 = load4(b + k * kNr + 4);
    for (int i = 0; i < MR; ++i) {
      const float x = a[i * lda + k];
      c0[i] += x * w0;
      c1[i] += x * w1;
    }
  }
  for (int i = 0; i < MR; ++i) {
    if (nvalid >= kNr) {
      store4(c + i * ldc, c0[i]);
      store4(c + i * ldc + 4, c1[i]);
    } else {
      store4(tile[i], c0[i]);
      store4(tile[i] + 4, c1[i]);
      for (int j = 0; j < nvalid; ++j) c[i * ldc + j] = tile[i][j];
    }
  }
}

template <template <int> class K, std::size_t... I>
constexpr auto make_table(std::index_sequence<I...>) {
  return std::array<MicroKernel, sizeof...(I) + 1>{nullptr, K<static_cast<int>(I) + 1>::fn...};
}
template <int MR>
struct PortableK {
  static constexpr MicroKernel fn = &micro_portable<MR>;
};
constexpr auto kPortableTable = make_table<PortableK>(std::make_index_sequence<4>());

#ifdef EMC_FAST_X86
#pragma GCC diagnostic push
#if !defined(__clang__)  // a GCC-only warning; clang warns on the unknown group
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// ---- AVX2 + FMA: 6x16 (12 accumulators, 2 weight vectors, 1 broadcast) -----------------------
template <int MR>
__attribute__((target("avx2,fma"))) void micro_avx2(const float* a, std::int64_t lda,
                                                    const float* b, int kc, float* c,
                                                    std::int64_t ldc, const float* bias, int nvalid,
                                                    bool accumulate) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nvalid), lane);
  const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nvalid - 8), lane);
  const bool full = nvalid >= 16;
  __m256 c0[MR], c1[MR];
  if (accumulate) {
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      c0[i] = full ? _mm256_loadu_ps(c + i * ldc) : _mm256_maskload_ps(c + i * ldc, m0);
      c1[i] = full ? _mm256_loadu_ps(c + i * ldc + 8) : _mm256_maskload_ps(c + i * ldc + 8, m1);
    }
  } else {
    const __m256 b0 = _mm256_load_ps(bias), b1 = _mm256_load_ps(bias + 8);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      c0[i] = b0;
      c1[i] = b1;
    }
  }
  for (int k = 0; k < kc; ++k) {
    const __m256 w0 = _mm256_load_ps(b + k * 16), w1 = _mm256_load_ps(b + k * 16 + 8);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      const __m256 x = _mm256_broadcast_ss(a + i * lda + k);
      c0[i] = _mm256_fmadd_ps(x, w0, c0[i]);
      c1[i] = _mm256_fmadd_ps(x, w1, c1[i]);
    }
  }
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) {
    if (full) {
      _mm256_storeu_ps(c + i * ldc, c0[i]);
      _mm256_storeu_ps(c + i * ldc + 8, c1[i]);
    } else {
      _mm256_maskstore_ps(c + i * ldc, m0, c0[i]);
      _mm256_maskstore_ps(c + i * ldc + 8, m1, c1[i]);
    }
  }
}
template <int MR>
struct Avx2K {
  static constexpr MicroKernel fn = &micro_avx2<MR>;
};
constexpr auto kAvx2Table = make_table<Avx2K>(std::make_index_sequence<6>());

// ---- AVX-512: 12x32 (24 accumulators, 2 weight vectors, 1 broadcast) -------------------------
template <int MR>
__attribute__((target("avx512f"))) void micro_avx512(const float* a, std::int64_t lda,
                                                     const float* b, int kc, float* c,
                                                     std::int64_t ldc, const float* bias,
                                                     int nvalid, bool accumulate) {
  const auto mask = [](int v) {
    return v >= 16  ? static_cast<__mmask16>(0xffff)
           : v <= 0 ? static_cast<__mmask16>(0)
                    : static_cast<__mmask16>((1u << v) - 1);
  };
  const __mmask16 m0 = mask(nvalid), m1 = mask(nvalid - 16);
  __m512 c0[MR], c1[MR];
  if (accumulate) {
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) {
      c0[i] = _mm512_maskz_loadu_ps(m0, c + i * ldc);
      c1[i] = _mm512_maskz_loadu_ps(m1, c + i * ldc + 16);
    }
  } else {
    const __m512 b0 = _mm512_load_ps(bias), b1 = _mm512_load_ps(bias + 16);
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) {
      c0[i] = b0;
      c1[i] = b1;
    }
  }
  for (int k = 0; k < kc; ++k) {
    const __m512 w0 = _mm512_load_ps(b + k * 32), w1 = _mm512_load_ps(b + k * 32 + 16);
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) {
      const __m512 x = _mm512_set1_ps(a[i * lda + k]);
      c0[i] = _mm512_fmadd_ps(x, w0, c0[i]);
      c1[i] = _mm512_fmadd_ps(x, w1, c1[i]);
    }
  }
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) {
    _mm512_mask_storeu_ps(c + i * ldc, m0, c0[i]);
    _mm512_mask_storeu_ps(c + i * ldc + 16, m1, c1[i]);
  }
}
template <int MR>
struct Avx512K {
  static constexpr MicroKernel fn = &micro_avx512<MR>;
};
constexpr auto kAvx512Table = make_table<Avx512K>(std::make_index_sequence<12>());
#endif

GemmIsa gemm_isa(FloatIsa isa) {
#ifdef EMC_FAST_X86
  if (isa == FloatIsa::kAvx512) return {12, 32, kAvx512Table.data()};
  if (isa == FloatIsa::kAvx2) return {6, 16, kAvx2Table.data()};
#endif
  (void)isa;
  return {4, 8, kPortableTable.data()};
}

// activation_inplace() with the ReLU / ReLU6 loops in a vectorizable form (same results, NaN
// included: relu maps it to 0, relu6 keeps it, as std::max/std::min there do).
#ifdef EMC_FAST_X86
// relu: max(x, 0) returns its second operand for NaN (0, as x > 0 ? x : 0); relu6:
// min(6, max(0, x)) returns x for NaN (NaN, as std::min(std::max(x, 0), 6)).
__attribute__((target("avx512f"))) void clamp_avx512(float* d, std::int64_t n, bool six) {
  const __m512 zero = _mm512_setzero_ps(), six_v = _mm512_set1_ps(6.0f);
  for (std::int64_t i = 0; i < n; i += 16) {
    const std::int64_t left = n - i;
    const __mmask16 m =
        left >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << left) - 1);
    const __m512 x = _mm512_maskz_loadu_ps(m, d + i);
    const __m512 y = six ? _mm512_min_ps(six_v, _mm512_max_ps(zero, x)) : _mm512_max_ps(x, zero);
    _mm512_mask_storeu_ps(d + i, m, y);
  }
}
#endif

void activate_fast(const Activation& act, float* d, std::int64_t n) {
  if (act.is_linear()) return;
#ifdef EMC_FAST_X86
  if ((act.is_plain_relu() || act.is_relu6()) && __builtin_cpu_supports("avx512f")) {
    clamp_avx512(d, n, act.is_relu6());
    return;
  }
#endif
  if (act.is_plain_relu()) {
    for (std::int64_t i = 0; i < n; ++i) d[i] = d[i] > 0.0f ? d[i] : 0.0f;
  } else if (act.is_relu6()) {
    for (std::int64_t i = 0; i < n; ++i) {
      const float v = d[i] < 0.0f ? 0.0f : d[i];
      d[i] = 6.0f < v ? 6.0f : v;
    }
  } else {
    activate_inplace(act, d, n);
  }
}

// ---- depthwise (depth multiplier 1): channel vectors, every valid tap of one output pixel ----
struct DwTaps {
  const float* const* x;  // per valid tap: the input pixel
  const float* const* w;  // per valid tap: its weights
  int n;
};

void dw_pixel_portable(const DwTaps& t, const float* bias, int c, float* o) {
  for (int ch = 0; ch < c; ++ch) o[ch] = bias ? bias[ch] : 0.0f;
  for (int k = 0; k < t.n; ++k) {
    const float* x = t.x[k];
    const float* w = t.w[k];
    for (int ch = 0; ch < c; ++ch) o[ch] += x[ch] * w[ch];
  }
}

#ifdef EMC_FAST_X86
__attribute__((target("avx2,fma"))) void dw_pixel_avx2(const DwTaps& t, const float* bias, int c,
                                                       float* o) {
  int ch = 0;
  for (; ch + 32 <= c; ch += 32) {
    __m256 a0, a1, a2, a3;
    if (bias) {
      a0 = _mm256_loadu_ps(bias + ch);
      a1 = _mm256_loadu_ps(bias + ch + 8);
      a2 = _mm256_loadu_ps(bias + ch + 16);
      a3 = _mm256_loadu_ps(bias + ch + 24);
    } else {
      a0 = a1 = a2 = a3 = _mm256_setzero_ps();
    }
    for (int k = 0; k < t.n; ++k) {
      const float* x = t.x[k] + ch;
      const float* w = t.w[k] + ch;
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(w), a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + 8), _mm256_loadu_ps(w + 8), a1);
      a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + 16), _mm256_loadu_ps(w + 16), a2);
      a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + 24), _mm256_loadu_ps(w + 24), a3);
    }
    _mm256_storeu_ps(o + ch, a0);
    _mm256_storeu_ps(o + ch + 8, a1);
    _mm256_storeu_ps(o + ch + 16, a2);
    _mm256_storeu_ps(o + ch + 24, a3);
  }
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (; ch < c; ch += 8) {
    const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(c - ch), lane);
    __m256 a = bias ? _mm256_maskload_ps(bias + ch, m) : _mm256_setzero_ps();
    for (int k = 0; k < t.n; ++k)
      a = _mm256_fmadd_ps(_mm256_maskload_ps(t.x[k] + ch, m), _mm256_maskload_ps(t.w[k] + ch, m),
                          a);
    _mm256_maskstore_ps(o + ch, m, a);
  }
}

__attribute__((target("avx512f"))) void dw_pixel_avx512(const DwTaps& t, const float* bias, int c,
                                                        float* o) {
  int ch = 0;
  for (; ch + 64 <= c; ch += 64) {
    __m512 a0, a1, a2, a3;
    if (bias) {
      a0 = _mm512_loadu_ps(bias + ch);
      a1 = _mm512_loadu_ps(bias + ch + 16);
      a2 = _mm512_loadu_ps(bias + ch + 32);
      a3 = _mm512_loadu_ps(bias + ch + 48);
    } else {
      a0 = a1 = a2 = a3 = _mm512_setzero_ps();
    }
    for (int k = 0; k < t.n; ++k) {
      const float* x = t.x[k] + ch;
      const float* w = t.w[k] + ch;
      a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x), _mm512_loadu_ps(w), a0);
      a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + 16), _mm512_loadu_ps(w + 16), a1);
      a2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + 32), _mm512_loadu_ps(w + 32), a2);
      a3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + 48), _mm512_loadu_ps(w + 48), a3);
    }
    _mm512_storeu_ps(o + ch, a0);
    _mm512_storeu_ps(o + ch + 16, a1);
    _mm512_storeu_ps(o + ch + 32, a2);
    _mm512_storeu_ps(o + ch + 48, a3);
  }
  for (; ch < c; ch += 16) {
    const int left = c - ch;
    const __mmask16 m =
        left >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << left) - 1);
    __m512 a = bias ? _mm512_maskz_loadu_ps(m, bias + ch) : _mm512_setzero_ps();
    for (int k = 0; k < t.n; ++k)
      a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, t.x[k] + ch),
                          _mm512_maskz_loadu_ps(m, t.w[k] + ch), a);
    _mm512_mask_storeu_ps(o + ch, m, a);
  }
}
#pragma GCC diagnostic pop
#endif

}  // namespace

FloatIsa supported_float_isa(FloatIsa max) {
#ifdef EMC_FAST_X86
  if (max == FloatIsa::kAvx512 && __builtin_cpu_supports("avx512f")) return FloatIsa::kAvx512;
  if (max != FloatIsa::kPortable && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return FloatIsa::kAvx2;
#endif
  (void)max;
  return FloatIsa::kPortable;
}

PackedGemm pack_gemm(FloatIsa isa, const float* w, int k, int n, const float* bias) {
  PackedGemm p;
  p.isa = isa;
  p.k = k;
  p.n = n;
  p.nr = gemm_isa(isa).nr;
  const int panels = (n + p.nr - 1) / p.nr;
  p.b = AlignedFloats(static_cast<std::size_t>(panels) * k * p.nr);
  p.bias = AlignedFloats(static_cast<std::size_t>(panels) * p.nr);
  for (int j = 0; j < panels; ++j) {
    const int cols = std::min(p.nr, n - j * p.nr);
    for (int kk = 0; kk < k; ++kk)
      std::memcpy(p.b.data() + (static_cast<std::size_t>(j) * k + kk) * p.nr,
                  w + static_cast<std::size_t>(kk) * n + j * p.nr, sizeof(float) * cols);
  }
  if (bias) std::memcpy(p.bias.data(), bias, sizeof(float) * n);
  return p;
}

void gemm_f32(const PackedGemm& p, const float* a, std::int64_t lda, std::int64_t m, float* c,
              std::int64_t ldc) {
  const GemmIsa g = gemm_isa(p.isa);
  const int panels = (p.n + p.nr - 1) / p.nr;
  for (int k0 = 0; k0 < p.k; k0 += kKc) {
    const int kc = std::min(kKc, p.k - k0);
    for (int j = 0; j < panels; ++j) {
      const float* b = p.b.data() + (static_cast<std::int64_t>(j) * p.k + k0) * p.nr;
      const float* bias = p.bias.data() + static_cast<std::int64_t>(j) * p.nr;
      const int nvalid = std::min(p.nr, p.n - j * p.nr);
      for (std::int64_t i = 0; i < m; i += g.mr) {
        const auto rows = static_cast<int>(std::min<std::int64_t>(g.mr, m - i));
        g.kernels[rows](a + i * lda + k0, lda, b, kc, c + i * ldc + j * p.nr, ldc, bias, nvalid,
                        k0 > 0);
      }
    }
  }
}

void conv2d_fast(const Node& n, const PackedGemm& p, const Tensor& in, Tensor& out) {
  const int ih = in.shape.h(), iw = in.shape.w(), cin = in.shape.c();
  const int ow = out.shape.w(), cout = out.shape.c();
  const std::int64_t pixels = std::int64_t{out.shape.h()} * ow;
  const int kh = n.kernel_h, kw = n.kernel_w, k = p.k;
  const bool direct = kh == 1 && kw == 1 && n.stride_h == 1 && n.stride_w == 1 && n.pad.is_zero();
  std::int64_t mc = kMc;
  if (!direct) mc = std::clamp<std::int64_t>(kIm2colFloats / k / 12 * 12, 12, kMc);
  std::vector<float> cols(direct ? 0 : static_cast<std::size_t>(mc * k));
  for (std::int64_t m0 = 0; m0 < pixels; m0 += mc) {
    const std::int64_t rows = std::min(mc, pixels - m0);
    const float* a = in.data.data() + m0 * cin;
    if (!direct) {
      for (std::int64_t r = 0; r < rows; ++r) {
        const auto oy = static_cast<int>((m0 + r) / ow), ox = static_cast<int>((m0 + r) % ow);
        float* d = cols.data() + r * k;
        for (int ky = 0; ky < kh; ++ky) {
          const int iy = oy * n.stride_h - n.pad.top + ky * n.dilation_h;
          if (iy < 0 || iy >= ih) {
            std::fill(d, d + std::int64_t{kw} * cin, 0.0f);
            d += std::int64_t{kw} * cin;
            continue;
          }
          for (int kx = 0; kx < kw; ++kx, d += cin) {
            const int ix = ox * n.stride_w - n.pad.left + kx * n.dilation_w;
            if (ix < 0 || ix >= iw)
              std::fill(d, d + cin, 0.0f);
            else
              std::memcpy(d, in.data.data() + (std::int64_t{iy} * iw + ix) * cin,
                          sizeof(float) * static_cast<std::size_t>(cin));
          }
        }
      }
      a = cols.data();
    }
    float* c = out.data.data() + m0 * cout;
    gemm_f32(p, a, direct ? cin : k, rows, c, cout);
    activate_fast(n.activation, c, rows * cout);
  }
}

void dense_fast(const Node& n, const PackedGemm& p, const Tensor& in, Tensor& out) {
  const std::int64_t rows = in.shape.num_elements() / p.k;
  for (std::int64_t m0 = 0; m0 < rows; m0 += kMc) {
    const std::int64_t m = std::min(kMc, rows - m0);
    float* c = out.data.data() + m0 * p.n;
    gemm_f32(p, in.data.data() + m0 * p.k, p.k, m, c, p.n);
    activate_fast(n.activation, c, m * p.n);
  }
}

void depthwise_fast(FloatIsa isa, const Node& n, const Tensor& in, Tensor& out) {
  const int ih = in.shape.h(), iw = in.shape.w(), c = in.shape.c();
  const int oh = out.shape.h(), ow = out.shape.w(), cout = out.shape.c();
  const int m = n.depth_multiplier, kh = n.kernel_h, kw = n.kernel_w;
  const float* bias = n.has_bias() ? n.bias.data() : nullptr;
  void (*pixel)(const DwTaps&, const float*, int, float*) = dw_pixel_portable;
#ifdef EMC_FAST_X86
  if (isa == FloatIsa::kAvx512) pixel = dw_pixel_avx512;
  if (isa == FloatIsa::kAvx2) pixel = dw_pixel_avx2;
#endif
  (void)isa;
  std::vector<const float*> xs(static_cast<std::size_t>(kh) * kw), ws(xs.size());
  for (int oy = 0; oy < oh; ++oy) {
    float* row = out.data.data() + std::int64_t{oy} * ow * cout;
    for (int ox = 0; ox < ow; ++ox) {
      int taps = 0;
      for_each_conv_tap(n, oy, ox, ih, iw, [&](int ky, int kx, int iy, int ix) {
        xs[taps] = in.data.data() + (std::int64_t{iy} * iw + ix) * c;
        ws[taps] = n.kernel.data() + (std::int64_t{ky} * kw + kx) * cout;
        ++taps;
      });
      float* o = row + std::int64_t{ox} * cout;
      if (m == 1) {
        pixel(DwTaps{xs.data(), ws.data(), taps}, bias, c, o);
        continue;
      }
      // Output channel ch*m + j = x[ch] * w[ch*m + j] (rare; plain loops).
      for (int q = 0; q < cout; ++q) o[q] = bias ? bias[q] : 0.0f;
      for (int t = 0; t < taps; ++t)
        for (int ch = 0; ch < c; ++ch) {
          const float xv = xs[t][ch];
          const float* w = ws[t] + std::int64_t{ch} * m;
          float* oc = o + std::int64_t{ch} * m;
          for (int j = 0; j < m; ++j) oc[j] += xv * w[j];
        }
    }
    activate_fast(n.activation, row, std::int64_t{ow} * cout);
  }
}

}  // namespace emc::converter::detail
