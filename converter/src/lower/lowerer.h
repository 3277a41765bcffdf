// Internal: the Lowerer, which turns the matches of a target's layer table into kmodel V3 layers.
// Its core (lowerer.cpp) owns the buffers, each tensor's representations (KPU map, uint8 / float
// main memory, pending stride-2 sampling, padding) and the address fix-ups; each job is a member
// defined in its own file: kpu_conv.cpp (K210_CONV incl. channel splits and stride-2 grouping),
// dense.cpp (Dense on the CPU or the KPU), cpu_layers.cpp (pools, add, concat, softmax, ...). A
// node kind's own lowering (lower/<kind>.cpp, kind_lowering.h) binds free functions that build
// with the public part below. The target (options.target, target.h) supplies the rule table
// binding rules to these jobs and the limits the jobs check; no job asks which target it is.
// See convert.h for what runs where and docs/converter_k210.md for the derivations.
#pragma once

#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "emc/converter/convert.h"
#include "emc/converter/emc_conv_quant.h"
#include "emc/converter/layer_table.h"
#include "emc/converter/quantize.h"
#include "emc/format/kpu_layout.h"
#include "lower/emc_conv_rounding.h"
#include "lower/kind_lowering.h"
#include "lower/lowered.h"

namespace emc::converter::detail {

// Pending 2x subsampling of a KPU map stored at full resolution (stride-2 convs whose sampling
// is done by the consumer, see convert.h).
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
  // A map under the target's minimum KPU map (k210: 4x4) held at the top-left of a pad_h x pad_w
  // KPU map (0: not padded). pad_zero: the rest of that map holds code 0 (real 0 when the zero
  // point is 0), so a 3x3 'same' conv reads it as Keras's zero padding; otherwise it holds what a
  // conv computed.
  std::int32_t pad_h = 0, pad_w = 0;
  bool pad_zero = false;
  int main_q = -1;  // uint8 CHW in main memory
  int main_f = -1;  // float32 CHW in main memory
  // int8 CHW in main memory, the form EMC CPU layers read and write (-p k210's CPU fallback): the
  // codes q - 128 of the uint8 form, quantization (q.scale, q.zero_point - 128). The uint8 and int8
  // forms convert into each other exactly (one byte table each way).
  int main_i8 = -1;
  // The model input held as raw pixels p stored as p - 128 in main_i8 (a kmodel whose first layer
  // is a CPU-fallback conv); only convolutions read it (the preprocessing folds into them).
  bool raw_pixels = false;
  bool has_q = false;
  QuantParam q;
  // Main-memory data is a CHW map of this [H, W, C] shape while the tensor is its row-major NHWC
  // flatten (Flatten/Reshape aliases). Empty: the data is in the tensor's own order.
  std::vector<std::int32_t> chw_of;
  bool hwc_input = false;  // graph input of a float-first model: NHWC order as the user holds it
  // The error the stored uint8 map carries per channel (its K210_CONV's estimate, carried_error):
  // mean and variance. Empty: its rounding alone.
  std::vector<double> err_mean, err_var;
  std::vector<double> err_bound;  // InputMoments::err_bound (empty: none)
  std::string unresolved_from;    // the layer 8-bit could not resolve whose error it carries on
};

// Rows of a W x H KPU map before channel c0 (c0 a multiple of the channels sharing a row).
std::uint64_t rows_before(std::int32_t w, std::int32_t h, std::int32_t c0);
// relu or relu6 (sets `relu6`).
bool relu_family(const Activation& a, bool& relu6);

// The kmodel V3 layer table binding rules to the jobs below (lower/k210_target.cpp).
extern const LayerTable kKmodelV3Layers;

class Lowerer : LoweredBuilder {
 public:
  // options.target must be set and its `layers` table must bind Lowerer jobs.
  Lowerer(const Graph& g, const std::vector<Range>& ranges, const ConvertOptions& o)
      : g_(g),
        ranges_(ranges),
        opt_(o),
        target_(*o.target),
        table_(*o.target->layers),
        forms_(g.tensors.size()) {}

