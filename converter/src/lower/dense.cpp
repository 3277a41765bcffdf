// The Dense job: float FULLY_CONNECTED on the CPU (exact) or the vendor's 4x4-padded 1x1 KPU conv,
// with the weights permuted to read a flattened CHW map (lowerer.h).
#include "emc/format/kpu_layout.h"
#include "lower/lowerer.h"

namespace emc::converter::detail {

using format::LayerType;

void Lowerer::lower_fully_connected(const LayerMatch& m) {
  const Node& d = first(m);
  Activation act = d.activation;
  TensorId out = d.output;
  std::vector<std::string> src =
      d.source_layers.empty() ? std::vector<std::string>{d.source.name} : d.source_layers;
  for (std::size_t i = 1; i < m.nodes.size(); ++i) {
    const Node& a = node(m.nodes[i]);
    if (!act.is_linear()) fail(Errc::kUnsupportedLayer, "two activations in a row", a);
    act = a.activation;
    out = a.output;
    src.push_back(a.source.name);
  }
  lower_dense_like(d, d.kernel, d.bias, d.filters, act, d.inputs[0], out, src);
}

void Lowerer::lower_dense_like(const Node& node, const std::vector<float>& kin,
                               const std::vector<float>& bias, std::int32_t units, Activation act,
                               TensorId in, TensorId out, const std::vector<std::string>& sources) {
  const auto n_in = static_cast<std::int32_t>(count(in));
  // Placement: the CPU's float FULLY_CONNECTED is exact; the KPU form is quantized (8/16-bit
  // weights) but runs on the accelerator and stores 1/4 of the bytes (16-bit: 1/2). Auto puts a
  // dense layer on the KPU when its float weights would take more than kDenseKpuAutoBytes of the
  // chip's 6 MiB SRAM.
  constexpr std::uint64_t kDenseKpuAutoBytes = 1u << 20;
  const bool kpu_ok = target_.dense_on_kpu && n_in <= 1024;
  const std::uint64_t float_bytes = std::uint64_t(n_in) * std::uint64_t(units) * 4;
  bool on_kpu = false;
  switch (opt_.dense) {
    case DensePlacement::kCpu:
      break;
    case DensePlacement::kKpu:
      on_kpu = kpu_ok;
      if (!kpu_ok && target_.dense_on_kpu)
        out_.warnings.push_back("layer '" + node.source.name + "' (" + node.source.class_name +
                                "): --dense kpu: stays on the CPU (" + std::to_string(n_in) +
                                " inputs; the KPU sums at most 1024)");
      break;
    case DensePlacement::kAuto:
      on_kpu = kpu_ok && float_bytes > kDenseKpuAutoBytes;
      break;
  }
  if (!on_kpu) ensure_main_f(in, node);
  Forms& fi = forms_[static_cast<std::size_t>(in)];
  format::FullyConnectedBody b;
  b.in_channels = static_cast<std::uint32_t>(n_in);
  b.out_channels = static_cast<std::uint32_t>(units);
  // Stored input order: CHW of `chw_of` when the tensor is a flatten of a map (Keras flattens
  // NHWC); the weights are permuted instead of emitting a TENSORFLOW_FLATTEN.
  std::vector<std::int32_t> logical(static_cast<std::size_t>(n_in));
  for (int i = 0; i < n_in; ++i) logical[i] = i;
  const Shape& ins = g_.shape(in);
  std::vector<std::int32_t> map = fi.chw_of;
  if (map.empty() && ins.rank() == 3 && !fi.hwc_input) map = ins.dims;
  if (!map.empty()) {
    const int H = map[0], W = map[1], C = map[2];
    for (int ch = 0; ch < C; ++ch)
      for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x) logical[(ch * H + y) * W + x] = (y * W + x) * C + ch;
  }
  b.weights.resize(static_cast<std::size_t>(n_in) * units);
  for (int o = 0; o < units; ++o)
    for (int i = 0; i < n_in; ++i)
      b.weights[static_cast<std::size_t>(o) * n_in + i] =
          kin[static_cast<std::size_t>(logical[i]) * units + o];
  if (on_kpu) {
    lower_dense_kpu(node, std::move(b.weights), bias, units, act, in, out, sources, !map.empty());
    return;
  }
  b.bias = bias.empty() ? std::vector<float>(static_cast<std::size_t>(units), 0.0f) : bias;
  bool relu6 = false;
  bool logistic = false;
  if (act.is_linear()) {
    b.act = format::CpuActivation::kLinear;
  } else if (relu_family(act, relu6)) {
    b.act = relu6 ? format::CpuActivation::kRelu6 : format::CpuActivation::kRelu;
  } else if (act.kind == ActivationKind::kSigmoid) {
    logistic = true;
  } else {
    fail(Errc::kUnsupportedLayer,
         "activation " + to_string(act) +
             " after a dense layer: the CPU FULLY_CONNECTED layer has "
             "linear, relu, relu6 (and LOGISTIC for sigmoid)",
         node);
  }
  const int ob = main_buffer(std::uint64_t(units) * 4, node.layer_ref());
  LayerInfo info;
  info.sources = sources;
  info.in_shape = {n_in};
  info.out_shape = {units};
  info.weight_bytes = (b.weights.size() + b.bias.size()) * 4;
  if (!map.empty()) info.note = "weights permuted to read the CHW input";
  const int inb = fi.main_f;
  add_main_layer(LayerType::kFullyConnected, std::move(b), info, inb, ob);
  int res = ob;
  if (logistic) {
    format::ChannelsBody lb;
    lb.channels = static_cast<std::uint32_t>(units);
    const int lo = main_buffer(std::uint64_t(units) * 4, node.layer_ref());
    LayerInfo li;
    li.sources = sources;
    li.note = "sigmoid";
    li.out_shape = {units};
    add_main_layer(LayerType::kLogistic, lb, li, ob, lo);
    res = lo;
  }
  Forms& fo = forms_[static_cast<std::size_t>(out)];
  fo.main_f = res;
}

