// EMC_MAX_POOL2D_INT8 / EMC_AVERAGE_POOL2D_INT8 (format/emc_layers.h; docs/cpu_target.md):
// max or sum of (x - input_zero_point) over a window's valid taps, then one exact rounding of
// acc * M / n (n = 1 for max, the valid tap count for average) and the clamp.
#include <algorithm>

#include "emc/format/kmodel_codec.h"
#include "emc_int8_support.h"
#include "ops.h"

namespace emc::cpu_backend::detail {
namespace {

class PoolInt8Layer final : public interpreter::PreparedLayer {
 public:
  PoolInt8Layer(const format::EmcPool2dInt8Body& b, bool average, ByteRange in, ByteRange out)
      : b_(b), average_(average), in_(in), out_(out) {}

  Status run(interpreter::ExecContext& ctx) override {
    EMC_CPU_ASSIGN_OR_RETURN(const std::uint8_t* in, fetch(ctx.main, in_));
    EMC_CPU_ASSIGN_OR_RETURN(std::uint8_t * out, fetch(ctx.main, out_));
    const std::int64_t iw = b_.in_width, ih = b_.in_height;
    const std::int64_t ow = b_.out_width, oh = b_.out_height;
    const std::int64_t kw = b_.kernel_width, kh = b_.kernel_height;
    const std::int64_t zp = b_.input_zero_point;
    for (std::int64_t c = 0; c < b_.channels; ++c) {
      const std::uint8_t* plane = in + c * iw * ih;
      for (std::int64_t oy = 0; oy < oh; ++oy) {
        const std::int64_t y0 = oy * b_.stride_height - b_.pad_top;
        const std::int64_t ya = std::max<std::int64_t>(y0, 0);
        const std::int64_t yb = std::min<std::int64_t>(y0 + kh, ih);
        for (std::int64_t ox = 0; ox < ow; ++ox) {
          const std::int64_t x0 = ox * b_.stride_width - b_.pad_left;
          const std::int64_t xa = std::max<std::int64_t>(x0, 0);
          const std::int64_t xb = std::min<std::int64_t>(x0 + kw, iw);
          std::int64_t acc = 0;
          if (average_) {
            for (std::int64_t y = ya; y < yb; ++y) {
              for (std::int64_t x = xa; x < xb; ++x) {
                acc += static_cast<std::int8_t>(plane[y * iw + x]);
              }
            }
            const std::int64_t n = (yb - ya) * (xb - xa);
            acc -= zp * n;
            acc = emc_scale_round(acc, b_.multiplier, b_.shift, n);
          } else {
            std::int32_t m = -128;
            for (std::int64_t y = ya; y < yb; ++y) {
              for (std::int64_t x = xa; x < xb; ++x) {
                m = std::max<std::int32_t>(m, static_cast<std::int8_t>(plane[y * iw + x]));
              }
            }
            acc = emc_scale_round(m - zp, b_.multiplier, b_.shift);
          }
          out[(c * oh + oy) * ow + ox] = static_cast<std::uint8_t>(
              emc_clamp_code(acc, b_.output_zero_point, b_.act_min, b_.act_max));
        }
      }
    }
    return ok_status();
  }
  format::MemRange output_range() const override { return out_.mem_range(); }

 private:
  format::EmcPool2dInt8Body b_;
  bool average_;
  ByteRange in_, out_;
};

Result<PreparedPtr> prepare(const PrepareContext& ctx, bool average) {
  LayerChecker c(ctx.info);
  EMC_CPU_ASSIGN_OR_RETURN(const format::EmcPool2dInt8Body* b, c.body<format::EmcPool2dInt8Body>());
  EMC_CPU_ASSIGN_OR_RETURN(Int8Io io, check_int8_layer(c));
  return PreparedPtr(std::make_unique<PoolInt8Layer>(*b, average, io.reads[0], io.out));
}

}  // namespace

Result<PreparedPtr> prepare_emc_max_pool2d_int8(const PrepareContext& ctx) {
  return prepare(ctx, false);
}
Result<PreparedPtr> prepare_emc_average_pool2d_int8(const PrepareContext& ctx) {
  return prepare(ctx, true);
}

}  // namespace emc::cpu_backend::detail
