#include "output_stage.h"

#include <algorithm>

#include "fixed_point.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define EMC_ACCEL_X86 1
#include <immintrin.h>
#endif

namespace emc::accel_sim::detail {

ActivationStage::ActivationStage(const format::KpuActivationTable& table,
                                 const KpuSimOptions& options) {
  sorted_ = true;
  for (std::size_t i = 0; i < 16; ++i) {
    x_start_[i] = table[i].x_start;
    y_mul_[i] = table[i].y_mul;
    shift_[i] = table[i].shift_number;
    bias_[i] = table[i].result_bias;
    if (i > 0 && x_start_[i] < x_start_[i - 1]) sorted_ = false;
  }
  strict_ = options.selection == SegmentSelection::kStartStrictlyLess;
  banker_ = options.rounding == ActivationRounding::kNn02Banker;
#ifdef EMC_ACCEL_X86
  __builtin_cpu_init();
  simd_ = sorted_ && options.max_isa == KernelIsa::kAvx512Vnni &&
          __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
#endif
  if (!simd_) return;
  // The segments of a sorted table that can decide an output; dropping the others changes no
  // output. The chosen segment is the last qualifying one, and qualifying starts form a prefix:
  // * a segment followed by one with the same start is never chosen;
  // * a constant segment (y_mul 0: the product is 0, both carry shifts give 0, y = bias) after a
  //   kept constant segment with the same clamped bias gives that segment's output: the earlier
  //   one qualifies whenever it does, and nothing kept in between exists.
  // Segment 0 is always kept (it is also the answer when nothing qualifies).
  auto constant = [&](std::size_t i) { return y_mul_[i] == 0; };
  auto clamped = [&](std::size_t i) { return std::clamp<std::int64_t>(bias_[i], 0, 255); };
  std::array<std::size_t, 16> keep{};
  std::size_t m = 0;
  keep[m++] = 0;
  for (std::size_t i = 1; i < 16; ++i) {
    if (i + 1 < 16 && x_start_[i + 1] == x_start_[i]) continue;
    const std::size_t last = keep[m - 1];
    if (constant(i) && constant(last) && clamped(i) == clamped(last)) continue;
    keep[m++] = i;
  }
  SimdSegments& t = simd_table_;
  t.count = 1;
  while (t.count < static_cast<int>(m)) t.count *= 2;
  t.used = static_cast<int>(m);
  // Products are never negative when every kept y_mul is >= 0 and segment 0 starts at the lowest
  // 36-bit value: the chosen segment has x_start <= bn, or it is segment 0 with bn == x_start.
  t.nonneg = x_start_[0] == -(std::int64_t{1} << 35);
  for (std::size_t j = 0; j < 16; ++j) {
    if (j < m) {
      t.x_start[j] = x_start_[keep[j]];
      t.y_mul[j] = y_mul_[keep[j]];
      t.shift[j] = shift_[keep[j]];
      t.bias[j] = bias_[keep[j]];
      if (t.y_mul[j] < 0) t.nonneg = false;
    } else {  // padding: a start above every 36-bit bn never qualifies
      t.x_start[j] = std::int64_t{1} << 62;
      t.y_mul[j] = t.shift[j] = t.bias[j] = 0;
    }
    const std::int64_t sh = t.shift[j];
    const bool rounds = sh >= 1 && sh <= 62;
    const std::int64_t half = rounds ? std::int64_t{1} << (sh - 1) : 0;
    t.round_add[j] = !rounds ? 0 : banker_ ? half - 1 : half;
    t.odd[j] = rounds && banker_ ? 1 : 0;
  }
}

bool ActivationStage::enable_int32(std::int64_t acc_bound) {
  int32_ = false;
  const SimdSegments& t = simd_table_;
  if (!simd_ || !no_wrap_ || !t.nonneg || acc_bound >= (std::int64_t{1} << 31)) return false;
  if (t.y_mul[0] != 0) return false;  // segment 0 (chosen when nothing qualifies) must be constant
  constexpr std::int64_t kMin = INT32_MIN, kMax = INT32_MAX;
  Int32Segments n{};
  n.used = t.used;
  auto out_of = [&](std::int64_t v, std::int64_t ym, std::int64_t sh) {
    const std::int64_t p = v * ym;
    return (banker_ ? carry_shift_banker(p, static_cast<std::uint32_t>(sh))
                    : carry_shift_sdk(p, static_cast<std::uint32_t>(sh)));
  };
  for (int j = 0; j < t.used; ++j) {
    std::int64_t ym = t.y_mul[j], sh = t.shift[j];
    const std::int64_t bias = t.bias[j];
    // Both roundings depend only on v / 2^shift, so common powers of two of y_mul and 2^shift
    // cancel exactly (a ReLU6 table's y_mul 2^14 with shift 30 is y_mul 1, shift 16).
    while (ym > 0 && sh > 0 && ym % 2 == 0) {
      ym /= 2;
      --sh;
    }
    const std::int64_t half = sh >= 1 ? std::int64_t{1} << (sh - 1) : 0;
    const std::int64_t round_add = sh == 0 ? 0 : banker_ ? half - 1 : half;
    const std::int64_t odd = sh >= 1 && banker_ ? 1 : 0;
    n.x_start[j] = 0;
    if (j > 0) {
      if (t.x_start[j] <= kMin + 1 || t.x_start[j] >= kMax) return false;
      n.x_start[j] = static_cast<std::int32_t>(t.x_start[j]);
    }
    if (ym == 0) {  // constant: the product is 0, both roundings of 0 are 0, y = bias
      n.x_end[j] = n.x_start[j];
      n.y_mul[j] = n.shift[j] = n.round_add[j] = n.odd[j] = 0;
      n.bias[j] = static_cast<std::int32_t>(std::clamp<std::int64_t>(bias, 0, 255));
      continue;
    }
    // ym > 0 (nonneg): the output is non-decreasing in the offset d >= 0; cap = the first d whose
    // output reaches 255 (0 when the bias alone does), so min(d, cap) gives the same clamped byte.
    if (sh > 30 || bias < -(std::int64_t{1} << 20) || bias > (std::int64_t{1} << 20)) return false;
    std::int64_t cap = 0;
    if (bias < 255) {
      const std::int64_t need = 255 - bias;
      std::int64_t hi = ((need + 1) << sh) / ym + 2;
      if (out_of(hi, ym, sh) + bias < 255) return false;
      std::int64_t lo = 0;  // out(lo) < 255 <= out(hi) unless lo is already the answer
      if (out_of(0, ym, sh) + bias >= 255) {
        hi = 0;
      } else {
        while (hi - lo > 1) {
          const std::int64_t mid = lo + (hi - lo) / 2;
          (out_of(mid, ym, sh) + bias >= 255 ? hi : lo) = mid;
        }
      }
      cap = hi;
    }
    if (cap * ym + round_add + 1 > kMax || n.x_start[j] + cap >= kMax) return false;
    n.x_end[j] = static_cast<std::int32_t>(n.x_start[j] + cap);
    n.y_mul[j] = static_cast<std::int32_t>(ym);
    n.shift[j] = static_cast<std::int32_t>(sh);
    n.round_add[j] = static_cast<std::int32_t>(round_add);
    n.odd[j] = static_cast<std::int32_t>(odd);
    n.bias[j] = static_cast<std::int32_t>(bias);
  }
  for (int j = t.used; j < 16; ++j) {
    n.x_start[j] = n.x_end[j] = n.y_mul[j] = n.shift[j] = n.round_add[j] = n.odd[j] = n.bias[j] = 0;
  }
  // bn below the first start of a later segment selects segment 0 (constant) whatever it is;
  // bn past the last start + cap selects the last segment with an offset >= its cap.
  if (t.used > 1) {
    n.lb = std::int64_t{n.x_start[1]} - 1;
    n.hb = std::int64_t{n.x_end[t.used - 1]} + 1;
    if (n.hb > kMax) return false;
  }
  // One linear segment between constants: used 2 (ReLU) or 3 (ReLU6), segment 1 with y_mul > 0,
  // segment 0 equal to segment 1's output at offset 0 (the bias: both roundings of 0 are 0), and
  // segment 2 (if any) 255 and starting no earlier than the bn at which segment 1 saturates (a bn
  // of segment 2 is then >= x_end[1] and segment 1 gives 255 there too).
  const auto clamp8 = [](std::int64_t v) { return std::clamp<std::int64_t>(v, 0, 255); };
  if ((n.used == 2 || n.used == 3) && n.y_mul[1] > 0 && n.bias[0] == clamp8(n.bias[1])) {
    const bool top_ok =
        n.used == 2 || (n.y_mul[2] == 0 && n.bias[2] == 255 &&
                        std::int64_t{n.x_end[1]} <= std::int64_t{n.x_start[2]} + (strict_ ? 1 : 0));
    if (top_ok) {
      n.linear = true;
      n.lb = n.x_start[1];
      n.hb = n.x_end[1];
    }
  }
  int32_table_ = n;
  int32_ = true;
  return true;
}

namespace {

// The per-element stage, templated on the options so its loop has no option
// branches.
template <bool kStrict, bool kBanker>
void bn_act_loop(const std::int64_t* x_start, const std::int64_t* y_mul, const std::uint32_t* shift,
                 const std::int64_t* bias, bool sorted, const std::int32_t* lo,
                 const std::int32_t* hi, const std::int64_t* xterm, std::int64_t cterm,
                 const ChannelBn& bn, std::size_t n, std::uint8_t* out) {
  for (std::size_t i = 0; i < n; ++i) {
    std::int64_t value = lo[i];
    if (hi != nullptr) value += std::int64_t{hi[i]} * 256;
    const std::int64_t acc = wrap36(value + (xterm != nullptr ? xterm[i] : 0) + cterm);
    // acc is 36-bit and norm_mul 24-bit: the product fits in 60 bits.
    const std::int64_t b = wrap36(((acc * bn.mul) >> bn.shift) + bn.add);
    std::size_t seg = 0;
    if (sorted) {
      // Qualifying segments form a prefix; the highest one is count - 1.
      std::size_t count = 0;
      for (std::size_t s = 0; s < 16; ++s) count += kStrict ? (x_start[s] < b) : (x_start[s] <= b);
      seg = count > 0 ? count - 1 : 0;
    } else {
      for (std::size_t s = 0; s < 16; ++s) {
        if (kStrict ? (x_start[s] < b) : (x_start[s] <= b)) seg = s;
      }
    }
    // bn and x_start are 36-bit and y_mul 16-bit, so the product stays below
    // 2^53.
    const std::int64_t product = (b - x_start[seg]) * y_mul[seg];
    const std::int64_t y =
        (kBanker ? carry_shift_banker(product, shift[seg]) : carry_shift_sdk(product, shift[seg])) +
        bias[seg];
    out[i] = static_cast<std::uint8_t>(std::clamp<std::int64_t>(y, 0, 255));
  }
}

#ifdef EMC_ACCEL_X86
// GCC 12's AVX-512 intrinsics (_mm512_undefined_epi32 `__Y = __Y`) trip
// -Wmaybe-uninitialized.
#pragma GCC diagnostic push
#if !defined(__clang__)  // a GCC-only warning; clang warns on the unknown group
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
__attribute__((target("avx512f"))) inline __m512i wrap36v(__m512i v) {
  return _mm512_srai_epi64(_mm512_slli_epi64(v, 28), 28);
}

// The same stage on 8 int64 lanes (AVX-512F/DQ), for a sorted table. The
// segment is found by a branch-free binary search over the 16 starts
// (qualifying starts are a prefix: probes at pos + 7, + 3, + 1, + 0, then one
// more compare gives their count), each probe and the segment's four fields
// looked up from two registers with vpermt2q (a 16-entry table lookup). Both
// carry shifts use per-lane variable shifts and masks exactly as fixed_point.h
// defines them (a shift count ≥ 64 fills with the sign, as the scalar code's
// min(·, 63) does).
struct SimdTable {
  __m512i xs_lo, xs_hi, ym_lo, ym_hi, sh_lo, sh_hi, bi_lo, bi_hi, ra_lo, ra_hi, od_lo, od_hi;
  __m512i xs_b[8];  // x_start[j] broadcast, for the linear count (count <= 8)
  __m512i cterm, mul, shift, add;
  int count;  // table entries, a power of two <= 16
  int used;   // entries before the padding
};

// Lanes whose segment start x qualifies for bn b under the selection rule.
template <bool kStrict>
__attribute__((target("avx512f"))) inline __mmask8 qualifies(__m512i x, __m512i b) {
  return kStrict ? _mm512_cmplt_epi64_mask(x, b) : _mm512_cmple_epi64_mask(x, b);
}

// Entry idx of a 16-entry table held in two registers.
__attribute__((target("avx512f"))) inline __m512i lookup(__m512i lo, __m512i hi, __m512i idx) {
  return _mm512_permutex2var_epi64(lo, idx, hi);
}

// kNonneg (every product >= 0, SimdSegments::nonneg): both roundings are one add and a shift.
// kWrap false: the layer's bounds show acc and bn never leave 36 bits (ActivationStage::
// set_no_wrap), so the wraps are identities and skipped. kXterm false: no arg_x term.
template <bool kStrict, bool kBanker, bool kNonneg, bool kWrap, bool kXterm>
__attribute__((target("avx512f,avx512dq"))) inline __m512i bn_act_vec(const SimdTable& t,
                                                                      __m512i value,
                                                                      __m512i xterm) {
  const __m512i one = _mm512_set1_epi64(1), zero = _mm512_setzero_si512();
  __m512i acc = _mm512_add_epi64(kXterm ? _mm512_add_epi64(value, xterm) : value, t.cterm);
  if (kWrap) acc = wrap36v(acc);
  __m512i b = _mm512_add_epi64(_mm512_srav_epi64(_mm512_mullo_epi64(acc, t.mul), t.shift), t.add);
  if (kWrap) b = wrap36v(b);
  __m512i seg;
  if (t.count <= 8) {
    // Qualifying starts form a prefix and segment 0 is the answer when none qualifies, so the
    // segment is the number of qualifying starts among entries 1..used-1.
    seg = zero;
    for (int j = 1; j < t.used; ++j) {
      seg = _mm512_mask_add_epi64(seg, qualifies<kStrict>(t.xs_b[j], b), seg, one);
    }
  } else {  // binary search over the 16 starts: probes at pos + 7, + 3, + 1, + 0, then one more
    __m512i pos = zero;
    for (int step = t.count / 2; step >= 1; step /= 2) {
      const __m512i probe = _mm512_add_epi64(pos, _mm512_set1_epi64(step - 1));
      const __mmask8 m = qualifies<kStrict>(lookup(t.xs_lo, t.xs_hi, probe), b);
      pos = _mm512_mask_add_epi64(pos, m, pos, _mm512_set1_epi64(step));
    }
    const __mmask8 last = qualifies<kStrict>(lookup(t.xs_lo, t.xs_hi, pos), b);
    const __m512i count = _mm512_mask_add_epi64(pos, last, pos, one);
    seg = _mm512_max_epi64(_mm512_sub_epi64(count, one), zero);
  }
  const __m512i sx = lookup(t.xs_lo, t.xs_hi, seg);
  const __m512i sm = lookup(t.ym_lo, t.ym_hi, seg);
  const __m512i ss = lookup(t.sh_lo, t.sh_hi, seg);
  const __m512i sb = lookup(t.bi_lo, t.bi_hi, seg);
  const __m512i v = _mm512_mullo_epi64(_mm512_sub_epi64(b, sx), sm);
  __m512i r;
  if (kNonneg) {
    // 0 <= v < 2^53: v + round_add + 1 cannot overflow; a shift >= 64 gives 0, as the scalar
    // code's floor definition does.
    __m512i sum = _mm512_add_epi64(v, lookup(t.ra_lo, t.ra_hi, seg));
    if (kBanker) {
      sum = _mm512_add_epi64(
          sum, _mm512_and_si512(_mm512_srav_epi64(v, ss), lookup(t.od_lo, t.od_hi, seg)));
    }
    r = _mm512_srav_epi64(sum, ss);
  } else {
    // Both carry shifts literally, with per-lane variable shifts and masks exactly as
    // fixed_point.h defines them (a shift count >= 64 fills with the sign, as min(., 63) does).
    const __mmask8 neg = _mm512_cmplt_epi64_mask(v, zero);
    const __mmask8 no_shift = _mm512_cmpeq_epi64_mask(ss, zero);
    if (kBanker) {
      const __m512i integral = _mm512_srav_epi64(v, ss);
      const __m512i frac = _mm512_and_si512(v, _mm512_sub_epi64(_mm512_sllv_epi64(one, ss), one));
      const __m512i half = _mm512_sllv_epi64(one, _mm512_sub_epi64(ss, one));
      const __mmask8 gt = _mm512_cmpgt_epi64_mask(frac, half);
      const __mmask8 eq = _mm512_cmpeq_epi64_mask(frac, half);
      const __mmask8 odd = _mm512_test_epi64_mask(integral, one);
      const __mmask8 inc = gt | (eq & odd);
      r = _mm512_mask_add_epi64(integral, inc & ~neg, integral, one);
      r = _mm512_mask_sub_epi64(r, inc & neg, r, one);
      const __mmask8 big = _mm512_cmpge_epi64_mask(ss, _mm512_set1_epi64(63));
      r = _mm512_mask_blend_epi64(big, r, _mm512_maskz_mov_epi64(neg, _mm512_set1_epi64(-2)));
    } else {
      const __m512i tt = _mm512_srav_epi64(v, _mm512_sub_epi64(ss, one));
      const __m512i h = _mm512_srai_epi64(tt, 1);
      const __mmask8 odd = _mm512_test_epi64_mask(tt, one);
      const __mmask8 tneg = _mm512_cmplt_epi64_mask(tt, zero);
      r = _mm512_mask_add_epi64(h, odd & ~tneg, h, one);
      r = _mm512_mask_sub_epi64(r, odd & tneg, r, one);
    }
    r = _mm512_mask_blend_epi64(no_shift, r, v);
  }
  return _mm512_max_epi64(_mm512_min_epi64(_mm512_add_epi64(r, sb), _mm512_set1_epi64(255)), zero);
}

// All n elements, the last n % 8 with masked loads and a masked byte store.
template <bool kStrict, bool kBanker, bool kNonneg, bool kWrap, bool kXterm>
__attribute__((target("avx512f,avx512dq"))) std::size_t bn_act_avx512(
    const SimdSegments& seg, const std::int32_t* lo, const std::int32_t* hi,
    const std::int64_t* xterm, std::int64_t cterm, const ChannelBn& bn, std::size_t n,
    std::uint8_t* out) {
  SimdTable t;
  t.xs_lo = _mm512_load_si512(seg.x_start);
  t.xs_hi = _mm512_load_si512(seg.x_start + 8);
  t.ym_lo = _mm512_load_si512(seg.y_mul);
  t.ym_hi = _mm512_load_si512(seg.y_mul + 8);
  t.sh_lo = _mm512_load_si512(seg.shift);
  t.sh_hi = _mm512_load_si512(seg.shift + 8);
  t.bi_lo = _mm512_load_si512(seg.bias);
  t.bi_hi = _mm512_load_si512(seg.bias + 8);
  t.ra_lo = _mm512_load_si512(seg.round_add);
  t.ra_hi = _mm512_load_si512(seg.round_add + 8);
  t.od_lo = _mm512_load_si512(seg.odd);
  t.od_hi = _mm512_load_si512(seg.odd + 8);
  for (int j = 0; j < 8; ++j) t.xs_b[j] = _mm512_set1_epi64(seg.x_start[j]);
  t.count = seg.count;
  t.used = seg.used;
  t.cterm = _mm512_set1_epi64(cterm);
  t.mul = _mm512_set1_epi64(bn.mul);
  t.shift = _mm512_set1_epi64(bn.shift);
  t.add = _mm512_set1_epi64(bn.add);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m512i value =
        _mm512_cvtepi32_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(lo + i)));
    if (hi != nullptr) {
      const __m512i h =
          _mm512_cvtepi32_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(hi + i)));
      value = _mm512_add_epi64(value, _mm512_slli_epi64(h, 8));
    }
    const __m512i xt = kXterm ? _mm512_loadu_si512(xterm + i) : _mm512_setzero_si512();
    const __m512i y = bn_act_vec<kStrict, kBanker, kNonneg, kWrap, kXterm>(t, value, xt);
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out + i), _mm512_cvtepi64_epi8(y));
  }
  if (i < n) {
    const auto m8 = static_cast<__mmask8>((1u << (n - i)) - 1);
    const auto m16 = static_cast<__mmask16>(m8);
    __m512i value =
        _mm512_cvtepi32_epi64(_mm512_castsi512_si256(_mm512_maskz_loadu_epi32(m16, lo + i)));
    if (hi != nullptr) {
      const __m512i h =
          _mm512_cvtepi32_epi64(_mm512_castsi512_si256(_mm512_maskz_loadu_epi32(m16, hi + i)));
      value = _mm512_add_epi64(value, _mm512_slli_epi64(h, 8));
    }
    const __m512i xt = kXterm ? _mm512_maskz_loadu_epi64(m8, xterm + i) : _mm512_setzero_si512();
    const __m512i y = bn_act_vec<kStrict, kBanker, kNonneg, kWrap, kXterm>(t, value, xt);
    _mm512_mask_cvtepi64_storeu_epi8(out + i, m8, y);
    i = n;
  }
  return i;
}

