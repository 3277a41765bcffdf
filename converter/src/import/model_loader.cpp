// model.json -> Model: topology (Sequential / functional, Keras 2 and Keras 3 node forms) and
// weights.
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>
#include "emc/converter/model_json.h"
#include "json_util.h"
#include "keras_import.h"
#include "weights_decode.h"

namespace emc::converter {
namespace {

using detail::describe;
using detail::Json;

constexpr std::size_t kMaxLayers = 4096;
constexpr std::size_t kMaxName = 4096;

[[noreturn]] void fail_model(const std::string& message) {
  throw ErrorException(Error(Errc::kInvalidModel, message));
}

std::string get_name(const Json& v, const std::string& what) {
  if (!v.is_string() || v.get_ref<const std::string&>().empty() ||
      v.get_ref<const std::string&>().size() > kMaxName)
    fail_model(what + " is " + describe(v) + ", expected a non-empty string of at most 4096 bytes");
  return v.get<std::string>();
}

// ["name", node, tensor] or ["name", node, tensor, {kwargs}] (Keras 2 / TF.js).
InboundRef parse_ref_list(const Json& v, const std::string& where) {
  if (!v.is_array() || v.size() < 3 || v.size() > 4)
    fail_model(where + ": expected [layer_name, node_index, tensor_index(, kwargs)], got " +
               describe(v));
  InboundRef r;
  r.layer = get_name(v[0], where + " layer name");
  auto n = detail::as_int(v[1], 0, kMaxLayers);
  auto t = detail::as_int(v[2], 0, kMaxLayers);
  if (!n || !t) fail_model(where + ": bad node/tensor index in reference to '" + r.layer + "'");
  r.node_index = static_cast<std::int32_t>(*n);
  r.tensor_index = static_cast<std::int32_t>(*t);
  if (v.size() == 4 && v[3].is_object()) {
    for (auto it = v[3].begin(); it != v[3].end(); ++it)
      if (!it->is_null() && it.key() != "training" && it.key() != "mask")
        fail_model(where + ": call argument '" + it.key() + "' of the reference to '" + r.layer +
                   "' is not supported");
  }
  return r;
}

// Keras 3: collect every {"class_name": "__keras_tensor__", "config": {"keras_history": [...]}}
// inside the args (in order).
void collect_keras_tensors(const Json& v, const std::string& where, std::vector<InboundRef>& out,
                           int depth) {
  if (depth > 8) fail_model(where + ": call arguments nested too deeply");
  if (v.is_array()) {
    for (const Json& e : v) collect_keras_tensors(e, where, out, depth + 1);
  } else if (v.is_object()) {
    auto cls = v.find("class_name");
    if (cls != v.end() && cls->is_string() && *cls == "__keras_tensor__") {
      auto cfg = v.find("config");
      if (cfg == v.end() || !cfg->is_object() || !cfg->contains("keras_history"))
        fail_model(where + ": a keras tensor without keras_history");
      out.push_back(parse_ref_list(cfg->at("keras_history"), where));
    } else {
      fail_model(where + ": unsupported call argument " + describe(v) +
                 " (only keras tensors are supported)");
    }
  } else if (!v.is_null()) {
    fail_model(where + ": unsupported constant call argument " + describe(v));
  }
}

std::vector<InboundRef> parse_node(const Json& node, const std::string& where) {
  std::vector<InboundRef> refs;
  if (node.is_array()) {  // Keras 2: list of refs
    for (const Json& r : node) refs.push_back(parse_ref_list(r, where));
  } else if (node.is_object()) {  // Keras 3: {"args": [...], "kwargs": {...}}
    auto args = node.find("args");
    if (args == node.end()) fail_model(where + ": inbound node without 'args'");
    collect_keras_tensors(*args, where, refs, 0);
    auto kwargs = node.find("kwargs");
    if (kwargs != node.end() && kwargs->is_object())
      for (auto it = kwargs->begin(); it != kwargs->end(); ++it)
        if (!it->is_null() && it.key() != "training" && it.key() != "mask")
          fail_model(where + ": call argument '" + it.key() + "' is not supported");
  } else {
    fail_model(where + ": inbound node is " + describe(node));
  }
  if (refs.empty()) fail_model(where + ": a layer call without inputs");
  return refs;
}

// input_layers / output_layers: [["a",0,0], ...] or a single ["a",0,0].
std::vector<InboundRef> parse_io_list(const Json& v, const std::string& what) {
  std::vector<InboundRef> out;
  if (!v.is_array() || v.empty()) fail_model("'" + what + "' is " + describe(v));
  if (v[0].is_string()) {
    out.push_back(parse_ref_list(v, what));
  } else {
    for (const Json& e : v) out.push_back(parse_ref_list(e, what));
  }
  return out;
}

bool is_model_class(const std::string& c) {
  return c == "Sequential" || c == "Model" || c == "Functional";
}

KerasLayer parse_layer(const Json& l, std::int64_t index) {
  const std::string where = "layer " + std::to_string(index);
  if (!l.is_object()) fail_model(where + " is " + describe(l) + ", expected an object");
  KerasLayer layer;
  layer.index = index;
  auto cls = l.find("class_name");
  if (cls == l.end()) cls = l.find("class");  // TensorLayer spelling
  if (cls == l.end()) fail_model(where + " has no 'class_name'");
  layer.class_name = get_name(*cls, where + " class_name");
  auto cfg = l.find("config");
  if (cfg == l.end()) cfg = l.find("args");  // TensorLayer spelling
  // A nested Sequential may carry the old Keras list form (config = the layer list).
  const bool list_ok = layer.class_name == "Sequential" && cfg != l.end() && cfg->is_array();
  if (cfg != l.end() && !cfg->is_null() && !cfg->is_object() && !list_ok)
    fail_model(where + " (" + layer.class_name + "): 'config' is " + describe(*cfg));
  layer.config = std::make_shared<const Json>(
      cfg != l.end() && (cfg->is_object() || list_ok) ? *cfg : Json::object());
  // Layer name: top-level "name" (functional) or config.name (Sequential).
  auto nm = l.find("name");
  if (nm != l.end() && !nm->is_null()) {
    layer.name = get_name(*nm, where + " name");
  } else if (layer.config->is_object() && layer.config->contains("name")) {
    layer.name = get_name(layer.config->at("name"), where + " name");
  } else if (list_ok) {
    layer.name = "sequential_at_" + std::to_string(index);  // the list form has no name
  } else {
    fail_model(where + " (" + layer.class_name + ") has no name");
  }
  auto in = l.find("inbound_nodes");
  if (in != l.end() && !in->is_null()) {
    if (!in->is_array()) fail_model(where + " '" + layer.name + "': inbound_nodes is not a list");
    for (const Json& node : *in)
      layer.inbound_nodes.push_back(parse_node(node, where + " '" + layer.name + "'"));
  }
  return layer;
}

// The layer list of a model config: the list itself (old Keras Sequential) or config.layers.
const Json& layer_list(const Json& cfg, const std::string& what) {
  const Json* layers = nullptr;
  if (cfg.is_array()) {
    layers = &cfg;
  } else if (cfg.is_object()) {
    auto ls = cfg.find("layers");
    if (ls != cfg.end()) layers = &*ls;
  }
  if (!layers || !layers->is_array()) fail_model(what + " config has no 'layers' list");
  if (layers->size() > kMaxLayers)
    fail_model(what + " has " + std::to_string(layers->size()) +
               " layers; at most 4096 are supported");
  if (layers->empty()) fail_model(what + " has no layers");
  return *layers;
}

// The batch input shape a layer declares: its own batch_input_shape / batch_shape /
// input_shape, or (a nested model) the one of its first input layer. Null when none.
std::optional<Json> declared_input_shape(const Json& layer, int depth) {
  if (!layer.is_object() || depth > 16) return std::nullopt;
  auto cls = layer.find("class_name");
  auto cfg = layer.find("config");
  if (cfg == layer.end()) return std::nullopt;
  if (cls != layer.end() && cls->is_string() && is_model_class(cls->get<std::string>())) {
    const bool seq = *cls == "Sequential";
    const Json* ls = cfg->is_array() ? &*cfg : cfg->contains("layers") ? &cfg->at("layers") : nullptr;
    if (!ls || !ls->is_array() || ls->empty()) return std::nullopt;
    if (seq) return declared_input_shape((*ls)[0], depth + 1);
    // Functional: the first input layer named in input_layers.
    auto il = cfg->find("input_layers");
    if (il == cfg->end() || !il->is_array() || il->empty()) return std::nullopt;
    const Json& first = (*il)[0].is_string() ? *il : (*il)[0];
    if (!first.is_array() || first.empty() || !first[0].is_string()) return std::nullopt;
    for (const Json& l : *ls) {
      auto n = l.find("name");
      const Json* lc = l.contains("config") ? &l.at("config") : nullptr;
      const bool match = (n != l.end() && *n == first[0]) ||
                         (lc && lc->is_object() && lc->contains("name") && lc->at("name") == first[0]);
      if (match) return declared_input_shape(l, depth + 1);
    }
    return std::nullopt;
  }
  if (!cfg->is_object()) return std::nullopt;
  for (const char* k : {"batch_input_shape", "batch_shape"})
    if (cfg->contains(k)) return cfg->at(k);
  if (cfg->contains("input_shape") && cfg->at("input_shape").is_array()) {
    Json shape = Json::array({nullptr});
    for (const Json& d : cfg->at("input_shape")) shape.push_back(d);
    return shape;
  }
  return std::nullopt;
}

bool declares_input_shape(const KerasLayer& l) {
  if (!l.config->is_object()) return false;
  for (const char* k : {"batch_input_shape", "batch_shape", "input_shape"})
    if (l.config->contains(k) && !l.config->at(k).is_null()) return true;
  return false;
}

// Flattens a model config (and every nested model in it) into one layer list.
class Flattener {
 public:
  explicit Flattener(Model& m) : m_(m) {}

