// Exactness matrix of the conv lowering forms (issue 11), the -p cpu column: {Conv2D,
// DepthwiseConv2D, SeparableConv2D} x kernel {1x1, 3x3, 5x5, 7x7, 1x3, 3x1} x stride {1, 2} x
// padding {'same', 'valid', ZeroPadding2D (1,1), (0,1), (1,0), (2,2)} x map sizes {4, 5, 8, 15,
// 16, 17, 31, 32, 33, 64, 65} (the k210 column's sizes). Each case is a tiny TF.js model built
// here (a ZeroPadding2D, the conv with ReLU, then a 1x1 conv), converted for -p cpu (EMC int8
// convolutions, no KPU limit: every form must convert) and run on the cpu backend with every
// int8 layer isolated (tests/e2e/cpu_isolated.h: its input is the float executor's tensor rounded
// to the kmodel's own int8 grid, as emc-compare --isolated does). Every compared layer must be
// within 3 dB of its rounding floor: the float tensor rounded to the layer's own grid, plus the
// error the int8 per-channel weights alone cause (the same model with its kernels rounded as
// docs/cpu_target.md defines, in the float executor: -p cpu has no 16-bit weights, unlike the
// k210 column, which uses them to leave only the output rounding). A form
// whose kernel does not fit the padded map is not a model (Keras refuses it too) and is counted.
//
// The default run takes every form (kind x kernel x stride x padding, 216) once, at a map size
// that rotates through the 11 sizes from one form to the next, plus the stride-2 3x3 forms of
// MobileNet on 16x16. All 2376 cases: EMC_CONV_MATRIX_FULL=1 build/tests/emc_e2e_tests
// --gtest_filter=ConvExactnessMatrixCpu.* (docs/cpu_target.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "converter/model_builder.h"
#include "cpu_isolated.h"
#include "emc/converter/convert.h"
#include "emc/converter/float_executor.h"