template <bool kStrict, bool kBanker, bool kNonneg>
std::size_t bn_act_avx512_x(bool wrap, const SimdSegments& seg, const std::int32_t* lo,
                            const std::int32_t* hi, const std::int64_t* xterm, std::int64_t cterm,
                            const ChannelBn& bn, std::size_t n, std::uint8_t* out) {
  if (wrap) {
    return xterm != nullptr ? bn_act_avx512<kStrict, kBanker, kNonneg, true, true>(
                                  seg, lo, hi, xterm, cterm, bn, n, out)
                            : bn_act_avx512<kStrict, kBanker, kNonneg, true, false>(
                                  seg, lo, hi, xterm, cterm, bn, n, out);
  }
  return xterm != nullptr ? bn_act_avx512<kStrict, kBanker, kNonneg, false, true>(
                                seg, lo, hi, xterm, cterm, bn, n, out)
                          : bn_act_avx512<kStrict, kBanker, kNonneg, false, false>(
                                seg, lo, hi, xterm, cterm, bn, n, out);
}

template <bool kStrict, bool kBanker>
std::size_t bn_act_avx512_any(bool wrap, const SimdSegments& seg, const std::int32_t* lo,
                              const std::int32_t* hi, const std::int64_t* xterm, std::int64_t cterm,
                              const ChannelBn& bn, std::size_t n, std::uint8_t* out) {
  return seg.nonneg
             ? bn_act_avx512_x<kStrict, kBanker, true>(wrap, seg, lo, hi, xterm, cterm, bn, n, out)
             : bn_act_avx512_x<kStrict, kBanker, false>(wrap, seg, lo, hi, xterm, cterm, bn, n,
                                                        out);
}

