// Reading a TF.js *layers* model (model.json + weight shards) into a Model: the Keras layer list,
// its connectivity and its decoded weights, without interpreting layer semantics (build_graph()
// does that).
//
// Accepted (see docs/converter_frontend.md for the full list):
//  * `modelTopology` at the top level or under `model_config`; optional `format` must be
//    "layers-model"; any `keras_version` / `backend`.
//  * class_name Sequential (config = list of layers [old Keras] or {name, layers}), Model or
//    Functional (config = {name, layers, input_layers, output_layers}).
//  * Nested models (a Sequential / Model / Functional used as a layer, e.g. Teachable Machine's
//    Sequential[Sequential[Model(MobileNetV2), GlobalAveragePooling2D], Sequential[Dense, Dense]])
//    are flattened into one layer list: inner layers get scoped names ("outer/inner/conv1"; call k
//    > 0 of a nested model: "outer/call_k/conv1"), the nested model's inputs and output become
//    alias layers (KerasLayer::alias) named after the model's input layers and the model itself.
//    Weights are resolved as tfjs-layers does: by the inner layer's own name ("conv1/kernel"),
//    which is what TF.js and Keras write; the scoped name is tried first.
//  * Functional `inbound_nodes` in the Keras 2 list form [[["name", node, tensor, {kwargs}], ...]]
//    and the Keras 3 dict form [{"args": [...keras tensors with keras_history...], "kwargs": {}}].
//  * Bounds: file size <= max_json_bytes, JSON nesting depth <= 64, <= 4096 layers, names <= 4 KiB,
//    per-sample rank <= 8. Malformed JSON is a kJson error with line and column.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "emc/converter/graph.h"
#include "emc/converter/weights.h"
#include "emc/format/error.h"

namespace emc::converter {

struct LoadOptions {
  std::uint64_t max_json_bytes = 64ull << 20;    // model.json size cap
  std::uint64_t max_shard_bytes = 512ull << 20;  // per shard file
  std::uint64_t max_total_weight_bytes = 1ull << 30;
  int max_json_depth = 64;
};

// A reference to output `tensor_index` of call `node_index` of layer `layer`.
struct InboundRef {
  std::string layer;
  std::int32_t node_index = 0;
  std::int32_t tensor_index = 0;
};

struct KerasLayer {
  std::int64_t index = 0;  // position in the topology's layer list
  std::string class_name;  // "Conv2D", "Conv2d" (TensorLayer), ...
  std::string name;        // unique within the model
  // The layer's `config` object (never null; an empty object when absent). Shared, immutable.
  std::shared_ptr<const nlohmann::json> config;
  // One entry per call of the layer (Keras "node"); each lists the inputs of that call. Empty for
  // an InputLayer. Sequential models get the chain filled in by the loader.
  std::vector<std::vector<InboundRef>> inbound_nodes;
  // Nested-model flattening (empty / false for a layer of a flat model):
  // the layer's name in its own model's config ("conv1"; weights are looked up under
  // "<weight_scope>/<role>", then "<local_name>/<role>"), and its scoped path without call
  // suffixes (identifies the layer object: all calls of a nested model share its weights).
  std::string local_name;
  std::string weight_scope;
  // An alias forwards its single input unchanged (a nested model's input or output); it becomes a
  // kIdentity node whose output carries the alias's name (the nested model's name for its output).
  bool alias = false;
};

struct Model {
  std::string source;               // model.json path, or "<memory>"
  std::string keras_version;        // may be empty
  std::string model_class;          // "Sequential", "Model" or "Functional"
  std::string name;                 // may be empty
  std::vector<KerasLayer> layers;   // an InputLayer is synthesized for Sequential models without
                                    // one (named "<first layer>_input", index -1)
  std::vector<InboundRef> inputs;   // model inputs (InputLayer outputs), in order
  std::vector<InboundRef> outputs;  // model outputs, in order
  WeightMap weights;                // every weight of the manifest, by name
  // Things the loader ignored as TF.js does (e.g. batch_input_shape on a layer that is not the
  // first of its Sequential); tools print them.
  std::vector<std::string> warnings;
};

// Reads model.json and its shards (resolved relative to the file's folder; see weights.h).
Result<Model> load_tfjs_model(const std::string& model_json_path, const LoadOptions& options = {});

// Same, from memory: `json` is the text of model.json, `shards` serves the weight files.
Result<Model> load_tfjs_model_from_memory(std::string_view json, const ShardReader& shards,
                                          const LoadOptions& options = {});

// Interprets every layer of `model` (dispatching on class_name, never on the layer name) and
// builds the float graph: one node per Keras layer (two when a layer has activation='softmax': the
// op, then a kSoftmax node), tensors named after the layers, 'same' padding resolved, weights
// checked against the shapes the layer needs. Every attribute that changes the result is honoured
// or rejected (kUnsupportedLayer / kInvalidLayerConfig / kShapeMismatch naming the layer index,
// name and class, and what is supported instead). Unused manifest weights are an error.
// The result passes validate_graph().
Result<Graph> build_graph(const Model& model);

// The Keras / TensorLayer class names build_graph() accepts, sorted.
std::vector<std::string> supported_layer_classes();

}  // namespace emc::converter
