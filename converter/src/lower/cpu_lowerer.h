// Internal: the CpuLowerer, which lowers an optimized, calibrated graph onto EMC's own int8 CPU
// layer types (the emc_int8 lowering style, kind_lowering.h; -p cpu takes it). What it emits and
// why: docs/cpu_target.md "The -p cpu lowering". Its jobs are members defined in cpu_target.cpp
// (bound by the rows of its table, kCpuRules) or free functions in a node kind's lowering file
// (lower/<kind>.cpp) that build with the public part of the class.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "emc/converter/emc_conv_quant.h"
#include "emc/converter/emc_int8_params.h"
#include "emc/format/emc_layers.h"
#include "lower/emc_conv_layer.h"
#include "lower/kind_lowering.h"
#include "lower/lowered.h"

namespace emc::converter::detail {

// Activations an int8 layer applies as its output clamp.
inline bool is_clamp(const Activation& a) {
  return a.is_linear() ||
         (a.kind == ActivationKind::kRelu && a.alpha == 0.0 && a.threshold == 0.0f);
}

// Representations of one graph tensor that exist so far (all CHW in main memory).
struct Form {
  int q = -1;  // int8 buffer
  int f = -1;  // float32 buffer
  std::optional<Int8Quant> quant;
  // The model input as uint8 pixels p stored as int8 p - 128: real = (p - mean[c]) / stdv[c].
  int pixel = -1;
  std::vector<double> mean, stdv;
  // The data is a CHW map of this [H, W, C] shape while the tensor is its NHWC flatten.
  std::vector<std::int32_t> chw_of;
  // A rank-3 tensor stored in NHWC order (the float input of a model whose first layer is not a
  // conv, as the user holds it, and what elementwise layers make of it).
  bool hwc = false;
  // The error the int8 form carries per channel (an EMC int8 conv's estimate, carried_error):
  // mean and variance. Empty: its rounding alone.
  std::vector<double> err_mean, err_var;
  std::vector<double> err_bound;  // InputMoments::err_bound (empty: none)
  // The layer int8 could not resolve whose error this form carries on ("": none).
  std::string unresolved_from;
};

class CpuLowerer : LoweredBuilder {
 public:
  CpuLowerer(const Graph& g, const std::vector<Range>& r, const ConvertOptions& o)
      : g_(g), ranges_(r), opt_(o), forms_(g.tensors.size()) {}
  LoweredModel run();

  // ---- what a free job (lower/<kind>.cpp) builds with ----
  const Graph& graph() const { return g_; }
  const Node& first(const LayerMatch& m) const { return g_.nodes[std::size_t(m.nodes.front())]; }
  Form& form(TensorId t) { return forms_[static_cast<std::size_t>(t)]; }
  std::int64_t count(TensorId t) const { return g_.shape(t).num_elements(); }
  int buffer(std::uint64_t bytes, const LayerRef& owner) { return main_buffer(bytes, owner); }
  // Appends a layer reading `in` and writing `out` (buffer ids, -1: none) with its fixups.
  void add(format::LayerType type, format::LayerBody body, LayerInfo info,
           std::vector<Fixup> fixups, int in, int out) {
    add_layer(type, std::move(body), std::move(info), std::move(fixups));
    out_.layers.back().main_in = in;
    out_.layers.back().main_out = out;
  }
  static std::vector<std::string> sources_of(const Node& n) {
    return n.source_layers.empty() ? std::vector<std::string>{n.source.name} : n.source_layers;
  }

  Int8Quant quant_of(TensorId t) {
    Form& f = form(t);
    if (!f.quant) {
      const Range& r = ranges_.at(static_cast<std::size_t>(t));
      auto q = int8_quant_from_range(r.min, r.max);
      if (!q.ok())
        throw ErrorException(std::move(q).error().prefix("tensor '" + g_.tensor(t).name + "': "));
      f.quant = q.value();
    }
    return *f.quant;
  }
  static std::string quant_note(const Int8Quant& q) { return int8_quant_note(q); }