// The int32 form (Int32Segments): bn in 64-bit lanes (acc * norm_mul needs up to 55 bits; acc
// fits int32, so vpmuldq is exact), clamped to [lb, hb] and narrowed; the rest on 16 int32 lanes.
struct Int32Regs {
  __m512i xs, xe, ym, sh, ra, od, bias, xs_b[16];
  __m512i cterm, mul, add, lb, hb;
  __m128i shift;
  int used;
  __m512i lin_xs, lin_ym, lin_ra, lin_od, lin_bias;  // segment 1 broadcast (Int32Segments::linear)
  __m128i lin_sh;
};

// bn of the 8 elements at `at` (lanes masked by m8), clamped and narrowed to int32.
template <bool kXterm>
__attribute__((target("avx512f"))) inline __m256i bn_int32_half(const Int32Regs& r,
                                                                const std::int32_t* lo,
                                                                const std::int32_t* hi,
                                                                const std::int64_t* xterm,
                                                                std::size_t at, __mmask8 m8) {
  const auto m16 = static_cast<__mmask16>(m8);
  __m512i a = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(_mm512_maskz_loadu_epi32(m16, lo + at)));
  if (hi != nullptr) {
    const __m512i h =
        _mm512_cvtepi32_epi64(_mm512_castsi512_si256(_mm512_maskz_loadu_epi32(m16, hi + at)));
    a = _mm512_add_epi64(a, _mm512_slli_epi64(h, 8));
  }
  if (kXterm) a = _mm512_add_epi64(a, _mm512_maskz_loadu_epi64(m8, xterm + at));
  a = _mm512_add_epi64(a, r.cterm);
  __m512i b = _mm512_add_epi64(_mm512_sra_epi64(_mm512_mul_epi32(a, r.mul), r.shift), r.add);
  b = _mm512_min_epi64(_mm512_max_epi64(b, r.lb), r.hb);
  return _mm512_cvtepi64_epi32(b);
}

