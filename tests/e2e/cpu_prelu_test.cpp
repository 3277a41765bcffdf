// Keras PReLU on -p cpu as EMC_PRELU_INT8 (docs/cpu_target.md): small TF.js models built here,
// converted and run on the cpu backend with every int8 layer isolated (tests/e2e/cpu_isolated.h).
// The floor of the PReLU layer is the best any int8 layer can do: the float PReLU of its input
// rounded to the input's int8 grid, rounded to the output grid (the input rounding passes straight
// through, slope 1 or alpha, as in the elementwise layers of cpu_int8_forms_test). The layer must
// be within 0.5 dB of it (its Q31 rescales round too; the matrix's bar is 3 dB).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>

#include "converter/model_builder.h"
#include "cpu_checked.h"
#include "emc/converter/convert.h"
#include "emc/converter/float_executor.h"
#include "emc/format/kmodel_codec.h"

namespace emc {
namespace {

using namespace converter;
using Json = nlohmann::json;
using converter::testing::ModelBuilder;
using converter::testing::randn;
using converter::testing::same_conv;
using emc::testing::int8_grid_of;
using emc::testing::on_int8_grid;

// Converts `mb` (input h x w x c) for -p cpu and checks the PReLU writing "p" against its floor;
// `alpha(k)` is the slope of element k of the (HWC) tensor.
void check_prelu(const ModelBuilder& mb, int h, int w, int c_in,
                 const std::function<double(std::size_t)>& alpha) {
  const auto c = emc::testing::convert_cpu_isolated(mb, h, w, c_in);
  if (c.r.bytes.empty()) return;  // the failure is reported
  int prelus = 0;
  for (const auto& l : c.r.layers) prelus += l.type == format::LayerType::kEmcPreluInt8;
  EXPECT_EQ(prelus, 1);
  const auto qa = int8_grid_of(c.r, "a"), qp = int8_grid_of(c.r, "p");
  const TensorId ta = c.g.find_tensor("a"), tp = c.g.find_tensor("p");
  ASSERT_TRUE(ta != kNoTensor && tp != kNoTensor);
  double sig = 0, err = 0;
  int negative = 0;
  for (const auto& t : c.inputs) {
    auto f = run_float(c.g, {t}, RunOptions{true});
    ASSERT_TRUE(f.ok()) << f.error().to_string();
    const auto &fa = f->at(std::size_t(ta)).data, &fp = f->at(std::size_t(tp)).data;
    for (std::size_t k = 0; k < fp.size(); ++k) {
      // Keras PReLU: x < 0 ? alpha * x : x.
      EXPECT_FLOAT_EQ(fp[k], fa[k] < 0 ? float(alpha(k)) * fa[k] : fa[k]);
      negative += fa[k] < 0;
      const double x = on_int8_grid(fa[k], qa);
      const double best = on_int8_grid(x < 0 ? alpha(k) * x : x, qp);
      sig += double(fp[k]) * fp[k];
      err += (best - fp[k]) * (best - fp[k]);
    }
  }
  EXPECT_GT(negative, 10);  // the negative branch is exercised
  const double floor_in = 10 * std::log10(sig / std::max(err, 1e-30));
  bool found = false;
  for (const auto& [i, st] : c.iso.layers) {
    if (st.tensor != "p") continue;
    found = true;
    EXPECT_EQ(st.type, "EMC_PRELU_INT8");
    EXPECT_GE(st.sqnr(), floor_in - 0.5)
        << "isolated " << st.sqnr() << " dB, floor with the input grid " << floor_in << " dB";
    std::printf(
        "    EMC_PRELU_INT8 'p' isolated %6.2f dB, floor with the input grid %6.2f dB, "
        "output rounding alone %6.2f dB\n",
        st.sqnr(), floor_in, st.floor());
  }
  EXPECT_TRUE(found) << "no compared int8 layer writes 'p'";
}

TEST(CpuPrelu, PerChannelSlopesSharedOverHW) {
  std::mt19937 rng(5);
  ModelBuilder mb;
  mb.input("in", {8, 8, 3});
  same_conv(mb, rng, "a", 3, 3, 4, "in");
  mb.layer("PReLU", "p", {{"shared_axes", {1, 2}}}, {"a"});
  const std::vector<float> alpha = {0.25f, -0.5f, 0.0f, 1.7f};
  mb.weight("p/alpha", {1, 1, 4}, alpha);
  same_conv(mb, rng, "after", 1, 4, 2, "p");
  check_prelu(mb, 8, 8, 3, [&](std::size_t k) { return double(alpha[k % 4]); });
}

TEST(CpuPrelu, PerElementSlopes) {
  std::mt19937 rng(6);
  ModelBuilder mb;
  mb.input("in", {6, 5, 3});
  same_conv(mb, rng, "a", 3, 3, 2, "in");
  mb.layer("PReLU", "p", Json::object(), {"a"});
  const std::vector<float> alpha = randn(rng, 6 * 5 * 2, 0.4f);
  mb.weight("p/alpha", {6, 5, 2}, alpha);
  same_conv(mb, rng, "after", 1, 2, 2, "p");
  check_prelu(mb, 6, 5, 3, [&](std::size_t k) { return double(alpha[k]); });
}

// -p k210: per-channel slopes run on the CPU as EMC_PRELU_INT8 (named in a warning; an error with
// --sdk-compatible); one slope for the whole tensor is a leaky ReLU in the KPU conv's table.
ModelBuilder k210_model(bool uniform) {
  std::mt19937 rng(9);
  ModelBuilder mb;
  mb.input("in", {8, 8, 3});
  same_conv(mb, rng, "a", 3, 3, 4, "in");
  if (uniform) {
    mb.layer("PReLU", "p", {{"shared_axes", {1, 2, 3}}}, {"a"});
    mb.weight("p/alpha", {1, 1, 1}, {0.2f});
  } else {
    mb.layer("PReLU", "p", {{"shared_axes", {1, 2}}}, {"a"});
    mb.weight("p/alpha", {1, 1, 4}, {0.25f, -0.5f, 0.0f, 1.7f});
  }
  same_conv(mb, rng, "after", 3, 4, 2, "p");
  return mb;
}

Result<ConvertResult> convert_k210(const ModelBuilder& mb, bool sdk_compatible) {
  auto g = mb.graph();
  if (!g.ok()) return g.error();
  std::mt19937 rng(77);
  std::vector<std::vector<Tensor>> samples;
  for (int i = 0; i < 3; ++i) {
    Tensor t{Shape{{8, 8, 3}}, {}};
    for (int k = 0; k < 8 * 8 * 3; ++k) t.data.push_back(float(rng() % 256) / 255.0f);
    samples.push_back({t});
  }
  ConvertOptions opt;
  opt.target = Target::kK210;
  opt.sdk_compatible = sdk_compatible;
  return convert(*g, samples, opt);
}

TEST(K210Prelu, PerChannelSlopesRunOnTheCpuNamedInAWarning) {
  auto r = convert_k210(k210_model(false), false);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  int prelus = 0;
  for (const auto& l : r->layers) {
    if (l.type != format::LayerType::kEmcPreluInt8) continue;
    ++prelus;
    ASSERT_TRUE(l.off_kpu_layer.has_value());
    EXPECT_EQ(l.off_kpu_layer->name, "p");
  }
  EXPECT_EQ(prelus, 1);
  bool warned = false;
  for (const auto& w : r->warnings)
    warned |= w.find("'p'") != std::string::npos && w.find("EMC_PRELU_INT8") != std::string::npos &&
              w.find("stock K210 SDK") != std::string::npos;
  EXPECT_TRUE(warned);
  auto strict = convert_k210(k210_model(false), true);
  ASSERT_FALSE(strict.ok());
  EXPECT_NE(strict.error().to_string().find("--sdk-compatible"), std::string::npos)
      << strict.error().to_string();
  EXPECT_NE(strict.error().to_string().find("'p'"), std::string::npos)
      << strict.error().to_string();
}

TEST(K210Prelu, OneSlopeIsALeakyReluInTheKpuTable) {
  auto r = convert_k210(k210_model(true), true);  // no EMC layer: --sdk-compatible converts
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  for (const auto& l : r->layers) EXPECT_FALSE(format::is_emc_type(l.type)) << l.note;
  int convs = 0;
  for (const auto& l : r->layers) convs += l.type == format::LayerType::kK210Conv;
  EXPECT_EQ(convs, 2);  // the PReLU is the first conv's activation, no layer of its own
}

}  // namespace
}  // namespace emc
