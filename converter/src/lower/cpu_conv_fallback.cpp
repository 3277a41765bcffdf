// The CPU fallback of convolutions the KPU cannot run exactly (Target::cpu_conv_fallback, -p
// k210): the conv unit becomes EMC's int8 EMC_CONV2D / EMC_DEPTHWISE_CONV2D (the -p cpu layer,
// lower/emc_conv_layer.h) on int8 CHW maps in main memory.
//
// The boundary is exact both ways. A K210 tensor is uint8 with an integer zero point z
// (real = (q - z)·s, QuantParam); its int8 form is the same grid shifted by 128: q8 = q - 128 with
// zero point z - 128 (in -128..127 since z is in 0..255), real = (q8 - (z - 128))·s. One V3
// REQUANTIZE byte table (v -> v ^ 0x80, a layer the stock SDK runs) converts either way, and the
// EMC conv writes its output directly on the int8 form of the tensor's own uint8 grid. So no
// tensor is requantized: the only roundings are the conv's own (int8 per-channel weights, the
// output rounding), as on -p cpu. A fused sigmoid/tanh, which an int8 pre-activation cannot carry
// exactly, runs as a float EMC conv + LOGISTIC + QUANTIZE. docs/converter_k210.md "Convolutions
// on the CPU".
#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

#include "emc/converter/activation_fit.h"
#include "emc/format/emc_layers.h"
#include "lower/emc_conv_layer.h"
#include "lower/lowerer.h"

