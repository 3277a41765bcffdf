// EMC_CONV2D, EMC_DEPTHWISE_CONV2D (int8, TFLite/CMSIS-NN scheme) and their F32 forms
// (format/emc_layers.h; arithmetic in docs/cpu_target.md).
//
// The scalar loops define the result. The packed kernels (emc_conv_vnni.cpp: AVX-512 VNNI, and
// the AVX2 GEMM of regular convs) and the AVX2 depthwise row kernel here compute the same exact
// int32 accumulators in another order and requantize them by the same rule, so the bytes are
// identical.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <utility>
#include <vector>

#include "emc_conv_kernels.h"
#include "ops.h"

namespace emc::cpu_backend {

bool emc_kernel_isa_available(EmcKernelIsa isa) {
  switch (isa) {
    case EmcKernelIsa::kAvx2:
      return emc_avx2_available();
    case EmcKernelIsa::kAvx512Vnni:
      return detail::emc_vnni_available();
    default:
      return true;
  }
}

bool emc_avx2_available() {
#if defined(__x86_64__) || defined(__i386__)
  return __builtin_cpu_supports("avx2");
#else
  return false;
#endif
}

namespace detail {
namespace {

using format::EmcConvGeometry;

using Axis = ConvAxis;
using Conv = ConvShape;

// Re-checks the geometry (a hand-built layer never went through the parser).
Result<Conv> check_geometry(LayerChecker& c, const EmcConvGeometry& g, bool depthwise) {
  for (auto [name, v] : {std::pair<const char*, std::uint32_t>{"in_width", g.in_width},
                         {"in_height", g.in_height},
                         {"in_channels", g.in_channels},
                         {"out_width", g.out_width},
                         {"out_height", g.out_height},
                         {"out_channels", g.out_channels},
                         {"kernel_width", g.kernel_width},
                         {"kernel_height", g.kernel_height},
                         {"stride_width", g.stride_width},
                         {"stride_height", g.stride_height},
                         {"dilation_width", g.dilation_width},
                         {"dilation_height", g.dilation_height},
                         {"depth_multiplier", g.depth_multiplier}}) {
    EMC_TRY(c.positive(name, v));
  }
  if (depthwise ? std::uint64_t{g.in_channels} * g.depth_multiplier != g.out_channels
                : g.depth_multiplier != 1) {
    return c.error("depth_multiplier " + std::to_string(g.depth_multiplier) +
                   " does not fit in_channels " + std::to_string(g.in_channels) +
                   " / out_channels " + std::to_string(g.out_channels));
  }
  Conv v{
      {g.in_width, g.out_width, g.kernel_width, g.stride_width, g.dilation_width, g.pad_left},
      {g.in_height, g.out_height, g.kernel_height, g.stride_height, g.dilation_height, g.pad_top},
      g.in_channels,
      g.out_channels,
      depthwise ? std::int64_t{g.depth_multiplier} : 0};
  auto axis_ok = [&](const Axis& a, std::int64_t pad_end, const char* name) -> Status {
    const std::int64_t extent = a.dilation * (a.kernel - 1) + 1;
    const std::int64_t padded = a.in + a.pad + pad_end;
    if (a.pad >= extent || pad_end >= extent || padded < extent ||
        (padded - extent) / a.stride + 1 != a.out) {
      return c.error(std::string(name) + ": output " + std::to_string(a.out) +
                     " does not follow from input " + std::to_string(a.in) + ", pads " +
                     std::to_string(a.pad) + "/" + std::to_string(pad_end) +
                     " (each below the dilated kernel " + std::to_string(extent) + ") and stride " +
                     std::to_string(a.stride));
    }
    return ok_status();
  };
  EMC_TRY(axis_ok(v.x, g.pad_right, "width"));
  EMC_TRY(axis_ok(v.y, g.pad_bottom, "height"));
  return v;
}

bool per_channel_ok(const format::EmcConv2dInt8Body& b, std::uint64_t oc) {
  return b.bias.size() == oc && b.multiplier.size() == oc && b.shift.size() == oc;
}
bool per_channel_ok(const format::EmcConv2dF32Body& b, std::uint64_t oc) {
  return b.bias.size() == oc;
}

template <class Body>
struct CheckedConv {
  const Body* body;
  Conv v;
  ByteRange in, out;
};

// What the int8 and the float prepare share: the body type, the geometry, the input and output
// ranges of `elem_bytes`-byte elements, and the array lengths the geometry implies.
template <class Body>
Result<CheckedConv<Body>> check_conv(LayerChecker& c, bool depthwise, std::uint64_t elem_bytes) {
  EMC_CPU_ASSIGN_OR_RETURN(const Body* b, c.body<Body>());
  EMC_CPU_ASSIGN_OR_RETURN(Conv v, check_geometry(c, b->geo, depthwise));
  const auto& g = b->geo;
  EMC_CPU_ASSIGN_OR_RETURN(
      ByteRange in, c.range("main_mem_in_address", g.main_mem_in_address,
                            checked_product({g.in_width, g.in_height, g.in_channels}), elem_bytes,
                            "in_width x in_height x in_channels"));
  EMC_CPU_ASSIGN_OR_RETURN(ByteRange out,
                           c.range("main_mem_out_address", g.main_mem_out_address,
                                   checked_product({g.out_width, g.out_height, g.out_channels}),
                                   elem_bytes, "out_width x out_height x out_channels"));
  if (b->weights.size() != format::emc_conv_weight_count(g, depthwise) ||
      !per_channel_ok(*b, g.out_channels)) {
    return c.error("weights or per-channel array sizes do not match the geometry");
  }
  return CheckedConv<Body>{b, v, in, out};
}

// ---- int8 -------------------------------------------------------------------------------------

// The definition: for every output, taps in any order (the int32 sum is exact).
void conv_int8_scalar(const Conv& v, const Int8Params& p, const std::uint8_t* in,
                      std::uint8_t* out) {
  const std::int64_t in_plane = v.x.in * v.y.in;
  for (std::int64_t o = 0; o < v.out_c; ++o) {
    const std::int64_t ic0 = v.depthwise() ? o / v.mult : 0;
    const std::int64_t ics = v.depthwise() ? 1 : v.in_c;
    const std::int8_t* w = p.weights.data() + o * ics * v.y.kernel * v.x.kernel;
    for (std::int64_t oy = 0; oy < v.y.out; ++oy) {
      for (std::int64_t ox = 0; ox < v.x.out; ++ox) {
        std::int32_t acc = p.bias[o];
        for (std::int64_t ic = 0; ic < ics; ++ic) {
          const std::uint8_t* plane = in + (ic0 + ic) * in_plane;
          for (std::int64_t ky = 0; ky < v.y.kernel; ++ky) {
            const std::int64_t iy = v.y.at(oy, ky);
            if (iy < 0 || iy >= v.y.in) continue;
            for (std::int64_t kx = 0; kx < v.x.kernel; ++kx) {
              const std::int64_t ix = v.x.at(ox, kx);
              if (ix < 0 || ix >= v.x.in) continue;
              const std::int32_t xv = static_cast<std::int8_t>(plane[iy * v.x.in + ix]);
              acc += (xv - p.in_zp) * w[(ic * v.y.kernel + ky) * v.x.kernel + kx];
            }
          }
        }
        out[(o * v.y.out + oy) * v.x.out + ox] = static_cast<std::uint8_t>(
            emc_requantize(acc, p.multiplier[o], p.shift[o], p.out_zp, p.lo, p.hi));
      }
    }
  }
}

#if defined(__x86_64__)
// Depthwise: per channel a zero-padded int16 plane of (x - zp); per output row, for each tap an
// 8-wide int32 multiply-add over output columns (stride 1: contiguous loads; other strides: the
// tap's columns gathered into a contiguous row first).
__attribute__((target("avx2"))) void depthwise_int8_avx2(const Conv& v, const Int8Params& p,
                                                         std::vector<std::int16_t>& padded,
                                                         std::vector<std::int16_t>& taps,
                                                         std::vector<std::int32_t>& acc,
                                                         const std::uint8_t* in,
                                                         std::uint8_t* out) {
  const std::int64_t pw =
      v.x.in + v.x.pad + v.x.dilation * (v.x.kernel - 1) + v.x.stride * v.x.out + 8;
  const std::int64_t ph = v.y.in + v.y.pad + v.y.dilation * (v.y.kernel - 1) + v.y.stride * v.y.out;
  const std::int64_t ow8 = (v.x.out + 7) / 8 * 8;
  padded.assign(static_cast<std::size_t>(pw * ph), 0);
  taps.assign(static_cast<std::size_t>(ow8), 0);
  acc.assign(static_cast<std::size_t>(ow8), 0);
  const std::int64_t in_plane = v.x.in * v.y.in;
  for (std::int64_t ic = 0; ic < v.in_c; ++ic) {
    const std::uint8_t* plane = in + ic * in_plane;
    for (std::int64_t y = 0; y < v.y.in; ++y) {
      std::int16_t* dst = padded.data() + (y + v.y.pad) * pw + v.x.pad;
      for (std::int64_t x = 0; x < v.x.in; ++x) {
        dst[x] =
            static_cast<std::int16_t>(static_cast<std::int8_t>(plane[y * v.x.in + x]) - p.in_zp);
      }
    }
    for (std::int64_t m = 0; m < v.mult; ++m) {
      const std::int64_t o = ic * v.mult + m;
      const std::int8_t* w = p.weights.data() + o * v.y.kernel * v.x.kernel;
      for (std::int64_t oy = 0; oy < v.y.out; ++oy) {
        std::fill(acc.begin(), acc.end(), 0);
        for (std::int64_t ky = 0; ky < v.y.kernel; ++ky) {
          const std::int16_t* prow = padded.data() + (oy * v.y.stride + ky * v.y.dilation) * pw;
          for (std::int64_t kx = 0; kx < v.x.kernel; ++kx) {
            const std::int16_t* src = prow + kx * v.x.dilation;
            if (v.x.stride != 1) {
              for (std::int64_t ox = 0; ox < v.x.out; ++ox) taps[ox] = src[ox * v.x.stride];
              src = taps.data();
            }
            const __m256i wv = _mm256_set1_epi32(w[ky * v.x.kernel + kx]);
            for (std::int64_t ox = 0; ox < ow8; ox += 8) {
              const __m256i xv = _mm256_cvtepi16_epi32(
                  _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + ox)));
              __m256i* a = reinterpret_cast<__m256i*>(acc.data() + ox);
              _mm256_storeu_si256(
                  a, _mm256_add_epi32(_mm256_loadu_si256(a), _mm256_mullo_epi32(xv, wv)));
            }
          }
        }
        std::uint8_t* dst = out + (o * v.y.out + oy) * v.x.out;
        for (std::int64_t ox = 0; ox < v.x.out; ++ox) {
          dst[ox] = static_cast<std::uint8_t>(emc_requantize(acc[ox] + p.bias[o], p.multiplier[o],
                                                             p.shift[o], p.out_zp, p.lo, p.hi));
        }
      }
    }
  }
}
#endif

// Which kernel a layer runs (EmcKernelIsa resolved against this CPU and shape).
enum class ConvPath { kScalar, kAvx2, kVnni };

class ConvInt8Layer final : public interpreter::PreparedLayer {
 public:
  ConvInt8Layer(Conv v, Int8Params p, ByteRange in, ByteRange out, ConvPath path)
      : v_(v), p_(std::move(p)), in_(in), out_(out), path_(path) {
    if (path_ == ConvPath::kVnni ||
        (path_ == ConvPath::kAvx2 && (!v_.depthwise() || avx2_depthwise_fits(v_)))) {
      packed_ = std::make_unique<PackedConv>(v_, p_, path_ == ConvPath::kVnni);
      p_.weights = {};  // packed in packed_
    }
  }

