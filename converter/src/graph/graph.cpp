#include "emc/converter/graph.h"

#include <cstdio>
#include <iterator>
#include <set>

namespace emc::converter {

std::string to_string(const Shape& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.dims.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(shape.dims[i]);
  }
  return out + "]";
}

const char* to_string(NodeKind kind) {
  static constexpr const char* kNames[] = {
#define EMC_NODE_KIND(id, name, inputs, infer, run, lower) name,
#include "emc/converter/node_kinds.def"
  };
  const auto i = static_cast<std::size_t>(kind);
  return i < std::size(kNames) ? kNames[i] : "Unknown";
}

const char* to_string(ActivationKind kind) {
  static constexpr const char* kNames[] = {
#define EMC_ACTIVATION(id, name, impl) name,
#include "emc/converter/activations.def"
  };
  const auto i = static_cast<std::size_t>(kind);
  return i < std::size(kNames) ? kNames[i] : "unknown";
}

Activation make_relu(float max_value, double alpha, float threshold) {
  Activation a;
  a.kind = ActivationKind::kRelu;
  a.max_value = max_value;
  a.alpha = alpha;
  a.threshold = threshold;
  return a;
}

namespace {
std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}
}  // namespace

std::string to_string(const Activation& a) {
  if (a.kind == ActivationKind::kRelu) {
    if (a.is_plain_relu()) return "relu";
    if (a.is_relu6()) return "relu6";
    if (a.is_leaky_relu()) return "leaky_relu(" + fmt(a.alpha) + ")";
    return "relu(max=" + fmt(a.max_value) + ",alpha=" + fmt(a.alpha) +
           ",threshold=" + fmt(a.threshold) + ")";
  }
  if (a.kind == ActivationKind::kAffine)
    return "affine(" + fmt(a.alpha) + "," + fmt(a.offset) + ")";
  if (a.kind == ActivationKind::kElu || a.kind == ActivationKind::kHardSigmoid)
    return std::string(to_string(a.kind)) + "(" + fmt(a.alpha) + ")";
  return to_string(a.kind);
}

int Graph::producer(TensorId id) const {
  for (std::size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i].output == id) return static_cast<int>(i);
  return -1;
}

std::vector<int> Graph::consumers(TensorId id) const {
  std::vector<int> out;
  for (std::size_t i = 0; i < nodes.size(); ++i)
    for (TensorId in : nodes[i].inputs)
      if (in == id) {
        out.push_back(static_cast<int>(i));
        break;
      }
  return out;
}

TensorId Graph::find_tensor(const std::string& tensor_name) const {
  for (std::size_t i = 0; i < tensors.size(); ++i)
    if (tensors[i].name == tensor_name) return static_cast<TensorId>(i);
  return kNoTensor;
}

TensorId Graph::add_tensor(std::string tensor_name, Shape shape) {
  tensors.push_back(TensorInfo{std::move(tensor_name), std::move(shape)});
  return static_cast<TensorId>(tensors.size() - 1);
}

Status validate_graph(const Graph& graph) {
  const auto n_tensors = static_cast<TensorId>(graph.tensors.size());
  std::set<std::string> names;
  // A tensor error names the layer producing it (a model input: none).
  auto with_producer = [&](Error e, const TensorInfo& t) {
    const auto id = static_cast<TensorId>(&t - graph.tensors.data());
    for (const Node& n : graph.nodes) {
      if (n.output == id) return std::move(e).with_layer(n.layer_ref());
    }
    return e;
  };
  for (const auto& t : graph.tensors) {
    if (!names.insert(t.name).second)
      return Error(Errc::kInternal, "graph: tensor name '" + t.name + "' is used twice");
    std::int64_t n = 1;
    for (auto d : t.shape.dims) {
      if (d <= 0)
        return with_producer(
            Error(Errc::kShapeMismatch,
                  "tensor '" + t.name + "' has a non-positive dimension: " + to_string(t.shape)),
            t);
      n *= d;
      if (n >= (std::int64_t{1} << 31))
        return with_producer(
            Error(Errc::kShapeMismatch,
                  "tensor '" + t.name + "' " + to_string(t.shape) + " has 2^31 or more elements"),
            t);
    }
  }
  std::vector<bool> defined(graph.tensors.size(), false);
  for (TensorId in : graph.inputs) {
    if (in < 0 || in >= n_tensors) return Error(Errc::kInternal, "graph: input id out of range");
    defined[static_cast<std::size_t>(in)] = true;
  }
  for (std::size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& node = graph.nodes[i];
    if (node.inputs.empty())
      return Error(Errc::kInternal, "graph: node has no inputs").with_layer(node.layer_ref());
    for (TensorId in : node.inputs) {
      if (in < 0 || in >= n_tensors || !defined[static_cast<std::size_t>(in)])
        return Error(Errc::kInternal,
                     "graph: node input is not defined before node " + std::to_string(i))
            .with_layer(node.layer_ref());
    }
    if (node.output < 0 || node.output >= n_tensors ||
        defined[static_cast<std::size_t>(node.output)])
      return Error(Errc::kInternal, "graph: node output id out of range or produced twice")
          .with_layer(node.layer_ref());
    auto shape = infer_shape(graph, node);
    if (!shape.ok()) return shape.error();
    if (!(*shape == graph.shape(node.output)))
      return Error(Errc::kShapeMismatch, "output shape " + to_string(graph.shape(node.output)) +
                                             " differs from the inferred " + to_string(*shape))
          .with_layer(node.layer_ref());
    defined[static_cast<std::size_t>(node.output)] = true;
  }
  for (TensorId out : graph.outputs)
    if (out < 0 || out >= n_tensors || !defined[static_cast<std::size_t>(out)])
      return Error(Errc::kInternal, "graph: output tensor is never produced");
  return ok_status();
}

}  // namespace emc::converter
