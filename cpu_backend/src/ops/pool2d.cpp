// MAX_POOL2D / AVERAGE_POOL2D and their quantized forms on CHW tensors.
//
//   QUANTIZED_MAX_POOL2D (8): SDK kpu_quantized_max_pool2d. AVERAGE_POOL2D (9): SDK
//   kpu_average_pool2d. MAX_POOL2D (7) and QUANTIZED_AVERAGE_POOL2D (10) are not in kpu.c; they
//   use the same window rule (docs/cpu_backend.md).
//
// Window rule (SDK): output (oy, ox) covers input rows oy*stride_h - padding_h + [0, kernel_h) and
// columns ox*stride_w - padding_w + [0, kernel_w), clipped to the input; padded taps do not
// exist (they neither count for the average nor take part in the max). The channel loop runs over
// out_shape.channels with an input channel stride of in_w * in_h, as in the SDK.
#include <algorithm>
#include <vector>

#include "ops.h"

namespace emc::cpu_backend::detail {
namespace {

enum class PoolKind { kMaxFloat, kMaxU8, kAverageFloat, kAverageU8 };

// Valid input coordinates [begin, end) of one output position along one axis.
struct Span1d {
  std::uint32_t begin = 0;
  std::uint32_t end = 0;
  bool empty() const { return begin >= end; }
};

// Clip the window of every output index along one axis (overflow-free: no signed wrap).
std::vector<Span1d> axis_windows(std::uint32_t out, std::uint32_t in, std::uint32_t kernel,
                                 std::uint32_t stride, std::uint32_t padding) {
  std::vector<Span1d> w(out);
  for (std::uint32_t o = 0; o < out; ++o) {
    const std::uint64_t start = std::uint64_t{o} * stride;  // window origin + padding
    const std::uint64_t pad = padding;
    const std::uint64_t limit = pad + in;                    // one past the last valid tap + pad
    const std::uint64_t ks = pad > start ? pad - start : 0;  // first valid kernel tap
    const std::uint64_t ke = limit > start ? std::min<std::uint64_t>(kernel, limit - start) : 0;
    if (ks < ke) {
      w[o].begin = static_cast<std::uint32_t>(start + ks - pad);
      w[o].end = static_cast<std::uint32_t>(start + ke - pad);
    }
  }
  return w;
}

class Pool2dLayer final : public interpreter::PreparedLayer {
 public:
  Pool2dLayer(PoolKind kind, ByteRange in, ByteRange out, const format::Pool2dBody& body,
              std::vector<Span1d> xs, std::vector<Span1d> ys)
      : kind_(kind),
        in_(in),
        out_(out),
        in_w_(body.in_shape.width),
        plane_(std::uint64_t{body.in_shape.width} * body.in_shape.height),
        channels_(body.out_shape.channels),
        xs_(std::move(xs)),
        ys_(std::move(ys)) {}

  Status run(interpreter::ExecContext& ctx) override {
    EMC_CPU_ASSIGN_OR_RETURN(const std::uint8_t* in, fetch(ctx.main, in_));
    EMC_CPU_ASSIGN_OR_RETURN(std::uint8_t * out, fetch(ctx.main, out_));
    if (out_.size == 0) return ok_status();
    std::uint64_t o = 0;  // output element index
    for (std::uint64_t c = 0; c < channels_; ++c) {
      const std::uint64_t base = c * plane_;
      for (const Span1d& y : ys_) {
        for (const Span1d& x : xs_) {
          switch (kind_) {
            case PoolKind::kMaxU8: {
              std::uint8_t m = 0;  // SDK start value; an all-padding window yields 0
              for (std::uint32_t iy = y.begin; iy < y.end; ++iy)
                for (std::uint32_t ix = x.begin; ix < x.end; ++ix) {
                  const std::uint8_t v = in[base + std::uint64_t{iy} * in_w_ + ix];
                  m = v > m ? v : m;
                }
              out[o] = m;
              break;
            }
            case PoolKind::kMaxFloat: {
              // Windows are non-empty (checked in prepare): start from the first valid tap.
              float m = load_f32(in + 4 * (base + std::uint64_t{y.begin} * in_w_ + x.begin));
              for (std::uint32_t iy = y.begin; iy < y.end; ++iy)
                for (std::uint32_t ix = x.begin; ix < x.end; ++ix) {
                  const float v = load_f32(in + 4 * (base + std::uint64_t{iy} * in_w_ + ix));
                  m = v > m ? v : m;
                }
              store_f32(out + 4 * o, m);
              break;
            }
            case PoolKind::kAverageFloat: {
              // SDK: float sum in window order, divided by the float count of valid taps.
              float sum = 0.f;
              float taps = 0.f;
              for (std::uint32_t iy = y.begin; iy < y.end; ++iy)
                for (std::uint32_t ix = x.begin; ix < x.end; ++ix) {
                  sum += load_f32(in + 4 * (base + std::uint64_t{iy} * in_w_ + ix));
                  taps += 1.f;
                }
              store_f32(out + 4 * o, sum / taps);
              break;
            }
            case PoolKind::kAverageU8: {
              // EMC decision: integer mean of the valid taps, rounded half up
              // ((sum + n/2) / n, as TFLite's reference quantized average pool).
              std::uint64_t sum = 0;
              for (std::uint32_t iy = y.begin; iy < y.end; ++iy)
                for (std::uint32_t ix = x.begin; ix < x.end; ++ix)
                  sum += in[base + std::uint64_t{iy} * in_w_ + ix];
              const std::uint64_t n = std::uint64_t{y.end - y.begin} * (x.end - x.begin);
              out[o] = static_cast<std::uint8_t>((sum + n / 2) / n);
              break;
            }
          }
          ++o;
        }
      }
    }
    return ok_status();
  }
  format::MemRange output_range() const override { return out_.mem_range(); }

