// -p k210 jobs for Subtract / Multiply / Maximum / Minimum / Average, Cropping2D and a lone
// ZeroPadding2D (lowerer.h). Where the stock SDK has an exact form it is used: a - b and
// (a + b) / 2 as float ADD (one output rounding, as Add), Maximum / Minimum as a 2x1
// QUANTIZED_MAX_POOL2D over both inputs mapped onto the output grid, a crop and a zero padding of a
// map whose zero point is 0 as a 1x1 QUANTIZED_MAX_POOL2D (codes copied; an empty window writes
// code 0). Multiply and a padding whose real 0 is not code 0 run on the CPU as EMC int8
// layers (emc_map_layers.h) on the int8 form of each uint8 tensor, as the conv fallback does
// (cpu_conv_fallback.cpp): named as off the KPU, an error with --sdk-compatible.
#include <cmath>

#include "emc/format/emc_layers.h"
#include "lower/emc_conv_layer.h"
#include "lower/emc_map_layers.h"
#include "lower/lowerer.h"

namespace emc::converter::detail {

using format::LayerType;

namespace {

std::vector<std::string> sources_of(const Node& n) {
  return n.source_layers.empty() ? std::vector<std::string>{n.source.name} : n.source_layers;
}

}  // namespace

QuantParam Lowerer::clamped_quant(TensorId t, const Activation& act) {
  QuantParam q = quant_of(t);
  if (act.is_linear()) return q;
  if (q.zero_point != 0) {  // the calibrated output went below 0: the clamp's range
    const Range r = ranges_.at(static_cast<std::size_t>(t));
    q = quant_param_from_range(0.0, std::max(r.max, 1e-6)).value();
  }
  if (act.is_relu6() && q.real_max() > 6.0) q = quant_param_from_range(0.0, 6.0).value();
  return q;
}

void Lowerer::require_map(TensorId t, const Node& n) const {
  const Forms& f = forms_[static_cast<std::size_t>(t)];
  if (g_.shape(t).rank() != 3) fail(Errc::kShapeMismatch, "expects a [H, W, C] input", n);
  if (!f.chw_of.empty() || f.hwc_input)
    fail(Errc::kUnsupportedLayer,
         "reads '" + g_.tensor(t).name +
             "' as a map, but it is stored as a flattened map or as the float NHWC model input",
         n);
}

void Lowerer::lower_elementwise(const LayerMatch& m) {
  const Node& n = first(m);
  if (m.nodes.size() > 1) {  // a trailing activation that is not a clamp: its own table
    const Node& a = node(m.nodes.back());
    bool relu6 = false;
    if (!a.activation.is_linear() && !relu_family(a.activation, relu6)) {
      LayerMatch head = m;
      head.nodes.pop_back();
      lower_elementwise(head);
      LayerMatch tail = m;
      tail.nodes = {m.nodes.back()};
      return lower_activation(tail);
    }
  }
  const Node merged = with_activation(m);
  const Activation& act = merged.activation;
  const TensorId out = merged.output;
  emc_elementwise_op(n, target_.name);  // (a kind it has, two inputs)
  const Shape& sa = g_.shape(n.inputs[0]);
  if (!(g_.shape(n.inputs[1]) == sa) || !(g_.shape(out) == sa))
    fail(Errc::kUnsupportedLayer,
         "elementwise inputs " + to_string(sa) + " and " + to_string(g_.shape(n.inputs[1])) +
             ": -p " + std::string(target_.name) + " combines tensors of the same shape",
         n);
  const Forms &fa = forms_[static_cast<std::size_t>(n.inputs[0])],
              &fb = forms_[static_cast<std::size_t>(n.inputs[1])];
  if (fa.chw_of != fb.chw_of || fa.hwc_input != fb.hwc_input)
    fail(Errc::kUnsupportedLayer,
         "combines tensors stored in different orders (NHWC / CHW / a flattened map)", n);
  std::vector<std::string> sources;  // the merge's and a matched activation's
  for (int i : m.nodes) {
    const auto s = sources_of(node(i));
    sources.insert(sources.end(), s.begin(), s.end());
  }
  if (n.kind == NodeKind::kSubtract) return emit_subtract(n, act, out, sources);
  if (n.kind == NodeKind::kAverage) return emit_average(n, act, out, sources);
  if (n.kind == NodeKind::kMaximum || n.kind == NodeKind::kMinimum)
    return emit_max_min(n, act, out, sources);
  emit_elementwise_on_cpu(n, act, out, sources);
}

void Lowerer::emit_subtract(const Node& n, const Activation& act, TensorId out,
                            const std::vector<std::string>& sources) {
  const TensorId a = n.inputs[0], b = n.inputs[1];
  ensure_main_f(a, n);
  ensure_main_q(b, n);
  const QuantParam qb = quant_of(b);
  format::DequantizeBody nb = quantize_body(b, qb);
  nb.scale = static_cast<float>(-qb.scale);
  nb.bias = static_cast<float>(-qb.bias());
  const std::uint64_t cnt = nb.count;
  const int neg = main_buffer(cnt * 4, n.layer_ref());
  LayerInfo ni;
  ni.sources = sources_of(n);
  ni.note = "-'" + g_.tensor(b).name + "' (dequantized with scale and bias negated, exact)";
  ni.out_shape = g_.shape(b).dims;
  ni.float_tensor = "";  // -b: no graph tensor
  add_main_layer(LayerType::kDequantize, nb, ni, forms_[static_cast<std::size_t>(b)].main_q, neg);
  format::AddBody ab;
  ab.count = static_cast<std::uint32_t>(cnt);
  const int sum = main_buffer(cnt * 4, n.layer_ref());
  LayerInfo info;
  info.sources = sources_of(n);
  info.note = "subtract as a float add of the negated input";
  info.out_shape = g_.shape(out).dims;
  const int ia = forms_[static_cast<std::size_t>(a)].main_f;
  add_layer(LayerType::kAdd, ab, info,
            {fix(ia, &format::AddBody::main_mem_in_a_address),
             fix(neg, &format::AddBody::main_mem_in_b_address),
             fix(sum, &format::AddBody::main_mem_out_address)});
  out_.layers.back().main_in = ia;
  out_.layers.back().main_out = sum;
  quantize_float_output(out, sum, n, act, sources);
  forms_[static_cast<std::size_t>(out)].chw_of = forms_[static_cast<std::size_t>(a)].chw_of;
}

void Lowerer::emit_average(const Node& n, const Activation& act, TensorId out,
                           const std::vector<std::string>& sources) {
  for (TensorId t : n.inputs) ensure_main_f(t, n);
  const auto cnt = static_cast<std::uint32_t>(count(out));
  format::AddBody ab;
  ab.count = cnt;
  const int sum = main_buffer(std::uint64_t(cnt) * 4, n.layer_ref());
  LayerInfo info;
  info.sources = sources_of(n);
  info.note = "average: the float sum";
  info.out_shape = g_.shape(out).dims;
  info.float_tensor = "";  // a + b: no graph tensor
  const int ia = forms_[static_cast<std::size_t>(n.inputs[0])].main_f;
  const int ib = forms_[static_cast<std::size_t>(n.inputs[1])].main_f;
  add_layer(LayerType::kAdd, ab, info,
            {fix(ia, &format::AddBody::main_mem_in_a_address),
             fix(ib, &format::AddBody::main_mem_in_b_address),
             fix(sum, &format::AddBody::main_mem_out_address)});
  out_.layers.back().main_in = ia;
  out_.layers.back().main_out = sum;
  // QUANTIZE rounds (x - bias) / scale: with the grid times n that is (x/n - bias_o) / scale_o,
  // the output grid's code of the average (and a ReLU's clamp at code 0 when zero point 0). n = 2,
  // or the Keras layer's input count when split_merges made this the end of an Add chain.
  const double of = n.average_of > 0 ? n.average_of : 2;
  const QuantParam q = clamped_quant(out, act);
  format::QuantizeBody qb;
  qb.count = cnt;
  qb.scale = static_cast<float>(of * q.scale);
  qb.bias = static_cast<float>(of * q.bias());
  const int ob = main_buffer(cnt, n.layer_ref());
  LayerInfo qi;
  qi.sources = sources;
  qi.note = "average: the sum quantized on the output grid times " +
            std::to_string(static_cast<int>(of)) +
            (act.is_linear() ? std::string() : "; " + to_string(act) + " as the clamp");
  qi.out_shape = g_.shape(out).dims;
  qi.out_scale = q.scale;
  qi.out_bias = q.bias();
  add_main_layer(LayerType::kQuantize, qb, qi, sum, ob);
  Forms& fo = forms_[static_cast<std::size_t>(out)];
  fo.q = q;
  fo.has_q = true;
  fo.main_q = ob;
  fo.chw_of = forms_[static_cast<std::size_t>(n.inputs[0])].chw_of;
}

void Lowerer::emit_max_min(const Node& n, const Activation& act, TensorId out,
                           const std::vector<std::string>& sources) {
  // Rounding is monotone: max(Q(a), Q(b)) = Q(max(a, b)) on one grid Q. Each input is mapped onto
  // the output grid by a byte table (reversed, 255 - code, for a minimum: min = -max(-a, -b)),
  // the two land as rows 0 and 1 of a 2 x count map, and a QUANTIZED_MAX_POOL2D with a 2x1 window
  // takes the larger; a minimum's result is reversed back by one more table.
  const bool minimum = n.kind == NodeKind::kMinimum;
  const QuantParam q = clamped_quant(out, act);
  const std::uint64_t cnt = std::uint64_t(count(out));
  const int pair = main_buffer(2 * cnt, n.layer_ref());
  for (std::size_t k = 0; k < 2; ++k) {
    const TensorId t = n.inputs[k];
    ensure_main_q(t, n);
    const QuantParam qi = quant_of(t);
    format::RequantizeBody b;
    b.count = static_cast<std::uint32_t>(cnt);
    for (int v = 0; v < 256; ++v) {
      const std::int32_t c = q.quantize(qi.dequantize(v));
      b.table[std::size_t(v)] = static_cast<std::uint8_t>(minimum ? 255 - c : c);
    }
    LayerInfo info;
    info.sources = sources;
    info.note = "'" + g_.tensor(t).name + "' on the output grid" + (minimum ? ", reversed" : "");
    info.out_shape = g_.shape(out).dims;
    info.float_tensor = "";
    info.weight_bytes = 256;
    const int ib = forms_[static_cast<std::size_t>(t)].main_q;
    add_layer(LayerType::kRequantize, b, info,
              {fix(ib, &format::RequantizeBody::main_mem_in_address),
               fix(pair, &format::RequantizeBody::main_mem_out_address, k * cnt)});
    out_.layers.back().main_in = ib;
    out_.layers.back().main_out = pair;
  }
  format::Pool2dBody pb;
  pb.in_shape = {std::uint32_t(cnt), 2, 1};
  pb.out_shape = {std::uint32_t(cnt), 1, 1};
  pb.kernel_width = 1;
  pb.kernel_height = 2;
  pb.stride_width = pb.stride_height = 1;
  const int ob = main_buffer(cnt, n.layer_ref());
  LayerInfo info;
  info.sources = sources;
  info.note = std::string(minimum ? "minimum" : "maximum") +
              " as a 2x1 max pool over both inputs on the output grid (exact)";
  info.out_shape = g_.shape(out).dims;
  if (minimum) {
    info.float_tensor = "";
  } else {
    info.out_scale = q.scale;
    info.out_bias = q.bias();
  }
  add_main_layer(LayerType::kQuantizedMaxPool2d, pb, info, pair, ob);
  int result = ob;
  if (minimum) {
    std::array<std::uint8_t, 256> rev{};
    for (int v = 0; v < 256; ++v) rev[std::size_t(v)] = static_cast<std::uint8_t>(255 - v);
    LayerInfo ri;
    ri.sources = sources;
    ri.note = "minimum: the codes reversed back (255 - v)";
    ri.out_shape = g_.shape(out).dims;
    ri.out_scale = q.scale;
    ri.out_bias = q.bias();
    result = byte_table(ob, cnt, rev, ri, n);
  }
  Forms& fo = forms_[static_cast<std::size_t>(out)];
  fo.q = q;
  fo.has_q = true;
  fo.main_q = result;
  fo.chw_of = forms_[static_cast<std::size_t>(n.inputs[0])].chw_of;
}

void Lowerer::emit_elementwise_on_cpu(const Node& n, const Activation& act, TensorId out,
                                      const std::vector<std::string>& sources) {
  const EmcElementwiseOp e = emc_elementwise_op(n, target_.name);
  if (!target_.cpu_conv_fallback)
    fail(Errc::kUnsupportedLayer,
         "kmodel V3 has no elementwise " + std::string(to_string(n.kind)) + " layer", n);
  for (TensorId t : n.inputs) ensure_main_i8(t, n);
  const QuantParam q = clamped_quant(out, act);
  const std::string kind = to_string(n.kind);
  auto l =
      make_emc_elementwise(e, int8_form(quant_of(n.inputs[0])), int8_form(quant_of(n.inputs[1])),
                           int8_form(q), act, g_.shape(out), sources);
  if (!l)
    fail(Errc::kUnsupportedLayer,
         "the int8 requantization of this " + kind +
             " does not fit EMC_ELEMENTWISE_INT8 (input and output scales too far apart)",
         n);
  const int ob = main_buffer(std::uint64_t(count(out)), n.layer_ref());
  const int ia = forms_[static_cast<std::size_t>(n.inputs[0])].main_i8;
  const int ib = forms_[static_cast<std::size_t>(n.inputs[1])].main_i8;
  LayerInfo info = std::move(l->info);
  info.in_shape = g_.shape(n.inputs[0]).dims;
  info.out_int8 = true;
  info.out_scale = q.scale;
  info.out_bias = -double(q.zero_point - 128) * q.scale;
  info.off_kpu_layer = n.layer_ref();
  info.off_kpu_reason =
      "kmodel V3 has no elementwise " + kind + " layer (only ADD and QUANTIZED_ADD)";
  info.off_kpu_change = "replace the " + kind + " layer";
  add_layer(LayerType::kEmcElementwiseInt8, l->body, std::move(info),
            fix_emc_elementwise(ia, ib, ob));
  out_.layers.back().main_in = ia;
  out_.layers.back().main_out = ob;
  Forms& fo = forms_[static_cast<std::size_t>(out)];
  fo.q = q;
  fo.has_q = true;
  fo.main_i8 = ob;
  fo.chw_of = forms_[static_cast<std::size_t>(n.inputs[0])].chw_of;
}

void Lowerer::emit_pad_crop_on_cpu(const Node& n, const Padding4& p, const std::string& note,
                                   const std::string& why, const std::string& change) {
  const TensorId in = n.inputs[0];
  ensure_main_i8(in, n);
  const QuantParam q = quant_of(in);
  EmcPadCropLayer l =
      make_emc_pad_crop(g_.shape(in), int8_form(q).zero_point, p, n, sources_of(n), note);
  const int ob = main_buffer(l.out_bytes, n.layer_ref());
  const int ib = forms_[static_cast<std::size_t>(in)].main_i8;
  LayerInfo info = std::move(l.info);
  info.out_int8 = true;
  info.out_scale = q.scale;
  info.out_bias = -double(q.zero_point - 128) * q.scale;
  info.off_kpu_layer = n.layer_ref();
  info.off_kpu_reason = why;
  info.off_kpu_change = change;
  add_layer(LayerType::kEmcPadCropInt8, l.body, std::move(info), fix_emc_pad_crop(ib, ob));
  out_.layers.back().main_in = ib;
  out_.layers.back().main_out = ob;
  Forms& fo = forms_[static_cast<std::size_t>(n.output)];
  fo.q = q;  // the codes are kept; the fill is real 0
  fo.has_q = true;
  fo.main_i8 = ob;
}

void Lowerer::lower_crop(const LayerMatch& m) {
  const Node& n = first(m);
  const TensorId in = n.inputs[0];
  require_map(in, n);
  const Shape& s = g_.shape(in);
  const Padding4& p = n.pad;
  const std::int32_t oh = s.h() - p.top - p.bottom, ow = s.w() - p.left - p.right;
  if (oh < 1 || ow < 1) fail(Errc::kShapeMismatch, "crops the whole map", n);
  ensure_main_q(in, n);
  // The window origin moved to (top, left): a 1x1 max pool copies the codes (exact for any
  // zero point, every window is inside the map).
  const QuantParam q = quant_of(in);
  const std::uint64_t add = std::uint64_t(p.top) * std::uint64_t(s.w()) + std::uint64_t(p.left);
  const int ob = pick(forms_[static_cast<std::size_t>(in)].main_q, add, s.c(), s.h(), s.w(), 1, oh,
                      ow, n, "crop (codes copied: exact)", q);
  out_.layers.back().info.sources = sources_of(n);
  Forms& fo = forms_[static_cast<std::size_t>(n.output)];
  fo.q = q;
  fo.has_q = true;
  fo.main_q = ob;
}

void Lowerer::lower_zero_pad(const LayerMatch& m) {
  const Node& n = first(m);
  const TensorId in = n.inputs[0];
  require_map(in, n);
  const Shape& s = g_.shape(in);
  const Padding4& p = n.pad;
  const QuantParam q = quant_of(in);
  if (q.zero_point != 0) {
    const std::string why =
        "zero padding of a tensor with negative values (zero point " +
        std::to_string(q.zero_point) +
        "): kmodel V3's padding form (QUANTIZED_MAX_POOL2D's empty windows) writes code 0, not "
        "real 0";
    const std::string change =
        "put a ReLU-family activation before the padding, or pad inside the next convolution";
    // Depends on the calibrated range: a quantization error, not a structural one (so that the
    // placeholder-range pass before calibration does not report it).
    if (!target_.cpu_conv_fallback || opt_.sdk_compatible)
      fail(Errc::kQuantization,
           why +
               (target_.cpu_conv_fallback
                    ? "; its CPU form (EMC_PAD_CROP_INT8) is an EMC layer type, which the stock "
                      "K210 SDK loader and MaixPy cannot run, and --sdk-compatible was given: "
                    : ": ") +
               change,
           n);
    return emit_pad_crop_on_cpu(n, p, "zero padding", why, change);
  }
  ensure_main_q(in, n);
  const int ob =
      pick(forms_[static_cast<std::size_t>(in)].main_q, 0, s.c(), s.h(), s.w(), 1,
           s.h() + p.top + p.bottom, s.w() + p.left + p.right, n,
           "zero padding (empty windows write code 0 = real 0: exact)", q, p.top, p.left);
  out_.layers.back().info.sources = sources_of(n);
  Forms& fo = forms_[static_cast<std::size_t>(n.output)];
  fo.q = q;
  fo.has_q = true;
  fo.main_q = ob;
}

}  // namespace emc::converter::detail