  Status run(interpreter::ExecContext& ctx) override {
    EMC_CPU_ASSIGN_OR_RETURN(const std::uint8_t* in, fetch(ctx.main, in_));
    EMC_CPU_ASSIGN_OR_RETURN(std::uint8_t * out, fetch(ctx.main, out_));
    if (packed_) {
      packed_->run(in, out);
      return ok_status();
    }
#if defined(__x86_64__)
    if (path_ == ConvPath::kAvx2) {
      depthwise_int8_avx2(v_, p_, s16_, t16_, acc_, in, out);
      return ok_status();
    }
#endif
    conv_int8_scalar(v_, p_, in, out);
    return ok_status();
  }
  format::MemRange output_range() const override {
    return out_.mem_range();
  }

 private:
  Conv v_;
  Int8Params p_;
  ByteRange in_, out_;
  ConvPath path_;
  std::unique_ptr<PackedConv> packed_;   // VNNI, or AVX2 regular convs
  std::vector<std::int16_t> s16_, t16_;  // AVX2 depthwise scratch
  std::vector<std::int32_t> acc_;
};

ConvPath choose_path(EmcKernelIsa isa, const Conv& v) {
  if (isa == EmcKernelIsa::kScalar) return ConvPath::kScalar;
  if (isa != EmcKernelIsa::kAvx2 && emc_vnni_available() && vnni_conv_fits(v)) {
    return ConvPath::kVnni;
  }
  return emc_avx2_available() ? ConvPath::kAvx2 : ConvPath::kScalar;
}

Result<PreparedPtr> prepare_conv_int8(const PrepareContext& ctx, bool depthwise) {
  LayerChecker c(ctx.info);
  EMC_CPU_ASSIGN_OR_RETURN(auto checked, check_conv<format::EmcConv2dInt8Body>(c, depthwise, 1));
  const format::EmcConv2dInt8Body* b = checked.body;
  const Conv& v = checked.v;
  const std::uint64_t oc = b->geo.out_channels;
  for (auto [name, val] :
       {std::pair<const char*, std::int32_t>{"input_zero_point", b->input_zero_point},
        {"output_zero_point", b->output_zero_point},
        {"act_min", b->act_min},
        {"act_max", b->act_max}}) {
    if (val < -128 || val > 127) {
      return c.error(std::string(name) + " " + std::to_string(val) + " is outside [-128, 127]");
    }
  }
  if (b->act_min > b->act_max) return c.error("act_min exceeds act_max");
  for (std::uint64_t o = 0; o < oc; ++o) {
    const std::int64_t bound =
        std::min<std::int64_t>(v.taps(), 1 << 20) * 32640 + std::abs(std::int64_t{b->bias[o]});
    if (bound > 2147483647) {
      return c.error("channel " + std::to_string(o) + ": the int32 accumulator can overflow");
    }
    if (b->multiplier[o] < 0 || b->shift[o] < -31 || b->shift[o] > 30) {
      return c.error("channel " + std::to_string(o) + ": multiplier " +
                     std::to_string(b->multiplier[o]) + " / shift " + std::to_string(b->shift[o]) +
                     " outside [0, 2^31) / [-31, 30]");
    }
  }
  Int8Params p{b->input_zero_point, b->output_zero_point,
               b->act_min,          b->act_max,
               b->weights,          b->bias,
               b->multiplier,       b->shift};
  return PreparedPtr(std::make_unique<ConvInt8Layer>(v, std::move(p), checked.in, checked.out,
                                                     choose_path(ctx.options.emc_isa, v)));
}

// ---- float ------------------------------------------------------------------------------------

class ConvF32Layer final : public interpreter::PreparedLayer {
 public:
  ConvF32Layer(Conv v, const format::EmcConv2dF32Body& b, ByteRange in, ByteRange out)
      : v_(v), w_(b.weights), bias_(b.bias), lo_(b.act_min), hi_(b.act_max), in_(in), out_(out) {}

