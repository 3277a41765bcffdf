#include <cmath>
#include <limits>

#include "emc/converter/passes.h"
#include "rewrite_util.h"

namespace emc::converter {
namespace {

using detail::absorb;
using detail::sole_consumer;

Result<Graph> finish(Graph g) {
  detail::compact(g);
  EMC_TRY(validate_graph(g));
  return g;
}

bool is_conv_like(NodeKind k) {
  return k == NodeKind::kConv2D || k == NodeKind::kDepthwiseConv2D || k == NodeKind::kDense;
}

}  // namespace

bool is_pass_through(const Graph& g, const Node& n) {
  return n.kind == NodeKind::kIdentity ||
         ((n.kind == NodeKind::kReshape || n.kind == NodeKind::kFlatten) &&
          g.shape(n.inputs[0]) == g.shape(n.output));
}

Result<Graph> remove_identities(Graph g) {
  EMC_TRY(validate_graph(g));
  for (std::size_t i = 0; i < g.nodes.size();) {
    const Node& n = g.nodes[i];
    if (!is_pass_through(g, n)) {
      ++i;
      continue;
    }
    const TensorId x = n.inputs[0], y = n.output;
    const int p = g.producer(x);
    if (p >= 0 && sole_consumer(g, x) == static_cast<int>(i)) {
      // The producer takes over the identity's output (and its name); provenance is kept.
      absorb(g, p, static_cast<int>(i));
    } else {
      detail::replace_uses(g, y, x);
      g.nodes.erase(g.nodes.begin() + static_cast<std::ptrdiff_t>(i));
    }
  }
  return finish(std::move(g));
}

Result<Graph> merge_zero_padding(Graph g) {
  EMC_TRY(validate_graph(g));
  for (std::size_t i = 0; i < g.nodes.size();) {
    const Node& z = g.nodes[i];
    const int ci = z.kind == NodeKind::kZeroPad ? sole_consumer(g, z.output) : -1;
    if (ci < 0) {
      ++i;
      continue;
    }
    Node& c = g.nodes[static_cast<std::size_t>(ci)];
    const bool conv = c.kind == NodeKind::kConv2D || c.kind == NodeKind::kDepthwiseConv2D;
    const bool pool =
        (c.kind == NodeKind::kMaxPool || c.kind == NodeKind::kAvgPool) && c.pad.is_zero();
    if (!conv && !pool) {
      ++i;
      continue;
    }
    c.pad.top += z.pad.top;
    c.pad.bottom += z.pad.bottom;
    c.pad.left += z.pad.left;
    c.pad.right += z.pad.right;
    if (pool) c.pool_pad_mode = PoolPadMode::kZeros;
    c.inputs[0] = z.inputs[0];
    c.source_layers.insert(c.source_layers.begin(), z.source_layers.begin(), z.source_layers.end());
    g.nodes.erase(g.nodes.begin() + static_cast<std::ptrdiff_t>(i));
  }
  return finish(std::move(g));
}

Result<Graph> fold_batch_norm(Graph g) {
  EMC_TRY(validate_graph(g));
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    Node& p = g.nodes[i];
    if (!is_conv_like(p.kind) || !p.activation.is_linear()) continue;
    const int bi = sole_consumer(g, p.output);
    if (bi < 0 || g.nodes[static_cast<std::size_t>(bi)].kind != NodeKind::kBatchNorm) continue;
    const Node& bn = g.nodes[static_cast<std::size_t>(bi)];
    const std::size_t cout = bn.gamma.size();
    std::vector<float> scale(cout);
    for (std::size_t c = 0; c < cout; ++c)
      scale[c] = bn.gamma[c] / std::sqrt(bn.variance[c] + bn.epsilon);
    // Every kernel layout here ends in the output channel (HWIO, HW[C*M], [in][units]).
    for (std::size_t k = 0; k < p.kernel.size(); ++k) p.kernel[k] *= scale[k % cout];
    if (p.bias.empty()) p.bias.assign(cout, 0.0f);
    for (std::size_t c = 0; c < cout; ++c)
      p.bias[c] = (p.bias[c] - bn.mean[c]) * scale[c] + bn.beta[c];
    p.activation = bn.activation;
    absorb(g, static_cast<int>(i), bi);
  }
  return finish(std::move(g));
}

