#include "conv_layer.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "emc/format/kpu_cycle_model.h"
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif
#include "mac_kernels.h"
#include "map_geometry.h"
#include "output_stage.h"
#include "scratch_arena.h"

namespace emc::accel_sim::detail {
namespace {

using format::ConvBody;
using format::KpuLayerFields;

constexpr std::size_t kRowTile = 1024;  // pixels per GEMM call for 1x1 layers
// The quad path's 1x1 tile keeps its accumulators (out_c x tile int32) within this, so the
// arena of a wide 1x1 layer is not out_c x 1024 x 4 bytes (MobileNet v1's 28x28x256: 800 KiB).
constexpr std::size_t kQuadAccBytes = 128 * 1024;

std::size_t round_up(std::size_t v, std::size_t m) {
  return (v + m - 1) / m * m;
}

Error invalid(const std::string& what) {
  return Error(Errc::kInvalidModel, what);
}

// memcpy of one map line (7..224 bytes in MobileNet), inlined: overlapping 16/8/4-byte moves
// instead of a library call per line (tens of thousands of lines per inference).
inline void copy_line(std::uint8_t* dst, const std::uint8_t* src, std::size_t n) {
  auto move = [&](std::size_t at, auto word) {
    std::memcpy(&word, src + at, sizeof(word));
    std::memcpy(dst + at, &word, sizeof(word));
  };
  struct Block16 {
    std::uint64_t a, b;
  };
  if (n >= 16) {
    std::size_t i = 0;
    for (; i + 16 < n; i += 16) move(i, Block16{});
    move(n - 16, Block16{});
  } else if (n >= 8) {
    move(0, std::uint64_t{});
    move(n - 8, std::uint64_t{});
  } else if (n >= 4) {
    move(0, std::uint32_t{});
    move(n - 4, std::uint32_t{});
  } else {
    for (std::size_t i = 0; i < n; ++i) dst[i] = src[i];
  }
}

#if defined(__SSE2__)
// Interleaves 16 bytes of each of four lines into 64 bytes: out[4x + i] = line_i[x].
inline void store_quad16(__m128i a, __m128i b, __m128i c, __m128i d, std::uint8_t* out) {
  const __m128i ab_lo = _mm_unpacklo_epi8(a, b), ab_hi = _mm_unpackhi_epi8(a, b);
  const __m128i cd_lo = _mm_unpacklo_epi8(c, d), cd_hi = _mm_unpackhi_epi8(c, d);
  auto* o = reinterpret_cast<__m128i*>(out);
  _mm_storeu_si128(o + 0, _mm_unpacklo_epi16(ab_lo, cd_lo));
  _mm_storeu_si128(o + 1, _mm_unpackhi_epi16(ab_lo, cd_lo));
  _mm_storeu_si128(o + 2, _mm_unpacklo_epi16(ab_hi, cd_hi));
  _mm_storeu_si128(o + 3, _mm_unpackhi_epi16(ab_hi, cd_hi));
}
#endif

// out[4x + i] = line_i[x] - 128 as int8 for i < real, 0 for the phantom channels i >= real.
void interleave_quad(const std::uint8_t* l0, const std::uint8_t* l1, const std::uint8_t* l2,
                     const std::uint8_t* l3, std::uint32_t real, std::uint32_t n,
                     std::uint8_t* out) {
  std::uint32_t x = 0;
#if defined(__SSE2__)
  if (real < 4) {  // (a 3-channel RGB input): zero vectors for the phantom lines
    const __m128i flip = _mm_set1_epi8(static_cast<char>(0x80));
    auto load = [&](const std::uint8_t* l, std::uint32_t i) {
      return i < real
                 ? _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(l + x)), flip)
                 : _mm_setzero_si128();
    };
    for (; x + 16 <= n; x += 16) {
      store_quad16(load(l0, 0), load(l1, 1), load(l2, 2), load(l3, 3), out + 4 * x);
    }
  } else {  // SSE2 is part of x86-64: 16 pixels per step, two unpack levels
    const __m128i flip = _mm_set1_epi8(static_cast<char>(0x80));
    for (; x + 16 <= n; x += 16) {
      auto load = [&](const std::uint8_t* l) {
        return _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(l + x)), flip);
      };
      const __m128i a = load(l0), b = load(l1), c = load(l2), d = load(l3);
      store_quad16(a, b, c, d, out + 4 * x);
    }
    for (; x + 8 <= n; x += 8) {  // the 8-pixel rest of a 56-, 28- or 14-wide line
      auto load = [&](const std::uint8_t* l) {
        return _mm_xor_si128(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(l + x)), flip);
      };
      const __m128i ab = _mm_unpacklo_epi8(load(l0), load(l1));
      const __m128i cd = _mm_unpacklo_epi8(load(l2), load(l3));
      auto* o = reinterpret_cast<__m128i*>(out + 4 * x);
      _mm_storeu_si128(o + 0, _mm_unpacklo_epi16(ab, cd));
      _mm_storeu_si128(o + 1, _mm_unpackhi_epi16(ab, cd));
    }
  }
#endif
  const std::uint8_t* lines[4] = {l0, l1, l2, l3};
  for (; x < n; ++x) {
    for (std::uint32_t i = 0; i < 4; ++i) {
      out[4 * x + i] = i < real ? static_cast<std::uint8_t>(lines[i][x] ^ 0x80) : 0;
    }
  }
}

// The same for every second pixel: out[4x + i] = line_i[2x + dx] - 128 for x < n (lines of
// in_w valid bytes; reads stay inside them). Returns how many pixels were done (the caller
// finishes the rest); only for real == 4.
std::uint32_t interleave_quad_step2(const std::uint8_t* l0, const std::uint8_t* l1,
                                    const std::uint8_t* l2, const std::uint8_t* l3,
                                    std::uint32_t dx, std::uint32_t n, std::uint32_t in_w,
                                    std::uint8_t* out) {
  std::uint32_t x = 0;
#if defined(__SSE2__)
  const __m128i flip = _mm_set1_epi8(static_cast<char>(0x80));
  const __m128i even = _mm_set1_epi16(0x00ff);
  for (; x + 16 <= n && 2 * x + 32 <= in_w; x += 16) {
    auto load = [&](const std::uint8_t* l) {
      const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(l + 2 * x));
      const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(l + 2 * x + 16));
      const __m128i lo = dx != 0 ? _mm_srli_epi16(a, 8) : _mm_and_si128(a, even);
      const __m128i hi = dx != 0 ? _mm_srli_epi16(b, 8) : _mm_and_si128(b, even);
      return _mm_xor_si128(_mm_packus_epi16(lo, hi), flip);
    };
    const __m128i a = load(l0), b = load(l1), c = load(l2), d = load(l3);
    store_quad16(a, b, c, d, out + 4 * x);
  }
#else
  (void)l0, (void)l1, (void)l2, (void)l3, (void)dx, (void)n, (void)in_w, (void)out;
#endif
  return x;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define EMC_GATHER_AVX512 1
