// Cross-layer equalization (passes.h equalize_cross_layer): a hand-computed pair, the defining
// property on a random chain (each pair's per-channel weight ranges become equal), function
// preservation on that chain and on the real ml5_darknet_tiny (LeakyReLU, max pools between the
// convs), and ReLU6 pairs left untouched.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

#include "emc/converter/model_json.h"
#include "emc/converter/passes.h"
#include "frontend_test_util.h"
#include "model_builder.h"

namespace emc::converter {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using testing::ModelBuilder;
using testing::randv;
using testing::read_f32;
using testing::run1;

// optimize_graph, then equalize_cross_layer: the graph before and after, and the report.
struct Equalized {
  Graph before, after;
  EqualizeReport rep;
};
void equalize(const Result<Graph>& g, Equalized& out) {
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  auto o = optimize_graph(*g);
  ASSERT_TRUE(o.ok()) << o.error().to_string();
  auto e = equalize_cross_layer(*o, &out.rep);
  ASSERT_TRUE(e.ok()) << e.error().to_string();
  out.before = std::move(*o);
  out.after = std::move(*e);
}

// Max |a - b| relative to max |b|.
double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size() || b.empty()) return INFINITY;
  double d = 0, m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    d = std::max(d, std::fabs(double(a[i]) - double(b[i])));
    m = std::max(m, std::fabs(double(b[i])));
  }
  return d / m;
}

const Node& node_named(const Graph& g, const std::string& name) {
  for (const Node& n : g.nodes)
    if (n.source.name == name) return n;
  throw std::runtime_error("no node " + name);
}

TEST(Equalize, HandComputedPairThroughRelu) {
  // A: 1x1 conv 1 -> 2 channels, w = {4, 1}, b = {2, -1}, ReLU. B: 1x1 conv 2 -> 1, w = {1, 4}.
  // r1 = {4, 1}, r2 = {1, 4}: s = sqrt(r1 / r2) = {2, 0.5}; A' = {2, 2}, b' = {1, -2}, B' = {2, 2}.
  ModelBuilder b;
  b.input("x", {1, 1, 1})
      .layer("Conv2D", "a", {{"filters", 2}, {"kernel_size", 1}, {"activation", "relu"}})
      .weight("a/kernel", {1, 1, 1, 2}, {4, 1})
      .weight("a/bias", {2}, {2, -1})
      .layer("Conv2D", "b", {{"filters", 1}, {"kernel_size", 1}, {"use_bias", false}})
      .weight("b/kernel", {1, 1, 2, 1}, {1, 4});
  Equalized q;
  ASSERT_NO_FATAL_FAILURE(equalize(b.graph(), q));
  EXPECT_EQ(q.rep.pairs, 1u);
  EXPECT_TRUE(q.rep.skipped.empty());
  EXPECT_EQ(node_named(q.after, "a").kernel, (std::vector<float>{2, 2}));
  EXPECT_EQ(node_named(q.after, "a").bias, (std::vector<float>{1, -2}));
  EXPECT_EQ(node_named(q.after, "b").kernel, (std::vector<float>{2, 2}));
  for (float x : {-3.0f, 0.25f, 1.0f, 7.0f})  // 1 * relu(4x + 2) + 4 * relu(x - 1)
    EXPECT_FLOAT_EQ(run1(q.after, {x})[0], std::max(4 * x + 2, 0.0f) + 4 * std::max(x - 1, 0.0f));
}

// conv(relu) -> maxpool -> depthwise(leaky) -> conv(linear) -> conv(relu6) -> depthwise.
// Channel weight ranges are spread over 3 decades so that equalization has work to do.
ModelBuilder chain() {
  auto spread = [](std::vector<float> v, std::size_t cout, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> e(-3, 0);
    std::vector<float> s(cout);
    for (auto& x : s) x = std::pow(10.0f, e(rng));
    for (std::size_t k = 0; k < v.size(); ++k) v[k] *= s[k % cout];
    return v;
  };
  ModelBuilder b;
  b.input("x", {8, 8, 3})
      .layer("Conv2D", "c1",
             {{"filters", 6}, {"kernel_size", 3}, {"padding", "same"}, {"activation", "relu"}})
      .weight("c1/kernel", {3, 3, 3, 6}, spread(randv(162, 1), 6, 101))
      .weight("c1/bias", {6}, randv(6, 2, -0.01f, 0.01f))
      .layer("MaxPooling2D", "p1", {{"pool_size", 2}})
      .layer("DepthwiseConv2D", "d1", {{"kernel_size", 3}, {"padding", "same"}})
      .weight("d1/depthwise_kernel", {3, 3, 6, 1}, spread(randv(54, 3), 6, 102))
      .weight("d1/bias", {6}, randv(6, 4, -0.01f, 0.01f))
      .layer("LeakyReLU", "l1", {{"alpha", 0.1}})
      .layer("Conv2D", "c2", {{"filters", 5}, {"kernel_size", 1}})
      .weight("c2/kernel", {1, 1, 6, 5}, spread(randv(30, 5), 5, 103))
      .weight("c2/bias", {5}, randv(5, 6, -0.01f, 0.01f))
      .layer("Conv2D", "c3", {{"filters", 4}, {"kernel_size", 1}})
      .weight("c3/kernel", {1, 1, 5, 4}, spread(randv(20, 7), 4, 104))
      .weight("c3/bias", {4}, randv(4, 8))
      .layer("ReLU", "r3", {{"max_value", 6.0}})
      .layer("DepthwiseConv2D", "d2", {{"kernel_size", 3}, {"padding", "same"}})
      .weight("d2/depthwise_kernel", {3, 3, 4, 1}, randv(36, 9))
      .weight("d2/bias", {4}, randv(4, 10));
  return b;
}

