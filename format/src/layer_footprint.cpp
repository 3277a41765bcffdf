#include "emc/format/layer_footprint.h"

#include <algorithm>
#include <string>
#include <type_traits>
#include <variant>

#include "emc/format/kpu_layout.h"

namespace emc::format {
namespace {

// The element sizes of a layer_types.def row.
struct Elem {
  std::uint64_t in = 1;
  std::uint64_t out = 1;
};

std::uint64_t mul(std::uint64_t a, std::uint64_t b) {
  // Every factor comes from a 32-bit field and at most three are multiplied; saturate instead of
  // wrapping so an absurd product still fails the range checks.
  if (a != 0 && b > UINT64_MAX / a) return UINT64_MAX / 2;
  return a * b;
}

std::uint64_t add(std::uint64_t a, std::uint64_t b) {
  return a + b < a || a + b > UINT64_MAX / 2 ? UINT64_MAX / 2 : a + b;
}

FootprintRange at(std::uint64_t start, std::uint64_t size, std::string_view field,
                  std::uint64_t field_offset) {
  FootprintRange r;
  r.start = start;
  r.size = size;
  r.field = field;
  r.field_offset = field_offset;
  return r;
}

// The common shape of a CPU layer: one input at body offset 4, one output at 8.
void in_out(LayerFootprint& f, std::uint32_t in, std::uint64_t in_bytes, std::uint32_t out,
            std::uint64_t out_bytes) {
  f.main_reads.push_back(at(in, in_bytes, "main_mem_in_address", 4));
  f.main_writes.push_back(at(out, out_bytes, "main_mem_out_address", 8));
}

void elementwise(LayerFootprint& f, std::uint64_t in_elem, std::uint64_t out_elem) {
  f.overlap = OverlapRule::kForwardElementwise;
  f.in_elem_bytes = static_cast<std::uint32_t>(in_elem);
  f.out_elem_bytes = static_cast<std::uint32_t>(out_elem);
}

template <class AddLike>
Status add_footprint(const AddLike& b, Elem e, LayerFootprint& f) {
  const std::uint64_t n = mul(b.count, e.in);
  f.main_reads.push_back(at(b.main_mem_in_a_address, n, "main_mem_in_a_address", 4));
  f.main_reads.push_back(at(b.main_mem_in_b_address, n, "main_mem_in_b_address", 8));
  f.main_writes.push_back(
      at(b.main_mem_out_address, mul(b.count, e.out), "main_mem_out_address", 12));
  elementwise(f, e.in, e.out);
  f.work = mul(b.count, 3);
  return ok_status();
}

Status footprint(const AddBody& b, Elem e, LayerFootprint& f) {
  return add_footprint(b, e, f);
}
Status footprint(const QuantizedAddBody& b, Elem e, LayerFootprint& f) {
  return add_footprint(b, e, f);
}

Status footprint(const GlobalPoolBody& b, Elem e, LayerFootprint& f) {
  in_out(f, b.main_mem_in_address, mul(mul(b.kernel_size, b.channels), e.in),
         b.main_mem_out_address, mul(b.channels, e.out));
  f.work = mul(b.kernel_size, b.channels);
  return ok_status();
}

std::uint64_t elements(const Shape3& s) {
  return mul(mul(s.width, s.height), s.channels);
}

// The input indices one axis of a pool reads: the union of the windows [o*stride - padding,
// + kernel) clipped to [0, in), o < out (kmodel_v3.md §5.3, kpu_quantized_max_pool2d). Windows
// move right with o, so the first non-empty window holds the lowest index and the last one
// starting inside the input the highest. Empty when no window reaches the input.
struct AxisReach {
  std::int64_t first = 0;
  std::int64_t last = -1;
  bool empty() const { return last < first; }
};
AxisReach pool_axis_reach(std::uint32_t out, std::uint32_t in, std::uint32_t kernel,
                          std::uint32_t stride, std::uint32_t padding) {
  AxisReach r;
  if (out == 0 || in == 0 || kernel == 0 || stride == 0) return r;
  const std::int64_t s = stride, p = padding, k = kernel, n = in;
  const std::int64_t o_last = std::min<std::int64_t>(out - 1, (n - 1 + p) / s);
  const std::int64_t end = o_last * s - p + k;  // one past the last window's last tap
  if (end <= 0) return r;
  const std::int64_t o_first = p >= k ? (p - k) / s + 1 : 0;  // first o with o*s - p + k > 0
  if (o_first > o_last) return r;
  r.first = std::max<std::int64_t>(o_first * s - p, 0);
  r.last = std::min(end, n) - 1;
  return r;
}

Status footprint(const Pool2dBody& b, Elem e, LayerFootprint& f) {
  const std::uint64_t out_n = elements(b.out_shape);
  // Read extent: from the first to the last byte a window touches, not the whole declared
  // in_shape from the start address (a 1x1 pool that crops from a shifted start, or samples every
  // second pixel, never reads the declared extent's tail). Start stays at main_mem_in_address.
  const AxisReach ys = pool_axis_reach(b.out_shape.height, b.in_shape.height, b.kernel_height,
                                       b.stride_height, b.padding_height);
  const AxisReach xs = pool_axis_reach(b.out_shape.width, b.in_shape.width, b.kernel_width,
                                       b.stride_width, b.padding_width);
  std::uint64_t in_bytes = 0;
  if (out_n != 0 && !ys.empty() && !xs.empty()) {
    const std::uint64_t w = b.in_shape.width;
    const std::uint64_t last = add(add(mul(b.out_shape.channels - 1ull, mul(w, b.in_shape.height)),
                                       mul(std::uint64_t(ys.last), w)),
                                   std::uint64_t(xs.last));
    in_bytes = mul(add(last, 1), e.in);
  }
  in_out(f, b.main_mem_in_address, in_bytes, b.main_mem_out_address, mul(out_n, e.out));
  f.work = mul(out_n, mul(b.kernel_width, b.kernel_height));
  return ok_status();
}

Status footprint(const QuantizeBody& b, Elem e, LayerFootprint& f) {
  in_out(f, b.main_mem_in_address, mul(b.count, e.in), b.main_mem_out_address, mul(b.count, e.out));
  elementwise(f, e.in, e.out);
  f.work = b.count;
  return ok_status();
}

Status footprint(const RequantizeBody& b, Elem e, LayerFootprint& f) {
  in_out(f, b.main_mem_in_address, mul(b.count, e.in), b.main_mem_out_address, mul(b.count, e.out));
  elementwise(f, e.in, e.out);
  f.work = b.count;
  return ok_status();
}

Status footprint(const ChannelsBody& b, Elem e, LayerFootprint& f) {
  in_out(f, b.main_mem_in_address, mul(b.channels, e.in), b.main_mem_out_address,
         mul(b.channels, e.out));
  elementwise(f, e.in, e.out);
  f.work = mul(b.channels, 3);
  return ok_status();
}

Status footprint(const ConcatBody& b, Elem /*bytes*/, LayerFootprint& f) {
  std::uint64_t total = 0;
  for (std::size_t k = 0; k < b.inputs.size(); ++k) {
    f.main_reads.push_back(at(b.inputs[k].start, b.inputs[k].size, "inputs_mem.start", 12 + 8 * k));
    total += b.inputs[k].size;
  }
  f.main_writes.push_back(at(b.main_mem_out_address, total, "main_mem_out_address", 4));
  f.overlap = OverlapRule::kConcat;
  f.work = total;
  return ok_status();
}

Status footprint(const FullyConnectedBody& b, Elem e, LayerFootprint& f) {
  in_out(f, b.main_mem_in_address, mul(b.in_channels, e.in), b.main_mem_out_address,
         mul(b.out_channels, e.out));
  f.work = mul(b.in_channels, b.out_channels);
  return ok_status();
}

Status footprint(const FlattenBody& b, Elem e, LayerFootprint& f) {
  const std::uint64_t n = elements(b.shape);
  in_out(f, b.main_mem_in_address, mul(n, e.in), b.main_mem_out_address, mul(n, e.out));
  f.work = n;
  return ok_status();
}

Status footprint(const ResizeNearestBody& b, Elem e, LayerFootprint& f) {
  const std::uint64_t out_n = mul(mul(b.out_width, b.out_height), b.in_shape.channels);
  in_out(f, b.main_mem_in_address, mul(elements(b.in_shape), e.in), b.main_mem_out_address,
         mul(out_n, e.out));
  f.work = out_n;
  return ok_status();
}

Status footprint(const ChannelwiseDequantizeBody& b, Elem e, LayerFootprint& f) {
  const std::uint64_t n = mul(b.params.size(), b.channel_size);
  in_out(f, b.main_mem_in_address, mul(n, e.in), b.main_mem_out_address, mul(n, e.out));
  elementwise(f, e.in, e.out);
  f.work = n;
  return ok_status();
}

Status footprint(const AddPaddingBody& b, Elem e, LayerFootprint& f) {
  f.main_reads.push_back(
      at(b.main_mem_in_address, mul(b.channels, e.in), "main_mem_in_address", 4));
  // Channel c lands at pixel (0,0) of a 4x4 map in the W <= 16 layout (kmodel_v3.md §5.3); the
  // following conv reads the whole map, so the whole map counts as written.
  f.kpu_writes.push_back(at(std::uint64_t{b.kpu_mem_out_address} * kKpuRowBytes,
                            mul((std::uint64_t{b.channels} + 3) / 4, 4 * kKpuRowBytes),
                            "kpu_mem_out_address (4x4 map)", 8));
  f.work = b.channels;
  return ok_status();
}

Status footprint(const RemovePaddingBody& b, Elem e, LayerFootprint& f) {
  // SDK-C kpu_remove_padding: dest[c] = src[c * 16] for c < channels (kmodel_v3.md §5.3), so the
  // last byte read is 16 * (channels - 1): the read extent is 16 * (channels - 1) + 1 bytes, not
  // the 16 * channels of the dense 4x4 maps the preceding conv DMAs out.
  const std::uint64_t in_bytes = b.channels == 0 ? 0 : mul(b.channels - 1ull, 16) + 1;
  in_out(f, b.main_mem_in_address, in_bytes, b.main_mem_out_address, mul(b.channels, e.out));
  elementwise(f, 16, e.out);  // input elements 16 bytes apart
  f.work = b.channels;
  return ok_status();
}

Status footprint(const UploadBody& b, Elem e, LayerFootprint& f) {
  const std::uint64_t n = mul(mul(b.width, b.height), b.channels);
  f.main_reads.push_back(at(b.main_mem_in_address, mul(n, e.in), "main_mem_in_address", 4));
  if (b.width == 0 || b.height == 0 || b.channels == 0) {
    return Error(Errc::kInvalidModel, "upload of an empty map (width " + std::to_string(b.width) +
                                          ", height " + std::to_string(b.height) + ", channels " +
                                          std::to_string(b.channels) + ")");
  }
  f.kpu_writes.push_back(at(std::uint64_t{b.kpu_mem_out_address} * kKpuRowBytes,
                            kpu_map_bytes(b.width, b.height, b.channels), "kpu_mem_out_address",
                            8));
  f.work = n;
  return ok_status();
}

// EMC convolutions (emc_layers.h): CHW in, CHW out; work = output pixels x weights (the MACs).
Status emc_conv_footprint(const EmcConvGeometry& g, std::uint64_t weights, Elem e,
                          LayerFootprint& f) {
  const std::uint64_t pixels = mul(g.out_width, g.out_height);
  in_out(f, g.main_mem_in_address, mul(mul(mul(g.in_width, g.in_height), g.in_channels), e.in),
         g.main_mem_out_address, mul(mul(pixels, g.out_channels), e.out));
  f.work = mul(pixels, weights);
  return ok_status();
}
Status footprint(const EmcConv2dInt8Body& b, Elem e, LayerFootprint& f) {
  return emc_conv_footprint(b.geo, b.weights.size(), e, f);
}
Status footprint(const EmcConv2dF32Body& b, Elem e, LayerFootprint& f) {
  return emc_conv_footprint(b.geo, b.weights.size(), e, f);
}
Status footprint(const EmcQuantizeInt8Body& b, Elem e, LayerFootprint& f) {
  in_out(f, b.main_mem_in_address, mul(b.count, e.in), b.main_mem_out_address, mul(b.count, e.out));
  elementwise(f, e.in, e.out);
  f.work = b.count;
  return ok_status();
}

// EMC int8 pools, elementwise, concat, LUT, pad/crop, resize (emc_layers.h): all CHW int8.
Status footprint(const EmcPool2dInt8Body& b, Elem e, LayerFootprint& f) {
  const std::uint64_t out_n = mul(mul(b.out_width, b.out_height), b.channels);
  in_out(f, b.main_mem_in_address, mul(mul(mul(b.in_width, b.in_height), b.channels), e.in),
         b.main_mem_out_address, mul(out_n, e.out));
  f.work = mul(out_n, mul(b.kernel_width, b.kernel_height));
  return ok_status();
}
Status footprint(const EmcElementwiseInt8Body& b, Elem e, LayerFootprint& f) {
  const std::uint64_t n = mul(b.channels, b.plane);
  const auto bc = static_cast<EmcBroadcast>(b.broadcast);
  const std::uint64_t nb = bc == EmcBroadcast::kPerChannel ? b.channels
                           : bc == EmcBroadcast::kScalar   ? 1
                                                           : n;  // kNone (and invalid values)
  f.main_reads.push_back(at(b.main_mem_in_a_address, mul(n, e.in), "main_mem_in_a_address", 4));
  f.main_reads.push_back(at(b.main_mem_in_b_address, mul(nb, e.in), "main_mem_in_b_address", 8));
  f.main_writes.push_back(at(b.main_mem_out_address, mul(n, e.out), "main_mem_out_address", 12));
  // Same shapes: element i is read before it is written. A broadcast b is read for every
  // channel, so an output over it would clobber it.
  if (nb == n) elementwise(f, e.in, e.out);
  f.work = mul(n, 3);
  return ok_status();
}
Status footprint(const EmcConcatInt8Body& b, Elem /*bytes*/, LayerFootprint& f) {
  std::uint64_t total = 0;
  for (std::size_t k = 0; k < b.inputs.size(); ++k) {
    const std::uint64_t n = mul(b.inputs[k].channels, b.plane);
    f.main_reads.push_back(
        at(b.inputs[k].main_mem_address, n, "inputs.main_mem_address", 20 + 20 * k));
    total = total + n < total ? UINT64_MAX / 2 : total + n;
  }
  f.main_writes.push_back(at(b.main_mem_out_address, total, "main_mem_out_address", 4));
  f.overlap = OverlapRule::kConcat;  // an input at its own slot is requantized in place
  f.work = total;
  return ok_status();
}
Status footprint(const EmcLutInt8Body& b, Elem e, LayerFootprint& f) {
  in_out(f, b.main_mem_in_address, mul(b.count, e.in), b.main_mem_out_address, mul(b.count, e.out));
  elementwise(f, e.in, e.out);
  f.work = b.count;
  return ok_status();
}
Status footprint(const EmcPreluInt8Body& b, Elem e, LayerFootprint& f) {
  const std::uint64_t n = mul(b.channels, b.plane);
  in_out(f, b.main_mem_in_address, mul(n, e.in), b.main_mem_out_address, mul(n, e.out));
  elementwise(f, e.in, e.out);
  f.work = n;
  return ok_status();
}
Status footprint(const EmcPadCropInt8Body& b, Elem e, LayerFootprint& f) {
  const std::uint64_t out_n = mul(mul(b.out_width, b.out_height), b.channels);
  in_out(f, b.main_mem_in_address, mul(mul(mul(b.in_width, b.in_height), b.channels), e.in),
         b.main_mem_out_address, mul(out_n, e.out));
  f.work = out_n;
  return ok_status();
}
Status footprint(const EmcResizeNearestInt8Body& b, Elem e, LayerFootprint& f) {
  const std::uint64_t out_n = mul(mul(b.out_width, b.out_height), b.channels);
  in_out(f, b.main_mem_in_address, mul(mul(mul(b.in_width, b.in_height), b.channels), e.in),
         b.main_mem_out_address, mul(out_n, e.out));
  f.work = out_n;
  return ok_status();
}

// `body_offset`: where the body starts in the file; the register block is elsewhere in it.
Status conv_footprint(const ConvBody& b, std::uint64_t body_offset, LayerFootprint& f) {
  const KpuLayerFields r = b.fields();
  if (r.coef_group == 0 || r.wb_group == 0) {
    return Error(Errc::kInvalidModel, "coef_group " + std::to_string(r.coef_group) +
                                          " / wb_group " + std::to_string(r.wb_group) +
                                          " must be 1, 2 or 4");
  }
  // The KPU walks its maps with the register values themselves (kmodel_v3.md §5.2):
  // rows of a map = ceil(C / group) * channel_switch_addr.
  const auto in_c = static_cast<std::uint64_t>(r.in_channels());
  const auto out_c = static_cast<std::uint64_t>(r.out_channels());
  const std::uint64_t in_rows = mul((in_c + r.coef_group - 1) / r.coef_group,
                                    static_cast<std::uint64_t>(r.channel_switch_addr));
  const std::uint64_t out_rows = mul((out_c + r.wb_group - 1) / r.wb_group,
                                     static_cast<std::uint64_t>(r.wb_channel_switch_addr));
  // Both map addresses sit in register word 1 of the block at layer_offset.
  const std::uint64_t regs = b.layer_offset + 8 - body_offset;
  if (b.main_mem_out()) {
    const std::uint64_t n = static_cast<std::uint64_t>(r.dma_total_byte) + 1;
    FootprintRange dma =
        at(b.main_mem_out_address, n, "main_mem_out_address (DMA, ceil(N/8)*8)", 4);
    dma.touched = (n + 7) / 8 * 8;  // the SDK DMAs (dma_total_byte + 8) / 8 64-bit words
    f.main_writes.push_back(dma);
  }
  f.kpu_reads.push_back(at(static_cast<std::uint64_t>(r.image_src_addr) * kKpuRowBytes,
                           mul(in_rows, kKpuRowBytes), "image_src_addr (input map)", regs));
  f.kpu_writes.push_back(at(static_cast<std::uint64_t>(r.image_dst_addr) * kKpuRowBytes,
                            mul(out_rows, kKpuRowBytes), "image_dst_addr (output map)", regs));
  // Sampling pools (kmodel_v3.md §6.5): 5/6 keep rows 2y, 7 keeps rows 4y, of floor(H/s) rows.
  const std::uint64_t stride = r.pool_type == 5 || r.pool_type == 6 ? 2 : r.pool_type == 7 ? 4 : 0;
  const auto in_h = static_cast<std::uint64_t>(r.in_height());
  if (r.kernel_type == 0 && stride != 0 && in_h >= stride && r.channel_switch_addr % in_h == 0) {
    const std::uint64_t last_used = stride * (in_h / stride - 1);
    const std::uint64_t line_rows = static_cast<std::uint64_t>(r.channel_switch_addr) / in_h;
    f.kpu_read_unused_tail = (in_h - 1 - last_used) * line_rows * kKpuRowBytes;
  }
  const auto k2 = static_cast<std::uint64_t>(r.kernel_size() * r.kernel_size());
  const std::uint64_t pixels =
      mul(static_cast<std::uint64_t>(r.in_width()), static_cast<std::uint64_t>(r.in_height()));
  f.work =
      r.depth_wise_layer ? mul(mul(pixels, out_c), k2) : mul(mul(mul(pixels, out_c), in_c), k2);
  return ok_status();
}

template <class Body>
Status footprint_as(const Layer& layer, Elem e, const char* body_name, LayerFootprint& f) {
  if constexpr (std::is_void_v<Body>) {  // kInvalid
    (void)e, (void)body_name, (void)f;
    return Error(Errc::kUnsupportedLayer,
                 "layer type " + std::to_string(static_cast<std::uint32_t>(layer.type)) +
                     " is not a kmodel V3 type");
  } else {
    const Body* b = std::get_if<Body>(&layer.body);
    if (b == nullptr) {
      return Error(Errc::kInvalidModel, std::string("body is not a ") + body_name +
                                            " (the layer type and its decoded body disagree)");
    }
    if constexpr (std::is_same_v<Body, ConvBody>) {
      return conv_footprint(*b, layer.body_offset, f);
    } else {
      return footprint(*b, e, f);
    }
  }
}

}  // namespace

Result<LayerFootprint> layer_footprint(const Layer& layer) {
  LayerFootprint f;
  Status s = Error(Errc::kUnsupportedLayer,
                   "layer type " + std::to_string(static_cast<std::uint32_t>(layer.type)) +
                       " is not a kmodel V3 type");
  switch (layer.type) {
#define EMC_LAYER_TYPE(name, value, printable, Body, in_bytes, out_bytes) \
  case LayerType::name:                                                   \
    s = footprint_as<Body>(layer, Elem{in_bytes, out_bytes}, #Body, f);   \
    break;
#include "emc/format/layer_types.def"
#undef EMC_LAYER_TYPE
  }
  if (!s.ok()) return s.error();
  return f;
}

}  // namespace emc::format