void Lowerer::lower_dense_kpu(const Node& node, std::vector<float> weights,
                              const std::vector<float>& bias, std::int32_t units, Activation act,
                              TensorId in, TensorId out, const std::vector<std::string>& sources,
                              bool permuted) {
  ensure_main_q(in, node);
  const auto n_in = static_cast<std::int32_t>(count(in));
  format::AddPaddingBody ap;
  ap.channels = static_cast<std::uint32_t>(n_in);
  const int padded = kpu_map_buffer(4, 4, n_in, node.layer_ref());
  LayerInfo pi;
  pi.sources = sources;
  pi.note = "dense input to pixel (0,0) of a 4x4 map";
  pi.in_shape = {n_in};
  pi.out_shape = {4, 4, n_in};
  const int qin = forms_[static_cast<std::size_t>(in)].main_q;
  add_layer(LayerType::kK210AddPadding, ap, pi,
            {fix(qin, &format::AddPaddingBody::main_mem_in_address),
             fix(padded, &format::AddPaddingBody::kpu_mem_out_address)});
  out_.layers.back().main_in = qin;
  out_.layers.back().kpu_out = padded;

  ConvPlan p;
  p.node = &node;
  p.in_h = p.in_w = p.out_h = p.out_w = 4;
  p.in_c = n_in;
  p.out_c = units;
  p.kernel = 1;
  p.in_buf = padded;
  p.weights = std::move(weights);
  p.bias = bias.empty() ? std::vector<float>(static_cast<std::size_t>(units), 0.0f) : bias;
  p.in_q = quant_of(in);
  p.out_q = quant_of(out);
  p.act = act;
  p.sources = sources;
  p.note = std::string("dense as a 1x1 conv on the 4x4 map (its float weights would take ") +
           std::to_string(std::uint64_t(n_in) * std::uint64_t(units) * 4) + " bytes)" +
           (permuted ? "; weights permuted to read the CHW input" : "");
  int kout = -1;
  const int last = emit_kpu_conv(p, kout);
  std::vector<std::pair<int, std::int32_t>> parts = split_parts_;
  if (parts.empty()) parts.emplace_back(last, 0);
  // Every part DMAs its 4x4 channels (16 bytes each, dense CHW) to its slice of one buffer.
  const int dma = main_buffer(std::uint64_t(units) * 16, node.layer_ref());
  for (const auto& [idx, c0] : parts) {
    send_to_main(idx, dma, std::uint64_t(c0) * 16);
    use(dma, idx);
  }
  format::RemovePaddingBody rp;
  rp.channels = static_cast<std::uint32_t>(units);
  const int res = main_buffer(std::uint64_t(units), node.layer_ref());
  LayerInfo ri;
  ri.sources = sources;
  ri.note = "pixel (0,0) of each 4x4 output channel";
  ri.in_shape = {4, 4, units};
  ri.out_shape = {units};
  ri.out_scale = p.out_q.scale;
  ri.out_bias = p.out_q.bias();
  add_main_layer(LayerType::kK210RemovePadding, rp, ri, dma, res);
  Forms& fo = forms_[static_cast<std::size_t>(out)];
  fo.main_q = res;
  fo.q = p.out_q;
  fo.has_q = true;
}
}  // namespace emc::converter::detail