  LoweredModel run();

  // Why a conv unit cannot run exactly on the KPU (nothing: it can), and what would let it.
  struct KpuRefusal {
    Errc code = Errc::kInvalidLayerConfig;
    std::string why, change;
  };
  // The nodes of a [pad] conv [BN] [activation] [pool] match.
  struct ConvUnit {
    const Node *pad = nullptr, *conv = nullptr, *bn = nullptr, *act = nullptr, *pool = nullptr;
  };

  // ---- the jobs a layer table binds its rules to (LowerRule) ----
  // [pad] conv/depthwise [BN] [activation] [pool] as K210_CONV (kpu_conv.cpp).
  void lower_kpu_conv(const LayerMatch& m);
  // Dense [activation]: float FULLY_CONNECTED or the KPU form (dense.cpp).
  void lower_fully_connected(const LayerMatch& m);
  // CPU-side layers (cpu_layers.cpp).
  void lower_global_avg_pool(const LayerMatch& m) { lower_global_pool(first(m), false); }
  void lower_global_max_pool(const LayerMatch& m) { lower_global_pool(first(m), true); }
  void lower_max_pool(const LayerMatch& m) { emit_max_pool(lone_pool(m)); }
  void lower_avg_pool(const LayerMatch& m) { emit_avg_pool(lone_pool(m)); }
  void lower_add(const LayerMatch& m) { emit_add(with_activation(m)); }
  void lower_concat(const LayerMatch& m);
  void lower_softmax(const LayerMatch& m);
  // Flatten / Reshape / Identity: no data movement.
  void lower_alias(const LayerMatch& m);
  void lower_activation(const LayerMatch& m);
  void lower_batch_norm(const LayerMatch& m) { emit_batch_norm(with_activation(m)); }
  // Subtract / Multiply / Maximum / Minimum / Average [activation], Cropping2D and a ZeroPadding2D
  // no conv absorbed: the stock V3 form where one is exact, else the EMC int8 layer on the CPU
  // (Target::cpu_conv_fallback; elementwise_pad_crop.cpp).
  void lower_elementwise(const LayerMatch& m);
  void lower_crop(const LayerMatch& m);
  void lower_zero_pad(const LayerMatch& m);

  // ---- what a free job (lower/<kind>.cpp) builds with ----
  const Graph& graph() const { return g_; }
  Forms& forms(TensorId t) { return forms_[static_cast<std::size_t>(t)]; }
  const Node& first(const LayerMatch& m) const { return node(m.nodes.front()); }
  // The tensor's uint8 quantization (from its calibrated range, fixed on first use).
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
  // t as uint8 CHW in main memory (Forms::main_q), DMA'd / dequantized / sampled as needed.
  void ensure_main_q(TensorId t, const Node& ctx);
  // t as int8 in main memory (Forms::main_i8), from its uint8 form.
  void ensure_main_i8(TensorId t, const Node& ctx);
  // A V3 REQUANTIZE (256-entry byte table) of `n` bytes of buffer `in` into a new buffer.
  int byte_table(int in, std::uint64_t n, const std::array<std::uint8_t, 256>& table,
                 LayerInfo info, const Node& ctx);
  using LoweredBuilder::add_main_layer;
  using LoweredBuilder::main_buffer;

 private:
  // ---- buffers and layers (new_buffer, add_layer, ...: LoweredBuilder) ----
  int kpu_map_buffer(std::int32_t h, std::int32_t w, std::int32_t c, const LayerRef& owner,
                     std::uint32_t extra_rows = 0) {
    const auto rows = static_cast<std::uint32_t>(
        format::kpu_map_rows(static_cast<std::uint32_t>(w), static_cast<std::uint32_t>(h),
                             static_cast<std::uint32_t>(c)));
    return new_buffer(Mem::kKpu, std::uint64_t{rows} * 64, rows + extra_rows, owner);
  }
  // Makes K210_CONV layer `layer` also DMA its output map to main buffer `buf` (+ `add` bytes).
  void send_to_main(int layer, int buf, std::uint64_t add);