  // Expands the model `cls` / `cfg` with scoped-name prefix `prefix` ("" at the top level) and
  // weight scope `wscope`. `bound` holds, for a nested model, the flat references that feed its
  // inputs (nullptr at the top level, where InputLayers become the model's inputs). Returns the
  // model's outputs as flat references.
  std::vector<InboundRef> expand(const std::string& cls, const Json& cfg,
                                 const std::string& prefix, const std::string& wscope,
                                 const std::vector<InboundRef>* bound, int depth) {
    if (depth > 16) fail_model("models nested more than 16 deep");
    const std::string what = prefix.empty() ? std::string("the model") : "nested model '" +
                                                                             prefix.substr(0, prefix.size() - 1) + "'";
    const Json& list = layer_list(cfg, what);
    std::vector<KerasLayer> layers;
    std::set<std::string> names;
    for (std::size_t i = 0; i < list.size(); ++i) {
      KerasLayer l = parse_layer(list[i], static_cast<std::int64_t>(i));
      if (!names.insert(l.name).second)
        fail_model(what + ": layer " + std::to_string(i) + ": the name '" + l.name +
                   "' is used twice");
      layers.push_back(std::move(l));
    }
    if (cls == "Sequential") return expand_sequential(layers, prefix, wscope, bound, depth);
    if (!cfg.is_object() || !cfg.contains("input_layers") || !cfg.contains("output_layers"))
      fail_model(what + ": a functional model needs config.input_layers and config.output_layers");
    return expand_functional(layers, parse_io_list(cfg.at("input_layers"), "input_layers"),
                             parse_io_list(cfg.at("output_layers"), "output_layers"), prefix,
                             wscope, bound, depth);
  }

