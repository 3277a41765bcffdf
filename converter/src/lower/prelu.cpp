// PReLU (Keras PReLU whose slope differs between channels or elements; a uniform slope is a
// leaky ReLU, rewritten by prelu_to_leaky_relu and fused into a KPU activation table): its
// lowering in each style (kind_lowering.h), both as EMC_PRELU_INT8.
#include <array>

#include "emc/converter/emc_int8_params.h"
#include "emc/format/emc_layers.h"
#include "lower/cpu_lowerer.h"
#include "lower/lowerer.h"
#include "lower/prelu_slopes.h"

namespace emc::converter::detail {
namespace {

using format::LayerType;

// kmodel V3 has no such layer and a KPU table is per tensor, so it runs on the CPU as
// EMC_PRELU_INT8 between the exact uint8 <-> int8 byte tables of the conv fallback
// (cpu_conv_fallback.cpp): no tensor is requantized, the only rounding is the layer's own
// (docs/converter_k210.md).
void prelu_kmodel_v3(Lowerer& l, const LayerMatch& m) {
  const Node& n = l.first(m);
  const Graph& g = l.graph();
  const TensorId in = n.inputs[0], out = n.output;
  l.ensure_main_i8(in, n);
  const QuantParam qi = l.quant_of(in), qo = l.quant_of(out);
  const Forms& fi = l.forms(in);
  const auto slopes = prelu_slopes(n.kernel, g.shape(in), fi.chw_of, fi.hwc_input);
  format::EmcPreluInt8Body b;
  b.channels = static_cast<std::uint32_t>(slopes.size());
  b.plane = static_cast<std::uint32_t>(std::uint64_t(l.count(in)) / slopes.size());
  const Int8Quant in8{qi.scale, qi.zero_point - 128}, out8{qo.scale, qo.zero_point - 128};
  if (auto st = set_prelu_int8_params(slopes, in8, out8, b); !st.ok())
    throw ErrorException(std::move(st).error().with_layer(n.layer_ref()));
  const int ib = fi.main_i8;
  const int ob = l.main_buffer(std::uint64_t(l.count(out)), n.layer_ref());
  LayerInfo info;
  info.sources = {n.source.name};
  info.in_shape = info.out_shape = g.shape(out).dims;
  info.weight_bytes = 8 * std::uint64_t(b.channels);
  info.note = "PReLU on the CPU (int8, " + std::to_string(b.channels) +
              (b.plane > 1 ? " per-channel" : " per-element") + " slopes)";
  info.out_int8 = true;
  info.out_scale = qo.scale;
  info.out_bias = -double(qo.zero_point - 128) * qo.scale;
  info.off_kpu_layer = n.layer_ref();
  info.off_kpu_reason =
      "PReLU with slopes that differ between channels: kmodel V3 has no PReLU layer and a KPU "
      "activation table is per tensor";
  info.off_kpu_change =
      "give the PReLU one slope for all channels (shared_axes over H, W and C: "
      "a leaky ReLU, which a KPU activation table runs) or use LeakyReLU";
  l.add_main_layer(format::LayerType::kEmcPreluInt8, std::move(b), std::move(info), ib, ob);
  Forms& fo = l.forms(out);
  fo.q = qo;
  fo.has_q = true;
  fo.main_i8 = ob;
  fo.chw_of = fi.chw_of;
  fo.hwc_input = fi.hwc_input;
  std::array<std::uint8_t, 256> flip{};
  for (int v = 0; v < 256; ++v) flip[std::size_t(v)] = static_cast<std::uint8_t>(v ^ 0x80);
  LayerInfo ti;
  ti.sources = {n.source.name};
  ti.note = "'" + g.tensor(out).name + "' back to uint8 (code + 128, exact)";
  ti.in_shape = ti.out_shape = g.shape(out).dims;
  ti.out_scale = qo.scale;
  ti.out_bias = qo.bias();
  fo.main_q = l.byte_table(ob, std::uint64_t(l.count(out)), flip, ti, n);
}

// PReLU as EMC_PRELU_INT8: one slope per channel of a CHW map (shared_axes over H and W), else
// one per stored element.
void prelu_emc_int8(CpuLowerer& l, const LayerMatch& m) {
  const Node& n = l.first(m);
  const Graph& g = l.graph();
  const TensorId in = n.inputs[0];
  l.ensure_q(in, n);
  const Form& fi = l.form(in);
  const auto slopes = prelu_slopes(n.kernel, g.shape(in), fi.chw_of, fi.hwc);
  format::EmcPreluInt8Body b;
  b.channels = std::uint32_t(slopes.size());
  b.plane = std::uint32_t(std::uint64_t(l.count(in)) / slopes.size());
  const Int8Quant qo = l.quant_of(n.output);
  if (auto st = set_prelu_int8_params(slopes, l.quant_of(in), qo, b); !st.ok())
    throw ErrorException(std::move(st).error().with_layer(n.layer_ref()));
  const int ob = l.buffer(std::uint64_t(l.count(in)), n.layer_ref());
  LayerInfo info;
  info.sources = CpuLowerer::sources_of(n);
  info.in_shape = info.out_shape = g.shape(n.output).dims;
  info.weight_bytes = 8 * std::uint64_t(b.channels);
  info.note = "int8 PReLU, " + std::to_string(b.channels) +
              (b.plane > 1 ? " per-channel" : " per-element") + " slopes (" +
              CpuLowerer::quant_note(qo) + ")";
  const int ib = fi.q;
  l.add(LayerType::kEmcPreluInt8, std::move(b), info,
        {fix(ib, &format::EmcPreluInt8Body::main_mem_in_address),
         fix(ob, &format::EmcPreluInt8Body::main_mem_out_address)},
        ib, ob);
  l.form(n.output).q = ob;
  l.form(n.output).chw_of = fi.chw_of;
  l.form(n.output).hwc = fi.hwc;
}

}  // namespace

const KindLowering& prelu_lowering() {
  using K = NodeKind;
  static const KindLowering lowering = {
      .kmodel_v3 = {{"prelu", {one_of({K::kPRelu})}, &prelu_kmodel_v3}},
      .emc_int8 = {{{"prelu", {one_of({K::kPRelu})}}, &prelu_emc_int8}},
  };
  return lowering;
}

}  // namespace emc::converter::detail