// GCC 12's AVX-512 intrinsics (_mm512_undefined_epi32 `__Y = __Y`) trip -Wmaybe-uninitialized.
#pragma GCC diagnostic push
#if !defined(__clang__)  // a GCC-only warning; clang warns on the unknown group
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// interleave_quad and interleave_quad_step2 on AVX-512 BW + VBMI, 64 pixels per step with masked
// loads and stores (nothing outside the n pixels is written, nothing outside the lines read):
// out[4x + i] = line_i[step * x + dx] - 128 for i < real, 0 for i >= real; step 1 or 2 (for step
// 2 the lines hold in_w valid bytes).
__attribute__((target("avx512f,avx512bw,avx512vbmi"))) void interleave_quad_avx512(
    const std::uint8_t* const* lines, std::uint32_t real, std::uint32_t step, std::uint32_t dx,
    std::uint32_t n, std::uint32_t in_w, std::uint8_t* out) {
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  // step 2: byte j of the selection is byte 2j + dx of the 128 bytes a || b
  alignas(64) std::uint8_t sel[64];
  for (std::uint32_t j = 0; j < 64; ++j) sel[j] = static_cast<std::uint8_t>(2 * j + dx);
  const __m512i sel_idx = _mm512_load_si512(sel);
  auto bytes_mask = [](std::int64_t count) -> __mmask64 {
    return count >= 64 ? ~__mmask64{0} : count <= 0 ? 0 : (__mmask64{1} << count) - 1;
  };
  for (std::uint32_t x = 0; x < n; x += 64) {
    const std::uint32_t m = std::min<std::uint32_t>(64, n - x);
    __m512i v[4];
    for (std::uint32_t i = 0; i < 4; ++i) {
      if (i >= real) {
        v[i] = _mm512_setzero_si512();
        continue;
      }
      if (step == 1) {
        v[i] = _mm512_maskz_loadu_epi8(bytes_mask(m), lines[i] + x);
      } else {
        const std::int64_t at = 2 * std::int64_t{x};
        const __m512i a = _mm512_maskz_loadu_epi8(bytes_mask(in_w - at), lines[i] + at);
        const __m512i b = _mm512_maskz_loadu_epi8(bytes_mask(in_w - at - 64), lines[i] + at + 64);
        v[i] = _mm512_permutex2var_epi8(a, sel_idx, b);
      }
      v[i] = _mm512_xor_si512(v[i], flip);
    }
    const __m512i ab_lo = _mm512_unpacklo_epi8(v[0], v[1]),
                  ab_hi = _mm512_unpackhi_epi8(v[0], v[1]);
    const __m512i cd_lo = _mm512_unpacklo_epi8(v[2], v[3]),
                  cd_hi = _mm512_unpackhi_epi8(v[2], v[3]);
    // Per 128-bit lane L: q0 = pixels 16L..16L+3, q1 = +4..7, q2 = +8..11, q3 = +12..15.
    const __m512i q0 = _mm512_unpacklo_epi16(ab_lo, cd_lo),
                  q1 = _mm512_unpackhi_epi16(ab_lo, cd_lo);
    const __m512i q2 = _mm512_unpacklo_epi16(ab_hi, cd_hi),
                  q3 = _mm512_unpackhi_epi16(ab_hi, cd_hi);
    // 4x4 transpose of the 128-bit lanes: output k = lane k of q0, q1, q2, q3.
    const __m512i t0 = _mm512_shuffle_i64x2(q0, q1, 0x44), t1 = _mm512_shuffle_i64x2(q2, q3, 0x44);
    const __m512i t2 = _mm512_shuffle_i64x2(q0, q1, 0xee), t3 = _mm512_shuffle_i64x2(q2, q3, 0xee);
    const __m512i o[4] = {_mm512_shuffle_i64x2(t0, t1, 0x88), _mm512_shuffle_i64x2(t0, t1, 0xdd),
                          _mm512_shuffle_i64x2(t2, t3, 0x88), _mm512_shuffle_i64x2(t2, t3, 0xdd)};
    for (std::uint32_t k = 0; k < 4; ++k) {
      const std::int64_t left = 4 * std::int64_t{m} - 64 * std::int64_t{k};
      if (left <= 0) break;
      _mm512_mask_storeu_epi8(out + 4 * std::size_t{x} + 64 * k, bytes_mask(left), o[k]);
    }
  }
}
#pragma GCC diagnostic pop
#endif

class PreparedConv final : public interpreter::PreparedLayer {
 public:
  static Result<std::unique_ptr<interpreter::PreparedLayer>> make(
      const interpreter::LayerInfo& info, const KpuSimOptions& options,
      std::shared_ptr<ScratchArena> arena);

  Status run(interpreter::ExecContext& ctx) override;
  std::uint64_t simulated_cycles() const override { return cycles_; }
  format::MemRange output_range() const override {
    if (!main_out_) return {};
    return {main_addr_, static_cast<std::uint32_t>(out_plane_ * out_c_)};
  }

 private:
  explicit PreparedConv(const KpuSimOptions& options, const format::KpuActivationTable& act)
      : act_(act, options) {}

  Status check_ranges(const interpreter::LayerInfo& info) const;
  void prepare_weights(const ConvBody& body, bool eight_bit);
  void gather_input(const std::uint8_t* src);
  void gather_quads(const std::uint8_t* src);
  void sum_x_terms();
  void conv_normal();
  // Thread-private scratch of task t of a channel-split run (task 0: the layer's own buffers).
  struct Scratch {
    std::int32_t* chan_sum;
    std::int32_t* acc;
  };
  Scratch scratch(unsigned t) const;
  void conv_quads(std::size_t o_begin, std::size_t o_end, const Scratch& s);
  void conv_depthwise();
  void prepare_depthwise_lines();
  void conv_depthwise_lines(const std::uint8_t* src, std::uint32_t c_begin, std::uint32_t c_end,
                            std::int32_t* acc);

  // Shapes.
  std::uint32_t in_w_ = 0, in_h_ = 0, in_c_ = 0, out_c_ = 0, out_w_ = 0, out_h_ = 0;
  std::uint32_t k_ = 1, pad_ = 0;
  bool depthwise_ = false;
  bool sixteen_bit_ = false;
  bool quads_path_ = false;  // normal conv with 8-bit weights: the u8 x s8 quad GEMM
  // Quad path, 1x1 with a select pool (5, 6, 7): only the pixels (s*y, s*x + dx) the pool keeps
  // are computed (a 1x1 output pixel depends on its own input pixel only), on a cw_ x ch_ map.
  bool subsample_ = false;
  std::uint32_t sub_step_ = 1, sub_dx_ = 0;
  std::uint32_t cw_ = 0, ch_ = 0;  // the map the quad path computes (in_w x in_h, or out_w x out_h)
  bool gather_avx512_ = false;     // interleave_quad_avx512 (max_isa kAvx512Vnni, CPU has it)
  std::int64_t pool_type_ = 0;
  std::uint8_t pad_value_ = 0;
  std::int64_t arg_x_ = 0;
  std::uint32_t shr_x_ = 0;

  // Memory.
  MapGeometry in_geo_, out_geo_;
  std::uint64_t src_byte_ = 0, dst_byte_ = 0;
  bool main_out_ = false;
  std::uint32_t main_addr_ = 0;
  std::size_t out_plane_ = 0;  // out_w * out_h
  std::uint64_t cycles_ = 0;

  // Precomputed.
  std::size_t padded_w_ = 0, padded_h_ = 0, plane_pixels_ = 0;  // padded input plane
  std::size_t in_pairs_ = 0;                                    // ceil(in_c / 2)
  std::size_t kpairs_ = 0, oblocks_ = 0;
  std::vector<std::int32_t> w_lo_, w_hi_;    // packed pairs (hi only for 16-bit weights)
  std::vector<std::int32_t> w_dw_;           // depthwise [c][k*k]
  std::vector<std::ptrdiff_t> tap_offsets_;  // per pair-row (normal) or tap (depthwise)
  std::vector<std::int64_t> cterm_;          // ((arg_w*sum_w) >> shr_w) + arg_add*g_ic per oc
  std::vector<ChannelBn> bn_;
  ActivationStage act_;
  GemmFn gemm_ = nullptr;
  // Quad path (8-bit normal convs): weights in place (1x1, IC % 4 == 0) or packed [oc][kg][4].
  std::size_t quads_ = 0, kgroups_ = 0;  // ceil(in_c / 4), quads_ * k * k
  const std::uint8_t* wq_ = nullptr;
  std::size_t wq_stride_ = 0;
  std::vector<std::uint8_t> wq_packed_;
  std::vector<std::ptrdiff_t> quad_offsets_;  // per k-group, bytes
  std::vector<std::int32_t> cterm32_;         // cterm_ as int32 (fold_terms_)
  QuadGemmFn quad_gemm_ = nullptr;
  QuadSumFn quad_sum_ = nullptr;  // null: Σx from the input map (gather_quads), else per tile
  // quad_sum_ set and every channel's acc + xterm + cterm provably inside int32: the GEMM adds the
  // int32 xterm and cterm at its store (exact mod 2^32), the output stage gets neither.
  bool fold_terms_ = false;
  std::size_t quad_tile_ = 0;  // pixels per GEMM call of a 1x1 quad layer (multiple of 32)
  DepthwiseFn depthwise_fn_ = nullptr;
  bool small_dw_weights_ = false;  // every depthwise weight <= 32767
  // 8-bit 3x3 depthwise with folded terms whose input and output maps do not overlap: the kernel
  // reads the input lines in KPU RAM (no padded copy) a chunk of rows at a time.
  DepthwiseLinesFn dw_lines_fn_ = nullptr;
  std::vector<std::uint32_t> dw_coef_;   // [c][ky] (DepthwiseLines::coef)
  std::vector<std::uint8_t> dw_single_;  // [c] (DepthwiseLines::single)

