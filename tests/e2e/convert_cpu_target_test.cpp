// End to end for `emc-convert -p cpu` and for "kpu-sim and the cpu backend compute the same":
//  * every sample converts with Target::kCpu into EMC's int8 layer types (no K210 layer), passes
//    the verifying parser, loads into an Interpreter whose registry holds ONLY the cpu backend,
//    and keeps the float executor's top-1 on the sample inputs (except where sample_models.h
//    documents that a sample does not);
//  * every sample's k210 kmodel gives byte-identical memories (outputs, all of main memory and
//    the 2 MiB KPU RAM) when its K210 layers run on kpu-sim and when every layer runs on cpu;
//  * emc-run picks cpu for a -p cpu kmodel from its .map.json and says so in --profile;
//  * hand-built graphs: a 5x5 conv is an EMC_CONV2D on cpu and on k210 (there with a warning,
//    an error with --sdk-compatible); Dense is an int8 1x1 EMC_CONV2D on cpu; maps under the
//    KPU's 4x4 convert on cpu.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "emc/accel_sim/kpu_backend.h"
#include "emc/converter/convert.h"
#include "emc/converter/float_executor.h"
#include "emc/converter/model_json.h"
#include "emc/cpu_backend/cpu_backend.h"
#include "emc/format/kmodel_codec.h"
#include "emc/format/layer_types.h"
#include "emc/interpreter/interpreter.h"
#include "nlohmann/json.hpp"
#include "run_command.h"
#include "sample_models.h"

