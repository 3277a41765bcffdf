// ADD (float) and QUANTIZED_ADD (uint8, the SDK's fixed-point formula).
#include <algorithm>

#include "ops.h"

namespace emc::cpu_backend::detail {
namespace {

class AddLayer final : public interpreter::PreparedLayer {
 public:
  AddLayer(ByteRange a, ByteRange b, ByteRange out, std::uint64_t count)
      : a_(a), b_(b), out_(out), count_(count) {}

  Status run(interpreter::ExecContext& ctx) override {
    EMC_CPU_ASSIGN_OR_RETURN(const std::uint8_t* a, fetch(ctx.main, a_));
    EMC_CPU_ASSIGN_OR_RETURN(const std::uint8_t* b, fetch(ctx.main, b_));
    EMC_CPU_ASSIGN_OR_RETURN(std::uint8_t * out, fetch(ctx.main, out_));
    for (std::uint64_t i = 0; i < count_; ++i) {
      store_f32(out + 4 * i, load_f32(a + 4 * i) + load_f32(b + 4 * i));
    }
    return ok_status();
  }
  format::MemRange output_range() const override { return out_.mem_range(); }

 private:
  ByteRange a_, b_, out_;
  std::uint64_t count_;
};

// Two's-complement wrapping int64 arithmetic: the SDK computes in int64_t and can overflow for
// extreme (but encodable) multipliers; RV64 wraps, and wrapping here keeps the result defined.
std::int64_t wrap_add(std::int64_t x, std::int64_t y) {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(x) + static_cast<std::uint64_t>(y));
}
std::int64_t wrap_mul(std::int64_t x, std::int64_t y) {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(x) * static_cast<std::uint64_t>(y));
}

// kpu.c `kpu_carry_shift`, literally. `>>` on a negative int64 is an arithmetic (flooring) shift,
// so for negative values the SDK does NOT round half away from zero: when bit (shift-1) is set it
// returns floor(v / 2^shift) - 1 (e.g. -5 >> 1 gives -4, not -3; -1 >> 2 gives -2). Positive
// values round half up. We reproduce this exactly (docs/cpu_backend.md).
std::int64_t sdk_carry_shift(std::int64_t value, std::uint32_t shift) {
  if (shift > 0) {
    value >>= shift - 1;
    if (value & 0x1) {
      value = value < 0 ? (value >> 1) - 1 : (value >> 1) + 1;
    } else {
      value >>= 1;
    }
  }
  return value;
}

class QuantizedAddLayer final : public interpreter::PreparedLayer {
 public:
  QuantizedAddLayer(const format::QuantizedAddBody& body, ByteRange a, ByteRange b, ByteRange out)
      : a_(a),
        b_(b),
        out_(out),
        count_(body.count),
        off_a_(body.in_a_offset),
        mul_a_(body.in_a_mul),
        sh_a_(body.in_a_shift),
        off_b_(body.in_b_offset),
        mul_b_(body.in_b_mul),
        sh_b_(body.in_b_shift),
        off_o_(body.out_offset),
        mul_o_(body.out_mul),
        sh_o_(body.out_shift) {}

