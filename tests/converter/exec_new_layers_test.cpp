// Hand-computed checks of the layer classes added for issue 11 (samples/models/layer_zoo checks
// them against TF.js's own output): SeparableConv2D with depth_multiplier 2, Subtract (no TF.js
// layer), merges, PReLU with shared axes, UpSampling2D, Cropping2D, Rescaling, ELU; and Keras
// Normalization against the examples of Keras's own documentation of the layer.
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
             {{"filters", 1},
              {"kernel_size", {1, 1}},
              {"depth_multiplier", 2},
              {"activation", "linear"},
              {"use_bias", true}})
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
  EXPECT_EQ((*r)[0].data, (std::vector<float>{-2, -7, 5, 3, -10, -4, 3, 5, 4, 1, -2, -1, third * 2,
                                              third * -4, third * 8}));
  ModelBuilder s;
  s.input("a", {1}).input("c", {1}).input("d", {1});
  s.layer("Subtract", "sub", Json::object(), {"a", "c", "d"});
  ASSERT_FALSE(s.graph().ok());
}

TEST(ExecNewLayers, PReluSharedAxesBroadcastsAlphaPerChannel) {
  // [1, 2, 2] input, shared_axes [1, 2]: alpha [1, 1, 2] = [0.5, 0.25].
  ModelBuilder b;
  b.input("x", {1, 2, 2})
      .layer("PReLU", "p", {{"shared_axes", {1, 2}}})
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

// Keras's Normalization docstring: adapt on [[0,7,4],[2,9,6],[0,7,4],[2,9,6]] (mean [1, 8, 5],
// variance [1, 1, 1]) maps [0, 7, 4] to [-1, -1, -1]; with invert=True, [1, 2, 3] to
// [2, 10, 8]; mean=3., variance=2. maps [1], [2], [3] to -1.4142135, -0.70710677, 0.
TEST(ExecNewLayers, NormalizationReproducesKerasDocumentedExamples) {
  ModelBuilder adapted;
  adapted.input("x", {3})
      .layer("Normalization", "n", {{"axis", {-1}}, {"mean", nullptr}, {"variance", nullptr}})
      .weight("n/mean", {3}, {1, 8, 5})
      .weight("n/variance", {3}, {1, 1, 1})
      .weight("n/count", {}, {4});
  auto g = adapted.graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  EXPECT_EQ(run1(*g, {0, 7, 4}), (std::vector<float>{-1, -1, -1}));

  ModelBuilder inverted;
  inverted.input("x", {3})
      .layer("Normalization", "n", {{"axis", -1}, {"invert", true}})
      .weight("n/mean", {3}, {1, 8, 5})
      .weight("n/variance", {3}, {1, 1, 1});
  g = inverted.graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  EXPECT_EQ(run1(*g, {1, 2, 3}), (std::vector<float>{2, 10, 8}));

  // Constructor statistics (no weights), a scalar broadcast over the channel.
  for (float x : {1.0f, 2.0f, 3.0f}) {
    ModelBuilder given;
    given.input("x", {1}).layer("Normalization", "n", {{"mean", 3.0}, {"variance", 2.0}});
    g = given.graph();
    ASSERT_TRUE(g.ok()) << g.error().to_string();
    const std::vector<float> y = run1(*g, {x});
    ASSERT_EQ(y.size(), 1u);
    EXPECT_NEAR(y[0], (x - 3.0) / std::sqrt(2.0), 1e-7) << x;
  }
  EXPECT_NEAR(run1(*g, {1})[0], -1.4142135f, 1e-6);

  // A scalar mean with a variance per channel broadcasts, as in Keras: (x - 2) / [1, 2].
  ModelBuilder broadcast;
  broadcast.input("x", {2}).layer("Normalization", "n", {{"mean", 2.0}, {"variance", {1.0, 4.0}}});
  g = broadcast.graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  EXPECT_EQ(run1(*g, {3, 3}), (std::vector<float>{1.0f, 0.5f}));
}

TEST(ExecNewLayers, NormalizationAxisNoneAndZeroVariance) {
  // axis None (Keras writes the empty tuple): one scalar mean / variance for a [1, 2, 2] map;
  // adapt([1, 2, 3, 4, 5]) stores mean 3, variance 2 (Keras's axis=None docstring example).
  ModelBuilder scalar;
  scalar.input("x", {1, 2, 2})
      .layer("Normalization", "n", {{"axis", nlohmann::json::array()}})
      .weight("n/mean", {}, {3})
      .weight("n/variance", {}, {2});
  auto g = scalar.graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  const float r2 = static_cast<float>(1.0 / std::sqrt(2.0));
  EXPECT_EQ(run1(*g, {1, 5, 3, 2}),
            (std::vector<float>{static_cast<float>(-2.0 / std::sqrt(2.0)),
                                static_cast<float>(2.0 / std::sqrt(2.0)), 0.0f, -r2}));
  // A zero variance divides by Keras's epsilon 1e-7 (max(sqrt(var), epsilon)).
  ModelBuilder zero;
  zero.input("x", {2})
      .layer("Normalization", "n", {{"axis", -1}})
      .weight("n/mean", {2}, {1, 0})
      .weight("n/variance", {2}, {0, 1e-16f});
  g = zero.graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  const std::vector<float> y = run1(*g, {1.5f, 3e-7f});
  ASSERT_EQ(y.size(), 2u);
  EXPECT_NEAR(y[0], 5e6, 1.0);
  EXPECT_NEAR(y[1], 3.0, 1e-6);
}

TEST(ExecNewLayers, NormalizationFormsEmcCannotComputeAreRefusedNamingTheLayer) {
  auto error_of = [](nlohmann::json config, std::vector<int> shape) {
    ModelBuilder b;
    b.input("x", shape).layer("Normalization", "norm", std::move(config));
    auto g = b.graph();
    return g.ok() ? std::string("ok") : g.error().to_string();
  };
  // Per position (several axes, or an axis other than the last).
  std::string e = error_of({{"axis", {1, 2, 3}}, {"mean", 0.0}, {"variance", 1.0}}, {2, 2, 3});
  EXPECT_NE(e.find("norm"), std::string::npos) << e;
  EXPECT_NE(e.find("per channel"), std::string::npos) << e;
  e = error_of({{"axis", 1}, {"mean", 0.0}, {"variance", 1.0}}, {2, 2, 3});
  EXPECT_NE(e.find("not supported"), std::string::npos) << e;
  e = error_of({{"mean", {1.0, 2.0}}}, {2});
  EXPECT_NE(e.find("'mean' and 'variance' must both be given"), std::string::npos) << e;
  e = error_of({{"mean", {1.0, 2.0}}, {"variance", {1.0, 1.0}}}, {3});
  EXPECT_NE(e.find("'mean' has 2 values for 3 channels"), std::string::npos) << e;
  e = error_of({{"mean", 0.0}, {"variance", -1.0}}, {3});
  EXPECT_NE(e.find("variance >= 0"), std::string::npos) << e;
  // Finite as a double, infinite as the float32 Keras computes with.
  e = error_of({{"mean", 1e39}, {"variance", 1.0}}, {3});
  EXPECT_NE(e.find("not a finite float32 mean"), std::string::npos) << e;
  // Adapted statistics that are missing: the weight is named.
  e = error_of({{"axis", -1}}, {3});
  EXPECT_NE(e.find("'norm/mean'"), std::string::npos) << e;
}

}  // namespace
}  // namespace emc::converter
