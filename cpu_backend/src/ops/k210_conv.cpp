// K210_CONV on the CPU: the reference arithmetic of k210_arithmetic.cpp (kmodel_v3.md §6) run
// per output channel, reading the input map from and writing the output map to KPU RAM
// (ExecContext::kpu) in the registers' row layout, and DMA-ing the dense CHW output to main memory
// when the body's flags bit 0 is set (§3.1, §6.7). Row bytes past the map width are untouched.
#include <algorithm>
#include <utility>
#include <vector>

#include "k210_arithmetic.h"
#include "ops.h"

namespace emc::cpu_backend::detail {
namespace {

class K210ConvLayer final : public interpreter::PreparedLayer {
 public:
  K210ConvLayer(K210Conv conv, ByteRange in, ByteRange out, ByteRange main_out,
                const CpuBackendOptions& options)
      : conv_(std::move(conv)),
        in_(in),
        out_(out),
        main_out_(main_out),
        selection_(options.k210_selection),
        rounding_(options.k210_rounding) {}

  Status run(interpreter::ExecContext& ctx) override {
    auto in = ctx.kpu.at(in_.offset, in_.size);
    if (!in.ok()) return std::move(in).error();
    auto out = ctx.kpu.at(out_.offset, out_.size);
    if (!out.ok()) return std::move(out).error();
    std::uint8_t* main = nullptr;
    if (conv_.main_out) {
      EMC_CPU_ASSIGN_OR_RETURN(main, fetch(ctx.main, main_out_));
    }
    // The whole input is copied first, so an output map overlapping the input is well defined.
    k210_conv_load_input(conv_, in->data(), scratch_);
    const std::size_t plane = std::size_t{conv_.in.width} * conv_.in.height;
    const std::size_t out_plane = std::size_t{conv_.out.width} * conv_.out.height;
    acc_.resize(plane);
    pooled_.resize(out_plane);
    for (std::uint32_t o = 0; o < conv_.out.channels; ++o) {
      k210_conv_accumulate(conv_, o, scratch_, acc_.data());
      k210_conv_output_stage(conv_, o, acc_.data(), selection_, rounding_, scratch_,
                             pooled_.data());
      for (std::uint32_t y = 0; y < conv_.out.height; ++y) {
        std::uint8_t* line = out->data() + conv_.out.offset(o, y, 0);
        for (std::uint32_t x = 0; x < conv_.out.width; ++x)
          line[x] = pooled_[y * conv_.out.width + x];
      }
      if (main != nullptr) {
        std::copy(pooled_.begin(), pooled_.end(), main + std::size_t{o} * out_plane);
      }
    }
    return ok_status();
  }

  format::MemRange output_range() const override {
    return conv_.main_out ? main_out_.mem_range() : format::MemRange{};
  }

 private:
  K210Conv conv_;
  ByteRange in_, out_, main_out_;
  SegmentSelection selection_;
  ActivationRounding rounding_;
  K210ConvScratch scratch_;
  std::vector<std::int64_t> acc_;
  std::vector<std::uint8_t> pooled_;
};

}  // namespace

Result<PreparedPtr> prepare_k210_conv(const PrepareContext& ctx) {
  LayerChecker c(ctx.info);
  EMC_CPU_ASSIGN_OR_RETURN(const format::ConvBody* body, c.body<format::ConvBody>());
  if (ctx.info.model == nullptr) {
    return c.attach(
        Error(Errc::kInvalidArgument, "K210_CONV needs the model header (8- or 16-bit weights)"));
  }
  auto conv = make_k210_conv(*body, ctx.info.model->eight_bit_weights(), ctx.info.kpu_mem_bytes,
                             ctx.info.main_mem_bytes);
  if (!conv.ok()) return c.attach(std::move(conv).error());
  const ByteRange in{conv->in.base, conv->in.extent()};
  const ByteRange out{conv->out.base, conv->out.extent()};
  ByteRange main_out;
  if (conv->main_out) main_out = ByteRange{conv->main_out_address, conv->out_bytes()};
  return PreparedPtr(
      std::make_unique<K210ConvLayer>(std::move(conv).value(), in, out, main_out, ctx.options));
}

}  // namespace emc::cpu_backend::detail
