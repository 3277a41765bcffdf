#include "rewrite_util.h"

#include <algorithm>

namespace emc::converter::detail {

bool is_graph_output(const Graph& g, TensorId id) {
  return std::find(g.outputs.begin(), g.outputs.end(), id) != g.outputs.end();
}

int use_count(const Graph& g, TensorId id) {
  return static_cast<int>(g.consumers(id).size()) + (is_graph_output(g, id) ? 1 : 0);
}

int sole_consumer(const Graph& g, TensorId id) {
  if (is_graph_output(g, id)) return -1;
  auto c = g.consumers(id);
  return c.size() == 1 ? c[0] : -1;
}

void replace_uses(Graph& g, TensorId from, TensorId to) {
  for (Node& n : g.nodes)
    for (TensorId& t : n.inputs)
      if (t == from) t = to;
  for (TensorId& t : g.outputs)
    if (t == from) t = to;
}

void absorb(Graph& g, int producer, int consumer) {
  Node& p = g.nodes[static_cast<std::size_t>(producer)];
  Node& c = g.nodes[static_cast<std::size_t>(consumer)];
  p.output = c.output;
  p.source_layers.insert(p.source_layers.end(), c.source_layers.begin(), c.source_layers.end());
  g.nodes.erase(g.nodes.begin() + consumer);
}

void compact(Graph& g) {
  std::vector<bool> live(g.tensors.size(), false);
  for (TensorId t : g.inputs) live[static_cast<std::size_t>(t)] = true;
  for (TensorId t : g.outputs) live[static_cast<std::size_t>(t)] = true;
  for (const Node& n : g.nodes) {
    live[static_cast<std::size_t>(n.output)] = true;
    for (TensorId t : n.inputs) live[static_cast<std::size_t>(t)] = true;
  }
  std::vector<TensorId> remap(g.tensors.size(), kNoTensor);
  std::vector<TensorInfo> kept;
  for (std::size_t i = 0; i < g.tensors.size(); ++i)
    if (live[i]) {
      remap[i] = static_cast<TensorId>(kept.size());
      kept.push_back(std::move(g.tensors[i]));
    }
  g.tensors = std::move(kept);
  auto fix = [&](TensorId& t) { t = remap[static_cast<std::size_t>(t)]; };
  for (TensorId& t : g.inputs) fix(t);
  for (TensorId& t : g.outputs) fix(t);
  for (Node& n : g.nodes) {
    fix(n.output);
    for (TensorId& t : n.inputs) fix(t);
  }
}

}  // namespace emc::converter::detail
