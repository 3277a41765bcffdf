// Lowering of an optimized float graph to kmodel V3 layers (K210 and generic CPU targets).
// See convert.h for what runs where and docs/converter_k210.md for the derivations.
#include "k210_lower.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <limits>
#include <map>
#include <sstream>

#include "emc/converter/activation_fit.h"
#include "emc/converter/k210_conv_args.h"
#include "emc/converter/k210_layer.h"
#include "emc/converter/layer_table.h"
#include "emc/converter/quantize.h"
#include "emc/format/kpu_layout.h"
#include "lower/cpu_target.h"

namespace emc::converter::detail {
namespace {

using format::LayerType;

// Pending 2x subsampling of a KPU map stored at full resolution (stride-2 convs whose sampling
// is done by the consumer, see convert.h).
// A fixup that writes the address of `buffer` (+ `add`) into `member` of the layer's Body.
template <class Body, class Field>
Fixup fix(int buffer, Field Body::*member, std::uint64_t add = 0) {
  return Fixup{buffer, add, [member](format::Layer& l, std::uint64_t a) {
                 std::get<Body>(l.body).*member = static_cast<Field>(a);
               }};
}

enum class Sub { kNone, kLeftTop, kRightTopShift };

// Representations of one graph tensor that exist so far.
struct Forms {
  int kpu = -1;         // KPU buffer with the stored map
  int kpu_writer = -1;  // lowered K210_CONV layer that writes it (-1: the model input)
  // A conv split by output channels (more than the KPU's 1024 per layer): (layer, first channel)
  // of every part; kpu_writer is the last part.
  std::vector<std::pair<int, std::int32_t>> writer_parts;
  Sub sub = Sub::kNone;
  std::int32_t full_h = 0, full_w = 0;  // stored map size when sub != kNone
  // A map under the KPU's 4x4 (k210) held at the top-left of a pad_h x pad_w KPU map (0: not
  // padded). pad_zero: the rest of that map holds code 0 (real 0 when the zero point is 0), so a
  // 3x3 'same' conv reads it as Keras's zero padding; otherwise it holds what a conv computed.
  std::int32_t pad_h = 0, pad_w = 0;
  bool pad_zero = false;
  int main_q = -1;  // uint8 CHW in main memory
  int main_f = -1;  // float32 CHW in main memory
  bool has_q = false;
  QuantParam q;
  // Main-memory data is a CHW map of this [H, W, C] shape while the tensor is its row-major NHWC
  // flatten (Flatten/Reshape aliases). Empty: the data is in the tensor's own order.
  std::vector<std::int32_t> chw_of;
  bool hwc_input = false;  // graph input of a float-first model: NHWC order as the user holds it
};

// Rows of a W x H KPU map before channel c0 (c0 a multiple of the channels sharing a row).
std::uint64_t rows_before(std::int32_t w, std::int32_t h, std::int32_t c0) {
  const auto l = format::kpu_row_layout(static_cast<std::uint32_t>(w));
  return std::uint64_t(c0) / l.groups * l.row_len * std::uint64_t(h);
}

[[noreturn]] void fail(Errc code, const std::string& msg, const Node& node) {
  throw ErrorException(Error(code, msg).with_layer(node.layer_ref()));
}

// Geometry of a CPU pool layer (addresses are patched in by the memory plan).
format::Pool2dBody pool2d_body(const Node& n, const Shape& s, const Shape& os) {
  format::Pool2dBody b;
  b.in_shape = {std::uint32_t(s.w()), std::uint32_t(s.h()), std::uint32_t(s.c())};
  b.out_shape = {std::uint32_t(os.w()), std::uint32_t(os.h()), std::uint32_t(os.c())};
  b.kernel_width = std::uint32_t(n.kernel_w);
  b.kernel_height = std::uint32_t(n.kernel_h);
  b.stride_width = std::uint32_t(n.stride_w);
  b.stride_height = std::uint32_t(n.stride_h);
  b.padding_width = std::uint32_t(n.pad.left);
  b.padding_height = std::uint32_t(n.pad.top);
  return b;
}

bool relu_family(const Activation& a, bool& relu6) {
  relu6 = a.is_relu6();
  return a.is_plain_relu() || a.is_relu6();
}

std::vector<std::uint8_t> weight_bytes_of(const WeightQuant& w) {
  std::vector<std::uint8_t> out;
  out.reserve(w.codes.size() * (w.bits == 16 ? 2 : 1));
  for (std::uint16_t c : w.codes) {
    out.push_back(static_cast<std::uint8_t>(c & 0xff));
    if (w.bits == 16) out.push_back(static_cast<std::uint8_t>(c >> 8));
  }
  return out;
}

class Lowerer {
 public:
  Lowerer(const Graph& g, const std::vector<Range>& ranges, const ConvertOptions& o)
      : g_(g), ranges_(ranges), opt_(o), forms_(g.tensors.size()) {}

  LoweredModel run();

 private:
  // ---- buffers and layers ----
  int new_buffer(Mem mem, std::uint64_t bytes, std::uint32_t rows, const LayerRef& owner) {
    Buffer b;
    b.mem = mem;
    b.bytes = bytes;
    b.rows = rows;
    b.owner = owner;
    out_.buffers.push_back(b);
    return static_cast<int>(out_.buffers.size()) - 1;
  }
  int step() const { return static_cast<int>(out_.layers.size()); }
  void use(int buf, int at) {
    auto& b = out_.buffers[static_cast<std::size_t>(buf)];
    b.first = std::min(b.first, at);
    b.last = std::max(b.last, at);
  }
  int kpu_map_buffer(std::int32_t h, std::int32_t w, std::int32_t c, const LayerRef& owner,
                     std::uint32_t extra_rows = 0) {
    const auto rows = static_cast<std::uint32_t>(
        format::kpu_map_rows(static_cast<std::uint32_t>(w), static_cast<std::uint32_t>(h),
                             static_cast<std::uint32_t>(c)));
    return new_buffer(Mem::kKpu, std::uint64_t{rows} * 64, rows + extra_rows, owner);
  }
  int main_buffer(std::uint64_t bytes, const LayerRef& owner) {
    return new_buffer(Mem::kMain, bytes, 0, owner);
  }
  // Appends a layer; `reads`/`writes` get their lifetimes extended to this step.
  int add_layer(LayerType type, format::LayerBody body, LayerInfo info, std::vector<Fixup> fix) {
    LoweredLayer l;
    l.layer.type = type;
    l.layer.body = std::move(body);
    info.index = out_.layers.size();
    info.type = type;
    info.on_kpu = format::is_k210_type(type);
    l.info = std::move(info);
    for (const Fixup& f : fix) use(f.buffer, step());
    l.fixups = std::move(fix);
    out_.layers.push_back(std::move(l));
    return static_cast<int>(out_.layers.size()) - 1;
  }

  // ---- quantization of tensors ----
  QuantParam quant_of(TensorId t) {
    Forms& f = forms_[static_cast<std::size_t>(t)];
    if (!f.has_q) {
      const Range r = ranges_.at(static_cast<std::size_t>(t));
      auto p = quant_param_from_range(r.min, r.max);
      if (!p.ok()) {
        throw ErrorException(std::move(p).error().prefix("tensor '" + g_.tensor(t).name + "': "));
      }
      f.q = p.value();
      f.has_q = true;
    }
    return f.q;
  }
  std::int64_t count(TensorId t) const { return g_.shape(t).num_elements(); }

  // ---- representation changes ----
  void ensure_main_q(TensorId t, const Node& ctx);
  void ensure_main_f(TensorId t, const Node& ctx);
  void ensure_kpu(TensorId t, const Node& ctx);
  void materialize_subsample(TensorId t, const Node& ctx);
  void enable_dma(TensorId t, const Node& ctx);
  // DMAs t's stored KPU map (h x w, all channels) to a new main buffer as dense CHW; returns it.
  int dma_map(TensorId t, std::int32_t h, std::int32_t w, const Node& ctx);
  // CPU QUANTIZED_MAX_POOL2D with a 1x1 window: out(c, y, x) = in(c, s·y, s·x) of an in_h x in_w
  // CHW map starting `in_add` bytes into `in_buf`, and code 0 where that lies outside the map
  // (the SDK's empty window). Samples, crops and zero-pads uint8 maps exactly.
  int pick(int in_buf, std::uint64_t in_add, std::int32_t c, std::int32_t in_h, std::int32_t in_w,
           std::int32_t stride, std::int32_t out_h, std::int32_t out_w, const Node& ctx,
           const std::string& note, const QuantParam& q);
  // Smallest map the target's KPU computes (k210: 4, cpu: 1).
  std::int32_t min_map() const { return opt_.target == Target::kK210 ? 4 : 1; }
  bool small(const Shape& s) const { return s.h() < min_map() || s.w() < min_map(); }
  // t (a map under 4x4) as a zero-padded 4x4 KPU map (pad_zero), through main memory.
  void ensure_small_kpu(TensorId t, const Node& ctx);