  Status run(interpreter::ExecContext& ctx) override {
    EMC_CPU_ASSIGN_OR_RETURN(const std::uint8_t* a, fetch(ctx.main, a_));
    EMC_CPU_ASSIGN_OR_RETURN(const std::uint8_t* b, fetch(ctx.main, b_));
    EMC_CPU_ASSIGN_OR_RETURN(std::uint8_t * out, fetch(ctx.main, out_));
    const auto sh_o = static_cast<std::uint32_t>(sh_o_);
    // The SDK picks the branch on the shifts once per layer. Same shift: add the two scaled
    // inputs, then shift once. Different shifts: shift each scaled input, then add.
    if (sh_a_ == sh_b_) {
      for (std::uint64_t i = 0; i < count_; ++i) {
        const std::int64_t va = (std::int64_t{a[i]} + off_a_) * mul_a_;  // |.| < 2^63: no wrap
        const std::int64_t vb = (std::int64_t{b[i]} + off_b_) * mul_b_;
        const std::int64_t v = wrap_add(va, vb) >> sh_a_;
        out[i] = clamp_u8(wrap_add(sdk_carry_shift(wrap_mul(v, mul_o_), sh_o), off_o_));
      }
    } else {
      for (std::uint64_t i = 0; i < count_; ++i) {
        const std::int64_t va = ((std::int64_t{a[i]} + off_a_) * mul_a_) >> sh_a_;
        const std::int64_t vb = ((std::int64_t{b[i]} + off_b_) * mul_b_) >> sh_b_;
        const std::int64_t v = wrap_add(va, vb);
        out[i] = clamp_u8(wrap_add(sdk_carry_shift(wrap_mul(v, mul_o_), sh_o), off_o_));
      }
    }
    return ok_status();
  }
  format::MemRange output_range() const override { return out_.mem_range(); }

 private:
  static std::uint8_t clamp_u8(std::int64_t v) {
    return static_cast<std::uint8_t>(std::clamp<std::int64_t>(v, 0, 255));
  }

  ByteRange a_, b_, out_;
  std::uint64_t count_;
  std::int64_t off_a_, mul_a_, sh_a_;
  std::int64_t off_b_, mul_b_, sh_b_;
  std::int64_t off_o_, mul_o_, sh_o_;
};

}  // namespace

Result<PreparedPtr> prepare_add(const PrepareContext& ctx) {
  LayerChecker c(ctx.info);
  EMC_CPU_ASSIGN_OR_RETURN(const format::AddBody* body, c.body<format::AddBody>());
  const std::string what = "count " + std::to_string(body->count);
  EMC_CPU_ASSIGN_OR_RETURN(ByteRange a, c.range("main_mem_in_a_address",
                                                body->main_mem_in_a_address, body->count, 4, what));
  EMC_CPU_ASSIGN_OR_RETURN(ByteRange b, c.range("main_mem_in_b_address",
                                                body->main_mem_in_b_address, body->count, 4, what));
  EMC_CPU_ASSIGN_OR_RETURN(
      ByteRange out,
      c.range("main_mem_out_address", body->main_mem_out_address, body->count, 4, what));
  return PreparedPtr(std::make_unique<AddLayer>(a, b, out, body->count));
}

// The SDK processes ALIGN_UP(count, 8) elements in blocks of 8, so on the chip it reads up to 7
// bytes past both inputs and writes up to 7 bytes past the output. We process exactly `count`
// elements and validate exactly those ranges: the extra SDK bytes are derived from whatever
// follows the inputs and are never part of the layer's result (docs/cpu_backend.md).
Result<PreparedPtr> prepare_quantized_add(const PrepareContext& ctx) {
  LayerChecker c(ctx.info);
  EMC_CPU_ASSIGN_OR_RETURN(const format::QuantizedAddBody* body,
                           c.body<format::QuantizedAddBody>());
  const std::string what = "count " + std::to_string(body->count);
  EMC_CPU_ASSIGN_OR_RETURN(ByteRange a, c.range("main_mem_in_a_address",
                                                body->main_mem_in_a_address, body->count, 1, what));
  EMC_CPU_ASSIGN_OR_RETURN(ByteRange b, c.range("main_mem_in_b_address",
                                                body->main_mem_in_b_address, body->count, 1, what));
  EMC_CPU_ASSIGN_OR_RETURN(
      ByteRange out,
      c.range("main_mem_out_address", body->main_mem_out_address, body->count, 1, what));
  EMC_TRY(c.shift("in_a_shift", body->in_a_shift));
  EMC_TRY(c.shift("in_b_shift", body->in_b_shift));
  EMC_TRY(c.shift("out_shift", body->out_shift));
  return PreparedPtr(std::make_unique<QuantizedAddLayer>(*body, a, b, out));
}

}  // namespace emc::cpu_backend::detail
