#include <algorithm>

#include "emc/converter/float_executor.h"
#include "exec/fast_kernels.h"
#include "nodes/node_kind.h"

namespace emc::converter {

namespace {
// Buffers of freed intermediate tensors, reused by later nodes and later runs on the same thread:
// a fresh multi-MiB tensor per node costs page faults (on MobileNet v1 1.0 more CPU time than the
// fast kernels themselves). At most kSpareBuffers are kept per thread, the largest ones.
constexpr std::size_t kSpareBuffers = 4;
constexpr std::size_t kSpareMinFloats = 4096;
thread_local std::vector<std::vector<float>> t_spare;

// A buffer of n floats (zero-filled when `zero`; else what the spare held), from the spares when
// one is large enough (the smallest such).
std::vector<float> take_buffer(std::size_t n, bool zero) {
  std::size_t best = t_spare.size();
  for (std::size_t i = 0; i < t_spare.size(); ++i)
    if (t_spare[i].capacity() >= n &&
        (best == t_spare.size() || t_spare[i].capacity() < t_spare[best].capacity()))
      best = i;
  std::vector<float> v;
  if (best < t_spare.size()) {
    v = std::move(t_spare[best]);
    t_spare.erase(t_spare.begin() + static_cast<std::ptrdiff_t>(best));
  }
  if (zero)
    v.assign(n, 0.0f);
  else
    v.resize(n);
  return v;
}

void give_buffer(std::vector<float>&& v) {
  if (v.capacity() >= kSpareMinFloats) {
    t_spare.push_back(std::move(v));
    if (t_spare.size() > kSpareBuffers) {
      auto smallest = std::min_element(
          t_spare.begin(), t_spare.end(),
          [](const auto& a, const auto& b) { return a.capacity() < b.capacity(); });
      t_spare.erase(smallest);
    }
  }
  std::vector<float>().swap(v);
}
}  // namespace

namespace detail {
// kFast: the ISA and, per node, the packed weights of a Conv2D / Dense (empty otherwise).
struct FastPlan {
  FloatIsa isa = FloatIsa::kPortable;
  std::vector<PackedGemm> packs;
};
}  // namespace detail

const char* to_string(FloatIsa isa) {
  switch (isa) {
    case FloatIsa::kAvx512:
      return "avx512";
    case FloatIsa::kAvx2:
      return "avx2";
    case FloatIsa::kPortable:
      break;
  }
  return "portable";
}

FloatIsa FloatExecutor::isa() const {
  return fast_ ? fast_->isa : FloatIsa::kPortable;
}

FloatExecutor::FloatExecutor(Graph graph) : graph_(std::move(graph)) {
  last_use_.assign(graph_.tensors.size(), -1);
  for (std::size_t i = 0; i < graph_.nodes.size(); ++i)
    for (TensorId t : graph_.nodes[i].inputs)
      last_use_[static_cast<std::size_t>(t)] = static_cast<int>(i);
  for (TensorId t : graph_.outputs)
    last_use_[static_cast<std::size_t>(t)] = static_cast<int>(graph_.nodes.size());
}

Result<FloatExecutor> FloatExecutor::create(Graph graph, FloatMode mode, FloatIsa max_isa) {
  EMC_TRY(validate_graph(graph));
  FloatExecutor ex(std::move(graph));
  if (mode == FloatMode::kFast) {
    auto plan = std::make_shared<detail::FastPlan>();
    plan->isa = detail::supported_float_isa(max_isa);
    plan->packs.resize(ex.graph_.nodes.size());
    for (std::size_t i = 0; i < ex.graph_.nodes.size(); ++i) {
      const Node& n = ex.graph_.nodes[i];
      if (n.kind != NodeKind::kConv2D && n.kind != NodeKind::kDense) continue;
      const int k = static_cast<int>(n.kernel.size() / static_cast<std::size_t>(n.filters));
      plan->packs[i] = detail::pack_gemm(plan->isa, n.kernel.data(), k, n.filters,
                                         n.has_bias() ? n.bias.data() : nullptr);
    }
    ex.fast_ = std::move(plan);
  }
  return ex;
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
    // The fast kernels write every output element; the exact ones expect zeros.
    const bool fast_kernel = fast_ && (n.kind == NodeKind::kConv2D || n.kind == NodeKind::kDense ||
                                       n.kind == NodeKind::kDepthwiseConv2D);
    y.data = take_buffer(static_cast<std::size_t>(y.shape.num_elements()), !fast_kernel);
    if (fast_ && n.kind == NodeKind::kConv2D)
      detail::conv2d_fast(n, fast_->packs[ni], *ins[0], y);
    else if (fast_ && n.kind == NodeKind::kDense)
      detail::dense_fast(n, fast_->packs[ni], *ins[0], y);
    else if (fast_ && n.kind == NodeKind::kDepthwiseConv2D)
      detail::depthwise_fast(fast_->isa, n, *ins[0], y);
    else
      detail::node_kind_info(n.kind).run(detail::KernelArgs{n, ins, y});
    if (options.after_node) options.after_node(n, y);
    if (!options.keep_all_tensors)
      for (TensorId id : n.inputs)
        if (last_use_[static_cast<std::size_t>(id)] == static_cast<int>(ni))
          give_buffer(std::move(t[static_cast<std::size_t>(id)].data));
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
