// -p cpu: a conv whose output is a small residue of much larger terms cannot be held by int8
// weights (per channel, max|w| / 127) or by an int8 input grid; the conversion must say so naming
// the layer (fuzz_convert findings 12 and 13), and must not say so for an ordinary conv. Each
// warning is checked against what the layer really does: its isolated SQNR against the float
// executor (cpu_isolated.h, as emc-compare --isolated).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "converter/model_builder.h"
#include "cpu_isolated.h"
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

Json conv_attrs(int k, const char* act) {
  return {{"filters", 1},      {"kernel_size", {k, k}}, {"strides", {1, 1}},
          {"padding", "same"}, {"use_bias", false},     {"activation", act}};
}

// A 3x3 conv + relu6 on a 4x4x2 input, one filter: channel 1's centre tap is -0.352, the other 17
// taps are `small`. With small = 0.00138 (0.498 of the int8 step 0.352 / 127) every small weight
// rounds to 0, while the float output is 0.00138 * (sum of up to 17 pixels) - 0.352 * x1.
ModelBuilder residue_model(float small) {
  ModelBuilder mb;
  mb.input("in", {4, 4, 2});
  mb.layer("Conv2D", "c", conv_attrs(3, "relu6"));
  std::vector<float> w(18, small);  // Keras [kh][kw][ic][oc]
  w[(1 * 3 + 1) * 2 + 1] = -0.352f;
  mb.weight("c/kernel", {3, 3, 2, 1}, w);
  return mb;
}

// Channel 0 bright (pixels 100..250), channel 1 dark (0..10): the float output stays positive.
std::vector<Tensor> residue_inputs() {
  std::vector<Tensor> v;
  for (int s = 0; s < 4; ++s) {
    Tensor t{Shape{{4, 4, 2}}, {}};
    for (int p = 0; p < 16; ++p) {
      t.data.push_back(float(100 + (37 * p + 53 * s) % 151) / 255.0f);
      t.data.push_back(float((7 * p + 3 * s) % 11) / 255.0f);
    }
    v.push_back(t);
  }
  return v;
}

struct Converted {
  ConvertResult r;
  emc::testing::IsoLayer conv;  // the isolated comparison of the layer writing `tensor`
};

Converted convert_and_measure(const ModelBuilder& mb, const std::vector<Tensor>& inputs,
                              const std::string& tensor) {
  Converted out;
  auto g = mb.graph();
  EXPECT_TRUE(g.ok()) << g.error().to_string();
  if (!g.ok()) return out;
  std::vector<std::vector<Tensor>> samples;
  for (const auto& t : inputs) samples.push_back({t});
  ConvertOptions opt;
  opt.target = Target::kCpu;
  opt.threads = 1;
  auto r = convert(*g, samples, opt);
  EXPECT_TRUE(r.ok()) << r.error().to_string();
  if (!r.ok()) return out;
  out.r = std::move(*r);
  const auto iso = emc::testing::run_cpu_isolated(out.r, *g, inputs);
  EXPECT_TRUE(iso.error.empty()) << iso.error;
  for (const auto& [i, st] : iso.layers)
    if (st.tensor == tensor) out.conv = st;
  EXPECT_GT(out.conv.n, 0u) << "no layer writes '" << tensor << "'";
  return out;
}

std::string warning_about(const ConvertResult& r, const std::string& layer) {
  for (const auto& w : r.warnings)
    if (w.find("layer '" + layer + "'") != std::string::npos &&
        w.find("cannot resolve its output") != std::string::npos)
      return w;
  return {};
}

const LayerInfo* writer_of(const ConvertResult& r, const std::string& layer) {
  for (const auto& l : r.layers)
    if (l.rounding_error && !l.sources.empty() && l.sources.front() == layer) return &l;
  return nullptr;
}