 private:
  PoolKind kind_;
  ByteRange in_, out_;
  std::uint64_t in_w_, plane_, channels_;
  std::vector<Span1d> xs_, ys_;
};

Result<PreparedPtr> prepare_pool2d(const PrepareContext& ctx, PoolKind kind) {
  LayerChecker c(ctx.info);
  EMC_CPU_ASSIGN_OR_RETURN(const format::Pool2dBody* body, c.body<format::Pool2dBody>());
  const bool is_float = kind == PoolKind::kMaxFloat || kind == PoolKind::kAverageFloat;
  const std::uint64_t elem = is_float ? 4 : 1;
  EMC_TRY(c.positive("kernel_width", body->kernel_width));
  EMC_TRY(c.positive("kernel_height", body->kernel_height));
  EMC_TRY(c.positive("stride_width", body->stride_width));
  EMC_TRY(c.positive("stride_height", body->stride_height));
  const format::Shape3& is = body->in_shape;
  const format::Shape3& os = body->out_shape;
  // The input extent is what the windows read (layer_footprint): up to the last tap of the last
  // channel, not the whole declared in_shape (a crop reads from a shifted start).
  EMC_CPU_ASSIGN_OR_RETURN(const format::LayerFootprint fp, c.footprint());
  EMC_CPU_ASSIGN_OR_RETURN(
      ByteRange in,
      c.range("main_mem_in_address", body->main_mem_in_address, fp.main_reads.at(0).size, 1,
              std::to_string(fp.main_reads.at(0).size) + " bytes read by the windows over in_shape " +
                  std::to_string(is.width) + " x " + std::to_string(is.height) + " x " +
                  std::to_string(os.channels)));
  EMC_CPU_ASSIGN_OR_RETURN(
      ByteRange out, c.range("main_mem_out_address", body->main_mem_out_address,
                             checked_product({os.width, os.height, os.channels}), elem,
                             "out_shape " + std::to_string(os.width) + " x " +
                                 std::to_string(os.height) + " x " + std::to_string(os.channels)));
  std::vector<Span1d> xs, ys;
  if (out.size != 0) {  // else a no-op; the tables could be huge for a zero-sized output
    xs = axis_windows(os.width, is.width, body->kernel_width, body->stride_width,
                      body->padding_width);
    ys = axis_windows(os.height, is.height, body->kernel_height, body->stride_height,
                      body->padding_height);
    if (kind != PoolKind::kMaxU8) {  // the SDK's quantized max pool yields 0 for empty windows
      for (std::size_t i = 0; i < xs.size(); ++i) {
        if (xs[i].empty()) {
          return c.error("output column " + std::to_string(i) + " has no valid input column " +
                         "(in width " + std::to_string(is.width) + ", kernel " +
                         std::to_string(body->kernel_width) + ", stride " +
                         std::to_string(body->stride_width) + ", padding " +
                         std::to_string(body->padding_width) + ")");
        }
      }
      for (std::size_t i = 0; i < ys.size(); ++i) {
        if (ys[i].empty()) {
          return c.error("output row " + std::to_string(i) + " has no valid input row " +
                         "(in height " + std::to_string(is.height) + ", kernel " +
                         std::to_string(body->kernel_height) + ", stride " +
                         std::to_string(body->stride_height) + ", padding " +
                         std::to_string(body->padding_height) + ")");
        }
      }
    }
  }
  return PreparedPtr(
      std::make_unique<Pool2dLayer>(kind, in, out, *body, std::move(xs), std::move(ys)));
}

}  // namespace

Result<PreparedPtr> prepare_max_pool2d(const PrepareContext& ctx) {
  return prepare_pool2d(ctx, PoolKind::kMaxFloat);
}
Result<PreparedPtr> prepare_quantized_max_pool2d(const PrepareContext& ctx) {
  return prepare_pool2d(ctx, PoolKind::kMaxU8);
}
Result<PreparedPtr> prepare_average_pool2d(const PrepareContext& ctx) {
  return prepare_pool2d(ctx, PoolKind::kAverageFloat);
}
Result<PreparedPtr> prepare_quantized_average_pool2d(const PrepareContext& ctx) {
  return prepare_pool2d(ctx, PoolKind::kAverageU8);
}

}  // namespace emc::cpu_backend::detail