// Clamped bn of the low 32 bits (sign-extended) of each 64-bit lane of x.
__attribute__((target("avx512f"))) inline __m512i bn_clamped64(const Int32Regs& r, __m512i x) {
  const __m512i b = _mm512_add_epi64(_mm512_sra_epi64(_mm512_mul_epi32(x, r.mul), r.shift), r.add);
  return _mm512_min_epi64(_mm512_max_epi64(b, r.lb), r.hb);
}

// bn of the 16 elements at `at` (lanes outside m16 read 0) when there is no hi, no xterm and
// cterm is 0 (the quad GEMM folded them in): vpmuldq on the even and odd int32 lanes in place
// (it reads the low, sign-extended 32 bits of each 64-bit lane), no widening and narrowing.
__attribute__((target("avx512f"))) inline __m512i bn_int32_plain(const Int32Regs& r,
                                                                 const std::int32_t* lo,
                                                                 std::size_t at, __mmask16 m16) {
  const __m512i a = _mm512_maskz_loadu_epi32(m16, lo + at);

  const __m512i even = bn_clamped64(r, a);
  const __m512i odd = bn_clamped64(r, _mm512_srli_epi64(a, 32));
  // clamped bn fits int32: the low halves are the values
  return _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
}

// The activation of 16 clamped bn values, as int32 >= 0 (vpmovusdb saturates the top at 255).
template <bool kStrict, bool kBanker, bool kLinear>
__attribute__((target("avx512f"))) inline __m512i act_int32(const Int32Regs& r, __m512i b) {
  if (kLinear) {  // bn already clamped to segment 1's [x_start, x_end]
    const __m512i v = _mm512_mullo_epi32(_mm512_sub_epi32(b, r.lin_xs), r.lin_ym);
    __m512i sum = _mm512_add_epi32(v, r.lin_ra);
    if (kBanker)
      sum = _mm512_add_epi32(sum, _mm512_and_si512(_mm512_sra_epi32(v, r.lin_sh), r.lin_od));
    const __m512i y = _mm512_add_epi32(_mm512_sra_epi32(sum, r.lin_sh), r.lin_bias);
    return _mm512_max_epi32(y, _mm512_setzero_si512());
  }
  const __m512i one = _mm512_set1_epi32(1);
  __m512i seg = _mm512_setzero_si512();
  for (int j = 1; j < r.used; ++j) {
    const __mmask16 q =
        kStrict ? _mm512_cmpgt_epi32_mask(b, r.xs_b[j]) : _mm512_cmpge_epi32_mask(b, r.xs_b[j]);
    seg = _mm512_mask_add_epi32(seg, q, seg, one);
  }
  const __m512i s = _mm512_permutexvar_epi32(seg, r.sh);
  // min(b, x_end) - x_start: in [0, cap] for a segment with y_mul > 0 (b >= x_start selected it)
  const __m512i d = _mm512_sub_epi32(_mm512_min_epi32(b, _mm512_permutexvar_epi32(seg, r.xe)),
                                     _mm512_permutexvar_epi32(seg, r.xs));
  const __m512i v = _mm512_mullo_epi32(d, _mm512_permutexvar_epi32(seg, r.ym));
  __m512i sum = _mm512_add_epi32(v, _mm512_permutexvar_epi32(seg, r.ra));
  if (kBanker) {
    sum = _mm512_add_epi32(
        sum, _mm512_and_si512(_mm512_srav_epi32(v, s), _mm512_permutexvar_epi32(seg, r.od)));
  }
  const __m512i y =
      _mm512_add_epi32(_mm512_srav_epi32(sum, s), _mm512_permutexvar_epi32(seg, r.bias));
  return _mm512_max_epi32(y, _mm512_setzero_si512());
}