  // ---- quantization of tensors ----
  // QUANTIZE / DEQUANTIZE of all of t with q (addresses patched later).
  format::QuantizeBody quantize_body(TensorId t, const QuantParam& q) const {
    format::QuantizeBody b;
    b.count = static_cast<std::uint32_t>(count(t));
    b.scale = static_cast<float>(q.scale);
    b.bias = static_cast<float>(q.bias());
    return b;
  }

  // ---- the CPU fallback of convolutions (cpu_conv_fallback.cpp) ----
  // (kpu_conv.cpp) The nodes of a conv unit; the checks of lower_kpu_conv's KPU forms, made
  // before anything is emitted.
  ConvUnit conv_unit(const std::vector<int>& nodes) const;
  std::optional<KpuRefusal> kpu_conv_refusal(const ConvUnit& u) const;
  // The conv unit as an EMC_CONV2D / EMC_DEPTHWISE_CONV2D on int8 in main memory (then any pool on
  // the CPU), named as off the KPU for `r` (Target::cpu_conv_fallback).
  void lower_conv_on_cpu(const ConvUnit& u, const std::vector<int>& nodes, const KpuRefusal& r);
  // The unit's activation is one the CPU fallback applies in float (sigmoid, tanh).
  static bool float_cpu_conv(const ConvUnit& u) {
    const ActivationKind k = (u.act ? u.act : u.bn ? u.bn : u.conv)->activation.kind;
    return k == ActivationKind::kSigmoid || k == ActivationKind::kTanh;
  }
  // The same with a fused sigmoid or tanh, which an int8 output cannot carry exactly: a float
  // EMC_CONV2D_F32 / EMC_DEPTHWISE_CONV2D_F32 on the dequantized input, the stock float LOGISTIC
  // (tanh(x) = 2·σ(2x) − 1: weights and bias doubled, the affine map folded into the QUANTIZE),
  // QUANTIZE to the output's uint8 grid. `fc` holds the geometry, weights and bias (BN folded).
  void lower_conv_on_cpu_float(const ConvUnit& u, FloatConv fc, const Activation& act, TensorId tin,
                               TensorId out, const std::vector<std::string>& sources,
                               const KpuRefusal& r);
  // The KPU-first model input t (raw pixels in KPU RAM) also as raw pixels stored p - 128 in
  // main memory (main_i8, raw_pixels), for a CPU conv reading it.
  void pixels_to_main(TensorId t, const Node& ctx);
  // The per-channel (mean, std) of real = (pixel - mean) / std of the raw pixel input (the
  // preprocessing, with a folded leading Rescaling) for a conv `c` reading it with `cin` channels.
  void input_normalization(std::int32_t cin, const Node& c, TensorId tin, std::vector<double>& mean,
                           std::vector<double>& stdv) const;
  // The raw pixel input `in_buf` of `tin` normalized, (p - mean_c) / std_c, by a 1x1 depthwise
  // K210_CONV of its own into a KPU map with one zero point (emitted once, shared by every conv
  // reading `tin`): when no single pixel maps to 0.0 in every channel (per-channel means more
  // than half a pixel apart, or a mean outside 0..255) a padded conv that folds the normalization
  // would pad with a wrong value, whereas this map's zero padding is the quantized 0.0. Returns
  // its KPU buffer and quantization.
  std::pair<int, QuantParam> normalize_input(const Node& c, TensorId tin, int in_buf,
                                             const std::vector<double>& mean,
                                             const std::vector<double>& stdv);
  // The same for a CPU conv reading the raw pixels in main memory (stored p - 128): an EMC 1x1
  // depthwise conv onto an int8 grid covering what pixels 0..255 map to.
  std::pair<int, Int8Quant> normalize_pixels_i8(const Node& c, TensorId tin, int pixels,
                                                const std::vector<double>& mean,
                                                const std::vector<double>& stdv);
  // The raw pixels of `tin` in main memory (stored p - 128) as float p: an exact EMC dequantize.
  int pixels_as_float(const Node& c, TensorId tin, const KpuRefusal& r);
  // The same normalized, real = (p - mean_c) / std_c, by a float 1x1 depthwise EMC conv: what a
  // float CPU conv that pads must read when pixel 0 is not real 0 (once per tensor).
  int normalized_pixels_f(const Node& c, TensorId tin, const std::vector<double>& mean,
                          const std::vector<double>& stdv, const KpuRefusal& r);
  // The quantization quant_of(t) gives, without caching it.
  QuantParam peek_quant(TensorId t) const;

