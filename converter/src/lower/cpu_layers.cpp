// The CPU-side jobs: pools, add (float or QUANTIZED_ADD), concat, softmax, flatten/reshape
// aliases, elementwise activations and batch norm on their own (lowerer.h).
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "emc/converter/activation_fit.h"
#include "lower/lowerer.h"
#include "lower/v3_cpu_layers.h"

namespace emc::converter::detail {

using format::LayerType;

const Node& Lowerer::lone_pool(const LayerMatch& m) const {
  if (m.nodes.size() > 1 || first(m).kind == NodeKind::kZeroPad) {
    fail(Errc::kUnsupportedLayer,
         "a ZeroPadding2D before pooling must be merged by the "
         "front-end passes",
         first(m));
  }
  return first(m);
}

void Lowerer::emit_pool(const Node& n) {
  if (n.kind == NodeKind::kMaxPool)
    emit_max_pool(n);
  else
    emit_avg_pool(n);
}

void Lowerer::emit_max_pool(const Node& n) {
  const TensorId in = n.inputs[0];
  const Shape& s = g_.shape(in);
  const Shape& os = g_.shape(n.output);
  if (n.pool_pad_mode == PoolPadMode::kZeros && !n.pad.is_zero()) {
    // Zeros in the window: max(real 0, ...) — exact only when real 0 is the lowest code.
    if (quant_of(in).zero_point != 0) {
      fail(Errc::kUnsupportedLayer,
           "max pooling over explicit zero padding of a tensor with negative values is not "
           "supported (the CPU max pool ignores padded taps)",
           n);
    }
  }
  ensure_main_q(in, n);
  format::Pool2dBody b = pool2d_body(n, s, os);
  const int ob = main_buffer(static_cast<std::uint64_t>(os.num_elements()), n.layer_ref());
  LayerInfo info;
  info.sources =
      n.source_layers.empty() ? std::vector<std::string>{n.source.name} : n.source_layers;
  info.in_shape = s.dims;
  info.out_shape = os.dims;
  const QuantParam q = quant_of(in);
  info.out_scale = q.scale;
  info.out_bias = q.bias();
  const int inb = forms_[static_cast<std::size_t>(in)].main_q;
  add_main_layer(LayerType::kQuantizedMaxPool2d, b, info, inb, ob);
  Forms& fo = forms_[static_cast<std::size_t>(n.output)];
  fo.main_q = ob;
  fo.q = q;  // max pooling keeps the quantization
  fo.has_q = true;
}

void Lowerer::emit_avg_pool(const Node& n) {
  const TensorId in = n.inputs[0];
  const Shape& s = g_.shape(in);
  const Shape& os = g_.shape(n.output);
  if (n.pool_pad_mode == PoolPadMode::kZeros && !n.pad.is_zero()) {
    fail(Errc::kUnsupportedLayer,
         "average pooling over explicit zero padding is not supported (the CPU average pool "
         "divides by the number of real pixels)",
         n);
  }
  ensure_main_f(in, n);
  format::Pool2dBody b = pool2d_body(n, s, os);
  const int ob = main_buffer(static_cast<std::uint64_t>(os.num_elements()) * 4, n.layer_ref());
  LayerInfo info;
  info.sources = {n.source.name};
  info.in_shape = s.dims;
  info.out_shape = os.dims;
  const int inb = forms_[static_cast<std::size_t>(in)].main_f;
  add_main_layer(LayerType::kAveragePool2d, b, info, inb, ob);
  forms_[static_cast<std::size_t>(n.output)].main_f = ob;
}

void Lowerer::lower_global_pool(const Node& n, bool max) {
  const TensorId in = n.inputs[0];
  const Shape& s = g_.shape(in);
  if (s.rank() != 3) fail(Errc::kShapeMismatch, "expects a [H, W, C] input", n);
  LayerInfo info;
  info.sources = {n.source.name};
  info.in_shape = s.dims;
  info.out_shape = g_.shape(n.output).dims;
  if (max) {
    // GLOBAL_MAX_POOL2D is not implemented by the SDK: a max pool with an HxW window instead.
    ensure_main_q(in, n);
    format::Pool2dBody b;
    b.in_shape = {std::uint32_t(s.w()), std::uint32_t(s.h()), std::uint32_t(s.c())};
    b.out_shape = {1, 1, std::uint32_t(s.c())};
    b.kernel_width = std::uint32_t(s.w());
    b.kernel_height = std::uint32_t(s.h());
    b.stride_width = b.stride_height = 1;
    const int ob = main_buffer(std::uint64_t(s.c()), n.layer_ref());
    const QuantParam q = quant_of(in);
    info.out_scale = q.scale;
    info.out_bias = q.bias();
    info.note = "global max pool as an HxW max pool";
    const int inb = forms_[static_cast<std::size_t>(in)].main_q;
    add_layer(LayerType::kQuantizedMaxPool2d, b, info,
              {fix(inb, &format::Pool2dBody::main_mem_in_address),
               fix(ob, &format::Pool2dBody::main_mem_out_address)});
    Forms& fo = forms_[static_cast<std::size_t>(n.output)];
    fo.main_q = ob;
    fo.q = q;
    fo.has_q = true;
    return;
  }
  ensure_main_f(in, n);
  format::GlobalPoolBody b;
  b.kernel_size = std::uint32_t(s.h() * s.w());
  b.channels = std::uint32_t(s.c());
  const int ob = main_buffer(std::uint64_t(s.c()) * 4, n.layer_ref());
  const int inb = forms_[static_cast<std::size_t>(in)].main_f;
  add_main_layer(LayerType::kGlobalAveragePool2d, b, info, inb, ob);
  forms_[static_cast<std::size_t>(n.output)].main_f = ob;
}

// A float result followed by relu/relu6/linear: QUANTIZE with the output range clamps exactly like
// ReLU when the range starts at 0 (zero point 0).
void Lowerer::quantize_float_output(TensorId t, int main_f, const Node& n, const Activation& act,
                                    const std::vector<std::string>& sources) {
  Forms& fo = forms_[static_cast<std::size_t>(t)];
  if (act.is_linear()) {
    fo.main_f = main_f;
    return;
  }
  bool relu6 = false;
  if (!relu_family(act, relu6)) {
    fail(
        Errc::kUnsupportedLayer,
        "activation " + to_string(act) + " after this layer is not supported (linear, relu, relu6)",
        n);
  }
  QuantParam q = quant_of(t);
  if (q.zero_point != 0) {  // the calibrated output went below 0: force the ReLU range
    const Range r = ranges_.at(static_cast<std::size_t>(t));
    q = quant_param_from_range(0.0, std::max(r.max, 1e-6)).value();
  }
  if (relu6 && q.real_max() > 6.0) q = quant_param_from_range(0.0, 6.0).value();
  fo.q = q;
  fo.has_q = true;
  fo.main_q = quantize_layer(
      main_f, quantize_body(t, q), t, q, sources,
      to_string(act) + " by quantizing to [0, " + std::to_string(q.real_max()) + "]", n);
}

int Lowerer::quantize_layer(int main_f, const format::QuantizeBody& b, TensorId t,
                            const QuantParam& q, const std::vector<std::string>& sources,
                            std::string note, const Node& n) {
  const int ob = main_buffer(b.count, n.layer_ref());
  LayerInfo info;
  info.sources = sources;
  info.note = std::move(note);
  info.out_shape = g_.shape(t).dims;
  info.out_scale = q.scale;
  info.out_bias = q.bias();
  add_layer(LayerType::kQuantize, b, info,
            {fix(main_f, &format::QuantizeBody::main_mem_in_address),
             fix(ob, &format::QuantizeBody::main_mem_out_address)});
  return ob;
}

bool Lowerer::lower_quantized_add(const Node& n) {
  if (!opt_.quantized_add || n.inputs.size() != 2) return false;
  bool relu6 = false;
  if (!n.activation.is_linear() && !relu_family(n.activation, relu6)) return false;
  QuantParam q = quant_of(n.output);
  if (!n.activation.is_linear()) {  // as quantize_float_output: the ReLU is the clamp at code 0
    if (q.zero_point != 0) {
      const Range r = ranges_.at(static_cast<std::size_t>(n.output));
      q = quant_param_from_range(0.0, std::max(r.max, 1e-6)).value();
    }
    if (relu6 && q.real_max() > 6.0) q = quant_param_from_range(0.0, 6.0).value();
  }
  const QuantParam qa = quant_of(n.inputs[0]), qb = quant_of(n.inputs[1]);
  if (qa.qmax != 255 || qb.qmax != 255 || q.qmax != 255) return false;
  // kmodel_v3.md §7 (equal input shifts): v = ((a + off_a)*mul_a + (b + off_b)*mul_b) >> sh_in,
  // out = carry_shift(v*mul_o, sh_o) + off_o; shifts are limited to [0, 32].
  // mul_a : mul_b = s_a : s_b with 24 bits on the larger scale S, so after the shift v holds
  // (a_real + b_real) / S with F = 24 - sh_in fractional bits; F is chosen so that
  // mul_o / 2^sh_o = S / (s_o * 2^F) gets a 21-bit mul_o (F = 12 when S = s_o: v's floor costs
  // <= 2^-12 LSB, mul_o's rounding 2^-21 relative). |(a+off)*mul| < 2^33, |v*mul_o| < 2^52.
  constexpr int kInBits = 24;
  const double s_max = std::max(qa.scale, qb.scale);
  const auto mul_a = std::llround(std::ldexp(qa.scale / s_max, kInBits));
  const auto mul_b = std::llround(std::ldexp(qb.scale / s_max, kInBits));
  const int frac =
      std::clamp(12 + static_cast<int>(std::floor(std::log2(s_max / q.scale))), 0, kInBits);
  const double r = s_max / std::ldexp(q.scale, frac);
  int sh = std::min(32, 20 - static_cast<int>(std::floor(std::log2(r))));
  long long mul_o = std::llround(std::ldexp(r, sh));
  if (mul_o >= (1ll << 31)) mul_o = std::llround(std::ldexp(r, --sh));
  if (sh < 1 || mul_o <= 0 || mul_o >= (1ll << 31) || mul_a >= (1ll << 31) || mul_b >= (1ll << 31))
    return false;
  for (TensorId t : n.inputs) ensure_main_q(t, n);
  format::QuantizedAddBody b;
  b.count = static_cast<std::uint32_t>(count(n.output));
  b.in_a_offset = -qa.zero_point;
  b.in_a_mul = static_cast<std::int32_t>(mul_a);
  b.in_a_shift = kInBits - frac;
  b.in_b_offset = -qb.zero_point;
  b.in_b_mul = static_cast<std::int32_t>(mul_b);
  b.in_b_shift = kInBits - frac;
  b.out_offset = q.zero_point;
  b.out_mul = static_cast<std::int32_t>(mul_o);
  b.out_shift = sh;
  const int ob = main_buffer(b.count, n.layer_ref());
  LayerInfo info;
  info.sources =
      n.source_layers.empty() ? std::vector<std::string>{n.source.name} : n.source_layers;
  info.out_shape = g_.shape(n.output).dims;
  info.out_scale = q.scale;
  info.out_bias = q.bias();
  if (!n.activation.is_linear())
    info.note =
        to_string(n.activation) + " by the clamp to [0, " + std::to_string(q.real_max()) + "]";
  const int ia = forms_[static_cast<std::size_t>(n.inputs[0])].main_q;
  const int ib = forms_[static_cast<std::size_t>(n.inputs[1])].main_q;
  add_layer(LayerType::kQuantizedAdd, b, info,
            {fix(ia, &format::QuantizedAddBody::main_mem_in_a_address),
             fix(ib, &format::QuantizedAddBody::main_mem_in_b_address),
             fix(ob, &format::QuantizedAddBody::main_mem_out_address)});
  out_.layers.back().main_in = ia;
  out_.layers.back().main_out = ob;
  Forms& fo = forms_[static_cast<std::size_t>(n.output)];
  fo.q = q;
  fo.has_q = true;
  fo.main_q = ob;
  return true;
}

void Lowerer::emit_add(const Node& n) {
  if (lower_quantized_add(n)) return;
  for (TensorId t : n.inputs) ensure_main_f(t, n);
  const auto cnt = static_cast<std::uint32_t>(count(n.output));
  int acc = forms_[static_cast<std::size_t>(n.inputs[0])].main_f;
  for (std::size_t i = 1; i < n.inputs.size(); ++i) {
    format::AddBody b;
    b.count = cnt;
    const int ob = main_buffer(std::uint64_t(cnt) * 4, n.layer_ref());
    LayerInfo info;
    info.sources = {n.source.name};
    info.out_shape = g_.shape(n.output).dims;
    const int bb = forms_[static_cast<std::size_t>(n.inputs[i])].main_f;
    add_layer(LayerType::kAdd, b, info,
              {fix(acc, &format::AddBody::main_mem_in_a_address),
               fix(bb, &format::AddBody::main_mem_in_b_address),
               fix(ob, &format::AddBody::main_mem_out_address)});
    out_.layers.back().main_out = ob;
    acc = ob;
  }
  quantize_float_output(
      n.output, acc, n, n.activation,
      n.source_layers.empty() ? std::vector<std::string>{n.source.name} : n.source_layers);
}

void Lowerer::lower_concat(const LayerMatch& m) {
  const Node& n = first(m);
  const Shape& os = g_.shape(n.output);
  check_concat_axis(n, os);
  const QuantParam q = quant_of(n.output);
  std::vector<int> parts;
  for (TensorId t : n.inputs) {
    ensure_main_q(t, n);
    const QuantParam qi = quant_of(t);
    int buf = forms_[static_cast<std::size_t>(t)].main_q;
    if (!(qi == q)) {
      format::RequantizeBody rb;
      rb.count = static_cast<std::uint32_t>(count(t));
      for (int v = 0; v < 256; ++v)
        rb.table[v] = static_cast<std::uint8_t>(q.quantize(qi.dequantize(v)));
      const int ob = main_buffer(rb.count, n.layer_ref());
      LayerInfo info;
      info.sources = {n.source.name};
      info.note = "requantize '" + g_.tensor(t).name + "' to the concat's range";
      info.out_shape = g_.shape(t).dims;
      info.out_scale = q.scale;
      info.out_bias = q.bias();
      add_layer(LayerType::kRequantize, rb, info,
                {fix(buf, &format::RequantizeBody::main_mem_in_address),
                 fix(ob, &format::RequantizeBody::main_mem_out_address)});
      buf = ob;
    }
    parts.push_back(buf);
  }
  format::ConcatBody b;
  std::vector<Fixup> fixups;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    b.inputs.push_back(format::MemRange{0, static_cast<std::uint32_t>(count(n.inputs[i]))});
    fixups.push_back({parts[i], 0, [i](format::Layer& l, std::uint64_t a) {
                        std::get<format::ConcatBody>(l.body).inputs[i].start = std::uint32_t(a);
                      }});
  }
  const int ob = main_buffer(static_cast<std::uint64_t>(os.num_elements()), n.layer_ref());
  fixups.push_back(fix(ob, &format::ConcatBody::main_mem_out_address));
  LayerInfo info;
  info.sources = {n.source.name};
  info.out_shape = os.dims;
  info.out_scale = q.scale;
  info.out_bias = q.bias();
  add_layer(LayerType::kQuantizedConcat, b, info, std::move(fixups));
  out_.layers.back().main_out = ob;
  Forms& fo = forms_[static_cast<std::size_t>(n.output)];
  fo.main_q = ob;
}