// n elements of one output row (the int32 form's inner loop).
template <bool kStrict, bool kBanker, bool kXterm, bool kLinear, bool kPlain = false>
__attribute__((target("avx512f"))) inline void int32_piece(const Int32Regs& r,
                                                           const std::int32_t* lo,
                                                           const std::int32_t* hi,
                                                           const std::int64_t* xterm, std::size_t n,
                                                           std::uint8_t* out) {
  std::size_t i = 0;
  if constexpr (kPlain) {
    for (; i + 16 <= n; i += 16) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                       _mm512_cvtusepi32_epi8(act_int32<kStrict, kBanker, kLinear>(
                           r, bn_int32_plain(r, lo, i, 0xffff))));
    }
    if (i < n) {
      const auto m = static_cast<__mmask16>((1u << (n - i)) - 1);
      _mm512_mask_cvtusepi32_storeu_epi8(
          out + i, m, act_int32<kStrict, kBanker, kLinear>(r, bn_int32_plain(r, lo, i, m)));
    }
    return;
  }
  for (; i + 16 <= n; i += 16) {
    const __m512i b =
        _mm512_inserti64x4(_mm512_castsi256_si512(bn_int32_half<kXterm>(r, lo, hi, xterm, i, 0xff)),
                           bn_int32_half<kXterm>(r, lo, hi, xterm, i + 8, 0xff), 1);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm512_cvtusepi32_epi8(act_int32<kStrict, kBanker, kLinear>(r, b)));
  }
  if (i < n) {  // masked loads and store; the unused lanes compute on zeros
    const std::size_t rest = n - i;
    const auto m0 = static_cast<__mmask8>(rest >= 8 ? 0xffu : (1u << rest) - 1);
    const auto m1 = static_cast<__mmask8>(rest <= 8 ? 0u : (1u << (rest - 8)) - 1);
    const __m512i b =
        _mm512_inserti64x4(_mm512_castsi256_si512(bn_int32_half<kXterm>(r, lo, hi, xterm, i, m0)),
                           bn_int32_half<kXterm>(r, lo, hi, xterm, i + 8, m1), 1);
    _mm512_mask_cvtusepi32_storeu_epi8(out + i, static_cast<__mmask16>((1u << rest) - 1),
                                       act_int32<kStrict, kBanker, kLinear>(r, b));
  }
}

