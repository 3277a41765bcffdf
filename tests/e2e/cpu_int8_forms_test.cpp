// -p cpu lowering of the layers that map onto EMC's int8 movement and elementwise types
// (docs/cpu_target.md): Subtract / Multiply / Maximum / Minimum / Average as
// EMC_ELEMENTWISE_INT8, Cropping2D and a ZeroPadding2D no conv absorbs as EMC_PAD_CROP_INT8,
// Concatenate as EMC_CONCAT_INT8 and UpSampling2D as EMC_RESIZE_NEAREST_INT8. Each is a small
// TF.js model built here, converted for -p cpu and run on the cpu backend with every int8 layer
// isolated (its inputs are the float executor's tensors rounded to their int8 grids, as
// emc-compare --isolated does): the layer under test must be within 3 dB of its rounding floor
// (the float tensor rounded to the layer's own grid), and the pure moves (pad, crop, resize)
// exactly at it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
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

using Checked = emc::testing::CpuChecked;
using emc::testing::int8_grid_of;
using emc::testing::on_int8_grid;

// The layer of `type` writing tensor `tensor`: found, compared, within `db` of its floor.
void expect_layer(const Checked& c, const std::string& type, const std::string& tensor,
                  double db = 3.0) {
  bool found = false;
  for (const auto& [i, st] : c.iso.layers) {
    if (st.tensor != tensor) continue;
    found = true;
    EXPECT_EQ(st.type, type) << "layer " << i << " writing '" << tensor << "'";
    ASSERT_GT(st.sig, 0) << tensor;
    EXPECT_GE(st.sqnr(), st.floor() - db)
        << type << " '" << tensor << "': isolated " << st.sqnr() << " dB, floor " << st.floor();
    std::printf("    %-24s %-8s isolated %6.2f dB, rounding floor %6.2f dB\n", type.c_str(),
                tensor.c_str(), st.sqnr(), st.floor());
  }
  EXPECT_TRUE(found) << "no compared int8 layer writes '" << tensor << "'";
}

// An elementwise layer of two int8 tensors cannot beat the float op of its inputs rounded to
// their own grids, rounded again to the output grid: the input rounding passes straight through
// (no averaging over taps as in a conv), so with input and output steps alike this floor is up to
// ~5 dB under the output-only one. The layer must reach it (within 0.5 dB: its own rescales round
// too), and stay within 8 dB of the output-only floor.
void expect_at_input_floor(const Checked& c, const std::string& a, const std::string& b,
                           const std::string& out,
                           const std::function<double(double, double)>& op) {
  const auto qa = int8_grid_of(c.r, a), qb = int8_grid_of(c.r, b), qo = int8_grid_of(c.r, out);
  const TensorId ta = c.g.find_tensor(a), tb = c.g.find_tensor(b), to = c.g.find_tensor(out);
  ASSERT_TRUE(ta != kNoTensor && tb != kNoTensor && to != kNoTensor);
  double sig = 0, err = 0;
  for (const auto& t : c.inputs) {
    auto f = run_float(c.g, {t}, RunOptions{true});
    ASSERT_TRUE(f.ok()) << f.error().to_string();
    const auto &fa = f->at(std::size_t(ta)).data, &fb = f->at(std::size_t(tb)).data,
               &fo = f->at(std::size_t(to)).data;
    for (std::size_t k = 0; k < fo.size(); ++k) {
      const double best = on_int8_grid(op(on_int8_grid(fa[k], qa), on_int8_grid(fb[k], qb)), qo);
      sig += double(fo[k]) * fo[k];
      err += (best - fo[k]) * (best - fo[k]);
    }
  }
  const double floor_in = 10 * std::log10(sig / std::max(err, 1e-30));
  for (const auto& [i, st] : c.iso.layers) {
    if (st.tensor != out) continue;
    EXPECT_GE(st.sqnr(), floor_in - 0.5)
        << st.type << " '" << out << "': isolated " << st.sqnr() << " dB, floor with the input "
        << "grids " << floor_in << " dB";
    EXPECT_GE(st.sqnr(), st.floor() - 8.0);
    std::printf(
        "    %-24s %-8s isolated %6.2f dB, floor with the input grids %6.2f dB, output "
        "rounding alone %6.2f dB\n",
        st.type.c_str(), out.c_str(), st.sqnr(), floor_in, st.floor());
    return;
  }
  ADD_FAILURE() << "no compared int8 layer writes '" << out << "'";
}