void Lowerer::lower_softmax(const LayerMatch& m) {
  const Node& n = first(m);
  const TensorId in = n.inputs[0];
  const Shape& s = g_.shape(in);
  const format::ChannelsBody b = softmax_body(n, s);
  ensure_main_f(in, n);
  const int inb = forms_[static_cast<std::size_t>(in)].main_f;
  // Raise the logits by the FC bias when a sample's could underflow (v3_cpu_layers.h,
  // logit_shift).
  const Range& r = ranges_.at(static_cast<std::size_t>(in));
  double max_in = r.max;
  double lowest_in = lowest_sample_max(r);
  LoweredLayer* raisable = nullptr;
  if (!out_.layers.empty()) {
    LoweredLayer& p = out_.layers.back();
    auto* fc = std::get_if<format::FullyConnectedBody>(&p.layer.body);
    if (p.layer.type == LayerType::kFullyConnected && fc && p.main_out == inb &&
        fc->act == format::CpuActivation::kLinear && g_.consumers(in).size() == 1 &&
        std::find(g_.outputs.begin(), g_.outputs.end(), in) == g_.outputs.end())
      raisable = &p;
  }
  double error = 0.0;
  if (raisable && g_.producer(in) >= 0) {
    const Node& dense = g_.nodes[static_cast<std::size_t>(g_.producer(in))];
    const Range& x = ranges_.at(static_cast<std::size_t>(dense.inputs[0]));
    const auto& fc = std::get<format::FullyConnectedBody>(raisable->layer.body);
    // The grid that holds the input can be coarser than its own range: a max pool keeps its
    // input's grid (fuzz finding 24: a step of 2,224 for a range of 0 at -19,028).
    double abs_max = std::max(std::fabs(x.min), std::fabs(x.max));
    if (const Forms& xf = forms(dense.inputs[0]); xf.has_q) {
      abs_max = std::max(abs_max, xf.q.scale * xf.q.qmax);
    }
    error = softmax_logit_error(fc.weights, fc.in_channels, abs_max);
  }
  if (const double c = logit_shift(max_in, lowest_in, error); c > 0 && raisable) {
    auto& fc = std::get<format::FullyConnectedBody>(raisable->layer.body);
    for (float& v : fc.bias) v = static_cast<float>(double(v) + c);
    raisable->info.float_tensor = "";
    char buf[96];
    std::snprintf(buf, sizeof buf, "logits raised by %.6g for the SDK's SOFTMAX (shift-invariant)",
                  c);
    raisable->info.note += (raisable->info.note.empty() ? "" : "; ") + std::string(buf);
    max_in += c;
    lowest_in += c;
  }
  check_softmax_input(n, max_in);
  if (std::string w = softmax_underflow_warning(n, lowest_in - error); !w.empty())
    out_.warnings.push_back(std::move(w));
  const int ob = main_buffer(std::uint64_t(s.c()) * 4, n.layer_ref());
  LayerInfo info;
  info.sources = {n.source.name};
  info.in_shape = s.dims;
  info.out_shape = g_.shape(n.output).dims;
  add_main_layer(LayerType::kSoftmax, b, info, inb, ob);
  forms_[static_cast<std::size_t>(n.output)].main_f = ob;
}

