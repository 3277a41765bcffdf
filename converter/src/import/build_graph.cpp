// Model (Keras layers + connectivity + weights) -> Graph, visiting layer calls in dependency
// order.
#include <algorithm>
#include <map>
#include <set>
#include <string_view>
#include <unordered_map>

#include "emc/converter/model_json.h"
#include "layer_context.h"

namespace emc::converter {
namespace {

LayerRef ref_of(const KerasLayer& l) {
  return LayerRef{l.index, l.name, l.class_name};
}

Shape input_shape_of(const KerasLayer& l) {
  const detail::ConfigReader c(*l.config, ref_of(l));
  auto fail = [&](const std::string& m) {
    throw ErrorException(Error(Errc::kInvalidModel, m).with_layer(ref_of(l)));
  };
  const char* key = c.first_present({"batch_input_shape", "batch_shape"});
  if (!key) fail("InputLayer needs 'batch_input_shape' (or 'batch_shape')");
  auto dims = *c.opt_dims(key, 9);
  if (dims.size() < 2)
    fail(std::string(key) + " " + c.describe_key(key) + " must list the batch dim and 1 to 8 dims");
  Shape out;
  std::int64_t elements = 1;  // checked after every factor: 8 dims of 2^20 overflow int64
  for (std::size_t i = 1; i < dims.size(); ++i) {
    if (!dims[i] || *dims[i] < 1 || *dims[i] > (1 << 20))
      fail(std::string(key) + " " + c.describe_key(key) +
           ": every dim after the batch dim must be a fixed integer in [1, 2^20] (dynamic sizes "
           "are not supported)");
    out.dims.push_back(static_cast<std::int32_t>(*dims[i]));
    elements *= *dims[i];
    if (elements >= (std::int64_t{1} << 31))
      fail(std::string(key) + " " + c.describe_key(key) +
           ": the input has 2^31 or more elements per sample");
  }
  if (auto dtype = c.opt_string("dtype"); dtype && *dtype != "float32")
    fail("input dtype '" + *dtype + "' is not supported; supported: float32");
  return out;
}

// Lookup key -> manifest name: the name itself, plus tfjs-layers' shortened form that drops an
// inner cell name ("a/cell/kernel" -> "a/kernel").
std::map<std::string, std::string> weight_keys(const WeightMap& weights) {
  std::map<std::string, std::string> keys;
  for (const auto& [name, w] : weights) keys.emplace(name, name);
  for (const auto& [name, w] : weights) {
    auto last = name.rfind('/');
    if (last == std::string::npos || last == 0) continue;
    auto prev = name.rfind('/', last - 1);
    if (prev == std::string::npos) continue;
    keys.emplace(name.substr(0, prev) + name.substr(last), name);
  }
  return keys;
}

Graph build(const Model& model) {
  Graph g;
  g.name = model.name;
  std::map<std::string, std::size_t> by_name;
  for (std::size_t i = 0; i < model.layers.size(); ++i) by_name[model.layers[i].name] = i;
  // Output tensor of (layer name, call index).
  std::map<std::pair<std::string, std::int32_t>, TensorId> produced;
  const auto keys = weight_keys(model.weights);
  std::map<std::string, std::string> used;  // manifest name -> weight scope of the layer using it

  auto resolve = [&](const InboundRef& r, const KerasLayer* user) -> std::optional<TensorId> {
    auto it = by_name.find(r.layer);
    if (it == by_name.end()) {
      Error e(Errc::kInvalidModel, "refers to layer '" + r.layer + "', which does not exist");
      if (user) e.with_layer(ref_of(*user));
      throw ErrorException(std::move(e));
    }
    if (r.tensor_index != 0) {
      Error e(Errc::kInvalidModel, "refers to output " + std::to_string(r.tensor_index) +
                                       " of layer '" + r.layer + "', which has one output");
      if (user) e.with_layer(ref_of(*user));
      throw ErrorException(std::move(e));
    }
    auto p = produced.find({r.layer, r.node_index});
    if (p == produced.end()) return std::nullopt;
    return p->second;
  };

  // Inputs first, in model order.
  for (const InboundRef& r : model.inputs) {
    auto it = by_name.find(r.layer);
    if (it == by_name.end())
      throw ErrorException(
          Error(Errc::kInvalidModel, "input_layers names '" + r.layer + "', which is not a layer"));
    const KerasLayer& l = model.layers[it->second];
    if (l.class_name != "InputLayer")
      throw ErrorException(
          Error(Errc::kInvalidModel, "model input is not an InputLayer").with_layer(ref_of(l)));
    if (produced.count({l.name, 0})) continue;
    detail::ConfigReader(*l.config, ref_of(l))
        .check_known_keys({"batch_input_shape", "batch_shape", "dtype", "sparse", "ragged"});
    TensorId t = g.add_tensor(l.name, input_shape_of(l));
    g.inputs.push_back(t);
    produced[{l.name, 0}] = t;
  }

  // Visit calls in sweeps over the layer list, each sweep in layer order, until a sweep makes no
  // progress; a layer whose next call waits for an input is retried only once that input exists
  // (in the same sweep when it comes later in the list, else in the next one). This is the order
  // of repeated full sweeps without their quadratic cost (4096 layers listed in reverse order
  // took 4096 sweeps).
  std::vector<std::size_t> done_calls(model.layers.size(), 0);
  std::map<std::pair<std::string, std::int32_t>, std::vector<std::size_t>> waiting;
  std::set<std::size_t> sweep, next_sweep;
  for (std::size_t li = 0; li < model.layers.size(); ++li)
    if (model.layers[li].alias || model.layers[li].class_name != "InputLayer") sweep.insert(li);
  while (!sweep.empty()) {
    const std::size_t li = *sweep.begin();
    sweep.erase(sweep.begin());
    const KerasLayer& l = model.layers[li];
    while (done_calls[li] < l.inbound_nodes.size()) {
      const auto& call = l.inbound_nodes[done_calls[li]];
      std::vector<TensorId> inputs;
      const InboundRef* missing = nullptr;
      for (const InboundRef& r : call) {
        auto t = resolve(r, &l);
        if (!t) {
          missing = &r;
          break;
        }
        inputs.push_back(*t);
      }
      if (missing) {
        waiting[{missing->layer, missing->node_index}].push_back(li);
        break;
      }
      const auto call_index = static_cast<std::int32_t>(done_calls[li]);
      const std::string out_name =
          call_index == 0 ? l.name : l.name + "/call_" + std::to_string(call_index);
      auto importer = l.alias ? detail::import_alias : detail::find_importer(l.class_name);
      if (!importer) {
        std::string supported;
        for (const auto& c : supported_layer_classes())
          supported += (supported.empty() ? "" : ", ") + c;
        throw ErrorException(Error(Errc::kUnsupportedLayer,
                                   "layer class '" + l.class_name +
                                       "' is not supported; supported classes: " + supported)
                                 .with_layer(ref_of(l)));
      }
      detail::LayerContext ctx(g, model, l, keys, used, std::move(inputs), out_name,
                               detail::is_tensorlayer_class(l.class_name));
      importer(ctx);
      produced[{l.name, call_index}] = g.nodes.back().output;
      ++done_calls[li];
      if (auto w = waiting.find({l.name, call_index}); w != waiting.end()) {
        for (std::size_t waiter : w->second) (waiter > li ? sweep : next_sweep).insert(waiter);
        waiting.erase(w);
      }
    }
    if (sweep.empty()) std::swap(sweep, next_sweep);
  }
  for (std::size_t li = 0; li < model.layers.size(); ++li) {
    const KerasLayer& l = model.layers[li];
    if (l.class_name == "InputLayer" && !l.alias) continue;
    if (l.inbound_nodes.empty())
      throw ErrorException(Error(Errc::kInvalidModel, "layer is never called (no inbound_nodes)")
                               .with_layer(ref_of(l)));
    if (done_calls[li] < l.inbound_nodes.size())
      throw ErrorException(
          Error(Errc::kInvalidModel,
                "the inputs of this layer are never computed (a cycle, or an input that is not "
                "a model input)")
              .with_layer(ref_of(l)));
  }
  for (const InboundRef& r : model.outputs) {
    auto t = resolve(r, nullptr);
    if (!t)
      throw ErrorException(Error(Errc::kInvalidModel, "model output '" + r.layer + "' call " +
                                                          std::to_string(r.node_index) +
                                                          " is never computed"));
    g.outputs.push_back(*t);
  }
  for (const auto& [name, w] : model.weights)
    if (!used.count(name))
      throw ErrorException(
          Error(Errc::kInvalidModel, "weight '" + name +
                                         "' in the weightsManifest belongs to no layer "
                                         "(names must be '<layer name>/<weight>')"));
  return g;
}

}  // namespace

// A model input that is not yet a map: a flat [H*W*C] vector or a grey [H, W] plane, read only by
// a Reshape to [H, W, C] (resp. [H, W, 1]), as MNIST-style models begin. Both hold their values
// in the map's own HWC order, so the input is taken as that map: the Reshape becomes a no-op
// (remove_identities drops it), the kmodel takes an [H, W, C] image, and calibration images and
// .f32 tensors (the same values in the same order) both fit. Any other reshape of an input
// reorders nothing either, but its [H, W, C] would not be the image the input stands for; a
// vector reshaped to [1, 1, C] stays a feature vector.
static void take_reshaped_input_as_map(Graph& g) {
  for (TensorId in : g.inputs) {
    const Shape is = g.shape(in);
    if (is.rank() != 1 && is.rank() != 2) continue;
    if (std::find(g.outputs.begin(), g.outputs.end(), in) != g.outputs.end()) continue;
    const std::vector<int> readers = g.consumers(in);
    if (readers.size() != 1) continue;
    const Node& r = g.nodes[static_cast<std::size_t>(readers[0])];
    if (r.kind != NodeKind::kReshape) continue;
    const Shape& os = g.shape(r.output);
    if (os.rank() != 3 || (os.h() == 1 && os.w() == 1)) continue;  // [1, 1, C]: features
    const bool flat = is.rank() == 1;
    const bool grey = is.rank() == 2 && os.h() == is.dims[0] && os.w() == is.dims[1] && os.c() == 1;
    if (flat || grey) g.tensors[static_cast<std::size_t>(in)].shape = os;
  }
}

// A Keras layer name may equal a tensor name the importer generates ("fc/pre_softmax" for a
// Dense 'fc' with softmax, "act/call_1" for a shared layer's second call): name the layer.
static Status check_unique_tensor_names(const Graph& g) {
  std::unordered_map<std::string_view, std::size_t> seen;
  seen.reserve(g.tensors.size());
  for (std::size_t t = 0; t < g.tensors.size(); ++t) {
    auto [it, fresh] = seen.emplace(g.tensors[t].name, t);
    if (fresh) continue;
    std::vector<int> producer(g.tensors.size(), -1);
    for (std::size_t n = 0; n < g.nodes.size(); ++n) {
      if (g.nodes[n].output >= 0) producer[static_cast<std::size_t>(g.nodes[n].output)] = int(n);
    }
    const int a = producer[it->second], b = producer[t];
    Error e(Errc::kInvalidLayerConfig,
            "the tensor name '" + g.tensors[t].name + "' is used twice: by layer " +
                (a >= 0 ? "'" + g.nodes[static_cast<std::size_t>(a)].source.name + "'"
                        : std::string("(model input)")) +
                " and by layer " +
                (b >= 0 ? "'" + g.nodes[static_cast<std::size_t>(b)].source.name + "'"
                        : std::string("(model input)")) +
                " (EMC names the extra tensors of a layer '<layer>/pre_softmax' and "
                "'<layer>/call_N'); rename the layer");
    if (b >= 0) e.with_layer(g.nodes[static_cast<std::size_t>(b)].layer_ref());
    return e;
  }
  return ok_status();
}

Result<Graph> build_graph(const Model& model) {
  try {
    Graph g = build(model);
    take_reshaped_input_as_map(g);
    if (Status s = check_unique_tensor_names(g); !s.ok()) {
      Error err = std::move(s).error();
      if (!model.source.empty()) err.in_file(model.source);
      return err;
    }
    EMC_TRY(validate_graph(g));
    return g;
  } catch (...) {
    Error err = error_from_current_exception("build_graph");
    if (err.file().empty() && !model.source.empty()) err.in_file(model.source);
    return err;
  }
}

}  // namespace emc::converter
