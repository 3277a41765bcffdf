// -p k210: a CPU float conv (fused sigmoid/tanh on a kernel the KPU lacks) that reads the model's
// raw pixels with zero padding and a nonzero input mean reads them normalized by a float 1x1
// layer of its own (docs/converter_k210.md). Two such convs share that layer; a leading Rescaling
// (raw pixels 0..255 mapped to -1..1) takes the same path. Checked against the float executor on
// kpu-sim.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "converter/model_builder.h"
#include "emc/accel_sim/kpu_backend.h"
#include "emc/converter/convert.h"
#include "emc/converter/float_executor.h"
#include "emc/cpu_backend/cpu_backend.h"
#include "emc/interpreter/interpreter.h"

namespace emc {
namespace {

using namespace converter;
using Json = nlohmann::json;
using converter::testing::ModelBuilder;

void conv5(ModelBuilder& mb, std::mt19937& rng, const std::string& name, const char* act,
           const std::string& in) {
  mb.layer("Conv2D", name,
           {{"filters", 4},
            {"kernel_size", {5, 5}},
            {"strides", {1, 1}},
            {"padding", "same"},
            {"use_bias", true},
            {"activation", act}},
           {in});
  std::normal_distribution<float> n(0.0f, 0.15f);
  std::vector<float> w(5 * 5 * 3 * 4), b(4);
  for (auto& v : w) v = n(rng);
  for (auto& v : b) v = n(rng);
  mb.weight(name + "/kernel", {5, 5, 3, 4}, w);
  mb.weight(name + "/bias", {4}, b);
}

// A 1x1 linear conv 'pw' to 2 channels reading `in` (w: [cin][2]).
void pointwise(ModelBuilder& mb, const std::string& in, const std::vector<float>& w) {
  mb.layer("Conv2D", "pw",
           {{"filters", 2},
            {"kernel_size", {1, 1}},
            {"strides", {1, 1}},
            {"padding", "valid"},
            {"use_bias", false},
            {"activation", "linear"}},
           {in});
  mb.weight("pw/kernel", {1, 1, int(w.size() / 2), 2}, w);
}

struct Outcome {
  int normalizations = 0;
  double sqnr = 0;
  std::vector<std::string> warnings;
};

// Converts for k210 with `pre` preprocessing, runs on kpu-sim, compares with the float model.
Outcome run(const ModelBuilder& mb, PixelScale pre, const std::vector<std::uint8_t>& px,
            const Tensor& x, std::vector<std::string>* normalization_sources = nullptr) {
  Outcome o;
  auto g = mb.graph();
  EXPECT_TRUE(g.ok()) << g.error().to_string();
  if (!g.ok()) return o;
  ConvertOptions opt;
  opt.target = Target::kK210;
  opt.threads = 1;
  opt.preprocess.scale = pre;
  auto r = convert(*g, {{x}}, opt);
  EXPECT_TRUE(r.ok()) << r.error().to_string();
  if (!r.ok()) return o;
  o.warnings = r->warnings;
  for (const auto& l : r->layers)
    if (l.type == format::LayerType::kEmcDepthwiseConv2dF32 &&
        l.note.find("input normalization") != std::string::npos) {
      ++o.normalizations;
      if (normalization_sources) *normalization_sources = l.sources;
    }
  interpreter::Registry reg;
  EXPECT_TRUE(accel_sim::register_kpu_sim_backend(reg).ok());
  EXPECT_TRUE(cpu_backend::register_cpu_backend(reg).ok());
  auto interp = interpreter::Interpreter::load(r->bytes, reg, {});
  EXPECT_TRUE(interp.ok()) << interp.error().to_string();
  if (!interp.ok()) return o;
  std::vector<std::uint8_t> chw(px.size());
  const int h = 12, w = 12, c = 3;
  for (int y = 0; y < h; ++y)
    for (int xx = 0; xx < w; ++xx)
      for (int ch = 0; ch < c; ++ch)
        chw[(std::size_t(ch) * h + y) * w + xx] = px[(std::size_t(y) * w + xx) * c + ch];
  EXPECT_TRUE((*interp)->set_input(0, chw).ok());
  EXPECT_TRUE((*interp)->run().ok());
  const std::vector<float> got = (*interp)->output(0);
  auto want = run_float(*g, {x});
  EXPECT_TRUE(want.ok());
  const auto& f = want->at(0).data;
  EXPECT_EQ(got.size(), f.size());
  if (got.size() != f.size()) return o;
  // The output is a 12x12x2 map, CHW in the kmodel.
  const int oc = 2;
  double sig = 0, err = 0;
  for (int p = 0; p < h * w; ++p)
    for (int ch = 0; ch < oc; ++ch) {
      const double a = f[std::size_t(p) * oc + ch], b = got[std::size_t(ch) * h * w + p];
      sig += a * a;
      err += (a - b) * (a - b);
    }
  o.sqnr = 10 * std::log10(sig / std::max(err, 1e-30));
  return o;
}

TEST(FloatConvNormalizedInput, TwoConvsShareOneNormalizationOfMinusOneOnePixels) {
  std::mt19937 rng(11);
  ModelBuilder mb;
  mb.input("in", {12, 12, 3});
  conv5(mb, rng, "ta", "sigmoid", "in");
  conv5(mb, rng, "tb", "tanh", "in");
  mb.layer("Concatenate", "cat", {{"axis", -1}}, {"ta", "tb"});
  pointwise(mb, "cat",
            {0.5f, -0.3f, 0.2f, 0.4f, -0.6f, 0.1f, 0.3f, 0.2f, -0.2f, 0.5f, 0.4f, -0.1f, 0.1f, 0.3f,
             -0.5f, 0.2f});
  std::vector<std::uint8_t> px(12 * 12 * 3);
  Tensor x{Shape{{12, 12, 3}}, {}};
  for (std::size_t i = 0; i < px.size(); ++i) {
    px[i] = std::uint8_t(rng() % 256);
    x.data.push_back(float(px[i] / 127.5 - 1.0));
  }
  const Outcome o = run(mb, PixelScale::kMinusOneOne, px, x);
  EXPECT_EQ(o.normalizations, 1) << "one normalized map for both convs";
  // One warning per Keras layer that left the KPU, listing the EMC layers that serve it.
  int ta = 0, tb = 0;
  for (const auto& w : o.warnings) {
    ta += w.find("'ta' (Conv2D): runs on the CPU as kmodel layers ") != std::string::npos;
    tb += w.find("'tb' (Conv2D): runs on the CPU as kmodel layer ") != std::string::npos;
    EXPECT_TRUE(w.find("'ta'") == std::string::npos ||
                w.find("EMC_DEQUANTIZE_INT8, EMC_DEPTHWISE_CONV2D_F32, EMC_CONV2D_F32") !=
                    std::string::npos)
        << w;
  }
  EXPECT_EQ(ta, 1);
  EXPECT_EQ(tb, 1);
  // Both float convs exact; the output's uint8 roundings (ta, tb, cat, pw) remain.
  EXPECT_GT(o.sqnr, 35.0);
}

TEST(FloatConvNormalizedInput, LeadingRescalingToMinusOneOne) {
  std::mt19937 rng(12);
  ModelBuilder mb;
  mb.input("in", {12, 12, 3});
  mb.layer("Rescaling", "resc", {{"scale", 1.0 / 127.5}, {"offset", -1.0}}, {"in"});
  conv5(mb, rng, "t", "tanh", "resc");
  pointwise(mb, "t", {0.5f, -0.3f, 0.2f, 0.4f, -0.6f, 0.1f, 0.3f, 0.2f});
  std::vector<std::uint8_t> px(12 * 12 * 3);
  Tensor x{Shape{{12, 12, 3}}, {}};  // the model takes raw pixels 0..255
  for (std::size_t i = 0; i < px.size(); ++i) {
    px[i] = std::uint8_t(rng() % 256);
    x.data.push_back(float(px[i]));
  }
  std::vector<std::string> sources;
  const Outcome o = run(mb, PixelScale::kRaw, px, x, &sources);
  EXPECT_EQ(o.normalizations, 1);
  EXPECT_EQ(sources, std::vector<std::string>{"resc"});
  EXPECT_GT(o.sqnr, 35.0);
}

}  // namespace
}  // namespace emc