// Flatten / Reshape / Identity: no data movement. A map flattened in Keras (NHWC) order is
// recorded as "CHW data of shape [H,W,C]"; the dense layer reading it permutes its weights.
void Lowerer::lower_alias(const LayerMatch& m) {
  const Node& n = first(m);
  const TensorId in = n.inputs[0];
  if (n.kind == NodeKind::kIdentity) {
    Forms f = forms_[static_cast<std::size_t>(in)];
    forms_[static_cast<std::size_t>(n.output)] = f;
    return;
  }
  const Shape& is = g_.shape(in);
  const Shape& os = g_.shape(n.output);
  {
    Forms& fi = forms_[static_cast<std::size_t>(in)];
    if (fi.pad_h > 0 || (fi.sub != Sub::kNone && small(is))) {
      ensure_main_q(in, n);  // a map under 4x4 is read from main memory only
      fi.kpu = -1;
      fi.sub = Sub::kNone;
      fi.pad_h = fi.pad_w = 0;
    } else if (fi.sub != Sub::kNone) {
      materialize_subsample(in, n);
    }
  }
  Forms f = forms_[static_cast<std::size_t>(in)];
  const bool trivial_in = is.rank() == 1 || (is.rank() == 3 && is.h() == 1 && is.w() == 1);
  const bool trivial_out = os.rank() == 1 || (os.rank() == 3 && os.h() == 1 && os.w() == 1);
  // A flatten, or a map reshaped into a model output that nothing else reads (a YOLO head's
  // [7, 7, 30] -> [7, 7, 5, 6]): the values stay the map's CHW planes, recorded as such.
  const bool map_view = is.rank() == 3 && !trivial_in && !(is == os) &&
                        (os.rank() == 1 || is_output_only(g_, n.output));
  if (map_view) {
    if (!f.hwc_input) {
      f.chw_of = is.dims;
    }
    f.kpu = -1;  // a flattened vector is not a KPU map
  } else if (!(trivial_in && trivial_out) && !(is == os)) {
    fail(Errc::kUnsupportedLayer,
         "reshape " + to_string(is) + " -> " + to_string(os) +
             " is not supported (only flatten, [C] <-> [1,1,C], and a reshape of a map into a "
             "model output that no other layer reads)",
         n);
  }
  if (os.rank() != 3 || map_view) {
    f.kpu = -1;
    f.kpu_writer = -1;
  }
  if (f.kpu < 0 && f.main_q < 0 && f.main_f < 0) {
    ensure_main_q(in, n);
    f = forms_[static_cast<std::size_t>(in)];
    if (map_view && !f.hwc_input) f.chw_of = is.dims;
    if (os.rank() != 3 || map_view) f.kpu = -1;
  }
  forms_[static_cast<std::size_t>(n.output)] = f;
}

