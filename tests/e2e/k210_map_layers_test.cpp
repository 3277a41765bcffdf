// -p k210 lowering of Subtract / Multiply / Maximum / Minimum / Average, Cropping2D and a lone
// ZeroPadding2D (converter/src/lower/elementwise_pad_crop.cpp): the stock V3 forms where exact
// (Subtract and Average as float ADD, a crop and a padding of a map whose zero point is 0 as a
// 1x1 QUANTIZED_MAX_POOL2D), else EMC int8 layers on the CPU through the int8 form of each uint8
// tensor, named in a warning and refused with --sdk-compatible. Each case is a small TF.js model
// built here, converted for k210 and run on kpu-sim with every layer isolated: each layer that
// states a graph tensor in main memory is compared with the float executor's tensor and its output
// bytes replaced by that tensor rounded to the layer's own grid (as emc-compare --isolated does),
// so the layer under test reads the float reference on its input grids. The floor: the float op of
// those rounded inputs, rounded to the output grid (the best any implementation can do); pure
// moves (crop, pad, max, min on one grid) must be exactly at the output rounding.
// kpu-sim and the cpu backend must give the same output bytes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <random>

#include "converter/model_builder.h"
#include "emc/accel_sim/kpu_backend.h"
#include "emc/converter/convert.h"
#include "emc/converter/float_executor.h"
#include "emc/cpu_backend/cpu_backend.h"
#include "emc/format/kmodel_codec.h"
#include "emc/interpreter/interpreter.h"