namespace emc::converter::detail {
namespace {

std::array<std::uint8_t, 256> flip_table() {
  std::array<std::uint8_t, 256> t{};
  for (int v = 0; v < 256; ++v) t[std::size_t(v)] = static_cast<std::uint8_t>(v ^ 0x80);
  return t;
}

}  // namespace

using format::LayerType;

int Lowerer::byte_table(int in, std::uint64_t n, const std::array<std::uint8_t, 256>& table,
                        LayerInfo info, const Node& ctx) {
  format::RequantizeBody b;
  b.count = static_cast<std::uint32_t>(n);
  b.table = table;
  const int ob = main_buffer(n, ctx.layer_ref());
  info.weight_bytes = 256;
  return add_main_layer(LayerType::kRequantize, b, std::move(info), in, ob), ob;
}

void Lowerer::ensure_main_i8(TensorId t, const Node& ctx) {
  Forms& f = forms_[static_cast<std::size_t>(t)];
  if (f.main_i8 >= 0) return;
  ensure_main_q(t, ctx);
  LayerInfo info;
  info.note = "'" + g_.tensor(t).name + "' as int8 for the CPU (code - 128, exact)";
  info.in_shape = info.out_shape = g_.shape(t).dims;
  const QuantParam q = quant_of(t);
  info.out_scale = q.scale;
  info.out_bias = -double(q.zero_point - 128) * q.scale;
  info.out_int8 = true;
  f.main_i8 = byte_table(f.main_q, std::uint64_t(count(t)), flip_table(), info, ctx);
}

void Lowerer::pixels_to_main(TensorId t, const Node& ctx) {
  // The KPU-first input map holds the raw pixels p: an identity 1x1 K210_CONV on the grid
  // real = p (scale 1, zero point 0; its linear table reproduces every code, as the stride-2
  // sampler's) DMAs them to main memory, and one byte table stores them as p - 128, the raw-pixel
  // form the CPU conv folds the normalization into. The KPU readers keep the input buffer.
  Forms& f = forms_[static_cast<std::size_t>(t)];
  const Shape& s = g_.shape(t);
  ConvPlan p;
  p.node = &ctx;
  p.in_h = p.out_h = s.h();
  p.in_w = p.out_w = s.w();
  p.in_c = p.out_c = s.c();
  p.kernel = 1;
  p.in_buf = f.kpu;
  p.weights.assign(static_cast<std::size_t>(s.c()) * s.c(), 0.0f);
  for (int c = 0; c < s.c(); ++c) p.weights[static_cast<std::size_t>(c) * s.c() + c] = 1.0f;
  p.in_q = p.out_q = QuantParam{1.0, 0, 255};
  p.note = "copy of the input pixels for the CPU (identity 1x1, exact)";
  int ob = -1;
  const int idx = emit_kpu_conv(p, ob);
  const int kpu = f.kpu;
  f.kpu_writer = idx;
  f.writer_parts = split_parts_;
  const int pixels = dma_map(t, s.h(), s.w(), ctx);
  f.kpu = kpu;
  f.kpu_writer = -1;
  f.writer_parts.clear();
  LayerInfo info;
  info.note = "the input pixels p stored as p - 128 for the CPU (exact)";
  info.in_shape = info.out_shape = s.dims;
  f.main_i8 = byte_table(pixels, std::uint64_t(count(t)), flip_table(), info, ctx);
  f.raw_pixels = true;
}

std::pair<int, Int8Quant> Lowerer::normalize_pixels_i8(const Node& c, TensorId tin, int pixels,
                                                       const std::vector<double>& mean,
                                                       const std::vector<double>& stdv) {
  if (auto it = normalized_i8_.find(tin); it != normalized_i8_.end()) return it->second;
  const Shape& s = g_.shape(tin);
  FloatConv fc = depthwise_1x1_geometry(s);
  PixelNormalization pn = pixel_normalization(mean, stdv);
  fc.weights = std::move(pn.weights);
  fc.bias = std::move(pn.bias);
  const Int8Quant in_q{1.0, -128};  // real = code + 128 = p
  auto q = int8_quant_from_range(pn.lo, pn.hi);
  if (!q.ok()) throw ErrorException(std::move(q).error().with_layer(c.layer_ref()));
  const Int8Quant out_q = *q;
  std::vector<std::string> sources;
  if (tin == rescaled_input_)
    sources = {g_.nodes[static_cast<std::size_t>(g_.producer(tin))].source.name};
  EmcConvLayer l = make_emc_conv(fc, in_q, out_q, c, sources,
                                 "input normalization (p - mean_c) / std_c as a layer of its own: "
                                 "no pixel maps to 0.0 in every channel",
                                 exact_moments(), false);
  if (!l.rounding.warning.empty()) out_.warnings.push_back(std::move(l.rounding.warning));
  const int ob = main_buffer(std::uint64_t(s.num_elements()), c.layer_ref());
  LayerInfo info = std::move(l.info);
  info.out_int8 = true;
  info.out_scale = out_q.scale;
  info.out_bias = -double(out_q.zero_point) * out_q.scale;
  add_layer(l.type, std::move(l.body), std::move(info),
            {fix_emc_conv(pixels, true), fix_emc_conv(ob, false)});
  out_.layers.back().main_in = pixels;
  out_.layers.back().main_out = ob;
  return normalized_i8_[tin] = {ob, out_q};
}

void Lowerer::lower_conv_on_cpu(const ConvUnit& u, const std::vector<int>& nodes,
                                const KpuRefusal& r) {
  const Node& c = *u.conv;
  const TensorId tin = u.pad ? u.pad->inputs[0] : c.inputs[0];
  const Shape& ins = g_.shape(tin);
  const std::int32_t cin = ins.c();
  const bool dw = c.kind == NodeKind::kDepthwiseConv2D;
  const std::int32_t cout = dw ? cin * c.depth_multiplier : c.filters;
  std::vector<float> w = emc_conv_weights(c, cin);
  std::vector<float> b(static_cast<std::size_t>(cout), 0.0f);
  if (c.has_bias()) b = c.bias;
  std::vector<std::string> sources;
  for (int i : nodes) {
    if (&node(i) == u.pool) continue;  // the pool is its own layer
    const auto& sl = node(i).source_layers;
    if (sl.empty()) sources.push_back(node(i).source.name);
    sources.insert(sources.end(), sl.begin(), sl.end());
  }
  Activation act = c.activation;
  if (u.bn) {  // (lower_kpu_conv split conv(activation) -> BN off before)
    const std::size_t per = w.size() / static_cast<std::size_t>(cout);
    for (std::int32_t o = 0; o < cout; ++o) {
      const double s = u.bn->gamma[o] / std::sqrt(double(u.bn->variance[o]) + u.bn->epsilon);
      for (std::size_t i = 0; i < per; ++i) w[o * per + i] = float(w[o * per + i] * s);
      b[o] = float((b[o] - u.bn->mean[o]) * s + u.bn->beta[o]);
    }
    act = u.bn->activation;
  }
  if (u.act) {
    if (!act.is_linear()) fail(Errc::kUnsupportedLayer, "two activations in a row", *u.act);
    act = u.act->activation;
  }
  const TensorId out = (u.act ? u.act : u.bn ? u.bn : &c)->output;
  const QuantParam qo = quant_of(out);
  Padding4 pd = c.pad;
  if (u.pad) {
    pd += u.pad->pad;
  }
  FloatConv fc = float_conv_geometry(c, ins, g_.shape(c.output), pd);
  // The output: a clamp (linear, ReLU, ReLU6) is the conv's own; a leaky ReLU is applied by the
  // byte table that takes the int8 pre-activation (its range follows from the output's: the
  // negative side divided by alpha) to the output's uint8 grid; sigmoid/tanh run in float
  // (lower_conv_on_cpu_float). Other activations have no calibrated pre-activation range here.
  const bool clamp = act.is_linear() || (act.kind == ActivationKind::kRelu && act.alpha == 0.0 &&
                                         act.threshold == 0.0f);
  const bool leaky = !clamp && act.is_leaky_relu() && act.alpha > 0.0 && act.alpha < 1.0;
  Int8Quant out_q = int8_form(qo);
  if (clamp) {
    if (!act.is_linear()) {
      fc.act_min = 0;
      if (std::isfinite(act.max_value)) fc.act_max = act.max_value;
    }
  } else if (leaky) {
    const Range& rr = ranges_.at(static_cast<std::size_t>(out));
    auto q = int8_quant_from_range(std::min(rr.min, 0.0) / act.alpha, rr.max);
    if (!q.ok()) throw ErrorException(std::move(q).error().with_layer(c.layer_ref()));
    out_q = q.value();
  } else if (float_cpu_conv(u)) {
    fc.weights = std::move(w);
    fc.bias = std::move(b);
    lower_conv_on_cpu_float(u, std::move(fc), act, tin, out, sources, r);
    return;
  } else {
    fail(Errc::kUnsupportedLayer,
         "runs on the CPU (" + r.why + "), where the activation " + to_string(act) +
             " cannot be fused: EMC convolutions apply linear, ReLU, ReLU6, leaky ReLU, sigmoid "
             "and tanh; put this activation in its own Activation layer after a linear conv, or " +
             r.change,
         c);
  }
  Forms& fi = forms_[static_cast<std::size_t>(tin)];
  if (fi.kpu >= 0 && fi.kpu_writer == -1 && !fi.raw_pixels) pixels_to_main(tin, c);
  Int8Quant in_q;
  int in_buf = -1;
  std::string note = "on the CPU: " + r.why;
  bool bias_correct = false, folded = false;
  double border_error = 0;
  std::vector<double> mean, stdv;
  bool far = false;
  if (fi.raw_pixels) {
    input_normalization(cin, c, tin, mean, stdv);
    padding_pixel(mean, &far);
  }
  if (fi.raw_pixels && far && !pd.is_zero()) {
    // No pixel maps to 0.0 in every channel: the conv pads a normalized copy's exact 0.0.
    std::tie(in_buf, in_q) = normalize_pixels_i8(c, tin, fi.main_i8, mean, stdv);
    note += "; reads the normalized input";
  } else if (fi.raw_pixels) {
    in_q = fold_input_normalization(c, dw, mean, stdv, !pd.is_zero(), w, b, out_.warnings,
                                    border_error);
    in_buf = fi.main_i8;
    folded = true;
    note += "; reads the input pixels (stored as p - 128), normalization folded in";
  } else {
    ensure_main_i8(tin, c);
    in_q = int8_form(quant_of(tin));
    in_buf = fi.main_i8;
    bias_correct = opt_.bias_correction;
  }
  fc.weights = std::move(w);
  fc.bias = std::move(b);
  const Range& rin = ranges_.at(static_cast<std::size_t>(tin));
  const InputMoments moments =
      folded ? pixel_moments(rin, mean, stdv, in_q.zero_point + 128) : moments_of(rin);
  EmcConvLayer l = make_emc_conv(fc, in_q, out_q, c, sources, note, moments, bias_correct);
  if (!l.rounding.warning.empty()) out_.warnings.push_back(std::move(l.rounding.warning));
  const auto& geo = l.body.geo;
  const int ob =
      main_buffer(std::uint64_t(geo.out_height) * geo.out_width * geo.out_channels, c.layer_ref());
  LayerInfo info = std::move(l.info);
  info.out_int8 = true;
  if (border_error > 0) info.border_error = border_error;
  if (clamp) {  // (otherwise it writes the pre-activation, which is no graph tensor)
    info.out_scale = out_q.scale;
    info.out_bias = -double(out_q.zero_point) * out_q.scale;
  }
  info.off_kpu_layer = c.layer_ref();
  info.off_kpu_reason = r.why;
  info.off_kpu_change = r.change;
  add_layer(l.type, std::move(l.body), std::move(info),
            {fix_emc_conv(in_buf, true), fix_emc_conv(ob, false)});
  out_.layers.back().main_in = in_buf;
  out_.layers.back().main_out = ob;
  Forms& fo = forms_[static_cast<std::size_t>(out)];
  fo.q = qo;
  fo.has_q = true;
  if (clamp) {
    fo.main_i8 = ob;
  } else {
    std::array<std::uint8_t, 256> table{};
    for (int v = 0; v < 256; ++v) {
      const int code = v < 128 ? v : v - 256;
      table[std::size_t(v)] =
          static_cast<std::uint8_t>(qo.quantize(activation_value(act, out_q.dequantize(code))));
    }
    LayerInfo ti;
    ti.sources = sources;
    ti.note = to_string(act) + " of the CPU conv's int8 output, to uint8 (256-entry table)";
    ti.in_shape = ti.out_shape = g_.shape(out).dims;
    ti.out_scale = qo.scale;
    ti.out_bias = qo.bias();
    fo.main_q = byte_table(ob, std::uint64_t(count(out)), table, ti, c);
  }
  if (u.pool) emit_pool(*u.pool);
}

int Lowerer::pixels_as_float(const Node& c, TensorId tin, const KpuRefusal& r) {
  if (auto it = pixels_f_.find(tin); it != pixels_f_.end()) return it->second;
  const Forms& fi = forms_[static_cast<std::size_t>(tin)];
  format::EmcQuantizeInt8Body d;
  d.count = static_cast<std::uint32_t>(count(tin));
  d.scale = 1.0f;
  d.zero_point = -128;
  const int out = main_buffer(std::uint64_t{d.count} * 4, c.layer_ref());
  LayerInfo di;
  di.note = "the input pixels p (stored p - 128) as float for the CPU's float conv (exact)";
  di.in_shape = di.out_shape = g_.shape(tin).dims;
  di.off_kpu_layer = c.layer_ref();  // (an EMC layer: named with the conv it serves)
  di.off_kpu_reason = r.why;
  di.off_kpu_change = r.change;
  add_layer(LayerType::kEmcDequantizeInt8, d, di,
            {fix(fi.main_i8, &format::EmcQuantizeInt8Body::main_mem_in_address),
             fix(out, &format::EmcQuantizeInt8Body::main_mem_out_address)});
  out_.layers.back().main_in = fi.main_i8;
  out_.layers.back().main_out = out;
  return pixels_f_[tin] = out;
}

int Lowerer::normalized_pixels_f(const Node& c, TensorId tin, const std::vector<double>& mean,
                                 const std::vector<double>& stdv, const KpuRefusal& r) {
  if (auto it = normalized_f_.find(tin); it != normalized_f_.end()) return it->second;
  const int pixels = pixels_as_float(c, tin, r);
  const Shape& s = g_.shape(tin);
  format::EmcConv2dF32Body body;
  body.geo = depthwise_1x1_geometry(s).geo;
  body.act_min = -std::numeric_limits<float>::infinity();
  body.act_max = std::numeric_limits<float>::infinity();
  const PixelNormalization pn = pixel_normalization(mean, stdv);
  body.weights = pn.weights;
  body.bias = pn.bias;
  const int out = main_buffer(std::uint64_t(s.num_elements()) * 4, c.layer_ref());
  LayerInfo info;
  info.note =
      "input normalization (p - mean_c) / std_c as a float layer of its own: the float "
      "conv's zero padding must read real 0, which is no pixel";
  info.in_shape = info.out_shape = s.dims;
  info.weight_bytes = (body.weights.size() + body.bias.size()) * 4;
  info.off_kpu_layer = c.layer_ref();
  info.off_kpu_reason = r.why;
  info.off_kpu_change = r.change;
  if (tin == rescaled_input_)
    info.sources = {g_.nodes[static_cast<std::size_t>(g_.producer(tin))].source.name};
  info.float_tensor = g_.tensor(tin).name;  // (the model input itself when nothing folded)
  add_layer(LayerType::kEmcDepthwiseConv2dF32, std::move(body), std::move(info),
            {fix_emc_conv_f32(pixels, true), fix_emc_conv_f32(out, false)});
  out_.layers.back().main_in = pixels;
  out_.layers.back().main_out = out;
  return normalized_f_[tin] = out;
}

void Lowerer::lower_conv_on_cpu_float(const ConvUnit& u, FloatConv fc, const Activation& act,
                                      TensorId tin, TensorId out,
                                      const std::vector<std::string>& sources,
                                      const KpuRefusal& r) {
  const Node& c = *u.conv;
  check_emc_conv_window(fc.geo, c);
  Forms& fi = forms_[static_cast<std::size_t>(tin)];
  if (fi.kpu >= 0 && fi.kpu_writer == -1 && !fi.raw_pixels) pixels_to_main(tin, c);
  int in_buf = -1;
  if (fi.raw_pixels) {
    // The raw pixels p (stored p - 128) as float p, the normalization real = (p - mean_c) /
    // std_c folded into the float weights and bias. The zero padding then reads p = 0, i.e. real
    // -mean_c / std_c: exact for a zero mean; otherwise the conv reads the normalized float map,
    // whose padding is real 0.
    const std::int32_t cin = std::int32_t(fc.geo.in_channels);
    std::vector<double> mean, stdv;
    input_normalization(cin, c, tin, mean, stdv);
    const bool padded = fc.geo.pad_top + fc.geo.pad_bottom + fc.geo.pad_left + fc.geo.pad_right > 0;
    if (padded && std::any_of(mean.begin(), mean.end(), [](double m) { return m != 0.0; })) {
      in_buf = normalized_pixels_f(c, tin, mean, stdv, r);
    } else {
      const std::size_t oc = fc.bias.size(), per = fc.weights.size() / oc;
      const std::size_t kk = std::size_t(fc.geo.kernel_height) * fc.geo.kernel_width;
      for (std::size_t o = 0; o < oc; ++o) {
        double shift = 0;
        for (std::size_t t = 0; t < per; ++t) {
          const std::size_t ic = fc.depthwise ? o / fc.geo.depth_multiplier : t / kk;
          const double w = double(fc.weights[o * per + t]) / stdv[ic];
          shift += w * mean[ic];
          fc.weights[o * per + t] = float(w);
        }
        fc.bias[o] = float(double(fc.bias[o]) - shift);
      }
      in_buf = pixels_as_float(c, tin, r);
    }
  }
  const bool tanh = act.kind == ActivationKind::kTanh;
  if (tanh) {  // tanh(x) = 2·σ(2x) − 1 (the doubling is exact in float)
    for (auto& v : fc.weights) v *= 2.0f;
    for (auto& v : fc.bias) v *= 2.0f;
  }
  if (in_buf < 0) {
    ensure_main_f(tin, c);
    in_buf = forms_[static_cast<std::size_t>(tin)].main_f;
  }
  format::EmcConv2dF32Body body;
  body.geo = fc.geo;
  body.act_min = -std::numeric_limits<float>::infinity();
  body.act_max = std::numeric_limits<float>::infinity();
  body.weights = std::move(fc.weights);
  body.bias = std::move(fc.bias);
  const auto& geo = body.geo;
  const std::uint64_t n = std::uint64_t(geo.out_height) * geo.out_width * geo.out_channels;
  const int cb = main_buffer(n * 4, c.layer_ref());
  LayerInfo info;
  info.sources = sources;
  info.in_shape = {std::int32_t(geo.in_height), std::int32_t(geo.in_width),
                   std::int32_t(geo.in_channels)};
  info.out_shape = {std::int32_t(geo.out_height), std::int32_t(geo.out_width),
                    std::int32_t(geo.out_channels)};
  info.weight_bytes = (body.weights.size() + body.bias.size()) * 4;
  info.note = "on the CPU: " + r.why + "; float " + std::to_string(geo.kernel_height) + "x" +
              std::to_string(geo.kernel_width) + " conv" + (tanh ? " of 2x" : "") +
              " (float weights: " + to_string(act) + " needs the unrounded pre-activation)";
  info.off_kpu_layer = c.layer_ref();
  info.off_kpu_reason = r.why;
  info.off_kpu_change = r.change;
  info.float_tensor = "";  // the pre-activation: no graph tensor
  add_layer(fc.depthwise ? LayerType::kEmcDepthwiseConv2dF32 : LayerType::kEmcConv2dF32,
            std::move(body), std::move(info),
            {fix_emc_conv_f32(in_buf, true), fix_emc_conv_f32(cb, false)});
  out_.layers.back().main_in = in_buf;
  out_.layers.back().main_out = cb;

  format::ChannelsBody lb;
  lb.channels = static_cast<std::uint32_t>(n);
  const int lo = main_buffer(n * 4, c.layer_ref());
  LayerInfo li;
  li.sources = sources;
  li.note = tanh ? "sigmoid of 2x (tanh(x) = 2 sigmoid(2x) - 1, the affine map in the QUANTIZE)"
                 : "sigmoid";
  li.out_shape = g_.shape(out).dims;
  if (tanh) li.float_tensor = "";  // sigmoid(2x): no graph tensor (a sigmoid's is the tensor)
  add_main_layer(LayerType::kLogistic, lb, li, cb, lo);

  // QUANTIZE: code = round((y - bias) / scale); for y = 2s - 1 that is round((s - (1 + bias) / 2)
  // / (scale / 2)).
  const QuantParam qo = quant_of(out);
  format::QuantizeBody qb = quantize_body(out, qo);
  if (tanh) {
    qb.scale = static_cast<float>(qo.scale / 2);
    qb.bias = static_cast<float>((1.0 + qo.bias()) / 2);
  }
  const int ob =
      quantize_layer(lo, qb, out, qo, sources, "quantize " + to_string(act) + " to uint8", c);
  Forms& fo = forms_[static_cast<std::size_t>(out)];
  fo.q = qo;
  fo.has_q = true;
  fo.main_q = ob;
  if (!tanh) fo.main_f = lo;  // the exact float sigmoid, for a float reader
  if (u.pool) emit_pool(*u.pool);
}

}  // namespace emc::converter::detail