void Lowerer::lower_activation(const LayerMatch& m) {
  const Node& n = first(m);
  const TensorId in = n.inputs[0];
  ensure_main_q(in, n);
  const QuantParam qi = quant_of(in);
  const QuantParam qo = quant_of(n.output);
  format::RequantizeBody b;
  b.count = static_cast<std::uint32_t>(count(in));
  for (int v = 0; v < 256; ++v)
    b.table[v] =
        static_cast<std::uint8_t>(qo.quantize(activation_value(n.activation, qi.dequantize(v))));
  const int ob = main_buffer(b.count, n.layer_ref());
  LayerInfo info;
  info.sources = {n.source.name};
  info.note = to_string(n.activation) + " as a 256-entry table";
  info.out_shape = g_.shape(n.output).dims;
  info.out_scale = qo.scale;
  info.out_bias = qo.bias();
  const int inb = forms_[static_cast<std::size_t>(in)].main_q;
  add_layer(LayerType::kRequantize, b, info,
            {fix(inb, &format::RequantizeBody::main_mem_in_address),
             fix(ob, &format::RequantizeBody::main_mem_out_address)});
  Forms& fo = forms_[static_cast<std::size_t>(n.output)];
  fo.main_q = ob;
  fo.chw_of = forms_[static_cast<std::size_t>(in)].chw_of;
}