TEST(CpuRoundingWarning, WeightsRoundedAwayFromAResidueAreNamed) {
  const Converted c = convert_and_measure(residue_model(0.00138f), residue_inputs(), "c");
  const std::string w = warning_about(c.r, "c");
  EXPECT_NE(w, "") << "no warning names conv 'c'";
  EXPECT_NE(w.find("its int8 weights move"), std::string::npos)
      << w << " (the input is the exact pixels: only the weights round)";
  const LayerInfo* l = writer_of(c.r, "c");
  ASSERT_NE(l, nullptr);
  EXPECT_GE(*l->rounding_error, kRoundingErrorWarnShare * *l->output_range);
  // The warning is true: the layer alone, from the float input, is far below its rounding floor.
  EXPECT_LT(c.conv.sqnr(), 10.0) << "isolated SQNR; floor " << c.conv.floor();
  EXPECT_GT(c.conv.floor(), 30.0);
}

TEST(CpuRoundingWarning, AnOrdinaryConvIsNotNamed) {
  // The same conv with weights int8 holds (0.05 = 18.04 steps): no warning, near its floor.
  const Converted c = convert_and_measure(residue_model(0.05f), residue_inputs(), "c");
  EXPECT_EQ(warning_about(c.r, "c"), "");
  const LayerInfo* l = writer_of(c.r, "c");
  ASSERT_NE(l, nullptr);
  EXPECT_LT(*l->rounding_error, kRoundingErrorWarnShare * *l->output_range);
  EXPECT_GT(c.conv.sqnr(), 30.0) << "floor " << c.conv.floor();
}

// A 1x1 conv a: x -> (x, x + 0.001), then a 1x1 conv b with weights (-1, 1): b's output is the
// constant 0.001, but a's int8 grid (step 1.001 / 255 = 0.0039) rounds each of b's inputs by up
// to half a step, so b reads a difference that is off by up to 0.0039.
ModelBuilder grid_residue_model() {
  ModelBuilder mb;
  mb.input("in", {4, 4, 1});
  Json a = conv_attrs(1, "linear");
  a["filters"] = 2;
  a["use_bias"] = true;
  mb.layer("Conv2D", "a", a);
  mb.weight("a/kernel", {1, 1, 1, 2}, {1.0f, 1.0f});
  mb.weight("a/bias", {2}, {0.0f, 0.001f});
  mb.layer("Conv2D", "b", conv_attrs(1, "linear"));
  mb.weight("b/kernel", {1, 1, 2, 1}, {-1.0f, 1.0f});
  return mb;
}

std::vector<Tensor> grid_residue_inputs() {
  std::vector<Tensor> inputs;
  for (int s = 0; s < 3; ++s) {
    Tensor t{Shape{{4, 4, 1}}, {}};
    for (int p = 0; p < 16; ++p) t.data.push_back(float((17 * p + 89 * s) % 256) / 255.0f);
    inputs.push_back(t);
  }
  return inputs;
}

TEST(CpuRoundingWarning, AnInputGridTooCoarseForAResidueIsNamed) {
  const Converted c = convert_and_measure(grid_residue_model(), grid_residue_inputs(), "b");
  const std::string w = warning_about(c.r, "b");
  EXPECT_NE(w, "") << "no warning names conv 'b'";
  EXPECT_NE(w.find("and the error its input carries"), std::string::npos) << w;
  EXPECT_EQ(warning_about(c.r, "a"), "") << "conv 'a' is an ordinary conv";
  // True: fed a's float output rounded to a's grid (what b reads), b is far off.
  EXPECT_LT(c.conv.sqnr(), 10.0) << "isolated SQNR; floor " << c.conv.floor();
}

// The same on k210: both are KPU convs (8-bit weights, uint8 maps), and 'b' is named as well.
TEST(CpuRoundingWarning, KpuConvReadingATooCoarseGridIsNamed) {
  auto g = grid_residue_model().graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  std::vector<std::vector<Tensor>> samples;
  for (const auto& t : grid_residue_inputs()) samples.push_back({t});
  ConvertOptions opt;
  opt.target = Target::kK210;
  opt.threads = 1;
  auto r = convert(*g, samples, opt);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  const std::string w = warning_about(*r, "b");
  EXPECT_NE(w.find("8-bit cannot resolve its output"), std::string::npos) << w;
  EXPECT_EQ(warning_about(*r, "a"), "");
  const LayerInfo* b = writer_of(*r, "b");
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(b->on_kpu);
  EXPECT_GE(*b->rounding_error, *b->output_range);
}

