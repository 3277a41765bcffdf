// A first 3x3 conv that folds -1,1 preprocessing (real = (p - 127.5) / 127.5) pads with pixel 128,
// which stands for 0.5 / 127.5 instead of 0.0; the conversion warns, and now states how far that
// can move an output (LayerInfo::border_error, checked against a hand computation), and the
// kmodel's border outputs stay within it (fuzz_convert, session 12: the oracle adds it).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
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
using converter::testing::ModelBuilder;

TEST(BorderError, FoldedMinusOneOnePreprocessingStatesItsBorderShift) {
  ModelBuilder mb;
  mb.input("in", {5, 5, 1});
  mb.layer("Conv2D", "c",
           {{"filters", 1},
            {"kernel_size", {3, 3}},
            {"strides", {1, 1}},
            {"padding", "same"},
            {"use_bias", false},
            {"activation", "linear"}});
  mb.weight("c/kernel", {3, 3, 1, 1}, std::vector<float>(9, 0.1f));
  auto g = mb.graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  // Pixels 40..240 (real -0.69..0.88).
  std::vector<std::uint8_t> px(25);
  Tensor x{Shape{{5, 5, 1}}, {}};
  for (int i = 0; i < 25; ++i) {
    px[std::size_t(i)] = std::uint8_t(40 + (i * 37) % 201);
    x.data.push_back(float((px[std::size_t(i)] - 127.5) / 127.5));
  }
  auto want = run_float(*g, {x});
  ASSERT_TRUE(want.ok());
  // By hand: 9 taps of 0.1, each padded one off by (128 - 127.5) / 127.5.
  const double bound = 9 * 0.1 * 0.5 / 127.5;
  for (const Target* t : {Target::kK210, Target::kCpu}) {
    SCOPED_TRACE(std::string(t->name));
    ConvertOptions opt;
    opt.target = t;
    opt.threads = 1;
    opt.preprocess.scale = PixelScale::kMinusOneOne;
    auto r = convert(*g, {{x}}, opt);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    bool warned = false;
    for (const auto& w : r->warnings)
      warned |= w.find("its zero padding reads pixel 128") != std::string::npos;
    EXPECT_TRUE(warned);
    const LayerInfo* conv = nullptr;
    for (const auto& l : r->layers)
      if (!l.sources.empty() && l.sources.front() == "c") conv = &l;
    ASSERT_NE(conv, nullptr);
    ASSERT_TRUE(conv->border_error.has_value());
    EXPECT_NEAR(*conv->border_error, bound, 1e-6);
    // The corner output reads 5 padded taps: off by 5/9 of the bound, plus the output's rounding.
    interpreter::Registry reg;
    ASSERT_TRUE(accel_sim::register_kpu_sim_backend(reg).ok());
    ASSERT_TRUE(cpu_backend::register_cpu_backend(reg).ok());
    auto interp = interpreter::Interpreter::load(r->bytes, reg, {});
    ASSERT_TRUE(interp.ok()) << interp.error().to_string();
    ASSERT_TRUE((*interp)->set_input(0, px).ok());
    ASSERT_TRUE((*interp)->run().ok());
    const std::vector<float> got = (*interp)->output(0);
    ASSERT_EQ(got.size(), 25u);
    const double step = conv->out_scale.value_or(0.0);
    double worst = 0;
    for (std::size_t i = 0; i < 25; ++i)
      worst = std::max(worst, std::fabs(double(got[i]) - want->at(0).data[i]));
    EXPECT_LE(worst, bound + step) << "step " << step;
    EXPECT_GT(worst, 0.5 * 5.0 / 9.0 * bound) << "the corner shift is visible";
  }
}

// The same conv followed by two linear 1x1 convs (weights 2 and -1.5): they carry the border
// shift on, each stating it as its own border_error (by hand: 2 and 3 times c's), and the
// kmodel's output stays within the last one's (fuzz_convert finding 20: a chain of linear convs
// multiplied a folded conv's border shift past what the layers stated).
TEST(BorderError, LinearConvsCarryTheBorderShiftOn) {
  ModelBuilder mb;
  mb.input("in", {5, 5, 1});
  nlohmann::json conv = {{"filters", 1},      {"kernel_size", {3, 3}}, {"strides", {1, 1}},
                         {"padding", "same"}, {"use_bias", false},     {"activation", "linear"}};
  mb.layer("Conv2D", "c", conv);
  mb.weight("c/kernel", {3, 3, 1, 1}, std::vector<float>(9, 0.1f));
  conv["kernel_size"] = {1, 1};
  mb.layer("Conv2D", "d", conv);
  mb.weight("d/kernel", {1, 1, 1, 1}, {2.0f});
  mb.layer("Conv2D", "e", conv);
  mb.weight("e/kernel", {1, 1, 1, 1}, {-1.5f});
  auto g = mb.graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  std::vector<std::uint8_t> px(25);
  Tensor x{Shape{{5, 5, 1}}, {}};
  for (int i = 0; i < 25; ++i) {
    px[std::size_t(i)] = std::uint8_t(40 + (i * 37) % 201);
    x.data.push_back(float((px[std::size_t(i)] - 127.5) / 127.5));
  }
  auto want = run_float(*g, {x});
  ASSERT_TRUE(want.ok());
  const double bound = 9 * 0.1 * 0.5 / 127.5;  // c's, as above
  for (const Target* t : {Target::kK210, Target::kCpu}) {
    SCOPED_TRACE(std::string(t->name));
    ConvertOptions opt;
    opt.target = t;
    opt.threads = 1;
    opt.preprocess.scale = PixelScale::kMinusOneOne;
    auto r = convert(*g, {{x}}, opt);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    std::map<std::string, const LayerInfo*> by;
    for (const auto& l : r->layers)
      if (!l.sources.empty() && l.rounding_error) by[l.sources.front()] = &l;
    ASSERT_EQ(by.size(), 3u);
    ASSERT_TRUE(by["d"]->border_error.has_value());
    ASSERT_TRUE(by["e"]->border_error.has_value());
    // The carried bound uses the convs' own (quantized) weights: within a weight step of 2 and 1.5.
    EXPECT_NEAR(*by["d"]->border_error, 2 * bound, 0.01 * bound);
    EXPECT_NEAR(*by["e"]->border_error, 3 * bound, 0.03 * bound);
    interpreter::Registry reg;
    ASSERT_TRUE(accel_sim::register_kpu_sim_backend(reg).ok());
    ASSERT_TRUE(cpu_backend::register_cpu_backend(reg).ok());
    auto interp = interpreter::Interpreter::load(r->bytes, reg, {});
    ASSERT_TRUE(interp.ok()) << interp.error().to_string();
    ASSERT_TRUE((*interp)->set_input(0, px).ok());
    ASSERT_TRUE((*interp)->run().ok());
    const std::vector<float> got = (*interp)->output(0);
    ASSERT_EQ(got.size(), 25u);
    double worst = 0;
    for (std::size_t i = 0; i < 25; ++i)
      worst = std::max(worst, std::fabs(double(got[i]) - want->at(0).data[i]));
    // Within the stated shift and the roundings of c, d and e (each at most half a step of e's
    // grid once carried there).
    const double step = by["e"]->out_scale.value_or(0.0);
    EXPECT_LE(worst, *by["e"]->border_error + 2 * step) << "step " << step;
    EXPECT_GT(worst, 0.5 * 3 * 5.0 / 9.0 * bound) << "the corner shift is visible";
  }
}

}  // namespace
}  // namespace emc