template <bool kStrict, bool kBanker, bool kXterm, bool kLinear>
__attribute__((target("avx512f"))) void bn_act_int32_t(
    const Int32Segments& t, const std::int32_t* lo, const std::int32_t* hi,
    const std::int64_t* xterm, std::int64_t cterm, const ChannelBn& bn, std::size_t n,
    std::uint8_t* out, const OutRows& rows) {
  Int32Regs r;
  r.xs = _mm512_load_si512(t.x_start);
  r.xe = _mm512_load_si512(t.x_end);
  r.ym = _mm512_load_si512(t.y_mul);
  r.sh = _mm512_load_si512(t.shift);
  r.ra = _mm512_load_si512(t.round_add);
  r.od = _mm512_load_si512(t.odd);
  r.bias = _mm512_load_si512(t.bias);
  for (int j = 0; j < 16; ++j) r.xs_b[j] = _mm512_set1_epi32(t.x_start[j]);
  r.cterm = _mm512_set1_epi64(cterm);
  r.mul = _mm512_set1_epi64(bn.mul);
  r.add = _mm512_set1_epi64(bn.add);
  r.lb = _mm512_set1_epi64(t.lb);
  r.hb = _mm512_set1_epi64(t.hb);
  r.shift = _mm_cvtsi32_si128(static_cast<int>(bn.shift));
  r.used = t.used;
  if (kLinear) {
    r.lin_xs = _mm512_set1_epi32(t.x_start[1]);
    r.lin_ym = _mm512_set1_epi32(t.y_mul[1]);
    r.lin_ra = _mm512_set1_epi32(t.round_add[1]);
    r.lin_od = _mm512_set1_epi32(t.odd[1]);
    r.lin_bias = _mm512_set1_epi32(t.bias[1]);
    r.lin_sh = _mm_cvtsi32_si128(t.shift[1]);
  }
  // Element i goes to column (first_x + i) % row_w of row (first_x + i) / row_w, rows `stride`
  // bytes apart from out (one piece per row).
  std::size_t done = 0, x = rows.first_x;
  if (!kXterm && hi == nullptr && cterm == 0) {
    while (done < n) {
      const std::size_t len = std::min(n - done, rows.row_w - x);
      int32_piece<kStrict, kBanker, false, kLinear, true>(r, lo + done, nullptr, nullptr, len,
                                                          out + x);
      done += len;
      x = 0;
      out += rows.stride;
    }
    return;
  }
  while (done < n) {
    const std::size_t len = std::min(n - done, rows.row_w - x);
    int32_piece<kStrict, kBanker, kXterm, kLinear>(r, lo + done,
                                                   hi != nullptr ? hi + done : nullptr,
                                                   kXterm ? xterm + done : nullptr, len, out + x);
    done += len;
    x = 0;
    out += rows.stride;
  }
}
template <bool kStrict, bool kBanker, bool kXterm>
void bn_act_int32(const Int32Segments& t, const std::int32_t* lo, const std::int32_t* hi,
                  const std::int64_t* xterm, std::int64_t cterm, const ChannelBn& bn, std::size_t n,
                  std::uint8_t* out, const OutRows& rows) {
  if (t.linear) {
    bn_act_int32_t<kStrict, kBanker, kXterm, true>(t, lo, hi, xterm, cterm, bn, n, out, rows);
  } else {
    bn_act_int32_t<kStrict, kBanker, kXterm, false>(t, lo, hi, xterm, cterm, bn, n, out, rows);
  }
}
#pragma GCC diagnostic pop
#endif

}  // namespace