Result<Graph> fuse_activations(Graph g) {
  EMC_TRY(validate_graph(g));
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    Node& p = g.nodes[i];
    const bool can =
        is_conv_like(p.kind) || p.kind == NodeKind::kBatchNorm || p.kind == NodeKind::kAdd;
    if (!can || !p.activation.is_linear()) continue;
    const int ai = sole_consumer(g, p.output);
    if (ai < 0 || g.nodes[static_cast<std::size_t>(ai)].kind != NodeKind::kActivation) continue;
    p.activation = g.nodes[static_cast<std::size_t>(ai)].activation;
    absorb(g, static_cast<int>(i), ai);
  }
  return finish(std::move(g));
}

Result<Graph> prelu_to_leaky_relu(Graph g) {
  EMC_TRY(validate_graph(g));
  for (Node& n : g.nodes) {
    if (n.kind != NodeKind::kPRelu || n.kernel.empty()) continue;
    const float a = n.kernel.front();
    bool uniform = std::isfinite(a);
    for (float v : n.kernel) uniform = uniform && v == a;
    if (!uniform) continue;
    n.kind = NodeKind::kActivation;
    n.activation = make_relu(std::numeric_limits<float>::infinity(), double(a), 0.0f);
    n.kernel.clear();
  }
  return finish(std::move(g));
}

Result<Graph> split_merges(Graph g) {
  EMC_TRY(validate_graph(g));
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    const NodeKind k = g.nodes[i].kind;
    const bool chainable = k == NodeKind::kAdd || k == NodeKind::kMultiply ||
                           k == NodeKind::kMaximum || k == NodeKind::kMinimum ||
                           k == NodeKind::kAverage;
    if (!chainable || g.nodes[i].inputs.size() <= 2) continue;
    Node last = g.nodes[i];
    std::vector<Node> chain;
    TensorId acc = last.inputs[0];
    for (std::size_t j = 1; j + 1 < last.inputs.size(); ++j) {
      Node part = last;
      part.inputs = {acc, last.inputs[j]};
      part.activation = Activation{};
      if (k == NodeKind::kAverage) part.kind = NodeKind::kAdd;  // the sum; the end divides by n
      const auto shape = infer_shape(g, part);
      if (!shape.ok()) return shape.error();
      std::string name = g.tensor(last.output).name + "/partial_" + std::to_string(j);
      while (g.find_tensor(name) != kNoTensor) name += "_";
      part.output = g.add_tensor(name, *shape);
      acc = part.output;
      chain.push_back(std::move(part));
    }
    if (k == NodeKind::kAverage) last.average_of = static_cast<std::int32_t>(last.inputs.size());
    last.inputs = {acc, last.inputs.back()};
    chain.push_back(std::move(last));
    g.nodes.erase(g.nodes.begin() + static_cast<std::ptrdiff_t>(i));
    g.nodes.insert(g.nodes.begin() + static_cast<std::ptrdiff_t>(i), chain.begin(), chain.end());
    i += chain.size() - 1;
  }
  return finish(std::move(g));
}

Result<Graph> optimize_graph(Graph g) {
  auto r = remove_identities(std::move(g));
  if (!r.ok()) return r;
  r = split_merges(std::move(*r));
  if (!r.ok()) return r;
  r = prelu_to_leaky_relu(std::move(*r));
  if (!r.ok()) return r;
  r = merge_zero_padding(std::move(*r));
  if (!r.ok()) return r;
  r = fold_batch_norm(std::move(*r));
  if (!r.ok()) return r;
  return fuse_activations(std::move(*r));
}

}  // namespace emc::converter
