// Hand-computed checks of the layer classes added for issue 11 (samples/models/layer_zoo checks
// them against TF.js's own output): SeparableConv2D with depth_multiplier 2, Subtract (no TF.js
// layer), merges, PReLU with shared axes, UpSampling2D, Cropping2D, Rescaling, ELU.
#include <gtest/gtest.h>

#include <cmath>

#include "emc/converter/passes.h"
#include "model_builder.h"

namespace emc::converter {
namespace {

using Json = nlohmann::json;
using testing::ModelBuilder;
using testing::run1;

TEST(ExecNewLayers, SeparableConvIsDepthwiseThenPointwiseThenBias) {
  // x = [3, 5] (1x1x2); depthwise m = 2: [3*1, 3*2, 5*3, 5*4] = [3, 6, 15, 20];
  // pointwise [4][1] = [1, 0, 1, 10]: 3 + 15 + 200 = 218; bias 0.5.
  ModelBuilder b;
  b.input("x", {1, 1, 2})
      .layer("SeparableConv2D", "s",
             {{"filters", 1}, {"kernel_size", {1, 1}}, {"depth_multiplier", 2},
              {"activation", "linear"}, {"use_bias", true}})
      .weight("s/depthwise_kernel", {1, 1, 2, 2}, {1, 2, 3, 4})
      .weight("s/pointwise_kernel", {1, 1, 4, 1}, {1, 0, 1, 10})
      .weight("s/bias", {1}, {0.5f});
  auto g = b.graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  EXPECT_EQ(run1(*g, {3, 5}), (std::vector<float>{218.5f}));
  ASSERT_EQ(g->nodes.size(), 2u);
  EXPECT_EQ(g->nodes[0].kind, NodeKind::kDepthwiseConv2D);
  EXPECT_EQ(g->nodes[1].kind, NodeKind::kConv2D);
  EXPECT_EQ(g->tensor(g->nodes[0].output).name, "s/depthwise");
}

TEST(ExecNewLayers, MergesEvaluateLeftToRight) {
  ModelBuilder b;
  b.input("a", {3}).input("c", {3});
  b.layer("Subtract", "sub", Json::object(), {"a", "c"})
      .layer("Multiply", "mul", Json::object(), {"a", "c"})
      .layer("Maximum", "mx", Json::object(), {"a", "c"})
      .layer("Minimum", "mn", Json::object(), {"a", "c"})
      .layer("Average", "av", Json::object(), {"a", "c", "sub"})
      .layer("Concatenate", "out", {{"axis", -1}}, {"sub", "mul", "mx", "mn", "av"});
  auto g = b.graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  auto r = run_float(*g, {Tensor{{{3}}, {1, -2, 4}}, Tensor{{{3}}, {3, 5, -1}}});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  // sub = [-2, -7, 5]; mul = [3, -10, -4]; max = [3, 5, 4]; min = [1, -2, -1];
  // avg of (a, c, sub) = float(1/3) * [2, -4, 8].
  const float third = static_cast<float>(1.0 / 3.0);
  EXPECT_EQ((*r)[0].data,
            (std::vector<float>{-2, -7, 5, 3, -10, -4, 3, 5, 4, 1, -2, -1, third * 2, third * -4,
                                third * 8}));
  ModelBuilder s;
  s.input("a", {1}).input("c", {1}).input("d", {1});
  s.layer("Subtract", "sub", Json::object(), {"a", "c", "d"});
  ASSERT_FALSE(s.graph().ok());
}

TEST(ExecNewLayers, PReluSharedAxesBroadcastsAlphaPerChannel) {
  // [1, 2, 2] input, shared_axes [1, 2]: alpha [1, 1, 2] = [0.5, 0.25].
  ModelBuilder b;
  b.input("x", {1, 2, 2}).layer("PReLU", "p", {{"shared_axes", {1, 2}}})
      .weight("p/alpha", {1, 1, 2}, {0.5f, 0.25f});
  auto g = b.graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  EXPECT_EQ(run1(*g, {-4, -4, 2, -8}), (std::vector<float>{-2, -1, 2, -2}));
}

TEST(ExecNewLayers, UpSamplingRepeatsAndCroppingCuts) {
  // [1, 2, 1] = [1, 2] -> size (2, 3) -> [2, 6, 1] rows 1 1 1 2 2 2; crop ((1, 0), (2, 1)) keeps
  // row 1, columns 2..4: [1, 2, 2].
  ModelBuilder b;
  b.input("x", {1, 2, 1})
      .layer("UpSampling2D", "u", {{"size", {2, 3}}, {"interpolation", "nearest"}})
      .layer("Cropping2D", "c", {{"cropping", {{1, 0}, {2, 1}}}});
  auto g = b.graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  EXPECT_EQ(g->shape(g->find_tensor("u")), (Shape{{2, 6, 1}}));
  EXPECT_EQ(run1(*g, {1, 2}), (std::vector<float>{1, 2, 2}));
  ModelBuilder bl;
  bl.input("x", {1, 2, 1}).layer("UpSampling2D", "u", {{"interpolation", "bilinear"}});
  ASSERT_FALSE(bl.graph().ok());
  EXPECT_NE(bl.graph().error().to_string().find("'nearest'"), std::string::npos);
}

TEST(ExecNewLayers, RescalingIsTwoFloat32OpsAndEluUsesAlpha) {
  ModelBuilder b;
  b.input("x", {2})
      .layer("Rescaling", "r", {{"scale", 1.0 / 255.0}, {"offset", -0.5}})
      .layer("ELU", "e", {{"alpha", 2.0}});
  auto g = b.graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  const float s = static_cast<float>(1.0 / 255.0);
  const float r0 = 255.0f * s - 0.5f, r1 = 51.0f * s - 0.5f;  // 0.5, -0.3
  EXPECT_EQ(run1(*g, {255, 51}),
            (std::vector<float>{r0, static_cast<float>(2.0 * (std::exp(double{r1}) - 1.0))}));
  // The fused graph (Rescaling fused into nothing: an Activation after an Activation stays).
  auto f = optimize_graph(*g);
  ASSERT_TRUE(f.ok()) << f.error().to_string();
}

}  // namespace
}  // namespace emc::converter