  void ensure_q(TensorId t, const Node& ctx);
  void ensure_f(TensorId t, const Node& ctx);
  // Fails naming `n` when t is a map stored in NHWC order (which the spatial layers cannot read).
  void require_chw(TensorId t, const Node& n) {
    if (form(t).hwc)
      fail(Errc::kUnsupportedLayer,
           "reads the model input as a map, but this model's input is float32 NHWC (its first "
           "layer is not a convolution, so -p cpu takes the input as the user holds it): put a "
           "Conv2D first",
           n);
  }

 private:
  // The calibrated moments of tensor `t` and the error its int8 form carries.
  InputMoments input_moments(TensorId t);
  // EMC int8 convolution of `fc` reading buffer `in_buf` (quantization `in_q`) into a new buffer
  // holding `out` (quantization `out_q`); returns the output buffer.
  // `in` (optional): the input's calibrated moments, for the rounding-error estimate and, with
  // `bias_correct` (and the bias-correction option, as the k210 lowering), the bias correction of
  // the weight rounding: the expected output error sum (w_q - w) * E[x] is subtracted. A layer
  // that int8 cannot resolve (make_emc_conv's rounding.warning) adds its warning.
  int emit_conv(FloatConv fc, int in_buf, const Int8Quant& in_q, const Int8Quant& out_q,
                TensorId out, const Node& n, std::vector<std::string> sources, std::string note,
                const InputMoments& in = {}, bool bias_correct = false,
                const Padding4& in_pad = {});
  // A per-channel affine y = a[c]*x + b[c] (clamped) on an int8 tensor as a 1x1 depthwise conv.
  void emit_affine(TensorId in, TensorId out, const std::vector<float>& a,
                   const std::vector<float>& b, const Activation& clamp, const Node& n,
                   const std::string& note);
  // A 256-entry table on int8 codes: out = q_out(fn(deq_in(q))).
  int emit_table(int in_buf, std::uint64_t n, const Int8Quant& qi, const Int8Quant& qo,
                 const std::function<double(double)>& fn, const Node& ctx,
                 std::vector<std::string> sources, std::string note, std::vector<int32_t> shape);
  // Float result `f_buf` of tensor t with a clamp activation: quantized right away so that the
  // clamp applies (the float form is dropped).
  void finish_float(TensorId t, int f_buf, const Activation& act);

  // EMC_MAX_POOL2D_INT8 / EMC_AVERAGE_POOL2D_INT8 over the valid taps (padding is no tap).
  void emit_pool(const Node& n, bool average, std::int32_t kh, std::int32_t kw, std::int32_t sh,
                 std::int32_t sw, const Padding4& pad, const std::string& note);
  // EMC_ELEMENTWISE_INT8 `op` (average: an add with the output multiplier halved) of n's two
  // same-shape int8 inputs into `out`, with a clamp activation; false when the parameters do not
  // fit the type (then the caller falls back or refuses).
  bool emit_elementwise_int8(const Node& n, format::EmcElementwiseOp op, int average_of,
                             const Activation& act, TensorId out);
  // EMC_PAD_CROP_INT8 of n's input by (top, bottom, left, right): positive pads with real 0 (the
  // zero point), negative crops.
  void emit_pad_crop(const Node& n, std::int32_t top, std::int32_t bottom, std::int32_t left,
                     std::int32_t right, const std::string& note);
  // The same on an int8 CHW buffer of shape `s` [H, W, C] with zero point `zp`; returns the new
  // buffer (the caller records what it holds).
  int emit_pad_crop_buffer(int in_buf, const Shape& s, std::int32_t zp, const Padding4& pads,
                           const Node& ctx, std::vector<std::string> sources,
                           const std::string& note);

  // States in every layer's LayerInfo what its output buffer holds (the sidecar's dtype, quant,
  // tensor, layout and map_shape), from the representations the lowering recorded.
  void describe_outputs();

  // Runs the job the match's rule binds (kCpuRules), after splitting off a trailing activation
  // that is not a clamp.
  void lower_unit(const LayerMatch& m);
  // A match of the rule binding `job`, over `nodes`.
  static LayerMatch match_of(CpuJob job, std::vector<int> nodes);

