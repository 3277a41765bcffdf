// QUANTIZE, DEQUANTIZE, CHANNELWISE_DEQUANTIZE and REQUANTIZE (SDK kpu_quantize,
// kpu_kmodel_dequantize, kpu_kmodel_channelwise_dequantize, kpu_requantize).
// Convention (kmodel_v3.md §3.2): real = q * scale + bias.
#include <cmath>
#include <vector>

#include "ops.h"

namespace emc::cpu_backend::detail {
namespace {

// The SDK stores roundf()/(int) of a float in an `int` and clamps to 0..255. On RV64 the
// conversion (fcvt.w.s) saturates and maps NaN to INT_MAX; we reproduce that without UB:
// NaN -> 255, <= 0 -> 0, >= 255 -> 255, otherwise truncation toward zero.
std::uint8_t saturate_u8(float r) {
  if (std::isnan(r)) return 255;
  if (r <= 0.f) return 0;
  if (r >= 255.f) return 255;
  return static_cast<std::uint8_t>(r);
}

class QuantizeLayer final : public interpreter::PreparedLayer {
 public:
  QuantizeLayer(ByteRange in, ByteRange out, std::uint64_t count, float bias, float inv_scale,
                QuantizeRounding rounding)
      : in_(in),
        out_(out),
        count_(count),
        bias_(bias),
        inv_scale_(inv_scale),
        rounding_(rounding) {}

  Status run(interpreter::ExecContext& ctx) override {
    EMC_CPU_ASSIGN_OR_RETURN(const std::uint8_t* in, fetch(ctx.main, in_));
    EMC_CPU_ASSIGN_OR_RETURN(std::uint8_t * out, fetch(ctx.main, out_));
    if (rounding_ == QuantizeRounding::kRoundHalfAway) {
      for (std::uint64_t i = 0; i < count_; ++i)
        out[i] = saturate_u8(std::round((load_f32(in + 4 * i) - bias_) * inv_scale_));
    } else {  // EMC-KPU: `int value = (x - bias) * scale;` truncates toward zero
      for (std::uint64_t i = 0; i < count_; ++i)
        out[i] = saturate_u8((load_f32(in + 4 * i) - bias_) * inv_scale_);
    }
    return ok_status();
  }
  format::MemRange output_range() const override { return out_.mem_range(); }

 private:
  ByteRange in_, out_;
  std::uint64_t count_;
  float bias_, inv_scale_;
  QuantizeRounding rounding_;
};

// DEQUANTIZE is CHANNELWISE_DEQUANTIZE with one channel covering all elements.
class DequantizeLayer final : public interpreter::PreparedLayer {
 public:
  DequantizeLayer(ByteRange in, ByteRange out, std::uint64_t channel_size,
                  std::vector<format::ChannelQuant> params)
      : in_(in), out_(out), channel_size_(channel_size), params_(std::move(params)) {}

  Status run(interpreter::ExecContext& ctx) override {
    EMC_CPU_ASSIGN_OR_RETURN(const std::uint8_t* in, fetch(ctx.main, in_));
    EMC_CPU_ASSIGN_OR_RETURN(std::uint8_t * out, fetch(ctx.main, out_));
    std::uint64_t i = 0;
    for (const format::ChannelQuant& q : params_) {
      for (std::uint64_t k = 0; k < channel_size_; ++k, ++i)
        store_f32(out + 4 * i, static_cast<float>(in[i]) * q.scale + q.bias);
    }
    return ok_status();
  }
  format::MemRange output_range() const override { return out_.mem_range(); }

 private:
  ByteRange in_, out_;
  std::uint64_t channel_size_;
  std::vector<format::ChannelQuant> params_;
};

class RequantizeLayer final : public interpreter::PreparedLayer {
 public:
  RequantizeLayer(ByteRange in, ByteRange out, std::uint64_t count,
                  const std::array<std::uint8_t, 256>& table)
      : in_(in), out_(out), count_(count), table_(table) {}

  Status run(interpreter::ExecContext& ctx) override {
    EMC_CPU_ASSIGN_OR_RETURN(const std::uint8_t* in, fetch(ctx.main, in_));
    EMC_CPU_ASSIGN_OR_RETURN(std::uint8_t * out, fetch(ctx.main, out_));
    for (std::uint64_t i = 0; i < count_; ++i) out[i] = table_[in[i]];
    return ok_status();
  }
  format::MemRange output_range() const override { return out_.mem_range(); }

