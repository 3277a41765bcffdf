// UpSample (Keras UpSampling2D, nearest, integer factors): its lowering in each style
// (kind_lowering.h). Both keep the input's codes and quantization (nearest upsampling only copies).
#include <algorithm>
#include <cmath>

#include "emc/format/emc_layers.h"
#include "lower/cpu_lowerer.h"
#include "lower/lowerer.h"

namespace emc::converter::detail {
namespace {

using format::LayerType;

// kmodel V3: QUANTIZED_RESIZE_NEAREST_NEIGHBOR on the uint8 CHW map. The SDK's float index rule is
// checked to give o / size for every output row and column (else the layer is refused).
void upsample_kmodel_v3(Lowerer& l, const LayerMatch& m) {
  const Node& n = l.first(m);
  const Graph& g = l.graph();
  const TensorId in = n.inputs[0];
  const Shape& s = g.shape(in);
  const Shape& os = g.shape(n.output);
  l.ensure_main_q(in, n);
  const Forms& fi = l.forms(in);
  if (fi.hwc_input || !fi.chw_of.empty()) {
    fail(Errc::kUnsupportedLayer,
         "UpSampling2D of the model input or of a flattened map is not supported (the CPU "
         "resize works on a channel-planar map): put a convolution before it",
         n);
  }
  for (int axis = 0; axis < 2; ++axis) {
    const std::uint32_t i = std::uint32_t(axis ? s.w() : s.h()),
                        o = std::uint32_t(axis ? os.w() : os.h());
    const std::uint32_t size = std::uint32_t(axis ? n.stride_w : n.stride_h);
    const float scale = static_cast<float>(i) / static_cast<float>(o);
    for (std::uint32_t k = 0; k < o; ++k) {
      const float f = std::floor(static_cast<float>(k) * scale);
      if (std::min(f, static_cast<float>(i - 1)) != static_cast<float>(k / size)) {
        fail(Errc::kUnsupportedLayer,
             "UpSampling2D size " + std::to_string(size) + " on " + std::to_string(i) +
                 " pixels: the K210 runtime's float index rule does not repeat every pixel "
                 "exactly",
             n);
      }
    }
  }
  format::ResizeNearestBody b;
  b.in_shape = {std::uint32_t(s.w()), std::uint32_t(s.h()), std::uint32_t(s.c())};
  b.out_width = std::uint32_t(os.w());
  b.out_height = std::uint32_t(os.h());
  const int ob = l.main_buffer(static_cast<std::uint64_t>(os.num_elements()), n.layer_ref());
  LayerInfo info;
  info.sources = {n.source.name};
  info.in_shape = s.dims;
  info.out_shape = os.dims;
  const QuantParam q = l.quant_of(in);
  info.out_scale = q.scale;
  info.out_bias = q.bias();
  l.add_main_layer(LayerType::kQuantizedResizeNearestNeighbor, b, info, fi.main_q, ob);
  Forms& fo = l.forms(n.output);
  fo.main_q = ob;
  fo.q = q;
  fo.has_q = true;
}

// EMC int8: EMC_RESIZE_NEAREST_INT8 in its asymmetric mode, src = floor(o * in / out) = o / f
// exactly (integer arithmetic).
void upsample_emc_int8(CpuLowerer& l, const LayerMatch& m) {
  const Node& n = l.first(m);
  const Graph& g = l.graph();
  const TensorId in = n.inputs[0];
  const Shape& s = g.shape(in);
  const Shape& os = g.shape(n.output);
  l.require_chw(in, n);
  l.ensure_q(in, n);
  if (os.h() != s.h() * n.stride_h || os.w() != s.w() * n.stride_w)
    fail(Errc::kInternal, "upsampled shape is not the input times the size", n);
  format::EmcResizeNearestInt8Body b;
  b.in_width = std::uint32_t(s.w());
  b.in_height = std::uint32_t(s.h());
  b.channels = std::uint32_t(s.c());
  b.out_width = std::uint32_t(os.w());
  b.out_height = std::uint32_t(os.h());
  b.mode = static_cast<std::uint32_t>(format::EmcResizeMode::kAsymmetric);
  const int ob = l.buffer(std::uint64_t(os.num_elements()), n.layer_ref());
  LayerInfo info;
  info.sources = CpuLowerer::sources_of(n);
  info.in_shape = s.dims;
  info.out_shape = os.dims;
  info.note = "int8 nearest " + std::to_string(n.stride_h) + "x" + std::to_string(n.stride_w) +
              " (codes kept: exact)";
  const int ib = l.form(in).q;
  l.add(LayerType::kEmcResizeNearestInt8, b, info,
        {fix(ib, &format::EmcResizeNearestInt8Body::main_mem_in_address),
         fix(ob, &format::EmcResizeNearestInt8Body::main_mem_out_address)},
        ib, ob);
  l.form(n.output).q = ob;
  l.form(n.output).quant = l.quant_of(in);
}

}  // namespace

const KindLowering& upsample_lowering() {
  using K = NodeKind;
  static const KindLowering lowering = {
      .kmodel_v3 = {{"upsample", {one_of({K::kUpSample})}, &upsample_kmodel_v3}},
      .emc_int8 = {{{"upsample", {one_of({K::kUpSample})}}, &upsample_emc_int8}},
  };
  return lowering;
}

}  // namespace emc::converter::detail
