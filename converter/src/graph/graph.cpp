#include "emc/converter/graph.h"

#include <cstdio>
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
  switch (kind) {
    case NodeKind::kConv2D:
      return "Conv2D";
    case NodeKind::kDepthwiseConv2D:
      return "DepthwiseConv2D";
    case NodeKind::kDense:
      return "Dense";
    case NodeKind::kBatchNorm:
      return "BatchNorm";
    case NodeKind::kZeroPad:
      return "ZeroPad";
    case NodeKind::kMaxPool:
      return "MaxPool";
    case NodeKind::kAvgPool:
      return "AvgPool";
    case NodeKind::kGlobalAvgPool:
      return "GlobalAvgPool";
    case NodeKind::kGlobalMaxPool:
      return "GlobalMaxPool";
    case NodeKind::kConcat:
      return "Concat";
    case NodeKind::kAdd:
      return "Add";
    case NodeKind::kActivation:
      return "Activation";
    case NodeKind::kSoftmax:
      return "Softmax";
    case NodeKind::kFlatten:
      return "Flatten";
    case NodeKind::kReshape:
      return "Reshape";
    case NodeKind::kIdentity:
      return "Identity";
    case NodeKind::kMultiply:
      return "Multiply";
    case NodeKind::kSubtract:
      return "Subtract";
    case NodeKind::kMaximum:
      return "Maximum";
    case NodeKind::kMinimum:
      return "Minimum";
    case NodeKind::kAverage:
      return "Average";
    case NodeKind::kPRelu:
      return "PReLU";
    case NodeKind::kUpSample:
      return "UpSample";
    case NodeKind::kCrop:
      return "Crop";
  }
  return "Unknown";
}

const char* to_string(ActivationKind kind) {
  switch (kind) {
    case ActivationKind::kLinear:
      return "linear";
    case ActivationKind::kRelu:
      return "relu";
    case ActivationKind::kSigmoid:
      return "sigmoid";
    case ActivationKind::kHardSigmoid:
      return "hard_sigmoid";
    case ActivationKind::kTanh:
      return "tanh";
    case ActivationKind::kElu:
      return "elu";
    case ActivationKind::kSelu:
      return "selu";
    case ActivationKind::kSwish:
      return "swish";
    case ActivationKind::kAffine:
      return "affine";
  }
  return "unknown";
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
  if (a.kind == ActivationKind::kAffine) return "affine(" + fmt(a.alpha) + "," + fmt(a.offset) + ")";
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
  for (const auto& t : graph.tensors) {
    if (!names.insert(t.name).second)
      return Error(Errc::kInternal, "graph: tensor name '" + t.name + "' is used twice");
    std::int64_t n = 1;
    for (auto d : t.shape.dims) {
      if (d <= 0)
        return Error(Errc::kShapeMismatch,
                     "tensor '" + t.name + "' has a non-positive dimension: " + to_string(t.shape));
      n *= d;
      if (n >= (std::int64_t{1} << 31))
        return Error(Errc::kShapeMismatch, "tensor '" + t.name + "' " + to_string(t.shape) +
                                               " has 2^31 or more elements");
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
