// Graph-to-graph rewrites that keep what the graph computes (up to float rounding) and prepare it
// for lowering. Each pass takes a valid Graph (validate_graph) and returns a valid Graph; nodes
// that absorb others append the absorbed Keras layer names to `source_layers` in data-flow order
// (e.g. {"conv1_pad", "conv1", "conv1_bn", "conv1_relu"}), and the fused node's output keeps the
// name of the last absorbed layer's output tensor. Tensors that become unused are removed and ids
// renumbered (names are stable; look tensors up by name).
//
// A fusion only happens when the intermediate tensor has exactly one consumer and is not a graph
// output, so no observable tensor disappears that someone else reads.
#pragma once

#include <string>
#include <vector>

#include "emc/converter/graph.h"
#include "emc/format/error.h"

namespace emc::converter {

// A node that passes its input through unchanged (Identity; a Reshape or Flatten to the same
// shape): what remove_identities removes.
bool is_pass_through(const Graph& g, const Node& n);

// Removes kIdentity nodes (Dropout, linear Activation) and kReshape / kFlatten nodes whose output
// shape equals their input shape.
Result<Graph> remove_identities(Graph graph);

// ZeroPadding2D followed by Conv2D / DepthwiseConv2D: the pads are added to the conv's explicit
// padding. Followed by MaxPooling2D / AveragePooling2D with no padding of its own ('valid'): the
// pool takes the pads with PoolPadMode::kZeros (the zeros count, as they did in Keras).
Result<Graph> merge_zero_padding(Graph graph);

// BatchNormalization after Conv2D / DepthwiseConv2D / Dense whose activation is linear:
//   s = gamma / sqrt(var + eps);  W'[..][co] = W[..][co] * s[co];  b' = (b - mean) * s + beta
// (b = 0 when the conv had no bias; the folded node always has a bias). The BN's own activation
// moves to the conv.
Result<Graph> fold_batch_norm(Graph graph);

// A kActivation node after Conv2D / DepthwiseConv2D / Dense / BatchNorm / Add whose activation
// is linear becomes that node's activation.
Result<Graph> fuse_activations(Graph graph);

// A PReLU whose slope is the same for every element (alpha constant, e.g. shared over H, W and C,
// or one channel) becomes an Activation leaky ReLU with that slope: the same function (TF.js
// computes both as x < 0 ? alpha * x : x in float32), which fuses into a conv and a KPU table.
Result<Graph> prelu_to_leaky_relu(Graph graph);

// An Add / Multiply / Maximum / Minimum / Average of n > 2 inputs becomes a chain of n - 1
// two-input nodes, left to right: ((a + b) + c) + d is what Keras / TF.js compute (their merge
// layers fold the inputs in order in float32, and Average multiplies that sum by float32(1/n)), so
// the float result is unchanged, and every target lowers two-input merges. An Average's chain is
// Adds ending in a two-input Average with average_of = n. The partial results are new tensors
// named `<output>/partial_<j>`; each chain node keeps the Keras layer as its source, the last one
// keeps the output and activation.
Result<Graph> split_merges(Graph graph);

// remove_identities, split_merges, prelu_to_leaky_relu, merge_zero_padding, fold_batch_norm,
// fuse_activations, in that order.
Result<Graph> optimize_graph(Graph graph);

// Cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization", section 4.1), for
// optimize_graph's output. For each pair A -> B of Conv2D / DepthwiseConv2D / Dense where B reads
// A's output (directly or through max/average pools) and nothing else does, output channel c of A
// and input channel c of B are rescaled by s_c = sqrt(r1_c / r2_c) (r1_c = max |A's weights of
// channel c|, r2_c = max |B's weights reading channel c|):  A_c /= s_c, bias_A_c /= s_c, B_.c *=
// s_c, so both ranges become sqrt(r1_c r2_c). Exact (up to float rounding) when A's activation is
// positively homogeneous, f(x / s) = f(x) / s for s > 0: linear, ReLU, LeakyReLU. ReLU6 (and any
// clip or threshold) is not, for any s != 1: such pairs are left as they are and listed in
// `report->skipped`. Sweeps over all pairs until no scale differs from 1 by more than 1e-4 (at
// most 50 sweeps; chains converge). A channel whose weights are all zero on either side keeps s
// = 1.
struct EqualizeReport {
  std::size_t pairs = 0;             // pairs equalized
  int sweeps = 0;                    // sweeps run
  std::vector<std::string> skipped;  // "'a' -> 'b' (relu6 between them)"
};
Result<Graph> equalize_cross_layer(Graph graph, EqualizeReport* report = nullptr);

}  // namespace emc::converter