namespace emc {
namespace {

using namespace converter;
using Json = nlohmann::json;
using converter::testing::ModelBuilder;
using converter::testing::randn;
using converter::testing::same_conv;

// A compared layer: the graph tensor it writes in main memory and its grid.
struct Grid {
  double scale = 1, bias = 0;
  bool int8 = false;
  double code(double v) const {
    const double q = std::round((v - bias) / scale);
    return int8 ? std::clamp(q, -128.0, 127.0) : std::clamp(q, 0.0, 255.0);
  }
  double on(double v) const { return code(v) * scale + bias; }
};
struct Stat {
  std::string tensor, type;
  Grid grid;
  double sig = 0, err = 0, round_err = 0;
  double sqnr() const { return 10 * std::log10(sig / std::max(err, 1e-30)); }
  double floor() const { return 10 * std::log10(sig / std::max(round_err, 1e-30)); }
};
struct Case {
  Graph g;
  std::vector<Tensor> inputs;
  ConvertResult r;
  std::map<std::size_t, Stat> stats;
  std::vector<std::uint8_t> out_kpu, out_cpu;
  double final_sqnr = 0;
  std::vector<std::string> load_diagnostics;  // Interpreter::diagnostics(), each run
};

// The float value of element k (HWC order) of `t`, stored CHW when t is a map.
std::size_t stored_index(const Shape& s, std::size_t k) {
  if (s.rank() != 3) return k;
  const std::size_t C = std::size_t(s.c()), H = std::size_t(s.h()), W = std::size_t(s.w());
  const std::size_t c = k % C, x = (k / C) % W, y = k / C / W;
  return (c * H + y) * W + x;
}

// Runs the inputs on kpu-sim isolated (stats, final_sqnr), or plainly on kpu-sim / on the cpu
// backend only (all_cpu) for their output bytes.
void run_once(Case& t, bool all_cpu, bool isolated) {
  interpreter::Registry reg;
  ASSERT_TRUE(accel_sim::register_kpu_sim_backend(reg).ok());
  ASSERT_TRUE(cpu_backend::register_cpu_backend(reg).ok());
  interpreter::DispatchPolicy policy;
  if (all_cpu)
    policy.order = {cpu_backend::kCpuBackendName, std::string(accel_sim::kKpuSimBackendName)};
  auto interp = interpreter::Interpreter::load(t.r.bytes, reg, policy);
  ASSERT_TRUE(interp.ok()) << interp.error().to_string();
  auto& in = **interp;
  for (const auto& d : in.diagnostics()) t.load_diagnostics.push_back(d.to_string());
  std::map<std::size_t, TensorId> tensor_of;
  for (std::size_t i = 0; i < t.r.layers.size() && isolated; ++i) {
    const auto& li = t.r.layers[i];
    if (!li.out_scale || li.sources.empty()) continue;
    const std::string name = li.float_tensor ? *li.float_tensor : li.sources.back();
    const TensorId id = t.g.find_tensor(name);
    if (id == kNoTensor) continue;
    tensor_of[i] = id;
    Stat& st = t.stats[i];
    st.tensor = name;
    st.type = std::string(format::to_string(li.type));
    st.grid = Grid{*li.out_scale, *li.out_bias, li.out_int8};
  }
  std::vector<Tensor> all;
  in.set_observer([&](const interpreter::LayerEvent& e) {
    auto it = tensor_of.find(e.index);
    if (it == tensor_of.end()) return;
    const auto& ft = all.at(std::size_t(it->second)).data;
    if (e.output.size() != ft.size()) return;  // e.g. a KPU map not sent to main memory
    Stat& st = t.stats[e.index];
    auto mem = in.main_memory().all();
    const auto off = std::size_t(e.output.data() - mem.data());
    const Shape& s = t.g.shape(it->second);
    for (std::size_t k = 0; k < ft.size(); ++k) {
      const std::size_t at = stored_index(s, k);
      const std::uint8_t byte = e.output[at];
      const double got =
          (st.grid.int8 ? double(std::int8_t(byte)) : double(byte)) * st.grid.scale + st.grid.bias;
      const double ref = ft[k];
      st.sig += ref * ref;
      st.err += (got - ref) * (got - ref);
      st.round_err += (st.grid.on(ref) - ref) * (st.grid.on(ref) - ref);
      mem[off + at] = static_cast<std::uint8_t>(static_cast<std::int32_t>(st.grid.code(ref)));
    }
  });
  const Shape& is = t.g.shape(t.g.inputs[0]);
  double sig = 0, err = 0;
  for (const auto& x : t.inputs) {
    auto f = run_float(t.g, {x}, RunOptions{true});
    ASSERT_TRUE(f.ok()) << f.error().to_string();
    all = std::move(f).value();
    std::vector<std::uint8_t> chw(x.data.size());
    for (std::size_t k = 0; k < chw.size(); ++k)
      chw[stored_index(is, k)] = static_cast<std::uint8_t>(std::lround(x.data[k] * 255.0f));
    ASSERT_TRUE(in.set_input(0, chw).ok());
    auto rs = in.run();
    ASSERT_TRUE(rs.ok()) << rs.error().to_string();
    const auto ob = in.output_bytes(0);
    if (!isolated) {
      auto& dst = all_cpu ? t.out_cpu : t.out_kpu;
      dst.insert(dst.end(), ob.begin(), ob.end());
    }
    const auto got = in.output(0);
    const auto& fo = all.at(std::size_t(t.g.outputs[0])).data;
    ASSERT_EQ(got.size(), fo.size());
    const Shape& os = t.g.shape(t.g.outputs[0]);
    for (std::size_t k = 0; k < fo.size(); ++k) {
      sig += double(fo[k]) * fo[k];
      const double d = got[stored_index(os, k)] - fo[k];
      err += d * d;
    }
  }
  if (isolated) t.final_sqnr = 10 * std::log10(sig / std::max(err, 1e-30));
}

std::vector<std::string> warnings_of(const ConvertResult& r) {
  return r.warnings;
}

std::vector<std::vector<Tensor>> samples_of(const std::vector<Tensor>& inputs) {
  std::vector<std::vector<Tensor>> s;
  for (const auto& x : inputs) s.push_back({x});
  return s;
}

Case convert_run(const ModelBuilder& mb, int h, int w, int c, const ConvertOptions& opt = {}) {
  Case t;
  auto g = mb.graph();
  EXPECT_TRUE(g.ok()) << g.error().to_string();
  if (!g.ok()) return t;
  t.g = *g;
  std::mt19937 rng(77);
  std::vector<std::vector<Tensor>> samples;
  for (int i = 0; i < 3; ++i) {
    Tensor x{Shape{{h, w, c}}, {}};
    for (int k = 0; k < h * w * c; ++k) x.data.push_back(float(rng() % 256) / 255.0f);
    t.inputs.push_back(x);
    samples.push_back({x});
  }
  auto r = convert(t.g, samples, opt);
  EXPECT_TRUE(r.ok()) << r.error().to_string();
  if (!r.ok()) return t;
  EXPECT_TRUE(format::parse_kmodel(r->bytes).ok());
  t.r = std::move(r).value();
  run_once(t, false, true);
  run_once(t, false, false);
  run_once(t, true, false);
  EXPECT_EQ(t.out_kpu, t.out_cpu) << "kpu-sim and the cpu backend differ";
  return t;
}

const Stat* stat_of(const Case& t, const std::string& tensor) {
  const Stat* found = nullptr;
  for (const auto& [i, st] : t.stats)
    if (st.tensor == tensor && st.sig > 0) found = &st;  // the last layer writing it
  return found;
}

// The layer writing `out` reaches the floor of its op on its (isolated) input grids: within
// 0.5 dB (its own rescales round too), and within `db_out` of the output rounding alone (< 0:
// not checked; a difference of two inputs whose steps exceed the output's cannot be).
void expect_op_floor(const Case& t, const std::string& a, const std::string& b,
                     const std::string& out, const std::function<double(double, double)>& op,
                     double db_out) {
  const Stat *sa = stat_of(t, a), *sb = stat_of(t, b), *so = stat_of(t, out);
  ASSERT_TRUE(sa && sb && so) << "no compared layer writes " << a << ", " << b << " or " << out;
  const TensorId ta = t.g.find_tensor(a), tb = t.g.find_tensor(b), to = t.g.find_tensor(out);
  double sig = 0, err = 0;
  for (const auto& x : t.inputs) {
    auto f = run_float(t.g, {x}, RunOptions{true});
    ASSERT_TRUE(f.ok());
    const auto &fa = f->at(std::size_t(ta)).data, &fb = f->at(std::size_t(tb)).data,
               &fo = f->at(std::size_t(to)).data;
    for (std::size_t k = 0; k < fo.size(); ++k) {
      const double best = so->grid.on(op(sa->grid.on(fa[k]), sb->grid.on(fb[k])));
      sig += double(fo[k]) * fo[k];
      err += (best - fo[k]) * (best - fo[k]);
    }
  }
  const double floor_in = 10 * std::log10(sig / std::max(err, 1e-30));
  EXPECT_GE(so->sqnr(), floor_in - 0.5) << so->type << " '" << out << "': isolated " << so->sqnr()
                                        << " dB, floor with the input grids " << floor_in;
  if (db_out >= 0) {
    EXPECT_GE(so->sqnr(), so->floor() - db_out)
        << so->type << " '" << out << "': isolated " << so->sqnr() << ", floor " << so->floor();
  }
  std::printf(
      "    %-22s %-4s isolated %6.2f dB, input-grid floor %6.2f dB, output rounding %6.2f "
      "dB; output vs float %5.1f dB\n",
      so->type.c_str(), out.c_str(), so->sqnr(), floor_in, so->floor(), t.final_sqnr);
}

std::size_t count_type(const ConvertResult& r, format::LayerType type) {
  std::size_t n = 0;
  for (const auto& l : r.layers) n += l.type == type;
  return n;
}

ModelBuilder merge_model(const std::string& cls, const std::string& act, std::mt19937& rng) {
  ModelBuilder mb;
  mb.input("in", {8, 8, 3});
  same_conv(mb, rng, "a", 3, 3, 4, "in");
  same_conv(mb, rng, "b", 1, 3, 4, "in");
  mb.layer(cls, "m", Json::object(), {"a", "b"});
  std::string last = "m";
  if (!act.empty()) {
    mb.layer("Activation", "r", {{"activation", act}}, {"m"});
    last = "r";
  }
  same_conv(mb, rng, "after", 1, 4, 2, last);
  return mb;
}

TEST(K210MapLayers, MultiplyRunsAsEmcElementwiseOnTheCpu) {
  const std::map<std::string, std::function<double(double, double)>> ops = {
      {"Multiply", [](double x, double y) { return x * y; }}};
  for (const auto& [cls, op] : ops) {
    SCOPED_TRACE(cls);
    std::mt19937 rng(3);
    const Case t = convert_run(merge_model(cls, "", rng), 8, 8, 3);
    EXPECT_EQ(count_type(t.r, format::LayerType::kEmcElementwiseInt8), 1u);
    bool named = false;
    for (const auto& l : t.r.layers)
      if (l.type == format::LayerType::kEmcElementwiseInt8) {
        ASSERT_TRUE(l.off_kpu_layer);
        EXPECT_EQ(l.off_kpu_layer->name, "m");
        EXPECT_NE(l.off_kpu_reason.find(cls), std::string::npos) << l.off_kpu_reason;
        named = true;
      }
    EXPECT_TRUE(named);
    std::string w;
    for (const auto& s : warnings_of(t.r)) w += s + "\n";
    EXPECT_NE(w.find("'m' (" + cls + ")"), std::string::npos) << w;
    EXPECT_NE(w.find("MaixPy"), std::string::npos) << w;
    // The input rounding passes straight through (no averaging over taps as in a conv): with
    // input steps like the output's, up to ~5 dB under the output-only floor, as on -p cpu.
    expect_op_floor(t, "a", "b", "m", op, 8.0);
    // --sdk-compatible: an error naming the layer, why and what to change.
    std::mt19937 rng2(3);
    auto g = merge_model(cls, "", rng2).graph();
    ASSERT_TRUE(g.ok());
    ConvertOptions sdk;
    sdk.sdk_compatible = true;
    auto r = convert(*g, samples_of(t.inputs), sdk);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Errc::kUnsupportedLayer);
    const std::string e = r.error().to_string();
    EXPECT_NE(e.find("'m' (" + cls + ")"), std::string::npos) << e;
    EXPECT_NE(e.find("no elementwise " + cls), std::string::npos) << e;
    EXPECT_NE(e.find("--sdk-compatible"), std::string::npos) << e;
  }
}

TEST(K210MapLayers, SubtractAverageMaximumMinimumRunAsExactStockForms) {
  const std::map<std::string, std::function<double(double, double)>> ops = {
      {"Subtract", [](double x, double y) { return std::max(x - y, 0.0); }},
      {"Average", [](double x, double y) { return std::max((x + y) / 2, 0.0); }},
      {"Maximum", [](double x, double y) { return std::max(std::max(x, y), 0.0); }},
      {"Minimum", [](double x, double y) { return std::max(std::min(x, y), 0.0); }}};
  for (const auto& [cls, op] : ops) {
    SCOPED_TRACE(cls);
    std::mt19937 rng(4);
    const Case t = convert_run(merge_model(cls, "relu", rng), 8, 8, 3);
    EXPECT_EQ(count_type(t.r, format::LayerType::kEmcElementwiseInt8), 0u);
    const bool pick = cls == "Maximum" || cls == "Minimum";
    EXPECT_GE(
        count_type(t.r, pick ? format::LayerType::kQuantizedMaxPool2d : format::LayerType::kAdd),
        1u);
    for (const auto& l : t.r.layers) EXPECT_TRUE(l.off_kpu_reason.empty()) << l.off_kpu_reason;
    // The inputs keep their own (coarser) steps through the float add: the output-only floor
    // is 10-13 dB out of reach here; the form itself must be exact on those inputs.
    expect_op_floor(t, "a", "b", "r", op, -1.0);
    // The stock SDK runs it: --sdk-compatible converts.
    std::mt19937 rng2(4);
    auto g = merge_model(cls, "relu", rng2).graph();
    ASSERT_TRUE(g.ok());
    ConvertOptions sdk;
    sdk.sdk_compatible = true;
    auto r = convert(*g, samples_of(t.inputs), sdk);
    EXPECT_TRUE(r.ok()) << r.error().to_string();
  }
}

TEST(K210MapLayers, LinearMaximumAndMinimumAreExactOnTheirInputGrids) {
  const std::map<std::string, std::function<double(double, double)>> ops = {
      {"Maximum", [](double x, double y) { return std::max(x, y); }},
      {"Minimum", [](double x, double y) { return std::min(x, y); }}};
  for (const auto& [cls, op] : ops) {
    SCOPED_TRACE(cls);
    std::mt19937 rng(3);
    const Case t = convert_run(merge_model(cls, "", rng), 8, 8, 3);
    for (const auto& l : t.r.layers) EXPECT_TRUE(l.off_kpu_reason.empty()) << l.off_kpu_reason;
    expect_op_floor(t, "a", "b", "m", op, -1.0);
  }
}

TEST(K210MapLayers, CroppingAndZeroPaddingOfAReluMapAreStockMaxPoolCopiesAtTheFloor) {
  std::mt19937 rng(5);
  ModelBuilder mb;
  mb.input("in", {9, 7, 3});
  same_conv(mb, rng, "a", 3, 3, 4, "in", "relu");
  mb.layer("Cropping2D", "crop", {{"cropping", Json::array({{1, 2}, {0, 3}})}}, {"a"});
  mb.layer("ZeroPadding2D", "pad", {{"padding", Json::array({{2, 0}, {1, 1}})}}, {"crop"});
  mb.layer("Activation", "sig", {{"activation", "sigmoid"}}, {"pad"});
  ConvertOptions sdk;
  sdk.sdk_compatible = true;  // no EMC type
  const Case t = convert_run(mb, 9, 7, 3, sdk);
  EXPECT_EQ(count_type(t.r, format::LayerType::kEmcPadCropInt8), 0u);
  // The crop's 1x1 pool starts one row into the map (top = 1): it reads up to the last byte of
  // its last window, inside the map, so loading reports no read of unwritten memory.
  EXPECT_THAT(t.load_diagnostics, ::testing::IsEmpty());
  for (const char* name : {"crop", "pad"}) {
    const Stat* s = stat_of(t, name);
    ASSERT_TRUE(s) << name;
    EXPECT_EQ(s->type, "QUANTIZED_MAX_POOL2D");
    EXPECT_GE(s->sqnr(), s->floor() - 1e-9) << name;
    std::printf("    %-22s %-4s isolated %6.2f dB, output rounding %6.2f dB\n", s->type.c_str(),
                name, s->sqnr(), s->floor());
  }
}

TEST(K210MapLayers, ZeroPaddingOfASignedMapIsEmcPadCropOnTheCpu) {
  std::mt19937 rng(6);
  ModelBuilder mb;
  mb.input("in", {8, 8, 3});
  same_conv(mb, rng, "a", 3, 3, 4, "in");  // linear: negative values, zero point > 0
  mb.layer("ZeroPadding2D", "pad", {{"padding", Json::array({{1, 2}, {0, 1}})}}, {"a"});
  mb.layer("Activation", "sig", {{"activation", "sigmoid"}}, {"pad"});
  const Case t = convert_run(mb, 8, 8, 3);
  ASSERT_EQ(count_type(t.r, format::LayerType::kEmcPadCropInt8), 1u);
  const Stat* s = stat_of(t, "pad");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->type, "EMC_PAD_CROP_INT8");
  EXPECT_TRUE(s->grid.int8);
  EXPECT_GE(s->sqnr(), s->floor() - 1e-9);
  std::printf("    %-22s %-4s isolated %6.2f dB, output rounding %6.2f dB\n", s->type.c_str(),
              "pad", s->sqnr(), s->floor());
  std::string w;
  for (const auto& x : t.r.warnings) w += x + "\n";
  EXPECT_NE(w.find("'pad' (ZeroPadding2D)"), std::string::npos) << w;
  ConvertOptions sdk;
  sdk.sdk_compatible = true;
  auto r = convert(t.g, samples_of(t.inputs), sdk);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().to_string().find("ReLU-family activation before the padding"),
            std::string::npos)
      << r.error().to_string();
}

}  // namespace
}  // namespace emc

