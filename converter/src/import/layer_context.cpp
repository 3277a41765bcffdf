#include "layer_context.h"

#include <algorithm>
#include <cctype>

#include "activations.h"

namespace emc::converter::detail {

LayerContext::LayerContext(Graph& graph, const Model& model, const KerasLayer& layer,
                           const std::map<std::string, std::string>& weight_keys,
                           std::map<std::string, std::string>& used_weights,
                           std::vector<TensorId> inputs, std::string output_name,
                           bool is_tensorlayer)
    : graph_(graph),
      model_(model),
      layer_(layer),
      weight_keys_(weight_keys),
      used_weights_(used_weights),
      config_(*layer.config, LayerRef{layer.index, layer.name, layer.class_name}),
      inputs_(std::move(inputs)),
      output_name_(std::move(output_name)),
      is_tensorlayer_(is_tensorlayer) {}

void LayerContext::expect_inputs(std::size_t n) const {
  if (inputs_.size() != n)
    fail(Errc::kShapeMismatch, "takes " + std::to_string(n) + " input(s), but is called with " +
                                   std::to_string(inputs_.size()));
}

Node LayerContext::new_node(NodeKind kind) const {
  Node n;
  n.kind = kind;
  n.inputs = inputs_;
  n.source = SourceLayer{layer_.index, layer_.name, layer_.class_name};
  n.source_layers = {layer_.name};
  return n;
}

TensorId LayerContext::emit(Node node, const std::string& activation_name) {
  const bool softmax = activation_name == "softmax";
  node.output = graph_.add_tensor(softmax ? output_name_ + "/pre_softmax" : output_name_, {});
  const TensorId out = append_inferred(std::move(node));
  if (!softmax) return out;
  Node sm = new_node(NodeKind::kSoftmax);
  sm.inputs = {out};
  sm.axis = static_cast<std::int32_t>(graph_.shape(out).rank() - 1);
  return emit(std::move(sm));
}

TensorId LayerContext::emit_internal(Node node, const std::string& suffix) {
  node.output = graph_.add_tensor(output_name_ + "/" + suffix, {});
  return append_inferred(std::move(node));
}

TensorId LayerContext::append_inferred(Node node) {
  auto shape = infer_shape(graph_, node);
  if (!shape.ok()) {
    Error e = shape.error();
    throw ErrorException(std::move(e).with_layer(ref()));
  }
  graph_.tensors[static_cast<std::size_t>(node.output)].shape = *shape;
  const TensorId out = node.output;
  graph_.nodes.push_back(std::move(node));
  return out;
}

TensorId LayerContext::emit_with_shape(Node node, Shape shape) {
  node.output = graph_.add_tensor(output_name_, std::move(shape));
  auto inferred = infer_shape(graph_, node);
  if (!inferred.ok()) {
    Error e = inferred.error();
    throw ErrorException(std::move(e).with_layer(ref()));
  }
  graph_.nodes.push_back(std::move(node));
  return graph_.nodes.back().output;
}

const std::string* LayerContext::find_weight_key(std::initializer_list<const char*> roles,
                                                 int index) const {
  // A flattened nested layer: its scoped path first, then its own name (what TF.js writes).
  std::vector<const std::string*> names{&layer_.name};
  if (!layer_.weight_scope.empty() && layer_.weight_scope != layer_.name)
    names.insert(names.begin(), &layer_.weight_scope);
  if (!layer_.local_name.empty() && layer_.local_name != layer_.name)
    names.push_back(&layer_.local_name);
  for (const std::string* n : names)
    for (const char* r : roles) {
      auto it = weight_keys_.find(*n + "/" + r);
      if (it != weight_keys_.end()) return &it->second;
    }
  if (index >= 0) {
    for (const std::string* n : names) {
      auto it = weight_keys_.find(*n + "/" + std::to_string(index));
      if (it != weight_keys_.end()) return &it->second;
    }
  }
  return nullptr;
}

bool LayerContext::has_weight(std::initializer_list<const char*> roles, int index) const {
  return find_weight_key(roles, index) != nullptr;
}

std::vector<float> LayerContext::weight(std::initializer_list<const char*> roles, int index,
                                        const std::vector<std::int64_t>& shape) {
  const std::string* key = find_weight_key(roles, index);
  auto shape_str = [](const std::vector<std::int64_t>& s) {
    std::string o = "[";
    for (std::size_t i = 0; i < s.size(); ++i) o += (i ? ", " : "") + std::to_string(s[i]);
    return o + "]";
  };
  if (!key) {
    std::string names;
    for (const char* r : roles)
      names += (names.empty() ? "'" : ", '") + layer_.name + "/" + r + "'";
    fail(Errc::kInvalidModel, "weight " + names + " (shape " + shape_str(shape) +
                                  ") is missing from the model's weights");
  }
  const WeightTensor& w = model_.weights.at(*key);
  if (w.shape != shape)
    // A stored weight that does not fit its layer is a malformed model file (exit code 4).
    fail(Errc::kInvalidModel, "weight '" + w.name + "' has shape " + shape_str(w.shape) +
                                  ", the layer needs " + shape_str(shape));
  // Two different layers resolving to one weight (nested models whose inner layers share a
  // name): TF.js rejects such a model ("Duplicate weight name"), so do we.
  const std::string& owner = layer_.weight_scope.empty() ? layer_.name : layer_.weight_scope;
  auto [it, fresh] = used_weights_.emplace(*key, owner);
  if (!fresh && it->second != owner)
    fail(Errc::kInvalidModel, "weight '" + w.name + "' would be used by layer '" + it->second +
                                  "' and by this layer (two nested layers with the same name); "
                                  "TF.js rejects such a model too (duplicate weight name)");
  return w.values;
}

std::string LayerContext::read_activation(std::initializer_list<const char*> keys,
                                          Activation& out) const {
  auto name = config_.opt_activation(keys);
  if (!name) return "linear";
  return parse_activation(*name, out) ? "linear" : "softmax";
}

bool LayerContext::parse_activation(const std::string& name, Activation& out) const {
  out = Activation{};
  if (name == "softmax") return false;
  for (const ActivationSpelling& s : activation_spellings()) {
    if (name != s.name) continue;
    out = s.activation;
    // Keras 3 changed hard_sigmoid to relu6(x + 3) / 6; Keras 2 and TF.js use 0.2 x + 0.5.
    if (out.kind == ActivationKind::kHardSigmoid && model_.keras_version.rfind("3.", 0) == 0)
      out.alpha = 1.0f / 6.0f;
    return true;
  }
  std::string supported;
  for (const ActivationSpelling& s : activation_spellings())
    supported += std::string(supported.empty() ? "" : ", ") + s.name;
  fail(Errc::kInvalidLayerConfig,
       "activation '" + name + "' is not supported; supported: " + supported + ", softmax");
}

bool parse_padding_mode(const LayerContext& ctx, const char* key, bool default_same) {
  auto p = ctx.config().opt_string(key);
  if (!p) return default_same;
  std::string s = *p;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  if (s == "same") return true;
  if (s == "valid") return false;
  ctx.fail(Errc::kInvalidLayerConfig,
           "padding '" + *p + "' is not supported; supported: 'same', 'valid'");
}

void same_padding(std::int32_t in, std::int32_t k, std::int32_t s, std::int32_t d,
                  std::int32_t& before, std::int32_t& after) {
  const std::int64_t out = (std::int64_t{in} + s - 1) / s;
  const std::int64_t total =
      std::max<std::int64_t>((out - 1) * s + std::int64_t{k - 1} * d + 1 - in, 0);
  before = static_cast<std::int32_t>(total / 2);
  after = static_cast<std::int32_t>(total - total / 2);
}

void require_rank3(const LayerContext& ctx) {
  if (ctx.input_shape().rank() != 3)
    ctx.fail(Errc::kShapeMismatch,
             "needs a [H, W, C] input (rank 4 with batch), got " + to_string(ctx.input_shape()));
}

void require_channels_last(const LayerContext& ctx) {
  auto f = ctx.config().opt_string("data_format");
  if (f && *f != "channels_last" && *f != "NHWC" && *f != "NWC")
    ctx.fail(Errc::kInvalidLayerConfig,
             "data_format '" + *f + "' is not supported; supported: 'channels_last'");
}

std::int32_t per_sample_axis(const LayerContext& ctx, std::int64_t keras_axis, int rank) {
  // Keras axes count the batch dimension: axis 1 is the first per-sample axis; -1 the last.
  std::int64_t a = keras_axis < 0 ? keras_axis + rank + 1 : keras_axis;
  if (a < 1 || a > rank)
    ctx.fail(Errc::kInvalidLayerConfig,
             "axis " + std::to_string(keras_axis) + " is not valid for a per-sample rank-" +
                 std::to_string(rank) + " input (the batch axis 0 cannot be used)");
  return static_cast<std::int32_t>(a - 1);
}

}  // namespace emc::converter::detail