void Lowerer::emit_batch_norm(const Node& n) {
  const TensorId in = n.inputs[0];
  const Shape& s = g_.shape(in);
  ensure_main_q(in, n);
  if (!forms_[static_cast<std::size_t>(in)].chw_of.empty() || (s.rank() != 3 && s.rank() != 1)) {
    fail(Errc::kUnsupportedLayer, "batch normalization of " + to_string(s) + " is not supported",
         n);
  }
  const QuantParam qi = quant_of(in);
  format::ChannelwiseDequantizeBody b;
  b.channel_size = s.rank() == 3 ? std::uint32_t(s.h() * s.w()) : 1u;
  for (int ch = 0; ch < s.c(); ++ch) {
    const double a = n.gamma[ch] / std::sqrt(double(n.variance[ch]) + n.epsilon);
    // y = a·(q·s + bias − mean) + beta
    format::ChannelQuant cq;
    cq.scale = static_cast<float>(a * qi.scale);
    cq.bias = static_cast<float>(a * (qi.bias() - n.mean[ch]) + n.beta[ch]);
    b.params.push_back(cq);
  }
  const int ob = main_buffer(static_cast<std::uint64_t>(s.num_elements()) * 4, n.layer_ref());
  LayerInfo info;
  info.sources = {n.source.name};
  info.note =
      "batch norm as a channel-wise dequantize (CPU: not after a conv, or after its activation, "
      "where the KPU's conv -> BN -> activation order cannot take it)";
  info.out_shape = s.dims;
  const int inb = forms_[static_cast<std::size_t>(in)].main_q;
  add_main_layer(LayerType::kChannelwiseDequantize, b, info, inb, ob);
  quantize_float_output(n.output, ob, n, n.activation, {n.source.name});
}
}  // namespace emc::converter::detail