namespace emc {
namespace {

// A CPU-fallback conv (5x5) reading the input of a KPU-first model: the input pixels are copied
// out of KPU RAM by an identity 1x1 K210_CONV (exact) and the conv folds the preprocessing in.
TEST(K210MapLayers, FallbackConvReadsTheInputOfAKpuFirstModel) {
  std::mt19937 rng(7);
  ModelBuilder mb;
  mb.input("in", {8, 8, 3});
  same_conv(mb, rng, "a", 3, 3, 4, "in");
  same_conv(mb, rng, "b", 5, 3, 4, "in");
  mb.layer("Add", "m", Json::object(), {"a", "b"});
  same_conv(mb, rng, "after", 1, 4, 2, "m");
  const Case t = convert_run(mb, 8, 8, 3);
  ASSERT_FALSE(t.r.layers.empty());
  EXPECT_EQ(t.r.model.layers.front().type, format::LayerType::kK210Conv);
  EXPECT_EQ(count_type(t.r, format::LayerType::kEmcConv2d), 1u);
  const Stat* s = stat_of(t, "b");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->type, "EMC_CONV2D");
  // Its floor: the conv computed here with int8 per-channel weights (max |w| -> 127) on the exact
  // input, rounded to the output grid. The pixel copy and the fold must add nothing to it.
  const Node* b = nullptr;
  for (const auto& n : t.g.nodes)
    if (n.source.name == "b") b = &n;
  ASSERT_TRUE(b);
  std::vector<double> wq(b->kernel.size());
  for (int o = 0; o < 4; ++o) {
    double mx = 0;
    for (int k = 0; k < 75; ++k) mx = std::max(mx, std::fabs(double(b->kernel[k * 4 + o])));
    for (int k = 0; k < 75; ++k)
      wq[k * 4 + o] = std::round(b->kernel[k * 4 + o] / (mx / 127)) * (mx / 127);
  }
  double sig = 0, err = 0;
  for (const auto& x : t.inputs) {
    auto f = run_float(t.g, {x}, RunOptions{true});
    ASSERT_TRUE(f.ok());
    const auto& fb = f->at(std::size_t(t.g.find_tensor("b"))).data;
    for (int y = 0; y < 8; ++y)
      for (int xx = 0; xx < 8; ++xx)
        for (int o = 0; o < 4; ++o) {
          double acc = b->bias[o];
          for (int ky = 0; ky < 5; ++ky)
            for (int kx = 0; kx < 5; ++kx) {
              const int iy = y + ky - 2, ix = xx + kx - 2;
              if (iy < 0 || iy >= 8 || ix < 0 || ix >= 8) continue;
              for (int c = 0; c < 3; ++c)
                acc += wq[((ky * 5 + kx) * 3 + c) * 4 + o] * x.data[(iy * 8 + ix) * 3 + c];
            }
          const double ref = fb[(y * 8 + xx) * 4 + o], best = s->grid.on(acc);
          sig += ref * ref;
          err += (best - ref) * (best - ref);
        }
  }
  const double floor_w = 10 * std::log10(sig / std::max(err, 1e-30));
  EXPECT_GE(s->sqnr(), floor_w - 3.0) << s->sqnr() << " vs " << floor_w;
  std::printf(
      "    %-22s %-4s isolated %6.2f dB, floor (int8 weights + output rounding) %6.2f dB, "
      "output rounding alone %6.2f dB; output vs float %.1f dB\n",
      s->type.c_str(), "b", s->sqnr(), floor_w, s->floor(), t.final_sqnr);
  EXPECT_GE(t.final_sqnr, 30.0);
}

}  // namespace
}  // namespace emc
