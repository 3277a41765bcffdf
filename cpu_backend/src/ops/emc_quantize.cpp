// EMC_QUANTIZE_INT8 / EMC_DEQUANTIZE_INT8 (format/emc_layers.h; docs/cpu_target.md):
// q = clamp(round_half_away(x / scale) + zero_point, -128, 127), NaN -> zero_point;
// x = (float)(q - zero_point) * scale.
#include <cmath>

#include "ops.h"

namespace emc::cpu_backend::detail {
namespace {

std::int8_t quantize_one(float x, float scale, std::int32_t zp) {
  const float r = std::round(x / scale);  // float32 division, then half away from zero
  if (std::isnan(r)) return static_cast<std::int8_t>(zp);
  // Clamp before converting (|r| may exceed any integer type); zp is in [-128, 127].
  const float v = std::fmin(std::fmax(r, -256.0f), 256.0f);
  const int q = static_cast<int>(v) + zp;
  return static_cast<std::int8_t>(q < -128 ? -128 : q > 127 ? 127 : q);
}

class QuantizeInt8Layer final : public interpreter::PreparedLayer {
 public:
  QuantizeInt8Layer(bool quantize, ByteRange in, ByteRange out, std::uint64_t count, float scale,
                    std::int32_t zp)
      : quantize_(quantize), in_(in), out_(out), count_(count), scale_(scale), zp_(zp) {}

  Status run(interpreter::ExecContext& ctx) override {
    EMC_CPU_ASSIGN_OR_RETURN(const std::uint8_t* in, fetch(ctx.main, in_));
    EMC_CPU_ASSIGN_OR_RETURN(std::uint8_t * out, fetch(ctx.main, out_));
    if (quantize_) {
      for (std::uint64_t i = 0; i < count_; ++i) {
        out[i] = static_cast<std::uint8_t>(quantize_one(load_f32(in + 4 * i), scale_, zp_));
      }
    } else {
      for (std::uint64_t i = 0; i < count_; ++i) {
        const std::int32_t q = static_cast<std::int8_t>(in[i]);
        store_f32(out + 4 * i, static_cast<float>(q - zp_) * scale_);
      }
    }
    return ok_status();
  }
  format::MemRange output_range() const override { return out_.mem_range(); }

 private:
  bool quantize_;
  ByteRange in_, out_;
  std::uint64_t count_;
  float scale_;
  std::int32_t zp_;
};

Result<PreparedPtr> prepare(const PrepareContext& ctx, bool quantize) {
  LayerChecker c(ctx.info);
  EMC_CPU_ASSIGN_OR_RETURN(const format::EmcQuantizeInt8Body* b,
                           c.body<format::EmcQuantizeInt8Body>());
  const std::string what = "count " + std::to_string(b->count);
  EMC_TRY(c.positive("count", b->count));
  EMC_CPU_ASSIGN_OR_RETURN(ByteRange in, c.range("main_mem_in_address", b->main_mem_in_address,
                                                 b->count, quantize ? 4 : 1, what));
  EMC_CPU_ASSIGN_OR_RETURN(ByteRange out, c.range("main_mem_out_address", b->main_mem_out_address,
                                                  b->count, quantize ? 1 : 4, what));
  if (!(b->scale > 0.0f) || !std::isfinite(b->scale)) {
    return c.error("scale " + std::to_string(b->scale) + " is not positive and finite");
  }
  if (b->zero_point < -128 || b->zero_point > 127) {
    return c.error("zero_point " + std::to_string(b->zero_point) + " is outside [-128, 127]");
  }
  return PreparedPtr(
      std::make_unique<QuantizeInt8Layer>(quantize, in, out, b->count, b->scale, b->zero_point));
}

}  // namespace

Result<PreparedPtr> prepare_emc_quantize_int8(const PrepareContext& ctx) {
  return prepare(ctx, true);
}
Result<PreparedPtr> prepare_emc_dequantize_int8(const PrepareContext& ctx) {
  return prepare(ctx, false);
}

}  // namespace emc::cpu_backend::detail
