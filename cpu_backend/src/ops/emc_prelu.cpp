// EMC_PRELU_INT8 (format/emc_layers.h; docs/cpu_target.md): Keras PReLU on int8 codes, the
// positive branch through one rescale, the negative branch through its channel's rescale, each
// one exact rounding (emc_scale_round). A negative multiplier is a negative slope.
#include <array>
#include <cstdlib>

#include "emc_int8_support.h"
#include "ops.h"

namespace emc::cpu_backend::detail {
namespace {

class PreluInt8Layer final : public interpreter::PreparedLayer {
 public:
  PreluInt8Layer(const format::EmcPreluInt8Body& b, const Int8Io& io)
      : b_(b), in_(io.reads[0]), out_(io.out) {}

  Status run(interpreter::ExecContext& ctx) override {
    EMC_CPU_ASSIGN_OR_RETURN(const std::uint8_t* in, fetch(ctx.main, in_));
    EMC_CPU_ASSIGN_OR_RETURN(std::uint8_t * out, fetch(ctx.main, out_));
    // The positive branch depends on the code only: a table over the 256 codes.
    std::array<std::int8_t, 256> pos{};
    for (int q = -128; q < 128; ++q) {
      const std::int64_t d = q - b_.input_zero_point;
      pos[std::size_t(q + 128)] =
          d >= 0 ? emc_clamp_code(emc_scale_round(d, b_.pos_multiplier, b_.pos_shift),
                                  b_.output_zero_point, -128, 127)
                 : 0;
    }
    std::uint64_t i = 0;
    for (std::uint32_t c = 0; c < b_.channels; ++c) {
      const std::int32_t m = b_.neg_multiplier[c], s = b_.neg_shift[c];
      const std::int32_t am = m < 0 ? -m : m;
      for (std::uint32_t k = 0; k < b_.plane; ++k, ++i) {
        const int q = static_cast<std::int8_t>(in[i]);
        const std::int64_t d = q - b_.input_zero_point;
        if (d >= 0) {
          out[i] = static_cast<std::uint8_t>(pos[std::size_t(q + 128)]);
        } else {
          const std::int64_t r = emc_scale_round(m < 0 ? -d : d, am, s);
          out[i] = static_cast<std::uint8_t>(emc_clamp_code(r, b_.output_zero_point, -128, 127));
        }
      }
    }
    return ok_status();
  }
  format::MemRange output_range() const override { return out_.mem_range(); }

 private:
  format::EmcPreluInt8Body b_;
  ByteRange in_, out_;
};

}  // namespace

Result<PreparedPtr> prepare_emc_prelu_int8(const PrepareContext& ctx) {
  LayerChecker c(ctx.info);
  EMC_CPU_ASSIGN_OR_RETURN(const format::EmcPreluInt8Body* b, c.body<format::EmcPreluInt8Body>());
  EMC_CPU_ASSIGN_OR_RETURN(Int8Io io, check_int8_layer(c));
  return PreparedPtr(std::make_unique<PreluInt8Layer>(*b, io));
}

}  // namespace emc::cpu_backend::detail
