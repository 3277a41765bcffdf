// Cross-layer equalization (passes.h). Nagel et al. 2019, "Data-Free Quantization Through Weight
// Equalization and Bias Correction", section 4.1.
#include <algorithm>
#include <cmath>

#include "emc/converter/passes.h"
#include "rewrite_util.h"

namespace emc::converter {
namespace {

using detail::sole_consumer;

// f(x / s) = f(x) / s for every s > 0: linear, ReLU and LeakyReLU (threshold 0, no clip). ReLU6 is
// not: min(x / s, 6) != min(x, 6) / s unless s = 1.
bool positively_homogeneous(const Activation& a) {
  return a.is_linear() || a.is_leaky_relu();
}

bool is_weighted(NodeKind k) {
  return k == NodeKind::kConv2D || k == NodeKind::kDepthwiseConv2D || k == NodeKind::kDense;
}

// Input channel of kernel element k of `n` (Keras layouts, graph.h), for `cin` input channels.
std::size_t input_channel(const Node& n, std::size_t k, std::size_t cin, std::size_t cout) {
  switch (n.kind) {
    case NodeKind::kConv2D:  // [kh][kw][cin][cout]
    case NodeKind::kDense:   // [in][units]
      return (k / cout) % cin;
    default:  // DepthwiseConv2D [kh][kw][cin][m]
      return (k / static_cast<std::size_t>(n.depth_multiplier)) % cin;
  }
}

struct Pair {
  int a = -1, b = -1;
  std::size_t channels = 0;  // a's output channels = b's input channels
};

// a -> (max/avg pools, each the sole reader of its input) -> b, every link single-consumer.
std::vector<Pair> find_pairs(const Graph& g, std::vector<std::string>* skipped) {
  std::vector<Pair> pairs;
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& a = g.nodes[i];
    if (!is_weighted(a.kind) || a.kernel.empty()) continue;
    int next = sole_consumer(g, a.output);
    while (next >= 0 && (g.nodes[static_cast<std::size_t>(next)].kind == NodeKind::kMaxPool ||
                         g.nodes[static_cast<std::size_t>(next)].kind == NodeKind::kAvgPool))
      next = sole_consumer(g, g.nodes[static_cast<std::size_t>(next)].output);
    if (next < 0) continue;
    const Node& b = g.nodes[static_cast<std::size_t>(next)];
    if (!is_weighted(b.kind) || b.kernel.empty()) continue;
    const std::size_t ch = static_cast<std::size_t>(g.shape(a.output).c());
    if (g.shape(b.inputs[0]).c() != static_cast<std::int32_t>(ch)) continue;
    if (b.kind == NodeKind::kDense && g.shape(b.inputs[0]).rank() != 1) continue;
    if (!positively_homogeneous(a.activation)) {
      if (skipped != nullptr) {
        skipped->push_back("'" + a.source.name + "' -> '" + b.source.name + "' (" +
                           to_string(a.activation) + " between them)");
      }
      continue;
    }
    pairs.push_back({static_cast<int>(i), next, ch});
  }
  return pairs;
}

}  // namespace

Result<Graph> equalize_cross_layer(Graph g, EqualizeReport* report) {
  EMC_TRY(validate_graph(g));
  EqualizeReport rep;
  const auto pairs = find_pairs(g, &rep.skipped);
  rep.pairs = pairs.size();
  constexpr int kMaxSweeps = 50;
  constexpr double kConverged = 1e-4;  // max |log s| of a sweep
  for (int sweep = 0; sweep < kMaxSweeps && !pairs.empty(); ++sweep) {
    double worst = 0;
    for (const Pair& p : pairs) {
      Node& a = g.nodes[static_cast<std::size_t>(p.a)];
      Node& b = g.nodes[static_cast<std::size_t>(p.b)];
      const std::size_t ch = p.channels;
      const std::size_t b_cin = ch;
      const std::size_t b_cout = static_cast<std::size_t>(g.shape(b.output).c());
      std::vector<double> r1(ch, 0.0), r2(ch, 0.0);
      for (std::size_t k = 0; k < a.kernel.size(); ++k)
        r1[k % ch] = std::max(r1[k % ch], double(std::fabs(a.kernel[k])));
      for (std::size_t k = 0; k < b.kernel.size(); ++k) {
        const std::size_t c = input_channel(b, k, b_cin, b_cout);
        r2[c] = std::max(r2[c], double(std::fabs(b.kernel[k])));
      }
      std::vector<float> s(ch, 1.0f);
      for (std::size_t c = 0; c < ch; ++c) {
        if (!(r1[c] > 0) || !(r2[c] > 0)) continue;  // a dead channel: nothing to balance
        const double v = std::sqrt(r1[c] / r2[c]);
        if (!std::isfinite(v) || v <= 0) continue;
        s[c] = static_cast<float>(v);
        worst = std::max(worst, std::fabs(std::log(v)));
      }
      for (std::size_t k = 0; k < a.kernel.size(); ++k) a.kernel[k] /= s[k % ch];
      for (std::size_t c = 0; c < a.bias.size(); ++c) a.bias[c] /= s[c];
      for (std::size_t k = 0; k < b.kernel.size(); ++k)
        b.kernel[k] *= s[input_channel(b, k, b_cin, b_cout)];
    }
    rep.sweeps = sweep + 1;
    if (worst < kConverged) break;
  }
  if (report != nullptr) *report = std::move(rep);
  EMC_TRY(validate_graph(g));
  return g;
}

}  // namespace emc::converter