namespace emc {
namespace {

namespace fs = std::filesystem;
using namespace converter;
using e2e::SampleSpec;

struct Sample {
  Graph graph;
  std::vector<Tensor> inputs;
  std::vector<std::vector<Tensor>> calib;
};

// Loads a sample, or skips/fails the test when it is absent (as convert_samples_test.cpp).
bool load_sample(const SampleSpec& s, Sample& out) {
  const std::string dir = e2e::model_dir(s.name);
  if (!fs::exists(dir + "/model.json")) {
    if (s.required) ADD_FAILURE() << "sample missing: " << dir;
    return false;
  }
  auto model = load_tfjs_model(dir + "/model.json");
  EXPECT_TRUE(model.ok()) << model.error().to_string();
  if (!model.ok()) return false;
  auto graph = build_graph(model.value());
  EXPECT_TRUE(graph.ok()) << graph.error().to_string();
  if (!graph.ok()) return false;
  out.graph = std::move(graph).value();
  out.inputs = e2e::load_inputs(dir, out.graph.shape(out.graph.inputs[0]));
  for (const auto& t : out.inputs) out.calib.push_back({t});
  return !out.inputs.empty();
}

Result<ConvertResult> convert_sample(const SampleSpec& s, const Sample& sample,
                                     const Target* target) {
  ConvertOptions opt;
  opt.target = target;
  opt.preprocess.scale = s.scale;
  return convert(sample.graph, sample.calib, opt);
}

std::size_t argmax(const std::vector<float>& v) {
  return static_cast<std::size_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

class CpuTarget : public testing::TestWithParam<SampleSpec> {};

TEST_P(CpuTarget, ConvertsVerifiesRunsOnlyOnCpuAndKeepsTop1) {
  const SampleSpec& s = GetParam();
  Sample sample;
  if (!load_sample(s, sample)) GTEST_FAIL() << "sample not available: " << s.name;
  auto r = convert_sample(s, sample, Target::kCpu);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_NE(r->sidecar_json.find("\"target\": \"cpu\""), std::string::npos)
      << r->sidecar_json.substr(0, 200);
  auto parsed = format::parse_kmodel(r->bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.error().to_string();

  interpreter::Registry cpu_only;
  ASSERT_TRUE(cpu_backend::register_cpu_backend(cpu_only).ok());
  auto interp = interpreter::Interpreter::load(r->bytes, cpu_only);
  ASSERT_TRUE(interp.ok()) << interp.error().to_string();
  std::size_t k210_layers = 0;
  for (const auto& p : (*interp)->plan()) {
    EXPECT_EQ(p.backend, "cpu") << "layer " << p.index;
    k210_layers += format::is_k210_type(p.type) ? 1 : 0;
  }
  EXPECT_EQ(k210_layers, 0u) << "-p cpu emits EMC layer types only";
  EXPECT_TRUE(parsed->has_emc_layers());

  int agree = 0;
  double max_dp = 0, conv_ms = 0;
  (*interp)->set_observer([&](const interpreter::LayerEvent& e) {
    if (e.type == format::LayerType::kEmcConv2d || e.type == format::LayerType::kEmcDepthwiseConv2d)
      conv_ms += std::chrono::duration<double, std::milli>(e.host_time).count();
  });
  for (std::size_t i = 0; i < sample.inputs.size(); ++i) {
    auto ref = run_float(sample.graph, {sample.inputs[i]});
    ASSERT_TRUE(ref.ok()) << ref.error().to_string();
    const std::vector<float>& want = ref->at(0).data;
    ASSERT_TRUE((*interp)->set_input(0, e2e::kmodel_input(sample.inputs[i], *r, s.scale)).ok());
    const Status st = (*interp)->run();
    ASSERT_TRUE(st.ok()) << st.error().to_string();
    const std::vector<float> got = (*interp)->output(0);
    ASSERT_EQ(got.size(), want.size());
    double md = 0;
    for (std::size_t k = 0; k < got.size(); ++k)
      md = std::max(md, std::fabs(double(got[k]) - double(want[k])));
    max_dp = std::max(max_dp, md);
    const std::size_t tg = argmax(got), tw = argmax(want);
    agree += tg == tw || got[tg] == got[tw];  // an exact tie in the kmodel output keeps top-1
    std::printf(
        "[ %s cpu-only case %zu ] top-1 float %zu (p=%.4f) kmodel %zu (p=%.4f) max|dp| %.5f\n",
        s.name, i, tw, double(want[tw]), tg, double(got[tg]), md);
  }
  std::printf(
      "[ %s cpu-only ] %zu layers (%zu K210), top-1 agreement %d/%zu, max |dp| %.5f, EMC conv "
      "host time %.1f ms per inference\n",
      s.name, (*interp)->plan().size(), k210_layers, agree, sample.inputs.size(), max_dp,
      conv_ms / double(sample.inputs.size()));
  if (s.keeps_top1) {
    EXPECT_EQ(agree, static_cast<int>(sample.inputs.size()));
  }
}

TEST_P(CpuTarget, KpuSimAndCpuGiveIdenticalBytesOnTheK210Kmodel) {
  const SampleSpec& s = GetParam();
  Sample sample;
  if (!load_sample(s, sample)) GTEST_FAIL() << "sample not available: " << s.name;
  auto r = convert_sample(s, sample, Target::kK210);
  ASSERT_TRUE(r.ok()) << r.error().to_string();

  // A: kpu-sim first (K210 layers on the simulator); B: cpu only (every layer on cpu).
  interpreter::Registry both, cpu_only;
  ASSERT_TRUE(accel_sim::register_kpu_sim_backend(both).ok());
  ASSERT_TRUE(cpu_backend::register_cpu_backend(both).ok());
  ASSERT_TRUE(cpu_backend::register_cpu_backend(cpu_only).ok());
  auto a = interpreter::Interpreter::load(r->bytes, both);
  auto b = interpreter::Interpreter::load(r->bytes, cpu_only);
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  ASSERT_TRUE(b.ok()) << b.error().to_string();
  std::size_t on_sim = 0;
  for (const auto& p : (*a)->plan()) on_sim += p.backend == "kpu-sim";
  const bool has_k210 = std::any_of(r->model.layers.begin(), r->model.layers.end(),
                                    [](const auto& l) { return format::is_k210_type(l.type); });
  EXPECT_EQ(on_sim > 0, has_k210);
  std::printf("[ %s k210 kmodel ] %zu of %zu layers on kpu-sim in A, all on cpu in B\n", s.name,
              on_sim, (*a)->plan().size());

  for (std::size_t i = 0; i < sample.inputs.size(); ++i) {
    const auto in = e2e::kmodel_input(sample.inputs[i], *r, s.scale);
    for (auto* it : {a->get(), b->get()}) {
      ASSERT_TRUE(it->set_input(0, in).ok());
      const Status st = it->run();
      ASSERT_TRUE(st.ok()) << st.error().to_string();
    }
    for (std::size_t o = 0; o < (*a)->output_count(); ++o) {
      const auto oa = (*a)->output_bytes(o), ob = (*b)->output_bytes(o);
      ASSERT_EQ(oa.size(), ob.size());
      EXPECT_TRUE(std::equal(oa.begin(), oa.end(), ob.begin()))
          << s.name << " case " << i << ": output " << o << " differs";
    }
    const auto ma = (*a)->main_memory().all(), mb = (*b)->main_memory().all();
    const auto md = std::mismatch(ma.begin(), ma.end(), mb.begin());
    EXPECT_EQ(md.first, ma.end()) << s.name << " case " << i << ": main memory differs at byte "
                                  << (md.first - ma.begin());
    const auto ka = (*a)->kpu_memory().all(), kb = (*b)->kpu_memory().all();
    const auto kd = std::mismatch(ka.begin(), ka.end(), kb.begin());
    EXPECT_EQ(kd.first, ka.end()) << s.name << " case " << i << ": KPU RAM differs at byte "
                                  << (kd.first - ka.begin());
  }
}

// The third-party kmodels in ../shared/kmodels (Maix-EMC, nncase 0.1, MaixPy, SDK demo): every
// one that loads runs on kpu-sim and on all-cpu with byte-identical outputs, main memory and KPU
// RAM, on a fixed pseudo-random input.
TEST(CpuTargetSharedKmodels, KpuSimAndCpuGiveIdenticalBytes) {
  const fs::path dir = fs::path(EMC_SHARED_DIR) / "kmodels";
  if (!fs::exists(dir)) GTEST_FAIL() << "no " << dir;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".kmodel") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  interpreter::Registry both, cpu_only;
  ASSERT_TRUE(accel_sim::register_kpu_sim_backend(both).ok());
  ASSERT_TRUE(cpu_backend::register_cpu_backend(both).ok());
  ASSERT_TRUE(cpu_backend::register_cpu_backend(cpu_only).ok());
  int compared = 0;
  for (const auto& f : files) {
    auto a = interpreter::Interpreter::load_file(f.string(), both);
    auto b = interpreter::Interpreter::load_file(f.string(), cpu_only);
    ASSERT_EQ(a.ok(), b.ok()) << f << ": " << (a.ok() ? b.error() : a.error()).to_string();
    if (!a.ok()) {
      std::printf("[ %s ] not loadable by either: %s\n", f.filename().c_str(),
                  a.error().to_string().c_str());
      continue;
    }
    std::size_t k210 = 0;
    for (const auto& p : (*a)->plan()) k210 += p.backend == "kpu-sim";
    const interpreter::TensorInfo info = (*a)->input_info(0);
    std::vector<std::uint8_t> in(info.bytes);
    std::uint32_t x = 12345;
    if (info.type == interpreter::ElementType::kFloat32) {
      for (std::size_t i = 0; i + 4 <= in.size(); i += 4) {
        x = x * 1103515245u + 12345u;
        const float v = float((x >> 8) & 0xffff) / 65535.f;
        std::memcpy(&in[i], &v, 4);
      }
    } else {
      for (auto& v : in) v = static_cast<std::uint8_t>((x = x * 1103515245u + 12345u) >> 24);
    }
    const auto t0 = std::chrono::steady_clock::now();
    for (auto* it : {a->get(), b->get()}) {
      ASSERT_TRUE(it->set_input(0, in).ok());
      const Status st = it->run();
      ASSERT_TRUE(st.ok()) << f << ": " << st.error().to_string();
    }
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    for (std::size_t o = 0; o < (*a)->output_count(); ++o) {
      const auto oa = (*a)->output_bytes(o), ob = (*b)->output_bytes(o);
      ASSERT_EQ(oa.size(), ob.size());
      EXPECT_TRUE(std::equal(oa.begin(), oa.end(), ob.begin())) << f << ": output " << o;
    }
    const auto ma = (*a)->main_memory().all(), mb = (*b)->main_memory().all();
    EXPECT_TRUE(std::equal(ma.begin(), ma.end(), mb.begin())) << f << ": main memory";
    const auto ka = (*a)->kpu_memory().all(), kb = (*b)->kpu_memory().all();
    EXPECT_TRUE(std::equal(ka.begin(), ka.end(), kb.begin())) << f << ": KPU RAM";
    std::printf("[ %s ] %zu K210 layers on kpu-sim vs cpu: identical bytes (both runs %.0f ms)\n",
                f.filename().c_str(), k210, ms);
    compared += k210 > 0;
  }
  EXPECT_GE(compared, 5);
}

INSTANTIATE_TEST_SUITE_P(Samples, CpuTarget, testing::ValuesIn(e2e::sample_specs()),
                         [](const testing::TestParamInfo<SampleSpec>& i) {
                           return std::string(i.param.name);
                         });

// ---- -p cpu lowering on hand-built graphs -----------------------------------------------------

struct TinyGraph {
  Graph g;
  TensorId input(int h, int w, int c) {
    const TensorId t = g.add_tensor("input", Shape{{h, w, c}});
    g.inputs = {t};
    return t;
  }
  // Weights from a fixed deterministic pattern (not random: values only need to be varied).
  static std::vector<float> pattern(std::size_t n, float scale) {
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = scale * float(int((i * 37 + 11) % 23) - 11) / 11.f;
    return v;
  }
  TensorId conv(TensorId in, const std::string& name, int k, int filters, Padding4 pad) {
    const Shape& s = g.shape(in);
    Node n;
    n.kind = NodeKind::kConv2D;
    n.inputs = {in};
    n.kernel_h = n.kernel_w = k;
    n.pad = pad;
    n.filters = filters;
    n.kernel = pattern(static_cast<std::size_t>(k) * k * s.c() * filters, 0.3f);
    n.bias = pattern(static_cast<std::size_t>(filters), 0.05f);
    n.activation = make_relu();
    n.source = SourceLayer{static_cast<std::int64_t>(g.nodes.size() + 1), name, "Conv2D"};
    n.source_layers = {name};
    n.output = g.add_tensor(name, Shape{{s.h() + pad.top + pad.bottom - k + 1,
                                         s.w() + pad.left + pad.right - k + 1, filters}});
    g.nodes.push_back(n);
    return n.output;
  }
  TensorId flatten(TensorId in) {
    Node n;
    n.kind = NodeKind::kFlatten;
    n.inputs = {in};
    n.source = SourceLayer{static_cast<std::int64_t>(g.nodes.size() + 1), "flatten", "Flatten"};
    n.output =
        g.add_tensor("flatten", Shape{{static_cast<std::int32_t>(g.shape(in).num_elements())}});
    g.nodes.push_back(n);
    return n.output;
  }
  TensorId dense(TensorId in, const std::string& name, int units) {
    Node n;
    n.kind = NodeKind::kDense;
    n.inputs = {in};
    n.filters = units;
    n.kernel = pattern(static_cast<std::size_t>(g.shape(in).num_elements()) * units, 0.2f);
    n.bias = pattern(static_cast<std::size_t>(units), 0.1f);
    n.source = SourceLayer{static_cast<std::int64_t>(g.nodes.size() + 1), name, "Dense"};
    n.source_layers = {name};
    n.output = g.add_tensor(name, Shape{{units}});
    g.nodes.push_back(n);
    return n.output;
  }
  Graph finish(TensorId out) {
    g.outputs = {out};
    const Status st = validate_graph(g);
    EXPECT_TRUE(st.ok()) << st.error().to_string();
    return g;
  }
};

std::vector<std::vector<Tensor>> ramp_inputs(const Shape& s, int n) {
  std::vector<std::vector<Tensor>> out;
  for (int i = 0; i < n; ++i) {
    Tensor t;
    t.shape = s;
    for (std::int64_t k = 0; k < s.num_elements(); ++k)
      t.data.push_back(float((k * 7 + i * 31) % 256) / 255.f);  // pixel codes / 255
    out.push_back({t});
  }
  return out;
}

TEST(CpuTargetLowering, FiveByFiveConvIsAnEmcConvOnK210WithAWarningAndOnCpu) {
  TinyGraph b;
  auto t = b.input(16, 16, 3);
  t = b.conv(t, "conv5x5", 5, 8, Padding4{2, 2, 2, 2});
  const Graph g = b.finish(t);
  const auto calib = ramp_inputs(g.shape(g.inputs[0]), 1);
  ConvertOptions opt;
  opt.preprocess.scale = PixelScale::kZeroOne;
  // k210: the KPU's CPU fallback, named in a warning; --sdk-compatible refuses it.
  auto k = convert(g, calib, opt);
  ASSERT_TRUE(k.ok()) << k.error().to_string();
  EXPECT_EQ(k->model.layers.front().type, format::LayerType::kEmcConv2d);
  bool warned = false;
  for (const auto& w : k->warnings)
    warned |= w.find("'conv5x5' (Conv2D)") != std::string::npos &&
              w.find("kernel_size [5,5] is not supported") != std::string::npos;
  EXPECT_TRUE(warned);
  opt.sdk_compatible = true;
  auto ks = convert(g, calib, opt);
  ASSERT_FALSE(ks.ok());
  EXPECT_EQ(ks.error().code(), Errc::kUnsupportedLayer);
  EXPECT_THAT(ks.error().to_string(), testing::HasSubstr("'conv5x5' (Conv2D)"));
  EXPECT_THAT(ks.error().to_string(), testing::HasSubstr("kernel_size [5,5] is not supported"));
  opt.sdk_compatible = false;
  opt.target = Target::kCpu;
  auto r = convert(g, calib, opt);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_FALSE(r->model.layers.empty());
  EXPECT_EQ(r->model.layers.front().type, format::LayerType::kEmcConv2d);
  EXPECT_EQ(std::get<format::EmcConv2dInt8Body>(r->model.layers.front().body).geo.kernel_width, 5u);
  interpreter::Registry cpu_only;
  ASSERT_TRUE(cpu_backend::register_cpu_backend(cpu_only).ok());
  auto interp = interpreter::Interpreter::load(r->bytes, cpu_only);
  ASSERT_TRUE(interp.ok()) << interp.error().to_string();
  ASSERT_TRUE((*interp)->run().ok());
}

TEST(CpuTargetLowering, DenseIsAnInt8EmcConvAndTheModelRunsOnlyOnCpu) {
  TinyGraph b;
  auto t = b.input(6, 6, 2);
  t = b.conv(t, "c1", 3, 4, Padding4{1, 1, 1, 1});
  t = b.flatten(t);
  t = b.dense(t, "fc", 5);
  const Graph g = b.finish(t);
  const auto samples = ramp_inputs(g.shape(g.inputs[0]), 3);
  ConvertOptions opt;
  opt.target = Target::kCpu;
  opt.preprocess.scale = PixelScale::kZeroOne;
  opt.dense = DensePlacement::kKpu;  // ignored on cpu: Dense is an int8 1x1 EMC_CONV2D there
  auto r = convert(g, samples, opt);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  bool has_fc = false;
  for (const auto& l : r->layers) {
    if (!l.sources.empty() && l.sources.front() == "fc") {
      EXPECT_EQ(l.type, format::LayerType::kEmcConv2d);
      EXPECT_FALSE(l.on_kpu);
      has_fc = true;
    }
  }
  EXPECT_TRUE(has_fc);
  interpreter::Registry cpu_only;
  ASSERT_TRUE(cpu_backend::register_cpu_backend(cpu_only).ok());
  auto interp = interpreter::Interpreter::load(r->bytes, cpu_only);
  ASSERT_TRUE(interp.ok()) << interp.error().to_string();
  for (const auto& in : samples) {
    std::vector<std::uint8_t> px(in[0].data.size());
    const Shape& s = in[0].shape;
    for (int y = 0; y < s.h(); ++y)
      for (int x = 0; x < s.w(); ++x)
        for (int c = 0; c < s.c(); ++c)
          px[(static_cast<std::size_t>(c) * s.h() + y) * s.w() + x] = static_cast<std::uint8_t>(
              std::lround(in[0].data[(static_cast<std::size_t>(y) * s.w() + x) * s.c() + c] * 255));
    ASSERT_TRUE((*interp)->set_input(0, px).ok());
    ASSERT_TRUE((*interp)->run().ok());
    auto want = run_float(g, in);
    ASSERT_TRUE(want.ok());
    const auto got = (*interp)->output(0);
    ASSERT_EQ(got.size(), 5u);
    double range = 0, err = 0;
    for (std::size_t k = 0; k < 5; ++k) {
      range = std::max(range, std::fabs(double(want->at(0).data[k])));
      err = std::max(err, std::fabs(double(got[k]) - double(want->at(0).data[k])));
    }
    // int8 conv feeding an int8 dense: a few percent of the output magnitude.
    EXPECT_LE(err, 0.05 * range + 1e-3) << "max |err| " << err << " of range " << range;
  }
}

TEST(CpuTargetLowering, ChipOnlyMapLimitsAreLiftedOnCpu) {
  // A 3x3 map is below the KPU's 4x4 minimum: on k210 the CPU fallback (an error with
  // --sdk-compatible), an EMC_CONV2D on cpu that runs on the cpu backend alone.
  TinyGraph b;
  auto t = b.input(3, 3, 2);
  t = b.conv(t, "small", 3, 4, Padding4{1, 1, 1, 1});
  const Graph g = b.finish(t);
  const auto samples = ramp_inputs(g.shape(g.inputs[0]), 2);
  ConvertOptions opt;
  opt.preprocess.scale = PixelScale::kZeroOne;
  auto chip = convert(g, samples, opt);
  ASSERT_TRUE(chip.ok()) << chip.error().to_string();
  EXPECT_EQ(chip->model.layers.front().type, format::LayerType::kEmcConv2d);
  opt.sdk_compatible = true;
  chip = convert(g, samples, opt);
  ASSERT_FALSE(chip.ok());
  EXPECT_THAT(chip.error().to_string(), testing::HasSubstr("'small' (Conv2D)"));
  EXPECT_THAT(chip.error().to_string(), testing::HasSubstr("outside the KPU's range"));
  opt.sdk_compatible = false;
  opt.target = Target::kCpu;
  auto r = convert(g, samples, opt);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  interpreter::Registry cpu_only;
  ASSERT_TRUE(cpu_backend::register_cpu_backend(cpu_only).ok());
  auto interp = interpreter::Interpreter::load(r->bytes, cpu_only);
  ASSERT_TRUE(interp.ok()) << interp.error().to_string();
  ASSERT_TRUE((*interp)->run().ok());
}

// ---- emc-run picks the backend from the sidecar map -------------------------------------------

using test::run_tool;
using ToolOutput = test::CommandOutput;

// The backend column of each row of emc-run's --profile table whose type starts with `prefix`.
std::vector<std::string> backends_of(const std::string& profile, const std::string& prefix) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while ((at = profile.find(prefix, at)) != std::string::npos) {
    const std::size_t type_end = profile.find(' ', at + 1);
    const std::size_t b0 = profile.find_first_not_of(' ', type_end);
    const std::size_t b1 = profile.find(' ', b0);
    out.push_back(profile.substr(b0, b1 - b0));
    at = b1;
  }
  return out;
}

TEST(CpuTargetEmcRun, MapTargetCpuPrefersCpuAndBackendFlagOverrides) {
  const std::string dir = e2e::model_dir("shapes_cnn");
  if (!fs::exists(dir + "/model.json")) GTEST_FAIL() << "shapes_cnn sample not present";
  const fs::path tmp = fs::temp_directory_path() / ("emc_cpu_target_" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  const std::string km = (tmp / "shapes_cpu.kmodel").string();
  const ToolOutput conv =
      run_tool("emc-convert", "'" + dir + "/model.json' -p cpu --dataset '" + dir +
                                  "/calib' --input-range 0,1 -o '" + km + "'");
  ASSERT_EQ(conv.status, 0) << conv.text;
  ASSERT_TRUE(fs::exists(km + ".map.json"));
  const std::string image = " --input '" + dir + "/images/star_1.png' --profile";

  const ToolOutput by_map = run_tool("emc-run", "'" + km + "'" + image);
  ASSERT_EQ(by_map.status, 0) << by_map.text;
  EXPECT_THAT(by_map.text, testing::HasSubstr("backend preference: cpu first (" + km +
                                              ".map.json has target \"cpu\")"));
  EXPECT_TRUE(backends_of(by_map.text, " K210_").empty()) << by_map.text;
  auto rows = backends_of(by_map.text, " EMC_");
  ASSERT_FALSE(rows.empty()) << by_map.text;
  for (const auto& b : rows) EXPECT_EQ(b, "cpu") << by_map.text;

  const ToolOutput forced = run_tool("emc-run", "'" + km + "'" + image + " --backend kpu-sim");
  ASSERT_EQ(forced.status, 0) << forced.text;
  EXPECT_THAT(forced.text, testing::HasSubstr("backend preference: kpu-sim first (--backend"));
  // kpu-sim runs no EMC type: those layers stay on cpu.
  for (const auto& b : backends_of(forced.text, " EMC_")) EXPECT_EQ(b, "cpu") << forced.text;

  // The same top-5 lines either way (the outputs are byte-identical).
  auto top = [](const std::string& t) { return t.substr(0, t.find("backend preference")); };
  EXPECT_EQ(top(by_map.text), top(forced.text));

  // emc-compare runs every layer on cpu with or without --backend cpu, with the same top-k.
  const std::string f32 = "'" + dir + "/inputs/" +
                          fs::directory_iterator(dir + "/inputs")->path().filename().string() + "'";
  const std::string cmp_args =
      "'" + dir + "/model.json' '" + km + "' --input-f32 " + f32 + " --json --layers";
  const ToolOutput cmp_cpu = run_tool("emc-compare", cmp_args + " --backend cpu", false);
  const ToolOutput cmp_kpu = run_tool("emc-compare", cmp_args, false);
  ASSERT_EQ(cmp_cpu.status, 0) << cmp_cpu.text;
  ASSERT_EQ(cmp_kpu.status, 0) << cmp_kpu.text;
  const auto jc = nlohmann::json::parse(cmp_cpu.text), jk = nlohmann::json::parse(cmp_kpu.text);
  int emc_on_cpu = 0, emc_default = 0;
  for (const auto& l : jc["layers"]) {
    EXPECT_EQ(l["backend"], "cpu") << l.dump();
    emc_on_cpu += l["type"] == "EMC_CONV2D";
  }
  for (const auto& l : jk["layers"])
    emc_default += l["type"] == "EMC_CONV2D" && l["backend"] == "cpu";
  EXPECT_GT(emc_on_cpu, 0);
  EXPECT_EQ(emc_default, emc_on_cpu);
  EXPECT_EQ(jc["images"][0]["quant_top"], jk["images"][0]["quant_top"]);

  // Without a map the default is kpu-sim; --backend cpu moves the K210 layers to cpu.
  fs::remove(km + ".map.json");
  const ToolOutput plain = run_tool("emc-run", "'" + km + "'" + image);
  EXPECT_THAT(plain.text, testing::HasSubstr("backend preference: kpu-sim first (default)"));
  const ToolOutput flag = run_tool("emc-run", "'" + km + "'" + image + " --backend cpu");
  for (const auto& b : backends_of(flag.text, " EMC_")) EXPECT_EQ(b, "cpu") << flag.text;
  EXPECT_EQ(run_tool("emc-run", "'" + km + "' --backend gpu" + image).status, 2);
  // A map that is not JSON is ignored with a warning; target "k210" keeps the default.
  for (const std::string& text :
       {std::string("{not json"), std::string("{\"target\": \"k210\"}")}) {
    std::ofstream(km + ".map.json") << text;
    const ToolOutput t = run_tool("emc-run", "'" + km + "'" + image);
    EXPECT_EQ(t.status, 0) << t.text;
    EXPECT_THAT(t.text, testing::HasSubstr("backend preference: kpu-sim first (default)"));
    if (text[1] == 'n') {
      EXPECT_THAT(t.text, testing::HasSubstr("not valid JSON; ignored"));
    }
  }
  fs::remove_all(tmp);
}

}  // namespace
}  // namespace emc
