// GLOBAL_{MAX,AVERAGE}_POOL2D and their quantized forms: one value per channel of a CHW tensor.
//
//   GLOBAL_AVERAGE_POOL2D (5):            SDK kpu_global_average_pool2d (float, sequential sum).
//   QUANTIZED_GLOBAL_AVERAGE_POOL2D (6):  EMC-KPU kpu_quantized_global_average_pool2d
//                                         (uint32 sum, integer floor division).
//   GLOBAL_MAX_POOL2D (3), QUANTIZED_ (4): not in any kpu.c; max over the channel's kernel_size
//                                         elements (docs/cpu_backend.md).
#include "ops.h"

namespace emc::cpu_backend::detail {
namespace {

enum class GlobalPoolKind { kMaxFloat, kMaxU8, kAverageFloat, kAverageU8 };

class GlobalPoolLayer final : public interpreter::PreparedLayer {
 public:
  GlobalPoolLayer(GlobalPoolKind kind, ByteRange in, ByteRange out, std::uint64_t kernel_size,
                  std::uint64_t channels)
      : kind_(kind), in_(in), out_(out), kernel_size_(kernel_size), channels_(channels) {}

  Status run(interpreter::ExecContext& ctx) override {
    EMC_CPU_ASSIGN_OR_RETURN(const std::uint8_t* in, fetch(ctx.main, in_));
    EMC_CPU_ASSIGN_OR_RETURN(std::uint8_t * out, fetch(ctx.main, out_));
    const std::uint64_t k = kernel_size_;
    for (std::uint64_t c = 0; c < channels_; ++c) {
      switch (kind_) {
        case GlobalPoolKind::kMaxFloat: {
          const std::uint8_t* src = in + 4 * c * k;
          float m = load_f32(src);
          for (std::uint64_t i = 1; i < k; ++i) {
            const float v = load_f32(src + 4 * i);
            m = v > m ? v : m;
          }
          store_f32(out + 4 * c, m);
          break;
        }
        case GlobalPoolKind::kMaxU8: {
          const std::uint8_t* src = in + c * k;
          std::uint8_t m = 0;
          for (std::uint64_t i = 0; i < k; ++i) m = src[i] > m ? src[i] : m;
          out[c] = m;
          break;
        }
        case GlobalPoolKind::kAverageFloat: {
          const std::uint8_t* src = in + 4 * c * k;
          float sum = 0.f;
          for (std::uint64_t i = 0; i < k; ++i) sum += load_f32(src + 4 * i);
          store_f32(out + 4 * c, sum / static_cast<float>(k));
          break;
        }
        case GlobalPoolKind::kAverageU8: {
          const std::uint8_t* src = in + c * k;
          std::uint32_t sum = 0;  // uint32 as in EMC-KPU (wraps only beyond 16.8M taps)
          for (std::uint64_t i = 0; i < k; ++i) sum += src[i];
          out[c] = static_cast<std::uint8_t>(sum / k);
          break;
        }
      }
    }
    return ok_status();
  }
  format::MemRange output_range() const override { return out_.mem_range(); }

 private:
  GlobalPoolKind kind_;
  ByteRange in_, out_;
  std::uint64_t kernel_size_, channels_;
};

Result<PreparedPtr> prepare_global_pool(const PrepareContext& ctx, GlobalPoolKind kind) {
  LayerChecker c(ctx.info);
  EMC_CPU_ASSIGN_OR_RETURN(const format::GlobalPoolBody* body, c.body<format::GlobalPoolBody>());
  const bool is_float = kind == GlobalPoolKind::kMaxFloat || kind == GlobalPoolKind::kAverageFloat;
  const std::uint64_t elem = is_float ? 4 : 1;
  EMC_TRY(c.positive("kernel_size", body->kernel_size));
  EMC_CPU_ASSIGN_OR_RETURN(
      ByteRange in, c.range("main_mem_in_address", body->main_mem_in_address,
                            checked_product({body->channels, body->kernel_size}), elem,
                            "channels " + std::to_string(body->channels) + " x kernel_size " +
                                std::to_string(body->kernel_size)));
  EMC_CPU_ASSIGN_OR_RETURN(
      ByteRange out, c.range("main_mem_out_address", body->main_mem_out_address, body->channels,
                             elem, "channels " + std::to_string(body->channels)));
  return PreparedPtr(
      std::make_unique<GlobalPoolLayer>(kind, in, out, body->kernel_size, body->channels));
}

}  // namespace

Result<PreparedPtr> prepare_global_max_pool2d(const PrepareContext& ctx) {
  return prepare_global_pool(ctx, GlobalPoolKind::kMaxFloat);
}
Result<PreparedPtr> prepare_quantized_global_max_pool2d(const PrepareContext& ctx) {
  return prepare_global_pool(ctx, GlobalPoolKind::kMaxU8);
}
Result<PreparedPtr> prepare_global_average_pool2d(const PrepareContext& ctx) {
  return prepare_global_pool(ctx, GlobalPoolKind::kAverageFloat);
}
Result<PreparedPtr> prepare_quantized_global_average_pool2d(const PrepareContext& ctx) {
  return prepare_global_pool(ctx, GlobalPoolKind::kAverageU8);
}

}  // namespace emc::cpu_backend::detail
