// The real third-party TF.js models in ../shared/models (SOURCES.md there) import and the float
// executor gives TF.js 4.22's stored outputs (CPU backend) on every reference input. A missing
// folder fails: these are the models users bring.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "frontend_test_util.h"

namespace emc::converter {
namespace {

namespace fs = std::filesystem;

class RealModelImport : public ::testing::TestWithParam<const char*> {};

TEST_P(RealModelImport, FloatExecutorGivesTfjsOutputs) {
  const fs::path dir = fs::path(testing::source_dir()) / ".." / "shared" / "models" / GetParam();
  ASSERT_TRUE(fs::exists(dir / "model.json")) << "missing " << dir;
  auto model = load_tfjs_model((dir / "model.json").string());
  ASSERT_TRUE(model.ok()) << model.error().to_string();
  auto graph = build_graph(*model);
  ASSERT_TRUE(graph.ok()) << graph.error().to_string();
  auto ex = FloatExecutor::create(*graph);
  ASSERT_TRUE(ex.ok()) << ex.error().to_string();
  std::ifstream index(dir / "index.jsonl");
  ASSERT_TRUE(index) << "missing index.jsonl in " << dir;
  int cases = 0;
  double worst = 0;
  for (std::string line; std::getline(index, line);) {
    if (line.empty()) continue;
    const auto entry = nlohmann::json::parse(line);
    Tensor x{graph->shape(graph->inputs[0]),
             testing::read_f32((dir / entry.at("input").get<std::string>()).string())};
    ASSERT_EQ(static_cast<std::int64_t>(x.data.size()), x.shape.num_elements());
    auto y = ex->run({x});
    ASSERT_TRUE(y.ok()) << y.error().to_string();
    const auto want = testing::read_f32((dir / entry.at("output").get<std::string>()).string());
    const double d = testing::max_abs_diff((*y)[0].data, want);
    EXPECT_LE(d, 1e-4) << entry.at("input");
    worst = std::max(worst, d);
    ++cases;
  }
  EXPECT_GE(cases, 3);
  std::printf("  %s: %d inputs, max |ours - TF.js| %.3g\n", GetParam(), cases, worst);
}

INSTANTIATE_TEST_SUITE_P(SharedModels, RealModelImport,
                         ::testing::Values("ml5_darknet_tiny", "neuralnetvis_cifar10",
                                           "tupleblog_gender"));

}  // namespace
}  // namespace emc::converter
