// Passes: each rewrite keeps the computed values (checked against the unfused graph and by hand)
// and records provenance.
#include <gtest/gtest.h>

#include <random>

#include "emc/converter/passes.h"
#include "model_builder.h"

namespace emc::converter {
namespace {

using Json = nlohmann::json;
using testing::max_abs_diff;
using testing::ModelBuilder;
using testing::randv;
using testing::run1;

// pad -> conv(no bias) -> bn -> relu6 ; pad -> depthwise -> bn -> ReLU ; dropout ; dense+bn
ModelBuilder mobilenet_like() {
  ModelBuilder b;
  b.input("x", {6, 6, 3})
      .layer("ZeroPadding2D", "pad1", {{"padding", {{0, 1}, {0, 1}}}})
      .layer("Conv2D", "conv1",
             {{"filters", 4}, {"kernel_size", 3}, {"strides", 2}, {"use_bias", false}})
      .weight("conv1/kernel", {3, 3, 3, 4}, randv(108, 1))
      .layer("BatchNormalization", "bn1", {{"epsilon", 0.001}})
      .weight("bn1/gamma", {4}, randv(4, 2, 0.5, 1.5))
      .weight("bn1/beta", {4}, randv(4, 3))
      .weight("bn1/moving_mean", {4}, randv(4, 4))
      .weight("bn1/moving_variance", {4}, randv(4, 5, 0.5, 2))
      .layer("ReLU", "relu1", {{"max_value", 6.0}})
      .layer("ZeroPadding2D", "pad2", {{"padding", 1}})
      .layer("DepthwiseConv2D", "dw", {{"kernel_size", 3}, {"use_bias", true}})
      .weight("dw/depthwise_kernel", {3, 3, 4, 1}, randv(36, 6))
      .weight("dw/bias", {4}, randv(4, 7))
      .layer("BatchNormalization", "bn2", Json::object())
      .weight("bn2/gamma", {4}, randv(4, 8, 0.5, 1.5))
      .weight("bn2/beta", {4}, randv(4, 9))
      .weight("bn2/moving_mean", {4}, randv(4, 10))
      .weight("bn2/moving_variance", {4}, randv(4, 11, 0.5, 2))
      .layer("Activation", "act2", {{"activation", "relu"}})
      .layer("Dropout", "drop", {{"rate", 0.5}})
      .layer("Flatten", "flat", Json::object())
      .layer("Dense", "fc", {{"units", 3}})
      .weight("fc/kernel", {36, 3}, randv(108, 12))
      .weight("fc/bias", {3}, randv(3, 13))
      .layer("BatchNormalization", "bn3", Json::object())
      .weight("bn3/gamma", {3}, randv(3, 14, 0.5, 1.5))
      .weight("bn3/beta", {3}, randv(3, 15))
      .weight("bn3/moving_mean", {3}, randv(3, 16))
      .weight("bn3/moving_variance", {3}, randv(3, 17, 0.5, 2));
  return b;
}

TEST(Passes, OptimizeGraphFusesEverythingAndKeepsValues) {
  auto g = mobilenet_like().graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  auto f = optimize_graph(*g);
  ASSERT_TRUE(f.ok()) << f.error().to_string();
  // conv(pad1+conv1+bn1+relu1), dw(pad2+dw+bn2+act2+drop), flatten, dense(fc+bn3)
  ASSERT_EQ(f->nodes.size(), 4u);
  EXPECT_EQ(f->nodes[0].source_layers, (std::vector<std::string>{"pad1", "conv1", "bn1", "relu1"}));
  EXPECT_EQ(f->nodes[0].source.name, "conv1");
  EXPECT_EQ(f->nodes[0].pad, (Padding4{0, 1, 0, 1}));
  EXPECT_TRUE(f->nodes[0].activation.is_relu6());
  EXPECT_TRUE(f->nodes[0].has_bias());  // folded BN gives the conv a bias
  EXPECT_EQ(f->nodes[1].source_layers,
            (std::vector<std::string>{"pad2", "dw", "bn2", "act2", "drop"}));
  EXPECT_EQ(f->tensor(f->nodes[1].output).name, "drop");
  EXPECT_EQ(f->nodes[3].source_layers, (std::vector<std::string>{"fc", "bn3"}));
  for (std::uint32_t seed = 0; seed < 4; ++seed) {
    auto x = randv(108, 100 + seed, -2, 2);
    EXPECT_LE(max_abs_diff(run1(*g, x), run1(*f, x)), 1e-5);
  }
}

TEST(Passes, MergesOfMoreThanTwoInputsBecomeChainsWithTheSameValues) {
  // Add(a, b, c, d) -> ((a + b) + c) + d, as Keras folds its inputs; bit-identical in float32.
  // Maximum, Multiply, Minimum likewise; Average of 4 = Add, Add, then Average(., .) of 4.
  for (const char* cls : {"Add", "Maximum", "Multiply", "Minimum", "Average"}) {
    SCOPED_TRACE(cls);
    ModelBuilder b;
    b.input("x", {2, 3, 2});
    std::vector<std::string> in;
    for (int i = 0; i < 4; ++i) {
      const std::string name = "d" + std::to_string(i);
      b.layer("Dense", name, {{"units", 2}}, {"x"})
          .weight(name + "/kernel", {2, 2}, randv(4, 10 + i))
          .weight(name + "/bias", {2}, randv(2, 20 + i));
      in.push_back(name);
    }
    b.layer(cls, "m", Json::object(), in);
    b.layer("Activation", "act", {{"activation", "relu"}}, {"m"});
    auto g = b.graph();
    ASSERT_TRUE(g.ok()) << g.error().to_string();
    auto s = split_merges(*g);
    ASSERT_TRUE(s.ok()) << s.error().to_string();
    int merges = 0;
    for (const Node& n : s->nodes) {
      if (n.kind != NodeKind::kDense && n.kind != NodeKind::kActivation) {
        ++merges;
        EXPECT_EQ(n.source.name, "m");
      }
    }
    EXPECT_EQ(merges, 3);
    EXPECT_NE(s->find_tensor("m/partial_1"), kNoTensor);
    EXPECT_NE(s->find_tensor("m/partial_2"), kNoTensor);
    const Node& end = s->nodes[s->nodes.size() - 2];
    EXPECT_EQ(end.output, s->find_tensor("m"));
    if (std::string(cls) == "Average") {
      EXPECT_EQ(s->nodes[s->nodes.size() - 4].kind, NodeKind::kAdd);
      EXPECT_EQ(end.kind, NodeKind::kAverage);
      EXPECT_EQ(end.average_of, 4);
    }
    const std::vector<float> x = randv(12, 30, -2, 2);
    EXPECT_EQ(run1(*g, x), run1(*s, x));
    auto o = optimize_graph(*g);
    ASSERT_TRUE(o.ok()) << o.error().to_string();
    EXPECT_EQ(run1(*g, x), run1(*o, x));
  }
}

TEST(Passes, FoldBatchNormByHand) {
  // conv 1x1 w=2 no bias, BN gamma 3 beta 1 mean 4 var 8 eps 1: s = 3/3 = 1
  // w' = 2, b' = (0 - 4)*1 + 1 = -3.
  ModelBuilder b;
  b.input("x", {1, 1, 1})
      .layer("Conv2D", "c", {{"filters", 1}, {"kernel_size", 1}, {"use_bias", false}})
      .weight("c/kernel", {1, 1, 1, 1}, {2})
      .layer("BatchNormalization", "bn", {{"epsilon", 1.0}})
      .weight("bn/gamma", {1}, {3})
      .weight("bn/beta", {1}, {1})
      .weight("bn/moving_mean", {1}, {4})
      .weight("bn/moving_variance", {1}, {8});
  auto g = b.graph();
  ASSERT_TRUE(g.ok());
  auto f = fold_batch_norm(*g);
  ASSERT_TRUE(f.ok()) << f.error().to_string();
  ASSERT_EQ(f->nodes.size(), 1u);
  EXPECT_EQ(f->nodes[0].kernel, (std::vector<float>{2}));
  EXPECT_EQ(f->nodes[0].bias, (std::vector<float>{-3}));
  EXPECT_EQ(run1(*f, {5}), (std::vector<float>{7}));  // 2*5 - 3
}

TEST(Passes, NoFusionAcrossABranchOrAGraphOutput) {
  // conv output read by BN and by an Add: BN cannot be folded (the raw conv output is needed).
  ModelBuilder b;
  b.input("x", {1, 1, 1})
      .layer("Conv2D", "c", {{"filters", 1}, {"kernel_size", 1}, {"use_bias", false}}, {"x"})
      .weight("c/kernel", {1, 1, 1, 1}, {2})
      .layer("BatchNormalization", "bn", Json::object(), {"c"})
      .weight("bn/gamma", {1}, {1})
      .weight("bn/beta", {1}, {1})
      .weight("bn/moving_mean", {1}, {0})
      .weight("bn/moving_variance", {1}, {1})
      .layer("Add", "add", Json::object(), {"c", "bn"});
  auto g = b.graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  auto f = optimize_graph(*g);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->nodes.size(), 3u);
  // And a conv that is itself a model output keeps its output when a relu follows.
  ModelBuilder o;
  o.input("x", {1, 1, 1})
      .layer("Conv2D", "c", {{"filters", 1}, {"kernel_size", 1}, {"use_bias", false}}, {"x"})
      .weight("c/kernel", {1, 1, 1, 1}, {-2})
      .layer("ReLU", "r", Json::object(), {"c"})
      .outputs({"c", "r"});
  auto go = o.graph();
  ASSERT_TRUE(go.ok());
  auto fo = fuse_activations(*go);
  ASSERT_TRUE(fo.ok());
  EXPECT_EQ(fo->nodes.size(), 2u);
}

TEST(Passes, ZeroPaddingIntoValidPoolCountsTheZeros) {
  // [-4] padded to 2x2 with zeros then 2x2 valid avg pool = -1 (zeros count), max pool = 0.
  for (const char* cls : {"AveragePooling2D", "MaxPooling2D"}) {
    ModelBuilder b;
    b.input("x", {1, 1, 1})
        .layer("ZeroPadding2D", "z", {{"padding", {{0, 1}, {0, 1}}}})
        .layer(cls, "p", {{"pool_size", 2}});
    auto g = b.graph();
    ASSERT_TRUE(g.ok()) << g.error().to_string();
    auto f = merge_zero_padding(*g);
    ASSERT_TRUE(f.ok()) << f.error().to_string();
    ASSERT_EQ(f->nodes.size(), 1u);
    EXPECT_EQ(f->nodes[0].pool_pad_mode, PoolPadMode::kZeros);
    const float want = std::string(cls) == "MaxPooling2D" ? 0.0f : -1.0f;
    EXPECT_EQ(run1(*g, {-4}), (std::vector<float>{want}));
    EXPECT_EQ(run1(*f, {-4}), (std::vector<float>{want}));
  }
  // A 'same' pool keeps its own (excluded) padding: the ZeroPadding2D stays.
  ModelBuilder s;
  s.input("x", {2, 2, 1})
      .layer("ZeroPadding2D", "z", {{"padding", 1}})
      .layer("MaxPooling2D", "p", {{"pool_size", 3}, {"padding", "same"}});
  auto gs = s.graph();
  ASSERT_TRUE(gs.ok());
  EXPECT_EQ(merge_zero_padding(*gs)->nodes.size(), 2u);
}

TEST(Passes, IdentityReshapeAndDropoutRemoved) {
  ModelBuilder b;
  b.input("x", {3})
      .layer("Reshape", "r", {{"target_shape", {3}}})
      .layer("Dropout", "d", {{"rate", 0.1}})
      .layer("Activation", "lin", {{"activation", "linear"}});
  auto g = b.graph();
  ASSERT_TRUE(g.ok());
  auto f = remove_identities(*g);
  ASSERT_TRUE(f.ok()) << f.error().to_string();
  EXPECT_TRUE(f->nodes.empty());
  EXPECT_EQ(f->outputs[0], f->inputs[0]);
  EXPECT_EQ(run1(*f, {1, 2, 3}), (std::vector<float>{1, 2, 3}));
}

}  // namespace
}  // namespace emc::converter
