// Importers of the non-spatial layers: Dense, BatchNormalization, activations, merges, shapes.
#include <cmath>

#include "layer_context.h"

namespace emc::converter::detail {

void import_dense(LayerContext& ctx) {
  const ConfigReader& c = ctx.config();
  c.check_known_keys({"units", "activation", "use_bias", "n_units", "act"});
  ctx.expect_inputs(1);
  Node n = ctx.new_node(NodeKind::kDense);
  n.filters = static_cast<std::int32_t>(c.has("units") ? c.get_int("units", 1, 1 << 24)
                                                       : c.get_int("n_units", 1, 1 << 24));
  const std::string act = ctx.read_activation({"activation", "act"}, n.activation);
  if (ctx.input_shape().rank() < 1) ctx.fail(Errc::kShapeMismatch, "needs an input of rank >= 1");
  const std::int64_t in = ctx.input_shape().c();
  n.kernel = ctx.weight({"kernel", "weights", "W"}, 0, {in, n.filters});
  const bool use_bias = c.has("units") ? c.opt_bool("use_bias").value_or(true)
                                       : ctx.has_weight({"biases", "bias", "b"}, 1);
  if (use_bias) n.bias = ctx.weight({"bias", "biases", "b"}, 1, {n.filters});
  ctx.emit(std::move(n), act);
}

void import_batch_norm(LayerContext& ctx) {
  const ConfigReader& c = ctx.config();
  c.check_known_keys({"axis", "epsilon", "center", "scale", "act", "data_format"});
  ctx.expect_inputs(1);
  const Shape& in = ctx.input_shape();
  if (in.rank() < 1) ctx.fail(Errc::kShapeMismatch, "needs an input of rank >= 1");
  if (auto ax = c.opt_axis("axis"); ax && per_sample_axis(ctx, *ax, in.rank()) != in.rank() - 1)
    ctx.fail(Errc::kInvalidLayerConfig,
             "axis " + std::to_string(*ax) + " is not supported; only the channel (last) axis");
  require_channels_last(ctx);
  Node n = ctx.new_node(NodeKind::kBatchNorm);
  const double eps = c.opt_number("epsilon").value_or(ctx.is_tensorlayer() ? 1e-5 : 1e-3);
  if (!(eps >= 0.0)) ctx.fail(Errc::kInvalidLayerConfig, "epsilon must be >= 0");
  n.epsilon = eps;
  const std::int64_t ch = in.c();
  bool scale = true, center = true;
  if (ctx.is_tensorlayer()) {
    scale = ctx.has_weight({"gamma"}, -1);
    center = ctx.has_weight({"beta"}, -1);
  } else {
    scale = c.opt_bool("scale").value_or(true);
    center = c.opt_bool("center").value_or(true);
  }
  // Keras weight order: gamma, beta, moving_mean, moving_variance (gamma / beta only when
  // present). The stored weights are read first: the defaults for absent gamma / beta are
  // allocated only once a stored [C] weight proves C is backed by file data (C alone comes from
  // the declared shapes and may be 2^30).
  const int mean_index = int{scale} + int{center};
  n.mean = ctx.weight({"moving_mean"}, mean_index, {ch});
  n.variance = ctx.weight({"moving_variance", "moving_var"}, mean_index + 1, {ch});
  n.gamma = scale ? ctx.weight({"gamma"}, 0, {ch}) : std::vector<float>(n.mean.size(), 1.0f);
  n.beta =
      center ? ctx.weight({"beta"}, int{scale}, {ch}) : std::vector<float>(n.mean.size(), 0.0f);
  const std::string act = ctx.read_activation({"act"}, n.activation);
  ctx.emit(std::move(n), act);
}

void import_activation(LayerContext& ctx) {
  const ConfigReader& c = ctx.config();
  c.check_known_keys({"activation"});
  ctx.expect_inputs(1);
  if (!c.has("activation")) ctx.fail(Errc::kInvalidLayerConfig, "missing 'activation'");
  Node n = ctx.new_node(NodeKind::kActivation);
  if (ctx.read_activation({"activation"}, n.activation) == "softmax") {
    Node sm = ctx.new_node(NodeKind::kSoftmax);
    sm.axis = ctx.input_shape().rank() - 1;
    ctx.emit(std::move(sm));
    return;
  }
  if (n.activation.is_linear()) n.kind = NodeKind::kIdentity;
  ctx.emit(std::move(n));
}

void import_relu(LayerContext& ctx) {
  const ConfigReader& c = ctx.config();
  c.check_known_keys({"max_value", "negative_slope", "threshold"});
  ctx.expect_inputs(1);
  Node n = ctx.new_node(NodeKind::kActivation);
  const double max_value = c.opt_number("max_value").value_or(INFINITY);
  const double slope = c.opt_number("negative_slope").value_or(0.0);
  const double threshold = c.opt_number("threshold").value_or(0.0);
  if (max_value < 0 || slope < 0)
    ctx.fail(Errc::kInvalidLayerConfig, "max_value and negative_slope must be >= 0");
  n.activation = make_relu(static_cast<float>(max_value), slope, static_cast<float>(threshold));
  ctx.emit(std::move(n));
}

void import_leaky_relu(LayerContext& ctx) {
  const ConfigReader& c = ctx.config();
  c.check_known_keys({"alpha", "negative_slope"});
  ctx.expect_inputs(1);
  Node n = ctx.new_node(NodeKind::kActivation);
  // Keras 2 'alpha' and Keras 3 'negative_slope' both default to 0.3 (TF.js too).
  const double alpha = c.has("negative_slope") ? c.get_number("negative_slope")
                                               : c.opt_number("alpha").value_or(0.3);
  n.activation = make_relu(std::numeric_limits<float>::infinity(), alpha);
  ctx.emit(std::move(n));
}

void import_softmax(LayerContext& ctx) {
  const ConfigReader& c = ctx.config();
  c.check_known_keys({"axis"});
  ctx.expect_inputs(1);
  const int rank = ctx.input_shape().rank();
  Node n = ctx.new_node(NodeKind::kSoftmax);
  n.axis = rank - 1;
  if (auto ax = c.opt_axis("axis"); ax && per_sample_axis(ctx, *ax, rank) != rank - 1)
    ctx.fail(Errc::kInvalidLayerConfig,
             "softmax axis " + std::to_string(*ax) + " is not supported; only the last axis (-1)");
  ctx.emit(std::move(n));
}

void import_concat(LayerContext& ctx) {
  const ConfigReader& c = ctx.config();
  c.check_known_keys({"axis", "concat_dim"});
  if (ctx.inputs().size() < 2)
    ctx.fail(Errc::kShapeMismatch, "Concatenate needs at least two inputs");
  const char* key = c.has("axis") ? "axis" : "concat_dim";
  const std::int64_t axis = c.opt_int(key, -9, 9).value_or(-1);
  Node n = ctx.new_node(NodeKind::kConcat);
  n.axis = per_sample_axis(ctx, axis, ctx.input_shape().rank());
  ctx.emit(std::move(n));
}

void import_add(LayerContext& ctx) {
  ctx.config().check_known_keys({});
  if (ctx.inputs().size() < 2) ctx.fail(Errc::kShapeMismatch, "Add needs at least two inputs");
  ctx.emit(ctx.new_node(NodeKind::kAdd));
}

void import_flatten(LayerContext& ctx) {
  const ConfigReader& c = ctx.config();
  c.check_known_keys({"data_format"});
  ctx.expect_inputs(1);
  auto f = c.opt_string("data_format");
  if (f && *f != "channels_last" && ctx.input_shape().rank() > 1)
    ctx.fail(Errc::kInvalidLayerConfig,
             "data_format '" + *f + "' changes the flatten order; supported: 'channels_last'");
  ctx.emit(ctx.new_node(NodeKind::kFlatten));
}

void import_reshape(LayerContext& ctx) {
  const ConfigReader& c = ctx.config();
  c.check_known_keys({"target_shape", "shape"});
  ctx.expect_inputs(1);
  const char* key = c.first_present({"target_shape", "shape"});
  if (!key) ctx.fail(Errc::kInvalidLayerConfig, "needs 'target_shape', a list of 1 to 8 dims");
  std::vector<std::int64_t> dims = *c.opt_int_list(key, -1, 1 << 30, 9);
  for (auto d : dims)
    if (d == 0) ctx.fail(Errc::kInvalidLayerConfig, "target_shape has a 0 dimension");
  // TensorLayer's Reshape 'shape' includes the batch dimension (tf.reshape semantics).
  if (std::string(key) == "shape") dims.erase(dims.begin());
  if (dims.empty() || dims.size() > 8)
    ctx.fail(Errc::kInvalidLayerConfig, "target_shape must have 1 to 8 dims");
  const std::int64_t total = ctx.input_shape().num_elements();
  std::int64_t known = 1;
  int unknown = -1;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == -1) {
      if (unknown >= 0) ctx.fail(Errc::kInvalidLayerConfig, "more than one -1 in target_shape");
      unknown = static_cast<int>(i);
    } else {
      known *= dims[i];
      if (known > total) break;
    }
  }
  if (known > total)
    ctx.fail(Errc::kShapeMismatch,
             "cannot reshape " + to_string(ctx.input_shape()) + " into " + c.describe_key(key));
  if (unknown >= 0 && known > 0 && total % known == 0) dims[unknown] = total / known;
  Shape out;
  for (auto d : dims) out.dims.push_back(static_cast<std::int32_t>(d > 0 && d < (1 << 30) ? d : 0));
  if (dims.empty() || out.num_elements() != total)
    ctx.fail(Errc::kShapeMismatch, "cannot reshape " + to_string(ctx.input_shape()) + " (" +
                                       std::to_string(total) + " values) into " +
                                       c.describe_key(key));
  ctx.emit_with_shape(ctx.new_node(NodeKind::kReshape), out);
}

void import_alias(LayerContext& ctx) {
  ctx.expect_inputs(1);
  ctx.emit(ctx.new_node(NodeKind::kIdentity));
}

void import_dropout(LayerContext& ctx) {
  ctx.config().check_known_keys({"rate", "noise_shape", "seed"});
  ctx.expect_inputs(1);
  ctx.emit(ctx.new_node(NodeKind::kIdentity));
}

}  // namespace emc::converter::detail