 private:
  void add(KerasLayer l, const std::string& prefix, const std::string& wscope) {
    l.local_name = l.name;
    l.weight_scope = wscope + l.name;
    l.name = prefix + l.name;
    if (l.name.size() > kMaxName) fail_model("scoped layer name '" + l.name + "' is too long");
    if (m_.layers.size() >= kMaxLayers)
      fail_model("the flattened model has more than 4096 layers");
    if (!flat_names_.insert(l.name).second)
      fail_model("scoped layer name '" + l.name + "' is used twice");
    m_.layers.push_back(std::move(l));
  }

  void add_alias(const KerasLayer& like, const std::string& flat_name, const std::string& wscope,
                 const InboundRef& from) {
    KerasLayer a;
    a.index = like.index;
    a.class_name = like.class_name;
    a.name = flat_name;
    a.config = std::make_shared<const Json>(Json::object());
    a.inbound_nodes = {{from}};
    a.alias = true;
    a.local_name = like.name;
    a.weight_scope = wscope + like.name;
    if (m_.layers.size() >= kMaxLayers)
      fail_model("the flattened model has more than 4096 layers");
    if (!flat_names_.insert(flat_name).second)
      fail_model("scoped layer name '" + flat_name + "' is used twice");
    m_.layers.push_back(std::move(a));
  }

