// The EMC int8 elementwise and pad/crop layers as the lowerings emit them (emc_map_layers.h).
#include "lower/emc_map_layers.h"

#include <algorithm>
#include <cmath>

#include "emc/converter/emc_int8_params.h"
#include "lower/emc_conv_layer.h"

namespace emc::converter::detail {
namespace {

[[noreturn]] void fail_at(Errc code, const std::string& msg, const Node& node) {
  throw ErrorException(Error(code, msg).with_layer(node.layer_ref()));
}

}  // namespace

EmcElementwiseOp emc_elementwise_op(const Node& n, std::string_view target) {
  using Op = format::EmcElementwiseOp;
  EmcElementwiseOp e;
  switch (n.kind) {
    case NodeKind::kSubtract:
      e.op = Op::kSub;
      break;
    case NodeKind::kMultiply:
      e.op = Op::kMul;
      break;
    case NodeKind::kMaximum:
      e.op = Op::kMax;
      break;
    case NodeKind::kMinimum:
      e.op = Op::kMin;
      break;
    case NodeKind::kAverage:
      e.average_of = n.average_of > 0 ? n.average_of : 2;
      break;
    default:
      fail_at(Errc::kInternal, "not an elementwise node", n);
  }
  if (n.inputs.size() != 2)
    fail_at(Errc::kUnsupportedLayer,
            std::string(to_string(n.kind)) + " of " + std::to_string(n.inputs.size()) +
                " inputs: -p " + std::string(target) +
                "'s int8 elementwise layer takes two (chain two-input layers)",
            n);
  return e;
}

Int8Quant emc_elementwise_out_quant(const Int8Quant& out_q, const Activation& act,
                                    const Range& out_range) {
  if (act.is_linear()) return out_q;
  double top = std::max(out_range.max, 1e-6);
  if (std::isfinite(act.max_value)) top = std::min<double>(top, act.max_value);
  return int8_quant_from_range(0.0, top).value();
}

std::optional<EmcElementwiseLayer> make_emc_elementwise(EmcElementwiseOp op, const Int8Quant& qa,
                                                        const Int8Quant& qb, const Int8Quant& qo,
                                                        const Activation& act, const Shape& out,
                                                        std::vector<std::string> sources) {
  double lo = -kNoClamp, hi = kNoClamp;
  if (!act.is_linear()) {  // the clamp at real 0 (and the max value)
    lo = 0.0;
    if (std::isfinite(act.max_value)) hi = act.max_value;
  }
  EmcElementwiseLayer l;
  auto& b = l.body;
  b.op = static_cast<std::uint32_t>(op.op);
  b.broadcast = static_cast<std::uint32_t>(format::EmcBroadcast::kNone);
  b.channels = 1;
  b.plane = static_cast<std::uint32_t>(out.num_elements());
  if (!set_elementwise_int8_params(qa, qb, qo, lo, hi, op.average_of, b).ok()) return std::nullopt;
  static constexpr const char* kOpName[] = {"add", "subtract", "multiply", "maximum", "minimum"};
  l.info.sources = std::move(sources);
  l.info.out_shape = out.dims;
  l.info.note = std::string("int8 ") + (op.average_of ? "average" : kOpName[b.op]) + " (" +
                int8_quant_note(qo) +
                (act.is_linear() ? "" : "; " + to_string(act) + " as the clamp") + ")";
  return l;
}

std::vector<Fixup> fix_emc_elementwise(int a, int b, int out) {
  return {fix(a, &format::EmcElementwiseInt8Body::main_mem_in_a_address),
          fix(b, &format::EmcElementwiseInt8Body::main_mem_in_b_address),
          fix(out, &format::EmcElementwiseInt8Body::main_mem_out_address)};
}

EmcPadCropLayer make_emc_pad_crop(const Shape& s, std::int32_t fill, const Padding4& p,
                                  const Node& ctx, std::vector<std::string> sources,
                                  const std::string& note) {
  const std::int64_t oh = std::int64_t(s.h()) + p.top + p.bottom,
                     ow = std::int64_t(s.w()) + p.left + p.right;
  if (oh < 1 || ow < 1) fail_at(Errc::kShapeMismatch, "crops the whole map", ctx);
  EmcPadCropLayer l;
  auto& b = l.body;
  b.in_width = std::uint32_t(s.w());
  b.in_height = std::uint32_t(s.h());
  b.channels = std::uint32_t(s.c());
  b.out_width = std::uint32_t(ow);
  b.out_height = std::uint32_t(oh);
  b.pad_top = p.top;
  b.pad_bottom = p.bottom;
  b.pad_left = p.left;
  b.pad_right = p.right;
  b.fill = fill;
  l.out_bytes = std::uint64_t(oh) * std::uint64_t(ow) * std::uint64_t(s.c());
  l.info.sources = std::move(sources);
  l.info.in_shape = s.dims;
  l.info.out_shape = {std::int32_t(oh), std::int32_t(ow), s.c()};
  l.info.note = note + " (int8 codes kept: exact)";
  return l;
}

std::vector<Fixup> fix_emc_pad_crop(int in, int out) {
  return {fix(in, &format::EmcPadCropInt8Body::main_mem_in_address),
          fix(out, &format::EmcPadCropInt8Body::main_mem_out_address)};
}

}  // namespace emc::converter::detail
