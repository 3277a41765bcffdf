// TENSORFLOW_FLATTEN (SDK kpu_tf_flatten, float) and QUANTIZED_TENSORFLOW_FLATTEN (EMC-KPU
// kpu_tf_quant_flatten, uint8): CHW -> HWC, i.e. for y, x, c: *dest++ = src[(c*H + y)*W + x].
#include <cstring>

#include "ops.h"

namespace emc::cpu_backend::detail {
namespace {

class FlattenLayer final : public interpreter::PreparedLayer {
 public:
  FlattenLayer(std::uint64_t elem, ByteRange in, ByteRange out, const format::Shape3& shape)
      : elem_(elem), in_(in), out_(out), w_(shape.width), h_(shape.height), c_(shape.channels) {}

  Status run(interpreter::ExecContext& ctx) override {
    EMC_CPU_ASSIGN_OR_RETURN(const std::uint8_t* in, fetch(ctx.main, in_));
    EMC_CPU_ASSIGN_OR_RETURN(std::uint8_t * out, fetch(ctx.main, out_));
    for (std::uint64_t y = 0; y < h_; ++y)
      for (std::uint64_t x = 0; x < w_; ++x)
        for (std::uint64_t c = 0; c < c_; ++c) {
          const std::uint8_t* src = in + elem_ * ((c * h_ + y) * w_ + x);
          if (elem_ == 1) {
            *out = *src;
          } else {
            std::memcpy(out, src, 4);
          }
          out += elem_;
        }
    return ok_status();
  }
  format::MemRange output_range() const override { return out_.mem_range(); }

 private:
  std::uint64_t elem_;
  ByteRange in_, out_;
  std::uint64_t w_, h_, c_;
};

Result<PreparedPtr> prepare_flatten(const PrepareContext& ctx, std::uint64_t elem) {
  LayerChecker c(ctx.info);
  EMC_CPU_ASSIGN_OR_RETURN(const format::FlattenBody* body, c.body<format::FlattenBody>());
  const format::Shape3& s = body->shape;
  const auto count = checked_product({s.width, s.height, s.channels});
  const std::string what = "shape " + std::to_string(s.width) + " x " + std::to_string(s.height) +
                           " x " + std::to_string(s.channels);
  EMC_CPU_ASSIGN_OR_RETURN(
      ByteRange in, c.range("main_mem_in_address", body->main_mem_in_address, count, elem, what));
  EMC_CPU_ASSIGN_OR_RETURN(ByteRange out, c.range("main_mem_out_address",
                                                  body->main_mem_out_address, count, elem, what));
  return PreparedPtr(std::make_unique<FlattenLayer>(elem, in, out, s));
}

}  // namespace

Result<PreparedPtr> prepare_tensorflow_flatten(const PrepareContext& ctx) {
  return prepare_flatten(ctx, 4);
}
Result<PreparedPtr> prepare_quantized_tensorflow_flatten(const PrepareContext& ctx) {
  return prepare_flatten(ctx, 1);
}

}  // namespace emc::cpu_backend::detail
