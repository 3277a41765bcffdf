// The layer tables: longest match over chains, ties, branches, unsupported nodes.
#include <gtest/gtest.h>

#include "emc/converter/layer_table.h"
#include "emc/converter/passes.h"
#include "model_builder.h"

namespace emc::converter {
namespace {

using Json = nlohmann::json;
using testing::ModelBuilder;

ModelBuilder pad_conv_bn_relu_pool() {
  ModelBuilder b;
  b.input("x", {4, 4, 1})
      .layer("ZeroPadding2D", "pad", {{"padding", 1}})
      .layer("Conv2D", "conv", {{"filters", 1}, {"kernel_size", 3}, {"use_bias", false}})
      .weight("conv/kernel", {3, 3, 1, 1}, std::vector<float>(9, 1))
      .layer("BatchNormalization", "bn", Json::object())
      .weight("bn/gamma", {1}, {1})
      .weight("bn/beta", {1}, {0})
      .weight("bn/moving_mean", {1}, {0})
      .weight("bn/moving_variance", {1}, {1})
      .layer("ReLU", "relu", Json::object())
      .layer("MaxPooling2D", "pool", Json::object())
      .layer("Flatten", "flat", Json::object())
      .layer("Dense", "fc", {{"units", 2}, {"use_bias", false}})
      .weight("fc/kernel", {4, 2}, std::vector<float>(8, 1))
      .layer("Softmax", "sm", Json::object());
  return b;
}

TEST(LayerTable, K210LongestMatchTakesPadConvBnReluPool) {
  auto g = pad_conv_bn_relu_pool().graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  auto m = match_graph(*g, *Target::kK210->layers);
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  ASSERT_EQ(m->size(), 4u);
  EXPECT_EQ((*m)[0].name, "kpu_conv");
  EXPECT_EQ((*m)[0].nodes, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ((*m)[1].name, "flatten");
  EXPECT_EQ((*m)[2].name, "fully_connected");
  EXPECT_EQ((*m)[3].name, "softmax");
}

TEST(LayerTable, WorksOnTheFusedGraphToo) {
  auto g = pad_conv_bn_relu_pool().graph();
  ASSERT_TRUE(g.ok());
  auto f = optimize_graph(*g);
  ASSERT_TRUE(f.ok());
  auto m = match_graph(*f, *Target::kK210->layers);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ((*m)[0].name, "kpu_conv");
  EXPECT_EQ((*m)[0].nodes, (std::vector<int>{0, 1}));  // fused conv + pool
}

TEST(LayerTable, ABranchStopsTheChain) {
  // conv output read by two layers: the conv matches alone.
  ModelBuilder b;
  b.input("x", {2, 2, 1})
      .layer("Conv2D", "conv", {{"filters", 1}, {"kernel_size", 1}, {"use_bias", false}}, {"x"})
      .weight("conv/kernel", {1, 1, 1, 1}, {1})
      .layer("ReLU", "relu", Json::object(), {"conv"})
      .layer("Add", "add", Json::object(), {"conv", "relu"});
  auto g = b.graph();
  ASSERT_TRUE(g.ok());
  auto m = match_layer(*g, 0, *Target::kK210->layers);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->nodes, (std::vector<int>{0}));
  auto cpu = match_graph(*g, generic_cpu_layer_table());
  ASSERT_TRUE(cpu.ok());
  EXPECT_EQ(cpu->size(), 3u);
  EXPECT_EQ((*cpu)[0].name, "conv2d");
}

TEST(LayerTable, TablesAreDataWithAnEntryForEveryNodeKind) {
  for (const LayerTable* table : {Target::kK210->layers, &generic_cpu_layer_table()}) {
    const auto& t = table->rules;
    ASSERT_FALSE(t.empty());
    // Every kind (the last row of node_kinds.def is kCrop) starts a rule on both targets.
    for (int k = 0; k <= static_cast<int>(NodeKind::kCrop); ++k) {
      bool starts = false;
      for (const auto& r : t)
        for (const auto& s : r.steps) {
          if (std::find(s.kinds.begin(), s.kinds.end(), static_cast<NodeKind>(k)) != s.kinds.end())
            starts = true;
          if (!s.optional) break;
        }
      EXPECT_TRUE(starts) << "no rule can start with " << to_string(static_cast<NodeKind>(k));
    }
  }
}

}  // namespace
}  // namespace emc::converter
