#include <algorithm>

#include "emc/converter/float_executor.h"
#include "nodes/node_kind.h"

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
  std::vector<const Tensor*> ins;
  for (std::size_t ni = 0; ni < graph_.nodes.size(); ++ni) {
    const Node& n = graph_.nodes[ni];
    ins.clear();
    for (TensorId id : n.inputs) ins.push_back(&t[static_cast<std::size_t>(id)]);
    Tensor& y = t[static_cast<std::size_t>(n.output)];
    y.shape = graph_.shape(n.output);
    y.data.assign(static_cast<std::size_t>(y.shape.num_elements()), 0.0f);
    detail::node_kind_info(n.kind).run(detail::KernelArgs{n, ins, y});
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
