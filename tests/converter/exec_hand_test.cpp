// Float executor on small layers whose outputs were computed by hand (values in comments).
#include <gtest/gtest.h>

#include <cmath>

#include "model_builder.h"

namespace emc::converter {
namespace {

using testing::ModelBuilder;
using testing::run1;
using Json = nlohmann::json;

std::vector<float> iota(int n, float start = 1.0f, float step = 1.0f) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = start + step * static_cast<float>(i);
  return v;
}

TEST(ExecHand, ConvSameStride2OnEvenInputPadsBottomRight) {
  // 4x4x1 input 1..16, 3x3 all-ones kernel, stride 2, 'same': out 2x2, pad total
  // (2-1)*2+3-4 = 1 -> top/left 0, bottom/right 1 (TF puts the odd pixel at the end).
  // (0,0)=1+2+3+5+6+7+9+10+11=54  (0,1)=3+4+7+8+11+12=45  (1,0)=9+10+11+13+14+15=72
  // (1,1)=11+12+15+16=54.  A symmetric pad of 1 would give (0,0)=1+2+5+6=14.
  ModelBuilder b;
  b.input("x", {4, 4, 1})
      .layer("Conv2D", "c",
             {{"filters", 1},
              {"kernel_size", {3, 3}},
              {"strides", {2, 2}},
              {"padding", "same"},
              {"use_bias", false}})
      .weight("c/kernel", {3, 3, 1, 1}, std::vector<float>(9, 1.0f));
  auto g = b.graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  EXPECT_EQ(g->nodes[0].pad, (Padding4{0, 1, 0, 1}));
  EXPECT_EQ(run1(*g, iota(16)), (std::vector<float>{54, 45, 72, 54}));
}

TEST(ExecHand, ConvValidWithBiasAndDilation) {
  // 5x1 input (H=5, W=1, C=1) 1..5, kernel 2x1 [1, 10] dilation 2, valid, bias 0.5:
  // y0 = 1*1 + 3*10 + .5 = 31.5, y1 = 2 + 40 + .5 = 42.5, y2 = 3 + 50 + .5 = 53.5
  ModelBuilder b;
  b.input("x", {5, 1, 1})
      .layer("Conv2D", "c",
             {{"filters", 1},
              {"kernel_size", {2, 1}},
              {"dilation_rate", {2, 1}},
              {"padding", "valid"}})
      .weight("c/kernel", {2, 1, 1, 1}, {1, 10})
      .weight("c/bias", {1}, {0.5f});
  auto g = b.graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  EXPECT_EQ(run1(*g, iota(5)), (std::vector<float>{31.5f, 42.5f, 53.5f}));
}

TEST(ExecHand, ConvMultiChannelHwioLayout) {
  // 1x1 input with 2 channels [2, 3]; 1x1 kernel HWIO [cin][cout] = [[1, 2, 3], [4, 5, 6]]:
  // out = [2*1+3*4, 2*2+3*5, 2*3+3*6] = [14, 19, 24]
  ModelBuilder b;
  b.input("x", {1, 1, 2})
      .layer("Conv2D", "c", {{"filters", 3}, {"kernel_size", 1}, {"use_bias", false}})
      .weight("c/kernel", {1, 1, 2, 3}, {1, 2, 3, 4, 5, 6});
  auto g = b.graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  EXPECT_EQ(run1(*g, {2, 3}), (std::vector<float>{14, 19, 24}));
}

TEST(ExecHand, DepthwiseMultiplierOrdersChannelsCTimesM) {
  // input [3, 5], kernel [1][1][c][m] = [[1, 2], [3, 4]] -> [3*1, 3*2, 5*3, 5*4] + bias [0,0,0,1]
  ModelBuilder b;
  b.input("x", {1, 1, 2})
      .layer("DepthwiseConv2D", "d", {{"kernel_size", {1, 1}}, {"depth_multiplier", 2}})
      .weight("d/depthwise_kernel", {1, 1, 2, 2}, {1, 2, 3, 4})
      .weight("d/bias", {4}, {0, 0, 0, 1});
  auto g = b.graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  EXPECT_EQ(run1(*g, {3, 5}), (std::vector<float>{3, 6, 15, 21}));
}

TEST(ExecHand, AveragePoolSameExcludesPadding) {
  // 3x3 input 1..9, 2x2 stride 2 'same': pad bottom/right 1. (0,0)=(1+2+4+5)/4=3,
  // (0,1)=(3+6)/2=4.5, (1,0)=(7+8)/2=7.5, (1,1)=9/1=9.
  ModelBuilder b;
  b.input("x", {3, 3, 1})
      .layer("AveragePooling2D", "p",
             {{"pool_size", {2, 2}}, {"strides", {2, 2}}, {"padding", "same"}});
  auto g = b.graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  EXPECT_EQ(run1(*g, iota(9)), (std::vector<float>{3, 4.5f, 7.5f, 9}));
}

TEST(ExecHand, MaxPoolSameIgnoresPaddingForNegativeInputs) {
  // -1..-9, 2x2/2 same: (0,0)=max(-1,-2,-4,-5)=-1, (0,1)=-3, (1,0)=-7, (1,1)=-9 (not 0).
  ModelBuilder b;
  b.input("x", {3, 3, 1}).layer("MaxPooling2D", "p", {{"pool_size", {2, 2}}, {"padding", "same"}});
  auto g = b.graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  EXPECT_EQ(run1(*g, iota(9, -1, -1)), (std::vector<float>{-1, -3, -7, -9}));
}

TEST(ExecHand, MaxPoolDefaultsValidStrideEqualsPool) {
  // 4x4 1..16, default pool 2x2 stride 2 valid -> [6, 8, 14, 16]
  ModelBuilder b;
  b.input("x", {4, 4, 1}).layer("MaxPooling2D", "p", Json::object());
  auto g = b.graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  EXPECT_EQ(run1(*g, iota(16)), (std::vector<float>{6, 8, 14, 16}));
}

TEST(ExecHand, ZeroPaddingAsymmetric) {
  // 1x1 input [7], padding ((0,1),(2,0)) -> 2x3: [0,0,7, 0,0,0]
  ModelBuilder b;
  b.input("x", {1, 1, 1}).layer("ZeroPadding2D", "z", {{"padding", {{0, 1}, {2, 0}}}});
  auto g = b.graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  EXPECT_EQ(g->shape(g->outputs[0]), (Shape{{2, 3, 1}}));
  EXPECT_EQ(run1(*g, {7}), (std::vector<float>{0, 0, 7, 0, 0, 0}));
}

TEST(ExecHand, BatchNormFormulaAndCenterScaleFalse) {
  // y = gamma*(x-mean)/sqrt(var+eps)+beta: x=2, gamma 2, beta 1, mean 1, var 3, eps 1 -> 2
  // second channel (scale=false, center=false variant below): (x-mean)/sqrt(var+eps)
  ModelBuilder b;
  b.input("x", {1, 1, 1})
      .layer("BatchNormalization", "bn", {{"epsilon", 1.0}, {"axis", -1}})
      .weight("bn/gamma", {1}, {2})
      .weight("bn/beta", {1}, {1})
      .weight("bn/moving_mean", {1}, {1})
      .weight("bn/moving_variance", {1}, {3});
  auto g = b.graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  EXPECT_EQ(run1(*g, {2}), (std::vector<float>{2}));

  // center=false, scale=false: (10 - 2) / sqrt(15 + 1) = 2
  ModelBuilder b2;
  b2.input("x", {1, 1, 1})
      .layer("BatchNormalization", "bn", {{"epsilon", 1.0}, {"center", false}, {"scale", false}})
      .weight("bn/moving_mean", {1}, {2})
      .weight("bn/moving_variance", {1}, {15});
  auto g2 = b2.graph();
  ASSERT_TRUE(g2.ok()) << g2.error().to_string();
  EXPECT_EQ(run1(*g2, {10}), (std::vector<float>{2}));
}

TEST(ExecHand, DenseAndFlattenOrder) {
  // [H=1, W=2, C=2] = [a0 a1 | b0 b1] = [1, 2, 3, 4] flattens NHWC row-major to [1,2,3,4].
  // Dense kernel [4][2] picks column 0 = x[1] (=2), column 1 = x[2] + x[3] (=7); bias [0.5, -1]
  ModelBuilder b;
  b.input("x", {1, 2, 2})
      .layer("Flatten", "f", Json::object())
      .layer("Dense", "d", {{"units", 2}, {"activation", "linear"}})
      .weight("d/kernel", {4, 2}, {0, 0, 1, 0, 0, 1, 0, 1})
      .weight("d/bias", {2}, {0.5f, -1});
  auto g = b.graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  EXPECT_EQ(run1(*g, {1, 2, 3, 4}), (std::vector<float>{2.5f, 6}));
}

TEST(ExecHand, DenseSoftmaxActivationBecomesSoftmaxNode) {
  // Dense identity 2x2, softmax of [0, ln 3] = [0.25, 0.75]
  ModelBuilder b;
  b.input("x", {2})
      .layer("Dense", "d", {{"units", 2}, {"activation", "softmax"}, {"use_bias", false}})
      .weight("d/kernel", {2, 2}, {1, 0, 0, 1});
  auto g = b.graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  ASSERT_EQ(g->nodes.size(), 2u);
  EXPECT_EQ(g->nodes[1].kind, NodeKind::kSoftmax);
  EXPECT_EQ(g->tensor(g->outputs[0]).name, "d");
  auto y = run1(*g, {0, std::log(3.0f)});
  ASSERT_EQ(y.size(), 2u);
  EXPECT_NEAR(y[0], 0.25f, 1e-6);
  EXPECT_NEAR(y[1], 0.75f, 1e-6);
}

TEST(ExecHand, AfterNodeHookChangesAnOutputTheNextNodesRead) {
  // Dense [1, 2] -> [3, -1] (identity), then ReLU: [3, 0]. The hook moves the Dense output by
  // [-4, +2] before the ReLU reads it: [-1, 1] -> ReLU [0, 1]; it sees both nodes, in order.
  ModelBuilder b;
  b.input("x", {2})
      .layer("Dense", "d", {{"units", 2}, {"use_bias", false}})
      .weight("d/kernel", {2, 2}, {1, 0, 0, 1})
      .layer("Activation", "r", {{"activation", "relu"}});
  auto g = b.graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  RunOptions opt;
  std::vector<std::string> seen;
  opt.after_node = [&](const Node& n, Tensor& y) {
    seen.push_back(n.source.name);
    if (n.kind == NodeKind::kDense) y.data = {y.data[0] - 4, y.data[1] + 2};
  };
  auto y = run_float(*g, {Tensor{g->shape(g->inputs[0]), {3, -1}}}, opt);
  ASSERT_TRUE(y.ok()) << y.error().to_string();
  EXPECT_EQ((*y)[0].data, (std::vector<float>{0, 1}));
  EXPECT_EQ(seen, (std::vector<std::string>{"d", "r"}));
  EXPECT_EQ(run1(*g, {3, -1}), (std::vector<float>{3, 0}));
}

TEST(ExecHand, ActivationFunctions) {
  const float x[] = {-2.0f, -0.5f, 0.5f, 3.0f, 8.0f};
  struct Case {
    Json config;
    std::string cls;
    std::vector<float> want;  // by hand
  } cases[] = {
      {{{"activation", "relu"}}, "Activation", {0, 0, 0.5f, 3, 8}},
      {{{"activation", "relu6"}}, "Activation", {0, 0, 0.5f, 3, 6}},
      {{{"activation", "hard_sigmoid"}}, "Activation", {0.1f, 0.4f, 0.6f, 1, 1}},  // 0.2x+0.5
      {{{"max_value", 4.0}, {"negative_slope", 0.5}, {"threshold", 1.0}},
       "ReLU",
       {-1.5f, -0.75f, -0.25f, 3, 4}},  // x<1: 0.5*(x-1)
      {{{"alpha", 0.1}}, "LeakyReLU", {-0.2f, -0.05f, 0.5f, 3, 8}},
      {Json::object(), "LeakyReLU", {-0.6f, -0.15f, 0.5f, 3, 8}},  // default alpha 0.3
  };
  for (const auto& c : cases) {
    ModelBuilder b;
    b.input("x", {5}).layer(c.cls, "a", c.config);
    auto g = b.graph();
    ASSERT_TRUE(g.ok()) << g.error().to_string();
    auto y = run1(*g, std::vector<float>(std::begin(x), std::end(x)));
    ASSERT_EQ(y.size(), 5u);
    for (int i = 0; i < 5; ++i) EXPECT_NEAR(y[i], c.want[i], 1e-6) << c.cls << " " << c.config << i;
  }
  // Transcendental ones against the C library (formula check): sigmoid, tanh, elu, selu, swish.
  for (std::string name : {"sigmoid", "tanh", "elu", "selu", "swish"}) {
    ModelBuilder b;
    b.input("x", {5}).layer("Activation", "a", {{"activation", name}});
    auto g = b.graph();
    ASSERT_TRUE(g.ok());
    auto y = run1(*g, std::vector<float>(std::begin(x), std::end(x)));
    for (int i = 0; i < 5; ++i) {
      const double v = x[i];
      double want = 0;
      if (name == "sigmoid") want = 1 / (1 + std::exp(-v));
      if (name == "tanh") want = std::tanh(v);
      if (name == "elu") want = v > 0 ? v : std::exp(v) - 1;
      if (name == "selu")
        want = 1.0507009873554805 * (v > 0 ? v : 1.6732632423543772 * (std::exp(v) - 1));
      if (name == "swish") want = v / (1 + std::exp(-v));
      EXPECT_NEAR(y[i], want, 1e-5) << name << " " << v;
    }
  }
}

TEST(ExecHand, ConcatAddGlobalPoolsReshape) {
  // a = x (2x1x1: [1, 2]); b = relu(x)... keep simple: concat [x, x] on channels -> [1,1,2,2];
  // add(x, x) = [2, 4]; GAP over 2x1 of concat = [1.5, 1.5]; GMP = [2, 2].
  ModelBuilder b;
  b.input("x", {2, 1, 1})
      .layer("Concatenate", "cat", {{"axis", -1}}, {"x", "x"})
      .layer("Add", "add", Json::object(), {"x", "x"})
      .layer("GlobalAveragePooling2D", "gap", Json::object(), {"cat"})
      .layer("GlobalMaxPooling2D", "gmp", {{"keepdims", true}}, {"cat"})
      .layer("Reshape", "r", {{"target_shape", {-1}}}, {"gmp"})
      .outputs({"cat", "add", "gap", "r"});
  auto g = b.graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  auto out = run_float(*g, {Tensor{{{2, 1, 1}}, {1, 2}}});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)[0].data, (std::vector<float>{1, 1, 2, 2}));
  EXPECT_EQ((*out)[1].data, (std::vector<float>{2, 4}));
  EXPECT_EQ((*out)[2].data, (std::vector<float>{1.5f, 1.5f}));
  EXPECT_EQ((*out)[3].data, (std::vector<float>{2, 2}));
  EXPECT_EQ((*out)[3].shape, (Shape{{2}}));
}

TEST(ExecHand, WrongInputShapeIsAnError) {
  ModelBuilder b;
  b.input("x", {2}).layer("Activation", "a", {{"activation", "relu"}});
  auto g = b.graph();
  ASSERT_TRUE(g.ok());
  auto r = run_float(*g, {Tensor{{{3}}, {1, 2, 3}}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kShapeMismatch);
}

}  // namespace
}  // namespace emc::converter