// fuzz_convert finding 19 (k210): on a black image a 1x1 conv 'a' writes three constant channels
// (its biases); their uint8 grid rounds each the same way everywhere, a fixed offset. The 3x3 conv
// 'b' sums them to a small residue, so those offsets are a large share of b's output, and four
// linear 1x1 convs each multiply that error by 1.5. The statement must be true: b states its
// input's fixed offsets (not noise), and each linear conv carries the error it reads on, so the
// last conv's stated rounding_error covers what the kmodel (kpu-sim) measures against the float
// executor (unit: fuzz/seeds/convert/k210_linear_chain_after_constant_channels.bin).
TEST(CpuRoundingWarning, KpuLinearChainCarriesAConstantInputsRoundingOn) {
  ModelBuilder mb;
  mb.input("in", {6, 6, 3});
  Json a = conv_attrs(1, "linear");
  a["filters"] = 3;
  a["use_bias"] = true;
  mb.layer("Conv2D", "a", a);
  mb.weight("a/kernel", {1, 1, 3, 3}, std::vector<float>(9, 0.5f));
  mb.weight("a/bias", {3}, {0.313f, -0.207f, 0.452f});
  mb.layer("Conv2D", "b", conv_attrs(3, "linear"));
  std::vector<float> wb(27);  // [ky][kx][ic][oc]: per channel 0.21, 0.3, -0.011
  for (std::size_t t = 0; t < 9; ++t) {
    wb[t * 3 + 0] = 0.021f;
    wb[t * 3 + 1] = 0.03f;
    wb[t * 3 + 2] = -0.0011f;
  }
  mb.weight("b/kernel", {3, 3, 3, 1}, wb);
  const char* chain[] = {"c1", "c2", "c3", "c4"};
  for (const char* c : chain) {
    mb.layer("Conv2D", c, conv_attrs(1, "linear"));
    mb.weight(std::string(c) + "/kernel", {1, 1, 1, 1}, {1.5f});
  }
  auto g = mb.graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  const Tensor black{Shape{{6, 6, 3}}, std::vector<float>(108, 0.0f)};
  ConvertOptions opt;
  opt.target = Target::kK210;
  opt.threads = 1;
  auto r = convert(*g, {{black}}, opt);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  interpreter::Registry reg;
  ASSERT_TRUE(accel_sim::register_kpu_sim_backend(reg).ok());
  ASSERT_TRUE(cpu_backend::register_cpu_backend(reg).ok());
  auto interp = interpreter::Interpreter::load(r->bytes, reg, {});
  ASSERT_TRUE(interp.ok()) << interp.error().to_string();
  ASSERT_TRUE((*interp)->set_input(0, std::vector<std::uint8_t>(108, 0)).ok());
  ASSERT_TRUE((*interp)->run().ok());
  const std::vector<float> got = (*interp)->output(0);
  const auto want = run_float(*g, {black});
  ASSERT_TRUE(want.ok());
  ASSERT_EQ(got.size(), 36u);
  // The 4x4 interior, whose taps read no padding (a 6x6x1 map: CHW and HWC orders agree). Border
  // outputs also shift by the bias correction, which assumes every tap reads the calibrated mean;
  // the estimate does not model that.
  double worst = 0;
  for (std::size_t y = 1; y < 5; ++y)
    for (std::size_t x = 1; x < 5; ++x)
      worst = std::max(worst, std::fabs(double(got[y * 6 + x]) - want->at(0).data[y * 6 + x]));
  const LayerInfo* last = writer_of(*r, "c4");
  ASSERT_NE(last, nullptr);
  EXPECT_TRUE(last->on_kpu);
  // The error is real (several output steps), and the last conv's statement covers it.
  EXPECT_GT(worst, 4 * last->out_scale.value_or(1.0));
  EXPECT_GE(*last->rounding_error, worst);
  const LayerInfo* b = writer_of(*r, "b");
  ASSERT_NE(b, nullptr);
  EXPECT_LT(*b->rounding_error, *last->rounding_error);
}

}  // namespace
}  // namespace emc
