// RESIZE_NEAREST_NEIGHBOR (float) and QUANTIZED_RESIZE_NEAREST_NEIGHBOR (uint8), CHW
// (SDK kpu_resize_nearest_neighbor / kpu_quant_resize_nearest_neighbor):
//   height_scale = (float)in_h / out_h, width_scale = (float)in_w / out_w
//   in_y = (uint32)min(floorf(oy * height_scale), in_h - 1), likewise in_x
// align_corners is ignored, as in the SDK. The source index of every output row and column is
// computed once at prepare with exactly these float operations.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "ops.h"

namespace emc::cpu_backend::detail {
namespace {

// The SDK's index rule along one axis. `out` and `in` are > 0 (checked by the caller).
std::vector<std::uint32_t> source_indices(std::uint32_t out, std::uint32_t in) {
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  const float last = static_cast<float>(in - 1);  // SDK: min(float, uint32) compares as float
  std::vector<std::uint32_t> idx(out);
  for (std::uint32_t o = 0; o < out; ++o) {
    const float f = std::floor(static_cast<float>(o) * scale);
    const float m = f < last ? f : last;
    // For in > 2^24 the float `last` can round up to `in`; never index past the input.
    idx[o] = std::min<std::uint64_t>(static_cast<std::uint64_t>(m), in - 1);
  }
  return idx;
}

class ResizeLayer final : public interpreter::PreparedLayer {
 public:
  ResizeLayer(std::uint64_t elem, ByteRange in, ByteRange out, const format::ResizeNearestBody& b,
              std::vector<std::uint32_t> ys, std::vector<std::uint32_t> xs)
      : elem_(elem),
        in_(in),
        out_(out),
        in_w_(b.in_shape.width),
        plane_(std::uint64_t{b.in_shape.width} * b.in_shape.height),
        channels_(b.in_shape.channels),
        ys_(std::move(ys)),
        xs_(std::move(xs)) {}

  Status run(interpreter::ExecContext& ctx) override {
    EMC_CPU_ASSIGN_OR_RETURN(const std::uint8_t* in, fetch(ctx.main, in_));
    EMC_CPU_ASSIGN_OR_RETURN(std::uint8_t * out, fetch(ctx.main, out_));
    if (out_.size == 0) return ok_status();
    for (std::uint64_t c = 0; c < channels_; ++c) {
      for (std::uint32_t y : ys_) {
        const std::uint8_t* row = in + elem_ * (c * plane_ + std::uint64_t{y} * in_w_);
        if (elem_ == 1) {
          for (std::uint32_t x : xs_) *out++ = row[x];
        } else {
          for (std::uint32_t x : xs_) {
            std::memcpy(out, row + 4 * std::uint64_t{x}, 4);
            out += 4;
          }
        }
      }
    }
    return ok_status();
  }
  format::MemRange output_range() const override { return out_.mem_range(); }

 private:
  std::uint64_t elem_;
  ByteRange in_, out_;
  std::uint64_t in_w_, plane_, channels_;
  std::vector<std::uint32_t> ys_, xs_;
};

Result<PreparedPtr> prepare_resize(const PrepareContext& ctx, std::uint64_t elem) {
  LayerChecker c(ctx.info);
  EMC_CPU_ASSIGN_OR_RETURN(const format::ResizeNearestBody* body,
                           c.body<format::ResizeNearestBody>());
  const format::Shape3& is = body->in_shape;
  EMC_TRY(c.positive("in_shape.width", is.width));
  EMC_TRY(c.positive("in_shape.height", is.height));
  EMC_TRY(c.positive("out_width", body->out_width));
  EMC_TRY(c.positive("out_height", body->out_height));
  EMC_CPU_ASSIGN_OR_RETURN(
      ByteRange in, c.range("main_mem_in_address", body->main_mem_in_address,
                            checked_product({is.width, is.height, is.channels}), elem,
                            "in_shape " + std::to_string(is.width) + " x " +
                                std::to_string(is.height) + " x " + std::to_string(is.channels)));
  EMC_CPU_ASSIGN_OR_RETURN(
      ByteRange out,
      c.range("main_mem_out_address", body->main_mem_out_address,
              checked_product({body->out_width, body->out_height, is.channels}), elem,
              "out_width " + std::to_string(body->out_width) + " x out_height " +
                  std::to_string(body->out_height) + " x channels " + std::to_string(is.channels)));
  std::vector<std::uint32_t> ys, xs;
  if (out.size != 0) {  // else a no-op (channels 0); skip possibly huge index tables
    ys = source_indices(body->out_height, is.height);
    xs = source_indices(body->out_width, is.width);
  }
  return PreparedPtr(
      std::make_unique<ResizeLayer>(elem, in, out, *body, std::move(ys), std::move(xs)));
}

}  // namespace

Result<PreparedPtr> prepare_resize_nearest_neighbor(const PrepareContext& ctx) {
  return prepare_resize(ctx, 4);
}
Result<PreparedPtr> prepare_quantized_resize_nearest_neighbor(const PrepareContext& ctx) {
  return prepare_resize(ctx, 1);
}

}  // namespace emc::cpu_backend::detail
