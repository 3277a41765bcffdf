#include "layer_info.h"

#include <cstdio>

#include "emc/format/kpu_layout.h"
#include "emc/format/kpu_regs.h"

namespace emc::inspect {

using nlohmann::ordered_json;
using namespace emc::format;

std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string kpu_pool_name(std::int64_t pool_type) {
  static const char* const kNames[] = {
      "bypass",        "max_2_s2",       "mean_2_s2",     "max_4_s4",  "mean_4_s4",
      "left_top_2_s2", "right_top_2_s2", "left_top_4_s4", "mean_2_s1", "max_2_s1"};
  if (pool_type >= 0 && pool_type < 10) return kNames[pool_type];
  return "unknown(" + std::to_string(pool_type) + ")";
}

namespace {

std::string shape(std::uint64_t w, std::uint64_t h, std::uint64_t c) {
  return std::to_string(w) + "x" + std::to_string(h) + "x" + std::to_string(c);
}

const char* act_name(CpuActivation a) {
  switch (a) {
    case CpuActivation::kLinear:
      return "linear";
    case CpuActivation::kRelu:
      return "relu";
    case CpuActivation::kRelu6:
      return "relu6";
  }
  return "unknown";
}

struct Builder {
  LayerInfo& info;
  void read(const char* what, std::uint64_t addr, std::uint64_t bytes) {
    info.main.push_back({info.index, what, false, addr, addr + bytes});
  }
  void write(const char* what, std::uint64_t addr, std::uint64_t bytes) {
    info.main.push_back({info.index, what, true, addr, addr + bytes});
  }
  void kpu(const char* what, bool is_write, std::uint64_t row, std::uint64_t bytes) {
    info.kpu.push_back({info.index, what, is_write, row, row + bytes / kKpuRowBytes});
  }
};

void describe_conv(const Kmodel& m, const ConvBody& c, LayerInfo& info) {
  Builder b{info};
  const KpuLayerFields f = c.fields();
  const auto iw = static_cast<std::uint32_t>(f.in_width()),
             ih = static_cast<std::uint32_t>(f.in_height()),
             ic = static_cast<std::uint32_t>(f.in_channels());
  const auto ow = static_cast<std::uint32_t>(f.out_width()),
             oh = static_cast<std::uint32_t>(f.out_height()),
             oc = static_cast<std::uint32_t>(f.out_channels());
  const std::uint64_t src_bytes = kpu_map_bytes(iw, ih, ic), dst_bytes = kpu_map_bytes(ow, oh, oc);
  auto& p = info.params;
  p["kernel"] = f.kernel_type == 1 ? "3x3" : "1x1";
  p["depthwise"] = f.depth_wise_layer != 0;
  p["in"] = shape(iw, ih, ic);
  p["out"] = shape(ow, oh, oc);
  p["pool"] = kpu_pool_name(f.pool_type);
  p["src_rows"] = {f.image_src_addr, f.image_src_addr + static_cast<std::int64_t>(src_bytes / 64)};
  p["dst_rows"] = {f.image_dst_addr, f.image_dst_addr + static_cast<std::int64_t>(dst_bytes / 64)};
  p["dma_to_main"] = c.main_mem_out();
  if (c.main_mem_out()) p["main_mem_out_address"] = c.main_mem_out_address;
  p["arg_x"] = f.arg_x;
  p["shr_x"] = f.shr_x;
  p["arg_w"] = f.arg_w;
  p["shr_w"] = f.shr_w;
  p["arg_add"] = f.arg_add;
  p["pad_value"] = f.pad_value;
  p["load_time"] = f.load_time + 1;  // number of weight loads
  p["para_size"] = f.para_size;
  p["weights_bits"] = m.eight_bit_weights() ? 8 : 16;
  b.kpu("image_src_addr (input map)", false, static_cast<std::uint64_t>(f.image_src_addr),
        src_bytes);
  b.kpu("image_dst_addr (output map)", true, static_cast<std::uint64_t>(f.image_dst_addr),
        dst_bytes);
  if (c.main_mem_out()) {
    // The SDK DMAs ceil(N/8)*8 bytes (kmodel_v3.md §3.1).
    const std::uint64_t n = std::uint64_t{ow} * oh * oc;
    b.write("main_mem_out_address (DMA)", c.main_mem_out_address, (n + 7) / 8 * 8);
  }
}

}  // namespace

// The geometry of an EMC convolution (emc_layers.h) and its main-memory accesses.
template <class B>
void describe_emc_geometry(const EmcConvGeometry& g, unsigned elem, B& b, ordered_json& p) {
  p["in"] = shape(g.in_width, g.in_height, g.in_channels);
  p["out"] = shape(g.out_width, g.out_height, g.out_channels);
  p["kernel"] = std::to_string(g.kernel_width) + "x" + std::to_string(g.kernel_height);
  p["stride"] = std::to_string(g.stride_width) + "x" + std::to_string(g.stride_height);
  p["dilation"] = std::to_string(g.dilation_width) + "x" + std::to_string(g.dilation_height);
  p["padding_ltrb"] = std::to_string(g.pad_left) + "," + std::to_string(g.pad_top) + "," +
                      std::to_string(g.pad_right) + "," + std::to_string(g.pad_bottom);
  if (g.depth_multiplier != 1) p["depth_multiplier"] = g.depth_multiplier;
  b.read("main_mem_in_address", g.main_mem_in_address,
         std::uint64_t{elem} * g.in_width * g.in_height * g.in_channels);
  b.write("main_mem_out_address", g.main_mem_out_address,
          std::uint64_t{elem} * g.out_width * g.out_height * g.out_channels);
}

LayerInfo describe_layer(const Kmodel& m, std::size_t index) {
  const Layer& l = m.layers.at(index);
  LayerInfo info;
  info.index = index;
  info.type = std::string(to_string(l.type));
  info.body_offset = l.body_offset;
  info.body_size = l.body_size;
  info.params = ordered_json::object();
  Builder b{info};
  auto& p = info.params;
  const LayerType t = l.type;
  auto fbytes = [](bool is_float) { return is_float ? 4u : 1u; };
  if (const auto* c = std::get_if<ConvBody>(&l.body)) {
    describe_conv(m, *c, info);
  } else if (const auto* a = std::get_if<AddBody>(&l.body)) {
    p["count"] = a->count;
    b.read("main_mem_in_a_address", a->main_mem_in_a_address, 4ull * a->count);
    b.read("main_mem_in_b_address", a->main_mem_in_b_address, 4ull * a->count);
    b.write("main_mem_out_address", a->main_mem_out_address, 4ull * a->count);
  } else if (const auto* q = std::get_if<QuantizedAddBody>(&l.body)) {
    p["count"] = q->count;
    p["in_a"] = {{"offset", q->in_a_offset}, {"mul", q->in_a_mul}, {"shift", q->in_a_shift}};
    p["in_b"] = {{"offset", q->in_b_offset}, {"mul", q->in_b_mul}, {"shift", q->in_b_shift}};
    p["out"] = {{"offset", q->out_offset}, {"mul", q->out_mul}, {"shift", q->out_shift}};
    b.read("main_mem_in_a_address", q->main_mem_in_a_address, q->count);
    b.read("main_mem_in_b_address", q->main_mem_in_b_address, q->count);
    b.write("main_mem_out_address", q->main_mem_out_address, q->count);
  } else if (const auto* g = std::get_if<GlobalPoolBody>(&l.body)) {
    const unsigned e =
        fbytes(t == LayerType::kGlobalMaxPool2d || t == LayerType::kGlobalAveragePool2d);
    p["kernel_size"] = g->kernel_size;
    p["channels"] = g->channels;
    b.read("main_mem_in_address", g->main_mem_in_address,
           std::uint64_t{e} * g->kernel_size * g->channels);
    b.write("main_mem_out_address", g->main_mem_out_address, std::uint64_t{e} * g->channels);
  } else if (const auto* pl = std::get_if<Pool2dBody>(&l.body)) {
    const bool is_float = t == LayerType::kMaxPool2d || t == LayerType::kAveragePool2d;
    const unsigned e = fbytes(is_float);
    p["in"] = shape(pl->in_shape.width, pl->in_shape.height, pl->in_shape.channels);
    p["out"] = shape(pl->out_shape.width, pl->out_shape.height, pl->out_shape.channels);
    p["kernel"] = std::to_string(pl->kernel_width) + "x" + std::to_string(pl->kernel_height);
    p["stride"] = std::to_string(pl->stride_width) + "x" + std::to_string(pl->stride_height);
    p["padding"] = std::to_string(pl->padding_width) + "x" + std::to_string(pl->padding_height);
    if (is_float) p["act"] = act_name(pl->act);
    b.read("main_mem_in_address", pl->main_mem_in_address,
           std::uint64_t{e} * pl->in_shape.width * pl->in_shape.height * pl->in_shape.channels);
    b.write("main_mem_out_address", pl->main_mem_out_address,
            std::uint64_t{e} * pl->out_shape.width * pl->out_shape.height * pl->out_shape.channels);
  } else if (const auto* qz = std::get_if<QuantizeBody>(&l.body)) {
    const bool quantize = t == LayerType::kQuantize;
    p["count"] = qz->count;
    p["scale"] = qz->scale;
    p["bias"] = qz->bias;
    b.read("main_mem_in_address", qz->main_mem_in_address,
           std::uint64_t{fbytes(quantize)} * qz->count);
    b.write("main_mem_out_address", qz->main_mem_out_address,
            std::uint64_t{fbytes(!quantize)} * qz->count);
  } else if (const auto* rq = std::get_if<RequantizeBody>(&l.body)) {
    p["count"] = rq->count;
    b.read("main_mem_in_address", rq->main_mem_in_address, rq->count);
    b.write("main_mem_out_address", rq->main_mem_out_address, rq->count);
  } else if (const auto* ch = std::get_if<ChannelsBody>(&l.body)) {
    p["channels"] = ch->channels;
    b.read("main_mem_in_address", ch->main_mem_in_address, 4ull * ch->channels);
    b.write("main_mem_out_address", ch->main_mem_out_address, 4ull * ch->channels);
  } else if (const auto* cc = std::get_if<ConcatBody>(&l.body)) {
    std::uint64_t total = 0;
    p["input_count"] = cc->inputs.size();
    for (const MemRange& r : cc->inputs) {
      b.read("inputs_mem", r.start, r.size);
      total += r.size;
    }
    b.write("main_mem_out_address", cc->main_mem_out_address, total);
  } else if (const auto* fc = std::get_if<FullyConnectedBody>(&l.body)) {
    p["in_channels"] = fc->in_channels;
    p["out_channels"] = fc->out_channels;
    p["act"] = act_name(fc->act);
    b.read("main_mem_in_address", fc->main_mem_in_address, 4ull * fc->in_channels);
    b.write("main_mem_out_address", fc->main_mem_out_address, 4ull * fc->out_channels);
  } else if (const auto* fl = std::get_if<FlattenBody>(&l.body)) {
    const unsigned e = fbytes(t == LayerType::kTensorflowFlatten);
    const std::uint64_t n =
        std::uint64_t{e} * fl->shape.width * fl->shape.height * fl->shape.channels;
    p["shape"] = shape(fl->shape.width, fl->shape.height, fl->shape.channels);
    b.read("main_mem_in_address", fl->main_mem_in_address, n);
    b.write("main_mem_out_address", fl->main_mem_out_address, n);
  } else if (const auto* rs = std::get_if<ResizeNearestBody>(&l.body)) {
    const unsigned e = fbytes(t == LayerType::kResizeNearestNeighbor);
    p["in"] = shape(rs->in_shape.width, rs->in_shape.height, rs->in_shape.channels);
    p["out"] = shape(rs->out_width, rs->out_height, rs->in_shape.channels);
    p["align_corners"] = rs->align_corners;
    b.read("main_mem_in_address", rs->main_mem_in_address,
           std::uint64_t{e} * rs->in_shape.width * rs->in_shape.height * rs->in_shape.channels);
    b.write("main_mem_out_address", rs->main_mem_out_address,
            std::uint64_t{e} * rs->out_width * rs->out_height * rs->in_shape.channels);
  } else if (const auto* cd = std::get_if<ChannelwiseDequantizeBody>(&l.body)) {
    const std::uint64_t n = std::uint64_t{cd->channel_size} * cd->params.size();
    p["channels"] = cd->params.size();
    p["channel_size"] = cd->channel_size;
    if (!cd->params.empty()) {
      p["scale[0]"] = cd->params[0].scale;
      p["bias[0]"] = cd->params[0].bias;
    }
    b.read("main_mem_in_address", cd->main_mem_in_address, n);
    b.write("main_mem_out_address", cd->main_mem_out_address, 4 * n);
  } else if (const auto* ap = std::get_if<AddPaddingBody>(&l.body)) {
    p["channels"] = ap->channels;
    p["kpu_mem_out_address"] = ap->kpu_mem_out_address;
    b.read("main_mem_in_address", ap->main_mem_in_address, ap->channels);
    b.kpu("kpu_mem_out_address (4x4 map)", true, ap->kpu_mem_out_address,
          kpu_map_bytes(4, 4, ap->channels));
  } else if (const auto* rp = std::get_if<RemovePaddingBody>(&l.body)) {
    p["channels"] = rp->channels;
    b.read("main_mem_in_address", rp->main_mem_in_address, 16ull * rp->channels);
    b.write("main_mem_out_address", rp->main_mem_out_address, rp->channels);
  } else if (const auto* up = std::get_if<UploadBody>(&l.body)) {
    p["in"] = shape(up->width, up->height, up->channels);
    p["kpu_mem_out_address"] = up->kpu_mem_out_address;
    b.read("main_mem_in_address", up->main_mem_in_address,
           std::uint64_t{up->width} * up->height * up->channels);
    b.kpu("kpu_mem_out_address", true, up->kpu_mem_out_address,
          kpu_map_bytes(up->width, up->height, up->channels));
  } else if (const auto* ci = std::get_if<EmcConv2dInt8Body>(&l.body)) {
    describe_emc_geometry(ci->geo, 1, b, p);
    p["input_zero_point"] = ci->input_zero_point;
    p["output_zero_point"] = ci->output_zero_point;
    p["act_clamp"] = std::to_string(ci->act_min) + ".." + std::to_string(ci->act_max);
    p["weights_bytes"] = ci->weights.size();
    if (!ci->multiplier.empty()) {
      p["multiplier[0]"] = ci->multiplier[0];
      p["shift[0]"] = ci->shift[0];
    }
  } else if (const auto* cf = std::get_if<EmcConv2dF32Body>(&l.body)) {
    describe_emc_geometry(cf->geo, 4, b, p);
    p["act_clamp"] = std::to_string(cf->act_min) + ".." + std::to_string(cf->act_max);
    p["weights_bytes"] = 4 * cf->weights.size();
  } else if (const auto* eq = std::get_if<EmcQuantizeInt8Body>(&l.body)) {
    const bool quantize = t == LayerType::kEmcQuantizeInt8;
    p["count"] = eq->count;
    p["scale"] = eq->scale;
    p["zero_point"] = eq->zero_point;
    b.read("main_mem_in_address", eq->main_mem_in_address,
           std::uint64_t{fbytes(quantize)} * eq->count);
    b.write("main_mem_out_address", eq->main_mem_out_address,
            std::uint64_t{fbytes(!quantize)} * eq->count);
  } else if (const auto* ep = std::get_if<EmcPool2dInt8Body>(&l.body)) {
    p["in"] = shape(ep->in_width, ep->in_height, ep->channels);
    p["out"] = shape(ep->out_width, ep->out_height, ep->channels);
    p["kernel"] = std::to_string(ep->kernel_width) + "x" + std::to_string(ep->kernel_height);
    p["stride"] = std::to_string(ep->stride_width) + "x" + std::to_string(ep->stride_height);
    p["padding_ltrb"] = std::to_string(ep->pad_left) + "," + std::to_string(ep->pad_top) + "," +
                        std::to_string(ep->pad_right) + "," + std::to_string(ep->pad_bottom);
    p["input_zero_point"] = ep->input_zero_point;
    p["output_zero_point"] = ep->output_zero_point;
    p["multiplier"] = ep->multiplier;
    p["shift"] = ep->shift;
    p["act_clamp"] = std::to_string(ep->act_min) + ".." + std::to_string(ep->act_max);
    b.read("main_mem_in_address", ep->main_mem_in_address,
           std::uint64_t{ep->in_width} * ep->in_height * ep->channels);
    b.write("main_mem_out_address", ep->main_mem_out_address,
            std::uint64_t{ep->out_width} * ep->out_height * ep->channels);
  } else if (const auto* ew = std::get_if<EmcElementwiseInt8Body>(&l.body)) {
    static const char* const kOps[] = {"add", "sub", "mul", "max", "min"};
    static const char* const kBroadcast[] = {"none", "per_channel", "scalar"};
    const std::uint64_t n = std::uint64_t{ew->channels} * ew->plane;
    const std::uint64_t nb = ew->broadcast == 1 ? ew->channels : ew->broadcast == 2 ? 1 : n;
    p["op"] = ew->op < 5 ? kOps[ew->op] : "unknown";
    p["broadcast"] = ew->broadcast < 3 ? kBroadcast[ew->broadcast] : "unknown";
    p["channels"] = ew->channels;
    p["plane"] = ew->plane;
    p["left_shift"] = ew->left_shift;
    p["a"] = {
        {"zero_point", ew->a_zero_point}, {"multiplier", ew->a_multiplier}, {"shift", ew->a_shift}};
    p["b"] = {
        {"zero_point", ew->b_zero_point}, {"multiplier", ew->b_multiplier}, {"shift", ew->b_shift}};
    p["out_q"] = {{"zero_point", ew->out_zero_point},
                  {"multiplier", ew->out_multiplier},
                  {"shift", ew->out_shift}};
    p["act_clamp"] = std::to_string(ew->act_min) + ".." + std::to_string(ew->act_max);
    b.read("main_mem_in_a_address", ew->main_mem_in_a_address, n);
    b.read("main_mem_in_b_address", ew->main_mem_in_b_address, nb);
    b.write("main_mem_out_address", ew->main_mem_out_address, n);
  } else if (const auto* ec = std::get_if<EmcConcatInt8Body>(&l.body)) {
    std::uint64_t total = 0;
    p["plane"] = ec->plane;
    p["input_count"] = ec->inputs.size();
    p["output_zero_point"] = ec->output_zero_point;
    ordered_json ins = ordered_json::array();
    for (const EmcConcatInput& in : ec->inputs) {
      const std::uint64_t n = std::uint64_t{in.channels} * ec->plane;
      ins.push_back({{"channels", in.channels},
                     {"zero_point", in.zero_point},
                     {"multiplier", in.multiplier},
                     {"shift", in.shift}});
      b.read("inputs.main_mem_address", in.main_mem_address, n);
      total += n;
    }
    p["inputs"] = ins;
    b.write("main_mem_out_address", ec->main_mem_out_address, total);
  } else if (const auto* lt = std::get_if<EmcLutInt8Body>(&l.body)) {
    p["count"] = lt->count;
    p["table[-128,0,127]"] = std::to_string(lt->table[0]) + "," + std::to_string(lt->table[128]) +
                             "," + std::to_string(lt->table[255]);
    b.read("main_mem_in_address", lt->main_mem_in_address, lt->count);
    b.write("main_mem_out_address", lt->main_mem_out_address, lt->count);
  } else if (const auto* pr = std::get_if<EmcPreluInt8Body>(&l.body)) {
    const std::uint64_t n = std::uint64_t{pr->channels} * pr->plane;
    p["channels"] = pr->channels;
    p["plane"] = pr->plane;
    p["input_zero_point"] = pr->input_zero_point;
    p["output_zero_point"] = pr->output_zero_point;
    p["pos_multiplier"] = pr->pos_multiplier;
    p["pos_shift"] = pr->pos_shift;
    b.read("main_mem_in_address", pr->main_mem_in_address, n);
    b.write("main_mem_out_address", pr->main_mem_out_address, n);
  } else if (const auto* pc = std::get_if<EmcPadCropInt8Body>(&l.body)) {
    p["in"] = shape(pc->in_width, pc->in_height, pc->channels);
    p["out"] = shape(pc->out_width, pc->out_height, pc->channels);
    p["padding_ltrb"] = std::to_string(pc->pad_left) + "," + std::to_string(pc->pad_top) + "," +
                        std::to_string(pc->pad_right) + "," + std::to_string(pc->pad_bottom);
    p["fill"] = pc->fill;
    b.read("main_mem_in_address", pc->main_mem_in_address,
           std::uint64_t{pc->in_width} * pc->in_height * pc->channels);
    b.write("main_mem_out_address", pc->main_mem_out_address,
            std::uint64_t{pc->out_width} * pc->out_height * pc->channels);
  } else if (const auto* rn = std::get_if<EmcResizeNearestInt8Body>(&l.body)) {
    static const char* const kModes[] = {"asymmetric", "half_pixel", "align_corners"};
    p["in"] = shape(rn->in_width, rn->in_height, rn->channels);
    p["out"] = shape(rn->out_width, rn->out_height, rn->channels);
    p["mode"] = rn->mode < 3 ? kModes[rn->mode] : "unknown";
    b.read("main_mem_in_address", rn->main_mem_in_address,
           std::uint64_t{rn->in_width} * rn->in_height * rn->channels);
    b.write("main_mem_out_address", rn->main_mem_out_address,
            std::uint64_t{rn->out_width} * rn->out_height * rn->channels);
  }
  if (is_emc_type(t)) p["emc_type"] = true;
  return info;
}

ordered_json layer_detail(const Kmodel& m, std::size_t index) {
  const Layer& l = m.layers.at(index);
  const LayerInfo info = describe_layer(m, index);
  ordered_json j;
  j["index"] = index;
  j["type"] = info.type;
  j["type_value"] = static_cast<std::uint32_t>(l.type);
  j["body_offset"] = l.body_offset;
  j["body_size"] = l.body_size;
  ordered_json body = ordered_json::object();
  std::visit(
      [&](const auto& bd) {
        using T = std::decay_t<decltype(bd)>;
        if constexpr (std::is_same_v<T, EmcConv2dInt8Body> || std::is_same_v<T, EmcConv2dF32Body>) {
          body["flags"] = bd.geo.flags;
          body["weights"] = bd.weights;
          body["bias"] = bd.bias;
          if constexpr (std::is_same_v<T, EmcConv2dInt8Body>) {
            body["multiplier"] = bd.multiplier;
            body["shift"] = bd.shift;
          }
        } else {
          body["flags"] = bd.flags;
        }
        if constexpr (std::is_same_v<T, ConvBody>) {
          body["main_mem_out_address"] = bd.main_mem_out_address;
          body["layer_offset"] = bd.layer_offset;
          body["weights_offset"] = bd.weights_offset;
          body["bn_offset"] = bd.bn_offset;
          body["act_offset"] = bd.act_offset;
          body["weights_bytes"] = bd.weights.size();
          ordered_json words = ordered_json::array();
          for (std::uint64_t w : bd.layer_words) words.push_back(hex(w));
          body["layer_words"] = words;
          const KpuLayerFields f = bd.fields();
          ordered_json fields = ordered_json::object();
#define EMC_KPU_FIELD(name, word, lo, width, is_signed) fields[#name] = f.name;
#include "emc/format/kpu_fields.def"
#undef EMC_KPU_FIELD
          body["kpu_fields"] = fields;
          ordered_json bn = ordered_json::array();
          for (std::size_t c = 0; c < bd.bn_words.size(); ++c) {
            const KpuBatchNorm d = unpack_kpu_batchnorm(bd.bn_words[c]);
            bn.push_back({{"channel", c},
                          {"word", hex(bd.bn_words[c])},
                          {"norm_mul", d.norm_mul},
                          {"norm_shift", d.norm_shift},
                          {"norm_add", d.norm_add}});
          }
          body["batch_norm"] = bn;
          const KpuActivationTable t = unpack_kpu_activation(bd.act_words);
          ordered_json act = ordered_json::array();
          for (std::size_t s = 0; s < t.size(); ++s) {
            act.push_back({{"segment", s},
                           {"x_start", t[s].x_start},
                           {"y_mul", t[s].y_mul},
                           {"shift_number", t[s].shift_number},
                           {"result_bias", t[s].result_bias}});
          }
          body["activation"] = act;
        } else if constexpr (std::is_same_v<T, FullyConnectedBody>) {
          body["main_mem_in_address"] = bd.main_mem_in_address;
          body["main_mem_out_address"] = bd.main_mem_out_address;
          body["in_channels"] = bd.in_channels;
          body["out_channels"] = bd.out_channels;
          body["act"] = act_name(bd.act);
          body["weights"] = bd.weights;
          body["bias"] = bd.bias;
        } else if constexpr (std::is_same_v<T, ConcatBody>) {
          body["main_mem_out_address"] = bd.main_mem_out_address;
          ordered_json in = ordered_json::array();
          for (const MemRange& r : bd.inputs) in.push_back({{"start", r.start}, {"size", r.size}});
          body["inputs_mem"] = in;
        } else if constexpr (std::is_same_v<T, ChannelwiseDequantizeBody>) {
          body["main_mem_in_address"] = bd.main_mem_in_address;
          body["main_mem_out_address"] = bd.main_mem_out_address;
          body["channel_size"] = bd.channel_size;
          ordered_json ps = ordered_json::array();
          for (const ChannelQuant& q : bd.params)
            ps.push_back({{"scale", q.scale}, {"bias", q.bias}});
          body["params"] = ps;
        } else if constexpr (std::is_same_v<T, EmcPreluInt8Body>) {
          body["neg_multiplier"] = bd.neg_multiplier;
          body["neg_shift"] = bd.neg_shift;
        } else if constexpr (std::is_same_v<T, EmcLutInt8Body>) {
          body["main_mem_in_address"] = bd.main_mem_in_address;
          body["main_mem_out_address"] = bd.main_mem_out_address;
          body["table"] = bd.table;
        } else if constexpr (std::is_same_v<T, RequantizeBody>) {
          body["main_mem_in_address"] = bd.main_mem_in_address;
          body["main_mem_out_address"] = bd.main_mem_out_address;
          body["count"] = bd.count;
          body["table"] = bd.table;
        }
      },
      l.body);
  // Fixed-size CPU bodies: their summary params and addresses say everything.
  for (const auto& [k, v] : info.params.items()) {
    if (!body.contains(k)) body[k] = v;
  }
  for (const MainAccess& a : info.main) {
    body["main:" + a.what] = {{"address", a.begin}, {"bytes", a.end - a.begin}, {"write", a.write}};
  }
  j["body"] = body;
  return j;
}

}  // namespace emc::inspect