  // Precomputed KPU RAM offsets of line 0 of each input / output channel (lines follow at the
  // map's line_stride).
  std::vector<std::uint64_t> in_line0_, out_line0_;

  // Scratch: offsets into the model's shared arena (one layer runs at a time), set at prepare.
  std::shared_ptr<ScratchArena> arena_;
  std::size_t input_at_ = 0;     // int16, normal: [pair][plane][2]; depthwise: [c][plane]
  std::size_t input_count_ = 0;  // int16 elements of valid planes (slack follows)
  std::size_t slack_count_ = 0;  // int16 elements read past the planes (zeroed per run)
  std::size_t chan_sum_at_ = 0;  // int32, normal: sum over channels of the padded input
  std::size_t xterm_at_ = 0;     // int64, (arg_x * sum_x) >> shr_x per output pixel / row
  std::size_t acc_lo_at_ = 0, acc_hi_at_ = 0;  // int32
  std::size_t act_out_at_ = 0;                 // uint8 [oc][in_h][in_w] after activation
  std::size_t pooled_at_ = 0;                  // uint8 [oc][out_h][out_w] (unused for pool 0)
  // Pointers into the arena, valid during run().
  std::int16_t* input_ = nullptr;
  std::int32_t *chan_sum_ = nullptr, *acc_lo_ = nullptr, *acc_hi_ = nullptr;
  std::int64_t* xterm_ = nullptr;
  std::uint8_t *act_out_ = nullptr, *pooled_ = nullptr;
  // The output stage writes its bytes straight into the output map's lines in KPU RAM (no pool
  // to apply, no DMA copy of the dense result, an output stage that can lay out rows).
  bool direct_ = false;
  std::uint8_t* kpu_out_ = nullptr;  // the output map in KPU RAM, valid during run()
  // Channel-split runs (KpuSimOptions::threads): tasks_ > 1 splits the quad path (Σx per tile and
  // folded terms, so the tasks share only the gathered input) or the depthwise line kernel; tasks
  // 1.. have their own chan_sum / acc at private_at_ + (t - 1) * private_bytes_.
  WorkerPool* workers_ = nullptr;
  unsigned tasks_ = 1;
  std::size_t private_at_ = 0, private_bytes_ = 0, private_sum_at_ = 0, private_acc_at_ = 0;
};