  // ---- representation changes ----
  void ensure_main_f(TensorId t, const Node& ctx);
  void ensure_kpu(TensorId t, const Node& ctx);
  void materialize_subsample(TensorId t, const Node& ctx);
  void enable_dma(TensorId t, const Node& ctx);
  // DMAs t's stored KPU map (h x w, all channels) to a new main buffer as dense CHW; returns it.
  int dma_map(TensorId t, std::int32_t h, std::int32_t w, const Node& ctx);
  // CPU QUANTIZED_MAX_POOL2D with a 1x1 window: out(c, y, x) = in(c, s·y, s·x) of an in_h x in_w
  // CHW map starting `in_add` bytes into `in_buf`, and code 0 where that lies outside the map
  // (the SDK's empty window). Samples, crops and zero-pads uint8 maps exactly.
  // `pad_top` / `pad_left`: the window origin is (s·y - pad_top, s·x - pad_left) (code 0 outside).
  int pick(int in_buf, std::uint64_t in_add, std::int32_t c, std::int32_t in_h, std::int32_t in_w,
           std::int32_t stride, std::int32_t out_h, std::int32_t out_w, const Node& ctx,
           const std::string& note, const QuantParam& q, std::int32_t pad_top = 0,
           std::int32_t pad_left = 0);
  // Under the smallest map the target's KPU computes (Target::min_map; k210: 4, cpu: 1).
  bool small(const Shape& s) const { return s.h() < target_.min_map || s.w() < target_.min_map; }
  // t (a map under 4x4) as a zero-padded 4x4 KPU map (pad_zero), through main memory.
  void ensure_small_kpu(TensorId t, const Node& ctx);

