// FULLY_CONNECTED (SDK kpu_kmodel_fully_connected): dest[o] = (sum_i src[i] * W[o][i]) + bias[o],
// W row-major [out][in]; each row accumulated sequentially in float from 0.0f in input order (the
// SDK's 8x unrolled loop keeps that order), the bias added last, then linear / relu / relu6.
//
// Rows are computed four at a time, each with its own sequential accumulator: the per-row order
// of float operations is exactly the SDK's, only independent rows are interleaved.
#include <cstring>
#include <vector>

#include "ops.h"

namespace emc::cpu_backend::detail {
namespace {

class FullyConnectedLayer final : public interpreter::PreparedLayer {
 public:
  FullyConnectedLayer(const format::FullyConnectedBody& body, ByteRange in, ByteRange out)
      : body_(body), in_(in), out_(out), input_(body.in_channels) {}

  Status run(interpreter::ExecContext& ctx) override {
    EMC_CPU_ASSIGN_OR_RETURN(const std::uint8_t* in, fetch(ctx.main, in_));
    EMC_CPU_ASSIGN_OR_RETURN(std::uint8_t * out, fetch(ctx.main, out_));
    // The input is read once into a float buffer (main memory may be unaligned). The SDK reads
    // the input while it writes the output; the two never overlap in a valid model, and if they
    // did the SDK's result would depend on its write order. We compute from the input as it was.
    const std::size_t n_in = body_.in_channels;
    const std::size_t n_out = body_.out_channels;
    if (n_in != 0) std::memcpy(input_.data(), in, 4 * n_in);
    const float* x = input_.data();
    const float* w = body_.weights.data();
    std::size_t o = 0;
    for (; o + 4 <= n_out; o += 4) {
      const float* w0 = w + o * n_in;
      const float* w1 = w0 + n_in;
      const float* w2 = w1 + n_in;
      const float* w3 = w2 + n_in;
      float s0 = 0.f, s1 = 0.f, s2 = 0.f, s3 = 0.f;
      for (std::size_t i = 0; i < n_in; ++i) {
        const float xi = x[i];
        s0 += xi * w0[i];
        s1 += xi * w1[i];
        s2 += xi * w2[i];
        s3 += xi * w3[i];
      }
      store_f32(out + 4 * o, activate(s0 + body_.bias[o]));
      store_f32(out + 4 * (o + 1), activate(s1 + body_.bias[o + 1]));
      store_f32(out + 4 * (o + 2), activate(s2 + body_.bias[o + 2]));
      store_f32(out + 4 * (o + 3), activate(s3 + body_.bias[o + 3]));
    }
    for (; o < n_out; ++o) {
      const float* wr = w + o * n_in;
      float s = 0.f;
      for (std::size_t i = 0; i < n_in; ++i) s += x[i] * wr[i];
      store_f32(out + 4 * o, activate(s + body_.bias[o]));
    }
    return ok_status();
  }
  format::MemRange output_range() const override { return out_.mem_range(); }

 private:
  // kpu_float_activation with the SDK's max/min macros ((a) > (b) ? (a) : (b)).
  float activate(float v) const {
    switch (body_.act) {
      case format::CpuActivation::kLinear:
        return v;
      case format::CpuActivation::kRelu:
        return v > 0.f ? v : 0.f;
      case format::CpuActivation::kRelu6: {
        const float r = v > 0.f ? v : 0.f;
        return r < 6.f ? r : 6.f;
      }
    }
    return v;
  }

  const format::FullyConnectedBody& body_;  // lives as long as the model (backend.h)
  ByteRange in_, out_;
  std::vector<float> input_;
};

}  // namespace

Result<PreparedPtr> prepare_fully_connected(const PrepareContext& ctx) {
  LayerChecker c(ctx.info);
  EMC_CPU_ASSIGN_OR_RETURN(const format::FullyConnectedBody* body,
                           c.body<format::FullyConnectedBody>());
  const auto weight_count = checked_product({body->in_channels, body->out_channels});
  if (!weight_count || body->weights.size() != *weight_count) {
    return c.error("weights hold " + std::to_string(body->weights.size()) +
                   " floats; in_channels " + std::to_string(body->in_channels) +
                   " x out_channels " + std::to_string(body->out_channels) + " needed");
  }
  if (body->bias.size() != body->out_channels) {
    return c.error("bias holds " + std::to_string(body->bias.size()) + " floats; out_channels " +
                   std::to_string(body->out_channels) + " needed");
  }
  const auto act = static_cast<std::uint32_t>(body->act);
  if (act > static_cast<std::uint32_t>(format::CpuActivation::kRelu6)) {
    return c.error("act " + std::to_string(act) +
                   " is not a kpu_model_activation_t (0 linear, 1 relu, 2 relu6)");
  }
  EMC_CPU_ASSIGN_OR_RETURN(
      ByteRange in, c.range("main_mem_in_address", body->main_mem_in_address, body->in_channels, 4,
                            "in_channels " + std::to_string(body->in_channels)));
  EMC_CPU_ASSIGN_OR_RETURN(
      ByteRange out, c.range("main_mem_out_address", body->main_mem_out_address, body->out_channels,
                             4, "out_channels " + std::to_string(body->out_channels)));
  return PreparedPtr(std::make_unique<FullyConnectedLayer>(*body, in, out));
}

}  // namespace emc::cpu_backend::detail