Result<std::unique_ptr<interpreter::PreparedLayer>> PreparedConv::make(
    const interpreter::LayerInfo& info, const KpuSimOptions& options,
    std::shared_ptr<ScratchArena> arena) {
  const auto* body = std::get_if<ConvBody>(&info.layer->body);
  if (body == nullptr) return Error(Errc::kInternal, "K210_CONV layer without a conv body");
  if (info.model == nullptr) {
    return Error(Errc::kInvalidArgument, "K210_CONV needs the model header (weight width)");
  }
  const KpuLayerFields f = body->fields();
  const auto act_table = format::unpack_kpu_activation(body->act_words);
  std::unique_ptr<PreparedConv> p(new PreparedConv(options, act_table));

  if (f.kernel_type != 0 && f.kernel_type != 1) {
    return invalid("kernel_type " + std::to_string(f.kernel_type) + " is not 0 (1x1) or 1 (3x3)");
  }
  if (f.pool_type > 9) {
    return invalid("pool_type " + std::to_string(f.pool_type) + " is not in 0..9");
  }
  p->in_w_ = static_cast<std::uint32_t>(f.in_width());
  p->in_h_ = static_cast<std::uint32_t>(f.in_height());
  p->in_c_ = static_cast<std::uint32_t>(f.in_channels());
  p->out_c_ = static_cast<std::uint32_t>(f.out_channels());
  p->out_w_ = static_cast<std::uint32_t>(f.out_width());
  p->out_h_ = static_cast<std::uint32_t>(f.out_height());
  p->k_ = f.kernel_type == 1 ? 3 : 1;
  p->pad_ = f.kernel_type == 1 ? 1 : 0;
  p->depthwise_ = f.depth_wise_layer != 0;
  p->sixteen_bit_ = !info.model->eight_bit_weights();
  p->pool_type_ = f.pool_type;
  p->pad_value_ = static_cast<std::uint8_t>(f.pad_value);
  p->arg_x_ = f.arg_x;
  p->shr_x_ = static_cast<std::uint32_t>(f.shr_x);

  if (p->depthwise_ && p->in_c_ != p->out_c_) {
    return invalid("depthwise layer with " + std::to_string(p->in_c_) + " input and " +
                   std::to_string(p->out_c_) + " output channels (must be equal)");
  }
  const std::uint32_t pw = pool_output_size(p->in_w_, p->pool_type_);
  const std::uint32_t ph = pool_output_size(p->in_h_, p->pool_type_);
  if (pw != p->out_w_ || ph != p->out_h_) {
    return invalid("output size " + std::to_string(p->out_w_) + "x" + std::to_string(p->out_h_) +
                   " does not match pool_type " + std::to_string(p->pool_type_) + " on input " +
                   std::to_string(p->in_w_) + "x" + std::to_string(p->in_h_) + " (expected " +
                   std::to_string(pw) + "x" + std::to_string(ph) + ")");
  }
  if (pw == 0 || ph == 0) {
    return invalid("pool_type " + std::to_string(p->pool_type_) + " on input " +
                   std::to_string(p->in_w_) + "x" + std::to_string(p->in_h_) +
                   " leaves no output pixels");
  }
  p->out_plane_ = std::size_t{p->out_w_} * p->out_h_;

  auto in_geo = geometry_from_registers(p->in_w_, p->in_h_, p->in_c_, f.coef_group,
                                        f.row_switch_addr, f.channel_switch_addr, "input map");
  if (!in_geo.ok()) return std::move(in_geo).error();
  auto out_geo =
      geometry_from_registers(p->out_w_, p->out_h_, p->out_c_, f.wb_group, f.wb_row_switch_addr,
                              f.wb_channel_switch_addr, "output map");
  if (!out_geo.ok()) return std::move(out_geo).error();
  p->in_geo_ = *in_geo;
  p->out_geo_ = *out_geo;
  p->src_byte_ = static_cast<std::uint64_t>(f.image_src_addr) * 64;
  p->dst_byte_ = static_cast<std::uint64_t>(f.image_dst_addr) * 64;
  p->main_out_ = body->main_mem_out();
  p->main_addr_ = body->main_mem_out_address;
  EMC_TRY(p->check_ranges(info));

  // Blobs.
  const std::size_t kk = std::size_t{p->k_} * p->k_;
  const std::size_t w_count = (p->depthwise_ ? 1 : std::size_t{p->in_c_}) * p->out_c_ * kk;
  const std::size_t w_bytes = w_count * (p->sixteen_bit_ ? 2 : 1);
  if (body->weights.size() < w_bytes) {
    return invalid("weights blob has " + std::to_string(body->weights.size()) + " bytes, the " +
                   std::to_string(p->out_c_) + "-channel layer needs " + std::to_string(w_bytes));
  }
  if (body->bn_words.size() < p->out_c_) {
    return invalid("batch-norm table has " + std::to_string(body->bn_words.size()) +
                   " entries, the layer has " + std::to_string(p->out_c_) + " output channels");
  }
  p->quads_path_ = !p->depthwise_ && !p->sixteen_bit_;
  p->subsample_ = p->quads_path_ && p->k_ == 1 &&
                  (p->pool_type_ == 5 || p->pool_type_ == 6 || p->pool_type_ == 7);
  p->sub_step_ = p->pool_type_ == 7 ? 4 : 2;
  p->sub_dx_ = p->pool_type_ == 6 ? 1 : 0;
  p->cw_ = p->subsample_ ? p->out_w_ : p->in_w_;
  p->ch_ = p->subsample_ ? p->out_h_ : p->in_h_;
  p->prepare_weights(*body, !p->sixteen_bit_);

  // Constant per output channel: ((arg_w * sum_w) >> shr_w) + arg_add * g_ic.
  // And a bound on each channel's accumulator, for the output stage: with S = sum of the window's
  // x, acc = sum w*x + floor(arg_x*S / 2^shr_x) + constant = sum (w*2^shr_x + arg_x)*x / 2^shr_x
  // (minus < 1) + constant, and every x is in [0, 255], so |acc - constant| <= 255 * max(sum of
  // the positive coefficients, -sum of the negative ones) / 2^shr_x + 1. (x - 128 and arg_x
  // nearly cancel in asymmetric quantization, so this is far below 255 * max w * taps.)
  const std::int64_t g_ic = p->depthwise_ ? 1 : p->in_c_;
  p->cterm_.resize(p->out_c_);
  p->bn_.resize(p->out_c_);
  const std::size_t per_oc = (p->depthwise_ ? 1 : std::size_t{p->in_c_}) * kk;
  std::vector<std::int64_t> acc_abs(p->out_c_);
  for (std::uint32_t o = 0; o < p->out_c_; ++o) {
    std::int64_t sum_w = 0, pos = 0, neg = 0;
    for (std::size_t i = 0; i < per_oc; ++i) {
      const std::size_t idx = o * per_oc + i;
      const std::int64_t w = p->sixteen_bit_
                                 ? (body->weights[2 * idx] | (body->weights[2 * idx + 1] << 8))
                                 : body->weights[idx];
      sum_w += w;
      const std::int64_t coef = w * (std::int64_t{1} << p->shr_x_) + p->arg_x_;
      (coef > 0 ? pos : neg) += coef;
    }
    const std::int64_t constant = ((f.arg_w * sum_w) >> f.shr_w) + f.arg_add * g_ic;
    acc_abs[o] =
        ((255 * std::max(pos, -neg)) >> p->shr_x_) + 1 + (constant < 0 ? -constant : constant);
    p->cterm_[o] = constant;
    if (p->quads_path_) p->cterm_[o] += 128 * sum_w;  // the quad GEMM multiplies x - 128
    const auto bn = format::unpack_kpu_batchnorm(body->bn_words[o]);
    p->bn_[o] = ChannelBn{bn.norm_mul, bn.norm_add, bn.norm_shift};
  }

  // When no input can take the accumulator or bn of any channel out of 36 bits, the output
  // stage may skip its wraps; when no accumulator leaves int32 either, it may use its int32 form.
  bool no_wrap_all = false;
  std::int64_t acc_bound_all = 0;
  {
    constexpr std::int64_t kLimit = std::int64_t{1} << 35;
    std::int64_t acc_bound = 0;
    bool no_wrap = true;
    for (std::uint32_t o = 0; o < p->out_c_ && no_wrap; ++o) {
      const ChannelBn& bn = p->bn_[o];
      acc_bound = std::max(acc_bound, acc_abs[o]);
      const std::int64_t mul_abs = bn.mul < 0 ? -bn.mul : bn.mul;
      const std::int64_t add_abs = bn.add < 0 ? -bn.add : bn.add;
      no_wrap = acc_abs[o] < kLimit && ((acc_abs[o] * mul_abs) >> bn.shift) + 1 + add_abs < kLimit;
    }
    p->act_.set_no_wrap(no_wrap);
    if (no_wrap) p->act_.enable_int32(acc_bound);
    no_wrap_all = no_wrap;
    acc_bound_all = acc_bound;
  }

  const GemmIsa isa = options.max_isa == KernelIsa::kPortable ? GemmIsa::kPortable
                      : options.max_isa == KernelIsa::kAvx2   ? GemmIsa::kAvx2
                                                              : GemmIsa::kAvx512Vnni;
  const MacKernels kernels = select_mac_kernels(isa);
#ifdef EMC_GATHER_AVX512
  __builtin_cpu_init();
  p->gather_avx512_ = isa == GemmIsa::kAvx512Vnni && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vbmi");
#endif
  p->gemm_ = kernels.gemm;
  p->quad_gemm_ = kernels.quad_gemm;
  p->quad_sum_ = kernels.quad_sum;
  p->depthwise_fn_ = kernels.depthwise;
  p->fold_terms_ =
      ((p->quads_path_ && p->quad_sum_ != nullptr) || (p->depthwise_ && kernels.depthwise_folds)) &&
      no_wrap_all && acc_bound_all < (std::int64_t{1} << 31);
  if (p->fold_terms_) {
    p->cterm32_.resize(p->out_c_);
    for (std::uint32_t o = 0; o < p->out_c_; ++o)
      p->cterm32_[o] = static_cast<std::int32_t>(static_cast<std::uint32_t>(p->cterm_[o]));
  }
  const bool maps_apart = p->src_byte_ + p->in_geo_.extent() <= p->dst_byte_ ||
                          p->dst_byte_ + p->out_geo_.extent() <= p->src_byte_;
  if (p->depthwise_ && p->k_ == 3 && !p->sixteen_bit_ && p->fold_terms_ && maps_apart &&
      kernels.depthwise_lines != nullptr) {
    p->dw_lines_fn_ = kernels.depthwise_lines;
    p->prepare_depthwise_lines();
  }
  p->cycles_ = format::estimate_kpu_conv(f, !p->sixteen_bit_, p->main_out_).cycles;

  p->in_line0_.resize(p->in_c_);
  for (std::uint32_t c = 0; c < p->in_c_; ++c) p->in_line0_[c] = p->in_geo_.line_offset(c, 0);
  p->out_line0_.resize(p->out_c_);
  for (std::uint32_t c = 0; c < p->out_c_; ++c) p->out_line0_[c] = p->out_geo_.line_offset(c, 0);

  // Scratch layout in the shared arena.
  const std::uint32_t map_w = p->quads_path_ ? p->cw_ : p->in_w_;
  const std::uint32_t map_h = p->quads_path_ ? p->ch_ : p->in_h_;
  p->padded_w_ = map_w + 2 * p->pad_;
  p->padded_h_ = map_h + 2 * p->pad_;
  p->plane_pixels_ = p->padded_w_ * p->padded_h_;
  const std::size_t in_pixels = std::size_t{map_w} * map_h;
  ArenaLayout layout;
  if (p->dw_lines_fn_ != nullptr) {  // no planes: the acc of one chunk of rows
    p->acc_lo_at_ = layout.add<std::int32_t>(std::max<std::size_t>(kRowTile, p->in_w_));
  } else if (p->depthwise_) {  // uint8 planes [c][plane] (int16 units), one channel's acc, xterm
    p->input_count_ = (std::size_t{p->in_c_} * p->plane_pixels_ + 1) / 2;
    p->slack_count_ = kInputSlack;
    p->input_at_ = layout.add<std::int16_t>(p->input_count_ + p->slack_count_);
    p->acc_lo_at_ = layout.add<std::int32_t>(in_pixels);
    p->xterm_at_ = layout.add<std::int64_t>(in_pixels);
  } else if (p->quads_path_) {
    p->input_count_ = p->quads_ * p->plane_pixels_ * 2;  // int16 units: 4 bytes per pixel
    p->slack_count_ = 2 * kQuadSlack;
    p->input_at_ = layout.add<std::int16_t>(p->input_count_ + p->slack_count_);
    p->quad_tile_ = std::clamp<std::size_t>(
        kQuadAccBytes / (4 * round_up(p->out_c_, kOutBlock)) / kQuadPixelBlock * kQuadPixelBlock,
        kQuadPixelBlock, kRowTile);
    const std::size_t n = p->k_ == 1 ? std::min(in_pixels, p->quad_tile_) : p->in_w_;
    if (p->arg_x_ != 0 && p->quad_sum_ != nullptr) {
      // conv_quads sums a tile of up to round_up(n, 32) pixels into chan_sum and, unless the GEMM
      // folds the terms, turns it into that tile's xterm: tile-sized, not map-sized.
      p->chan_sum_at_ = layout.add<std::int32_t>(round_up(n, kQuadPixelBlock));
      if (!p->fold_terms_) p->xterm_at_ = layout.add<std::int64_t>(n);
    } else if (p->arg_x_ != 0) {  // gather_quads sums the whole padded map, then every xterm
      p->chan_sum_at_ = layout.add<std::int32_t>(p->plane_pixels_);
      p->xterm_at_ = layout.add<std::int64_t>(in_pixels);
    }
    p->acc_lo_at_ =
        layout.add<std::int32_t>(round_up(p->out_c_, kOutBlock) * round_up(n, kQuadPixelBlock));
  } else {
    p->input_count_ = p->in_pairs_ * p->plane_pixels_ * 2;
    p->slack_count_ = 2 * kInputSlack;
    p->input_at_ = layout.add<std::int16_t>(p->input_count_ + p->slack_count_);
    p->chan_sum_at_ = layout.add<std::int32_t>(p->plane_pixels_);
    p->xterm_at_ = layout.add<std::int64_t>(in_pixels);
    const std::size_t n = p->k_ == 1 ? std::min(in_pixels, kRowTile) : p->in_w_;
    const std::size_t acc_count = p->oblocks_ * kOutBlock * round_up(n, kPixelBlock);
    p->acc_lo_at_ = layout.add<std::int32_t>(acc_count);
    if (p->sixteen_bit_) p->acc_hi_at_ = layout.add<std::int32_t>(acc_count);
  }
  const bool split_quads = p->quads_path_ && p->quad_sum_ != nullptr && p->fold_terms_;
  if ((split_quads || p->dw_lines_fn_ != nullptr) && options.threads > 1) {
    const std::size_t units = split_quads ? (p->out_c_ + kOutBlock - 1) / kOutBlock : p->in_c_;
    p->tasks_ = static_cast<unsigned>(std::min<std::size_t>(options.threads, units));
  }
  if (p->tasks_ > 1) {  // the same chan_sum and acc sizes as above, per further task
    ArenaLayout priv;
    if (split_quads) {  // (quad_sum_ set: tile-sized sums)
      const std::size_t n = p->k_ == 1 ? std::min(in_pixels, p->quad_tile_) : p->in_w_;
      if (p->arg_x_ != 0) p->private_sum_at_ = priv.add<std::int32_t>(round_up(n, kQuadPixelBlock));
      p->private_acc_at_ =
          priv.add<std::int32_t>(round_up(p->out_c_, kOutBlock) * round_up(n, kQuadPixelBlock));
    } else {
      p->private_acc_at_ = priv.add<std::int32_t>(std::max<std::size_t>(kRowTile, p->in_w_));
    }
    p->private_bytes_ = priv.bytes();
    p->private_at_ = layout.add<std::uint8_t>(p->private_bytes_ * (p->tasks_ - 1));
    p->workers_ = arena->workers(options.threads);
  }
  p->direct_ =
      (p->quads_path_ || p->depthwise_) && (p->pool_type_ == 0 || p->subsample_) && !p->main_out_;
  if (!p->direct_) p->act_out_at_ = layout.add<std::uint8_t>(std::size_t{p->out_c_} * in_pixels);
  if (p->pool_type_ != 0 && !p->subsample_) {
    p->pooled_at_ = layout.add<std::uint8_t>(std::size_t{p->out_c_} * p->out_plane_);
  }
  arena->reserve(layout.bytes());
  p->arena_ = std::move(arena);
  return std::unique_ptr<interpreter::PreparedLayer>(std::move(p));
}

