#include <algorithm>

#include "emc/converter/float_executor.h"
#include "kernels.h"

namespace emc::converter {

FloatExecutor::FloatExecutor(Graph graph) : graph_(std::move(graph)) {
  last_use_.assign(graph_.tensors.size(), -1);
  for (std::size_t i = 0; i < graph_.nodes.size(); ++i)
    for (TensorId t : graph_.nodes[i].inputs)
      last_use_[static_cast<std::size_t>(t)] = static_cast<int>(i);
  for (TensorId t : graph_.outputs)
    last_use_[static_cast<std::size_t>(t)] = static_cast<int>(graph_.nodes.size());
}

Result<FloatExecutor> FloatExecutor::create(Graph graph) {
  EMC_TRY(validate_graph(graph));
  return FloatExecutor(std::move(graph));
}

Result<std::vector<Tensor>> FloatExecutor::run(const std::vector<Tensor>& inputs,
                                               const RunOptions& options) const {
  if (inputs.size() != graph_.inputs.size())
    return Error(Errc::kInvalidArgument, "the graph has " + std::to_string(graph_.inputs.size()) +
                                             " input(s), " + std::to_string(inputs.size()) +
                                             " were given");
  std::vector<Tensor> t(graph_.tensors.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const TensorInfo& info = graph_.tensor(graph_.inputs[i]);
    if (!(inputs[i].shape == info.shape) ||
        static_cast<std::int64_t>(inputs[i].data.size()) != info.shape.num_elements())
      return Error(Errc::kShapeMismatch, "input '" + info.name + "' must have shape " +
                                             to_string(info.shape) + " (" +
                                             std::to_string(info.shape.num_elements()) +
                                             " values), got " + to_string(inputs[i].shape) + " (" +
                                             std::to_string(inputs[i].data.size()) + " values)");
    t[static_cast<std::size_t>(graph_.inputs[i])] = inputs[i];
  }
  for (std::size_t ni = 0; ni < graph_.nodes.size(); ++ni) {
    const Node& n = graph_.nodes[ni];
    const Tensor& x = t[static_cast<std::size_t>(n.inputs[0])];
    Tensor& y = t[static_cast<std::size_t>(n.output)];
    y.shape = graph_.shape(n.output);
    y.data.assign(static_cast<std::size_t>(y.shape.num_elements()), 0.0f);
    switch (n.kind) {
      case NodeKind::kConv2D:
        detail::conv2d_f32(n, x.shape, x.data.data(), y.shape, y.data.data());
        break;
      case NodeKind::kDepthwiseConv2D:
        detail::depthwise_conv2d_f32(n, x.shape, x.data.data(), y.shape, y.data.data());
        break;
      case NodeKind::kDense:
        detail::dense_f32(n, x.shape, x.data.data(), y.data.data());
        break;
      case NodeKind::kBatchNorm:
        detail::batch_norm_f32(n, x.shape, x.data.data(), y.data.data());
        break;
      case NodeKind::kZeroPad:
        detail::zero_pad_f32(n, x.shape, x.data.data(), y.shape, y.data.data());
        break;
      case NodeKind::kMaxPool:
      case NodeKind::kAvgPool:
        detail::pool2d_f32(n, x.shape, x.data.data(), y.shape, y.data.data());
        break;
      case NodeKind::kGlobalAvgPool:
      case NodeKind::kGlobalMaxPool:
        detail::global_pool_f32(n, x.shape, x.data.data(), y.data.data());
        break;
      case NodeKind::kConcat: {
        std::vector<const float*> ins;
        std::vector<const Shape*> shapes;
        for (TensorId id : n.inputs) {
          ins.push_back(t[static_cast<std::size_t>(id)].data.data());
          shapes.push_back(&t[static_cast<std::size_t>(id)].shape);
        }
        detail::concat_f32(n, ins, shapes, y.shape, y.data.data());
        break;
      }
      case NodeKind::kAdd:
      case NodeKind::kMultiply:
      case NodeKind::kSubtract:
      case NodeKind::kMaximum:
      case NodeKind::kMinimum:
      case NodeKind::kAverage: {
        std::vector<const float*> ins;
        for (TensorId id : n.inputs) ins.push_back(t[static_cast<std::size_t>(id)].data.data());
        detail::merge_f32(n, ins, y.shape.num_elements(), y.data.data());
        break;
      }
      case NodeKind::kPRelu:
        detail::prelu_f32(n, x.data.data(), y.shape.num_elements(), y.data.data());
        break;
      case NodeKind::kUpSample:
        detail::upsample_f32(n, x.shape, x.data.data(), y.shape, y.data.data());
        break;
      case NodeKind::kCrop:
        detail::crop_f32(n, x.shape, x.data.data(), y.shape, y.data.data());
        break;
      case NodeKind::kActivation:
        y.data = x.data;
        detail::activate_inplace(n.activation, y.data.data(), y.shape.num_elements());
        break;
      case NodeKind::kSoftmax:
        detail::softmax_f32(x.shape, x.data.data(), y.data.data());
        break;
      case NodeKind::kFlatten:
      case NodeKind::kReshape:
      case NodeKind::kIdentity:
        y.data = x.data;
        break;
    }
    if (!options.keep_all_tensors)
      for (TensorId id : n.inputs)
        if (last_use_[static_cast<std::size_t>(id)] == static_cast<int>(ni))
          std::vector<float>().swap(t[static_cast<std::size_t>(id)].data);
  }
  if (options.keep_all_tensors) return t;
  std::vector<Tensor> outs;
  for (TensorId id : graph_.outputs) outs.push_back(t[static_cast<std::size_t>(id)]);
  return outs;
}

Result<std::vector<Tensor>> run_float(const Graph& graph, const std::vector<Tensor>& inputs,
                                      const RunOptions& options) {
  auto ex = FloatExecutor::create(graph);
  if (!ex.ok()) return ex.error();
  return ex->run(inputs, options);
}

}  // namespace emc::converter