  // ---- units ----
  const Node& node(int i) const { return g_.nodes[static_cast<std::size_t>(i)]; }
  // An Add / BatchNormalization matched with a following Activation: one node with that
  // activation.
  Node with_activation(const LayerMatch& m) const;
  // Runs the job its rule binds (or fails naming a rule without one).
  void lower_unit(const LayerMatch& m);
  void lower_dense_like(const Node& node, const std::vector<float>& kernel_in_units,
                        const std::vector<float>& bias, std::int32_t units, Activation act,
                        TensorId in, TensorId out, const std::vector<std::string>& sources);
  // The vendor form of a dense layer on the KPU: K210_ADD_PADDING puts the n inputs at pixel
  // (0,0) of a 4x4 map, a 1x1 K210_CONV computes it (DMA'd out), K210_REMOVE_PADDING keeps pixel
  // (0,0) of each output channel. `weights` are [units][n] in stored input order.
  void lower_dense_kpu(const Node& node, std::vector<float> weights, const std::vector<float>& bias,
                       std::int32_t units, Activation act, TensorId in, TensorId out,
                       const std::vector<std::string>& sources, bool permuted);
  // The pool of a max_pool2d / average_pool2d match (a ZeroPadding2D must have been merged).
  const Node& lone_pool(const LayerMatch& m) const;
  void emit_max_pool(const Node& n);
  void emit_avg_pool(const Node& n);
  // A pool left over from a KPU conv unit (not fused into the K210_CONV).
  void emit_pool(const Node& n);
  void lower_global_pool(const Node& n, bool max);
  void emit_add(const Node& n);
  // Two uint8 inputs -> QUANTIZED_ADD (the SDK's integer add); false (nothing emitted) when the
  // float path must be used instead.
  bool lower_quantized_add(const Node& n);
  void emit_batch_norm(const Node& n);
  // The uint8 grid of t written by a layer with clamp activation `act` (linear, ReLU, ReLU6):
  // quant_of(t), or from real 0 (zero point 0) when act clamps there, capped at 6 for ReLU6.
  QuantParam clamped_quant(TensorId t, const Activation& act);
  // (elementwise_pad_crop.cpp) The V3 float forms: a - b as a + DEQUANTIZE(b) with the scale and
  // bias negated, (a + b) / 2 as the float sum QUANTIZEd on the output grid doubled.
  void emit_subtract(const Node& n, const Activation& act, TensorId out,
                     const std::vector<std::string>& sources);
  void emit_average(const Node& n, const Activation& act, TensorId out,
                    const std::vector<std::string>& sources);
  // Maximum / Minimum: both inputs on the output grid (byte tables), a 2x1 QUANTIZED_MAX_POOL2D.
  void emit_max_min(const Node& n, const Activation& act, TensorId out,
                    const std::vector<std::string>& sources);
  // EMC_ELEMENTWISE_INT8 on the int8 forms of n's inputs, writing the int8 form of out's grid.
  void emit_elementwise_on_cpu(const Node& n, const Activation& act, TensorId out,
                               const std::vector<std::string>& sources);
  // The int8 form of n's map input padded / cropped by `p` as EMC_PAD_CROP_INT8, off the KPU
  // for `why` (`change`: what would put it back).
  void emit_pad_crop_on_cpu(const Node& n, const Padding4& p, const std::string& note,
                            const std::string& why, const std::string& change);
  // Fails naming n unless t is a CHW map in main memory (not a flattened map or NHWC input).
  void require_map(TensorId t, const Node& n) const;
  void quantize_float_output(TensorId t, int main_f, const Node& n, const Activation& act,
                             const std::vector<std::string>& sources);
  // A QUANTIZE `b` of the float buffer `main_f` into a new uint8 buffer standing for tensor t on
  // grid q (report: sources, note); returns the buffer.
  int quantize_layer(int main_f, const format::QuantizeBody& b, TensorId t, const QuantParam& q,
                     const std::vector<std::string>& sources, std::string note, const Node& n);

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
    double border_error = 0;  // LayerInfo::border_error (0: none)
    // The calibrated moments of what the conv reads (per input channel): the rounding-error
    // estimate (LayerInfo::rounding_error, emc_conv_rounding.h); none: no estimate.
    std::optional<InputMoments> moments;
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
  // What emit_kpu_conv's layers estimate (their parts' channels in order) and the unresolved
  // layer whose error their output carries on: carried into the output's Forms.
  RoundingEstimate conv_estimate_;
  std::string conv_origin_;
  // The moments of what a K210_CONV reads from tensor `t` on grid `q`: its calibrated moments
  // with the error its stored map carries (its rounding alone when its producer states none).
  InputMoments kpu_input_moments(TensorId t, const QuantParam& q) const;

  const Graph& g_;
  const std::vector<Range>& ranges_;
  const ConvertOptions& opt_;
  const Target& target_;
  const LayerTable& table_;
  std::vector<Forms> forms_;
  bool kpu_input_ = false;
  // The leading Rescaling / Normalization layers folded into the input preprocessing (see
  // run()): the last one's output tensor, their composed per-channel affine map, and the output
  // of each (lower_unit skips them).
  TensorId rescaled_input_ = kNoTensor;
  ChannelAffine in_affine_;
  std::vector<TensorId> folded_;
  // The raw-pixel tensor (the model input, or the output of the folded leading layers, whose
  // statistics differ) normalized by a layer of its own (normalize_input, normalize_pixels_i8):
  // its buffer and quantization, each emitted once per tensor.
  std::map<TensorId, std::pair<int, QuantParam>> normalized_;
  std::map<TensorId, std::pair<int, Int8Quant>> normalized_i8_;
  std::map<TensorId, int> pixels_f_, normalized_f_;
};

}  // namespace emc::converter::detail