TEST(CpuInt8Forms, ElementwiseMergesAreEmcElementwiseInt8) {
  const std::map<std::string, std::function<double(double, double)>> ops = {
      {"Subtract", [](double x, double y) { return x - y; }},
      {"Multiply", [](double x, double y) { return x * y; }},
      {"Maximum", [](double x, double y) { return std::max(x, y); }},
      {"Minimum", [](double x, double y) { return std::min(x, y); }},
      {"Average", [](double x, double y) { return (x + y) / 2; }}};
  for (const auto& [cls, op] : ops) {
    SCOPED_TRACE(cls);
    std::mt19937 rng(3);
    ModelBuilder mb;
    mb.input("in", {8, 8, 3});
    same_conv(mb, rng, "a", 3, 3, 4, "in");
    same_conv(mb, rng, "b", 1, 3, 4, "in");
    mb.layer(cls, "m", Json::object(), {"a", "b"});
    same_conv(mb, rng, "after", 1, 4, 2, "m");
    const Checked c = emc::testing::convert_cpu_isolated(mb, 8, 8, 3);
    for (const auto& l : c.r.layers) {
      if (l.dtype == "int8" && l.float_tensor && *l.float_tensor == "m") {
        EXPECT_EQ(l.type, format::LayerType::kEmcElementwiseInt8);
      }
    }
    expect_at_input_floor(c, "a", "b", "m", op);
  }
}

TEST(CpuInt8Forms, ElementwiseWithReluTakesItAsTheClamp) {
  std::mt19937 rng(4);
  ModelBuilder mb;
  mb.input("in", {6, 6, 2});
  same_conv(mb, rng, "a", 3, 2, 3, "in");
  same_conv(mb, rng, "b", 3, 2, 3, "in");
  mb.layer("Subtract", "m", Json::object(), {"a", "b"});
  mb.layer("Activation", "r", {{"activation", "relu"}}, {"m"});
  const Checked c = emc::testing::convert_cpu_isolated(mb, 6, 6, 2);
  for (const auto& l : c.r.layers) {
    if (l.dtype == "int8" && l.float_tensor && *l.float_tensor == "r") {
      EXPECT_EQ(l.type, format::LayerType::kEmcElementwiseInt8);
    }
  }
  expect_at_input_floor(c, "a", "b", "r", [](double x, double y) { return std::max(x - y, 0.0); });
}

TEST(CpuInt8Forms, CroppingAndLoneZeroPaddingArePadCropInt8AtTheirFloor) {
  std::mt19937 rng(5);
  ModelBuilder mb;
  mb.input("in", {9, 7, 3});
  same_conv(mb, rng, "a", 3, 3, 4, "in", "relu");
  mb.layer("Cropping2D", "crop", {{"cropping", Json::array({{1, 2}, {0, 3}})}}, {"a"});
  mb.layer("ZeroPadding2D", "pad", {{"padding", Json::array({{2, 0}, {1, 1}})}}, {"crop"});
  mb.layer("Activation", "sig", {{"activation", "sigmoid"}}, {"pad"});
  const Checked c = emc::testing::convert_cpu_isolated(mb, 9, 7, 3);
  expect_layer(c, "EMC_PAD_CROP_INT8", "crop", 1e-9);
  expect_layer(c, "EMC_PAD_CROP_INT8", "pad", 1e-9);
}

TEST(CpuInt8Forms, ConcatAndUpsamplingAreEmcInt8Types) {
  std::mt19937 rng(6);
  ModelBuilder mb;
  mb.input("in", {8, 8, 3});
  same_conv(mb, rng, "a", 3, 3, 4, "in", "relu");
  same_conv(mb, rng, "b", 3, 3, 2, "in");
  mb.layer("Concatenate", "cat", {{"axis", -1}}, {"a", "b"});
  mb.layer("UpSampling2D", "up", {{"size", {2, 3}}}, {"cat"});
  same_conv(mb, rng, "after", 3, 6, 2, "up");
  const Checked c = emc::testing::convert_cpu_isolated(mb, 8, 8, 3);
  expect_layer(c, "EMC_CONCAT_INT8", "cat");
  expect_layer(c, "EMC_RESIZE_NEAREST_INT8", "up", 1e-9);
}

}  // namespace
}  // namespace emc
