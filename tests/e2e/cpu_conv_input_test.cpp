// Two -p cpu defects the conv exactness matrix found on maps <= 8x8 (docs/cpu_target.md), checked
// against hand computations:
// (1) a first conv that needs its padding as its own layer (ZeroPadding2D wider than the kernel)
//     reads the input as int8; that int8 grid must be the pixels' own (scale 1/255 for x/255
//     preprocessing, zero point -128), not a calibrated range, which rounds pixels when the
//     calibration images do not span 0..255;
// (2) the bias correction of such a conv must not count the padding rows and columns as input.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "converter/model_builder.h"
#include "cpu_isolated.h"
#include "emc/converter/convert.h"
#include "emc/format/emc_layers.h"

namespace emc {
namespace {

using namespace converter;
using Json = nlohmann::json;
using converter::testing::ModelBuilder;

// ZeroPadding2D(1,1) then a 1x1 Conv2D (2 input channels, 1 filter, w = [1.0, 0.3], bias 0.05)
// on a 2x2x2 input: the padding exceeds the 1x1 window, so it is an EMC_PAD_CROP_INT8 of the
// input's int8 form.
ModelBuilder model() {
  ModelBuilder mb;
  mb.input("in", {2, 2, 2});
  mb.layer("ZeroPadding2D", "pad", {{"padding", Json::array({{1, 1}, {1, 1}})}});
  mb.layer("Conv2D", "c",
           {{"filters", 1},
            {"kernel_size", {1, 1}},
            {"strides", {1, 1}},
            {"padding", "valid"},
            {"use_bias", true},
            {"activation", "linear"}});
  mb.weight("c/kernel", {1, 1, 2, 1}, {1.0f, 0.3f});
  mb.weight("c/bias", {1}, {0.05f});
  return mb;
}

// Pixels 40..200 only (no 0 or 255 in the calibration set).
std::vector<Tensor> inputs() {
  std::vector<Tensor> v;
  const float px[2][8] = {{40, 200, 90, 120, 60, 180, 100, 150},
                          {70, 160, 110, 50, 130, 80, 190, 45}};
  for (const auto& p : px) {
    Tensor t{Shape{{2, 2, 2}}, {}};
    for (float x : p) t.data.push_back(x / 255.0f);
    v.push_back(t);
  }
  return v;
}

Result<ConvertResult> convert_model(bool bias_correction) {
  auto g = model().graph();
  if (!g.ok()) return g.error();
  std::vector<std::vector<Tensor>> samples;
  for (const auto& t : inputs()) samples.push_back({t});
  ConvertOptions opt;
  opt.target = Target::kCpu;
  opt.bias_correction = bias_correction;
  return convert(*g, samples, opt);
}

TEST(CpuConvInput, PaddedFirstConvReadsThePixelGrid) {
  auto r = convert_model(true);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_TRUE(r->input_is_uint8);
  // The layer writing the int8 form of 'in': real = p / 255 = (q8 + 128) / 255 for q8 = p - 128.
  bool found = false;
  for (const auto& l : r->layers) {
    if (!l.float_tensor || *l.float_tensor != "in" || !l.out_scale) continue;
    found = true;
    EXPECT_DOUBLE_EQ(*l.out_scale, 1.0 / 255.0);
    EXPECT_NEAR(*l.out_bias, 128.0 / 255.0, 1e-15);
  }
  ASSERT_TRUE(found) << "no layer writes the int8 input";
  // Every pixel exactly: the isolated error of that layer is double rounding only (one grid step
  // would be (1/255)^2 = 1.5e-5).
  auto g = model().graph();
  ASSERT_TRUE(g.ok());
  const auto iso = emc::testing::run_cpu_isolated(*r, *g, inputs());
  ASSERT_TRUE(iso.error.empty()) << iso.error;
  for (const auto& [i, st] : iso.layers)
    if (st.tensor == "in") {
      EXPECT_LT(st.err, 1e-12) << "layer " << i;
    }
}

TEST(CpuConvInput, BiasCorrectionSkipsExplicitPadding) {
  auto with = convert_model(true), without = convert_model(false);
  ASSERT_TRUE(with.ok() && without.ok());
  auto bias_of = [](const ConvertResult& r) {
    for (const auto& l : r.model.layers)
      if (l.type == format::LayerType::kEmcConv2d)
        return std::get<format::EmcConv2dInt8Body>(l.body).bias.at(0);
    ADD_FAILURE() << "no EMC_CONV2D";
    return 0;
  };
  // By hand: weight scale 1/127; 0.3 * 127 = 38.1 -> 38, so the rounded weight is 0.3 - 0.1/127.
  // Its expected output error is -0.1/127 * E[x1] on the taps inside the 2x2 input: 4 of the 16
  // outputs of the padded 4x4 map, so -0.1/127 * E[x1] / 4 (the padding is real 0). E[x1] = the
  // mean of the channel-1 pixels / 255. In accumulator units (1/255 * 1/127): the correction is
  // -0.1 * sum(p1) / 8 / 4 = -0.1 * 1105 / 32 = -3.45 -> -3 added back: bias + 3.
  const double sum_p1 = 200 + 120 + 180 + 150 + 160 + 50 + 80 + 45;
  const double corr = -0.1 * sum_p1 / 8.0 / 4.0;
  EXPECT_EQ(bias_of(*with) - bias_of(*without), -static_cast<int>(std::lround(corr)));
  EXPECT_EQ(bias_of(*with) - bias_of(*without), 3);
}

}  // namespace
}  // namespace emc