  // s = 0; s += x * w over the valid taps in (ic, ky, kx) order; out = clamp(s + bias).
  Status run(interpreter::ExecContext& ctx) override {
    EMC_CPU_ASSIGN_OR_RETURN(const std::uint8_t* in, fetch(ctx.main, in_));
    EMC_CPU_ASSIGN_OR_RETURN(std::uint8_t * out, fetch(ctx.main, out_));
    const std::int64_t in_plane = v_.x.in * v_.y.in;
    for (std::int64_t o = 0; o < v_.out_c; ++o) {
      const std::int64_t ic0 = v_.depthwise() ? o / v_.mult : 0;
      const std::int64_t ics = v_.depthwise() ? 1 : v_.in_c;
      const float* w = w_.data() + o * ics * v_.y.kernel * v_.x.kernel;
      for (std::int64_t oy = 0; oy < v_.y.out; ++oy) {
        for (std::int64_t ox = 0; ox < v_.x.out; ++ox) {
          float s = 0.0f;
          for (std::int64_t ic = 0; ic < ics; ++ic) {
            const std::uint8_t* plane = in + 4 * (ic0 + ic) * in_plane;
            for (std::int64_t ky = 0; ky < v_.y.kernel; ++ky) {
              const std::int64_t iy = v_.y.at(oy, ky);
              if (iy < 0 || iy >= v_.y.in) continue;
              for (std::int64_t kx = 0; kx < v_.x.kernel; ++kx) {
                const std::int64_t ix = v_.x.at(ox, kx);
                if (ix < 0 || ix >= v_.x.in) continue;
                s += load_f32(plane + 4 * (iy * v_.x.in + ix)) *
                     w[(ic * v_.y.kernel + ky) * v_.x.kernel + kx];
              }
            }
          }
          s += bias_[o];
          s = s < lo_ ? lo_ : s;
          s = s > hi_ ? hi_ : s;
          store_f32(out + 4 * ((o * v_.y.out + oy) * v_.x.out + ox), s);
        }
      }
    }
    return ok_status();
  }
  format::MemRange output_range() const override { return out_.mem_range(); }