void ActivationStage::run_int32(const std::int32_t* lo, const std::int32_t* hi,
                                const std::int64_t* xterm, std::int64_t cterm, const ChannelBn& bn,
                                std::size_t n, std::uint8_t* out, const OutRows& rows) const {
#ifdef EMC_ACCEL_X86
  const Int32Segments& it = int32_table_;
  const bool x = xterm != nullptr;
  if (strict_ && banker_)
    x ? bn_act_int32<true, true, true>(it, lo, hi, xterm, cterm, bn, n, out, rows)
      : bn_act_int32<true, true, false>(it, lo, hi, xterm, cterm, bn, n, out, rows);
  else if (strict_)
    x ? bn_act_int32<true, false, true>(it, lo, hi, xterm, cterm, bn, n, out, rows)
      : bn_act_int32<true, false, false>(it, lo, hi, xterm, cterm, bn, n, out, rows);
  else if (banker_)
    x ? bn_act_int32<false, true, true>(it, lo, hi, xterm, cterm, bn, n, out, rows)
      : bn_act_int32<false, true, false>(it, lo, hi, xterm, cterm, bn, n, out, rows);
  else
    x ? bn_act_int32<false, false, true>(it, lo, hi, xterm, cterm, bn, n, out, rows)
      : bn_act_int32<false, false, false>(it, lo, hi, xterm, cterm, bn, n, out, rows);
#else
  (void)lo, (void)hi, (void)xterm, (void)cterm, (void)bn, (void)n, (void)out, (void)rows;
#endif
}

void ActivationStage::run_rows(const std::int32_t* lo, const std::int64_t* xterm,
                               std::int64_t cterm, const ChannelBn& bn, std::size_t n,
                               const OutRows& rows, std::uint8_t* out) const {
  if (int32_) {
    run_int32(lo, nullptr, xterm, cterm, bn, n, out, rows);
    return;
  }
  std::size_t done = 0, x = rows.first_x;
  while (done < n) {
    const std::size_t len = std::min(n - done, rows.row_w - x);
    run(lo + done, nullptr, xterm != nullptr ? xterm + done : nullptr, cterm, bn, len, out + x);
    done += len;
    x = 0;
    out += rows.stride;
  }
}

void ActivationStage::run(const std::int32_t* lo, const std::int32_t* hi, const std::int64_t* xterm,
                          std::int64_t cterm, const ChannelBn& bn, std::size_t n,
                          std::uint8_t* out) const {
  const auto* xs = x_start_.data();
  const auto* ym = y_mul_.data();
  const auto* sh = shift_.data();
  const auto* bi = bias_.data();
#ifdef EMC_ACCEL_X86
  if (int32_) {
    run_int32(lo, hi, xterm, cterm, bn, n, out, OutRows{n, 0, 0});
    return;
  }
  if (simd_) {
    const SimdSegments& st = simd_table_;
    std::size_t done;
    if (strict_ && banker_)
      done = bn_act_avx512_any<true, true>(!no_wrap_, st, lo, hi, xterm, cterm, bn, n, out);
    else if (strict_)
      done = bn_act_avx512_any<true, false>(!no_wrap_, st, lo, hi, xterm, cterm, bn, n, out);
    else if (banker_)
      done = bn_act_avx512_any<false, true>(!no_wrap_, st, lo, hi, xterm, cterm, bn, n, out);
    else
      done = bn_act_avx512_any<false, false>(!no_wrap_, st, lo, hi, xterm, cterm, bn, n, out);
    lo += done;
    if (hi != nullptr) hi += done;
    if (xterm != nullptr) xterm += done;
    out += done;
    n -= done;
  }
#endif
  if (strict_ && banker_) {
    bn_act_loop<true, true>(xs, ym, sh, bi, sorted_, lo, hi, xterm, cterm, bn, n, out);
  } else if (strict_) {
    bn_act_loop<true, false>(xs, ym, sh, bi, sorted_, lo, hi, xterm, cterm, bn, n, out);
  } else if (banker_) {
    bn_act_loop<false, true>(xs, ym, sh, bi, sorted_, lo, hi, xterm, cterm, bn, n, out);
  } else {
    bn_act_loop<false, false>(xs, ym, sh, bi, sorted_, lo, hi, xterm, cterm, bn, n, out);
  }
}

std::uint32_t pool_output_size(std::uint32_t in, std::int64_t pool_type) {
  switch (pool_type) {
    case 1:
    case 2:
    case 5:
    case 6:
      return in / 2;
    case 3:
    case 4:
    case 7:
      return in / 4;
    default:
      return in;  // 0 bypass, 8 mean_2_s1, 9 max_2_s1
  }
}