  // ---- units ----
  void lower_unit(const LayerMatch& m);
  void lower_kpu_conv(const std::vector<int>& nodes);
  void lower_dense_like(const Node& node, const std::vector<float>& kernel_in_units,
                        const std::vector<float>& bias, std::int32_t units, Activation act,
                        TensorId in, TensorId out, const std::vector<std::string>& sources);
  // The vendor form of a dense layer on the KPU: K210_ADD_PADDING puts the n inputs at pixel
  // (0,0) of a 4x4 map, a 1x1 K210_CONV computes it (DMA'd out), K210_REMOVE_PADDING keeps pixel
  // (0,0) of each output channel. `weights` are [units][n] in stored input order.
  void lower_dense_kpu(const Node& node, std::vector<float> weights, const std::vector<float>& bias,
                       std::int32_t units, Activation act, TensorId in, TensorId out,
                       const std::vector<std::string>& sources, bool permuted);
  void lower_max_pool(const Node& n);
  void lower_avg_pool(const Node& n);
  void lower_global_pool(const Node& n, bool max);
  void lower_add(const Node& n);
  // Two uint8 inputs -> QUANTIZED_ADD (the SDK's integer add); false (nothing emitted) when the
  // float path must be used instead.
  bool lower_quantized_add(const Node& n);
  void lower_concat(const Node& n);
  void lower_softmax(const Node& n);
  void lower_upsample(const Node& n);
  void lower_alias(const Node& n);
  void lower_activation(const Node& n);
  void lower_batch_norm(const Node& n);
  void quantize_float_output(TensorId t, int main_f, const Node& n, const Activation& act,
                             const std::vector<std::string>& sources);

  // K210_CONV emission. `in_map` = stored input buffer and its dims; returns the layer index.
  struct ConvPlan {
    std::int32_t in_h = 0, in_w = 0, in_c = 0, out_h = 0, out_w = 0, out_c = 0;
    std::int32_t kernel = 1;
    bool depthwise = false;
    int pool_type = 0;
    std::uint64_t src_shift_rows = 0;
    int in_buf = -1;
    std::vector<float> weights;  // OIHW / [c][ky][kx]
    std::vector<float> bias;
    std::vector<double> in_mean;  // calibrated input mean per channel (bias correction); or empty
    QuantParam in_q, out_q;
    Activation act;
    std::uint32_t out_extra_rows = 0;
    std::vector<std::string> sources;
    std::string note;
    const Node* node = nullptr;
  };
  // Emits `p` as one K210_CONV, or as several over slices of the output channels when there are
  // more than the KPU's 1024 (the parts share the input and write their slices of one output
  // map). Returns the last layer's index; split_parts_ lists every part.
  int emit_kpu_conv(const ConvPlan& p, int& out_buf);
  // One K210_CONV into `out_buf` (allocated if -1), its output `out_rows` rows into it and its
  // input `in_rows` rows into p.in_buf.
  int emit_kpu_conv_layer(const ConvPlan& p, int& out_buf, std::uint64_t in_rows,
                          std::uint64_t out_rows);
  void check_kpu_geometry(const ConvPlan& p);
  // A stride-2 conv whose full-resolution output does not fit in KPU RAM beside its input and its
  // sampled output: computed in groups of output channels, each group's full map sampled at once
  // into its slice of the sampled map (which is then stored without a pending sampling).
  // Returns false (emitting nothing) when it fits without grouping.
  bool emit_sampled_in_groups(const ConvPlan& p, Sub sub, TensorId out);
  std::vector<std::pair<int, std::int32_t>> split_parts_;

