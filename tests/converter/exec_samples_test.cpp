// The float executor against TF.js's own outputs for every sample model in samples/models/
// (reference.json + refs/<case>/<layer>.f32 written by samples/tfjs/make_samples.js).
#include <gtest/gtest.h>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "emc/converter/passes.h"
#include "frontend_test_util.h"

namespace emc::converter {
namespace {

namespace fs = std::filesystem;
using testing::max_abs_diff;
using testing::read_f32;

std::vector<fs::path> sample_dirs() {
  std::vector<fs::path> out;
  const fs::path root = fs::path(testing::source_dir()) / "samples" / "models";
  if (!fs::exists(root)) return out;
  for (const auto& e : fs::directory_iterator(root))
    if (fs::exists(e.path() / "reference.json") && fs::exists(e.path() / "model.json"))
      out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

class SampleTest : public ::testing::TestWithParam<fs::path> {};

TEST_P(SampleTest, FloatExecutorMatchesTfjsLayerByLayer) {
  const fs::path dir = GetParam();
  auto model = load_tfjs_model((dir / "model.json").string());
  ASSERT_TRUE(model.ok()) << model.error().to_string();
  auto graph = build_graph(*model);
  ASSERT_TRUE(graph.ok()) << graph.error().to_string();
  auto ex = FloatExecutor::create(*graph);
  ASSERT_TRUE(ex.ok()) << ex.error().to_string();

  std::ifstream in(dir / "reference.json");
  const auto ref = nlohmann::json::parse(in);
  const double tol = ref.value("tolerance", 1e-4);
  ASSERT_LE(tol, 1e-4);
  int layers_checked = 0;
  double worst = 0;
  std::string worst_name = "-";
  for (const auto& c : ref.at("cases")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    Tensor input{graph->shape(graph->inputs[0]), read_f32((dir / c.at("input_tensor")).string())};
    ASSERT_EQ(static_cast<std::int64_t>(input.data.size()), input.shape.num_elements());
    auto all = ex->run({input}, RunOptions{true});
    ASSERT_TRUE(all.ok()) << all.error().to_string();
    const auto& expected = c.at("output").get<std::vector<float>>();
    const Tensor& out = (*all)[static_cast<std::size_t>(graph->outputs[0])];
    const double out_diff = max_abs_diff(out.data, expected);
    EXPECT_LE(out_diff, tol);
    if (out_diff > worst) {
      worst = out_diff;
      worst_name = "model output";
    }
    // A model with several outputs: every one, by its name, in the model's output order.
    if (c.contains("outputs")) {
      const auto& outs = c.at("outputs");
      ASSERT_EQ(outs.size(), graph->outputs.size());
      for (std::size_t o = 0; o < outs.size(); ++o) {
        const TensorId t = graph->outputs[o];
        EXPECT_EQ(graph->tensor(t).name, outs[o].at("name").get<std::string>()) << "output " << o;
        const double d = max_abs_diff((*all)[static_cast<std::size_t>(t)].data,
                                      outs[o].at("output").get<std::vector<float>>());
        EXPECT_LE(d, tol) << "output " << o;
        if (d > worst) {
          worst = d;
          worst_name = "model output " + std::to_string(o);
        }
      }
    }
    if (!c.contains("layers")) continue;
    for (const auto& l : c.at("layers")) {
      const std::string name = l.at("name");
      SCOPED_TRACE(name);
      TensorId id = graph->find_tensor(name);
      ASSERT_NE(id, kNoTensor) << "no tensor for layer " << name;
      const auto want = read_f32((dir / l.at("file").get<std::string>()).string());
      const double diff = max_abs_diff((*all)[static_cast<std::size_t>(id)].data, want);
      EXPECT_LE(diff, tol);
      if (diff > worst) {
        worst = diff;
        worst_name = name;
      }
      ++layers_checked;
    }
  }
  EXPECT_GT(layers_checked, 0) << "reference.json has no per-layer refs";
  std::printf("  %s: max |ours - TF.js| over %d layer tensors and the outputs: %.3g (%s)\n",
              dir.filename().string().c_str(), layers_checked, worst, worst_name.c_str());

  // The optimized graph (BN folded, activations fused, pads merged, dropout dropped) computes the
  // same outputs within 1e-5.
  auto fused = optimize_graph(*graph);
  ASSERT_TRUE(fused.ok()) << fused.error().to_string();
  // (split_merges adds a node per merge input beyond the second.)
  std::size_t split_extra = 0;
  for (const Node& n : graph->nodes)
    split_extra += n.inputs.size() > 2 && n.kind != NodeKind::kConcat ? n.inputs.size() - 2 : 0;
  EXPECT_LE(fused->nodes.size(), graph->nodes.size() + split_extra);
  for (const auto& c : ref.at("cases")) {
    Tensor input{graph->shape(graph->inputs[0]), read_f32((dir / c.at("input_tensor")).string())};
    auto a = ex->run({input});
    auto b = run_float(*fused, {input});
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_EQ(a->size(), b->size());
    for (std::size_t o = 0; o < a->size(); ++o)
      EXPECT_LE(max_abs_diff((*a)[o].data, (*b)[o].data), 1e-5) << c.at("name") << " output " << o;
  }
}

INSTANTIATE_TEST_SUITE_P(Samples, SampleTest, ::testing::ValuesIn(sample_dirs()),
                         [](const auto& p) { return p.param.filename().string(); });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(SampleTest);

}  // namespace
}  // namespace emc::converter
