// The Lowerer core: buffers, tensor representations and their conversions, address fix-ups, the
// dispatch of matches to their jobs, and the LowerFn lower_with_table (lowerer.h).
#include "lower/lowerer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "emc/format/kpu_layout.h"
#include "emc/format/layer_footprint.h"

namespace emc::converter::detail {

using format::LayerType;

// Rows of a W x H KPU map before channel c0 (c0 a multiple of the channels sharing a row).
std::uint64_t rows_before(std::int32_t w, std::int32_t h, std::int32_t c0) {
  const auto l = format::kpu_row_layout(static_cast<std::uint32_t>(w));
  return std::uint64_t(c0) / l.groups * l.row_len * std::uint64_t(h);
}

[[noreturn]] void fail(Errc code, const std::string& msg, const Node& node) {
  throw ErrorException(Error(code, msg).with_layer(node.layer_ref()));
}

bool is_output_only(const Graph& g, TensorId t) {
  return g.consumers(t).empty() &&
         std::find(g.outputs.begin(), g.outputs.end(), t) != g.outputs.end();
}

ChannelAffine input_affine(const Node& n) {
  ChannelAffine a;
  if (n.kind == NodeKind::kActivation && n.activation.kind == ActivationKind::kAffine &&
      n.activation.alpha > 0) {
    a.scale = {n.activation.alpha};
    a.offset = {n.activation.offset};
  } else if (n.kind == NodeKind::kBatchNorm && n.activation.is_linear() && !n.gamma.empty()) {
    // The executor's offset + (x - mean) * gamma / sqrt(var + eps), in double.
    for (std::size_t c = 0; c < n.gamma.size(); ++c) {
      const double s = n.gamma[c] / std::sqrt(double{n.variance[c]} + n.epsilon);
      const double o = double{n.beta[c]} - double{n.mean[c]} * s;
      if (!(s > 0) || !std::isfinite(s) || !std::isfinite(o)) return {};
      a.scale.push_back(s);
      a.offset.push_back(o);
    }
  }
  return a;
}

ChannelAffine then(const ChannelAffine& first, const ChannelAffine& second) {
  if (!first.foldable()) return second;
  if (!second.foldable()) return first;
  const std::size_t n1 = first.scale.size(), n2 = second.scale.size();
  if (n1 != 1 && n2 != 1 && n1 != n2) return {};
  ChannelAffine r;
  for (std::size_t c = 0; c < std::max(n1, n2); ++c) {
    r.scale.push_back(first.scale_at(c) * second.scale_at(c));
    r.offset.push_back(first.offset_at(c) * second.scale_at(c) + second.offset_at(c));
  }
  return r;
}

std::int32_t padding_pixel(const std::vector<double>& mean, bool* far) {
  double sum = 0;
  for (double m : mean) sum += m;
  const auto zx = std::clamp<std::int32_t>(
      static_cast<std::int32_t>(std::lround(sum / static_cast<double>(mean.size()))), 0, 255);
  if (far) {
    *far = false;
    for (double m : mean) *far = *far || std::fabs(zx - m) > 0.5 + 1e-9;
  }
  return zx;
}

PixelNormalization pixel_normalization(const std::vector<double>& mean,
                                       const std::vector<double>& stdv) {
  PixelNormalization n;
  for (std::size_t i = 0; i < mean.size() && i < stdv.size(); ++i) {
    const double at0 = -mean[i] / stdv[i], at255 = (255 - mean[i]) / stdv[i];
    n.weights.push_back(static_cast<float>(1.0 / stdv[i]));
    n.bias.push_back(static_cast<float>(at0));
    n.lo = std::min({n.lo, at0, at255});
    n.hi = std::max({n.hi, at0, at255});
  }
  return n;
}

std::string border_pixel_warning(const Node& c, std::int32_t zx, const std::vector<double>& mean,
                                 const std::vector<double>& stdv) {
  double worst = 0;
  for (std::size_t i = 0; i < mean.size() && i < stdv.size(); ++i)
    worst = std::max(worst, std::fabs(zx - mean[i]) / stdv[i]);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.3g", worst);
  return "layer '" + c.source.name + "' (" + c.source.class_name +
         "): the input normalization has no integer pixel value for 0.0 in every channel; its "
         "zero padding reads pixel " +
         std::to_string(zx) + ", a value of up to " + buf + " instead of 0 at the border";
}

bool relu_family(const Activation& a, bool& relu6) {
  relu6 = a.is_relu6();
  return a.is_plain_relu() || a.is_relu6();
}

void Lowerer::enable_dma(TensorId t, const Node& ctx) {
  const Shape& s = g_.shape(t);
  forms_[static_cast<std::size_t>(t)].main_q = dma_map(t, s.h(), s.w(), ctx);
}

int Lowerer::dma_map(TensorId t, std::int32_t h, std::int32_t w, const Node& ctx) {
  Forms& f = forms_[static_cast<std::size_t>(t)];
  if (f.kpu_writer < 0) {
    fail(Errc::kUnsupportedLayer,
         "reads the model input from main memory, but a KPU-first kmodel receives its input in KPU "
         "RAM only; every reader of the input must be a KPU convolution",
         ctx);
  }
  const Shape& s = g_.shape(t);
  const std::uint64_t plane = std::uint64_t(h) * std::uint64_t(w);
  const int buf = main_buffer(plane * std::uint64_t(s.c()), ctx.layer_ref());
  // Each part of a split conv sends its channel slice to its place in the dense CHW copy.
  std::vector<std::pair<int, std::int32_t>> writers = f.writer_parts;
  if (writers.empty()) writers.emplace_back(f.kpu_writer, 0);
  for (const auto& [writer, c0] : writers) send_to_main(writer, buf, plane * std::uint64_t(c0));
  use(buf, f.kpu_writer);
  return buf;
}

void Lowerer::send_to_main(int layer, int buf, std::uint64_t add) {
  auto& L = out_.layers[static_cast<std::size_t>(layer)];
  auto& body = std::get<format::ConvBody>(L.layer.body);
  body.flags |= format::kLayerFlagMainMemOut;
  auto fields = body.fields();
  fields.send_data_out = 1;
  body.layer_words = format::pack_kpu_layer(fields);
  L.fixups.push_back(fix(buf, &format::ConvBody::main_mem_out_address, add));
  L.main_out = buf;
}

int Lowerer::pick(int in_buf, std::uint64_t in_add, std::int32_t c, std::int32_t in_h,
                  std::int32_t in_w, std::int32_t stride, std::int32_t out_h, std::int32_t out_w,
                  const Node& ctx, const std::string& note, const QuantParam& q,
                  std::int32_t pad_top, std::int32_t pad_left) {
  format::Pool2dBody b;
  b.in_shape = {std::uint32_t(in_w), std::uint32_t(in_h), std::uint32_t(c)};
  b.out_shape = {std::uint32_t(out_w), std::uint32_t(out_h), std::uint32_t(c)};
  b.kernel_width = b.kernel_height = 1;
  b.stride_width = b.stride_height = std::uint32_t(stride);
  b.padding_width = std::uint32_t(pad_left);
  b.padding_height = std::uint32_t(pad_top);
  const int ob =
      main_buffer(std::uint64_t(out_h) * std::uint64_t(out_w) * std::uint64_t(c), ctx.layer_ref());
  LayerInfo info;
  info.note = note;
  info.in_shape = {in_h, in_w, c};
  info.out_shape = {out_h, out_w, c};
  info.out_scale = q.scale;
  info.out_bias = q.bias();
  // The buffer must cover every byte the pool reads from its (shifted) start (its footprint: up
  // to the last tap of its last window), or the planner may place another buffer there.
  auto reads = format::layer_footprint(format::Layer{LayerType::kQuantizedMaxPool2d, b, 0, 0});
  if (!reads.ok()) fail(Errc::kInternal, reads.error().to_string(), ctx);
  auto& ib = out_.buffers[static_cast<std::size_t>(in_buf)];
  ib.bytes = std::max(ib.bytes, in_add + reads->main_reads.at(0).size);
  add_layer(LayerType::kQuantizedMaxPool2d, b, info,
            {fix(in_buf, &format::Pool2dBody::main_mem_in_address, in_add),
             fix(ob, &format::Pool2dBody::main_mem_out_address)});
  out_.layers.back().main_in = in_buf;
  out_.layers.back().main_out = ob;
  return ob;
}

void Lowerer::ensure_small_kpu(TensorId t, const Node& ctx) {
  Forms& f = forms_[static_cast<std::size_t>(t)];
  if (f.kpu >= 0 && f.pad_h > 0 && f.pad_zero) return;
  const Shape& s = g_.shape(t);
  const QuantParam q = quant_of(t);
  if (q.zero_point != 0) {  // depends on the calibrated range: not a structural error
    fail(Errc::kQuantization,
         "a 3x3 conv on the " + std::to_string(s.h()) + "x" + std::to_string(s.w()) + " map '" +
             g_.tensor(t).name +
             "' (under the KPU's 4x4) runs on the map zero-padded to 4x4, which needs real 0 at "
             "code 0; this map has negative values (zero point " +
             std::to_string(q.zero_point) + "): a ReLU-family activation before it would fit",
         ctx);
  }
  ensure_main_q(t, ctx);
  const std::int32_t ph = std::max(s.h(), 4), pw = std::max(s.w(), 4);
  const int padded = pick(f.main_q, 0, s.c(), s.h(), s.w(), 1, ph, pw, ctx,
                          "zero-pad '" + g_.tensor(t).name + "' to " + std::to_string(ph) + "x" +
                              std::to_string(pw) + " for the KPU (its minimum map)",
                          q);
  format::UploadBody b;
  b.width = std::uint32_t(pw);
  b.height = std::uint32_t(ph);
  b.channels = std::uint32_t(s.c());
  const int kb = kpu_map_buffer(ph, pw, s.c(), ctx.layer_ref());
  LayerInfo info;
  info.note = "upload the zero-padded '" + g_.tensor(t).name + "' to KPU RAM";
  info.in_shape = info.out_shape = {ph, pw, s.c()};
  add_layer(LayerType::kK210Upload, b, info,
            {fix(padded, &format::UploadBody::main_mem_in_address),
             fix(kb, &format::UploadBody::kpu_mem_out_address)});
  out_.layers.back().main_in = padded;
  out_.layers.back().kpu_out = kb;
  f.kpu = kb;
  f.kpu_writer = -2;
  f.writer_parts.clear();
  f.sub = Sub::kNone;
  f.pad_h = ph;
  f.pad_w = pw;
  f.pad_zero = true;
}

void Lowerer::ensure_main_q(TensorId t, const Node& ctx) {
  Forms& f = forms_[static_cast<std::size_t>(t)];
  if (f.main_q >= 0) return;
  const Shape& ts = g_.shape(t);
  if (f.kpu >= 0 && f.kpu_writer >= 0 && (f.pad_h > 0 || (f.sub != Sub::kNone && small(ts)))) {
    // A map under 4x4: DMA the stored map (padded, or at full resolution with the stride 2
    // pending) and pick the tensor's pixels on the CPU (the KPU cannot write it smaller).
    const bool sub = f.sub != Sub::kNone;
    const std::int32_t h = sub ? f.full_h : f.pad_h, w = sub ? f.full_w : f.pad_w;
    const int full = dma_map(t, h, w, ctx);
    const std::uint64_t add = f.sub == Sub::kRightTopShift ? std::uint64_t(w) + 1 : 0;
    f.main_q = pick(full, add, ts.c(), h, w, sub ? 2 : 1, ts.h(), ts.w(), ctx,
                    std::string(sub ? "stride-2 sampling" : "crop") + " of '" + g_.tensor(t).name +
                        "' (" + std::to_string(ts.h()) + "x" + std::to_string(ts.w()) +
                        ", under the KPU's 4x4) on the CPU",
                    quant_of(t));
    return;
  }
  if (f.sub != Sub::kNone) materialize_subsample(t, ctx);
  if (f.kpu >= 0) {
    enable_dma(t, ctx);
    return;
  }
  if (f.raw_pixels) {
    fail(Errc::kUnsupportedLayer,
         "reads the model input, which this kmodel receives as raw pixels for its first "
         "convolution; every reader of the input must be a convolution",
         ctx);
  }
  if (f.main_i8 >= 0) {  // an int8 form of the same grid (code + 128, exact)
    LayerInfo info;
    info.note = "'" + g_.tensor(t).name + "' back to uint8 from the CPU's int8 (code + 128, exact)";
    info.in_shape = info.out_shape = g_.shape(t).dims;
    const QuantParam q = quant_of(t);
    info.out_scale = q.scale;
    info.out_bias = q.bias();
    std::array<std::uint8_t, 256> flip{};
    for (int v = 0; v < 256; ++v) flip[std::size_t(v)] = static_cast<std::uint8_t>(v ^ 0x80);
    f.main_q = byte_table(f.main_i8, std::uint64_t(count(t)), flip, info, ctx);
    return;
  }
  if (f.main_f >= 0) {
    const QuantParam q = quant_of(t);
    const format::QuantizeBody b = quantize_body(t, q);
    const int ob = main_buffer(b.count, ctx.layer_ref());
    LayerInfo info;
    info.note = "quantize '" + g_.tensor(t).name + "'";
    info.out_shape = g_.shape(t).dims;
    info.out_scale = q.scale;
    info.out_bias = q.bias();
    const int in = f.main_f;
    add_main_layer(LayerType::kQuantize, b, info, in, ob);
    f.main_q = ob;
    return;
  }
  throw ErrorException(Error(Errc::kInternal, "tensor '" + g_.tensor(t).name + "' has no value")
                           .with_layer(ctx.layer_ref()));
}

void Lowerer::ensure_main_f(TensorId t, const Node& ctx) {
  Forms& f = forms_[static_cast<std::size_t>(t)];
  if (f.main_f >= 0) return;
  ensure_main_q(t, ctx);
  const QuantParam q = quant_of(t);
  const format::DequantizeBody b = quantize_body(t, q);
  const int ob = main_buffer(std::uint64_t{b.count} * 4, ctx.layer_ref());
  LayerInfo info;
  info.note = "dequantize '" + g_.tensor(t).name + "'";
  info.out_shape = g_.shape(t).dims;
  const int in = f.main_q;
  add_main_layer(LayerType::kDequantize, b, info, in, ob);
  f.main_f = ob;
}

void Lowerer::ensure_kpu(TensorId t, const Node& ctx) {
  Forms& f = forms_[static_cast<std::size_t>(t)];
  if (f.kpu >= 0) return;
  const Shape& s = g_.shape(t);
  if (s.rank() != 3 || !f.chw_of.empty() || f.hwc_input) {
    fail(Errc::kUnsupportedLayer,
         "input " + to_string(s) + " cannot be uploaded to KPU RAM: the KPU takes [H, W, C] maps",
         ctx);
  }
  if (f.raw_pixels && f.main_q < 0) {  // a KPU conv reading the raw pixels as well: p itself
    f.raw_pixels = false;
    ensure_main_q(t, ctx);
    f.raw_pixels = true;
  }
  ensure_main_q(t, ctx);
  format::UploadBody b;
  b.width = static_cast<std::uint32_t>(s.w());
  b.height = static_cast<std::uint32_t>(s.h());
  b.channels = static_cast<std::uint32_t>(s.c());
  const int kb = kpu_map_buffer(s.h(), s.w(), s.c(), ctx.layer_ref());
  LayerInfo info;
  info.note = "upload '" + g_.tensor(t).name + "' to KPU RAM";
  info.in_shape = info.out_shape = s.dims;
  const int in = f.main_q;
  add_layer(LayerType::kK210Upload, b, info,
            {fix(in, &format::UploadBody::main_mem_in_address),
             fix(kb, &format::UploadBody::kpu_mem_out_address)});
  out_.layers.back().main_in = in;
  out_.layers.back().kpu_out = kb;
  f.kpu = kb;
  f.kpu_writer = -2;  // written by an upload: its main copy already exists
}

Node Lowerer::with_activation(const LayerMatch& m) const {
  Node merged = first(m);
  if (m.nodes.size() > 1) {
    const Node& a = node(m.nodes[1]);
    if (!merged.activation.is_linear())
      fail(Errc::kUnsupportedLayer, "two activations in a row", a);
    merged.activation = a.activation;
    merged.output = a.output;
  }
  return merged;
}

void Lowerer::lower_unit(const LayerMatch& m) {
  const Node& f = first(m);
  if (std::find(folded_.begin(), folded_.end(), f.output) != folded_.end()) {
    // folded into the input preprocessing
    forms_[static_cast<std::size_t>(f.output)] = forms_[static_cast<std::size_t>(f.inputs[0])];
    return;
  }
  const LowerRule job = table_.rules.at(m.rule).lower;
  if (job == nullptr)
    fail(Errc::kUnsupportedLayer, "'" + std::string(m.name) + "' has no kmodel V3 lowering", f);
  const std::size_t before = out_.layers.size();
  job(*this, m);
  // Layers computing a tensor internal to their layer (an n-ary merge's partial sum
  // "<layer>/partial_1", a Dense's "<layer>/pre_softmax") name it: the tools would otherwise
  // compare them with the layer's output.
  const std::string& t = g_.tensor(node(m.nodes.back()).output).name;
  for (std::size_t i = before; i < out_.layers.size(); ++i) {
    LayerInfo& info = out_.layers[i].info;
    if (!info.sources.empty() && !info.float_tensor && t.rfind(info.sources.back() + "/", 0) == 0)
      info.float_tensor = t;
  }
}

LoweredModel Lowerer::run() {
  if (g_.inputs.size() != 1) {
    throw ErrorException(Error(
        Errc::kUnsupportedLayer,
        "kmodel V3 has exactly one input; this model has " + std::to_string(g_.inputs.size())));
  }
  auto matches = value_or_throw(match_graph(g_, table_));
  const TensorId input = g_.inputs[0];
  const Shape& is = g_.shape(input);
  out_.input_shape = is.dims;
  // KPU-first when the first unit is a conv that stays on the KPU (not the 1x1-on-1x1 FC form).
  // Leading per-channel affine layers (Rescaling, Keras Normalization: input_affine), each read
  // only by the next and the last only by that conv, are folded into the input preprocessing:
  // the conv reads the raw input map (exact: their composition is one affine map).
  std::size_t first_unit = 0;
  ChannelAffine chain;
  std::vector<TensorId> chain_outputs;
  TensorId chain_end = input;
  while (first_unit + 1 < matches.size() && matches[first_unit].nodes.size() == 1) {
    const Node& r = g_.nodes[static_cast<std::size_t>(matches[first_unit].nodes[0])];
    const ChannelAffine a = input_affine(r);
    const auto readers = g_.consumers(r.output);
    const ChannelAffine composed = then(chain, a);
    if (!a.foldable() || !composed.foldable() || r.inputs[0] != chain_end || readers.size() != 1 ||
        readers[0] != matches[first_unit + 1].nodes.front() ||
        std::find(g_.outputs.begin(), g_.outputs.end(), r.output) != g_.outputs.end())
      break;
    chain = composed;
    chain_end = r.output;
    chain_outputs.push_back(r.output);
    ++first_unit;
  }
  bool kpu_first = false;
  // A first conv the KPU cannot run (Target::cpu_conv_fallback): the raw pixels in main memory,
  // stored as p - 128 for its EMC convolution (the runtime's input rule for that first layer).
  bool pixels_first = false;
  if (matches.size() > first_unit &&
      table_.rules[matches[first_unit].rule].lower == &member_job<&Lowerer::lower_kpu_conv> &&
      is.rank() == 3 && !(is.h() == 1 && is.w() == 1)) {
    const ConvUnit u = conv_unit(matches[first_unit].nodes);
    // (A CPU conv with a fused sigmoid/tanh runs in float: it reads the pixels the KPU-first way,
    // through an identity K210_CONV, so the kmodel still starts with one.)
    if (target_.cpu_conv_fallback && kpu_conv_refusal(u) && !float_cpu_conv(u))
      pixels_first = true;
    else
      kpu_first = true;
  }
  if ((kpu_first || pixels_first) && first_unit > 0) {
    rescaled_input_ = chain_end;
    in_affine_ = chain;
    folded_ = std::move(chain_outputs);
  }
  kpu_input_ = kpu_first || pixels_first;
  out_.input_is_uint8 = kpu_input_;
  Forms& fi = forms_[static_cast<std::size_t>(input)];
  LayerRef in_ref{std::nullopt, g_.tensor(input).name, "InputLayer"};
  if (kpu_first) {
    fi.kpu = kpu_map_buffer(is.h(), is.w(), is.c(), in_ref);
    fi.kpu_writer = -1;
    use(fi.kpu, 0);
  } else if (pixels_first) {
    fi.main_i8 = main_buffer(static_cast<std::uint64_t>(is.num_elements()), in_ref);
    fi.raw_pixels = true;
    use(fi.main_i8, 0);
  } else {
    fi.main_f = main_buffer(static_cast<std::uint64_t>(is.num_elements()) * 4, in_ref);
    fi.hwc_input = is.rank() == 3;
    use(fi.main_f, 0);
  }
  for (const auto& m : matches) lower_unit(m);
  // Outputs: float32 in main memory.
  for (TensorId t : g_.outputs) {
    const Node* prod = nullptr;
    const int p = g_.producer(t);
    if (p >= 0) prod = &g_.nodes[static_cast<std::size_t>(p)];
    Node dummy;
    dummy.source.name = g_.tensor(t).name;
    ensure_main_f(t, prod ? *prod : dummy);
    const Forms& ft = forms_[static_cast<std::size_t>(t)];
    if (!ft.chw_of.empty()) {
      out_.warnings.push_back("output '" + g_.tensor(t).name + "' " + to_string(g_.shape(t)) +
                              " holds the CHW planes of the map " + to_string(Shape{ft.chw_of}) +
                              " (a flatten or reshape of it; the sidecar's map_shape)");
    }
    // The layer writing an output says which tensor it is and how a map is held, for the tools
    // (they otherwise take the last source layer's tensor, and CHW for a rank-3 one).
    for (auto l = out_.layers.rbegin(); l != out_.layers.rend(); ++l) {
      if (l->main_out != ft.main_f) continue;
      l->info.float_tensor = g_.tensor(t).name;
      if (!ft.chw_of.empty()) {
        l->info.layout = "CHW";
        l->info.map_shape = ft.chw_of;
      } else if (g_.shape(t).rank() == 3) {
        l->info.layout = ft.hwc_input ? "NHWC" : "CHW";
      }
      break;
    }
    LoweredOutput o;
    o.buffer = ft.main_f;
    o.bytes = static_cast<std::uint32_t>(count(t) * 4);
    out_.outputs.push_back(o);
  }
  if (out_.layers.empty()) {
    throw ErrorException(Error(Errc::kUnsupportedLayer, "the model has no layer to run"));
  }
  const int last = step() - 1;
  for (const auto& o : out_.outputs) use(o.buffer, last);
  const LayerType t0 = out_.layers.front().layer.type;
  const bool emc_first = pixels_first && out_.layers.front().main_in == fi.main_i8 &&
                         (t0 == LayerType::kEmcConv2d || t0 == LayerType::kEmcDepthwiseConv2d);
  if (t0 != LayerType::kK210Conv && t0 != LayerType::kFullyConnected && !emc_first) {
    const auto& src = out_.layers.front().info.sources;
    throw ErrorException(
        Error(Errc::kUnsupportedLayer,
              "the K210 runtime starts a kmodel only with K210_CONV or FULLY_CONNECTED; this "
              "model's first layer would be " +
                  std::string(format::to_string(t0)) +
                  (src.empty() ? std::string() : " (from '" + src.front() + "')") +
                  ": put a Conv2D/DepthwiseConv2D or a Dense first")
            .with_layer(
                LayerRef{0, src.empty() ? "" : src.front(), std::string(format::to_string(t0))}));
  }
  return std::move(out_);
}

Result<LoweredModel> lower_with_table(const Graph& graph, const std::vector<Range>& ranges,
                                      const ConvertOptions& options) {
  if (ranges.size() != graph.tensors.size()) {
    return Error(Errc::kInternal, "lower_graph: one range per tensor expected");
  }
  try {
    Lowerer l(graph, ranges, options);
    return l.run();
  } catch (const ErrorException& e) {
    return e.error();
  }
}

Result<LoweredModel> lower_graph(const Graph& graph, const std::vector<Range>& ranges,
                                 const ConvertOptions& options) {
  if (options.target == nullptr || options.target->lower == nullptr)
    return Error(Errc::kInvalidArgument, "no conversion target given");
  return options.target->lower(graph, ranges, options);
}

}  // namespace emc::converter::detail
