// The real trained third-party models of ../shared/models (TF.js: ml5_darknet_tiny,
// neuralnetvis_cifar10, tupleblog_gender) and ../shared/models_h5 (Keras: tensorspace_keras_lenet,
// whose [28, 28] input is reshaped to one channel), read at test time, see SOURCES.md there.
// Expectations come from TF.js: outputs/*.f32 (TF.js 4.22.0, cpu backend) for the exact
// inputs/*.f32.
//  * the float executor reproduces TF.js's outputs (1e-5);
//  * each converts for -p k210 and -p cpu with default quantization flags (calibrated on its
//    reference inputs, preprocessing as its publisher's: SOURCES.md), runs on kpu-sim and on the
//    cpu backend with byte-identical outputs, and keeps TF.js's top-1 on every input except true
//    near-ties (float top-1/top-2 logit gap < 0.25), which are named. Mean |dp| is printed
//    (docs/real_models.md).
// A missing model folder is a failure (the models are part of the development corpus).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "emc/accel_sim/kpu_backend.h"
#include "emc/converter/convert.h"
#include "emc/converter/float_executor.h"
#include "emc/converter/model_file.h"
#include "emc/converter/model_json.h"
#include "emc/cpu_backend/cpu_backend.h"
#include "emc/interpreter/interpreter.h"

