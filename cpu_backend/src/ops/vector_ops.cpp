// L2_NORMALIZATION, SOFTMAX and LOGISTIC on a float32 vector of `channels` values
// (SDK kpu_l2_normalization, kpu_softmax, kpu_logistic).
#include <cfloat>
#include <cmath>

#include "ops.h"

namespace emc::cpu_backend::detail {
namespace {

enum class VectorOp { kL2Normalization, kSoftmax, kLogistic };

class VectorLayer final : public interpreter::PreparedLayer {
 public:
  VectorLayer(VectorOp op, ByteRange in, ByteRange out, std::uint64_t channels)
      : op_(op), in_(in), out_(out), channels_(channels) {}

  Status run(interpreter::ExecContext& ctx) override {
    EMC_CPU_ASSIGN_OR_RETURN(const std::uint8_t* in, fetch(ctx.main, in_));
    EMC_CPU_ASSIGN_OR_RETURN(std::uint8_t * out, fetch(ctx.main, out_));
    const std::uint64_t n = channels_;
    switch (op_) {
      case VectorOp::kL2Normalization: {
        float sum = 0.f;
        for (std::uint64_t i = 0; i < n; ++i) {
          const float x = load_f32(in + 4 * i);
          sum += x * x;
        }
        if (sum < 1e-10f) sum = 1e-10f;
        const float inv = 1.f / std::sqrt(sum);
        for (std::uint64_t i = 0; i < n; ++i) store_f32(out + 4 * i, load_f32(in + 4 * i) * inv);
        break;
      }
      case VectorOp::kSoftmax: {
        // SDK quirk kept on purpose: the running max starts at FLT_MIN (the smallest positive
        // normal float), not -FLT_MAX. For all-negative inputs the subtracted "max" is then
        // ~1e-38 instead of the true max; softmax is shift-invariant so the result is the same
        // unless expf underflows (inputs below about -87 all give 0, and 0/0 = NaN if all do).
        float max = FLT_MIN;
        for (std::uint64_t i = 0; i < n; ++i) max = std::fmax(max, load_f32(in + 4 * i));
        float sum = 0.f;
        for (std::uint64_t i = 0; i < n; ++i) {
          const float e = std::exp(load_f32(in + 4 * i) - max);
          sum += e;
          store_f32(out + 4 * i, e);
        }
        for (std::uint64_t i = 0; i < n; ++i) store_f32(out + 4 * i, load_f32(out + 4 * i) / sum);
        break;
      }
      case VectorOp::kLogistic: {
        for (std::uint64_t i = 0; i < n; ++i)
          store_f32(out + 4 * i, 1.f / (1.f + std::exp(-load_f32(in + 4 * i))));
        break;
      }
    }
    return ok_status();
  }
  format::MemRange output_range() const override { return out_.mem_range(); }

 private:
  VectorOp op_;
  ByteRange in_, out_;
  std::uint64_t channels_;
};

Result<PreparedPtr> prepare_vector(const PrepareContext& ctx, VectorOp op) {
  LayerChecker c(ctx.info);
  EMC_CPU_ASSIGN_OR_RETURN(const format::ChannelsBody* body, c.body<format::ChannelsBody>());
  const std::string what = "channels " + std::to_string(body->channels);
  EMC_CPU_ASSIGN_OR_RETURN(ByteRange in, c.range("main_mem_in_address", body->main_mem_in_address,
                                                 body->channels, 4, what));
  EMC_CPU_ASSIGN_OR_RETURN(
      ByteRange out,
      c.range("main_mem_out_address", body->main_mem_out_address, body->channels, 4, what));
  return PreparedPtr(std::make_unique<VectorLayer>(op, in, out, body->channels));
}

}  // namespace

Result<PreparedPtr> prepare_l2_normalization(const PrepareContext& ctx) {
  return prepare_vector(ctx, VectorOp::kL2Normalization);
}
Result<PreparedPtr> prepare_softmax(const PrepareContext& ctx) {
  return prepare_vector(ctx, VectorOp::kSoftmax);
}
Result<PreparedPtr> prepare_logistic(const PrepareContext& ctx) {
  return prepare_vector(ctx, VectorOp::kLogistic);
}

}  // namespace emc::cpu_backend::detail
