// EMC_ELEMENTWISE_INT8 and EMC_LUT_INT8 (format/emc_layers.h; docs/cpu_target.md).
//
// Elementwise: a' = R((a - a_zp) << left_shift, a_multiplier, a_shift) depends on the int8 code
// only, so both input rescales are 256-entry tables built at prepare time with the same exact
// rounding (emc_scale_round) the definition uses; acc = a' op b' (mul: the product of the
// zero-point-shifted codes), out = clamp(R(acc, out_multiplier, out_shift) + out_zp).
#include <algorithm>
#include <array>

#include "emc_int8_support.h"
#include "ops.h"

namespace emc::cpu_backend::detail {
namespace {

using format::EmcBroadcast;
using format::EmcElementwiseOp;

class ElementwiseInt8Layer final : public interpreter::PreparedLayer {
 public:
  ElementwiseInt8Layer(const format::EmcElementwiseInt8Body& b, const Int8Io& io)
      : b_(b), a_(io.reads[0]), bin_(io.reads[1]), out_(io.out) {
    const bool mul = static_cast<EmcElementwiseOp>(b.op) == EmcElementwiseOp::kMul;
    for (int q = -128; q < 128; ++q) {
      if (mul) {
        at_[q + 128] = q - b.a_zero_point;
        bt_[q + 128] = q - b.b_zero_point;
      } else {
        at_[q + 128] = static_cast<std::int32_t>(
            emc_scale_round(std::int64_t{q - b.a_zero_point} * (std::int64_t{1} << b.left_shift),
                            b.a_multiplier, b.a_shift));
        bt_[q + 128] = static_cast<std::int32_t>(
            emc_scale_round(std::int64_t{q - b.b_zero_point} * (std::int64_t{1} << b.left_shift),
                            b.b_multiplier, b.b_shift));
      }
    }
  }

  Status run(interpreter::ExecContext& ctx) override {
    EMC_CPU_ASSIGN_OR_RETURN(const std::uint8_t* a, fetch(ctx.main, a_));
    EMC_CPU_ASSIGN_OR_RETURN(const std::uint8_t* bv, fetch(ctx.main, bin_));
    EMC_CPU_ASSIGN_OR_RETURN(std::uint8_t * out, fetch(ctx.main, out_));
    switch (static_cast<EmcElementwiseOp>(b_.op)) {
      case EmcElementwiseOp::kAdd:
        loop(a, bv, out, [](std::int64_t x, std::int64_t y) { return x + y; });
        break;
      case EmcElementwiseOp::kSub:
        loop(a, bv, out, [](std::int64_t x, std::int64_t y) { return x - y; });
        break;
      case EmcElementwiseOp::kMul:
        loop(a, bv, out, [](std::int64_t x, std::int64_t y) { return x * y; });
        break;
      case EmcElementwiseOp::kMax:
        loop(a, bv, out, [](std::int64_t x, std::int64_t y) { return std::max(x, y); });
        break;
      case EmcElementwiseOp::kMin:
        loop(a, bv, out, [](std::int64_t x, std::int64_t y) { return std::min(x, y); });
        break;
    }
    return ok_status();
  }
  format::MemRange output_range() const override { return out_.mem_range(); }

 private:
  // Element i is read (a[i], and b[i] without broadcast) before out[i] is written, in increasing
  // order: an output at or before a same-shaped input is safe (the footprint's overlap rule).
  template <class Op>
  void loop(const std::uint8_t* a, const std::uint8_t* bv, std::uint8_t* out, Op op) const {
    const auto bc = static_cast<EmcBroadcast>(b_.broadcast);
    const std::uint64_t plane = b_.plane;
    for (std::uint64_t c = 0; c < b_.channels; ++c) {
      const std::uint64_t base = c * plane;
      for (std::uint64_t i = 0; i < plane; ++i) {
        const std::uint8_t qb = bc == EmcBroadcast::kNone         ? bv[base + i]
                                : bc == EmcBroadcast::kPerChannel ? bv[c]
                                                                  : bv[0];
        const std::int64_t acc = op(at_[static_cast<std::int8_t>(a[base + i]) + 128],
                                    bt_[static_cast<std::int8_t>(qb) + 128]);
        out[base + i] = static_cast<std::uint8_t>(
            emc_clamp_code(emc_scale_round(acc, b_.out_multiplier, b_.out_shift), b_.out_zero_point,
                           b_.act_min, b_.act_max));
      }
    }
  }

  format::EmcElementwiseInt8Body b_;
  ByteRange a_, bin_, out_;
  std::array<std::int32_t, 256> at_{}, bt_{};
};

class LutInt8Layer final : public interpreter::PreparedLayer {
 public:
  LutInt8Layer(const format::EmcLutInt8Body& b, const Int8Io& io)
      : b_(b), in_(io.reads[0]), out_(io.out) {}

  Status run(interpreter::ExecContext& ctx) override {
    EMC_CPU_ASSIGN_OR_RETURN(const std::uint8_t* in, fetch(ctx.main, in_));
    EMC_CPU_ASSIGN_OR_RETURN(std::uint8_t * out, fetch(ctx.main, out_));
    for (std::uint64_t i = 0; i < b_.count; ++i) {
      out[i] = static_cast<std::uint8_t>(b_.table[static_cast<std::int8_t>(in[i]) + 128]);
    }
    return ok_status();
  }
  format::MemRange output_range() const override { return out_.mem_range(); }

 private:
  format::EmcLutInt8Body b_;
  ByteRange in_, out_;
};

}  // namespace

Result<PreparedPtr> prepare_emc_elementwise_int8(const PrepareContext& ctx) {
  LayerChecker c(ctx.info);
  EMC_CPU_ASSIGN_OR_RETURN(const format::EmcElementwiseInt8Body* b,
                           c.body<format::EmcElementwiseInt8Body>());
  EMC_CPU_ASSIGN_OR_RETURN(Int8Io io, check_int8_layer(c));
  return PreparedPtr(std::make_unique<ElementwiseInt8Layer>(*b, io));
}

Result<PreparedPtr> prepare_emc_lut_int8(const PrepareContext& ctx) {
  LayerChecker c(ctx.info);
  EMC_CPU_ASSIGN_OR_RETURN(const format::EmcLutInt8Body* b, c.body<format::EmcLutInt8Body>());
  EMC_CPU_ASSIGN_OR_RETURN(Int8Io io, check_int8_layer(c));
  return PreparedPtr(std::make_unique<LutInt8Layer>(*b, io));
}

}  // namespace emc::cpu_backend::detail