Status PreparedConv::check_ranges(const interpreter::LayerInfo& info) const {
  auto describe = [](const MapGeometry& g) {
    return std::to_string(g.width) + "x" + std::to_string(g.height) + "x" +
           std::to_string(g.channels);
  };
  const std::uint64_t in_end = src_byte_ + in_geo_.extent();
  if (in_end > info.kpu_mem_bytes) {
    return Error(Errc::kKpuOutOfMemory,
                 "input map " + describe(in_geo_) + " at image_src_addr row " +
                     std::to_string(src_byte_ / 64) + " ends at byte " + std::to_string(in_end) +
                     ", beyond KPU RAM (" + std::to_string(info.kpu_mem_bytes) + " bytes)");
  }
  const std::uint64_t out_end = dst_byte_ + out_geo_.extent();
  if (out_end > info.kpu_mem_bytes) {
    return Error(Errc::kKpuOutOfMemory,
                 "output map " + describe(out_geo_) + " at image_dst_addr row " +
                     std::to_string(dst_byte_ / 64) + " ends at byte " + std::to_string(out_end) +
                     ", beyond KPU RAM (" + std::to_string(info.kpu_mem_bytes) + " bytes)");
  }
  if (main_out_) {
    const std::uint64_t n = std::uint64_t{out_plane_} * out_c_;
    if (std::uint64_t{main_addr_} + n > info.main_mem_bytes) {
      return Error(Errc::kInvalidModel, "main_mem_out_address " + std::to_string(main_addr_) +
                                            " + " + std::to_string(n) +
                                            " output bytes exceeds main memory (" +
                                            std::to_string(info.main_mem_bytes) + " bytes)");
    }
  }
  return ok_status();
}

void PreparedConv::prepare_weights(const ConvBody& body, bool eight_bit) {
  const std::size_t kk = std::size_t{k_} * k_;
  auto weight = [&](std::size_t idx) -> std::int32_t {
    return eight_bit ? body.weights[idx]
                     : (body.weights[2 * idx] | (body.weights[2 * idx + 1] << 8));
  };
  if (depthwise_) {
    w_dw_.resize(std::size_t{out_c_} * kk);
    for (std::size_t i = 0; i < w_dw_.size(); ++i) w_dw_[i] = weight(i);
    small_dw_weights_ =
        std::all_of(w_dw_.begin(), w_dw_.end(), [](std::int32_t w) { return w <= 32767; });
    tap_offsets_.clear();
    for (std::uint32_t ky = 0; ky < k_; ++ky)
      for (std::uint32_t kx = 0; kx < k_; ++kx)
        tap_offsets_.push_back(ky * (in_w_ + 2 * pad_) + kx);
    return;
  }
  if (quads_path_) {
    // k-groups are ordered (input quad, ky, kx); the weight word of k-group g of row o is the
    // four channels 4q..4q+3 at tap (ky, kx).
    quads_ = (in_c_ + 3) / 4;
    kgroups_ = quads_ * kk;
    const std::size_t pw = cw_ + 2 * pad_, plane = pw * (ch_ + 2 * pad_);
    quad_offsets_.clear();
    for (std::size_t q = 0; q < quads_; ++q)
      for (std::uint32_t ky = 0; ky < k_; ++ky)
        for (std::uint32_t kx = 0; kx < k_; ++kx)
          quad_offsets_.push_back(static_cast<std::ptrdiff_t>(4 * (q * plane + ky * pw + kx)));
    if (k_ == 1 && in_c_ % 4 == 0) {  // the kmodel's [oc][ic] bytes are already that layout
      wq_ = body.weights.data();
      wq_stride_ = in_c_;
      return;
    }
    wq_stride_ = 4 * kgroups_;
    wq_packed_.assign(std::size_t{out_c_} * wq_stride_, 0);
    for (std::uint32_t o = 0; o < out_c_; ++o)
      for (std::uint32_t ic = 0; ic < in_c_; ++ic)
        for (std::size_t t = 0; t < kk; ++t)
          wq_packed_[o * wq_stride_ + 4 * ((ic / 4) * kk + t) + ic % 4] =
              body.weights[(std::size_t{o} * in_c_ + ic) * kk + t];
    wq_ = wq_packed_.data();
    return;
  }
  // Pair rows are ordered (input pair, ky, kx); weights [ob][pair-row][8] with the odd partner of
  // an odd last channel set to 0.
  in_pairs_ = (in_c_ + 1) / 2;
  kpairs_ = in_pairs_ * kk;
  oblocks_ = (out_c_ + kOutBlock - 1) / kOutBlock;
  w_lo_.assign(oblocks_ * kpairs_ * kOutBlock, 0);
  if (!eight_bit) w_hi_.assign(w_lo_.size(), 0);
  const std::size_t pw = in_w_ + 2 * pad_, plane = pw * (in_h_ + 2 * pad_);
  tap_offsets_.clear();
  for (std::size_t ip = 0; ip < in_pairs_; ++ip) {
    for (std::uint32_t ky = 0; ky < k_; ++ky) {
      for (std::uint32_t kx = 0; kx < k_; ++kx) {
        tap_offsets_.push_back(static_cast<std::ptrdiff_t>(2 * (ip * plane + ky * pw + kx)));
      }
    }
  }
  for (std::uint32_t o = 0; o < out_c_; ++o) {
    const std::size_t ob = o / kOutBlock, lane = o % kOutBlock;
    for (std::size_t ip = 0; ip < in_pairs_; ++ip) {
      for (std::size_t t = 0; t < kk; ++t) {
        const std::size_t ic0 = 2 * ip, ic1 = 2 * ip + 1;
        const std::int32_t w0 = weight((std::size_t{o} * in_c_ + ic0) * kk + t);
        const std::int32_t w1 = ic1 < in_c_ ? weight((std::size_t{o} * in_c_ + ic1) * kk + t) : 0;
        const std::size_t at = (ob * kpairs_ + ip * kk + t) * kOutBlock + lane;
        // 16-bit weights are split w = 256*hi + lo with both halves <= 255 (int32-exact GEMMs).
        const std::int32_t lo0 = eight_bit ? w0 : (w0 & 0xff), lo1 = eight_bit ? w1 : (w1 & 0xff);
        w_lo_[at] = static_cast<std::int32_t>(static_cast<std::uint32_t>(lo0) |
                                              (static_cast<std::uint32_t>(lo1) << 16));
        if (!eight_bit) {
          w_hi_[at] = static_cast<std::int32_t>(static_cast<std::uint32_t>(w0 >> 8) |
                                                (static_cast<std::uint32_t>(w1 >> 8) << 16));
        }
      }
    }
  }
}

