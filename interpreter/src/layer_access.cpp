#include "layer_access.h"

#include <string>
#include <variant>

#include "emc/format/kpu_layout.h"

namespace emc::interpreter::detail {
namespace {

using format::LayerType;

std::uint64_t mul(std::uint64_t a, std::uint64_t b) {
  // Every factor comes from a 32-bit field and at most three are multiplied; saturate instead of
  // wrapping so an absurd product still fails the range checks.
  if (a != 0 && b > UINT64_MAX / a) return UINT64_MAX / 2;
  return a * b;
}

bool is_float_variant(LayerType t) {
  switch (t) {
    case LayerType::kGlobalMaxPool2d:
    case LayerType::kGlobalAveragePool2d:
    case LayerType::kMaxPool2d:
    case LayerType::kAveragePool2d:
    case LayerType::kFullyConnected:
    case LayerType::kQuantizedFullyConnected:  // shares the float body; the SDK never ran it
    case LayerType::kTensorflowFlatten:
    case LayerType::kResizeNearestNeighbor:
      return true;
    default:
      return false;
  }
}

Error mismatch(const format::Layer& /*layer*/, const char* expected) {
  return Error(Errc::kInvalidModel, std::string("body is not a ") + expected +
                                        " (the layer type and its decoded body disagree)");
}

template <class Body>
const Body* body_as(const format::Layer& layer) {
  return std::get_if<Body>(&layer.body);
}

Result<LayerAccess> conv_access(const format::ConvBody& b) {
  const format::KpuLayerFields f = b.fields();
  LayerAccess a;
  if (f.coef_group == 0 || f.wb_group == 0) {
    return Error(Errc::kInvalidModel, "coef_group " + std::to_string(f.coef_group) +
                                          " / wb_group " + std::to_string(f.wb_group) +
                                          " must be 1, 2 or 4");
  }
  // The KPU walks its maps with the register values themselves (kmodel_v3.md §5.2):
  // rows of a map = ceil(C / group) * channel_switch_addr.
  const std::uint64_t in_c = static_cast<std::uint64_t>(f.in_channels());
  const std::uint64_t out_c = static_cast<std::uint64_t>(f.out_channels());
  const std::uint64_t in_rows = mul((in_c + f.coef_group - 1) / f.coef_group,
                                    static_cast<std::uint64_t>(f.channel_switch_addr));
  const std::uint64_t out_rows = mul((out_c + f.wb_group - 1) / f.wb_group,
                                     static_cast<std::uint64_t>(f.wb_channel_switch_addr));
  a.kpu_reads.push_back({static_cast<std::uint64_t>(f.image_src_addr) * format::kKpuRowBytes,
                         in_rows * format::kKpuRowBytes});
  a.kpu_writes.push_back({static_cast<std::uint64_t>(f.image_dst_addr) * format::kKpuRowBytes,
                          out_rows * format::kKpuRowBytes});
  // Sampling pools (kmodel_v3.md §6.5): 5/6 keep rows 2y, 7 keeps rows 4y, of floor(H/s) rows.
  const std::uint64_t stride = f.pool_type == 5 || f.pool_type == 6 ? 2 : f.pool_type == 7 ? 4 : 0;
  const auto in_h = static_cast<std::uint64_t>(f.in_height());
  if (f.kernel_type == 0 && stride != 0 && in_h >= stride && f.channel_switch_addr % in_h == 0) {
    const std::uint64_t last_used = stride * (in_h / stride - 1);
    const std::uint64_t line_rows = static_cast<std::uint64_t>(f.channel_switch_addr) / in_h;
    a.kpu_read_unused_tail = (in_h - 1 - last_used) * line_rows * format::kKpuRowBytes;
  }
  if (b.main_mem_out()) {
    a.main_writes.push_back(
        {b.main_mem_out_address, static_cast<std::uint64_t>(f.dma_total_byte) + 1});
  }
  const std::uint64_t k2 = static_cast<std::uint64_t>(f.kernel_size() * f.kernel_size());
  const std::uint64_t pixels =
      mul(static_cast<std::uint64_t>(f.in_width()), static_cast<std::uint64_t>(f.in_height()));
  a.work =
      f.depth_wise_layer ? mul(mul(pixels, out_c), k2) : mul(mul(mul(pixels, out_c), in_c), k2);
  return a;
}

}  // namespace

Result<LayerAccess> layer_access(const format::Layer& layer) {
  const LayerType t = layer.type;
  const std::uint64_t fe = is_float_variant(t) ? 4 : 1;  // element size of pool/flatten/resize
  LayerAccess a;
  auto elementwise = [&a](std::uint32_t in_elem, std::uint32_t out_elem) {
    a.overlap = OverlapRule::kForwardElementwise;
    a.in_elem_bytes = in_elem;
    a.out_elem_bytes = out_elem;
  };
  switch (t) {
    case LayerType::kK210Conv: {
      const auto* b = body_as<format::ConvBody>(layer);
      if (!b) return mismatch(layer, "ConvBody");
      return conv_access(*b);
    }
    case LayerType::kAdd:
    case LayerType::kQuantizedAdd: {
      const std::uint64_t e = t == LayerType::kAdd ? 4 : 1;
      std::uint64_t in_a = 0, in_b = 0, out = 0, count = 0;
      if (t == LayerType::kAdd) {
        const auto* b = body_as<format::AddBody>(layer);
        if (!b) return mismatch(layer, "AddBody");
        in_a = b->main_mem_in_a_address, in_b = b->main_mem_in_b_address;
        out = b->main_mem_out_address, count = b->count;
      } else {
        const auto* b = body_as<format::QuantizedAddBody>(layer);
        if (!b) return mismatch(layer, "QuantizedAddBody");
        in_a = b->main_mem_in_a_address, in_b = b->main_mem_in_b_address;
        out = b->main_mem_out_address, count = b->count;
      }
      a.main_writes.push_back({out, mul(count, e)});
      a.main_reads.push_back({in_a, mul(count, e)});
      a.main_reads.push_back({in_b, mul(count, e)});
      elementwise(static_cast<std::uint32_t>(e), static_cast<std::uint32_t>(e));
      a.work = mul(count, 3);
      return a;
    }
    case LayerType::kGlobalMaxPool2d:
    case LayerType::kQuantizedGlobalMaxPool2d:
    case LayerType::kGlobalAveragePool2d:
    case LayerType::kQuantizedGlobalAveragePool2d: {
      const auto* b = body_as<format::GlobalPoolBody>(layer);
      if (!b) return mismatch(layer, "GlobalPoolBody");
      a.main_writes.push_back({b->main_mem_out_address, mul(b->channels, fe)});
      a.main_reads.push_back({b->main_mem_in_address, mul(mul(b->kernel_size, b->channels), fe)});
      a.work = mul(b->kernel_size, b->channels);
      return a;
    }
    case LayerType::kMaxPool2d:
    case LayerType::kQuantizedMaxPool2d:
    case LayerType::kAveragePool2d:
    case LayerType::kQuantizedAveragePool2d: {
      const auto* b = body_as<format::Pool2dBody>(layer);
      if (!b) return mismatch(layer, "Pool2dBody");
      const std::uint64_t in_n =
          mul(mul(b->in_shape.width, b->in_shape.height), b->in_shape.channels);
      const std::uint64_t out_n =
          mul(mul(b->out_shape.width, b->out_shape.height), b->out_shape.channels);
      a.main_writes.push_back({b->main_mem_out_address, mul(out_n, fe)});
      a.main_reads.push_back({b->main_mem_in_address, mul(in_n, fe)});
      a.work = mul(out_n, mul(b->kernel_width, b->kernel_height));
      return a;
    }
    case LayerType::kQuantize:
    case LayerType::kDequantize: {
      const auto* b = body_as<format::QuantizeBody>(layer);
      if (!b) return mismatch(layer, "QuantizeBody");
      const std::uint32_t in_e = t == LayerType::kQuantize ? 4 : 1;
      const std::uint32_t out_e = t == LayerType::kQuantize ? 1 : 4;
      a.main_writes.push_back({b->main_mem_out_address, mul(b->count, out_e)});
      a.main_reads.push_back({b->main_mem_in_address, mul(b->count, in_e)});
      elementwise(in_e, out_e);
      a.work = b->count;
      return a;
    }
    case LayerType::kRequantize: {
      const auto* b = body_as<format::RequantizeBody>(layer);
      if (!b) return mismatch(layer, "RequantizeBody");
      a.main_writes.push_back({b->main_mem_out_address, b->count});
      a.main_reads.push_back({b->main_mem_in_address, b->count});
      elementwise(1, 1);
      a.work = b->count;
      return a;
    }
    case LayerType::kL2Normalization:
    case LayerType::kSoftmax:
    case LayerType::kLogistic: {
      const auto* b = body_as<format::ChannelsBody>(layer);
      if (!b) return mismatch(layer, "ChannelsBody");
      a.main_writes.push_back({b->main_mem_out_address, mul(b->channels, 4)});
      a.main_reads.push_back({b->main_mem_in_address, mul(b->channels, 4)});
      elementwise(4, 4);
      a.work = mul(b->channels, 3);
      return a;
    }
    case LayerType::kConcat:
    case LayerType::kQuantizedConcat: {
      const auto* b = body_as<format::ConcatBody>(layer);
      if (!b) return mismatch(layer, "ConcatBody");
      std::uint64_t total = 0;
      for (const format::MemRange& r : b->inputs) {
        a.main_reads.push_back({r.start, r.size});
        total += r.size;
      }
      a.main_writes.insert(a.main_writes.begin(), ByteRange{b->main_mem_out_address, total});
      a.overlap = OverlapRule::kConcat;
      a.work = total;
      return a;
    }
    case LayerType::kFullyConnected:
    case LayerType::kQuantizedFullyConnected: {
      const auto* b = body_as<format::FullyConnectedBody>(layer);
      if (!b) return mismatch(layer, "FullyConnectedBody");
      a.main_writes.push_back({b->main_mem_out_address, mul(b->out_channels, fe)});
      a.main_reads.push_back({b->main_mem_in_address, mul(b->in_channels, fe)});
      a.work = mul(b->in_channels, b->out_channels);
      return a;
    }
    case LayerType::kTensorflowFlatten:
    case LayerType::kQuantizedTensorflowFlatten: {
      const auto* b = body_as<format::FlattenBody>(layer);
      if (!b) return mismatch(layer, "FlattenBody");
      const std::uint64_t n = mul(mul(b->shape.width, b->shape.height), b->shape.channels);
      a.main_writes.push_back({b->main_mem_out_address, mul(n, fe)});
      a.main_reads.push_back({b->main_mem_in_address, mul(n, fe)});
      a.work = n;
      return a;
    }
    case LayerType::kResizeNearestNeighbor:
    case LayerType::kQuantizedResizeNearestNeighbor: {
      const auto* b = body_as<format::ResizeNearestBody>(layer);
      if (!b) return mismatch(layer, "ResizeNearestBody");
      const std::uint64_t in_n =
          mul(mul(b->in_shape.width, b->in_shape.height), b->in_shape.channels);
      const std::uint64_t out_n = mul(mul(b->out_width, b->out_height), b->in_shape.channels);
      a.main_writes.push_back({b->main_mem_out_address, mul(out_n, fe)});
      a.main_reads.push_back({b->main_mem_in_address, mul(in_n, fe)});
      a.work = out_n;
      return a;
    }
    case LayerType::kChannelwiseDequantize: {
      const auto* b = body_as<format::ChannelwiseDequantizeBody>(layer);
      if (!b) return mismatch(layer, "ChannelwiseDequantizeBody");
      const std::uint64_t n = mul(b->params.size(), b->channel_size);
      a.main_writes.push_back({b->main_mem_out_address, mul(n, 4)});
      a.main_reads.push_back({b->main_mem_in_address, n});
      elementwise(1, 4);
      a.work = n;
      return a;
    }
    case LayerType::kK210AddPadding: {
      const auto* b = body_as<format::AddPaddingBody>(layer);
      if (!b) return mismatch(layer, "AddPaddingBody");
      a.main_reads.push_back({b->main_mem_in_address, b->channels});
      // Value c lands at pixel (0,0) of a 4x4 map in the W<=16 layout (kmodel_v3.md §5.3); the
      // following conv reads the whole map, so the whole map counts as written.
      a.kpu_writes.push_back(
          {static_cast<std::uint64_t>(b->kpu_mem_out_address) * format::kKpuRowBytes,
           mul((static_cast<std::uint64_t>(b->channels) + 3) / 4, 4 * 64)});
      a.work = b->channels;
      return a;
    }
    case LayerType::kK210RemovePadding: {
      const auto* b = body_as<format::RemovePaddingBody>(layer);
      if (!b) return mismatch(layer, "RemovePaddingBody");
      a.main_writes.push_back({b->main_mem_out_address, b->channels});
      // dest[c] = src[c * 16]: the last byte read is (channels - 1) * 16.
      a.main_reads.push_back(
          {b->main_mem_in_address, b->channels == 0 ? 0 : mul(b->channels - 1ull, 16) + 1});
      elementwise(16, 1);
      a.work = b->channels;
      return a;
    }
    case LayerType::kK210Upload: {
      const auto* b = body_as<format::UploadBody>(layer);
      if (!b) return mismatch(layer, "UploadBody");
      const std::uint64_t n = mul(mul(b->width, b->height), b->channels);
      a.main_reads.push_back({b->main_mem_in_address, n});
      if (b->width == 0 || b->height == 0 || b->channels == 0) {
        return Error(Errc::kInvalidModel, "upload of an empty map (width " +
                                              std::to_string(b->width) + ", height " +
                                              std::to_string(b->height) + ", channels " +
                                              std::to_string(b->channels) + ")");
      }
      a.kpu_writes.push_back(
          {static_cast<std::uint64_t>(b->kpu_mem_out_address) * format::kKpuRowBytes,
           format::kpu_map_bytes(b->width, b->height, b->channels)});
      a.work = n;
      return a;
    }
    case LayerType::kEmcConv2d:
    case LayerType::kEmcDepthwiseConv2d:
    case LayerType::kEmcConv2dF32:
    case LayerType::kEmcDepthwiseConv2dF32: {
      const format::EmcConvGeometry* g = nullptr;
      if (const auto* b = body_as<format::EmcConv2dInt8Body>(layer)) g = &b->geo;
      if (const auto* b = body_as<format::EmcConv2dF32Body>(layer)) g = &b->geo;
      const bool f32 = t == LayerType::kEmcConv2dF32 || t == LayerType::kEmcDepthwiseConv2dF32;
      if (!g || f32 != std::holds_alternative<format::EmcConv2dF32Body>(layer.body)) {
        return mismatch(layer, f32 ? "EmcConv2dF32Body" : "EmcConv2dInt8Body");
      }
      const std::uint64_t e = f32 ? 4 : 1;
      const std::uint64_t out_n = mul(mul(g->out_width, g->out_height), g->out_channels);
      a.main_writes.push_back({g->main_mem_out_address, mul(out_n, e)});
      a.main_reads.push_back(
          {g->main_mem_in_address, mul(mul(mul(g->in_width, g->in_height), g->in_channels), e)});
      const bool dw =
          t == LayerType::kEmcDepthwiseConv2d || t == LayerType::kEmcDepthwiseConv2dF32;
      a.work = mul(mul(out_n, mul(g->kernel_width, g->kernel_height)), dw ? 1 : g->in_channels);
      return a;
    }
    case LayerType::kEmcQuantizeInt8:
    case LayerType::kEmcDequantizeInt8: {
      const auto* b = body_as<format::EmcQuantizeInt8Body>(layer);
      if (!b) return mismatch(layer, "EmcQuantizeInt8Body");
      const std::uint32_t in_e = t == LayerType::kEmcQuantizeInt8 ? 4 : 1;
      const std::uint32_t out_e = t == LayerType::kEmcQuantizeInt8 ? 1 : 4;
      a.main_writes.push_back({b->main_mem_out_address, mul(b->count, out_e)});
      a.main_reads.push_back({b->main_mem_in_address, mul(b->count, in_e)});
      elementwise(in_e, out_e);
      a.work = b->count;
      return a;
    }
    case LayerType::kInvalid:
      break;
  }
  return Error(
      Errc::kUnsupportedLayer,
      "layer type " + std::to_string(static_cast<std::uint32_t>(t)) + " is not a kmodel V3 type");
}

}  // namespace emc::interpreter::detail
