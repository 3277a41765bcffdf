// Elementwise nodes: BatchNorm, Activation, Softmax, the merges (Add, Multiply, ...) and PReLU.
#include <algorithm>
#include <cmath>

#include "nodes/node_kind.h"

namespace emc::converter::detail {

Result<Shape> infer_same_shape(const Graph& g, const Node& node) {
  return g.shape(node.inputs[0]);
}

Result<Shape> infer_batch_norm(const Graph& g, const Node& node) {
  const Shape& in = g.shape(node.inputs[0]);
  if (in.rank() < 1)
    return node_error(node, Errc::kShapeMismatch, "BatchNorm needs an input of rank >= 1");
  for (const auto* v : {&node.gamma, &node.beta, &node.mean, &node.variance})
    EMC_TRY(expect_size(node, *v, in.c(), "batch-norm parameter", false));
  if (!(node.epsilon >= 0.0f))
    return node_error(node, Errc::kInvalidLayerConfig, "epsilon must be >= 0");
  return in;
}

Result<Shape> infer_softmax(const Graph& g, const Node& node) {
  const Shape& in = g.shape(node.inputs[0]);
  if (in.rank() < 1 || node.axis != in.rank() - 1)
    return node_error(node, Errc::kInvalidLayerConfig,
                      "softmax axis must be the last axis (" + std::to_string(in.rank() - 1) +
                          "), got " + std::to_string(node.axis));
  return in;
}

Result<Shape> infer_merge(const Graph& g, const Node& node) {
  const Shape& in = g.shape(node.inputs[0]);
  if (node.inputs.size() < 2 || (node.kind == NodeKind::kSubtract && node.inputs.size() != 2))
    return node_error(node, Errc::kShapeMismatch,
                      std::string(to_string(node.kind)) + (node.kind == NodeKind::kSubtract
                                                               ? " needs exactly two inputs"
                                                               : " needs at least two inputs"));
  for (TensorId id : node.inputs)
    if (!(g.shape(id) == in))
      return node_error(node, Errc::kShapeMismatch,
                        std::string(to_string(node.kind)) +
                            " inputs must have equal shapes (no broadcasting): " + to_string(in) +
                            " vs " + to_string(g.shape(id)));
  return in;
}

Result<Shape> infer_prelu(const Graph& g, const Node& node) {
  const Shape& in = g.shape(node.inputs[0]);
  EMC_TRY(expect_size(node, node.kernel, in.num_elements(), "PReLU alpha", false));
  return in;
}

void batch_norm_f32(const KernelArgs& args) {
  const auto [n, in_shape, in, out_shape, out] = unary(args);
  // tfjs-backend-cpu BatchNorm: offset + (x - mean) * scale / sqrt(variance + epsilon), in double,
  // rounded once.
  const int c = in_shape.c();
  std::vector<double> root(static_cast<std::size_t>(c));
  for (int ch = 0; ch < c; ++ch) root[ch] = std::sqrt(double{n.variance[ch]} + n.epsilon);
  const std::int64_t rows = in_shape.num_elements() / c;
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* x = in + r * c;
    float* o = out + r * c;
    for (int ch = 0; ch < c; ++ch)
      o[ch] = static_cast<float>(double{n.beta[ch]} +
                                 (double{x[ch]} - n.mean[ch]) * n.gamma[ch] / root[ch]);
    activate_inplace(n.activation, o, c);
  }
}

void activation_f32(const KernelArgs& args) {
  Tensor& y = args.output;
  y.data = args.in().data;
  activate_inplace(args.node.activation, y.data.data(), y.shape.num_elements());
}

void softmax_f32(const KernelArgs& args) {
  const Shape& shape = args.in().shape;
  const float* in = args.in().data.data();
  float* out = args.output.data.data();
  // tfjs-backend-cpu Softmax: e = exp(x - max) per element (float32 sub, exp in double rounded to
  // float32), sum of e in double rounded to float32, then e / sum in float32.
  const int c = shape.c();
  const std::int64_t rows = shape.num_elements() / c;
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* x = in + r * c;
    float* o = out + r * c;
    const float mx = *std::max_element(x, x + c);
    double sum = 0.0;
    for (int i = 0; i < c; ++i) {
      o[i] = static_cast<float>(std::exp(static_cast<double>(x[i] - mx)));
      sum += o[i];
    }
    const float sum_f = static_cast<float>(sum);
    for (int i = 0; i < c; ++i) o[i] /= sum_f;
  }
}

void merge_f32(const KernelArgs& args) {
  const Node& n = args.node;
  std::vector<const float*> ins;
  for (const Tensor* t : args.inputs) ins.push_back(t->data.data());
  const std::int64_t count = args.output.shape.num_elements();
  float* out = args.output.data.data();
  // tfjs-layers Merge layers: out = in0; out = op(out, in_k) for k = 1.. (one float32 op each).
  std::copy(ins[0], ins[0] + count, out);
  for (std::size_t k = 1; k < ins.size(); ++k) {
    const float* b = ins[k];
    switch (n.kind) {
      case NodeKind::kAdd:
      case NodeKind::kAverage:
        for (std::int64_t i = 0; i < count; ++i) out[i] += b[i];
        break;
      case NodeKind::kMultiply:
        for (std::int64_t i = 0; i < count; ++i) out[i] *= b[i];
        break;
      case NodeKind::kSubtract:
        for (std::int64_t i = 0; i < count; ++i) out[i] -= b[i];
        break;
      case NodeKind::kMaximum:  // tfjs maximum: a NaN on either side gives NaN
        for (std::int64_t i = 0; i < count; ++i)
          out[i] = (std::isnan(out[i]) || std::isnan(b[i])) ? NAN : std::max(out[i], b[i]);
        break;
      case NodeKind::kMinimum:
        for (std::int64_t i = 0; i < count; ++i)
          out[i] = (std::isnan(out[i]) || std::isnan(b[i])) ? NAN : std::min(out[i], b[i]);
        break;
      default:
        break;
    }
  }
  if (n.kind == NodeKind::kAverage) {  // mul(1 / n, sum): 1/n rounded to float32 first
    const std::size_t of = n.average_of > 0 ? static_cast<std::size_t>(n.average_of) : ins.size();
    const float inv = static_cast<float>(1.0 / static_cast<double>(of));
    for (std::int64_t i = 0; i < count; ++i) out[i] = inv * out[i];
  }
  activate_inplace(n.activation, out, count);
}

void prelu_f32(const KernelArgs& args) {
  const Node& n = args.node;
  const float* in = args.in().data.data();
  const std::int64_t count = args.output.shape.num_elements();
  float* out = args.output.data.data();
  // tfjs-backend-cpu prelu: x < 0 ? alpha * x : x (float32 product).
  for (std::int64_t i = 0; i < count; ++i) out[i] = in[i] < 0.0f ? n.kernel[i] * in[i] : in[i];
}

}  // namespace emc::converter::detail