void PreparedConv::prepare_depthwise_lines() {
  dw_coef_.assign(std::size_t{in_c_} * 3, 0);
  dw_single_.assign(in_c_, 0);
  for (std::uint32_t c = 0; c < in_c_; ++c) {
    const std::int32_t* w = w_dw_.data() + std::size_t{c} * 9;
    bool single = shr_x_ == 0;
    for (std::size_t t = 0; t < 9; ++t) {
      const std::int64_t v = w[t] + arg_x_;
      single = single && v >= -128 && v <= 127;
    }
    dw_single_[c] = single ? 1 : 0;
    for (std::size_t ky = 0; ky < 3; ++ky) {
      std::uint32_t word = 0;
      for (std::size_t kx = 0; kx < 3; ++kx) {
        const std::int64_t v = w[3 * ky + kx] + (single ? arg_x_ : -128);  // fits int8
        word |= (static_cast<std::uint32_t>(v) & 0xff) << (8 * kx);
      }
      dw_coef_[3 * c + ky] = word;
    }
  }
}

// Reads the input map from KPU RAM into padded int16 planes (pad_value around 3x3 inputs).
void PreparedConv::gather_input(const std::uint8_t* src) {
  const std::size_t pw = padded_w_;
  if (depthwise_) {  // uint8 planes
    auto* planes = reinterpret_cast<std::uint8_t*>(input_);
    for (std::uint32_t c = 0; c < in_c_; ++c) {
      std::uint8_t* plane = planes + std::size_t{c} * plane_pixels_;
      if (pad_ != 0) {  // the border rows and columns
        std::fill(plane, plane + pw, pad_value_);
        std::fill(plane + (padded_h_ - 1) * pw, plane + plane_pixels_, pad_value_);
        for (std::uint32_t y = 0; y < in_h_; ++y) {
          plane[(y + 1) * pw] = pad_value_;
          plane[(y + 1) * pw + pw - 1] = pad_value_;
        }
      }
      for (std::uint32_t y = 0; y < in_h_; ++y) {
        copy_line(plane + (y + pad_) * pw + pad_, src + in_line0_[c] + y * in_geo_.line_stride,
                  in_w_);
      }
    }
    return;
  }
  std::fill(chan_sum_, chan_sum_ + plane_pixels_, 0);
  for (std::size_t ip = 0; ip < in_pairs_; ++ip) {
    std::int16_t* pair_plane = input_ + ip * plane_pixels_ * 2;
    for (std::uint32_t half = 0; half < 2; ++half) {
      const std::uint32_t c = static_cast<std::uint32_t>(2 * ip + half);
      if (c >= in_c_) {  // phantom partner of an odd last channel: weight 0, value 0
        for (std::size_t i = 0; i < plane_pixels_; ++i) pair_plane[2 * i + half] = 0;
        continue;
      }
      if (pad_ != 0) {
        for (std::size_t i = 0; i < plane_pixels_; ++i) pair_plane[2 * i + half] = pad_value_;
        for (std::size_t i = 0; i < plane_pixels_; ++i) chan_sum_[i] += pad_value_;
      }
      for (std::uint32_t y = 0; y < in_h_; ++y) {
        const std::uint8_t* line = src + in_line0_[c] + y * in_geo_.line_stride;
        const std::size_t row = (y + pad_) * pw + pad_;
        std::int16_t* dst = pair_plane + 2 * row + half;
        std::int32_t* cs = chan_sum_ + row;
        for (std::uint32_t x = 0; x < in_w_; ++x) {
          dst[2 * x] = line[x];
          cs[x] += line[x] - (pad_ != 0 ? pad_value_ : 0);
        }
      }
    }
  }
  // sum_x of each output pixel's window (pad taps included), then the arg_x term.
  for (std::uint32_t y = 0; y < in_h_; ++y) {
    for (std::uint32_t x = 0; x < in_w_; ++x) {
      std::int64_t s = 0;
      for (std::uint32_t ky = 0; ky < k_; ++ky)
        for (std::uint32_t kx = 0; kx < k_; ++kx) s += chan_sum_[(y + ky) * pw + x + kx];
      xterm_[std::size_t{y} * in_w_ + x] = (arg_x_ * s) >> shr_x_;
    }
  }
}

// Reads the input map from KPU RAM into interleaved int8 quads x - 128 (pad_value - 128 around 3x3
// inputs, 0 for the phantom channels past IC), and the per-pixel sum_x terms.
void PreparedConv::gather_quads(const std::uint8_t* src) {
  const std::size_t pw = padded_w_;
  auto* planes = reinterpret_cast<std::uint8_t*>(input_);
  const std::uint8_t pad = static_cast<std::uint8_t>(pad_value_ ^ 0x80);
  for (std::size_t q = 0; q < quads_; ++q) {
    std::uint8_t* plane = planes + 4 * q * plane_pixels_;
    const std::uint32_t real =
        std::min<std::uint32_t>(4, in_c_ - static_cast<std::uint32_t>(4 * q));
    if (pad_ != 0 || real < 4) {
      std::uint8_t border[4];
      for (std::uint32_t i = 0; i < 4; ++i) border[i] = i < real ? pad : 0;
      std::uint32_t word;
      std::memcpy(&word, border, 4);
      auto* words = reinterpret_cast<std::uint32_t*>(plane);
      std::fill(words, words + plane_pixels_, word);
    }
    const std::uint8_t* lines[4];
    for (std::uint32_t i = 0; i < 4; ++i) lines[i] = src + in_line0_[4 * q + std::min(i, real - 1)];
    if (subsample_) {  // pixel (y, x) of the computed map is input (s*y, s*x + dx)
      for (std::uint32_t y = 0; y < ch_; ++y) {
        const std::size_t row = std::uint64_t{sub_step_} * y * in_geo_.line_stride;
        const std::size_t line = row + sub_dx_;
        std::uint8_t* out = plane + 4 * std::size_t{y} * pw;
        std::uint32_t x = 0;
#ifdef EMC_GATHER_AVX512
        if (gather_avx512_ && sub_step_ == 2) {
          const std::uint8_t* at[4] = {lines[0] + line, lines[1] + line, lines[2] + line,
                                       lines[3] + line};
          interleave_quad_avx512(at, real, 2, 0, cw_, in_w_ - sub_dx_, out);
          continue;
        }
#endif
        if (real == 4 && sub_step_ == 2) {
          x = interleave_quad_step2(lines[0] + row, lines[1] + row, lines[2] + row, lines[3] + row,
                                    sub_dx_, cw_, in_w_, out);
        }
        for (; x < cw_; ++x) {
          for (std::uint32_t i = 0; i < 4; ++i) {
            out[4 * x + i] =
                i < real ? static_cast<std::uint8_t>(lines[i][line + sub_step_ * x] ^ 0x80) : 0;
          }
        }
      }
      continue;
    }
    for (std::uint32_t y = 0; y < in_h_; ++y) {
      const std::size_t line = std::uint64_t{y} * in_geo_.line_stride;
#ifdef EMC_GATHER_AVX512
      if (gather_avx512_) {
        const std::uint8_t* at[4] = {lines[0] + line, lines[1] + line, lines[2] + line,
                                     lines[3] + line};
        interleave_quad_avx512(at, real, 1, 0, in_w_, in_w_, plane + 4 * ((y + pad_) * pw + pad_));
        continue;
      }
#endif
      interleave_quad(lines[0] + line, lines[1] + line, lines[2] + line, lines[3] + line, real,
                      in_w_, plane + 4 * ((y + pad_) * pw + pad_));
    }
  }
  // No arg_x term (the output stage gets no xterm), or conv_quads sums the quads per tile.
  if (arg_x_ == 0 || quad_sum_ != nullptr) return;
  // Sum over channels of the padded input (pad taps read pad_value).
  // (Locals, so the loops do not reload members through the int32 stores and vectorise.)
  const std::size_t w = cw_, h = ch_, p = pad_, stride = in_geo_.line_stride;
  const std::size_t step = subsample_ ? sub_step_ : 1, dx = subsample_ ? sub_dx_ : 0;
  std::int32_t* const sums = chan_sum_;
  const std::int32_t border = p != 0 ? static_cast<std::int32_t>(pad_value_) * in_c_ : 0;
  std::fill(sums, sums + plane_pixels_, border);
  if (p != 0) {
    for (std::size_t y = 0; y < h; ++y) std::fill_n(sums + (y + p) * pw + p, w, 0);
  }
  for (std::uint32_t c = 0; c < in_c_; ++c) {
    const std::uint8_t* line = src + in_line0_[c] + dx;
    for (std::size_t y = 0; y < h; ++y, line += step * stride) {
      std::int32_t* cs = sums + (y + p) * pw + p;
      if (step == 1) {
        for (std::size_t x = 0; x < w; ++x) cs[x] += line[x];
      } else {
        for (std::size_t x = 0; x < w; ++x) cs[x] += line[step * x];
      }
    }
  }
  sum_x_terms();
}

