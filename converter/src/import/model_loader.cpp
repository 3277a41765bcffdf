// model.json -> Model: topology (Sequential / functional, Keras 2 and Keras 3 node forms) and
// weights.
#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>
#include "emc/converter/model_json.h"
#include "emc/format/file_io.h"
#include "json_util.h"
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
  if (cfg != l.end() && !cfg->is_null() && !cfg->is_object())
    fail_model(where + " (" + layer.class_name + "): 'config' is " + describe(*cfg));
  layer.config =
      std::make_shared<const Json>(cfg != l.end() && cfg->is_object() ? *cfg : Json::object());
  // Layer name: top-level "name" (functional) or config.name (Sequential).
  auto nm = l.find("name");
  if (nm != l.end() && !nm->is_null()) {
    layer.name = get_name(*nm, where + " name");
  } else if (layer.config->contains("name")) {
    layer.name = get_name(layer.config->at("name"), where + " name");
  } else {
    fail_model(where + " (" + layer.class_name + ") has no name");
  }
  if (layer.class_name == "Sequential" || layer.class_name == "Model" ||
      layer.class_name == "Functional")
    throw ErrorException(
        Error(Errc::kUnsupportedLayer,
              "nested models are not supported: flatten the model before saving it")
            .with_layer(LayerRef{index, layer.name, layer.class_name}));
  auto in = l.find("inbound_nodes");
  if (in != l.end() && !in->is_null()) {
    if (!in->is_array()) fail_model(where + " '" + layer.name + "': inbound_nodes is not a list");
    for (const Json& node : *in)
      layer.inbound_nodes.push_back(parse_node(node, where + " '" + layer.name + "'"));
  }
  return layer;
}

Model parse_topology(const Json& topo) {
  if (!topo.is_object()) fail_model("'modelTopology' is " + describe(topo));
  Model m;
  auto kv = topo.find("keras_version");
  if (kv != topo.end() && kv->is_string()) m.keras_version = kv->get<std::string>();
  auto cls = topo.find("class_name");
  if (cls == topo.end() || !cls->is_string())
    fail_model("modelTopology has no class_name (expected Sequential, Model or Functional)");
  m.model_class = cls->get<std::string>();
  if (m.model_class != "Sequential" && m.model_class != "Model" && m.model_class != "Functional")
    throw ErrorException(Error(Errc::kUnsupportedLayer,
                               "model class '" + m.model_class +
                                   "' is not supported: expected Sequential, Model or Functional"));
  auto cfg = topo.find("config");
  if (cfg == topo.end()) fail_model("modelTopology has no config");
  const Json* layers = nullptr;
  if (cfg->is_array()) {
    layers = &*cfg;  // old Keras Sequential: config is the layer list
  } else if (cfg->is_object()) {
    auto n = cfg->find("name");
    if (n != cfg->end() && n->is_string()) m.name = n->get<std::string>();
    auto ls = cfg->find("layers");
    if (ls != cfg->end()) layers = &*ls;
  }
  if (!layers || !layers->is_array()) fail_model("modelTopology.config has no 'layers' list");
  if (layers->size() > kMaxLayers)
    fail_model("the model has " + std::to_string(layers->size()) +
               " layers; at most 4096 are supported");
  if (layers->empty()) fail_model("the model has no layers");
  std::set<std::string> names;
  for (std::size_t i = 0; i < layers->size(); ++i) {
    KerasLayer l = parse_layer((*layers)[i], static_cast<std::int64_t>(i));
    if (!names.insert(l.name).second)
      fail_model("layer " + std::to_string(i) + ": the name '" + l.name + "' is used twice");
    m.layers.push_back(std::move(l));
  }

  if (m.model_class == "Sequential") {
    // Chain the layers; synthesize the InputLayer when the first layer carries the input shape.
    if (m.layers[0].class_name != "InputLayer") {
      KerasLayer input;
      input.index = -1;
      input.class_name = "InputLayer";
      input.name = m.layers[0].name + "_input";
      Json c = Json::object();
      c["name"] = input.name;
      const Json& first = *m.layers[0].config;
      for (const char* k : {"batch_input_shape", "batch_shape"})
        if (first.contains(k)) c["batch_input_shape"] = first.at(k);
      if (!c.contains("batch_input_shape") && first.contains("input_shape") &&
          first.at("input_shape").is_array()) {
        Json shape = Json::array({nullptr});
        for (const Json& d : first.at("input_shape")) shape.push_back(d);
        c["batch_input_shape"] = shape;
      }
      if (!c.contains("batch_input_shape"))
        throw ErrorException(
            Error(Errc::kInvalidModel,
                  "a Sequential model must start with an InputLayer or give batch_input_shape")
                .with_layer(LayerRef{0, m.layers[0].name, m.layers[0].class_name}));
      if (names.count(input.name))
        fail_model("synthesized input name '" + input.name + "' clashes");
      input.config = std::make_shared<const Json>(std::move(c));
      m.layers.insert(m.layers.begin(), std::move(input));
    }
    for (std::size_t i = 1; i < m.layers.size(); ++i)
      m.layers[i].inbound_nodes = {{InboundRef{m.layers[i - 1].name, 0, 0}}};
    m.layers[0].inbound_nodes.clear();
    m.inputs = {InboundRef{m.layers[0].name, 0, 0}};
    m.outputs = {InboundRef{m.layers.back().name, 0, 0}};
  } else {
    if (!cfg->is_object() || !cfg->contains("input_layers") || !cfg->contains("output_layers"))
      fail_model("a functional model needs config.input_layers and config.output_layers");
    m.inputs = parse_io_list(cfg->at("input_layers"), "input_layers");
    m.outputs = parse_io_list(cfg->at("output_layers"), "output_layers");
  }
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
  } catch (...) {
    Error err = error_from_current_exception("loading the model");
    if (err.file().empty()) err.in_file(source);
    return err;
  }
}

}  // namespace

Result<Model> load_tfjs_model_from_memory(std::string_view json, const ShardReader& shards,
                                          const LoadOptions& options) {
  return no_throw("loading the model",
                  [&] { return load_impl(json, shards, options, "<memory>"); });
}

Result<Model> load_tfjs_model(const std::string& model_json_path, const LoadOptions& options) {
  return no_throw("loading the model", [&]() -> Result<Model> {
    namespace fs = std::filesystem;
    auto text = format::read_text_bounded(model_json_path, options.max_json_bytes, "model.json");
    if (!text.ok()) {
      Error e = std::move(text).error();
      if (e.code() == Errc::kInvalidArgument) e = Error(Errc::kInvalidModel, e.message());
      return std::move(e).in_file(model_json_path);
    }
    const std::string dir = fs::path(model_json_path).parent_path().string();
    std::vector<std::string> opened;
    const ShardReader files = make_directory_shard_reader(dir, options.max_shard_bytes);
    const ShardReader recording = [&](const std::string& path) {
      opened.push_back((fs::path(dir.empty() ? "." : dir) / path).string());
      return files(path);
    };
    auto m = load_impl(*text, recording, options, model_json_path);
    if (m.ok()) m->shard_files = std::move(opened);
    return m;
  });
}

}  // namespace emc::converter
