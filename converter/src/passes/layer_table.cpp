// Matching of layer tables (layer_table.h). Each target's table is in its own file
// (src/lower/<name>_target.cpp).
#include "emc/converter/layer_table.h"

#include <algorithm>
#include <string>

namespace emc::converter {
namespace {

using K = NodeKind;

// Next node of a chain: the sole reader of `node`'s output, reading only that tensor.
int chain_next(const Graph& g, int node) {
  const TensorId out = g.nodes[static_cast<std::size_t>(node)].output;
  if (std::find(g.outputs.begin(), g.outputs.end(), out) != g.outputs.end()) return -1;
  auto c = g.consumers(out);
  if (c.size() != 1 || g.nodes[static_cast<std::size_t>(c[0])].inputs.size() != 1) return -1;
  return c[0];
}

bool accepts(const PatternStep& s, NodeKind k) {
  return std::find(s.kinds.begin(), s.kinds.end(), k) != s.kinds.end();
}

// Longest way rule `r` can consume the chain starting at `node` from step `step` (backtracking
// over optional steps). Returns the matched nodes or nullopt.
std::optional<std::vector<int>> match_rule(const Graph& g, const LayerRule& r, std::size_t step,
                                           int node) {
  if (step == r.steps.size()) return std::vector<int>{};
  if (node < 0) {
    for (std::size_t s = step; s < r.steps.size(); ++s)
      if (!r.steps[s].optional) return std::nullopt;
    return std::vector<int>{};
  }
  std::optional<std::vector<int>> best;
  const PatternStep& s = r.steps[step];
  if (accepts(s, g.nodes[static_cast<std::size_t>(node)].kind)) {
    auto rest = match_rule(g, r, step + 1, chain_next(g, node));
    if (rest) {
      rest->insert(rest->begin(), node);
      best = std::move(rest);
    }
  }
  if (s.optional) {
    auto skip = match_rule(g, r, step + 1, node);
    if (skip && (!best || skip->size() > best->size())) best = std::move(skip);
  }
  return best;
}

}  // namespace

std::optional<LayerMatch> match_layer(const Graph& graph, int start, const LayerTable& table) {
  if (start < 0 || static_cast<std::size_t>(start) >= graph.nodes.size()) return std::nullopt;
  const auto& rules = table.rules;
  std::optional<LayerMatch> best;
  for (std::size_t ri = 0; ri < rules.size(); ++ri) {
    auto m = match_rule(graph, rules[ri], 0, start);
    // The match must start at `start` (a rule whose leading steps are all skipped does not).
    if (!m || m->empty() || m->front() != start) continue;
    if (!best || m->size() > best->nodes.size())
      best = LayerMatch{ri, rules[ri].name, std::move(*m)};
  }
  return best;
}

Result<std::vector<LayerMatch>> match_graph(const Graph& graph, const LayerTable& table) {
  std::vector<LayerMatch> out;
  std::vector<bool> covered(graph.nodes.size(), false);
  for (std::size_t i = 0; i < graph.nodes.size(); ++i) {
    if (covered[i]) continue;
    auto m = match_layer(graph, static_cast<int>(i), table);
    if (!m) {
      std::string targets;
      for (const auto& r : table.rules)
        targets += std::string(targets.empty() ? "" : ", ") + std::string(r.name);
      return Error(Errc::kUnsupportedLayer,
                   "no " + std::string(table.platform) + " layer rule starts with a " +
                       to_string(graph.nodes[i].kind) + " node; platform layers: " + targets)
          .with_layer(graph.nodes[i].layer_ref());
    }
    for (int n : m->nodes) covered[static_cast<std::size_t>(n)] = true;
    out.push_back(std::move(*m));
  }
  return out;
}

}  // namespace emc::converter
