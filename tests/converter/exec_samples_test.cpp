// The float executor against TF.js's own outputs for every sample model in samples/models/
// (reference.json + refs/<case>/<layer>.f32 written by samples/tfjs/make_samples.js).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "emc/converter/passes.h"
#include "frontend_test_util.h"

namespace emc::converter {
namespace {

namespace fs = std::filesystem;
using testing::max_abs_diff;
using testing::read_f32;

// Largest |a - b| divided by max(1, max |b| over the tensor): the sample tolerance is absolute for
// tensors within [-1, 1] and scales with the tensor's magnitude beyond (float32 summation-order
// noise grows with the size of the terms summed: the mobilenet_v1_025 logits, |x| up to 7.8,
// differ from TF.js by up to 1.2e-4 where large products cancel).
double max_scaled_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return 1e30;
  double scale = 1.0;
  for (float v : b) scale = std::max(scale, std::abs(static_cast<double>(v)));
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    m = std::max(m, std::abs(static_cast<double>(a[i]) - b[i]));
  return m / scale;
}

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
  for (const auto& c : ref.at("cases")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    Tensor input{graph->shape(graph->inputs[0]), read_f32((dir / c.at("input_tensor")).string())};
    ASSERT_EQ(static_cast<std::int64_t>(input.data.size()), input.shape.num_elements());
    auto all = ex->run({input}, RunOptions{true});
    ASSERT_TRUE(all.ok()) << all.error().to_string();
    const auto& expected = c.at("output").get<std::vector<float>>();
    const Tensor& out = (*all)[static_cast<std::size_t>(graph->outputs[0])];
    EXPECT_LE(max_scaled_diff(out.data, expected), tol);
    if (!c.contains("layers")) continue;
    for (const auto& l : c.at("layers")) {
      const std::string name = l.at("name");
      SCOPED_TRACE(name);
      TensorId id = graph->find_tensor(name);
      ASSERT_NE(id, kNoTensor) << "no tensor for layer " << name;
      const auto want = read_f32((dir / l.at("file").get<std::string>()).string());
      EXPECT_LE(max_scaled_diff((*all)[static_cast<std::size_t>(id)].data, want), tol);
      ++layers_checked;
    }
  }
  EXPECT_GT(layers_checked, 0) << "reference.json has no per-layer refs";

  // The optimized graph (BN folded, activations fused, pads merged, dropout dropped) computes the
  // same outputs within 1e-5.
  auto fused = optimize_graph(*graph);
  ASSERT_TRUE(fused.ok()) << fused.error().to_string();
  EXPECT_LE(fused->nodes.size(), graph->nodes.size());
  for (const auto& c : ref.at("cases")) {
    Tensor input{graph->shape(graph->inputs[0]), read_f32((dir / c.at("input_tensor")).string())};
    auto a = ex->run({input});
    auto b = run_float(*fused, {input});
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_LE(max_abs_diff((*a)[0].data, (*b)[0].data), 1e-5) << c.at("name");
  }
}

INSTANTIATE_TEST_SUITE_P(Samples, SampleTest, ::testing::ValuesIn(sample_dirs()),
                         [](const auto& p) { return p.param.filename().string(); });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(SampleTest);

}  // namespace
}  // namespace emc::converter