namespace emc {
namespace {

namespace fs = std::filesystem;
using namespace converter;

const fs::path kShared = fs::path(EMC_SOURCE_DIR) / ".." / "shared";

std::vector<float> read_f32(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<char> b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<float> v(b.size() / 4);
  if (!v.empty()) std::memcpy(v.data(), b.data(), v.size() * 4);
  return v;
}

// Probabilities of an output vector: itself when it already is a distribution (softmax models),
// else its softmax (ml5_darknet_tiny gives logits).
std::vector<double> probs(const std::vector<float>& v) {
  double sum = 0;
  bool nonneg = true;
  for (float x : v) sum += x, nonneg &= x >= 0;
  std::vector<double> p(v.size());
  if (nonneg && std::fabs(sum - 1.0) < 1e-3) {
    for (std::size_t i = 0; i < v.size(); ++i) p[i] = v[i];
    return p;
  }
  const double m = *std::max_element(v.begin(), v.end());
  double z = 0;
  for (std::size_t i = 0; i < v.size(); ++i) z += p[i] = std::exp(v[i] - m);
  for (auto& x : p) x /= z;
  return p;
}

std::size_t argmax(const std::vector<double>& v) {
  return std::size_t(std::max_element(v.begin(), v.end()) - v.begin());
}

// Float top-1 minus top-2 in logits (log-probability differences).
double logit_gap(const std::vector<double>& p) {
  std::vector<double> s = p;
  std::sort(s.rbegin(), s.rend());
  return std::log(std::max(s[0], 1e-30)) - std::log(std::max(s[1], 1e-30));
}

struct RealModel {
  const char* name;
  PixelScale scale;  // the publisher's preprocessing of pixels p: p/255 or (p/255 - 0.5)*2
  const char* collection = "models";  // ../shared/<collection>/<name>/<file>
  const char* file = "model.json";
};

class RealModels : public ::testing::TestWithParam<RealModel> {};

TEST_P(RealModels, FloatEqualsTfjsAndBothTargetsKeepTop1) {
  const RealModel rm = GetParam();
  const fs::path dir = kShared / rm.collection / rm.name;
  ASSERT_TRUE(fs::exists(dir / rm.file)) << dir / rm.file << " is missing (../shared)";
  std::vector<fs::path> in_files;
  for (const auto& e : fs::directory_iterator(dir / "inputs"))
    if (e.path().extension() == ".f32") in_files.push_back(e.path());
  std::sort(in_files.begin(), in_files.end());
  ASSERT_FALSE(in_files.empty());

  auto model = load_model((dir / rm.file).string());
  ASSERT_TRUE(model.ok()) << model.error().to_string();
  auto graph = build_graph(*model);
  ASSERT_TRUE(graph.ok()) << graph.error().to_string();
  const Shape is = graph->shape(graph->inputs[0]);
  std::vector<std::vector<Tensor>> samples;
  std::vector<std::vector<float>> ref;
  for (const auto& f : in_files) {
    Tensor t{is, read_f32(f)};
    ASSERT_EQ(t.data.size(), std::size_t(is.num_elements())) << f;
    auto out = run_float(*graph, {t});
    ASSERT_TRUE(out.ok()) << out.error().to_string();
    const auto want = read_f32(dir / "outputs" / f.filename());
    ASSERT_EQ(out->at(0).data.size(), want.size()) << f;
    double d = 0;
    for (std::size_t i = 0; i < want.size(); ++i)
      d = std::max(d, double(std::fabs(out->at(0).data[i] - want[i])));
    EXPECT_LE(d, 1e-5) << f << ": float executor vs TF.js";
    ref.push_back(want);
    samples.push_back({t});
  }

  for (const Target* target : {Target::kK210, Target::kCpu}) {
    const std::string tname_s(target->name);
    const char* tname = tname_s.c_str();
    SCOPED_TRACE(tname);
    ConvertOptions opt;  // default quantization flags
    opt.target = target;
    opt.preprocess.scale = rm.scale;
    auto r = convert(*graph, samples, opt);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    interpreter::Registry reg;
    ASSERT_TRUE(accel_sim::register_kpu_sim_backend(reg).ok());
    ASSERT_TRUE(cpu_backend::register_cpu_backend(reg).ok());
    interpreter::DispatchPolicy all_cpu;
    all_cpu.order = {cpu_backend::kCpuBackendName, std::string(accel_sim::kKpuSimBackendName)};
    auto sim = interpreter::Interpreter::load(r->bytes, reg);
    auto cpu = interpreter::Interpreter::load(r->bytes, reg, all_cpu);
    ASSERT_TRUE(sim.ok()) << sim.error().to_string();
    ASSERT_TRUE(cpu.ok()) << cpu.error().to_string();
    int kept = 0, ties = 0;
    double sum_dp = 0;
    std::string tie_names;
    for (std::size_t i = 0; i < samples.size(); ++i) {
      const auto& x = samples[i][0].data;
      std::vector<std::uint8_t> bytes;
      if (r->input_is_uint8) {  // raw pixels, CHW: invert the publisher's preprocessing
        bytes.resize(x.size());
        for (int y = 0; y < is.h(); ++y)
          for (int xx = 0; xx < is.w(); ++xx)
            for (int c = 0; c < is.c(); ++c) {
              const float v = x[(std::size_t(y) * is.w() + xx) * is.c() + c];
              const double p =
                  rm.scale == PixelScale::kMinusOneOne ? (v / 2.0 + 0.5) * 255.0 : v * 255.0;
              bytes[(std::size_t(c) * is.h() + y) * is.w() + xx] =
                  static_cast<std::uint8_t>(std::clamp(std::lround(p), 0L, 255L));
            }
      } else {
        bytes.resize(x.size() * 4);
        std::memcpy(bytes.data(), x.data(), bytes.size());
      }
      ASSERT_TRUE((*sim)->set_input(0, bytes).ok());
      ASSERT_TRUE((*cpu)->set_input(0, bytes).ok());
      ASSERT_TRUE((*sim)->run().ok());
      ASSERT_TRUE((*cpu)->run().ok());
      const auto a = (*sim)->output_bytes(0), b = (*cpu)->output_bytes(0);
      EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end()))
          << in_files[i].filename() << ": kpu-sim and cpu outputs differ";
      const auto pf = probs(ref[i]), pq = probs((*sim)->output(0));
      ASSERT_EQ(pf.size(), pq.size());
      double dp = 0;
      for (std::size_t k = 0; k < pf.size(); ++k) dp += std::fabs(pq[k] - pf[k]);
      sum_dp += dp / double(pf.size());
      if (argmax(pf) == argmax(pq)) {
        ++kept;
      } else if (logit_gap(pf) < 0.25) {
        ++ties;
        char gap[32];
        std::snprintf(gap, sizeof gap, " (gap %.3f)", logit_gap(pf));
        tie_names += " " + in_files[i].filename().string() + gap;
      } else {
        ADD_FAILURE() << in_files[i].filename() << ": top-1 " << argmax(pq)
                      << " instead of TF.js's " << argmax(pf) << " (logit gap " << logit_gap(pf)
                      << ")";
      }
    }
    std::printf(
        "  %s -p %s: top-1 kept %d/%zu (near-ties flipped: %d%s), mean |dp| %.5f, %zu "
        "layers\n",
        rm.name, tname, kept, samples.size(), ties, tie_names.c_str(),
        sum_dp / double(samples.size()), r->layers.size());
  }
}

INSTANTIATE_TEST_SUITE_P(Shared, RealModels,
                         ::testing::Values(RealModel{"ml5_darknet_tiny", PixelScale::kZeroOne},
                                           RealModel{"neuralnetvis_cifar10", PixelScale::kZeroOne},
                                           RealModel{"tupleblog_gender", PixelScale::kMinusOneOne},
                                           RealModel{"tensorspace_keras_lenet",
                                                     PixelScale::kZeroOne, "models_h5",
                                                     "model.h5"}),
                         [](const auto& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace emc