  // Call `call` of nested model `n` on flat inputs `ins`: expands it and returns its output.
  InboundRef expand_call(const KerasLayer& n, const std::vector<InboundRef>& ins,
                         std::size_t call, const std::string& prefix, const std::string& wscope,
                         int depth) {
    const std::string scope =
        prefix + n.name + (call == 0 ? std::string() : "/call_" + std::to_string(call));
    auto outs = expand(n.class_name, *n.config, scope + "/", wscope + n.name + "/", &ins,
                       depth + 1);
    if (outs.size() != 1)
      throw ErrorException(
          Error(Errc::kUnsupportedLayer, "a nested model with " + std::to_string(outs.size()) +
                                             " outputs is not supported (one output only)")
              .with_layer(LayerRef{n.index, prefix + n.name, n.class_name}));
    add_alias(n, scope, wscope, outs[0]);
    return InboundRef{scope, 0, 0};
  }

  std::vector<InboundRef> expand_sequential(std::vector<KerasLayer>& layers,
                                            const std::string& prefix, const std::string& wscope,
                                            const std::vector<InboundRef>* bound, int depth) {
    InboundRef cur;
    std::size_t first = 0;
    if (bound) {
      if (bound->size() != 1)
        fail_model("nested Sequential '" + prefix + "' is called with " +
                   std::to_string(bound->size()) + " inputs; a Sequential takes one");
      cur = (*bound)[0];
      if (layers[0].class_name == "InputLayer") {
        add_alias(layers[0], prefix + layers[0].name, wscope, cur);
        cur = InboundRef{prefix + layers[0].name, 0, 0};
        first = 1;
      }
    } else if (layers[0].class_name == "InputLayer") {
      cur = InboundRef{layers[0].name, 0, 0};
      m_.inputs = {cur};
      add(layers[0], prefix, wscope);
      first = 1;
    } else {
      // Synthesize the InputLayer from the shape the first layer (or nested model) declares.
      KerasLayer input;
      input.index = -1;
      input.class_name = "InputLayer";
      input.name = layers[0].name + "_input";
      Json c = Json::object();
      c["name"] = input.name;
      Json first_json = Json::object();
      first_json["class_name"] = layers[0].class_name;
      first_json["config"] = *layers[0].config;
      auto shape = declared_input_shape(first_json, 0);
      if (!shape)
        throw ErrorException(
            Error(Errc::kInvalidModel,
                  "a Sequential model must start with an InputLayer or give batch_input_shape")
                .with_layer(LayerRef{0, layers[0].name, layers[0].class_name}));
      c["batch_input_shape"] = *shape;
      input.config = std::make_shared<const Json>(std::move(c));
      cur = InboundRef{input.name, 0, 0};
      m_.inputs = {cur};
      add(std::move(input), prefix, wscope);
    }
    for (std::size_t i = first; i < layers.size(); ++i) {
      KerasLayer& l = layers[i];
      if (l.class_name == "InputLayer")
        fail_model("layer " + std::to_string(i) + " '" + prefix + l.name +
                   "': an InputLayer inside a Sequential must be its first layer");
      if (i > first && declares_input_shape(l))
        m_.warnings.push_back("layer " + std::to_string(i) + " '" + prefix + l.name + "' (" +
                              l.class_name +
                              "): batch_input_shape / input_shape on a layer that is not the "
                              "first of its Sequential is ignored (as TF.js does)");
      if (is_model_class(l.class_name)) {
        cur = expand_call(l, {cur}, 0, prefix, wscope, depth);
        continue;
      }
      l.inbound_nodes = {{cur}};
      cur = InboundRef{prefix + l.name, 0, 0};
      add(std::move(l), prefix, wscope);
    }
    return {cur};
  }

