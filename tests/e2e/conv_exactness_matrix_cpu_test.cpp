// Exactness matrix of the conv lowering forms (issue 11), the -p cpu column: {Conv2D,
// DepthwiseConv2D, SeparableConv2D} x kernel {1x1, 3x3, 5x5, 7x7, 1x3, 3x1} x stride {1, 2} x
// padding {'same', 'valid', ZeroPadding2D (1,1), (0,1), (1,0), (2,2)} x map sizes {4, 5, 8, 15,
// 16, 17, 31, 32, 33, 64, 65} (the k210 column's sizes). Each case is a tiny TF.js model built
// here (a ZeroPadding2D, the conv with ReLU, then a 1x1 conv), converted for -p cpu (EMC int8
// convolutions, no KPU limit: every form must convert) and run on the cpu backend with every
// int8 layer isolated (tests/e2e/cpu_isolated.h: its input is the float executor's tensor rounded
// to the kmodel's own int8 grid, as emc-compare --isolated does). Every compared layer must be
// within 3 dB of its rounding floor: the best any int8 layer with its parameters can do, i.e. the
// float layer (run here on its own, in the float executor) with its int8 per-channel weights
// (rounded as docs/cpu_target.md defines) and its bias-corrected bias, on its input rounded to
// the input's int8 grid, its output rounded to its grid. -p cpu has no 16-bit weights, unlike
// the k210 column, which uses them to leave only the output rounding.
// Why not the output rounding of the float tensor plus the weights' error (the floor before):
// (1) an isolated layer reads an int8 input; its rounding passes through the layer and only a
// few taps average it (a separable conv's pointwise half and the 1x1 consumer have 3-4), so it
// costs up to ~5 dB, as in the elementwise layers of cpu_int8_forms_test; (2) on maps <= 8x8 a
// layer has 6-48 outputs (a ReLU zeroes half), and the rounding error of the float tensor is
// one draw, the int8 layer's another: adding their expected sizes misjudged 21 of 6224 layers
// by up to 7.5 dB (one output rounded the other way is 5 dB on 5 nonzero outputs). The floor
// here rounds the same values the layer does, so a layer that computes what docs/cpu_target.md
// defines is within ~1 dB of it at any size, and one that does not (a wrong bias correction,
// an extra rounding) falls below it. A form
// whose kernel does not fit the padded map is not a model (Keras refuses it too) and is counted.
//
// The default run takes every form (kind x kernel x stride x padding, 216) once, at a map size
// that rotates through the 11 sizes from one form to the next, plus the stride-2 3x3 forms of
// MobileNet on 16x16. All 2376 cases: EMC_CONV_MATRIX_FULL=1 build/tests/emc_e2e_tests
// --gtest_filter=ConvExactnessMatrixCpu.* (docs/cpu_target.md). EMC_CONV_MATRIX_FILTER=<regex>
// (ECMAScript, searched in the case name, e.g. " [458]x[458] cpu") runs only the matching cases
// of the full set.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 with -fsanitize=address reports -Wmaybe-uninitialized inside libstdc++'s <regex>
// (std_function.h) for the filter below: a false positive in the library, not in this file.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <regex>
#include <string>
#include <vector>

#include "converter/model_builder.h"
#include "cpu_isolated.h"
#include "emc/converter/convert.h"
#include "emc/converter/float_executor.h"