// sum_x of each output pixel's window (pad taps included) from chan_sum_, then the arg_x term.
void PreparedConv::sum_x_terms() {
  const std::size_t pw = padded_w_;
  if (k_ == 1) {
    for (std::size_t i = 0; i < std::size_t{cw_} * ch_; ++i)
      xterm_[i] = (arg_x_ * chan_sum_[i]) >> shr_x_;
    return;
  }
  for (std::uint32_t y = 0; y < ch_; ++y) {
    const std::int32_t* r0 = chan_sum_ + y * pw;
    const std::int32_t* r1 = r0 + pw;
    const std::int32_t* r2 = r1 + pw;
    std::int64_t* xt = xterm_ + std::size_t{y} * cw_;
    for (std::uint32_t x = 0; x < cw_; ++x) {
      const std::int64_t s = std::int64_t{r0[x]} + r0[x + 1] + r0[x + 2] + r1[x] + r1[x + 1] +
                             r1[x + 2] + r2[x] + r2[x + 1] + r2[x + 2];
      xt[x] = (arg_x_ * s) >> shr_x_;
    }
  }
}

PreparedConv::Scratch PreparedConv::scratch(unsigned t) const {
  if (t == 0) return {chan_sum_, acc_lo_};
  std::uint8_t* base = arena_->data() + private_at_ + (t - 1) * private_bytes_;
  return {reinterpret_cast<std::int32_t*>(base + private_sum_at_),
          reinterpret_cast<std::int32_t*>(base + private_acc_at_)};
}

// Output channels [o_begin, o_end) (o_begin a multiple of kOutBlock).
void PreparedConv::conv_quads(std::size_t o_begin, std::size_t o_end, const Scratch& s) {
  const std::size_t in_pixels = std::size_t{cw_} * ch_;
  std::int32_t* const chan_sum = s.chan_sum;
  QuadGemm g;
  g.offsets = quad_offsets_.data();
  g.kgroups = kgroups_;
  g.weights = wq_ + o_begin * wq_stride_;
  g.w_stride = wq_stride_;
  g.out_c = o_end - o_begin;
  g.acc = s.acc;
  const auto* planes = reinterpret_cast<const std::uint8_t*>(input_);
  auto run_tile = [&](std::size_t first_pixel, std::size_t n, const std::uint8_t* base) {
    const std::size_t stride = round_up(n, kQuadPixelBlock);
    g.base = base;
    g.n = n;
    g.acc_stride = stride;
    // xterm_: the whole map's (quad_sum_ null, from gather_quads) or this tile's.
    std::int64_t* const tile_xterm = quad_sum_ != nullptr ? xterm_ : xterm_ + first_pixel;
    const std::int64_t* xt = arg_x_ != 0 ? tile_xterm : nullptr;
    if (arg_x_ != 0 && quad_sum_ != nullptr) {
      // Σx = Σ(x - 128) over the same taps + 128·IC·k² (pad taps included, phantoms 0).
      quad_sum_(g, chan_sum);
      const std::int64_t c = std::int64_t{128} * in_c_ * k_ * k_, a = arg_x_;
      const std::uint32_t sh = shr_x_;
      std::int32_t* sums = chan_sum;
      if (fold_terms_) {  // int32 xterm (mod 2^32), added by the GEMM
        for (std::size_t i = 0; i < n; ++i) {
          sums[i] =
              static_cast<std::int32_t>(static_cast<std::uint32_t>((a * (sums[i] + c)) >> sh));
        }
      } else {
        std::int64_t* out = tile_xterm;
        for (std::size_t i = 0; i < n; ++i) out[i] = (a * (sums[i] + c)) >> sh;
      }
    }
    if (fold_terms_) {
      g.add_pixel = arg_x_ != 0 ? chan_sum : nullptr;
      g.add_row = cterm32_.data() + o_begin;
      xt = nullptr;
    }
    quad_gemm_(g);
    const std::int64_t ct_scale = fold_terms_ ? 0 : 1;
    const OutRows rows{cw_, first_pixel % cw_, out_geo_.line_stride};
    const std::size_t first_row = first_pixel / cw_;
    for (std::size_t o = o_begin; o < o_end; ++o) {
      const std::int32_t* acc = s.acc + (o - o_begin) * stride;
      if (direct_) {
        act_.run_rows(acc, xt, ct_scale * cterm_[o], bn_[o], n, rows,
                      kpu_out_ + out_line0_[o] + first_row * out_geo_.line_stride);
      } else {
        act_.run(acc, nullptr, xt, ct_scale * cterm_[o], bn_[o], n,
                 act_out_ + std::size_t{o} * in_pixels + first_pixel);
      }
    }
  };
  if (k_ == 1) {
    for (std::size_t p0 = 0; p0 < in_pixels; p0 += quad_tile_) {
      run_tile(p0, std::min(quad_tile_, in_pixels - p0), planes + 4 * p0);
    }
    return;
  }
  for (std::uint32_t y = 0; y < in_h_; ++y) {
    run_tile(std::size_t{y} * in_w_, in_w_, planes + 4 * std::size_t{y} * padded_w_);
  }
}

void PreparedConv::conv_normal() {
  const std::size_t in_pixels = std::size_t{in_w_} * in_h_;
  PairGemm g;
  g.offsets = tap_offsets_.data();
  g.kpairs = kpairs_;
  g.oblocks = oblocks_;
  auto post = [&](std::size_t first_pixel, std::size_t n, std::size_t stride) {
    for (std::uint32_t o = 0; o < out_c_; ++o) {
      const std::int32_t* lo = acc_lo_ + std::size_t{o} * stride;
      const std::int32_t* hi = sixteen_bit_ ? acc_hi_ + std::size_t{o} * stride : nullptr;
      act_.run(lo, hi, xterm_ + first_pixel, cterm_[o], bn_[o], n,
               act_out_ + std::size_t{o} * in_pixels + first_pixel);
    }
  };
  auto gemm = [&](std::size_t n, std::size_t stride) {
    g.n = n;
    g.acc_stride = stride;
    g.weights = w_lo_.data();
    g.acc = acc_lo_;
    gemm_(g);
    if (sixteen_bit_) {
      g.weights = w_hi_.data();
      g.acc = acc_hi_;
      gemm_(g);
    }
  };
  if (k_ == 1) {
    // A 1x1 conv on an unpadded plane is one long row: tile it.
    for (std::size_t p0 = 0; p0 < in_pixels; p0 += kRowTile) {
      const std::size_t n = std::min(kRowTile, in_pixels - p0);
      const std::size_t stride = round_up(n, kPixelBlock);
      g.base = input_ + 2 * p0;
      gemm(n, stride);
      post(p0, n, stride);
    }
    return;
  }
  const std::size_t stride = round_up(in_w_, kPixelBlock);
  for (std::uint32_t y = 0; y < in_h_; ++y) {
    g.base = input_ + 2 * std::size_t{y} * padded_w_;
    gemm(in_w_, stride);
    post(std::size_t{y} * in_w_, in_w_, stride);
  }
}