namespace emc {
namespace {

using converter::testing::ModelBuilder;
using Json = nlohmann::json;

enum class Pad { kSame, kValid, kZp11, kZp01, kZp10, kZp22 };
const char* pad_name(Pad p) {
  static const char* kNames[] = {"same",         "valid",        "zeropad(1,1)",
                                 "zeropad(0,1)", "zeropad(1,0)", "zeropad(2,2)"};
  return kNames[int(p)];
}
enum class Kind { kConv, kDepthwise, kSeparable };
const char* kind_name(Kind k) {
  static const char* kNames[] = {"Conv2D", "DepthwiseConv2D", "SeparableConv2D"};
  return kNames[int(k)];
}

struct Case {
  Kind kind = Kind::kConv;
  int kh = 3, kw = 3, stride = 1;
  Pad pad = Pad::kSame;
  int n = 16;
  std::string name() const {
    return std::string(kind_name(kind)) + " " + std::to_string(kh) + "x" + std::to_string(kw) +
           " s" + std::to_string(stride) + " " + pad_name(pad) + " " + std::to_string(n) + "x" +
           std::to_string(n) + " cpu";
  }
};

std::vector<float> randn(std::mt19937& rng, std::size_t n, float sd) {
  std::normal_distribution<float> d(0.0f, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// -p cpu's weights are int8 symmetric per output channel (docs/cpu_target.md): w -> s·round(w/s),
// s = max|w_channel| / 127, rounded half away from zero. `channels`: the kernel's last axis.
std::vector<float> int8_weights(std::vector<float> w, std::size_t channels) {
  std::vector<double> amax(channels, 0.0);
  for (std::size_t i = 0; i < w.size(); ++i)
    amax[i % channels] = std::max(amax[i % channels], std::fabs(double(w[i])));
  for (std::size_t i = 0; i < w.size(); ++i) {
    const double sc = amax[i % channels] > 0 ? amax[i % channels] / 127.0 : 1.0;
    w[i] = float(std::round(w[i] / sc) * sc);
  }
  return w;
}

// The model of case c; with `q8` its kernels hold int8-rounded weights (the float reference of
// what weight rounding alone costs).
ModelBuilder build(const Case& c, std::mt19937& rng, bool q8 = false) {
  auto kq = [q8](std::vector<float> w, std::size_t ch) {
    return q8 ? int8_weights(std::move(w), ch) : w;
  };
  constexpr int kC = 3, kF = 4;
  ModelBuilder mb;
  mb.input("in", {c.n, c.n, kC});
  const std::string padding = c.pad == Pad::kSame ? "same" : "valid";
  if (c.pad != Pad::kSame && c.pad != Pad::kValid) {
    const int a = c.pad == Pad::kZp11 ? 1 : c.pad == Pad::kZp01 ? 0 : c.pad == Pad::kZp10 ? 1 : 2;
    const int b = c.pad == Pad::kZp11 ? 1 : c.pad == Pad::kZp01 ? 1 : c.pad == Pad::kZp10 ? 0 : 2;
    mb.layer("ZeroPadding2D", "pad", {{"padding", Json::array({{a, b}, {a, b}})}});
  }
  Json cfg = {{"kernel_size", {c.kh, c.kw}},
              {"strides", {c.stride, c.stride}},
              {"padding", padding},
              {"use_bias", true},
              {"activation", "relu"}};
  const auto taps = std::size_t(c.kh * c.kw);
  int cout = kF;
  if (c.kind == Kind::kDepthwise) {
    cfg["depth_multiplier"] = 1;
    mb.layer("DepthwiseConv2D", "t", cfg);
    mb.weight("t/depthwise_kernel", {c.kh, c.kw, kC, 1}, kq(randn(rng, taps * kC, 0.6f), kC));
    cout = kC;
  } else if (c.kind == Kind::kSeparable) {
    cfg["filters"] = kF;
    cfg["depth_multiplier"] = 1;
    mb.layer("SeparableConv2D", "t", cfg);
    mb.weight("t/depthwise_kernel", {c.kh, c.kw, kC, 1}, kq(randn(rng, taps * kC, 0.6f), kC));
    mb.weight("t/pointwise_kernel", {1, 1, kC, kF}, kq(randn(rng, std::size_t(kC * kF), 0.5f), kF));
  } else {
    cfg["filters"] = kF;
    mb.layer("Conv2D", "t", cfg);
    mb.weight("t/kernel", {c.kh, c.kw, kC, kF}, kq(randn(rng, taps * kC * kF, 0.4f), kF));
  }
  mb.weight("t/bias", {cout}, randn(rng, std::size_t(cout), 0.1f));
  mb.layer("Conv2D", "pw",
           {{"filters", kF},
            {"kernel_size", {1, 1}},
            {"strides", {1, 1}},
            {"padding", "valid"},
            {"use_bias", true},
            {"activation", "linear"}});
  mb.weight("pw/kernel", {1, 1, cout, kF}, kq(randn(rng, std::size_t(cout * kF), 0.5f), kF));
  mb.weight("pw/bias", {kF}, randn(rng, kF, 0.1f));
  return mb;
}

std::vector<Case> all_cases() {
  std::vector<Case> v;
  const std::pair<int, int> kernels[] = {{1, 1}, {3, 3}, {5, 5}, {7, 7}, {1, 3}, {3, 1}};
  for (Kind kind : {Kind::kConv, Kind::kDepthwise, Kind::kSeparable})
    for (auto [kh, kw] : kernels)
      for (int s : {1, 2})
        for (Pad p : {Pad::kSame, Pad::kValid, Pad::kZp11, Pad::kZp01, Pad::kZp10, Pad::kZp22})
          for (int n : {4, 5, 8, 15, 16, 17, 31, 32, 33, 64, 65}) {
            Case c;
            c.kind = kind, c.kh = kh, c.kw = kw, c.stride = s, c.pad = p, c.n = n;
            v.push_back(c);
          }
  return v;
}

TEST(ConvExactnessMatrixCpu, EveryFormConvertsWithin3dBOfItsRoundingFloor) {
  const bool full = std::getenv("EMC_CONV_MATRIX_FULL") != nullptr;
  const auto cases = all_cases();
  std::vector<Case> run;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const bool mobilenet = c.kh == 3 && c.kw == 3 && c.stride == 2 && c.n == 16 &&
                           (c.pad == Pad::kZp11 || c.pad == Pad::kSame || c.pad == Pad::kZp01);
    if (full || i % 11 == (i / 11) % 11 || mobilenet) run.push_back(c);  // n is innermost
  }
  const auto t0 = std::chrono::steady_clock::now();
  int converted = 0, not_models = 0, layers = 0;
  double worst_margin = 1e9, weight_cost = 0;
  int below = 0;
  std::string worst;
  for (const Case& c : run) {
    SCOPED_TRACE(c.name());
    std::mt19937 rng(1234);
    const ModelBuilder mb = build(c, rng);
    auto g = mb.graph();
    if (!g.ok()) {  // the kernel does not fit the (padded) map: Keras refuses the model too
      ++not_models;
      EXPECT_NE(g.error().code(), Errc::kInternal) << g.error().to_string();
      EXPECT_TRUE(g.error().layer().has_value()) << g.error().to_string();
      continue;
    }
    std::vector<converter::Tensor> inputs;
    std::vector<std::vector<converter::Tensor>> samples;
    for (int i = 0; i < 2; ++i) {
      converter::Tensor t;
      t.shape = g->shape(g->inputs[0]);
      t.data.resize(std::size_t(t.shape.num_elements()));
      for (auto& x : t.data) x = static_cast<float>(rng() % 256) / 255.0f;  // the pixel grid
      inputs.push_back(t);
      samples.push_back({t});
    }
    converter::ConvertOptions opt;
    opt.target = converter::Target::kCpu;
    auto r = converter::convert(*g, samples, opt);
    ASSERT_TRUE(r.ok()) << "-p cpu has no KPU limit, every form must convert: "
                        << r.error().to_string();
    ++converted;
    const emc::testing::IsoResult iso = emc::testing::run_cpu_isolated(*r, *g, inputs);
    ASSERT_TRUE(iso.error.empty()) << iso.error;
    // What the int8 weights alone cost each tensor: the same model with int8-rounded kernels
    // against the original, in the float executor (no other rounding).
    std::mt19937 rng8(1234);
    auto g8 = build(c, rng8, true).graph();
    ASSERT_TRUE(g8.ok()) << g8.error().to_string();
    std::map<std::string, double> weight_err;
    for (const auto& t : inputs) {
      auto f = converter::run_float(*g, {t}, converter::RunOptions{true});
      auto f8 = converter::run_float(*g8, {t}, converter::RunOptions{true});
      ASSERT_TRUE(f.ok() && f8.ok());
      for (const auto& [idx, st] : iso.layers) {
        const auto a = g->find_tensor(st.tensor), b = g8->find_tensor(st.tensor);
        if (a == converter::kNoTensor || b == converter::kNoTensor) continue;
        const auto &x = f->at(std::size_t(a)).data, &y = f8->at(std::size_t(b)).data;
        for (std::size_t k = 0; k < x.size() && k < y.size(); ++k)
          weight_err[st.tensor] += double(x[k] - y[k]) * double(x[k] - y[k]);
      }
    }
    bool saw_t = false, saw_pw = false;
    for (const auto& [idx, st] : iso.layers) {
      saw_t |= st.tensor == "t";
      saw_pw |= st.tensor == "pw";
      if (st.sig == 0) continue;
      ++layers;
      // The floor: output rounding plus the int8 weights' own error (independent of each other).
      const double we = weight_err[st.tensor];
      const double fl = 10 * std::log10(st.sig / std::max(st.round_err + we, 1e-30));
      weight_cost = std::max(weight_cost, st.floor() - fl);
      const double margin = st.sqnr() - (fl - 3.0);
      if (margin < worst_margin) worst_margin = margin, worst = c.name() + " '" + st.tensor + "'";
      below += st.sqnr() < fl - 3.0;
      EXPECT_GE(st.sqnr(), fl - 3.0)
          << "layer " << idx << " " << st.type << " '" << st.tensor << "': isolated " << st.sqnr()
          << " dB, floor (output rounding + int8 weights) " << fl << " dB, output rounding alone "
          << st.floor() << " dB";
    }
    EXPECT_TRUE(saw_t && saw_pw) << "the conv under test or its consumer was not compared";
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "  cpu conv exactness matrix: %zu of %zu cases run%s in %.1f s: %d converted (%d layers, "
      "%d more than 3 dB under their floor; closest: %.2f dB above the limit, %s; the int8 weights "
      "cost up to %.1f dB of the output-rounding floor), %d not models (kernel larger than the "
      "padded map)\n",
      run.size(), cases.size(), full ? "" : " (EMC_CONV_MATRIX_FULL=1 for all)", secs, converted,
      layers, below, worst_margin, worst.c_str(), weight_cost, not_models);
}

}  // namespace
}  // namespace emc