namespace emc {
namespace {

using converter::testing::ModelBuilder;
using converter::testing::randn;
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

// Which layers of case c's model build() makes: all of them, or one layer on its own (with
// int8-rounded kernels: the float reference of one int8 layer, see the test).
enum class Part {
  kAll,
  kHead,       // input -> [ZeroPadding2D] -> the conv under test (a separable one: its depthwise)
  kPointwise,  // a separable conv's pointwise half (1x1, bias, ReLU), on its depthwise output
  kPw,         // the 1x1 consumer 'pw', on the conv's output
};

// The model of case c; with `q8` its kernels hold int8-rounded weights. A part's input has shape
// `in_shape` (kPointwise, kPw). The weights are drawn from `rng` in the same order for every part.
// `linear`: the part's layer without its ReLU; `shift`: added to the part's layer's bias (a
// separable conv's depthwise half then gets a bias).
ModelBuilder build(const Case& c, std::mt19937& rng, bool q8 = false, Part part = Part::kAll,
                   std::vector<int> in_shape = {}, bool linear = false,
                   const std::vector<double>& shift = {}) {
  auto kq = [q8](std::vector<float> w, std::size_t ch) {
    return q8 ? int8_weights(std::move(w), ch) : w;
  };
  auto shifted = [&](std::vector<float> b) {
    for (std::size_t i = 0; i < b.size() && i < shift.size(); ++i) b[i] = float(b[i] + shift[i]);
    return b;
  };
  constexpr int kC = 3, kF = 4;
  const bool head = part == Part::kAll || part == Part::kHead;
  ModelBuilder mb;
  mb.input("in", head ? std::vector<int>{c.n, c.n, kC} : in_shape);
  const std::string padding = c.pad == Pad::kSame ? "same" : "valid";
  if (head && c.pad != Pad::kSame && c.pad != Pad::kValid) {
    const int a = c.pad == Pad::kZp11 ? 1 : c.pad == Pad::kZp01 ? 0 : c.pad == Pad::kZp10 ? 1 : 2;
    const int b = c.pad == Pad::kZp11 ? 1 : c.pad == Pad::kZp01 ? 1 : c.pad == Pad::kZp10 ? 0 : 2;
    mb.layer("ZeroPadding2D", "pad", {{"padding", Json::array({{a, b}, {a, b}})}});
  }
  Json cfg = {{"kernel_size", {c.kh, c.kw}},
              {"strides", {c.stride, c.stride}},
              {"padding", padding},
              {"use_bias", true},
              {"activation", linear ? "linear" : "relu"}};
  const Json one = {
      {"kernel_size", {1, 1}}, {"strides", {1, 1}}, {"padding", "valid"}, {"use_bias", true}};
  const auto taps = std::size_t(c.kh * c.kw);
  int cout = kF;
  if (c.kind == Kind::kDepthwise) {
    cfg["depth_multiplier"] = 1;
    auto w = kq(randn(rng, taps * kC, 0.6f), kC);
    auto b = randn(rng, std::size_t(kC), 0.1f);
    if (head) {
      mb.layer("DepthwiseConv2D", "t", cfg);
      mb.weight("t/depthwise_kernel", {c.kh, c.kw, kC, 1}, w);
      mb.weight("t/bias", {kC}, shifted(b));
    }
    cout = kC;
  } else if (c.kind == Kind::kSeparable) {
    cfg["filters"] = kF;
    cfg["depth_multiplier"] = 1;
    auto dw = kq(randn(rng, taps * kC, 0.6f), kC);
    auto pk = kq(randn(rng, std::size_t(kC * kF), 0.5f), kF);
    auto b = randn(rng, std::size_t(kF), 0.1f);
    if (part == Part::kAll) {
      mb.layer("SeparableConv2D", "t", cfg);
      mb.weight("t/depthwise_kernel", {c.kh, c.kw, kC, 1}, dw);
      mb.weight("t/pointwise_kernel", {1, 1, kC, kF}, pk);
      mb.weight("t/bias", {kF}, b);
    } else if (part == Part::kHead) {  // TF.js: depthwise, then the pointwise conv, then bias
      Json d = cfg;
      d.erase("filters");
      d["use_bias"] = !shift.empty();
      d["activation"] = "linear";
      mb.layer("DepthwiseConv2D", "t", d);
      mb.weight("t/depthwise_kernel", {c.kh, c.kw, kC, 1}, dw);
      if (!shift.empty()) mb.weight("t/bias", {kC}, shifted(std::vector<float>(kC, 0.0f)));
    } else if (part == Part::kPointwise) {
      Json p = one;
      p["filters"] = kF;
      p["activation"] = linear ? "linear" : "relu";
      mb.layer("Conv2D", "t", p);
      mb.weight("t/kernel", {1, 1, kC, kF}, pk);
      mb.weight("t/bias", {kF}, shifted(b));
    }
  } else {
    cfg["filters"] = kF;
    auto w = kq(randn(rng, taps * kC * kF, 0.4f), kF);
    auto b = randn(rng, std::size_t(kF), 0.1f);
    if (head) {
      mb.layer("Conv2D", "t", cfg);
      mb.weight("t/kernel", {c.kh, c.kw, kC, kF}, w);
      mb.weight("t/bias", {kF}, shifted(b));
    }
  }
  auto pk = kq(randn(rng, std::size_t(cout * kF), 0.5f), kF);
  auto pb = randn(rng, kF, 0.1f);
  if (part == Part::kAll || part == Part::kPw) {
    Json p = one;
    p["filters"] = kF;
    p["activation"] = "linear";
    mb.layer("Conv2D", "pw", p);
    mb.weight("pw/kernel", {1, 1, cout, kF}, pk);
    mb.weight("pw/bias", {kF}, part == Part::kPw ? shifted(pb) : pb);
  }
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
  const char* filter = std::getenv("EMC_CONV_MATRIX_FILTER");
  const bool full = std::getenv("EMC_CONV_MATRIX_FULL") != nullptr || filter != nullptr;
  const std::regex only(filter ? filter : "");
  const auto cases = all_cases();
  std::vector<Case> run;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    if (filter && !std::regex_search(c.name(), only)) continue;
    const bool mobilenet = c.kh == 3 && c.kw == 3 && c.stride == 2 && c.n == 16 &&
                           (c.pad == Pad::kZp11 || c.pad == Pad::kSame || c.pad == Pad::kZp01);
    if (full || i % 11 == (i / 11) % 11 || mobilenet) run.push_back(c);  // n is innermost
  }
  const auto t0 = std::chrono::steady_clock::now();
  int converted = 0, not_models = 0, layers = 0;
  double worst_margin = 1e9, input_cost = 0;
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
    // The floor of a layer: the best any int8 layer with its parameters can do, i.e. the exact
    // float layer with its int8 weights and its (bias-corrected) bias, on its input rounded to
    // the input's int8 grid (what --isolated feeds it), rounded to its output grid; see the
    // comment at the top.
    std::vector<std::vector<converter::Tensor>> ref;
    for (const auto& t : inputs) {
      auto f = converter::run_float(*g, {t}, converter::RunOptions{true});
      ASSERT_TRUE(f.ok()) << f.error().to_string();
      ref.push_back(std::move(f).value());
    }
    const emc::testing::IsoLayer* grid_in = nullptr;  // the grid 'in' is read on, if rounded
    for (const auto& [idx, st] : iso.layers)
      if (st.tensor == "in" || (st.tensor == "pad" && !grid_in)) grid_in = &st;
    auto compared = [&](const std::string& tensor) -> const emc::testing::IsoLayer* {
      for (const auto& [idx, st] : iso.layers)
        if (st.tensor == tensor) return &st;
      return nullptr;
    };
    bool saw_t = false, saw_pw = false;
    for (const auto& [idx, st] : iso.layers) {
      saw_t |= st.tensor == "t";
      saw_pw |= st.tensor == "pw";
      if (st.sig == 0) continue;
      ++layers;
      Part part = Part::kAll;
      std::string from = "in";
      if (st.tensor == "t/depthwise") {
        part = Part::kHead;
      } else if (st.tensor == "t") {
        part = c.kind == Kind::kSeparable ? Part::kPointwise : Part::kHead;
        if (part == Part::kPointwise) from = "t/depthwise";
      } else if (st.tensor == "pw") {
        part = Part::kPw, from = "t";
      }
      double ideal = st.round_err;  // a quantize or a pure move: the output rounding alone
      if (part != Part::kAll) {
        const auto tin = g->find_tensor(from), tout = g->find_tensor(st.tensor);
        ASSERT_TRUE(tin != converter::kNoTensor && tout != converter::kNoTensor);
        const emc::testing::IsoLayer* gi = from == "in" ? grid_in : compared(from);
        const auto& dims = g->shape(tin).dims;
        const std::vector<int> shape(dims.begin(), dims.end());
        // A conv reading an int8 tensor has its bias corrected for the weight rounding
        // (docs/cpu_target.md "Bias correction": minus sum (w_q - w) * E[x] over the taps inside
        // the input, E[x] the calibration mean per input channel): the layer's own bias, so the
        // floor's too. That sum is the mean over output positions of the linear layer with
        // kernel w_q - w on the constant map E[x] (zero padding outside), computed here with
        // the float executor from the two weight sets.
        std::vector<double> shift;
        if (gi) {
          converter::Tensor m;
          m.shape = g->shape(tin);
          const std::size_t ch = std::size_t(m.shape.c()),
                            cnt = std::size_t(m.shape.num_elements());
          std::vector<double> mean(ch, 0.0);
          for (const auto& sample : ref)
            for (std::size_t k = 0; k < cnt; ++k)
              mean[k % ch] += sample.at(std::size_t(tin)).data[k];
          for (auto& v : mean) v /= double(ref.size() * (cnt / ch));
          for (std::size_t k = 0; k < cnt; ++k) m.data.push_back(float(mean[k % ch]));
          std::mt19937 ra(1234), rb(1234);
          auto ga = build(c, ra, true, part, shape, true).graph();
          auto gb = build(c, rb, false, part, shape, true).graph();
          ASSERT_TRUE(ga.ok() && gb.ok());
          auto ya = converter::run_float(*ga, {m});
          auto yb = converter::run_float(*gb, {m});
          ASSERT_TRUE(ya.ok() && yb.ok());
          const auto &a = ya->at(0).data, &b = yb->at(0).data;
          const std::size_t oc = std::size_t(ya->at(0).shape.c());
          shift.assign(oc, 0.0);
          for (std::size_t k = 0; k < a.size(); ++k) shift[k % oc] -= double(a[k]) - b[k];
          for (auto& v : shift) v /= double(a.size() / oc);
        }
        std::mt19937 rng8(1234);
        auto g8 = build(c, rng8, true, part, shape, false, shift).graph();
        ASSERT_TRUE(g8.ok()) << g8.error().to_string();
        ideal = 0;
        for (std::size_t s = 0; s < inputs.size(); ++s) {
          converter::Tensor x = ref[s].at(std::size_t(tin));
          if (gi)
            for (auto& v : x.data) v = float(gi->on_grid(v));
          auto y = converter::run_float(*g8, {x});
          ASSERT_TRUE(y.ok()) << y.error().to_string();
          const auto& want = ref[s].at(std::size_t(tout)).data;
          const auto& got = y->at(0).data;
          ASSERT_EQ(got.size(), want.size());
          for (std::size_t k = 0; k < got.size(); ++k) {
            const double e = st.on_grid(got[k]) - want[k];
            ideal += e * e;
          }
        }
      }
      const double fl = 10 * std::log10(st.sig / std::max(ideal, 1e-30));
      input_cost = std::max(input_cost, st.floor() - fl);
      const double margin = st.sqnr() - (fl - 3.0);
      if (margin < worst_margin) worst_margin = margin, worst = c.name() + " '" + st.tensor + "'";
      below += st.sqnr() < fl - 3.0;
      EXPECT_GE(st.sqnr(), fl - 3.0)
          << "layer " << idx << " " << st.type << " '" << st.tensor << "': isolated " << st.sqnr()
          << " dB, floor (the float layer with int8 weights on its int8 input, rounded) " << fl
          << " dB, output rounding alone " << st.floor() << " dB (" << st.n << " elements)";
    }
    EXPECT_TRUE(saw_t && saw_pw) << "the conv under test or its consumer was not compared";
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "  cpu conv exactness matrix: %zu of %zu cases run%s in %.1f s: %d converted (%d layers, "
      "%d more than 3 dB under their floor; closest: %.2f dB above the limit, %s; the int8 input "
      "and weights cost up to %.1f dB of the output-rounding floor), %d not models (kernel "
      "larger than the padded map)\n",
      run.size(), cases.size(), full ? "" : " (EMC_CONV_MATRIX_FULL=1 for all)", secs, converted,
      layers, below, worst_margin, worst.c_str(), input_cost, not_models);
}

}  // namespace
}  // namespace emc