  const Graph& g_;
  const std::vector<Range>& ranges_;
  const ConvertOptions& opt_;
  std::vector<Forms> forms_;
  LoweredModel out_;
  bool kpu_input_ = false;
  // A leading Rescaling folded into the input preprocessing (see run()): its output tensor, scale
  // and offset.
  TensorId rescaled_input_ = kNoTensor;
  double in_scale_ = 1.0, in_offset_ = 0.0;
};

// ------------------------------------------------------------------------------------------------

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
  for (const auto& [writer, c0] : writers) {
    auto& L = out_.layers[static_cast<std::size_t>(writer)];
    auto& body = std::get<format::ConvBody>(L.layer.body);
    body.flags |= format::kLayerFlagMainMemOut;
    auto fields = body.fields();
    fields.send_data_out = 1;
    body.layer_words = format::pack_kpu_layer(fields);
    L.fixups.push_back(
        fix(buf, &format::ConvBody::main_mem_out_address, plane * std::uint64_t(c0)));
    L.main_out = buf;
  }
  use(buf, f.kpu_writer);
  return buf;
}

int Lowerer::pick(int in_buf, std::uint64_t in_add, std::int32_t c, std::int32_t in_h,
                  std::int32_t in_w, std::int32_t stride, std::int32_t out_h, std::int32_t out_w,
                  const Node& ctx, const std::string& note, const QuantParam& q) {
  format::Pool2dBody b;
  b.in_shape = {std::uint32_t(in_w), std::uint32_t(in_h), std::uint32_t(c)};
  b.out_shape = {std::uint32_t(out_w), std::uint32_t(out_h), std::uint32_t(c)};
  b.kernel_width = b.kernel_height = 1;
  b.stride_width = b.stride_height = std::uint32_t(stride);
  const int ob =
      main_buffer(std::uint64_t(out_h) * std::uint64_t(out_w) * std::uint64_t(c), ctx.layer_ref());
  LayerInfo info;
  info.note = note;
  info.in_shape = {in_h, in_w, c};
  info.out_shape = {out_h, out_w, c};
  info.out_scale = q.scale;
  info.out_bias = q.bias();
  // The layer's footprint is the whole input extent from its (shifted) start address: the
  // buffer must cover it, or the planner may place another buffer inside the extent.
  auto& ib = out_.buffers[static_cast<std::size_t>(in_buf)];
  ib.bytes = std::max(ib.bytes, in_add + std::uint64_t(in_h) * std::uint64_t(in_w) * std::uint64_t(c));
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
  if (f.main_f >= 0) {
    const QuantParam q = quant_of(t);
    format::QuantizeBody b;
    b.count = static_cast<std::uint32_t>(count(t));
    b.scale = static_cast<float>(q.scale);
    b.bias = static_cast<float>(q.bias());
    const int ob = main_buffer(b.count, ctx.layer_ref());
    LayerInfo info;
    info.note = "quantize '" + g_.tensor(t).name + "'";
    info.out_shape = g_.shape(t).dims;
    info.out_scale = q.scale;
    info.out_bias = q.bias();
    const int in = f.main_f;
    add_layer(LayerType::kQuantize, b, info,
              {fix(in, &format::QuantizeBody::main_mem_in_address),
               fix(ob, &format::QuantizeBody::main_mem_out_address)});
    out_.layers.back().main_in = in;
    out_.layers.back().main_out = ob;
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
  format::DequantizeBody b;
  b.count = static_cast<std::uint32_t>(count(t));
  b.scale = static_cast<float>(q.scale);
  b.bias = static_cast<float>(q.bias());
  const int ob = main_buffer(std::uint64_t{b.count} * 4, ctx.layer_ref());
  LayerInfo info;
  info.note = "dequantize '" + g_.tensor(t).name + "'";
  info.out_shape = g_.shape(t).dims;
  const int in = f.main_q;
  add_layer(LayerType::kDequantize, b, info,
            {fix(in, &format::QuantizeBody::main_mem_in_address),
             fix(ob, &format::QuantizeBody::main_mem_out_address)});
  out_.layers.back().main_in = in;
  out_.layers.back().main_out = ob;
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

// ---- K210_CONV ----------------------------------------------------------------------------------

void Lowerer::check_kpu_geometry(const ConvPlan& p) {
  const Node& n = *p.node;
  const bool chip = opt_.target == Target::kK210;
  const int max_h = chip ? 256 : 512, max_w = chip ? 512 : 1024, min_hw = chip ? 4 : 1;
  if (p.in_c > 1024 || p.out_c > 1024) {
    fail(Errc::kInvalidLayerConfig,
         std::to_string(p.in_c) + " input / " + std::to_string(p.out_c) +
             " output channels: a KPU layer sums at most 1024 input channels (more output "
             "channels are split over several layers) and kmodel V3 has no CPU convolution; "
             "reduce the input channels of this layer",
         n);
  }
  if (p.in_h < min_hw || p.in_h > max_h || p.in_w < min_hw || p.in_w > max_w) {
    fail(Errc::kInvalidLayerConfig,
         "input map " + std::to_string(p.in_h) + "x" + std::to_string(p.in_w) +
             " (HxW) is outside the KPU's range: H " + std::to_string(min_hw) + ".." +
             std::to_string(max_h) + ", W " + std::to_string(min_hw) + ".." + std::to_string(max_w),
         n);
  }
  if (p.out_h < min_hw || p.out_w < min_hw) {
    fail(Errc::kInvalidLayerConfig,
         "output map " + std::to_string(p.out_h) + "x" + std::to_string(p.out_w) +
             " is smaller than the KPU's minimum " + std::to_string(min_hw) + "x" +
             std::to_string(min_hw),
         n);
  }
}

int Lowerer::emit_kpu_conv(const ConvPlan& p, int& out_buf) {
  constexpr std::int32_t kMaxChannels = 1024;
  split_parts_.clear();
  if (p.out_c <= kMaxChannels || (!p.depthwise && p.in_c > kMaxChannels))
    return emit_kpu_conv_layer(p, out_buf, 0, 0);
  // Output channels in slices of <= 1024, each a multiple of 4 so that every slice starts on a
  // 64-byte row of the map (4 channels share a row when W <= 16). A depthwise slice also reads
  // only its own input channels.
  const std::int32_t parts = (p.out_c + kMaxChannels - 1) / kMaxChannels;
  const std::int32_t slice = ((p.out_c + parts - 1) / parts + 3) / 4 * 4;
  out_buf = kpu_map_buffer(p.out_h, p.out_w, p.out_c, p.node->layer_ref(), p.out_extra_rows);
  const std::size_t per = p.weights.size() / static_cast<std::size_t>(p.out_c);
  std::vector<std::pair<int, std::int32_t>> done;
  int idx = -1;
  for (std::int32_t c0 = 0; c0 < p.out_c; c0 += slice) {
    const std::int32_t c1 = std::min(p.out_c, c0 + slice);
    ConvPlan q = p;
    q.out_c = c1 - c0;
    if (p.depthwise) q.in_c = q.out_c;
    q.weights.assign(p.weights.begin() + static_cast<std::ptrdiff_t>(per * c0),
                     p.weights.begin() + static_cast<std::ptrdiff_t>(per * c1));
    q.bias.assign(p.bias.begin() + c0, p.bias.begin() + c1);
    if (p.depthwise && !p.in_mean.empty())
      q.in_mean.assign(p.in_mean.begin() + c0, p.in_mean.begin() + c1);
    q.note = p.note + (p.note.empty() ? "" : "; ") + "output channels " + std::to_string(c0) +
             ".." + std::to_string(c1 - 1) + " of " + std::to_string(p.out_c) +
             " (the KPU computes at most 1024 per layer)";
    const std::uint64_t in_rows = p.depthwise ? rows_before(p.in_w, p.in_h, c0) : 0;
    idx = emit_kpu_conv_layer(q, out_buf, in_rows, rows_before(p.out_w, p.out_h, c0));
    done.emplace_back(idx, c0);
  }
  split_parts_ = std::move(done);
  return idx;
}

int Lowerer::emit_kpu_conv_layer(const ConvPlan& p, int& out_buf, std::uint64_t in_rows,
                                 std::uint64_t out_rows) {
  const Node& n = *p.node;
  check_kpu_geometry(p);
  KpuConvSpec spec;
  spec.kernel = p.kernel;
  spec.depthwise = p.depthwise;
  spec.in_channels = p.in_c;
  spec.out_channels = p.out_c;
  spec.weights = p.weights;
  spec.bias = p.bias;
  spec.input = p.in_q;
  spec.output = p.out_q;
  spec.weight_bits = opt_.weight_bits;
  spec.per_channel = opt_.per_channel;
  spec.input_mean = p.in_mean;
  spec.in_h = p.in_h;
  spec.in_w = p.in_w;
  auto args = derive_kpu_conv_args(spec);
  if (!args.ok()) throw ErrorException(std::move(args).error().with_layer(n.layer_ref()));
  if (!opt_.per_channel && args->worst_weight_sqnr_db < kPerLayerWeightWarnDb) {
    std::ostringstream w;
    w << "layer '" << n.source.name << "' (" << n.source.class_name
      << "): one weight scale per layer represents output channel " << args->worst_weight_channel
      << " at only " << std::fixed << std::setprecision(1) << args->worst_weight_sqnr_db
      << " dB (its weights are much smaller than the layer's largest); --per-channel gives every "
         "channel its own scale";
    out_.warnings.push_back(w.str());
  }
  ActivationFitSpec fs;
  fs.activation = p.act;
  fs.bn_scale = args->bn_scale;
  fs.output = p.out_q;
  fs.bn_min = args->bn_min;
  fs.bn_max = args->bn_max;
  auto fit = fit_activation(fs);
  if (!fit.ok()) throw ErrorException(std::move(fit).error().with_layer(n.layer_ref()));
  if (fit->max_error_lsb > 1.0) {
    std::ostringstream w;
    w << "layer '" << n.source.name << "' (" << n.source.class_name << "): activation "
      << to_string(p.act) << " fitted to 16 segments with worst-case error " << fit->max_error_lsb
      << " LSB";
    out_.warnings.push_back(w.str());
  }
  auto load = kpu_weight_load(p.kernel, p.depthwise, p.in_c, p.out_c, opt_.weight_bits / 8);
  if (!load.ok()) throw ErrorException(std::move(load).error().with_layer(n.layer_ref()));

  format::KpuLayerFields f;
  KpuGeometry geo;
  geo.in_w = p.in_w;
  geo.in_h = p.in_h;
  geo.in_c = p.in_c;
  geo.out_w = p.out_w;
  geo.out_h = p.out_h;
  geo.out_c = p.out_c;
  geo.kernel = p.kernel;
  geo.depthwise = p.depthwise;
  geo.pool_type = p.pool_type;
  auto st = fill_kpu_geometry(geo, load.value(), f);
  if (!st.ok()) throw ErrorException(std::move(st).error().with_layer(n.layer_ref()));
  apply_conv_args(args.value(), f);

  format::ConvBody body;
  body.layer_words = format::pack_kpu_layer(f);
  body.weights = weight_bytes_of(args->weights);
  for (const auto& bn : args->bn) body.bn_words.push_back(format::pack_kpu_batchnorm(bn));
  body.act_words = format::pack_kpu_activation(fit->table);

  if (out_buf < 0)
    out_buf = kpu_map_buffer(p.out_h, p.out_w, p.out_c, n.layer_ref(), p.out_extra_rows);
  LayerInfo info;
  info.sources = p.sources;
  info.note = p.note;
  info.in_shape = {p.in_h, p.in_w, p.in_c};
  info.out_shape = {p.out_h, p.out_w, p.out_c};
  info.out_scale = p.out_q.scale;
  info.out_bias = p.out_q.bias();
  info.weight_bytes = body.weights.size() + body.bn_words.size() * 8 + 144;
  info.act_fit_error_lsb = fit->max_error_lsb;
  info.activation = to_string(p.act);
  info.kpu_in_bytes = out_.buffers[static_cast<std::size_t>(p.in_buf)].bytes;
  info.kpu_out_bytes = out_.buffers[static_cast<std::size_t>(out_buf)].bytes;
  // Register patching: image_src_addr (+ the optional one-line shift) and image_dst_addr.
  auto set_field = [](bool src) {
    return [src](format::Layer& l, std::uint64_t a) {
      auto& b = std::get<format::ConvBody>(l.body);
      auto fl = b.fields();
      (src ? fl.image_src_addr : fl.image_dst_addr) = static_cast<std::int64_t>(a);
      b.layer_words = format::pack_kpu_layer(fl);
    };
  };
  const int idx = add_layer(LayerType::kK210Conv, std::move(body), info,
                            {{p.in_buf, p.src_shift_rows + in_rows, set_field(true)},
                             {out_buf, out_rows, set_field(false)}});
  out_.layers.back().kpu_in = p.in_buf;
  out_.layers.back().kpu_out = out_buf;
  return idx;
}

bool Lowerer::emit_sampled_in_groups(const ConvPlan& p, Sub sub, TensorId out) {
  const auto map_bytes = [](std::int32_t h, std::int32_t w, std::int32_t c) {
    return format::kpu_map_bytes(std::uint32_t(w), std::uint32_t(h), std::uint32_t(c));
  };
  const std::uint64_t extra = std::uint64_t{p.out_extra_rows} * 64;
  const std::uint64_t in_bytes = out_.buffers[static_cast<std::size_t>(p.in_buf)].bytes;
  const std::uint64_t sampled = map_bytes(p.out_h / 2, p.out_w / 2, p.out_c);
  const auto fits = [&](std::int32_t channels) {
    return in_bytes + map_bytes(p.out_h, p.out_w, channels) + extra + sampled <=
           format::kKpuRamBytes;
  };
  if (fits(p.out_c) && p.out_c <= 1024) return false;
  // Smallest group (a multiple of 4 channels, so slices start on a row) count that fits.
  std::int32_t groups = (p.out_c + 1023) / 1024;
  std::int32_t slice = 0;
  for (;; ++groups) {
    slice = ((p.out_c + groups - 1) / groups + 3) / 4 * 4;
    if (fits(slice) || slice <= 4) break;
  }
  const Node& n = *p.node;
  int out_buf = kpu_map_buffer(p.out_h / 2, p.out_w / 2, p.out_c, n.layer_ref());
  const std::size_t per = p.weights.size() / static_cast<std::size_t>(p.out_c);
  std::vector<std::pair<int, std::int32_t>> parts;
  int idx = -1;
  for (std::int32_t c0 = 0; c0 < p.out_c; c0 += slice) {
    const std::int32_t c1 = std::min(p.out_c, c0 + slice);
    const std::int32_t nc = c1 - c0;
    const std::string range = "output channels " + std::to_string(c0) + ".." +
                              std::to_string(c1 - 1) + " of " + std::to_string(p.out_c);
    ConvPlan q = p;
    q.out_c = nc;
    if (p.depthwise) q.in_c = nc;
    q.weights.assign(p.weights.begin() + static_cast<std::ptrdiff_t>(per * c0),
                     p.weights.begin() + static_cast<std::ptrdiff_t>(per * c1));
    q.bias.assign(p.bias.begin() + c0, p.bias.begin() + c1);
    if (p.depthwise && !p.in_mean.empty())
      q.in_mean.assign(p.in_mean.begin() + c0, p.in_mean.begin() + c1);
    q.note = p.note + "; " + range + " at full resolution (the whole map does not fit in KPU RAM)";
    int full = -1;
    emit_kpu_conv_layer(q, full, p.depthwise ? rows_before(p.in_w, p.in_h, c0) : 0, 0);

    ConvPlan s;
    s.node = p.node;
    s.sources = p.sources;
    s.in_h = p.out_h;
    s.in_w = p.out_w;
    s.in_c = s.out_c = nc;
    s.out_h = p.out_h / 2;
    s.out_w = p.out_w / 2;
    s.kernel = 1;
    s.pool_type = sub == Sub::kLeftTop ? 5 : 6;
    s.src_shift_rows =
        sub == Sub::kRightTopShift ? format::kpu_row_layout(std::uint32_t(p.out_w)).row_len : 0;
    s.in_buf = full;
    s.weights.assign(static_cast<std::size_t>(nc) * nc, 0.0f);
    for (int c = 0; c < nc; ++c) s.weights[static_cast<std::size_t>(c) * nc + c] = 1.0f;
    s.bias.assign(static_cast<std::size_t>(nc), 0.0f);
    s.in_q = s.out_q = p.out_q;
    s.note = "stride-2 sampling of " + range + " (identity 1x1, pool " +
             std::to_string(s.pool_type) + (s.src_shift_rows ? ", input shifted one line" : "") +
             ")";
    idx = emit_kpu_conv_layer(s, out_buf, 0, rows_before(s.out_w, s.out_h, c0));
    parts.emplace_back(idx, c0);
  }
  Forms& fo = forms_[static_cast<std::size_t>(out)];
  fo.kpu = out_buf;
  fo.kpu_writer = idx;
  fo.writer_parts = std::move(parts);
  fo.q = p.out_q;
  fo.has_q = true;
  fo.sub = Sub::kNone;
  return true;
}

// An exact identity 1x1 KPU conv that applies a pending subsample of `t` (same quantization in
// and out: the linear table reproduces every code, see docs/converter_k210.md).
void Lowerer::materialize_subsample(TensorId t, const Node& ctx) {
  Forms& f = forms_[static_cast<std::size_t>(t)];
  const Shape& s = g_.shape(t);
  ConvPlan p;
  p.node = &ctx;
  p.in_h = f.full_h;
  p.in_w = f.full_w;
  p.in_c = p.out_c = s.c();
  p.out_h = s.h();
  p.out_w = s.w();
  p.kernel = 1;
  p.pool_type = f.sub == Sub::kLeftTop ? 5 : 6;
  p.src_shift_rows =
      f.sub == Sub::kRightTopShift ? format::kpu_row_layout(std::uint32_t(f.full_w)).row_len : 0;
  p.in_buf = f.kpu;
  p.weights.assign(static_cast<std::size_t>(s.c()) * s.c(), 0.0f);
  for (int c = 0; c < s.c(); ++c) p.weights[static_cast<std::size_t>(c) * s.c() + c] = 1.0f;
  p.in_q = p.out_q = quant_of(t);
  p.note = std::string("stride-2 sampling of '") + g_.tensor(t).name + "' (identity 1x1, pool " +
           std::to_string(p.pool_type) + (p.src_shift_rows ? ", input shifted one line" : "") + ")";
  int ob = -1;
  const int idx = emit_kpu_conv(p, ob);
  f.kpu = ob;
  f.kpu_writer = idx;
  f.writer_parts = split_parts_;
  f.sub = Sub::kNone;
}

void Lowerer::lower_kpu_conv(const std::vector<int>& nodes) {
  const Node* pad = nullptr;
  const Node* conv = nullptr;
  const Node* bn = nullptr;
  const Node* actn = nullptr;
  const Node* pool = nullptr;
  for (int i : nodes) {
    const Node& n = g_.nodes[static_cast<std::size_t>(i)];
    switch (n.kind) {
      case NodeKind::kZeroPad:
        pad = &n;
        break;
      case NodeKind::kConv2D:
      case NodeKind::kDepthwiseConv2D:
        conv = &n;
        break;
      case NodeKind::kBatchNorm:
        bn = &n;
        break;
      case NodeKind::kActivation:
        actn = &n;
        break;
      default:
        pool = &n;
        break;
    }
  }
  const Node& c = *conv;
  if (bn && !c.activation.is_linear()) {
    // conv(activation) -> BatchNormalization: the KPU applies its BN stage before the activation,
    // so the BN cannot be fused. The conv runs alone; the BN (with any activation after it) is a
    // per-channel affine map on the CPU (CHANNELWISE_DEQUANTIZE, exact in float), then the pool.
    std::vector<int> conv_nodes, bn_nodes;
    int pool_node = -1;
    for (int i : nodes) {
      const NodeKind k = g_.nodes[static_cast<std::size_t>(i)].kind;
      if (k == NodeKind::kZeroPad || k == NodeKind::kConv2D || k == NodeKind::kDepthwiseConv2D)
        conv_nodes.push_back(i);
      else if (k == NodeKind::kBatchNorm || k == NodeKind::kActivation)
        bn_nodes.push_back(i);
      else
        pool_node = i;
    }
    lower_kpu_conv(conv_nodes);
    lower_unit(LayerMatch{0, "batch_norm", bn_nodes});
    if (pool_node >= 0) {
      const bool is_max = g_.nodes[static_cast<std::size_t>(pool_node)].kind == NodeKind::kMaxPool;
      lower_unit(LayerMatch{0, is_max ? "max_pool2d" : "average_pool2d", {pool_node}});
    }
    return;
  }
  std::vector<std::string> sources;
  for (int i : nodes) {
    const auto& sl = g_.nodes[static_cast<std::size_t>(i)].source_layers;
    if (sl.empty()) sources.push_back(g_.nodes[static_cast<std::size_t>(i)].source.name);
    sources.insert(sources.end(), sl.begin(), sl.end());
  }
  const TensorId tin = pad ? pad->inputs[0] : c.inputs[0];
  const Shape& ins = g_.shape(tin);
  // A depthwise conv with depth_multiplier m > 1 runs as a normal conv whose weights are zero
  // outside each output channel's own input channel (exact: zeros quantize to Zw).
  const bool dw_multi = c.kind == NodeKind::kDepthwiseConv2D && c.depth_multiplier > 1;
  const bool dw = c.kind == NodeKind::kDepthwiseConv2D && !dw_multi;
  if (ins.rank() != 3) fail(Errc::kShapeMismatch, "expects a [H, W, C] input", c);
  const std::int32_t cin = ins.c();
  const std::int32_t cout =
      c.kind == NodeKind::kDepthwiseConv2D ? cin * c.depth_multiplier : c.filters;
  // -p cpu has no other convolution to fall back to: kmodel V3's only conv is K210_CONV.
  const std::string no_cpu_conv =
      opt_.target == Target::kCpu
          ? " (kmodel V3 has no CPU convolution layer: -p cpu runs convolutions as K210_CONV too)"
          : "";
  if (c.kernel_h != c.kernel_w || (c.kernel_h != 1 && c.kernel_h != 3)) {
    fail(Errc::kInvalidLayerConfig,
         "kernel_size [" + std::to_string(c.kernel_h) + "," + std::to_string(c.kernel_w) +
             "] is not supported: the KPU runs 1x1 and 3x3 kernels" + no_cpu_conv,
         c);
  }
  if (c.dilation_h != 1 || c.dilation_w != 1) {
    fail(Errc::kInvalidLayerConfig, "dilation_rate must be 1 on the KPU" + no_cpu_conv, c);
  }
  Padding4 pd = c.pad;
  if (pad) {
    pd.top += pad->pad.top;
    pd.bottom += pad->pad.bottom;
    pd.left += pad->pad.left;
    pd.right += pad->pad.right;
  }
  // Weights in KPU order, BN folded, activation composed.
  const std::int32_t k = c.kernel_h;
  std::vector<float> w;
  std::vector<float> b(static_cast<std::size_t>(cout), 0.0f);
  if (c.has_bias()) b = c.bias;
  if (dw) {
    w.resize(static_cast<std::size_t>(cout) * k * k);
    for (int ch = 0; ch < cout; ++ch)
      for (int t = 0; t < k * k; ++t)
        w[static_cast<std::size_t>(ch) * k * k + t] =
            c.kernel[static_cast<std::size_t>(t) * cin + ch];
  } else if (dw_multi) {
    const int m = c.depth_multiplier;
    w.assign(static_cast<std::size_t>(cout) * cin * k * k, 0.0f);
    for (int ch = 0; ch < cin; ++ch)
      for (int j = 0; j < m; ++j)
        for (int t = 0; t < k * k; ++t)
          w[(static_cast<std::size_t>(ch * m + j) * cin + ch) * k * k + t] =
              c.kernel[(static_cast<std::size_t>(t) * cin + ch) * m + j];
  } else {
    w.resize(static_cast<std::size_t>(cout) * cin * k * k);
    for (int o = 0; o < cout; ++o)
      for (int i = 0; i < cin; ++i)
        for (int t = 0; t < k * k; ++t)
          w[(static_cast<std::size_t>(o) * cin + i) * k * k + t] =
              c.kernel[(static_cast<std::size_t>(t) * cin + i) * cout + o];
  }
  Activation act = c.activation;
  if (bn) {
    if (!act.is_linear()) {
      fail(Errc::kUnsupportedLayer,
           "a BatchNormalization after a non-linear activation cannot run in the KPU's "
           "conv -> BN -> activation order",
           *bn);
    }
    const std::size_t per = w.size() / static_cast<std::size_t>(cout);
    for (int o = 0; o < cout; ++o) {
      const double s = bn->gamma[o] / std::sqrt(double(bn->variance[o]) + bn->epsilon);
      for (std::size_t i = 0; i < per; ++i) w[o * per + i] = static_cast<float>(w[o * per + i] * s);
      b[o] = static_cast<float>((b[o] - bn->mean[o]) * s + bn->beta[o]);
    }
    act = bn->activation;
  }
  if (actn) {
    if (!act.is_linear()) fail(Errc::kUnsupportedLayer, "two activations in a row", *actn);
    act = actn->activation;
  }
  if (act.kind == ActivationKind::kRelu && !std::isfinite(act.threshold)) {
    fail(Errc::kInvalidLayerConfig, "non-finite ReLU threshold", c);
  }

  // 1x1 conv on a 1x1 map (MobileNet's classifier after global pooling): a fully connected layer
  // on the CPU, exact in float (the KPU's minimum map is 4x4).
  const TensorId pre_pool_out = (actn ? actn : bn ? bn : &c)->output;
  if (!dw && k == 1 && ins.h() == 1 && ins.w() == 1 && c.stride_h == 1 && c.stride_w == 1 &&
      !pool && pd.is_zero()) {
    std::vector<float> kin(static_cast<std::size_t>(cin) * cout);
    for (int o = 0; o < cout; ++o)
      for (int i = 0; i < cin; ++i)
        kin[static_cast<std::size_t>(i) * cout + o] = w[static_cast<std::size_t>(o) * cin + i];
    lower_dense_like(c, kin, b, cout, act, tin, pre_pool_out, sources);
    return;
  }

  // Stride and padding -> the KPU's same-size conv + sampling.
  const std::int32_t H = ins.h(), W = ins.w();
  Sub sub = Sub::kNone;
  std::string note;
  if (c.stride_h != c.stride_w || (c.stride_h != 1 && c.stride_h != 2)) {
    fail(Errc::kInvalidLayerConfig,
         "strides [" + std::to_string(c.stride_h) + "," + std::to_string(c.stride_w) +
             "]: the KPU supports 1 and 2" + no_cpu_conv,
         c);
  }
  const bool sym1 = pd.top == 1 && pd.bottom == 1 && pd.left == 1 && pd.right == 1;
  const bool after1 = pd.top == 0 && pd.bottom == 1 && pd.left == 0 && pd.right == 1;
  if (k == 1 && !pd.is_zero()) {
    fail(Errc::kInvalidLayerConfig, "a 1x1 conv with zero padding is not supported on the KPU", c);
  }
  if (c.stride_h == 1) {
    if (k == 3 && !sym1) {
      fail(Errc::kInvalidLayerConfig,
           "3x3 stride-1 conv with padding (top " + std::to_string(pd.top) + ", bottom " +
               std::to_string(pd.bottom) + ", left " + std::to_string(pd.left) + ", right " +
               std::to_string(pd.right) +
               "): the KPU always pads 1 pixel on every side; use "
               "padding='same'",
           c);
    }
  } else {
    const bool even = H % 2 == 0 && W % 2 == 0;
    const bool valid_odd = k == 3 && pd.is_zero() && H % 2 == 1 && W % 2 == 1;
    if (k == 1 || sym1) {
      if (!even) {
        fail(Errc::kInvalidLayerConfig,
             "stride 2 on an odd-sized map " + std::to_string(H) + "x" + std::to_string(W) +
                 ": Keras keeps ceil(n/2) rows, the KPU's 2x2 sampling floor(n/2)",
             c);
      }
      sub = Sub::kLeftTop;
      note = "stride 2: full-resolution conv, left-top sampling";
    } else if ((after1 && even) || valid_odd) {
      // Both read rows/cols 2i..2i+2 of the input: the odd rows/cols of the KPU's pad-1 stride-1
      // map, floor(n/2) of them (TF: valid on odd n keeps (n-3)/2+1, pad-after on even n/2).
      if (opt_.approx_stride2 && !valid_odd) {
        sub = Sub::kLeftTop;
        note = "stride 2 APPROXIMATED: pad-after taken as symmetric pad (--approx-stride2)";
        out_.warnings.push_back("layer '" + c.source.name + "' (" + c.source.class_name +
                                "): --approx-stride2: TF 'same' stride-2 padding (0 before, 1 "
                                "after) computed with the KPU's pad 1 before: border outputs "
                                "differ from Keras");
      } else {
        sub = Sub::kRightTopShift;
        note = valid_odd ? "stride 2 (valid, odd size): full-resolution conv, odd rows/cols sampled"
                         : "stride 2 (pad after): full-resolution conv, odd rows/cols sampled";
      }
    } else {
      fail(Errc::kInvalidLayerConfig,
           "stride-2 conv with padding (top " + std::to_string(pd.top) + ", bottom " +
               std::to_string(pd.bottom) + ", left " + std::to_string(pd.left) + ", right " +
               std::to_string(pd.right) + ") on a " + std::to_string(H) + "x" + std::to_string(W) +
               " map cannot be computed exactly on the KPU (supported: pad 1 on every side, TF "
               "'same' on even sizes, or 'valid' 3x3 on odd sizes)",
           c);
    }
  }

  // Input: consume a pending subsample when this is a plain 1x1 conv (sampling commutes with it).
  Forms& fin = forms_[static_cast<std::size_t>(tin)];
  ConvPlan p;
  p.node = &c;
  p.kernel = k;
  p.depthwise = dw;
  p.in_c = cin;
  p.out_c = cout;
  p.act = act;
  p.sources = sources;
  p.in_h = H;
  p.in_w = W;
  // A map under the KPU's 4x4 (k210): a 1x1 conv runs on the stored map as it is (at full
  // resolution with the stride 2 still pending, which commutes with it, or on the padded map);
  // a 3x3 'same' conv on the map zero-padded to 4x4 (its outputs in the top-left corner read
  // exactly Keras's zero padding). Either way its output stays padded / pending.
  enum class SmallMode { kNone, kKeepSub, kPadded } small_mode = SmallMode::kNone;
  const bool model_input = std::find(g_.inputs.begin(), g_.inputs.end(), tin) != g_.inputs.end();
  if (small(ins) && !model_input) {
    if (c.stride_h != 1 || pool) {
      fail(Errc::kInvalidLayerConfig,
           "stride 2 or a fused pooling on the " + std::to_string(H) + "x" + std::to_string(W) +
               " map (under the KPU's 4x4) is not supported: the KPU computes at least 4x4 "
               "outputs; a stride-1 conv fits",
           c);
    }
    if (k == 1 && fin.kpu >= 0 && fin.sub != Sub::kNone) {
      p.in_h = fin.full_h;
      p.in_w = fin.full_w;
      small_mode = SmallMode::kKeepSub;
      note = "1x1 conv at full resolution " + std::to_string(p.in_h) + "x" +
             std::to_string(p.in_w) +
             " (the stride-2 sampling, which commutes with it, stays "
             "pending: the sampled map is under the KPU's 4x4)";
    } else {
      if (!(k == 1 && fin.kpu >= 0 && fin.pad_h > 0)) ensure_small_kpu(tin, c);
      p.in_h = fin.pad_h;
      p.in_w = fin.pad_w;
      small_mode = SmallMode::kPadded;
      note = std::to_string(H) + "x" + std::to_string(W) + " map computed on a " +
             std::to_string(p.in_h) + "x" + std::to_string(p.in_w) + " KPU map (top-left corner)" +
             (k == 3 ? ", the rest zero: Keras's zero padding" : "");
    }
    p.in_buf = fin.kpu;
  } else if (fin.sub != Sub::kNone) {
    if (!dw && k == 1 && sub == Sub::kNone && !pool) {
      p.in_h = fin.full_h;
      p.in_w = fin.full_w;
      p.pool_type = fin.sub == Sub::kLeftTop ? 5 : 6;
      p.src_shift_rows = fin.sub == Sub::kRightTopShift
                             ? format::kpu_row_layout(std::uint32_t(fin.full_w)).row_len
                             : 0;
      note = std::string("takes the previous layer's stride-2 sampling (pool ") +
             std::to_string(p.pool_type) +
             (p.src_shift_rows ? ", input read one line later)" : ")");
    } else {
      materialize_subsample(tin, c);
    }
  }
  if (small_mode == SmallMode::kNone) {
    ensure_kpu(tin, c);
    p.in_buf = fin.kpu;
  }
  // Input quantization; the model input arrives as raw pixels p: real = (p - mean_c) / std_c is
  // folded into the weights (w / std_c) and bias (Σ w/std_c · (Zx - mean_c)), with Zx = the
  // nearest integer to the mean as the code padded taps read.
  if (kpu_input_ && (tin == rescaled_input_ ||
                     std::find(g_.inputs.begin(), g_.inputs.end(), tin) != g_.inputs.end())) {
    // Per-channel (mean, std) of real = (pixel - mean) / std. Uniform ranges apply to any channel
    // count; explicit per-channel mean/std needs 3 values for 3 channels (or equal values).
    const auto& pre = opt_.preprocess;
    std::vector<double> mean(static_cast<std::size_t>(cin)), stdv(static_cast<std::size_t>(cin));
    const bool uniform_mean_std = pre.mean[0] == pre.mean[1] && pre.mean[1] == pre.mean[2] &&
                                  pre.std[0] == pre.std[1] && pre.std[1] == pre.std[2];
    if (pre.scale == PixelScale::kMeanStd && cin != 3 && !uniform_mean_std)
      fail(Errc::kInvalidLayerConfig,
           "the input has " + std::to_string(cin) +
               " channels but --input-range gives 3 different per-channel mean/std values: "
               "give one mean and one std for all channels",
           c);
    for (int i = 0; i < cin; ++i) {
      const int j = cin == 3 ? i : 0;
      switch (pre.scale) {
        case PixelScale::kZeroOne:
          mean[i] = 0;
          stdv[i] = 255;
          break;
        case PixelScale::kMinusOneOne:
          mean[i] = 127.5;
          stdv[i] = 127.5;
          break;
        case PixelScale::kRaw:
          mean[i] = 0;
          stdv[i] = 1;
          break;
        case PixelScale::kMeanStd:
          mean[i] = pre.mean[j];
          stdv[i] = pre.std[j];
          break;
      }
    }
    if (tin == rescaled_input_) {  // real*s + o = (pixel - (mean - o*std/s)) / (std/s)
      for (int i = 0; i < cin; ++i) {
        mean[i] -= in_offset_ * stdv[i] / in_scale_;
        stdv[i] /= in_scale_;
      }
    }
    double msum = 0;
    for (int i = 0; i < cin; ++i) msum += mean[i];
    const auto zx = static_cast<std::int32_t>(std::lround(msum / cin));
    p.in_q.scale = 1.0;
    p.in_q.zero_point = std::clamp(zx, 0, 255);
    bool inexact = false;
    const std::size_t per = static_cast<std::size_t>(k) * k * (dw ? 1 : cin);
    for (int o = 0; o < cout; ++o) {
      double add = 0;
      for (std::size_t t = 0; t < per; ++t) {
        const int ic = dw ? o : static_cast<int>(t / (static_cast<std::size_t>(k) * k));
        float& wv = w[o * per + t];
        wv = static_cast<float>(wv / stdv[ic]);
        add += double(wv) * (p.in_q.zero_point - mean[ic]);
        if (k == 3 && std::fabs(p.in_q.zero_point - mean[ic]) > 1e-9) inexact = true;
      }
      b[o] = static_cast<float>(b[o] + add);
    }
    if (inexact) {
      out_.warnings.push_back("layer '" + c.source.name + "' (" + c.source.class_name +
                              "): the input normalization has no integer pixel value for 0.0; "
                              "its zero padding reads pixel " +
                              std::to_string(p.in_q.zero_point) + " (border error <= 0.5/std)");
    }
  } else {
    p.in_q = quant_of(tin);
    if (opt_.bias_correction) p.in_mean = ranges_.at(static_cast<std::size_t>(tin)).channel_mean;
    if (p.in_mean.size() != static_cast<std::size_t>(p.in_c)) p.in_mean.clear();
  }
  p.weights = std::move(w);
  p.bias = std::move(b);

  // Output quantization and the pooling stage.
  TensorId final_out = pre_pool_out;
  p.out_q = quant_of(pre_pool_out);
  p.out_h = p.pool_type ? p.in_h / 2 : small_mode != SmallMode::kNone ? p.in_h : H;
  p.out_w = p.pool_type ? p.in_w / 2 : small_mode != SmallMode::kNone ? p.in_w : W;
  // A stride-2 output under 4x4 stays at full resolution, its sampling pending.
  const bool small_sampled = sub != Sub::kNone && small(g_.shape(pre_pool_out));
  bool pool_fused = false;
  if (pool && sub == Sub::kNone && !dw && p.pool_type == 0) {
    const bool zero_pad = pool->pad.is_zero();
    int pt = -1;
    const bool is_max = pool->kind == NodeKind::kMaxPool;
    if (zero_pad && pool->kernel_h == 2 && pool->kernel_w == 2 && pool->stride_h == 2 &&
        pool->stride_w == 2)
      pt = is_max ? 1 : 2;
    if (zero_pad && pool->kernel_h == 4 && pool->kernel_w == 4 && pool->stride_h == 4 &&
        pool->stride_w == 4)
      pt = is_max ? 3 : 4;
    if (pt > 0) {
      const int win = pt >= 3 ? 4 : 2;
      p.pool_type = pt;
      p.out_h = H / win;
      p.out_w = W / win;
      pool_fused = true;
      final_out = pool->output;
      forms_[static_cast<std::size_t>(final_out)].q = p.out_q;
      forms_[static_cast<std::size_t>(final_out)].has_q = true;
      note = std::string(is_max ? "max" : "mean") + " pool " + std::to_string(win) + "x" +
             std::to_string(win) + " on the KPU" + (is_max ? "" : " (floor division)");
    }
  }
  if (sub == Sub::kLeftTop && !dw && !small_sampled) {
    p.pool_type = 5;
    p.out_h = H / 2;
    p.out_w = W / 2;
  }
  const bool deferred =
      sub == Sub::kRightTopShift || (sub == Sub::kLeftTop && (dw || small_sampled));
  if (deferred) {
    if (sub == Sub::kRightTopShift) {
      p.out_extra_rows = format::kpu_row_layout(std::uint32_t(W)).row_len;  // read one line past
    }
    note += dw ? " (depthwise: sampling moved to the consumer)" : " (sampling by the consumer)";
  }
  p.note = note;
  if (deferred && emit_sampled_in_groups(p, sub, final_out)) {
    if (pool && !pool_fused)
      lower_unit(LayerMatch{0,
                            pool->kind == NodeKind::kMaxPool ? "max_pool2d" : "average_pool2d",
                            {static_cast<int>(pool - g_.nodes.data())}});
    return;
  }
  int ob = -1;
  const int idx = emit_kpu_conv(p, ob);
  Forms& fo = forms_[static_cast<std::size_t>(final_out)];
  fo.kpu = ob;
  fo.kpu_writer = idx;
  fo.writer_parts = split_parts_;
  fo.q = p.out_q;
  fo.has_q = true;
  if (small_mode == SmallMode::kKeepSub) {
    fo.sub = fin.sub;
    fo.full_h = p.out_h;
    fo.full_w = p.out_w;
    for (const auto& wp : fo.writer_parts.empty()
                              ? std::vector<std::pair<int, std::int32_t>>{{idx, 0}}
                              : fo.writer_parts) {
      LayerInfo& li = out_.layers[static_cast<std::size_t>(wp.first)].info;
      li.sample_step = 2;
      li.sample_offset = fin.sub == Sub::kLeftTop ? 0 : 1;
    }
  } else if (small_mode == SmallMode::kPadded) {
    fo.pad_h = p.out_h;
    fo.pad_w = p.out_w;
    fo.pad_zero = false;
    for (const auto& wp : fo.writer_parts.empty()
                              ? std::vector<std::pair<int, std::int32_t>>{{idx, 0}}
                              : fo.writer_parts)
      out_.layers[static_cast<std::size_t>(wp.first)].info.padded_map = true;
  }
  if (deferred) {
    fo.sub = sub;
    fo.full_h = H;
    fo.full_w = W;
    // Tell the map readers (emc-compare) which pixels of the stored map are the tensor's.
    std::vector<std::pair<int, std::int32_t>> writers = fo.writer_parts;
    if (writers.empty()) writers.emplace_back(idx, 0);
    for (const auto& wp : writers) {
      LayerInfo& li = out_.layers[static_cast<std::size_t>(wp.first)].info;
      li.sample_step = 2;
      li.sample_offset = sub == Sub::kLeftTop ? 0 : 1;
    }
  }
  if (pool && !pool_fused)
    lower_unit(LayerMatch{0,
                          pool->kind == NodeKind::kMaxPool ? "max_pool2d" : "average_pool2d",
                          {static_cast<int>(pool - g_.nodes.data())}});
}

// ---- CPU layers -----------------------------------------------------------------------------

void Lowerer::lower_dense_like(const Node& node, const std::vector<float>& kin,
                               const std::vector<float>& bias, std::int32_t units, Activation act,
                               TensorId in, TensorId out, const std::vector<std::string>& sources) {
  const auto n_in = static_cast<std::int32_t>(count(in));
  // Placement: the CPU's float FULLY_CONNECTED is exact; the KPU form is quantized (8/16-bit
  // weights) but runs on the accelerator and stores 1/4 of the bytes (16-bit: 1/2). Auto puts a
  // dense layer on the KPU when its float weights would take more than kDenseKpuAutoBytes of the
  // chip's 6 MiB SRAM.
  constexpr std::uint64_t kDenseKpuAutoBytes = 1u << 20;
  const bool kpu_ok = opt_.target == Target::kK210 && n_in <= 1024;
  const std::uint64_t float_bytes = std::uint64_t(n_in) * std::uint64_t(units) * 4;
  bool on_kpu = false;
  switch (opt_.dense) {
    case DensePlacement::kCpu:
      break;
    case DensePlacement::kKpu:
      on_kpu = kpu_ok;
      if (!kpu_ok && opt_.target == Target::kK210)
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
  add_layer(LayerType::kFullyConnected, std::move(b), info,
            {fix(inb, &format::FullyConnectedBody::main_mem_in_address),
             fix(ob, &format::FullyConnectedBody::main_mem_out_address)});
  out_.layers.back().main_in = inb;
  out_.layers.back().main_out = ob;
  int res = ob;
  if (logistic) {
    format::ChannelsBody lb;
    lb.channels = static_cast<std::uint32_t>(units);
    const int lo = main_buffer(std::uint64_t(units) * 4, node.layer_ref());
    LayerInfo li;
    li.sources = sources;
    li.note = "sigmoid";
    li.out_shape = {units};
    add_layer(LayerType::kLogistic, lb, li,
              {fix(ob, &format::ChannelsBody::main_mem_in_address),
               fix(lo, &format::ChannelsBody::main_mem_out_address)});
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
    auto& L = out_.layers[static_cast<std::size_t>(idx)];
    auto& cb = std::get<format::ConvBody>(L.layer.body);
    cb.flags |= format::kLayerFlagMainMemOut;
    auto fields = cb.fields();
    fields.send_data_out = 1;
    cb.layer_words = format::pack_kpu_layer(fields);
    L.fixups.push_back(fix(dma, &format::ConvBody::main_mem_out_address, std::uint64_t(c0) * 16));
    L.main_out = dma;
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
  add_layer(LayerType::kK210RemovePadding, rp, ri,
            {fix(dma, &format::RemovePaddingBody::main_mem_in_address),
             fix(res, &format::RemovePaddingBody::main_mem_out_address)});
  out_.layers.back().main_in = dma;
  out_.layers.back().main_out = res;
  Forms& fo = forms_[static_cast<std::size_t>(out)];
  fo.main_q = res;
  fo.q = p.out_q;
  fo.has_q = true;
}

void Lowerer::lower_max_pool(const Node& n) {
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
  add_layer(LayerType::kQuantizedMaxPool2d, b, info,
            {fix(inb, &format::Pool2dBody::main_mem_in_address),
             fix(ob, &format::Pool2dBody::main_mem_out_address)});
  out_.layers.back().main_in = inb;
  out_.layers.back().main_out = ob;
  Forms& fo = forms_[static_cast<std::size_t>(n.output)];
  fo.main_q = ob;
  fo.q = q;  // max pooling keeps the quantization
  fo.has_q = true;
}

void Lowerer::lower_avg_pool(const Node& n) {
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
  add_layer(LayerType::kAveragePool2d, b, info,
            {fix(inb, &format::Pool2dBody::main_mem_in_address),
             fix(ob, &format::Pool2dBody::main_mem_out_address)});
  out_.layers.back().main_in = inb;
  out_.layers.back().main_out = ob;
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
  add_layer(LayerType::kGlobalAveragePool2d, b, info,
            {fix(inb, &format::GlobalPoolBody::main_mem_in_address),
             fix(ob, &format::GlobalPoolBody::main_mem_out_address)});
  out_.layers.back().main_in = inb;
  out_.layers.back().main_out = ob;
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
  format::QuantizeBody b;
  b.count = static_cast<std::uint32_t>(count(t));
  b.scale = static_cast<float>(q.scale);
  b.bias = static_cast<float>(q.bias());
  const int ob = main_buffer(b.count, n.layer_ref());
  LayerInfo info;
  info.sources = sources;
  info.note = to_string(act) + " by quantizing to [0, " + std::to_string(q.real_max()) + "]";
  info.out_shape = g_.shape(t).dims;
  info.out_scale = q.scale;
  info.out_bias = q.bias();
  add_layer(LayerType::kQuantize, b, info,
            {fix(main_f, &format::QuantizeBody::main_mem_in_address),
             fix(ob, &format::QuantizeBody::main_mem_out_address)});
  fo.main_q = ob;
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

void Lowerer::lower_add(const Node& n) {
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

void Lowerer::lower_concat(const Node& n) {
  const Shape& os = g_.shape(n.output);
  if (n.axis != os.rank() - 1) {
    fail(Errc::kUnsupportedLayer,
         "concatenation on axis " + std::to_string(n.axis) +
             ": only the channel (last) axis maps to consecutive CHW blocks",
         n);
  }
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

void Lowerer::lower_softmax(const Node& n) {
  const TensorId in = n.inputs[0];
  const Shape& s = g_.shape(in);
  if (!(s.rank() == 1 || (s.rank() == 3 && s.h() == 1 && s.w() == 1)) || n.axis != s.rank() - 1) {
    fail(Errc::kUnsupportedLayer,
         "softmax over " + to_string(s) + ": the CPU SOFTMAX layer works on a vector", n);
  }
  ensure_main_f(in, n);
  format::ChannelsBody b;
  b.channels = static_cast<std::uint32_t>(s.c());
  const int ob = main_buffer(std::uint64_t(s.c()) * 4, n.layer_ref());
  LayerInfo info;
  info.sources = {n.source.name};
  info.in_shape = s.dims;
  info.out_shape = g_.shape(n.output).dims;
  const int inb = forms_[static_cast<std::size_t>(in)].main_f;
  add_layer(LayerType::kSoftmax, b, info,
            {fix(inb, &format::ChannelsBody::main_mem_in_address),
             fix(ob, &format::ChannelsBody::main_mem_out_address)});
  out_.layers.back().main_in = inb;
  out_.layers.back().main_out = ob;
  forms_[static_cast<std::size_t>(n.output)].main_f = ob;
}

// UpSampling2D (nearest, integer factors) as QUANTIZED_RESIZE_NEAREST_NEIGHBOR on the uint8 CHW
// map: the output keeps the input's codes and quantization. The SDK's float index rule is
// checked to give o / size for every output row and column (else the layer is refused).
void Lowerer::lower_upsample(const Node& n) {
  const TensorId in = n.inputs[0];
  const Shape& s = g_.shape(in);
  const Shape& os = g_.shape(n.output);
  ensure_main_q(in, n);
  const Forms& fi = forms_[static_cast<std::size_t>(in)];
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
  const int ob = main_buffer(static_cast<std::uint64_t>(os.num_elements()), n.layer_ref());
  LayerInfo info;
  info.sources = {n.source.name};
  info.in_shape = s.dims;
  info.out_shape = os.dims;
  const QuantParam q = quant_of(in);
  info.out_scale = q.scale;
  info.out_bias = q.bias();
  const int inb = fi.main_q;
  add_layer(LayerType::kQuantizedResizeNearestNeighbor, b, info,
            {fix(inb, &format::ResizeNearestBody::main_mem_in_address),
             fix(ob, &format::ResizeNearestBody::main_mem_out_address)});
  out_.layers.back().main_in = inb;
  out_.layers.back().main_out = ob;
  Forms& fo = forms_[static_cast<std::size_t>(n.output)];
  fo.main_q = ob;
  fo.q = q;  // nearest upsampling copies codes
  fo.has_q = true;
}

// Flatten / Reshape / Identity: no data movement. A map flattened in Keras (NHWC) order is
// recorded as "CHW data of shape [H,W,C]"; the dense layer reading it permutes its weights.
void Lowerer::lower_alias(const Node& n) {
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
  if (os.rank() == 1 && is.rank() == 3 && !trivial_in) {
    if (!f.hwc_input) {
      f.chw_of = is.dims;
    }
    f.kpu = -1;  // a flattened vector is not a KPU map
  } else if (!(trivial_in && trivial_out) && !(is == os)) {
    fail(Errc::kUnsupportedLayer,
         "reshape " + to_string(is) + " -> " + to_string(os) +
             " is not supported (only flatten and [C] <-> [1,1,C])",
         n);
  }
  if (os.rank() != 3) {
    f.kpu = -1;
    f.kpu_writer = -1;
  }
  if (f.kpu < 0 && f.main_q < 0 && f.main_f < 0) {
    ensure_main_q(in, n);
    f = forms_[static_cast<std::size_t>(in)];
    if (os.rank() == 1 && is.rank() == 3 && !trivial_in && !f.hwc_input) f.chw_of = is.dims;
    if (os.rank() != 3) f.kpu = -1;
  }
  forms_[static_cast<std::size_t>(n.output)] = f;
}

void Lowerer::lower_activation(const Node& n) {
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

void Lowerer::lower_batch_norm(const Node& n) {
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
  add_layer(LayerType::kChannelwiseDequantize, b, info,
            {fix(inb, &format::ChannelwiseDequantizeBody::main_mem_in_address),
             fix(ob, &format::ChannelwiseDequantizeBody::main_mem_out_address)});
  quantize_float_output(n.output, ob, n, n.activation, {n.source.name});
}

void Lowerer::lower_unit(const LayerMatch& m) {
  const Node& first = g_.nodes[static_cast<std::size_t>(m.nodes.front())];
  const std::string target(m.target);
  if (first.output == rescaled_input_) {  // folded into the input preprocessing
    forms_[static_cast<std::size_t>(first.output)] =
        forms_[static_cast<std::size_t>(first.inputs[0])];
    return;
  }
  if (target == "kpu_conv") return lower_kpu_conv(m.nodes);
  if (target == "fully_connected") {
    const Node& d = first;
    Activation act = d.activation;
    TensorId out = d.output;
    std::vector<std::string> src =
        d.source_layers.empty() ? std::vector<std::string>{d.source.name} : d.source_layers;
    for (std::size_t i = 1; i < m.nodes.size(); ++i) {
      const Node& a = g_.nodes[static_cast<std::size_t>(m.nodes[i])];
      if (!act.is_linear()) fail(Errc::kUnsupportedLayer, "two activations in a row", a);
      act = a.activation;
      out = a.output;
      src.push_back(a.source.name);
    }
    return lower_dense_like(d, d.kernel, d.bias, d.filters, act, d.inputs[0], out, src);
  }
  if (target == "global_average_pool2d") return lower_global_pool(first, false);
  if (target == "global_max_pool2d") return lower_global_pool(first, true);
  if (target == "max_pool2d" || target == "average_pool2d") {
    if (m.nodes.size() > 1 || first.kind == NodeKind::kZeroPad) {
      fail(Errc::kUnsupportedLayer,
           "a ZeroPadding2D before pooling must be merged by the "
           "front-end passes",
           first);
    }
    return target == "max_pool2d" ? lower_max_pool(first) : lower_avg_pool(first);
  }
  // Add / BatchNormalization matched with a following Activation: one node with that activation.
  const auto with_activation = [&]() {
    Node merged = first;
    if (m.nodes.size() > 1) {
      const Node& a = g_.nodes[static_cast<std::size_t>(m.nodes[1])];
      if (!merged.activation.is_linear())
        fail(Errc::kUnsupportedLayer, "two activations in a row", a);
      merged.activation = a.activation;
      merged.output = a.output;
    }
    return merged;
  };
  if (target == "add") return lower_add(with_activation());
  if (target == "concat") return lower_concat(first);
  if (target == "softmax") return lower_softmax(first);
  if (target == "upsample") return lower_upsample(first);
  if (target == "flatten" || target == "reshape" || target == "identity") return lower_alias(first);
  if (target == "activation") return lower_activation(first);
  if (target == "batch_norm") return lower_batch_norm(with_activation());
  fail(Errc::kUnsupportedLayer, "'" + target + "' has no kmodel V3 lowering", first);
}

LoweredModel Lowerer::run() {
  if (g_.inputs.size() != 1) {
    throw ErrorException(Error(
        Errc::kUnsupportedLayer,
        "kmodel V3 has exactly one input; this model has " + std::to_string(g_.inputs.size())));
  }
  auto matches = value_or_throw(match_graph(g_, Platform::kK210));
  const TensorId input = g_.inputs[0];
  const Shape& is = g_.shape(input);
  out_.input_shape = is.dims;
  // KPU-first when the first unit is a conv that stays on the KPU (not the 1x1-on-1x1 FC form).
  // A leading Rescaling (x*scale + offset, scale > 0) read only by that conv is folded into the
  // input preprocessing: the conv reads the raw input map (exact: it is the same affine map).
  std::size_t first_unit = 0;
  if (matches.size() > 1 && matches[0].nodes.size() == 1) {
    const Node& r = g_.nodes[static_cast<std::size_t>(matches[0].nodes[0])];
    const auto readers = g_.consumers(r.output);
    if (r.kind == NodeKind::kActivation && r.activation.kind == ActivationKind::kAffine &&
        r.activation.alpha > 0 && r.inputs[0] == input && readers.size() == 1 &&
        readers[0] == matches[1].nodes.front() &&
        std::find(g_.outputs.begin(), g_.outputs.end(), r.output) == g_.outputs.end())
      first_unit = 1;
  }
  bool kpu_first = false;
  if (matches.size() > first_unit && matches[first_unit].target == "kpu_conv" && is.rank() == 3 &&
      !(is.h() == 1 && is.w() == 1)) {
    kpu_first = true;
  }
  if (kpu_first && first_unit == 1) {
    const Node& r = g_.nodes[static_cast<std::size_t>(matches[0].nodes[0])];
    rescaled_input_ = r.output;
    in_scale_ = r.activation.alpha;
    in_offset_ = r.activation.offset;
  }
  kpu_input_ = kpu_first;
  out_.input_is_uint8 = kpu_first;
  Forms& fi = forms_[static_cast<std::size_t>(input)];
  LayerRef in_ref{std::nullopt, g_.tensor(input).name, "InputLayer"};
  if (kpu_first) {
    fi.kpu = kpu_map_buffer(is.h(), is.w(), is.c(), in_ref);
    fi.kpu_writer = -1;
    use(fi.kpu, 0);
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
    if (!forms_[static_cast<std::size_t>(t)].chw_of.empty()) {
      out_.warnings.push_back("output '" + g_.tensor(t).name +
                              "' is a flattened map stored channel-planar (CHW)");
    }
    LoweredOutput o;
    o.buffer = forms_[static_cast<std::size_t>(t)].main_f;
    o.bytes = static_cast<std::uint32_t>(count(t) * 4);
    out_.outputs.push_back(o);
  }
  if (out_.layers.empty()) {
    throw ErrorException(Error(Errc::kUnsupportedLayer, "the model has no layer to run"));
  }
  const int last = step() - 1;
  for (const auto& o : out_.outputs) use(o.buffer, last);
  const LayerType t0 = out_.layers.front().layer.type;
  if (t0 != LayerType::kK210Conv && t0 != LayerType::kFullyConnected) {
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

}  // namespace

Result<LoweredModel> lower_graph(const Graph& graph, const std::vector<Range>& ranges,
                                 const ConvertOptions& options) {
  if (options.target == Target::kCpu) return lower_cpu_graph(graph, ranges, options);
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

}  // namespace emc::converter::detail