 private:
  ByteRange in_, out_;
  std::uint64_t count_;
  std::array<std::uint8_t, 256> table_;
};

}  // namespace

Result<PreparedPtr> prepare_quantize(const PrepareContext& ctx) {
  LayerChecker c(ctx.info);
  EMC_CPU_ASSIGN_OR_RETURN(const format::QuantizeBody* body, c.body<format::QuantizeBody>());
  const std::string what = "count " + std::to_string(body->count);
  EMC_CPU_ASSIGN_OR_RETURN(ByteRange in, c.range("main_mem_in_address", body->main_mem_in_address,
                                                 body->count, 4, what));
  EMC_CPU_ASSIGN_OR_RETURN(
      ByteRange out, c.range("mem_out_address", body->main_mem_out_address, body->count, 1, what));
  // The SDK divides by scale (1.f / scale, once): it must be a positive finite number whose
  // reciprocal is finite; bias must be finite.
  const float inv = 1.f / body->scale;
  if (!(body->scale > 0.f) || !std::isfinite(body->scale) || !std::isfinite(inv)) {
    return c.error("scale " + std::to_string(body->scale) +
                   " is not a positive finite number with a finite reciprocal");
  }
  if (!std::isfinite(body->bias)) return c.error("bias is not finite");
  return PreparedPtr(std::make_unique<QuantizeLayer>(in, out, body->count, body->bias, inv,
                                                     ctx.options.quantize_rounding));
}

Result<PreparedPtr> prepare_dequantize(const PrepareContext& ctx) {
  LayerChecker c(ctx.info);
  EMC_CPU_ASSIGN_OR_RETURN(const format::QuantizeBody* body, c.body<format::QuantizeBody>());
  const std::string what = "count " + std::to_string(body->count);
  EMC_CPU_ASSIGN_OR_RETURN(ByteRange in, c.range("main_mem_in_address", body->main_mem_in_address,
                                                 body->count, 1, what));
  EMC_CPU_ASSIGN_OR_RETURN(
      ByteRange out,
      c.range("main_mem_out_address", body->main_mem_out_address, body->count, 4, what));
  return PreparedPtr(std::make_unique<DequantizeLayer>(
      in, out, body->count, std::vector<format::ChannelQuant>{{body->scale, body->bias}}));
}

Result<PreparedPtr> prepare_channelwise_dequantize(const PrepareContext& ctx) {
  LayerChecker c(ctx.info);
  EMC_CPU_ASSIGN_OR_RETURN(const format::ChannelwiseDequantizeBody* body,
                           c.body<format::ChannelwiseDequantizeBody>());
  const std::uint64_t channels = body->params.size();
  const std::string what = "channels " + std::to_string(channels) + " x channel_size " +
                           std::to_string(body->channel_size);
  const auto count = checked_product({channels, body->channel_size});
  EMC_CPU_ASSIGN_OR_RETURN(
      ByteRange in, c.range("main_mem_in_address", body->main_mem_in_address, count, 1, what));
  EMC_CPU_ASSIGN_OR_RETURN(
      ByteRange out, c.range("main_mem_out_address", body->main_mem_out_address, count, 4, what));
  return PreparedPtr(std::make_unique<DequantizeLayer>(in, out, body->channel_size, body->params));
}

Result<PreparedPtr> prepare_requantize(const PrepareContext& ctx) {
  LayerChecker c(ctx.info);
  EMC_CPU_ASSIGN_OR_RETURN(const format::RequantizeBody* body, c.body<format::RequantizeBody>());
  const std::string what = "count " + std::to_string(body->count);
  EMC_CPU_ASSIGN_OR_RETURN(ByteRange in, c.range("main_mem_in_address", body->main_mem_in_address,
                                                 body->count, 1, what));
  EMC_CPU_ASSIGN_OR_RETURN(
      ByteRange out,
      c.range("main_mem_out_address", body->main_mem_out_address, body->count, 1, what));
  return PreparedPtr(std::make_unique<RequantizeLayer>(in, out, body->count, body->table));
}

}  // namespace emc::cpu_backend::detail