 public:
  // ---- the jobs kCpuRules binds its rules to ----
  void lower_conv_unit(const LayerMatch& m) { lower_conv(m.nodes); }
  void lower_dense_unit(const LayerMatch& m) { lower_dense(m.nodes); }
  // Folds a per-channel affine layer (input_affine) on the input pixels into their mapping;
  // false when it does not apply (not on the pixels, or the new mean is no pixel).
  bool fold_into_pixels(const Node& n);
  void lower_batch_norm_unit(const LayerMatch& m) {
    const auto [act, out] = fused_activation(m);
    lower_batch_norm(first(m), act, out);
  }
  void lower_add_unit(const LayerMatch& m) {
    const auto [act, out] = fused_activation(m);
    lower_add(first(m), act, out);
  }
  void lower_elementwise_unit(const LayerMatch& m) {
    const auto [act, out] = fused_activation(m);
    lower_elementwise(first(m), act, out);
  }
  void lower_activation_unit(const LayerMatch& m) { lower_activation(first(m)); }
  void lower_max_pool_unit(const LayerMatch& m) { lower_max_pool(lone_pool(m)); }
  void lower_avg_pool_unit(const LayerMatch& m) { lower_avg_pool(lone_pool(m)); }
  void lower_global_avg_pool_unit(const LayerMatch& m) { lower_global_pool(first(m), false); }
  void lower_global_max_pool_unit(const LayerMatch& m) { lower_global_pool(first(m), true); }
  void lower_concat_unit(const LayerMatch& m) { lower_concat(first(m)); }
  void lower_softmax_unit(const LayerMatch& m) { lower_softmax(first(m)); }
  void lower_alias_unit(const LayerMatch& m) { lower_alias(first(m)); }
  // A ZeroPadding2D no conv absorbed.
  void lower_zero_pad_unit(const LayerMatch& m) {
    const Padding4& p = first(m).pad;
    emit_pad_crop(first(m), p.top, p.bottom, p.left, p.right, "zero padding");
  }
  void lower_crop_unit(const LayerMatch& m) {
    const Padding4& p = first(m).pad;
    emit_pad_crop(first(m), -p.top, -p.bottom, -p.left, -p.right, "crop");
  }

 private:
  // The pool of a max_pool2d / average_pool2d match (a ZeroPadding2D must have been merged).
  const Node& lone_pool(const LayerMatch& m) const {
    if (m.nodes.size() > 1 || first(m).kind == NodeKind::kZeroPad)
      fail(Errc::kUnsupportedLayer,
           "a ZeroPadding2D before pooling must be merged by the front-end passes", first(m));
    return first(m);
  }
  // The activation and output of a BatchNorm / Add / elementwise match, with a following
  // Activation node when it has one.
  std::pair<Activation, TensorId> fused_activation(const LayerMatch& m) const {
    const Node& f = first(m);
    if (m.nodes.size() == 1) return {f.activation, f.output};
    const Node& a = g_.nodes[std::size_t(m.nodes[1])];
    if (!f.activation.is_linear()) fail(Errc::kUnsupportedLayer, "two activations in a row", a);
    return {a.activation, a.output};
  }
  void lower_conv(const std::vector<int>& nodes);
  void lower_dense(const std::vector<int>& nodes);
  void lower_batch_norm(const Node& n, const Activation& act, TensorId out);
  void lower_activation(const Node& n);
  void lower_max_pool(const Node& n);
  void lower_avg_pool(const Node& n);
  void lower_global_pool(const Node& n, bool max);
  void lower_add(const Node& n, const Activation& act, TensorId out);
  void lower_elementwise(const Node& n, const Activation& act, TensorId out);
  void lower_concat(const Node& n);
  void lower_softmax(const Node& n);
  void lower_alias(const Node& n);

  const Graph& g_;
  const std::vector<Range>& ranges_;
  const ConvertOptions& opt_;
  std::vector<Form> forms_;
};

}  // namespace emc::converter::detail
