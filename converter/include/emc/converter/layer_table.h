// Longest-match layer tables: which runs of graph nodes become one platform layer, per target
// (in the spirit of Maix-EMC's tl_to_k210_table, but as data in one place and over the whole
// graph IR, not only sequential TensorLayer models). A target's table lives in its own file
// (converter/src/lower/<name>_target.cpp) and binds each rule to the Lowerer job that emits it;
// it is followed by the rules a node kind's own lowering gives (src/lower/kind_lowering.h).
//
// A rule is a sequence of steps; each step accepts a set of NodeKinds and may be optional. A rule
// matches a chain of nodes n0 -> n1 -> ... where each node reads exactly one tensor, that tensor is
// produced by the previous node of the chain and has no other reader (and is not a graph output).
// Among all rules of a table, the match covering the most nodes wins; ties go to the earlier
// rule. The table only describes structure: attribute limits (kernel 1x1/3x3, strides, channel
// counts, activation kinds) are checked by the lowering that consumes the match.
//
// Rules are written over NodeKind, which maps 1:1 onto the Keras / TensorLayer classes of the
// unfused graph (kZeroPad = ZeroPadding2D / ZeroPad2d, kBatchNorm = BatchNormalization /
// BatchNorm, kActivation = Activation / ReLU / LeakyReLU, ...). On a graph already rewritten by
// optimize_graph() the optional steps simply match nothing.
#pragma once

#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "emc/converter/graph.h"
#include "emc/converter/target.h"

namespace emc::converter {

struct LayerMatch;
namespace detail {
class Lowerer;
}
// The job that lowers one match on the internal detail::Lowerer (src/lower/lowerer.h): a free
// function next to its rule, or a Lowerer member bound through detail::member_job
// (src/lower/kind_lowering.h).
using LowerRule = void (*)(detail::Lowerer& lowerer, const LayerMatch& match);

struct PatternStep {
  std::vector<NodeKind> kinds;  // any of these
  bool optional = false;
};
// A step that must match / may match one node of these kinds.
inline PatternStep one_of(std::vector<NodeKind> kinds) {
  return {std::move(kinds), false};
}
inline PatternStep maybe(std::vector<NodeKind> kinds) {
  return {std::move(kinds), true};
}

struct LayerRule {
  std::string_view name;           // platform layer kind, e.g. "kpu_conv", "fully_connected"
  std::vector<PatternStep> steps;  // in data-flow order
  LowerRule lower = nullptr;       // nullptr in a table only matched, never lowered by the Lowerer
};

struct LayerTable {
  std::string_view platform;  // in messages: "no K210 layer rule starts with ..."
  std::vector<LayerRule> rules;
};

// The rule table of -p cpu (EMC's own CPU layer types: conv-like layers absorb BN and activation,
// everything else 1:1). Its rules are bound to the cpu lowering's own jobs (CpuLowerer,
// src/lower/cpu_lowerer.h), so their `lower` (a Lowerer job) is nullptr here.
const LayerTable& generic_cpu_layer_table();

struct LayerMatch {
  std::size_t rule = 0;    // index into the table's rules
  std::string_view name;   // rules[rule].name
  std::vector<int> nodes;  // matched node indices, in chain order
};

// The longest match starting at node `start` (nullopt when no rule accepts that node).
std::optional<LayerMatch> match_layer(const Graph& graph, int start, const LayerTable& table);

// Covers the whole graph greedily in node order: at each not-yet-covered node, the longest match.
// Fails (kUnsupportedLayer, naming the node's source layer and the layers the table has) when
// some node starts no match.
Result<std::vector<LayerMatch>> match_graph(const Graph& graph, const LayerTable& table);

}  // namespace emc::converter