// max |w| of output channel c (A side) / of everything reading input channel c (B side).
std::vector<double> out_ranges(const Node& n, std::size_t ch) {
  std::vector<double> r(ch, 0.0);
  for (std::size_t k = 0; k < n.kernel.size(); ++k)
    r[k % ch] = std::max(r[k % ch], double(std::fabs(n.kernel[k])));
  return r;
}
std::vector<double> in_ranges(const Node& n, std::size_t cin, std::size_t cout) {
  std::vector<double> r(cin, 0.0);
  for (std::size_t k = 0; k < n.kernel.size(); ++k) {
    const std::size_t c = n.kind == NodeKind::kDepthwiseConv2D ? k % cin : (k / cout) % cin;
    r[c] = std::max(r[c], double(std::fabs(n.kernel[k])));
  }
  return r;
}

TEST(Equalize, ChainRangesBecomeEqualAndOutputIsKept) {
  Equalized q;
  ASSERT_NO_FATAL_FAILURE(equalize(chain().graph(), q));
  const Graph &o = q.before, &e = q.after;
  const EqualizeReport& rep = q.rep;
  // c1 -> (p1) -> d1, d1 -> c2, c2 -> c3 equalized; c3 -> d2 has a ReLU6 between them.
  EXPECT_EQ(rep.pairs, 3u);
  ASSERT_EQ(rep.skipped.size(), 1u);
  EXPECT_NE(rep.skipped[0].find("'c3' -> 'd2'"), std::string::npos) << rep.skipped[0];
  EXPECT_LT(rep.sweeps, 50);
  // Converged: in each pair, channel c's range on both sides is the same.
  const struct {
    const char *a, *b;
    std::size_t ch, b_cout;
  } pairs[] = {{"c1", "d1", 6, 6}, {"d1", "c2", 6, 5}, {"c2", "c3", 5, 4}};
  for (const auto& p : pairs) {
    const auto r1 = out_ranges(node_named(e, p.a), p.ch);
    const auto r2 = in_ranges(node_named(e, p.b), p.ch, p.b_cout);
    for (std::size_t c = 0; c < p.ch; ++c)
      EXPECT_NEAR(r1[c] / r2[c], 1.0, 1e-3) << p.a << " -> " << p.b << " channel " << c;
    // ... and it changed something: before, the ranges differed by up to 3 decades.
    const auto b1 = out_ranges(node_named(o, p.a), p.ch);
    const auto b2 = in_ranges(node_named(o, p.b), p.ch, p.b_cout);
    double worst = 0;
    for (std::size_t c = 0; c < p.ch; ++c)
      worst = std::max(worst, std::fabs(std::log10(b1[c] / b2[c])));
    EXPECT_GT(worst, 0.3) << p.a << " -> " << p.b;
  }
  // The ReLU6 pair is untouched: c3 keeps its weights except for the c2 -> c3 scaling of its
  // INPUT channels, d2 keeps all of its weights.
  EXPECT_EQ(node_named(e, "d2").kernel, node_named(o, "d2").kernel);
  EXPECT_EQ(node_named(e, "c3").bias, node_named(o, "c3").bias);
  // Function preserved up to float rounding.
  for (std::uint32_t seed = 0; seed < 4; ++seed) {
    const auto x = randv(8 * 8 * 3, 200 + seed, -2, 2);
    EXPECT_LE(rel_diff(run1(e, x), run1(o, x)), 1e-5) << "seed " << seed;
  }
}

TEST(Equalize, RealDarknetTinyKeepsItsOutputsOnItsPhotos) {
  // ml5_darknet_tiny: Conv2D (no bias) + BN + LeakyReLU(0.1), max pools between; TF.js outputs
  // are logits (docs: shared/models/SOURCES.md).
  const fs::path dir =
      fs::path(testing::source_dir()) / ".." / "shared" / "models" / "ml5_darknet_tiny";
  ASSERT_TRUE(fs::exists(dir / "model.json")) << dir << " is missing (shared/ beside the repo)";
  auto model = load_tfjs_model((dir / "model.json").string());
  ASSERT_TRUE(model.ok()) << model.error().to_string();
  Equalized q;
  ASSERT_NO_FATAL_FAILURE(equalize(build_graph(*model), q));
  const EqualizeReport& rep = q.rep;
  EXPECT_GE(rep.pairs, 10u);
  std::size_t inputs = 0;
  for (const auto& f : fs::directory_iterator(dir / "inputs")) {
    const auto x = read_f32(f.path().string());
    const auto want = read_f32((dir / "outputs" / f.path().filename()).string());  // TF.js logits
    const auto before = run1(q.before, x), after = run1(q.after, x);
    ASSERT_EQ(after.size(), want.size());
    EXPECT_LE(rel_diff(after, before), 1e-5) << f.path();
    EXPECT_LE(rel_diff(after, want), 1e-5) << f.path();
    ++inputs;
  }
  EXPECT_EQ(inputs, 6u);
  std::printf("[ ml5_darknet_tiny ] %zu pairs equalized in %d sweeps, %zu skipped\n", rep.pairs,
              rep.sweeps, rep.skipped.size());
}

}  // namespace
}  // namespace emc::converter
