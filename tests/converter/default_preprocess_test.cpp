// emc-convert's default input range (convert.h default_preprocess): a model that normalizes its
// own input with a leading Rescaling takes raw pixels (0,255), also when the Rescaling comes
// after layers that pass the input through at inference (Keras's augmentation layers, the
// Reshape that makes an MNIST-style [28, 28] input one channel). Taking 0,1 there would feed
// p/255 into the model's own /255: a kmodel that agrees with its float model on every input and
// is still wrong. Likewise a leading Keras Normalization whose adapted mean only raw pixels have.
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

// A leading Keras Normalization whose statistics values in [0, 1] cannot have (mean > 1 or
// variance > 1/4) takes raw pixels; one adapted on pixel / 255, or an inverted one (whose
// statistics are its output's), keeps the 0,1 default.
TEST(DefaultPreprocess, NormalizationOfRawPixelStatisticsMeansRawPixels) {
  auto model = [](float mean, float variance, bool invert) {
    ModelBuilder b;
    b.input("x", {4, 4, 1})
        .layer("Normalization", "norm", {{"axis", -1}, {"invert", invert}}, {"x"})
        .weight("norm/mean", {1}, {mean})
        .weight("norm/variance", {1}, {variance});
    return conv_after(b, "norm");
  };
  ModelBuilder raw = model(140.0f, 3600.0f, false);
  auto g = raw.graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  std::string why;
  EXPECT_EQ(default_preprocess(*g, &why).scale, PixelScale::kRaw);
  EXPECT_NE(why.find("'norm' is a Normalization whose channel 0 has mean 140 and standard "
                     "deviation 60"),
            std::string::npos)
      << why;
  // Mean 0 but a standard deviation of 255: x / 255 of raw pixels.
  EXPECT_EQ(default_scale(model(0.0f, 65025.0f, false)), PixelScale::kRaw);
  // Statistics of pixel / 255 (the largest variance [0, 1] data can have is 1/4).
  EXPECT_EQ(default_scale(model(0.45f, 0.25f, false)), PixelScale::kZeroOne);
  EXPECT_EQ(default_scale(model(140.0f, 3600.0f, true)), PixelScale::kZeroOne);
  // Inverted with sd 1: gamma 1 like a plain one, told apart by its beta (the mean).
  EXPECT_EQ(default_scale(model(140.0f, 1.0f, true)), PixelScale::kZeroOne);
}

}  // namespace
}  // namespace emc::converter
