// What a per-class importer sees while build_graph() runs (private).
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "emc/converter/graph.h"
#include "emc/converter/model_json.h"
#include "json_util.h"

namespace emc::converter::detail {

class LayerContext {
 public:
  LayerContext(Graph& graph, const Model& model, const KerasLayer& layer,
               const std::map<std::string, std::string>& weight_keys,
               std::map<std::string, std::string>& used_weights, std::vector<TensorId> inputs,
               std::string output_name, bool is_tensorlayer);

  const ConfigReader& config() const { return config_; }
  const KerasLayer& layer() const { return layer_; }
  const Model& model() const { return model_; }
  LayerRef ref() const { return config_.layer(); }
  bool is_tensorlayer() const { return is_tensorlayer_; }

  const std::vector<TensorId>& inputs() const { return inputs_; }
  const Shape& input_shape(std::size_t i = 0) const { return graph_.shape(inputs_.at(i)); }
  // Fails unless the layer has exactly `n` inputs.
  void expect_inputs(std::size_t n) const;

  // A node pre-filled with the inputs and the source layer.
  Node new_node(NodeKind kind) const;
  // Appends `node` with an output tensor of the inferred shape. When `activation` is softmax the
  // node's output is "<layer>/pre_softmax" followed by a kSoftmax node over the last axis.
  // Returns the id of the layer's final output tensor.
  TensorId emit(Node node, const std::string& activation_name = "linear");
  // Appends `node` as an intermediate of this layer: output "<layer>/<suffix>", shape inferred.
  // Returns its output tensor (the input of the layer's next node).
  TensorId emit_internal(Node node, const std::string& suffix);
  // Appends `node` whose output shape is given (kReshape).
  TensorId emit_with_shape(Node node, Shape shape);

  // The weight stored for this layer under one of `roles` ("kernel", "filters", ...), or (Keras 3
  // exports) under "<layer>/<index>". Checks its shape equals `shape` and marks it used.
  // Missing -> error naming the layer and the expected weight names.
  std::vector<float> weight(std::initializer_list<const char*> roles, int index,
                            const std::vector<std::int64_t>& shape);
  bool has_weight(std::initializer_list<const char*> roles, int index) const;

  // Parses a Keras/TensorLayer activation name ("relu", "relu6", ...) into `out`; returns false
  // for softmax (emit() handles it). Unknown names are an error listing the supported ones.
  bool parse_activation(const std::string& name, Activation& out) const;
  // Reads the activation at the first present key of `keys` into `out`; returns the name to
  // pass to emit() ("softmax" or "linear").
  std::string read_activation(std::initializer_list<const char*> keys, Activation& out) const;

  [[noreturn]] void fail(Errc code, const std::string& message) const {
    config_.fail(code, message);
  }

 private:
  // Infers node.output's shape (errors name this layer), stores it and appends the node.
  TensorId append_inferred(Node node);
  const std::string* find_weight_key(std::initializer_list<const char*> roles, int index) const;

  Graph& graph_;
  const Model& model_;
  const KerasLayer& layer_;
  const std::map<std::string, std::string>& weight_keys_;
  std::map<std::string, std::string>& used_weights_;
  ConfigReader config_;
  std::vector<TensorId> inputs_;
  std::string output_name_;
  bool is_tensorlayer_;
};

using Importer = void (*)(LayerContext&);

// The class table: class_name -> importer (layer_registry.cpp). nullptr when unknown.
Importer find_importer(const std::string& class_name);
// Whether `class_name` is a TensorLayer spelling (attribute names differ).
bool is_tensorlayer_class(const std::string& class_name);

// The importers named in keras_classes.def (one per Keras class family).
#define EMC_KERAS_CLASS(class_name, importer, dialect) void importer(LayerContext& ctx);
#include "keras_classes.def"
// A nested model's input or output (KerasLayer::alias): a kIdentity node.
void import_alias(LayerContext& ctx);

// Shared attribute helpers (layer_context.cpp).
// The largest size, stride or padding a config may give.
inline constexpr std::int64_t kMaxDim = 1 << 16;
// Rejects an input that is not [H, W, C] (rank 4 with the batch).
void require_rank3(const LayerContext& ctx);
// 'same' / 'valid' (any case) -> true for same; anything else is an error.
bool parse_padding_mode(const LayerContext& ctx, const char* key, bool default_same);
// TF 'same' padding along one axis.
void same_padding(std::int32_t in, std::int32_t k, std::int32_t s, std::int32_t d,
                  std::int32_t& before, std::int32_t& after);
// Rejects data_format other than channels_last / NHWC.
void require_channels_last(const LayerContext& ctx);
// Keras axis (counting the batch dim; negative from the end) -> per-sample axis >= 0.
std::int32_t per_sample_axis(const LayerContext& ctx, std::int64_t keras_axis, int rank);

}  // namespace emc::converter::detail
