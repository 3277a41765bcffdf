// The -p cpu target: its description, its layer table and the CpuLowerer's members (cpu_target.h,
// cpu_lowerer.h; docs/cpu_target.md "The -p cpu lowering").
#include "cpu_target.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <sstream>

#include "emc/converter/activation_fit.h"
#include "emc/converter/emc_conv_quant.h"
#include "emc/converter/emc_int8_params.h"
#include "emc/converter/layer_table.h"
#include "emc/format/emc_layers.h"
#include "lower/cpu_lowerer.h"
#include "lower/emc_conv_layer.h"
#include "lower/emc_map_layers.h"
#include "lower/targets.h"
#include "lower/v3_cpu_layers.h"

namespace emc::converter::detail {
namespace {

using format::LayerType;

// -p cpu's layer table: conv-like layers absorb BN and activation; everything else is 1:1. Each
// rule is bound to the CpuLowerer job that lowers it (longest match wins, layer_table.h). The cpu
// target takes the emc_int8 style: after these rows, every node kind's own emc_int8 rules
// (kind_lowering.h).
using K = NodeKind;
using L = CpuLowerer;
const std::vector<CpuRule> kCpuRules = with_kind_rules<CpuRule>(
    {
        {{"conv2d",
          {maybe({K::kZeroPad}), one_of({K::kConv2D}), maybe({K::kBatchNorm}),
           maybe({K::kActivation})}},
         &member_job<&L::lower_conv_unit>},
        {{"depthwise_conv2d",
          {maybe({K::kZeroPad}), one_of({K::kDepthwiseConv2D}), maybe({K::kBatchNorm}),
           maybe({K::kActivation})}},
         &member_job<&L::lower_conv_unit>},
        {{"fully_connected",
          {one_of({K::kDense}), maybe({K::kBatchNorm}), maybe({K::kActivation})}},
         &member_job<&L::lower_dense_unit>},
        {{"max_pool2d", {maybe({K::kZeroPad}), one_of({K::kMaxPool})}},
         &member_job<&L::lower_max_pool_unit>},
        {{"average_pool2d", {maybe({K::kZeroPad}), one_of({K::kAvgPool})}},
         &member_job<&L::lower_avg_pool_unit>},
        {{"global_average_pool2d", {one_of({K::kGlobalAvgPool})}},
         &member_job<&L::lower_global_avg_pool_unit>},
        {{"global_max_pool2d", {one_of({K::kGlobalMaxPool})}},
         &member_job<&L::lower_global_max_pool_unit>},
        {{"add", {one_of({K::kAdd}), maybe({K::kActivation})}}, &member_job<&L::lower_add_unit>},
        {{"concat", {one_of({K::kConcat})}}, &member_job<&L::lower_concat_unit>},
        {{"softmax", {one_of({K::kSoftmax})}}, &member_job<&L::lower_softmax_unit>},
        {{"flatten", {one_of({K::kFlatten})}}, &member_job<&L::lower_alias_unit>},
        {{"reshape", {one_of({K::kReshape})}}, &member_job<&L::lower_alias_unit>},
        {{"identity", {one_of({K::kIdentity})}}, &member_job<&L::lower_alias_unit>},
        {{"batch_norm", {one_of({K::kBatchNorm}), maybe({K::kActivation})}},
         &member_job<&L::lower_batch_norm_unit>},
        {{"activation", {one_of({K::kActivation})}}, &member_job<&L::lower_activation_unit>},
        {{"zero_pad", {one_of({K::kZeroPad})}}, &member_job<&L::lower_zero_pad_unit>},
        {{"elementwise",
          {one_of({K::kSubtract, K::kMultiply, K::kMaximum, K::kMinimum, K::kAverage}),
           maybe({K::kActivation})}},
         &member_job<&L::lower_elementwise_unit>},
        {{"crop", {one_of({K::kCrop})}}, &member_job<&L::lower_crop_unit>},
    },
    &KindLowering::emc_int8);

}  // namespace

// ---- representation changes ----------------------------------------------------------------

void CpuLowerer::ensure_q(TensorId t, const Node& ctx) {
  Form& f = form(t);
  if (f.q >= 0) return;
  const Shape& s = g_.shape(t);
  if (f.pixel >= 0) {
    // Pixels -> the tensor's int8 grid: a 1x1 depthwise conv, real = (p - mean) / std. With one
    // (mean, std) for all channels and an integer mean, that grid is the pixels' own (scale 1/std,
    // zero point mean - 128): exact for every pixel, where a calibrated range narrower than
    // 0..255 (a few dark images, a tiny map) would round the input.
    if (!f.quant && !f.stdv.empty() && f.stdv[0] > 0 && f.mean[0] == std::round(f.mean[0]) &&
        f.mean[0] >= 0 && f.mean[0] <= 255 &&
        std::all_of(f.mean.begin(), f.mean.end(), [&](double m) { return m == f.mean[0]; }) &&
        std::all_of(f.stdv.begin(), f.stdv.end(), [&](double v) { return v == f.stdv[0]; }))
      f.quant = Int8Quant{1.0 / f.stdv[0], std::int32_t(f.mean[0]) - 128};
    const Int8Quant q = quant_of(t);
    const std::int32_t c = s.c();
    std::vector<float> a(static_cast<std::size_t>(c)), b(a.size());
    const std::int32_t zx = padding_pixel(f.mean);
    FloatConv fc = depthwise_1x1_geometry(s);
    fc.weights.resize(a.size());
    fc.bias.resize(a.size());
    for (int i = 0; i < c; ++i) {
      fc.weights[i] = static_cast<float>(1.0 / f.stdv[i]);
      fc.bias[i] = static_cast<float>((zx - f.mean[i]) / f.stdv[i]);
    }
    Int8Quant in_q;
    in_q.scale = 1.0;
    in_q.zero_point = zx - 128;
    f.q = emit_conv(std::move(fc), f.pixel, in_q, q, t, ctx, {},
                    "input pixels (stored as p - 128) to '" + g_.tensor(t).name + "'",
                    exact_moments());
    return;
  }
  if (f.f >= 0) {
    const Int8Quant q = quant_of(t);
    format::EmcQuantizeInt8Body b;
    b.count = static_cast<std::uint32_t>(count(t));
    b.scale = static_cast<float>(q.scale);
    b.zero_point = q.zero_point;
    const int ob = buffer(b.count, ctx.layer_ref());
    LayerInfo info;
    info.note = "quantize '" + g_.tensor(t).name + "' (" + quant_note(q) + ")";
    info.out_shape = s.dims;
    const int in = f.f;
    add(LayerType::kEmcQuantizeInt8, b, info,
        {fix(in, &format::EmcQuantizeInt8Body::main_mem_in_address),
         fix(ob, &format::EmcQuantizeInt8Body::main_mem_out_address)},
        in, ob);
    f.q = ob;
    return;
  }
  throw ErrorException(Error(Errc::kInternal, "tensor '" + g_.tensor(t).name + "' has no value")
                           .with_layer(ctx.layer_ref()));
}

void CpuLowerer::ensure_f(TensorId t, const Node& ctx) {
  Form& f = form(t);
  if (f.f >= 0) return;
  ensure_q(t, ctx);
  const Int8Quant q = quant_of(t);
  format::EmcQuantizeInt8Body b;
  b.count = static_cast<std::uint32_t>(count(t));
  b.scale = static_cast<float>(q.scale);
  b.zero_point = q.zero_point;
  const int ob = buffer(std::uint64_t{b.count} * 4, ctx.layer_ref());
  LayerInfo info;
  info.note = "dequantize '" + g_.tensor(t).name + "'";
  info.out_shape = g_.shape(t).dims;
  const int in = f.q;
  add(LayerType::kEmcDequantizeInt8, b, info,
      {fix(in, &format::EmcQuantizeInt8Body::main_mem_in_address),
       fix(ob, &format::EmcQuantizeInt8Body::main_mem_out_address)},
      in, ob);
  f.f = ob;
}

void CpuLowerer::finish_float(TensorId t, int f_buf, const Activation& act) {
  Form& f = form(t);
  f.f = f_buf;
  if (act.is_linear()) return;
  // The clamp: quantize at once onto a grid whose lowest code is real 0 (and whose top is at most
  // the max value); the unclamped float form is not kept.
  const Range& r = ranges_.at(static_cast<std::size_t>(t));
  double hi = std::max(r.max, 1e-6);
  if (std::isfinite(act.max_value)) hi = std::min<double>(hi, act.max_value);
  f.quant = int8_quant_from_range(0.0, hi).value();
  const Node* prod = g_.producer(t) >= 0 ? &g_.nodes[std::size_t(g_.producer(t))] : nullptr;
  Node dummy;
  ensure_q(t, prod ? *prod : dummy);
  out_.layers.back().info.note += "; " + to_string(act) + " as the int8 clamp";
  f.f = -1;
}

InputMoments CpuLowerer::input_moments(TensorId t) {
  InputMoments m = moments_of(ranges_.at(std::size_t(t)));
  const Form& f = form(t);
  m.err_mean = f.err_mean;
  m.err_var = f.err_var;
  m.err_bound = f.err_bound;
  m.unresolved_from = f.unresolved_from;
  // No error stated by its producer: the rounding of its own values onto the int8 grid (a map's
  // near-constant channels round the same way every time).
  if (m.err_mean.empty() && f.q >= 0 && f.quant && g_.shape(t).rank() == 3 && f.chw_of.empty() &&
      !f.hwc)
    grid_rounding_error(ranges_.at(std::size_t(t)), f.quant->scale, f.quant->dequantize(-128),
                        f.quant->dequantize(127), m.err_mean, m.err_var);
  return m;
}

int CpuLowerer::emit_conv(FloatConv fc, int in_buf, const Int8Quant& in_q, const Int8Quant& out_q,
                          TensorId out, const Node& n, std::vector<std::string> sources,
                          std::string note, const InputMoments& in, bool bias_correct,
                          const Padding4& in_pad) {
  EmcConvLayer l = make_emc_conv(fc, in_q, out_q, n, std::move(sources), note, in,
                                 opt_.bias_correction && bias_correct, in_pad);
  const std::string origin =
      add_precision_warning(l.rounding.warning, in.unresolved_from, n.source.name);
  if (out != kNoTensor) form(out).unresolved_from = origin;
  // (A vector's stored order need not be its channels': only maps carry an error.)
  if (out != kNoTensor && g_.shape(out).rank() == 3 && form(out).chw_of.empty() && !form(out).hwc)
    carried_error(l.rounding, ranges_.at(std::size_t(out)), out_q.scale, form(out).err_mean,
                  form(out).err_var, form(out).err_bound);
  // The border shift its input carries (a folded normalization's, through linear convs).
  for (double bound : l.rounding.err_bound)
    if (bound > l.info.border_error.value_or(0.0)) l.info.border_error = bound;
  const auto& geo = l.body.geo;
  const int ob =
      buffer(std::uint64_t(geo.out_height) * geo.out_width * geo.out_channels, n.layer_ref());
  if (out != kNoTensor) {
    form(out).quant = out_q;
    form(out).q = ob;
  }
  add(l.type, std::move(l.body), std::move(l.info),
      {fix_emc_conv(in_buf, true), fix_emc_conv(ob, false)}, in_buf, ob);
  return ob;
}

void CpuLowerer::emit_affine(TensorId in, TensorId out, const std::vector<float>& a,
                             const std::vector<float>& b, const Activation& clamp, const Node& n,
                             const std::string& note) {
  ensure_q(in, n);
  const Shape& s = g_.shape(in);
  const Form& fi = form(in);
  FloatConv fc;
  // Rank 3: a CHW map; otherwise a vector, one "channel" per stored element.
  const bool map = s.rank() == 3 && fi.chw_of.empty() && !fi.hwc;
  const std::int32_t c = map ? s.c() : static_cast<std::int32_t>(count(in));
  fc.geo.in_height = fc.geo.out_height = map ? std::uint32_t(s.h()) : 1u;
  fc.geo.in_width = fc.geo.out_width = map ? std::uint32_t(s.w()) : 1u;
  fc.geo.in_channels = fc.geo.out_channels = std::uint32_t(c);
  fc.geo.kernel_width = fc.geo.kernel_height = 1;
  fc.geo.stride_width = fc.geo.stride_height = 1;
  fc.geo.dilation_width = fc.geo.dilation_height = 1;
  fc.depthwise = true;
  fc.weights.resize(static_cast<std::size_t>(c));
  fc.bias.resize(fc.weights.size());
  const std::int32_t pc = static_cast<std::int32_t>(a.size());  // parameter channels (last axis)
  for (std::int32_t j = 0; j < c; ++j) {
    std::int32_t k = j;
    if (!map) {
      std::int32_t logical = j;  // stored element j holds element `logical` of the tensor
      if (!fi.chw_of.empty()) {
        const auto& d = fi.chw_of;
        const std::int32_t hw = d[0] * d[1], ch = j / hw, p = j % hw;
        logical = p * d[2] + ch;
      }
      k = logical % pc;
    }
    fc.weights[std::size_t(j)] = a[std::size_t(k)];
    fc.bias[std::size_t(j)] = b[std::size_t(k)];
  }
  if (!clamp.is_linear()) {
    fc.act_min = 0;
    if (std::isfinite(clamp.max_value)) fc.act_max = clamp.max_value;
  }
  const int ib = form(in).q;
  emit_conv(std::move(fc), ib, quant_of(in), quant_of(out), out, n, sources_of(n), note,
            map ? input_moments(in) : InputMoments{});
  form(out).chw_of = fi.chw_of;
  form(out).hwc = fi.hwc;
}

int CpuLowerer::emit_table(int in_buf, std::uint64_t n, const Int8Quant& qi, const Int8Quant& qo,
                           const std::function<double(double)>& fn, const Node& ctx,
                           std::vector<std::string> sources, std::string note,
                           std::vector<int32_t> shape) {
  format::RequantizeBody b;
  b.count = static_cast<std::uint32_t>(n);
  for (int v = 0; v < 256; ++v) {
    const int code = v < 128 ? v : v - 256;  // the byte as int8
    const double y = fn(qi.dequantize(code));
    double q = std::isnan(y) ? qo.zero_point : std::round(y / qo.scale) + qo.zero_point;
    q = std::clamp(q, -128.0, 127.0);
    b.table[std::size_t(v)] = static_cast<std::uint8_t>(static_cast<std::int32_t>(q) & 0xff);
  }
  const int ob = buffer(n, ctx.layer_ref());
  LayerInfo info;
  info.sources = std::move(sources);
  info.note = note + " as a 256-entry int8 table (" + quant_note(qo) + ")";
  info.in_shape = shape;
  info.out_shape = std::move(shape);
  info.weight_bytes = 256;
  add(LayerType::kRequantize, b, info,
      {fix(in_buf, &format::RequantizeBody::main_mem_in_address),
       fix(ob, &format::RequantizeBody::main_mem_out_address)},
      in_buf, ob);
  return ob;
}

// ---- units ------------------------------------------------------------------------------------

void CpuLowerer::lower_conv(const std::vector<int>& nodes) {
  const Node *pad = nullptr, *conv = nullptr, *bn = nullptr, *actn = nullptr;
  for (int i : nodes) {
    const Node& n = g_.nodes[std::size_t(i)];
    if (n.kind == NodeKind::kZeroPad)
      pad = &n;
    else if (n.kind == NodeKind::kBatchNorm)
      bn = &n;
    else if (n.kind == NodeKind::kActivation)
      actn = &n;
    else
      conv = &n;
  }
  const Node& c = *conv;
  if (bn && !c.activation.is_linear()) {
    // conv(activation) -> BN: the conv alone, then the BN as its own affine layer.
    std::vector<int> first, rest;
    for (int i : nodes) {
      const NodeKind k = g_.nodes[std::size_t(i)].kind;
      (k == NodeKind::kBatchNorm || k == NodeKind::kActivation ? rest : first).push_back(i);
    }
    lower_conv(first);
    lower_unit(match_of(&member_job<&CpuLowerer::lower_batch_norm_unit>, rest));
    return;
  }
  const TensorId tin = pad ? pad->inputs[0] : c.inputs[0];
  const Shape& ins = g_.shape(tin);
  if (ins.rank() != 3) fail(Errc::kShapeMismatch, "expects a [H, W, C] input", c);
  const std::int32_t cin = ins.c();
  const bool dw = c.kind == NodeKind::kDepthwiseConv2D;
  const std::int32_t cout = dw ? cin * c.depth_multiplier : c.filters;
  std::vector<float> w = emc_conv_weights(c, cin);
  std::vector<float> b(std::size_t(cout), 0.0f);
  if (c.has_bias()) b = c.bias;
  Activation act = c.activation;
  TensorId out = c.output;
  std::vector<std::string> sources;
  for (int i : nodes) {
    const Node& n = g_.nodes[std::size_t(i)];
    if (n.source_layers.empty()) sources.push_back(n.source.name);
    sources.insert(sources.end(), n.source_layers.begin(), n.source_layers.end());
  }
  if (bn) {
    const std::size_t per = w.size() / std::size_t(cout);
    for (std::int32_t o = 0; o < cout; ++o) {
      const double s = bn->gamma[o] / std::sqrt(double(bn->variance[o]) + bn->epsilon);
      for (std::size_t i = 0; i < per; ++i) w[o * per + i] = float(w[o * per + i] * s);
      b[o] = float((b[o] - bn->mean[o]) * s + bn->beta[o]);
    }
    act = bn->activation;
    out = bn->output;
  }
  if (actn) {
    if (!act.is_linear()) fail(Errc::kUnsupportedLayer, "two activations in a row", *actn);
    act = actn->activation;
    out = actn->output;
  }
  if (!is_clamp(act)) {
    fail(Errc::kUnsupportedLayer,
         "activation " + to_string(act) +
             " fused into a convolution: -p cpu applies only linear/ReLU/ReLU6 as the int8 clamp; "
             "convert() splits other activations off (split_cpu_activations) so that their input "
             "is calibrated",
         c);
  }
  Padding4 pd = c.pad;
  if (pad) {
    pd += pad->pad;
  }
  FloatConv fc = float_conv_geometry(c, ins, g_.shape(c.output), pd);
  if (!act.is_linear()) {
    fc.act_min = 0;
    if (std::isfinite(act.max_value)) fc.act_max = act.max_value;
  }
  require_chw(tin, c);
  Form& fi = form(tin);
  Int8Quant in_q;
  int in_buf = -1;
  std::string note;
  double border_error = 0;
  auto& g = fc.geo;
  const auto win_h = std::int32_t(g.dilation_height * (g.kernel_height - 1) + 1);
  const auto win_w = std::int32_t(g.dilation_width * (g.kernel_width - 1) + 1);
  const bool explicit_pad =
      pd.top >= win_h || pd.bottom >= win_h || pd.left >= win_w || pd.right >= win_w;
  // A padded conv folds the normalization only when one pixel maps to 0.0 in every channel (to
  // half a pixel step); otherwise it reads the input on its int8 grid (ensure_q), whose zero
  // point is exactly 0.0.
  bool far = false;
  if (fi.pixel >= 0) padding_pixel(fi.mean, &far);
  if (fi.pixel >= 0 && fi.q < 0 && !explicit_pad && !(far && !pd.is_zero())) {
    in_q = fold_input_normalization(c, dw, fi.mean, fi.stdv, !pd.is_zero(), w, b, out_.warnings,
                                    border_error);
    in_buf = fi.pixel;
    note = "reads the input pixels (stored as p - 128), normalization folded in";
  } else {
    ensure_q(tin, c);
    in_q = quant_of(tin);
    in_buf = fi.q;
  }
  if (explicit_pad) {
    // Some outputs see only padding (e.g. ZeroPadding2D(1) before a 1x3 conv): the EMC conv has
    // no such window, so the padding becomes its own EMC_PAD_CROP_INT8 (fill = real 0, exact).
    in_buf = emit_pad_crop_buffer(in_buf, ins, in_q.zero_point, pd, c, sources,
                                  "the conv's zero padding (it has windows of only padding)");
    g.in_height = std::uint32_t(ins.h() + pd.top + pd.bottom);
    g.in_width = std::uint32_t(ins.w() + pd.left + pd.right);
    g.pad_top = g.pad_bottom = g.pad_left = g.pad_right = 0;
  }
  fc.weights = std::move(w);
  fc.bias = std::move(b);
  // A conv reading the pixels keeps its float bias (no bias correction).
  const bool pixels = fi.pixel >= 0 && in_buf == fi.pixel;
  const Range& rin = ranges_.at(std::size_t(tin));
  emit_conv(
      std::move(fc), in_buf, in_q, quant_of(out), out, c, sources, note,
      pixels ? pixel_moments(rin, fi.mean, fi.stdv, in_q.zero_point + 128) : input_moments(tin),
      !pixels, explicit_pad ? pd : Padding4{});
  if (border_error > 0) {
    out_.layers.back().info.border_error = border_error;
    // Its border outputs are off by up to that much: a bound the next linear convs carry on
    // (carried_error keeps a bound only after a conv without clamp).
    if (Form& fo = form(out); !fo.err_mean.empty() && act.is_linear()) {
      fo.err_bound.resize(fo.err_mean.size(), 0.0);
      for (double& bound : fo.err_bound) bound += border_error;
    }
  }
}

void CpuLowerer::lower_dense(const std::vector<int>& nodes) {
  const Node& d = g_.nodes[std::size_t(nodes.front())];
  Activation act = d.activation;
  TensorId out = d.output;
  std::vector<float> w = d.kernel;  // [in][units]
  std::vector<float> b = d.has_bias() ? d.bias : std::vector<float>(std::size_t(d.filters), 0.f);
  std::vector<std::string> src = sources_of(d);
  const std::int32_t units = d.filters;
  for (std::size_t i = 1; i < nodes.size(); ++i) {
    const Node& n = g_.nodes[std::size_t(nodes[i])];
    if (n.kind == NodeKind::kBatchNorm) {
      if (!act.is_linear()) {  // Dense(activation) -> BN: the BN on its own
        lower_dense({nodes.front()});
        std::vector<int> rest(nodes.begin() + std::ptrdiff_t(i), nodes.end());
        lower_unit(match_of(&member_job<&CpuLowerer::lower_batch_norm_unit>, rest));
        return;
      }
      const std::size_t n_in = w.size() / std::size_t(units);
      for (std::int32_t o = 0; o < units; ++o) {
        const double s = n.gamma[o] / std::sqrt(double(n.variance[o]) + n.epsilon);
        for (std::size_t k = 0; k < n_in; ++k) w[k * units + o] = float(w[k * units + o] * s);
        b[o] = float((b[o] - n.mean[o]) * s + n.beta[o]);
      }
      act = n.activation;
    } else {
      if (!act.is_linear()) fail(Errc::kUnsupportedLayer, "two activations in a row", n);
      act = n.activation;
    }
    out = n.output;
    src.push_back(n.source.name);
  }
  if (!is_clamp(act)) {
    fail(Errc::kUnsupportedLayer,
         "activation " + to_string(act) +
             " fused into a dense layer: -p cpu applies only linear/ReLU/ReLU6 as the int8 clamp",
         d);
  }
  const TensorId in = d.inputs[0];
  const Shape& is = g_.shape(in);
  ensure_q(in, d);
  const Form& fi = form(in);
  FloatConv fc;
  auto& g = fc.geo;
  std::int32_t n_in = is.c();
  std::string note = "dense as a 1x1 conv";
  if (is.rank() == 3) require_chw(in, d);
  if (is.rank() == 3 && fi.chw_of.empty()) {  // applied to the last axis of a map: a 1x1 conv
    g.in_height = g.out_height = std::uint32_t(is.h());
    g.in_width = g.out_width = std::uint32_t(is.w());
  } else if (is.rank() == 1) {
    g.in_height = g.out_height = g.in_width = g.out_width = 1;
  } else {
    fail(Errc::kUnsupportedLayer,
         "Dense on a " + to_string(is) + " tensor: -p cpu runs Dense on vectors and [H, W, C] maps",
         d);
  }
  g.in_channels = std::uint32_t(n_in);
  g.out_channels = std::uint32_t(units);
  g.kernel_width = g.kernel_height = g.stride_width = g.stride_height = 1;
  g.dilation_width = g.dilation_height = 1;
  // Stored input order: CHW of chw_of when the vector is a flatten of a map (Keras flattens NHWC).
  std::vector<std::int32_t> logical(static_cast<std::size_t>(n_in));
  for (std::int32_t i = 0; i < n_in; ++i) logical[std::size_t(i)] = i;
  if (!fi.chw_of.empty()) {
    const std::int32_t H = fi.chw_of[0], W = fi.chw_of[1], C = fi.chw_of[2];
    for (std::int32_t ch = 0; ch < C; ++ch)
      for (std::int32_t y = 0; y < H; ++y)
        for (std::int32_t x = 0; x < W; ++x)
          logical[std::size_t((ch * H + y) * W + x)] = (y * W + x) * C + ch;
    note += "; weights permuted to read the CHW input";
  }
  fc.weights.resize(std::size_t(n_in) * units);
  for (std::int32_t o = 0; o < units; ++o)
    for (std::int32_t i = 0; i < n_in; ++i)
      fc.weights[std::size_t(o) * n_in + i] = w[std::size_t(logical[std::size_t(i)]) * units + o];
  fc.bias = std::move(b);
  if (!act.is_linear()) {
    fc.act_min = 0;
    if (std::isfinite(act.max_value)) fc.act_max = act.max_value;
  }
  // Per stored input element: element i holds logical element logical[i].
  const auto stored = [&](const std::vector<double>& per_logical) {
    std::vector<double> v;
    if (per_logical.size() != std::size_t(n_in)) return v;
    for (std::int32_t i = 0; i < n_in; ++i)
      v.push_back(per_logical[std::size_t(logical[std::size_t(i)])]);
    return v;
  };
  const Range& ri = ranges_.at(std::size_t(in));
  InputMoments moments;
  moments.mean = stored(ri.channel_mean);
  moments.mean_square = stored(ri.channel_mean_square);
  emit_conv(std::move(fc), fi.q, quant_of(in), quant_of(out), out, d, src, note, moments, true);
}

bool CpuLowerer::fold_into_pixels(const Node& n) {
  // A per-channel affine layer on the input pixels folds into the pixel mapping when the new
  // mean is a pixel.
  const Form& fi = form(n.inputs[0]);
  const ChannelAffine a = input_affine(n);
  if (fi.pixel < 0 || fi.q >= 0 || !a.foldable()) return false;
  std::vector<double> mean = fi.mean, stdv = fi.stdv;
  if (!a.fold_into(mean, stdv)) return false;
  double msum = 0;
  for (double m : mean) msum += m;
  const double zx = std::round(msum / double(mean.size()));
  if (!(zx >= 0 && zx <= 255)) return false;
  Form& fo = form(n.output);
  fo.pixel = fi.pixel;
  fo.mean = std::move(mean);
  fo.stdv = std::move(stdv);
  return true;
}

void CpuLowerer::lower_batch_norm(const Node& n, const Activation& act, TensorId out) {
  if (out == n.output && fold_into_pixels(n)) return;
  if (!is_clamp(act))
    fail(Errc::kUnsupportedLayer,
         "activation " + to_string(act) + " fused into a BatchNormalization (-p cpu: clamps only)",
         n);
  std::vector<float> a(n.gamma.size()), b(n.gamma.size());
  for (std::size_t c = 0; c < a.size(); ++c) {
    const double s = n.gamma[c] / std::sqrt(double(n.variance[c]) + n.epsilon);
    a[c] = float(s);
    b[c] = float(n.beta[c] - n.mean[c] * s);
  }
  emit_affine(n.inputs[0], out, a, b, act, n, "batch norm as a 1x1 depthwise conv");
}

void CpuLowerer::lower_activation(const Node& n) {
  const TensorId in = n.inputs[0];
  const Activation& a = n.activation;
  if (fold_into_pixels(n)) return;
  ensure_q(in, n);
  const int ob = emit_table(
      form(in).q, std::uint64_t(count(in)), quant_of(in), quant_of(n.output),
      [&](double x) { return activation_value(a, x); }, n, sources_of(n), to_string(a),
      g_.shape(n.output).dims);
  form(n.output).q = ob;
  form(n.output).chw_of = form(in).chw_of;
  form(n.output).hwc = form(in).hwc;
}

void CpuLowerer::emit_pool(const Node& n, bool average, std::int32_t kh, std::int32_t kw,
                           std::int32_t sh, std::int32_t sw, const Padding4& pad,
                           const std::string& note) {
  const TensorId in = n.inputs[0];
  const Shape& s = g_.shape(in);
  const Shape& os = g_.shape(n.output);
  ensure_q(in, n);
  const Int8Quant qi = quant_of(in);
  if (!average) form(n.output).quant = qi;  // the max keeps the codes: M = 1, exact
  const Int8Quant qo = quant_of(n.output);
  format::EmcPool2dInt8Body b;
  b.in_width = std::uint32_t(s.w());
  b.in_height = std::uint32_t(s.h());
  b.channels = std::uint32_t(s.c());
  b.out_width = std::uint32_t(os.rank() == 3 ? os.w() : 1);
  b.out_height = std::uint32_t(os.rank() == 3 ? os.h() : 1);
  b.kernel_width = std::uint32_t(kw);
  b.kernel_height = std::uint32_t(kh);
  b.stride_width = std::uint32_t(sw);
  b.stride_height = std::uint32_t(sh);
  b.pad_left = std::uint32_t(pad.left);
  b.pad_right = std::uint32_t(pad.right);
  b.pad_top = std::uint32_t(pad.top);
  b.pad_bottom = std::uint32_t(pad.bottom);
  b.input_zero_point = qi.zero_point;
  b.output_zero_point = qo.zero_point;
  auto st = quantize_multiplier(qi.scale / qo.scale, b.multiplier, b.shift);
  if (!st.ok()) throw ErrorException(std::move(st).error().with_layer(n.layer_ref()));
  const int ob = buffer(std::uint64_t(os.num_elements()), n.layer_ref());
  LayerInfo info;
  info.sources = sources_of(n);
  info.in_shape = s.dims;
  info.out_shape = os.dims;
  info.note = note + " (" + quant_note(qo) + ")";
  const int ib = form(in).q;
  add(average ? LayerType::kEmcAveragePool2dInt8 : LayerType::kEmcMaxPool2dInt8, b, info,
      {fix(ib, &format::EmcPool2dInt8Body::main_mem_in_address),
       fix(ob, &format::EmcPool2dInt8Body::main_mem_out_address)},
      ib, ob);
  form(n.output).q = ob;
}

bool CpuLowerer::emit_elementwise_int8(const Node& n, format::EmcElementwiseOp op, int average_of,
                                       const Activation& act, TensorId out) {
  if (n.inputs.size() != 2) return false;
  for (TensorId t : n.inputs) {
    ensure_q(t, n);
    if (form(t).hwc != form(n.inputs[0]).hwc || form(t).chw_of != form(n.inputs[0]).chw_of)
      fail(Errc::kUnsupportedLayer,
           "combines tensors stored in different orders (NHWC / CHW / a flattened map)", n);
  }
  if (!(g_.shape(n.inputs[0]) == g_.shape(n.inputs[1])) ||
      !(g_.shape(out) == g_.shape(n.inputs[0])))
    fail(Errc::kUnsupportedLayer,
         "elementwise inputs " + to_string(g_.shape(n.inputs[0])) + " and " +
             to_string(g_.shape(n.inputs[1])) + ": -p cpu combines tensors of the same shape",
         n);
  const Int8Quant qa = quant_of(n.inputs[0]), qb = quant_of(n.inputs[1]);
  const Int8Quant qo = emc_elementwise_out_quant(quant_of(out), act, ranges_.at(std::size_t(out)));
  if (!act.is_linear()) form(out).quant = qo;
  auto l = make_emc_elementwise({op, average_of}, qa, qb, qo, act, g_.shape(out), sources_of(n));
  if (!l) return false;
  const int ob = buffer(std::uint64_t(count(out)), n.layer_ref());
  const int ia = form(n.inputs[0]).q, ib = form(n.inputs[1]).q;
  add(LayerType::kEmcElementwiseInt8, l->body, std::move(l->info), fix_emc_elementwise(ia, ib, ob),
      ia, ob);
  form(out).q = ob;
  form(out).hwc = form(n.inputs[0]).hwc;
  form(out).chw_of = form(n.inputs[0]).chw_of;
  return true;
}

void CpuLowerer::lower_elementwise(const Node& n, const Activation& act, TensorId out) {
  if (!is_clamp(act))
    fail(Errc::kUnsupportedLayer,
         "activation " + to_string(act) + " fused into an elementwise layer (-p cpu: clamps only)",
         n);
  const EmcElementwiseOp e = emc_elementwise_op(n, "cpu");
  if (!emit_elementwise_int8(n, e.op, e.average_of, act, out))
    fail(Errc::kUnsupportedLayer,
         "the int8 requantization of this " + std::string(to_string(n.kind)) +
             " does not fit EMC_ELEMENTWISE_INT8 (input and output scales too far apart)",
         n);
}

int CpuLowerer::emit_pad_crop_buffer(int in_buf, const Shape& s, std::int32_t zp, const Padding4& p,
                                     const Node& ctx, std::vector<std::string> sources,
                                     const std::string& note) {
  EmcPadCropLayer l = make_emc_pad_crop(s, zp, p, ctx, std::move(sources), note);
  const int ob = buffer(l.out_bytes, ctx.layer_ref());
  add(LayerType::kEmcPadCropInt8, l.body, std::move(l.info), fix_emc_pad_crop(in_buf, ob), in_buf,
      ob);
  return ob;
}

void CpuLowerer::emit_pad_crop(const Node& n, std::int32_t top, std::int32_t bottom,
                               std::int32_t left, std::int32_t right, const std::string& note) {
  const TensorId in = n.inputs[0];
  const Shape& s = g_.shape(in);
  if (s.rank() != 3) fail(Errc::kShapeMismatch, "expects a [H, W, C] input", n);
  require_chw(in, n);
  ensure_q(in, n);
  const Int8Quant q = quant_of(in);
  form(n.output).quant = q;  // the codes are kept; the fill is real 0
  form(n.output).q = emit_pad_crop_buffer(
      form(in).q, s, q.zero_point, Padding4{top, bottom, left, right}, n, sources_of(n), note);
}

void CpuLowerer::lower_max_pool(const Node& n) {
  const TensorId in = n.inputs[0];
  if (n.pool_pad_mode == PoolPadMode::kZeros && !n.pad.is_zero() &&
      ranges_.at(std::size_t(in)).min < 0) {
    fail(Errc::kUnsupportedLayer,
         "max pooling over explicit zero padding of a tensor with negative values (the int8 max "
         "pool ignores padded taps; exact only when the input is never negative)",
         n);
  }
  require_chw(in, n);
  emit_pool(n, false, n.kernel_h, n.kernel_w, n.stride_h, n.stride_w, n.pad,
            "int8 max pool (codes kept: exact)");
}

void CpuLowerer::lower_avg_pool(const Node& n) {
  const TensorId in = n.inputs[0];
  const Shape& s = g_.shape(in);
  const Shape& os = g_.shape(n.output);
  require_chw(in, n);
  const bool all_inside = n.pad.is_zero() || n.pool_pad_mode == PoolPadMode::kZeros;
  const std::uint64_t taps = std::uint64_t(n.kernel_h) * std::uint64_t(n.kernel_w);
  if (all_inside && taps <= kMaxInt8Taps) {
    // Every window has kh*kw taps (padding counts as zeros): a depthwise conv of 1/(kh*kw),
    // exact in int8 (the weights quantize to 127 each).
    ensure_q(in, n);
    FloatConv fc;
    auto& g = fc.geo;
    g.in_height = std::uint32_t(s.h());
    g.in_width = std::uint32_t(s.w());
    g.in_channels = g.out_channels = std::uint32_t(s.c());
    g.out_height = std::uint32_t(os.h());
    g.out_width = std::uint32_t(os.w());
    g.kernel_height = std::uint32_t(n.kernel_h);
    g.kernel_width = std::uint32_t(n.kernel_w);
    g.stride_height = std::uint32_t(n.stride_h);
    g.stride_width = std::uint32_t(n.stride_w);
    g.dilation_height = g.dilation_width = 1;
    g.pad_top = std::uint32_t(n.pad.top);
    g.pad_bottom = std::uint32_t(n.pad.bottom);
    g.pad_left = std::uint32_t(n.pad.left);
    g.pad_right = std::uint32_t(n.pad.right);
    fc.depthwise = true;
    fc.weights.assign(std::size_t(s.c()) * taps, float(1.0 / double(taps)));
    fc.bias.assign(std::size_t(s.c()), 0.0f);
    emit_conv(std::move(fc), form(in).q, quant_of(in), quant_of(n.output), n.output, n,
              sources_of(n), "average pool as a depthwise conv", input_moments(in));
    return;
  }
  if (n.pool_pad_mode == PoolPadMode::kZeros) {
    fail(Errc::kUnsupportedLayer,
         "average pooling over explicit zero padding with a window of " + std::to_string(taps) +
             " taps",
         n);
  }
  if (taps <= (1u << 23)) {  // Keras 'same': the mean of the valid taps
    emit_pool(n, true, n.kernel_h, n.kernel_w, n.stride_h, n.stride_w, n.pad,
              "int8 average pool over the valid taps");
    return;
  }
  ensure_f(in, n);
  const format::Pool2dBody b = pool2d_body(n, s, os);
  const int ob = buffer(std::uint64_t(os.num_elements()) * 4, n.layer_ref());
  LayerInfo info;
  info.sources = sources_of(n);
  info.in_shape = s.dims;
  info.out_shape = os.dims;
  info.note = "float ('same' windows average the real pixels only)";
  const int ib = form(in).f;
  add(LayerType::kAveragePool2d, b, info,
      {fix(ib, &format::Pool2dBody::main_mem_in_address),
       fix(ob, &format::Pool2dBody::main_mem_out_address)},
      ib, ob);
  form(n.output).f = ob;
}

void CpuLowerer::lower_global_pool(const Node& n, bool max) {
  const TensorId in = n.inputs[0];
  const Shape& s = g_.shape(in);
  if (s.rank() != 3) fail(Errc::kShapeMismatch, "expects a [H, W, C] input", n);
  require_chw(in, n);
  const std::uint64_t taps = std::uint64_t(s.h()) * std::uint64_t(s.w());
  if (!max && taps <= kMaxInt8Taps) {
    ensure_q(in, n);
    FloatConv fc;
    auto& g = fc.geo;
    g.in_height = g.kernel_height = std::uint32_t(s.h());
    g.in_width = g.kernel_width = std::uint32_t(s.w());
    g.in_channels = g.out_channels = std::uint32_t(s.c());
    g.out_height = g.out_width = 1;
    g.stride_height = g.stride_width = g.dilation_height = g.dilation_width = 1;
    fc.depthwise = true;
    fc.weights.assign(std::size_t(s.c()) * taps, float(1.0 / double(taps)));
    fc.bias.assign(std::size_t(s.c()), 0.0f);
    emit_conv(std::move(fc), form(in).q, quant_of(in), quant_of(n.output), n.output, n,
              sources_of(n), "global average pool as an HxW depthwise conv", input_moments(in));
    return;
  }
  if (max && taps <= (1u << 23)) {
    emit_pool(n, false, s.h(), s.w(), 1, 1, Padding4{}, "int8 global max pool (codes kept: exact)");
    return;
  }
  const Int8Quant q = quant_of(in);
  ensure_f(in, n);
  format::GlobalPoolBody b;
  b.kernel_size = std::uint32_t(taps);
  b.channels = std::uint32_t(s.c());
  const int ob = buffer(std::uint64_t(s.c()) * 4, n.layer_ref());
  LayerInfo info;
  info.sources = sources_of(n);
  info.in_shape = s.dims;
  info.out_shape = g_.shape(n.output).dims;
  info.note = max ? "float; requantized with the input's parameters: exact" : "float";
  const int ib = form(in).f;
  add(max ? LayerType::kGlobalMaxPool2d : LayerType::kGlobalAveragePool2d, b, info,
      {fix(ib, &format::GlobalPoolBody::main_mem_in_address),
       fix(ob, &format::GlobalPoolBody::main_mem_out_address)},
      ib, ob);
  form(n.output).f = ob;
  if (max) form(n.output).quant = q;
}

void CpuLowerer::lower_add(const Node& n, const Activation& act, TensorId out) {
  if (!is_clamp(act))
    fail(Errc::kUnsupportedLayer,
         "activation " + to_string(act) + " fused into an Add (-p cpu: clamps only)", n);
  if (emit_elementwise_int8(n, format::EmcElementwiseOp::kAdd, 0, act, out)) return;
  for (TensorId t : n.inputs) {
    ensure_f(t, n);
    if (form(t).hwc != form(n.inputs[0]).hwc || form(t).chw_of != form(n.inputs[0]).chw_of)
      fail(Errc::kUnsupportedLayer, "adds tensors stored in different orders (NHWC / CHW)", n);
  }
  const auto cnt = static_cast<std::uint32_t>(count(out));
  int acc = form(n.inputs[0]).f;
  for (std::size_t i = 1; i < n.inputs.size(); ++i) {
    format::AddBody b;
    b.count = cnt;
    const int ob = buffer(std::uint64_t(cnt) * 4, n.layer_ref());
    LayerInfo info;
    info.sources = sources_of(n);
    info.out_shape = g_.shape(out).dims;
    info.note = "float (no int8 add type yet)";
    const int bb = form(n.inputs[i]).f;
    add(LayerType::kAdd, b, info,
        {fix(acc, &format::AddBody::main_mem_in_a_address),
         fix(bb, &format::AddBody::main_mem_in_b_address),
         fix(ob, &format::AddBody::main_mem_out_address)},
        acc, ob);
    acc = ob;
  }
  form(out).hwc = form(n.inputs[0]).hwc;
  form(out).chw_of = form(n.inputs[0]).chw_of;
  finish_float(out, acc, act);
}

void CpuLowerer::lower_concat(const Node& n) {
  const Shape& os = g_.shape(n.output);
  check_concat_axis(n, os);
  if (os.rank() != 3 && os.rank() != 1)
    fail(Errc::kUnsupportedLayer, "concatenation of " + to_string(os) + " tensors", n);
  const Int8Quant q = quant_of(n.output);
  const std::uint64_t plane = os.rank() == 3 ? std::uint64_t(os.h()) * std::uint64_t(os.w()) : 1;
  format::EmcConcatInt8Body b;
  b.plane = static_cast<std::uint32_t>(plane);
  std::vector<Int8Quant> qs;
  std::vector<Fixup> fixups;
  for (TensorId t : n.inputs) {
    ensure_q(t, n);
    if (os.rank() == 3) require_chw(t, n);
    if (os.rank() == 1 && !form(t).chw_of.empty())
      fail(Errc::kUnsupportedLayer, "concatenation of a flattened map", n);
    format::EmcConcatInput ci;
    ci.channels = static_cast<std::uint32_t>(std::uint64_t(count(t)) / plane);
    b.inputs.push_back(ci);
    qs.push_back(quant_of(t));
    const std::size_t i = b.inputs.size() - 1;
    fixups.push_back({form(t).q, 0, [i](format::Layer& l, std::uint64_t a) {
                        std::get<format::EmcConcatInt8Body>(l.body).inputs[i].main_mem_address =
                            std::uint32_t(a);
                      }});
  }
  if (auto st = set_concat_int8_params(qs, q, b); !st.ok())
    throw ErrorException(std::move(st).error().with_layer(n.layer_ref()));
  bool copy = true;
  for (const Int8Quant& qi : qs) copy = copy && qi == q;
  const int ob = buffer(std::uint64_t(os.num_elements()), n.layer_ref());
  fixups.push_back(fix(ob, &format::EmcConcatInt8Body::main_mem_out_address));
  LayerInfo info;
  info.sources = sources_of(n);
  info.out_shape = os.dims;
  info.note = std::string(copy ? "int8 byte copy" : "int8, each input requantized") + " (" +
              quant_note(q) + ")";
  add(LayerType::kEmcConcatInt8, b, info, std::move(fixups), -1, ob);
  form(n.output).q = ob;
}

void CpuLowerer::lower_softmax(const Node& n) {
  const TensorId in = n.inputs[0];
  const Shape& s = g_.shape(in);
  const format::ChannelsBody b = softmax_body(n, s);
  const Range& r = ranges_.at(static_cast<std::size_t>(in));
  check_softmax_input(n, r.max);
  if (std::string w = softmax_underflow_warning(n, lowest_sample_max(r)); !w.empty())
    out_.warnings.push_back(std::move(w));
  ensure_f(in, n);
  const int ob = buffer(std::uint64_t(s.c()) * 4, n.layer_ref());
  LayerInfo info;
  info.sources = sources_of(n);
  info.in_shape = s.dims;
  info.out_shape = g_.shape(n.output).dims;
  const int ib = form(in).f;
  add(LayerType::kSoftmax, b, info,
      {fix(ib, &format::ChannelsBody::main_mem_in_address),
       fix(ob, &format::ChannelsBody::main_mem_out_address)},
      ib, ob);
  form(n.output).f = ob;
}

// Flatten / Reshape / Identity: no data movement; a flattened map records its CHW order.
void CpuLowerer::lower_alias(const Node& n) {
  const TensorId in = n.inputs[0];
  if (form(in).pixel >= 0 && n.kind != NodeKind::kIdentity) ensure_q(in, n);
  Form f = form(in);
  if (n.kind != NodeKind::kIdentity) {
    const Shape& is = g_.shape(in);
    const Shape& os = g_.shape(n.output);
    const bool trivial_in = is.rank() == 1 || (is.rank() == 3 && is.h() == 1 && is.w() == 1);
    const bool trivial_out = os.rank() == 1 || (os.rank() == 3 && os.h() == 1 && os.w() == 1);
    // A flatten, or a map reshaped into a model output that nothing else reads (a YOLO head's
    // [7, 7, 30] -> [7, 7, 5, 6]): the values keep their order, recorded as the map's.
    if (is.rank() == 3 && !trivial_in && !(is == os) &&
        (os.rank() == 1 || is_output_only(g_, n.output))) {
      if (f.hwc)
        f.hwc = os.rank() == 3;  // NHWC data is the view's own (row-major) order
      else if (f.chw_of.empty())
        f.chw_of = is.dims;
    } else if (!(trivial_in && trivial_out) && !(is == os)) {
      fail(Errc::kUnsupportedLayer,
           "reshape " + to_string(is) + " -> " + to_string(os) +
               " is not supported (only flatten, [C] <-> [1,1,C], and a reshape of a map into a "
               "model output that no other layer reads)",
           n);
    }
  }
  f.quant = quant_of(in);  // same values, same grid
  form(n.output) = f;
}

void CpuLowerer::lower_unit(const LayerMatch& m) {
  const CpuJob job = kCpuRules.at(m.rule).job;
  // A trailing Activation that is not a clamp runs as its own table (the unit before it writes
  // its calibrated input).
  if (m.nodes.size() > 1 && job != &member_job<&CpuLowerer::lower_activation_unit>) {
    const Node& last = g_.nodes[std::size_t(m.nodes.back())];
    if (last.kind == NodeKind::kActivation && !is_clamp(last.activation)) {
      LayerMatch head = m;
      head.nodes.pop_back();
      lower_unit(head);
      return lower_activation(last);
    }
  }
  job(*this, m);
}

LayerMatch CpuLowerer::match_of(CpuJob job, std::vector<int> nodes) {
  for (std::size_t r = 0; r < kCpuRules.size(); ++r)
    if (kCpuRules[r].job == job) return LayerMatch{r, kCpuRules[r].rule.name, std::move(nodes)};
  throw ErrorException(Error(Errc::kInternal, "the cpu table binds no rule to this job"));
}

void CpuLowerer::describe_outputs() {
  // The first tensor (in id order: a producer's before its aliases) held by each buffer.
  std::vector<TensorId> int8_of(out_.buffers.size(), kNoTensor), f32_of(int8_of);
  for (std::size_t t = forms_.size(); t-- > 0;) {
    const Form& f = forms_[t];
    if (f.q >= 0) int8_of[std::size_t(f.q)] = TensorId(t);
    if (f.f >= 0) f32_of[std::size_t(f.f)] = TensorId(t);
  }
  // A model output that shares its buffer with the map it is a view of (a reshape of a float
  // map) is described as the output: its form says how the buffer holds it.
  for (TensorId t : g_.outputs)
    if (form(t).f >= 0) f32_of[std::size_t(form(t).f)] = t;
  for (LoweredLayer& l : out_.layers) {
    LayerInfo& info = l.info;
    info.float_tensor = "";  // stated for every layer: an intermediate value has none
    if (l.main_out < 0) continue;
    const auto b = std::size_t(l.main_out);
    const TensorId t = int8_of[b] != kNoTensor ? int8_of[b] : f32_of[b];
    if (t == kNoTensor) continue;
    const Form& f = form(t);
    info.float_tensor = g_.tensor(t).name;
    if (int8_of[b] == t) {
      const Int8Quant q = quant_of(t);
      info.dtype = "int8";
      info.out_int8 = true;
      info.out_scale = q.scale;
      info.out_bias = -double(q.zero_point) * q.scale;
    } else {
      info.dtype = "float32";
    }
    if (f.hwc && g_.shape(t).rank() == 3) {
      info.layout = "NHWC";  // tools assume CHW for a map
    } else if (!f.chw_of.empty()) {
      info.layout = "CHW";
      info.map_shape = f.chw_of;
    }
  }
}

LoweredModel CpuLowerer::run() {
  if (g_.inputs.size() != 1) {
    throw ErrorException(Error(
        Errc::kUnsupportedLayer,
        "kmodel V3 has exactly one input; this model has " + std::to_string(g_.inputs.size())));
  }
  auto matches = value_or_throw(match_graph(g_, generic_cpu_layer_table()));
  const auto job_of = [](const LayerMatch& m) { return kCpuRules.at(m.rule).job; };
  const TensorId input = g_.inputs[0];
  const Shape& is = g_.shape(input);
  out_.input_shape = is.dims;
  Form& fi = form(input);
  const LayerRef in_ref{std::nullopt, g_.tensor(input).name, "InputLayer"};
  // An image whose first layer is a conv (after optional per-channel affine layers, Rescaling or
  // Normalization, which fold into the pixel mapping) takes pixels; any other input is float32
  // as the user holds it (NHWC), as on k210.
  bool conv_first = false;
  if (is.rank() == 3 && !matches.empty()) {
    std::size_t k = 0;
    TensorId t = input;
    while (k + 1 < matches.size() && matches[k].nodes.size() == 1) {
      const Node& r = g_.nodes[std::size_t(matches[k].nodes[0])];
      const auto job = job_of(matches[k]);
      if ((job != &member_job<&CpuLowerer::lower_activation_unit> &&
           job != &member_job<&CpuLowerer::lower_batch_norm_unit>) ||
          !input_affine(r).foldable() || r.inputs[0] != t)
        break;
      t = r.output;
      ++k;
    }
    const Node& c = g_.nodes[std::size_t(matches[k].nodes[0])];
    conv_first =
        c.inputs[0] == t && job_of(matches[k]) == &member_job<&CpuLowerer::lower_conv_unit>;
  }
  if (conv_first) {
    // An image: uint8 CHW pixels p, stored by the runtime as the int8 code p - 128; real =
    // (p - mean_c) / std_c per the preprocessing (as the k210 target's uint8 input).
    out_.input_is_uint8 = true;
    fi.pixel = buffer(std::uint64_t(is.num_elements()), in_ref);
    use(fi.pixel, 0);
    const auto& pre = opt_.preprocess;
    const std::int32_t c = is.c();
    const bool uniform = pre.mean[0] == pre.mean[1] && pre.mean[1] == pre.mean[2] &&
                         pre.std[0] == pre.std[1] && pre.std[1] == pre.std[2];
    if (pre.scale == PixelScale::kMeanStd && c != 3 && !uniform)
      throw ErrorException(Error(Errc::kInvalidLayerConfig,
                                 "the input has " + std::to_string(c) +
                                     " channels but --input-range gives 3 different per-channel "
                                     "mean/std values: give one mean and one std for all"));
    for (std::int32_t i = 0; i < c; ++i) {
      const PixelMapping pm = pixel_mapping(pre, c, i);
      fi.mean.push_back(pm.mean);
      fi.stdv.push_back(pm.std);
    }
  } else {
    out_.input_is_uint8 = false;
    fi.f = buffer(std::uint64_t(is.num_elements()) * 4, in_ref);
    fi.hwc = is.rank() == 3;
    use(fi.f, 0);
  }
  for (const auto& m : matches) lower_unit(m);
  for (TensorId t : g_.outputs) {
    const int p = g_.producer(t);
    Node dummy;
    dummy.source.name = g_.tensor(t).name;
    ensure_f(t, p >= 0 ? g_.nodes[std::size_t(p)] : dummy);
    if (!form(t).chw_of.empty())
      out_.warnings.push_back("output '" + g_.tensor(t).name + "' " + to_string(g_.shape(t)) +
                              " holds the CHW planes of the map " +
                              to_string(Shape{form(t).chw_of}) +
                              " (a flatten or reshape of it; the sidecar's map_shape)");
    LoweredOutput o;
    o.buffer = form(t).f;
    o.bytes = static_cast<std::uint32_t>(count(t) * 4);
    out_.outputs.push_back(o);
  }
  if (out_.layers.empty())
    throw ErrorException(Error(Errc::kUnsupportedLayer, "the model has no layer to run"));
  describe_outputs();
  const int last = step() - 1;
  for (const auto& o : out_.outputs) use(o.buffer, last);
  // The runtime places the input where the first layer reads it.
  const LoweredLayer& L0 = out_.layers.front();
  const int in_buf = out_.input_is_uint8 ? fi.pixel : fi.f;
  const LayerType t0 = L0.layer.type;
  const bool ok0 =
      L0.main_in == in_buf &&
      (out_.input_is_uint8 ? (t0 == LayerType::kEmcConv2d || t0 == LayerType::kEmcDepthwiseConv2d)
                           : t0 == LayerType::kEmcQuantizeInt8);
  if (!ok0) {
    throw ErrorException(
        Error(Errc::kUnsupportedLayer, std::string("-p cpu: the first layer would be ") +
                                           std::string(format::to_string(t0)) +
                                           ", which does not take the model input"));
  }
  return std::move(out_);
}

Result<Graph> split_cpu_activations(Graph g) {
  std::vector<Node> nodes;
  nodes.reserve(g.nodes.size());
  for (Node& n : g.nodes) {
    const bool host = n.kind == NodeKind::kConv2D || n.kind == NodeKind::kDepthwiseConv2D ||
                      n.kind == NodeKind::kDense || n.kind == NodeKind::kBatchNorm ||
                      n.kind == NodeKind::kAdd;
    if (!host || is_clamp(n.activation)) {
      nodes.push_back(std::move(n));
      continue;
    }
    const TensorId out = n.output;
    const TensorId pre = g.add_tensor(g.tensor(out).name + "/pre_activation", g.shape(out));
    Node a;
    a.kind = NodeKind::kActivation;
    a.inputs = {pre};
    a.output = out;
    a.activation = n.activation;
    a.source = n.source;
    n.output = pre;
    n.activation = Activation{};
    nodes.push_back(std::move(n));
    nodes.push_back(std::move(a));
  }
  g.nodes = std::move(nodes);
  EMC_TRY(validate_graph(g));
  return g;
}

Result<LoweredModel> lower_cpu_graph(const Graph& graph, const std::vector<Range>& ranges,
                                     const ConvertOptions& options) {
  if (ranges.size() != graph.tensors.size())
    return Error(Errc::kInternal, "lower_cpu_graph: one range per tensor expected");
  try {
    CpuLowerer l(graph, ranges, options);
    return l.run();
  } catch (const ErrorException& e) {
    return e.error();
  }
}

// The target description (target.h): registered in targets.def.
const Target kCpuTarget = {
    .name = "cpu",
    .title = "cpu target",
    .default_backend = "cpu",
    .layers = &generic_cpu_layer_table(),
    .lower = &lower_cpu_graph,
    .prepare_graph = &split_cpu_activations,
    .min_map = 1,
    .max_map_h = 0,  // no KPU: no map limit
    .max_map_w = 0,
    .conv_refusal_note = "",
    .dense_on_kpu = false,
    .emc_types_need_emc_runtime = false,  // EMC's own runtime is this target's runtime
    .limit_bytes = kCpuModelBytes,        // the loader's cap
    .limit_includes_main_memory = false,
    .warn_bytes = 0,
    .weight_budget_text = "cpu target's limit of 64 MiB per kmodel",
    .oversize_hint = "",
};

}  // namespace emc::converter::detail

namespace emc::converter {
const Target* const Target::kCpu = &detail::kCpuTarget;

const LayerTable& generic_cpu_layer_table() {
  static const LayerTable table = [] {
    LayerTable t{"CPU", {}};
    for (const detail::CpuRule& r : detail::kCpuRules) t.rules.push_back(r.rule);
    return t;
  }();
  return table;
}
}  // namespace emc::converter