namespace {

// The stride-2 pools 1 (max 2x2), 2 (mean 2x2, floor), 5 and 6 (tap (2y, 2x) / (2y, 2x + 1)) of one
// output row, 16 outputs per SSE2 step (SSE2 is part of x86-64); returns how many were done. Reads
// stay inside the two input rows.
std::uint32_t pool2_row_sse2(const std::uint8_t* r0, const std::uint8_t* r1, std::uint32_t in_w,
                             std::uint32_t ow, std::int64_t pool_type, std::uint8_t* out) {
  std::uint32_t ox = 0;
#if defined(__SSE2__)
  const __m128i even = _mm_set1_epi16(0x00ff);
  const std::uint32_t dx = pool_type == 6 ? 1 : 0;
  for (; ox + 16 <= ow && 2 * ox + 32 + dx <= in_w; ox += 16) {
    auto load = [&](const std::uint8_t* r, std::uint32_t at) {
      return _mm_loadu_si128(reinterpret_cast<const __m128i*>(r + at));
    };
    const std::uint32_t x = 2 * ox + dx;
    const __m128i a0 = load(r0, x), a1 = load(r0, x + 16);
    __m128i lo, hi;
    if (pool_type == 5 || pool_type == 6) {
      lo = _mm_and_si128(a0, even);
      hi = _mm_and_si128(a1, even);
    } else {
      const __m128i b0 = load(r1, x), b1 = load(r1, x + 16);
      if (pool_type == 1) {
        const __m128i m0 = _mm_max_epu8(a0, b0), m1 = _mm_max_epu8(a1, b1);
        lo = _mm_max_epi16(_mm_and_si128(m0, even), _mm_srli_epi16(m0, 8));
        hi = _mm_max_epi16(_mm_and_si128(m1, even), _mm_srli_epi16(m1, 8));
      } else {
        auto sum4 = [&](__m128i a, __m128i b) {
          const __m128i s =
              _mm_add_epi16(_mm_add_epi16(_mm_and_si128(a, even), _mm_srli_epi16(a, 8)),
                            _mm_add_epi16(_mm_and_si128(b, even), _mm_srli_epi16(b, 8)));
          return _mm_srli_epi16(s, 2);
        };
        lo = sum4(a0, b0);
        hi = sum4(a1, b1);
      }
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + ox), _mm_packus_epi16(lo, hi));
  }
#else
  (void)r0, (void)r1, (void)in_w, (void)ow, (void)pool_type, (void)out;
#endif
  return ox;
}

}  // namespace

void pool_plane(const std::uint8_t* in, std::uint32_t in_h, std::uint32_t in_w,
                std::int64_t pool_type, std::uint8_t* out) {
  const std::uint32_t oh = pool_output_size(in_h, pool_type);
  const std::uint32_t ow = pool_output_size(in_w, pool_type);
  std::uint32_t start = 0;  // first output column the scalar loops below compute
  if (pool_type == 1 || pool_type == 2 || pool_type == 5 || pool_type == 6) {
    // All rows share the same split: the vector part of row 0 tells where the tail starts.
    for (std::uint32_t oy = 0; oy < oh; ++oy) {
      const std::uint8_t* r0 = in + std::size_t{2 * oy} * in_w;
      start = pool2_row_sse2(r0, r0 + in_w, in_w, ow, pool_type, out + std::size_t{oy} * ow);
    }
  }
  auto at = [&](std::uint32_t y, std::uint32_t x) -> std::uint32_t { return in[y * in_w + x]; };
  switch (pool_type) {
    case 0:
      std::copy(in, in + std::size_t{in_h} * in_w, out);
      return;
    case 1:
    case 3: {  // max k x k stride k; floor sizes keep every tap inside
      const std::uint32_t k = pool_type == 1 ? 2 : 4;
      for (std::uint32_t oy = 0; oy < oh; ++oy) {
        for (std::uint32_t ox = start; ox < ow; ++ox) {
          std::uint32_t m = 0;
          for (std::uint32_t ky = 0; ky < k; ++ky)
            for (std::uint32_t kx = 0; kx < k; ++kx) m = std::max(m, at(oy * k + ky, ox * k + kx));
          out[oy * ow + ox] = static_cast<std::uint8_t>(m);
        }
      }
      return;
    }
    case 2:
    case 4: {  // mean k x k stride k, floor division
      const std::uint32_t k = pool_type == 2 ? 2 : 4;
      for (std::uint32_t oy = 0; oy < oh; ++oy) {
        for (std::uint32_t ox = start; ox < ow; ++ox) {
          std::uint32_t s = 0;
          for (std::uint32_t ky = 0; ky < k; ++ky)
            for (std::uint32_t kx = 0; kx < k; ++kx) s += at(oy * k + ky, ox * k + kx);
          out[oy * ow + ox] = static_cast<std::uint8_t>(s / (k * k));
        }
      }
      return;
    }
    case 5:
    case 6:
    case 7: {  // select one tap: (s*y, s*x + dx)
      const std::uint32_t s = pool_type == 7 ? 4 : 2;
      const std::uint32_t dx = pool_type == 6 ? 1 : 0;
      for (std::uint32_t oy = 0; oy < oh; ++oy) {
        for (std::uint32_t ox = start; ox < ow; ++ox) {
          const std::uint32_t x = ox * s + dx;
          out[oy * ow + ox] = x < in_w ? static_cast<std::uint8_t>(at(oy * s, x)) : 0;
        }
      }
      return;
    }
    case 8: {  // mean 2x2 stride 1, coordinates clamped to the edge
      for (std::uint32_t y = 0; y < in_h; ++y) {
        const std::uint32_t y1 = std::min(y + 1, in_h - 1);
        for (std::uint32_t x = 0; x < in_w; ++x) {
          const std::uint32_t x1 = std::min(x + 1, in_w - 1);
          out[y * in_w + x] =
              static_cast<std::uint8_t>((at(y, x) + at(y, x1) + at(y1, x) + at(y1, x1)) / 4);
        }
      }
      return;
    }
    case 9: {  // max 2x2 stride 1, taps beyond the edge read 0
      for (std::uint32_t y = 0; y < in_h; ++y) {
        for (std::uint32_t x = 0; x < in_w; ++x) {
          std::uint32_t m = at(y, x);
          if (x + 1 < in_w) m = std::max(m, at(y, x + 1));
          if (y + 1 < in_h) {
            m = std::max(m, at(y + 1, x));
            if (x + 1 < in_w) m = std::max(m, at(y + 1, x + 1));
          }
          out[y * in_w + x] = static_cast<std::uint8_t>(m);
        }
      }
      return;
    }
    default:
      return;  // rejected at prepare
  }
}

}  // namespace emc::accel_sim::detail
