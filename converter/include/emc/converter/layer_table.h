// Longest-match layer tables: which runs of graph nodes become one platform layer, per platform
// (in the spirit of Maix-EMC's tl_to_k210_table, but as data in one place and over the whole
// graph IR, not only sequential TensorLayer models).
//
// A rule is a sequence of steps; each step accepts a set of NodeKinds and may be optional. A rule
// matches a chain of nodes n0 -> n1 -> ... where each node reads exactly one tensor, that tensor is
// produced by the previous node of the chain and has no other reader (and is not a graph output).
// Among all rules of a platform, the match covering the most nodes wins; ties go to the earlier
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

namespace emc::converter {

enum class Platform { kK210, kCpu };

struct PatternStep {
  std::vector<NodeKind> kinds;  // any of these
  bool optional = false;
};

struct LayerRule {
  std::string_view target;         // platform layer kind, e.g. "kpu_conv", "fully_connected"
  std::vector<PatternStep> steps;  // in data-flow order
};

// The table of `platform` (defined in src/passes/layer_table.cpp, the single place to edit).
std::span<const LayerRule> layer_table(Platform platform);

struct LayerMatch {
  std::size_t rule = 0;     // index into layer_table(platform)
  std::string_view target;  // layer_table(platform)[rule].target
  std::vector<int> nodes;   // matched node indices, in chain order
};

// The longest match starting at node `start` (nullopt when no rule accepts that node).
std::optional<LayerMatch> match_layer(const Graph& graph, int start, Platform platform);

// Covers the whole graph greedily in node order: at each not-yet-covered node, the longest match.
// Fails (kUnsupportedLayer, naming the node's source layer and the targets the platform has) when
// some node starts no match.
Result<std::vector<LayerMatch>> match_graph(const Graph& graph, Platform platform);

}  // namespace emc::converter