void PreparedConv::conv_depthwise() {
  const std::size_t in_pixels = std::size_t{in_w_} * in_h_;
  const std::size_t taps = std::size_t{k_} * k_;
  DepthwisePlane d;
  d.padded_w = padded_w_;
  d.w = in_w_;
  d.h = in_h_;
  d.offsets = tap_offsets_.data();
  d.taps = taps;
  d.small_weights = small_dw_weights_;
  d.arg_x = arg_x_;
  d.shr_x = shr_x_;
  d.acc = acc_lo_;
  d.xterm = xterm_;
  const auto* planes = reinterpret_cast<const std::uint8_t*>(input_);
  for (std::uint32_t c = 0; c < in_c_; ++c) {
    d.plane = planes + std::size_t{c} * plane_pixels_;
    d.weights = w_dw_.data() + c * taps;
    d.fold = fold_terms_;
    if (fold_terms_) d.cterm32 = cterm32_[c];
    depthwise_fn_(d);
    const std::int64_t* xt = arg_x_ != 0 && !fold_terms_ ? xterm_ : nullptr;
    const std::int64_t ct = fold_terms_ ? 0 : cterm_[c];
    if (direct_) {
      act_.run_rows(acc_lo_, xt, ct, bn_[c], in_pixels, OutRows{in_w_, 0, out_geo_.line_stride},
                    kpu_out_ + out_line0_[c]);
    } else {
      act_.run(acc_lo_, nullptr, xt, ct, bn_[c], in_pixels, act_out_ + c * in_pixels);
    }
  }
}

// Channels [c_begin, c_end), the accumulators of a row chunk in acc.
void PreparedConv::conv_depthwise_lines(const std::uint8_t* src, std::uint32_t c_begin,
                                        std::uint32_t c_end, std::int32_t* acc) {
  const std::size_t in_pixels = std::size_t{in_w_} * in_h_;
  const std::size_t chunk = std::max<std::size_t>(1, kRowTile / in_w_);
  DepthwiseLines d;
  d.line_stride = in_geo_.line_stride;
  d.w = in_w_;
  d.h = in_h_;
  d.pad = pad_value_;
  d.arg_x = arg_x_;
  d.shr_x = shr_x_;
  d.acc = acc;
  const OutRows rows{in_w_, 0, out_geo_.line_stride};
  for (std::uint32_t c = c_begin; c < c_end; ++c) {
    d.line0 = src + in_line0_[c];
    std::copy_n(dw_coef_.data() + 3 * std::size_t{c}, 3, d.coef);
    d.single = dw_single_[c] != 0;
    d.cterm32 = cterm32_[c];
    for (std::size_t y0 = 0; y0 < in_h_; y0 += chunk) {
      d.y0 = y0;
      d.rows = std::min<std::size_t>(chunk, in_h_ - y0);
      dw_lines_fn_(d);
      const std::size_t n = d.rows * in_w_;
      if (direct_) {
        act_.run_rows(acc, nullptr, 0, bn_[c], n, rows,
                      kpu_out_ + out_line0_[c] + y0 * out_geo_.line_stride);
      } else {
        act_.run(acc, nullptr, nullptr, 0, bn_[c], n, act_out_ + c * in_pixels + y0 * in_w_);
      }
    }
  }
}

Status PreparedConv::run(interpreter::ExecContext& ctx) {
  // Every address this run touches, checked once.
  auto in = ctx.kpu.at(src_byte_, in_geo_.extent());
  if (!in.ok()) return std::move(in).error();
  auto out = ctx.kpu.at(dst_byte_, out_geo_.extent());
  if (!out.ok()) return std::move(out).error();
  std::optional<std::span<std::uint8_t>> main;
  if (main_out_) {
    auto m = ctx.main.at(main_addr_, std::uint64_t{out_plane_} * out_c_);
    if (!m.ok()) return std::move(m).error();
    main = *m;
  }

  std::uint8_t* base = arena_->data();
  input_ = reinterpret_cast<std::int16_t*>(base + input_at_);
  chan_sum_ = reinterpret_cast<std::int32_t*>(base + chan_sum_at_);
  xterm_ = reinterpret_cast<std::int64_t*>(base + xterm_at_);
  acc_lo_ = reinterpret_cast<std::int32_t*>(base + acc_lo_at_);
  acc_hi_ = reinterpret_cast<std::int32_t*>(base + acc_hi_at_);
  act_out_ = base + act_out_at_;
  kpu_out_ = out->data();
  pooled_ = base + pooled_at_;
  // The kernels read up to a pixel block past the last plane: keep that slack defined (zero).
  std::fill(input_ + input_count_, input_ + input_count_ + slack_count_, std::int16_t{0});

  if (quads_path_) {
    gather_quads(in->data());
    if (tasks_ > 1) {  // whole output blocks per task
      const std::size_t blocks = (out_c_ + kOutBlock - 1) / kOutBlock;
      workers_->run(tasks_, [&](unsigned t) {
        const std::size_t b0 = blocks * t / tasks_, b1 = blocks * (t + 1) / tasks_;
        conv_quads(b0 * kOutBlock, std::min<std::size_t>(b1 * kOutBlock, out_c_), scratch(t));
      });
    } else {
      conv_quads(0, out_c_, scratch(0));
    }
  } else if (dw_lines_fn_ != nullptr) {
    const std::uint8_t* src = in->data();
    workers_ == nullptr
        ? conv_depthwise_lines(src, 0, in_c_, acc_lo_)
        : workers_->run(tasks_, [&](unsigned t) {
            conv_depthwise_lines(src, static_cast<std::uint32_t>(std::size_t{in_c_} * t / tasks_),
                                 static_cast<std::uint32_t>(std::size_t{in_c_} * (t + 1) / tasks_),
                                 scratch(t).acc);
          });
  } else {
    gather_input(in->data());
    if (depthwise_) {
      conv_depthwise();
    } else {
      conv_normal();
    }
  }

  const std::size_t in_pixels = std::size_t{in_w_} * in_h_;
  const std::uint8_t* result = act_out_;
  if (pool_type_ != 0 && !subsample_) {  // (subsample_: the computed map is the pooled one)
    for (std::uint32_t c = 0; c < out_c_; ++c) {
      pool_plane(act_out_ + c * in_pixels, in_h_, in_w_, pool_type_, pooled_ + c * out_plane_);
    }
    result = pooled_;
  }
  if (direct_) return ok_status();  // the output stage wrote the lines already
  // Write-back in the row layout: only the W_out bytes of each line are written.
  std::uint8_t* dst = out->data();
  for (std::uint32_t c = 0; c < out_c_; ++c) {
    for (std::uint32_t y = 0; y < out_h_; ++y) {
      copy_line(dst + out_line0_[c] + y * out_geo_.line_stride,
                result + c * out_plane_ + std::size_t{y} * out_w_, out_w_);
    }
  }
  // The DMA download: dense CHW of exactly W_out*H_out*C_out bytes (the SDK's DMA rounds the
  // transfer up to 8 bytes; those extra FIFO bytes are not modelled, see docs/kpu_simulator.md).
  if (main) std::memcpy(main->data(), result, main->size());
  return ok_status();
}

}  // namespace

Result<std::unique_ptr<interpreter::PreparedLayer>> prepare_conv(
    const interpreter::LayerInfo& info, const KpuSimOptions& options,
    std::shared_ptr<ScratchArena> arena) {
  return PreparedConv::make(info, options, std::move(arena));
}

}  // namespace emc::accel_sim::detail