 private:
  Conv v_;
  std::vector<float> w_, bias_;
  float lo_, hi_;
  ByteRange in_, out_;
};

Result<PreparedPtr> prepare_conv_f32(const PrepareContext& ctx, bool depthwise) {
  LayerChecker c(ctx.info);
  EMC_CPU_ASSIGN_OR_RETURN(auto checked, check_conv<format::EmcConv2dF32Body>(c, depthwise, 4));
  const format::EmcConv2dF32Body* b = checked.body;
  if (std::isnan(b->act_min) || std::isnan(b->act_max) || b->act_min > b->act_max) {
    return c.error("act_min/act_max are NaN or out of order");
  }
  return PreparedPtr(std::make_unique<ConvF32Layer>(checked.v, *b, checked.in, checked.out));
}

}  // namespace

Result<PreparedPtr> prepare_emc_conv2d(const PrepareContext& ctx) {
  return prepare_conv_int8(ctx, false);
}
Result<PreparedPtr> prepare_emc_depthwise_conv2d(const PrepareContext& ctx) {
  return prepare_conv_int8(ctx, true);
}
Result<PreparedPtr> prepare_emc_conv2d_f32(const PrepareContext& ctx) {
  return prepare_conv_f32(ctx, false);
}
Result<PreparedPtr> prepare_emc_depthwise_conv2d_f32(const PrepareContext& ctx) {
  return prepare_conv_f32(ctx, true);
}

}  // namespace detail
}  // namespace emc::cpu_backend
