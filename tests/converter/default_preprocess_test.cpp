// emc-convert's default input range (convert.h default_preprocess): a model that normalizes its
// own input with a leading Rescaling takes raw pixels (0,255), also when the Rescaling comes
// after layers that pass the input through at inference (Keras's augmentation layers, the
// Reshape that makes an MNIST-style [28, 28] input one channel). Taking 0,1 there would feed
// p/255 into the model's own /255: a kmodel that agrees with its float model on every input and
// is still wrong.
#include <gtest/gtest.h>

#include "emc/converter/convert.h"
#include "model_builder.h"

namespace emc::converter {
namespace {

using testing::ModelBuilder;
using Json = nlohmann::json;

ModelBuilder& conv_after(ModelBuilder& b, const std::string& from) {
  b.layer("Conv2D", "conv",
          {{"filters", 1},
           {"kernel_size", {1, 1}},
           {"strides", {1, 1}},
           {"padding", "valid"},
           {"use_bias", false},
           {"activation", "linear"}},
          {from});
  return b.weight("conv/kernel", {1, 1, 1, 1}, {2.0f});
}

PixelScale default_scale(const ModelBuilder& b) {
  auto g = b.graph();
  EXPECT_TRUE(g.ok()) << g.error().to_string();
  return g.ok() ? default_preprocess(*g).scale : PixelScale::kMeanStd;
}

TEST(DefaultPreprocess, RescalingBehindPassThroughLayersMeansRawPixels) {
  const Json rescale = {{"scale", 1.0 / 255}, {"offset", 0.0}};
  ModelBuilder direct;
  direct.input("x", {4, 4, 1}).layer("Rescaling", "r", rescale, {"x"});
  EXPECT_EQ(default_scale(conv_after(direct, "r")), PixelScale::kRaw);

  ModelBuilder augmented;
  augmented.input("x", {4, 4, 1})
      .layer("RandomFlip", "flip", {{"mode", "horizontal"}}, {"x"})
      .layer("RandomRotation", "rot", {{"factor", 0.1}}, {"flip"})
      .layer("Rescaling", "r", rescale, {"rot"});
  EXPECT_EQ(default_scale(conv_after(augmented, "r")), PixelScale::kRaw);

  ModelBuilder grey;
  grey.input("x", {4, 4})
      .layer("Reshape", "to_map", {{"target_shape", {4, 4, 1}}}, {"x"})
      .layer("Rescaling", "r", rescale, {"to_map"});
  EXPECT_EQ(default_scale(conv_after(grey, "r")), PixelScale::kRaw);

  // No Rescaling first: the 0,1 default.
  ModelBuilder plain;
  plain.input("x", {4, 4, 1}).layer("RandomFlip", "flip", {{"mode", "horizontal"}}, {"x"});
  EXPECT_EQ(default_scale(conv_after(plain, "flip")), PixelScale::kZeroOne);
}

}  // namespace
}  // namespace emc::converter