  std::vector<InboundRef> expand_functional(std::vector<KerasLayer>& layers,
                                            const std::vector<InboundRef>& inputs,
                                            const std::vector<InboundRef>& outputs,
                                            const std::string& prefix, const std::string& wscope,
                                            const std::vector<InboundRef>* bound, int depth) {
    std::map<std::string, const KerasLayer*> nested;
    for (const KerasLayer& l : layers)
      if (is_model_class(l.class_name)) nested[l.name] = &l;
    // A reference inside this model -> a flat reference. A nested model built with its own input
    // (a functional model; a Sequential whose first layer declares the input) has a node of its
    // own before the calls the parent makes, so Keras and TF.js number the parent's first call 1;
    // a Sequential without an input shape (and Keras 3's Sequential) starts at 0.
    auto map_ref = [&](const InboundRef& r) -> InboundRef {
      auto it = nested.find(r.layer);
      if (it == nested.end()) return InboundRef{prefix + r.layer, r.node_index, r.tensor_index};
      const KerasLayer& n = *it->second;
      const auto calls = static_cast<std::int32_t>(n.inbound_nodes.size());
      std::int32_t own = 1;
      if (n.class_name == "Sequential") {
        const Json& list = layer_list(*n.config, "nested model '" + n.name + "'");
        Json fj = list[0];
        own = (list[0].is_object() && list[0].value("class_name", "") == "InputLayer") ||
                      declared_input_shape(fj, 0)
                  ? 1
                  : 0;
        if (m_.keras_version.rfind("3.", 0) == 0) own = 0;
      }
      std::int32_t call = r.node_index - own;
      if (call < 0 || call >= calls) call = r.node_index - (1 - own);  // the other convention
      if (call < 0 || call >= calls || r.tensor_index != 0)
        fail_model("a reference to call " + std::to_string(r.node_index) + " output " +
                   std::to_string(r.tensor_index) + " of nested model '" + prefix + n.name +
                   "', which has " + std::to_string(calls) + " call(s) and one output");
      return InboundRef{prefix + n.name + (call == 0 ? std::string() : "/call_" + std::to_string(call)),
                        0, 0};
    };
    std::map<std::string, std::size_t> input_pos;
    for (std::size_t i = 0; i < inputs.size(); ++i) input_pos[inputs[i].layer] = i;
    if (bound && bound->size() != inputs.size())
      fail_model("nested model '" + prefix + "' has " + std::to_string(inputs.size()) +
                 " inputs but is called with " + std::to_string(bound->size()));
    for (KerasLayer& l : layers) {
      if (l.class_name == "InputLayer") {
        if (!bound) {
          add(std::move(l), prefix, wscope);
          continue;
        }
        auto p = input_pos.find(l.name);
        if (p == input_pos.end())
          fail_model("nested model '" + prefix + "': InputLayer '" + l.name +
                     "' is not one of its input_layers");
        add_alias(l, prefix + l.name, wscope, (*bound)[p->second]);
        continue;
      }
      std::vector<std::vector<InboundRef>> calls;
      for (const auto& node : l.inbound_nodes) {
        std::vector<InboundRef> refs;
        for (const InboundRef& r : node) refs.push_back(map_ref(r));
        calls.push_back(std::move(refs));
      }
      if (is_model_class(l.class_name)) {
        if (calls.empty())
          throw ErrorException(Error(Errc::kInvalidModel, "nested model is never called")
                                   .with_layer(LayerRef{l.index, prefix + l.name, l.class_name}));
        for (std::size_t k = 0; k < calls.size(); ++k)
          expand_call(l, calls[k], k, prefix, wscope, depth);
        continue;
      }
      l.inbound_nodes = std::move(calls);
      add(std::move(l), prefix, wscope);
    }
    std::vector<InboundRef> outs;
    for (const InboundRef& r : outputs) outs.push_back(map_ref(r));
    if (!bound) {
      for (const InboundRef& r : inputs) m_.inputs.push_back(map_ref(r));
    }
    return outs;
  }

