#include "emc/converter/emc_int8_params.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace emc::converter {
namespace {

Status check_quant(const Int8Quant& q, const char* what) {
  if (!(q.scale > 0) || !std::isfinite(q.scale) || q.zero_point < -128 || q.zero_point > 127) {
    return Error(Errc::kInvalidArgument, std::string(what) + " quantization (scale " +
                                             std::to_string(q.scale) + ", zero point " +
                                             std::to_string(q.zero_point) + ") is not valid int8");
  }
  return ok_status();
}

Status set_clamp(const Int8Quant& out, double lo, double hi, std::int32_t& act_min,
                 std::int32_t& act_max) {
  if (std::isnan(lo) || std::isnan(hi) || lo > hi) {
    return Error(Errc::kInvalidArgument, "activation clamp [" + std::to_string(lo) + ", " +
                                             std::to_string(hi) + "] is not an interval");
  }
  act_min = int8_code(out, lo);
  act_max = int8_code(out, hi);
  return ok_status();
}

}  // namespace

std::int32_t int8_code(const Int8Quant& q, double real) {
  if (real <= -kNoClamp) return -128;
  if (real >= kNoClamp) return 127;
  const double v = std::round(real / q.scale) + q.zero_point;
  return static_cast<std::int32_t>(std::clamp(v, -128.0, 127.0));
}

Status set_pool_int8_params(const Int8Quant& in, const Int8Quant& out, double act_min,
                            double act_max, format::EmcPool2dInt8Body& body) {
  EMC_TRY(check_quant(in, "pool input"));
  EMC_TRY(check_quant(out, "pool output"));
  body.input_zero_point = in.zero_point;
  body.output_zero_point = out.zero_point;
  EMC_TRY(quantize_multiplier(in.scale / out.scale, body.multiplier, body.shift));
  return set_clamp(out, act_min, act_max, body.act_min, body.act_max);
}

Status set_elementwise_int8_params(const Int8Quant& a, const Int8Quant& b, const Int8Quant& out,
                                   double act_min, double act_max, int average_of,
                                   format::EmcElementwiseInt8Body& body) {
  EMC_TRY(check_quant(a, "elementwise input a"));
  EMC_TRY(check_quant(b, "elementwise input b"));
  EMC_TRY(check_quant(out, "elementwise output"));
  using Op = format::EmcElementwiseOp;
  const auto op = static_cast<Op>(body.op);
  if (body.op > static_cast<std::uint32_t>(Op::kMin)) {
    return Error(Errc::kInvalidArgument, "elementwise op " + std::to_string(body.op) + " unknown");
  }
  if (average_of != 0 && (op != Op::kAdd || average_of < 2)) {
    return Error(Errc::kInvalidArgument,
                 "average of " + std::to_string(average_of) +
                     ": an add (op 0) whose output multiplier is divided by n >= 2");
  }
  body.a_zero_point = a.zero_point;
  body.b_zero_point = b.zero_point;
  body.out_zero_point = out.zero_point;
  if (op == Op::kMul) {
    body.left_shift = 0;
    body.a_multiplier = body.a_shift = body.b_multiplier = body.b_shift = 0;
    EMC_TRY(
        quantize_multiplier(a.scale * b.scale / out.scale, body.out_multiplier, body.out_shift));
  } else {
    body.left_shift = 20;
    const double twice_max = 2 * std::max(a.scale, b.scale);
    EMC_TRY(quantize_multiplier(a.scale / twice_max, body.a_multiplier, body.a_shift));
    EMC_TRY(quantize_multiplier(b.scale / twice_max, body.b_multiplier, body.b_shift));
    const double real_out = twice_max / (std::ldexp(1.0, body.left_shift) * out.scale);
    EMC_TRY(quantize_multiplier(average_of ? real_out / average_of : real_out, body.out_multiplier,
                                body.out_shift));
  }
  return set_clamp(out, act_min, act_max, body.act_min, body.act_max);
}

Status set_concat_int8_params(const std::vector<Int8Quant>& ins, const Int8Quant& out,
                              format::EmcConcatInt8Body& body) {
  EMC_TRY(check_quant(out, "concat output"));
  if (ins.size() != body.inputs.size() || ins.empty()) {
    return Error(Errc::kInvalidArgument, "concat has " + std::to_string(body.inputs.size()) +
                                             " inputs but " + std::to_string(ins.size()) +
                                             " quantizations");
  }
  body.output_zero_point = out.zero_point;
  for (std::size_t k = 0; k < ins.size(); ++k) {
    EMC_TRY(check_quant(ins[k], "concat input"));
    body.inputs[k].zero_point = ins[k].zero_point;
    EMC_TRY(quantize_multiplier(ins[k].scale / out.scale, body.inputs[k].multiplier,
                                body.inputs[k].shift));
  }
  return ok_status();
}

Status set_lut_int8_table(const std::function<double(double)>& f, const Int8Quant& in,
                          const Int8Quant& out, format::EmcLutInt8Body& body) {
  EMC_TRY(check_quant(in, "lookup table input"));
  EMC_TRY(check_quant(out, "lookup table output"));
  for (int q = -128; q < 128; ++q) {
    const double y = f(in.dequantize(q));
    if (std::isnan(y)) {
      return Error(Errc::kInvalidArgument,
                   "the activation is NaN at input code " + std::to_string(q));
    }
    body.table[q + 128] =
        static_cast<std::int8_t>(int8_code(out, std::clamp(y, -kNoClamp / 2, kNoClamp / 2)));
  }
  return ok_status();
}

Status set_prelu_int8_params(const std::vector<double>& alpha, const Int8Quant& in,
                             const Int8Quant& out, format::EmcPreluInt8Body& body) {
  if (alpha.size() != body.channels)
    return Error(Errc::kInvalidArgument, std::to_string(alpha.size()) + " PReLU slopes for " +
                                             std::to_string(body.channels) + " channels");
  body.input_zero_point = in.zero_point;
  body.output_zero_point = out.zero_point;
  EMC_TRY(quantize_multiplier(in.scale / out.scale, body.pos_multiplier, body.pos_shift));
  body.neg_multiplier.assign(alpha.size(), 0);
  body.neg_shift.assign(alpha.size(), 0);
  for (std::size_t c = 0; c < alpha.size(); ++c) {
    if (!std::isfinite(alpha[c]))
      return Error(Errc::kInvalidArgument, "PReLU slope " + std::to_string(c) + " is not finite");
    if (alpha[c] == 0) continue;
    std::int32_t m = 0, sh = 0;
    EMC_TRY(quantize_multiplier(std::fabs(alpha[c]) * in.scale / out.scale, m, sh));
    body.neg_multiplier[c] = alpha[c] < 0 ? -m : m;
    body.neg_shift[c] = sh;
  }
  return ok_status();
}

}  // namespace emc::converter