  Model& m_;
  std::set<std::string> flat_names_;
};

Model parse_topology(const Json& topo) {
  if (!topo.is_object()) fail_model("'modelTopology' is " + describe(topo));
  Model m;
  auto kv = topo.find("keras_version");
  if (kv != topo.end() && kv->is_string()) m.keras_version = kv->get<std::string>();
  auto cls = topo.find("class_name");
  if (cls == topo.end() || !cls->is_string())
    fail_model("modelTopology has no class_name (expected Sequential, Model or Functional)");
  m.model_class = cls->get<std::string>();
  if (!is_model_class(m.model_class))
    throw ErrorException(Error(Errc::kUnsupportedLayer,
                               "model class '" + m.model_class +
                                   "' is not supported: expected Sequential, Model or Functional"));
  auto cfg = topo.find("config");
  if (cfg == topo.end()) fail_model("modelTopology has no config");
  if (cfg->is_object()) {
    auto n = cfg->find("name");
    if (n != cfg->end() && n->is_string()) m.name = n->get<std::string>();
  }
  Flattener f(m);
  m.outputs = f.expand(m.model_class, *cfg, "", "", nullptr, 0);
  return m;
}

Result<Model> load_impl(std::string_view text, const ShardReader& shards,
                        const LoadOptions& options, const std::string& source) {
  if (text.size() > options.max_json_bytes)
    return Error(Errc::kInvalidModel, "model.json has " + std::to_string(text.size()) +
                                          " bytes, more than the limit " +
                                          std::to_string(options.max_json_bytes))
        .in_file(source);
  auto parsed = detail::parse_json_bounded(text, options.max_json_depth, source);
  if (!parsed.ok()) return parsed.error();
  const Json& root = *parsed;
  try {
    if (!root.is_object()) fail_model("model.json is " + describe(root) + ", expected an object");
    auto fmt = root.find("format");
    if (fmt != root.end() && !fmt->is_null() && *fmt != "layers-model")
      fail_model(
          "format is " + describe(*fmt) +
          ": only TF.js layers models (\"layers-model\") are supported; graph models are not");
    const Json* topo = nullptr;
    auto t = root.find("modelTopology");
    if (t != root.end()) topo = &*t;
    if (topo && topo->is_object() && topo->contains("model_config"))
      topo = &topo->at("model_config");
    if (!topo) {
      auto mc = root.find("model_config");
      if (mc != root.end()) topo = &*mc;
    }
    if (!topo) fail_model("no 'modelTopology' (or 'model_config') object");
    Model m = parse_topology(*topo);
    if (m.keras_version.empty()) {
      auto kv = t != root.end() && t->is_object() ? t->find("keras_version") : t;
      if (t != root.end() && t->is_object() && kv != t->end() && kv->is_string())
        m.keras_version = kv->get<std::string>();
    }
    m.source = source;
    auto wm = root.find("weightsManifest");
    if (wm != root.end()) {
      auto weights = detail::decode_weights_manifest(*wm, shards, options, source);
      if (!weights.ok()) return weights.error();
      m.weights = std::move(*weights);
    }
    return m;
  } catch (const ErrorException& e) {
    Error err = e.error();
    return std::move(err).in_file(source);
  }
}

}  // namespace

Result<Model> load_tfjs_model_from_memory(std::string_view json, const ShardReader& shards,
                                          const LoadOptions& options) {
  return load_impl(json, shards, options, "<memory>");
}

Result<Model> load_tfjs_model(const std::string& model_json_path, const LoadOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto size = fs::file_size(model_json_path, ec);
  if (ec) return Error(Errc::kIo, "cannot read: " + ec.message()).in_file(model_json_path);
  if (size > options.max_json_bytes)
    return Error(Errc::kInvalidModel, "model.json has " + std::to_string(size) +
                                          " bytes, more than the limit " +
                                          std::to_string(options.max_json_bytes))
        .in_file(model_json_path);
  std::ifstream in(model_json_path, std::ios::binary);
  if (!in) return Error(Errc::kIo, "cannot open").in_file(model_json_path);
  std::string text(static_cast<std::size_t>(size), '\0');
  if (size && !in.read(text.data(), static_cast<std::streamsize>(size)))
    return Error(Errc::kIo, "cannot read").in_file(model_json_path);
  const std::string dir = fs::path(model_json_path).parent_path().string();
  return load_impl(text, make_directory_shard_reader(dir, options.max_shard_bytes), options,
                   model_json_path);
}

}  // namespace emc::converter

namespace emc::converter::detail {

Result<Model> model_from_config_text(std::string_view text, const LoadOptions& options,
                                     const std::string& source, const std::string& what) {
  if (text.size() > options.max_json_bytes)
    return Error(Errc::kInvalidModel, what + " has " + std::to_string(text.size()) +
                                          " bytes, more than the limit " +
                                          std::to_string(options.max_json_bytes))
        .in_file(source);
  auto parsed = parse_json_bounded(text, options.max_json_depth, source);
  if (!parsed.ok()) return std::move(parsed).error().prefix(what + ": ");
  try {
    Model m = parse_topology(*parsed);
    m.source = source;
    return m;
  } catch (const ErrorException& e) {
    Error err = e.error();
    return std::move(err).prefix(what + ": ").in_file(source);
  }
}

}  // namespace emc::converter::detail
