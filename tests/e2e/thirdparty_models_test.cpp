// Real trained third-party models: the Keras MobileNetV2 (224x224) and InceptionV3 (299x299)
// classifiers of the npm package nsfwjs 4.4.0 (MIT; uint8-quantized TF.js layers weights, 5
// classes), extracted by samples/tfjs/thirdparty.js together with TF.js's own (cpu backend)
// outputs. scripts/thirdparty_models.sh writes them to $EMC_THIRDPARTY_DIR (scripts/test.sh sets
// it, and EMC_REQUIRE_THIRDPARTY=1, under which their absence is a failure, not a skip).
//  (a) both models import and the float executor reproduces TF.js's outputs and the stored
//      per-layer outputs (every 10th layer, the logits) within 1e-4;
//  (b) MobileNetV2 converts with the DEFAULT flags (`emc-convert -p k210` / `-p cpu`, only
//      --input-range 0,1, the model's preprocessing), calibrated on calib/ (11 real photos from
//      Debian packages: darknet, python-matplotlib-data, python3-skimage) and evaluated on 10 OTHER
//      photos (samples/images/*_224.png and shared/models/ml5_darknet_tiny/inputs/*.f32) against
//      TF.js; the kmodel passes the verifying parser, runs on kpu-sim and keeps TF.js's top-1 on
//      every photo with mean |dp| < 1 % (over photos and classes), with byte-identical outputs when
//      every layer runs on the cpu backend; `-p cpu` gives a kmodel of EMC int8 layers (no K210
//      layer) that runs on the cpu backend alone, keeps TF.js's top-1 on every photo with mean
//      |dp| < 1 %;
//  (c) InceptionV3 on -p k210 fails with exit 5 on the chip's SRAM and leaves no output file;
//      on -p cpu (299x299, 5x5 / 1x7 / 7x1 kernels; default flags, calib/) it converts and keeps
//      TF.js's top-1 on the same 10 photos edge-padded to 299x299, with mean |dp| < 1 %.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "emc/accel_sim/kpu_backend.h"
#include "emc/converter/float_executor.h"
#include "emc/converter/model_json.h"
#include "emc/cpu_backend/cpu_backend.h"
#include "emc/format/kmodel_codec.h"
#include "emc/interpreter/interpreter.h"
#include "run_command.h"
#include "sample_models.h"

namespace emc {
namespace {

namespace fs = std::filesystem;
using namespace converter;
using nlohmann::json;

// <EMC_THIRDPARTY_DIR>/<model>, or "" with the reason in `why`.
std::string thirdparty_model(const std::string& model, std::string& why) {
  const char* root = std::getenv("EMC_THIRDPARTY_DIR");
  if (root == nullptr || *root == '\0') {
    why =
        "EMC_THIRDPARTY_DIR is not set; run scripts/thirdparty_models.sh DIR (npm, network) and "
        "set EMC_THIRDPARTY_DIR=DIR";
    return "";
  }
  const fs::path dir = fs::path(root) / model;
  if (!fs::exists(dir / "model.json") || !fs::exists(dir / "reference.json")) {
    why = dir.string() + " has no model.json + reference.json; run scripts/thirdparty_models.sh " +
          root;
    return "";
  }
  return dir.string();
}

bool thirdparty_required() {
  const char* v = std::getenv("EMC_REQUIRE_THIRDPARTY");
  return v != nullptr && std::string(v) == "1";
}

// Fails (EMC_REQUIRE_THIRDPARTY=1) or skips the test when the model was not fetched.
#define EMC_THIRDPARTY_MODEL(var, name)                                         \
  std::string var;                                                              \
  {                                                                             \
    std::string why;                                                            \
    var = thirdparty_model(name, why);                                          \
    if (var.empty()) {                                                          \
      if (thirdparty_required()) FAIL() << "EMC_REQUIRE_THIRDPARTY=1: " << why; \
      GTEST_SKIP() << why;                                                      \
    }                                                                           \
  }

std::vector<float> read_f32(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<float> out(raw.size() / 4);
  if (!out.empty()) std::memcpy(out.data(), raw.data(), out.size() * 4);
  return out;
}

json read_json(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    m = std::max(m, std::fabs(double(a[i]) - double(b[i])));
  return m;
}

std::size_t argmax(const std::vector<float>& v) {
  return static_cast<std::size_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

double cpu_seconds() {
  return double(std::clock()) / CLOCKS_PER_SEC;
}

using test::run_tool;
using ToolOutput = test::CommandOutput;

// A fresh temporary directory, removed at scope exit.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag)
      : path(fs::temp_directory_path() /
             ("emc_thirdparty_" + tag + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// ---- (a) import + float executor vs TF.js ------------------------------------------------------

class ThirdPartyFloat : public testing::TestWithParam<const char*> {};

TEST_P(ThirdPartyFloat, ImportsAndFloatExecutorMatchesTfjs) {
  EMC_THIRDPARTY_MODEL(dir, GetParam());
  const double t0 = cpu_seconds();
  auto model = load_tfjs_model(dir + "/model.json");
  ASSERT_TRUE(model.ok()) << model.error().to_string();
  auto graph = build_graph(*model);
  ASSERT_TRUE(graph.ok()) << graph.error().to_string();
  auto ex = FloatExecutor::create(*graph);
  ASSERT_TRUE(ex.ok()) << ex.error().to_string();
  const double t_import = cpu_seconds() - t0;

  const json ref = read_json(dir + "/reference.json");
  ASSERT_EQ(ref.at("source").at("package"), "nsfwjs");
  ASSERT_EQ(ref.at("generated_by").at("backend"), "cpu");
  constexpr double kTolerance = 1e-4;
  int layers_checked = 0;
  double worst = 0;
  std::string worst_name = "-";
  for (const auto& c : ref.at("cases")) {
    const std::string name = c.at("name");
    SCOPED_TRACE(name);
    Tensor input{graph->shape(graph->inputs[0]),
                 read_f32(dir + "/" + c.at("input_tensor").get<std::string>())};
    ASSERT_EQ(static_cast<std::int64_t>(input.data.size()), input.shape.num_elements());
    const bool with_layers = c.contains("layers");
    auto all = ex->run({input}, RunOptions{with_layers});
    ASSERT_TRUE(all.ok()) << all.error().to_string();
    const Tensor& out =
        with_layers ? (*all)[static_cast<std::size_t>(graph->outputs[0])] : all->at(0);
    const auto want = c.at("output").get<std::vector<float>>();
    const double d = max_abs_diff(out.data, want);
    EXPECT_LE(d, kTolerance) << "model output";
    EXPECT_EQ(argmax(out.data), c.at("top5").at(0).at("index").get<std::size_t>());
    if (d > worst) worst = d, worst_name = name + ": output";
    if (!with_layers) continue;
    for (const auto& l : c.at("layers")) {
      const std::string lname = l.at("name");
      const TensorId id = graph->find_tensor(lname);
      ASSERT_NE(id, kNoTensor) << "no tensor for TF.js layer " << lname;
      const double ld = max_abs_diff((*all)[static_cast<std::size_t>(id)].data,
                                     read_f32(dir + "/" + l.at("file").get<std::string>()));
      EXPECT_LE(ld, kTolerance) << lname;
      if (ld > worst) worst = ld, worst_name = name + ": " + lname;
      ++layers_checked;
    }
  }
  EXPECT_GE(layers_checked, 10) << "reference.json has too few per-layer refs";
  std::printf(
      "[ %s ] %zu graph nodes; %zu cases, %d layer tensors: max |EMC - TF.js| %.3g (%s); import "
      "%.1f s, total %.1f s CPU\n",
      GetParam(), graph->nodes.size(), ref.at("cases").size(), layers_checked, worst,
      worst_name.c_str(), t_import, cpu_seconds() - t0);
}

INSTANTIATE_TEST_SUITE_P(Nsfwjs, ThirdPartyFloat, testing::Values("mobilenet_v2", "inception_v3"),
                         [](const testing::TestParamInfo<const char*>& i) {
                           return std::string(i.param);
                         });

// ---- (b) MobileNetV2 through emc-convert
// ----------------------------------------------------------

struct RefCase {
  std::string name;
  Tensor input;
  std::vector<float> output;  // TF.js
  std::size_t top1 = 0;       // TF.js
};

std::vector<RefCase> load_cases(const std::string& dir, const Shape& shape) {
  const json ref = read_json(dir + "/reference.json");
  std::vector<RefCase> cases;
  for (const auto& c : ref.at("cases")) {
    RefCase rc;
    rc.name = c.at("name");
    rc.output = c.at("output").get<std::vector<float>>();
    rc.top1 = c.at("top5").at(0).at("index");
    cases.push_back(std::move(rc));
  }
  // sample_models.h's loader reads inputs/*.f32 sorted by file name (= case name).
  std::sort(cases.begin(), cases.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  auto inputs = e2e::load_inputs(dir, shape);
  EXPECT_EQ(inputs.size(), cases.size());
  for (std::size_t i = 0; i < std::min(inputs.size(), cases.size()); ++i)
    cases[i].input = std::move(inputs[i]);
  return cases;
}

// The calibration set: <dir>/calib/, real photos from Debian packages that thirdparty.js copied
// there (reference.json's "calibration"), checked to be none of the test cases (a calibration
// photo whose name contains a case's name, e.g. darknet_dog, is a failure).
std::string calibration_dir(const std::string& dir, const std::vector<RefCase>& cases) {
  const json ref = read_json(dir + "/reference.json");
  EXPECT_TRUE(ref.contains("calibration")) << "reference.json lists no calibration photos";
  const fs::path calib = fs::path(dir) / "calib";
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(calib)) {
    ++n;
    const std::string stem = e.path().stem().string();  // e.g. darknet_eagle
    for (const RefCase& c : cases) {
      const std::string base =
          c.name.ends_with("_299") ? c.name.substr(0, c.name.size() - 4) : c.name;
      EXPECT_EQ(stem.find(base), std::string::npos)
          << "calibration photo " << e.path() << " is test case " << c.name;
    }
  }
  EXPECT_GE(n, 10u) << calib << " holds too few calibration photos";
  EXPECT_EQ(n, ref.value("calibration", json::array()).size());
  return calib.string();
}

struct KmodelRun {
  std::vector<std::uint8_t> bytes;
  std::vector<float> values;
};

KmodelRun run_once(interpreter::Interpreter& it, const std::vector<std::uint8_t>& input) {
  KmodelRun r;
  EXPECT_TRUE(it.set_input(0, input).ok());
  const Status st = it.run();
  EXPECT_TRUE(st.ok()) << st.error().to_string();
  const auto b = it.output_bytes(0);
  r.bytes.assign(b.begin(), b.end());
  r.values = it.output(0);
  return r;
}

// kmodel input bytes for a TF.js input tensor (x = pixel / 255), via sample_models.h.
std::vector<std::uint8_t> kmodel_input(interpreter::Interpreter& it, const Tensor& t) {
  ConvertResult contract;
  contract.input_is_uint8 = it.input_info(0).type == interpreter::ElementType::kUint8;
  return e2e::kmodel_input(t, contract, PixelScale::kZeroOne);
}

TEST(ThirdPartyMobilenetV2, ConvertsForK210AndCpuKeepsTop1OnKpuSimAndCpu) {
  EMC_THIRDPARTY_MODEL(dir, "mobilenet_v2");
  auto model = load_tfjs_model(dir + "/model.json");
  ASSERT_TRUE(model.ok()) << model.error().to_string();
  auto graph = build_graph(*model);
  ASSERT_TRUE(graph.ok()) << graph.error().to_string();
  const auto cases = load_cases(dir, graph->shape(graph->inputs[0]));
  ASSERT_GE(cases.size(), 10u) << "issue 13: at least 10 real test photos";

  TempDir tmp("mbv2");
  // Default quantization flags; --input-range is the model's preprocessing (x = pixel / 255).
  const std::string common =
      "'" + dir + "/model.json' --dataset '" + calibration_dir(dir, cases) + "' --input-range 0,1";
  const std::string k210 = (tmp.path / "mbv2_k210.kmodel").string();
  const std::string cpu = (tmp.path / "mbv2_cpu.kmodel").string();
  const auto t0 = std::chrono::steady_clock::now();
  const ToolOutput conv_k210 = run_tool("emc-convert", common + " -p k210 -o '" + k210 + "'");
  ASSERT_EQ(conv_k210.status, 0) << conv_k210.text;
  const ToolOutput conv_cpu = run_tool("emc-convert", common + " -p cpu -o '" + cpu + "'");
  ASSERT_EQ(conv_cpu.status, 0) << conv_cpu.text;
  const double convert_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // The verifying parser accepts both files.
  auto k210_model = format::load_kmodel_file(k210);
  ASSERT_TRUE(k210_model.ok()) << k210_model.error().to_string();
  auto cpu_model = format::load_kmodel_file(cpu);
  ASSERT_TRUE(cpu_model.ok()) << cpu_model.error().to_string();
  std::ifstream f1(k210, std::ios::binary), f2(cpu, std::ios::binary);
  const std::vector<char> b1((std::istreambuf_iterator<char>(f1)),
                             std::istreambuf_iterator<char>());
  const std::vector<char> b2((std::istreambuf_iterator<char>(f2)),
                             std::istreambuf_iterator<char>());

  interpreter::Registry both, cpu_only;
  ASSERT_TRUE(accel_sim::register_kpu_sim_backend(both).ok());
  ASSERT_TRUE(cpu_backend::register_cpu_backend(both).ok());
  ASSERT_TRUE(cpu_backend::register_cpu_backend(cpu_only).ok());
  auto k210_sim = interpreter::Interpreter::load_file(k210, both);      // K210 layers on kpu-sim
  auto k210_cpu = interpreter::Interpreter::load_file(k210, cpu_only);  // every layer on cpu
  auto cpu_cpu = interpreter::Interpreter::load_file(cpu, cpu_only);
  auto cpu_sim = interpreter::Interpreter::load_file(cpu, both);
  for (auto* r : {&k210_sim, &k210_cpu, &cpu_cpu, &cpu_sim})
    ASSERT_TRUE(r->ok()) << r->error().to_string();
  std::size_t on_sim = 0, k210_layers = 0;
  for (const auto& p : (*k210_sim)->plan()) {
    on_sim += p.backend == "kpu-sim";
    k210_layers += format::is_k210_type(p.type);
  }
  EXPECT_GT(on_sim, 0u);
  EXPECT_EQ(on_sim, k210_layers);
  for (const auto& p : (*cpu_cpu)->plan()) {
    EXPECT_EQ(p.backend, "cpu") << "layer " << p.index;
    EXPECT_FALSE(format::is_k210_type(p.type)) << "layer " << p.index;
  }
  for (const auto& w : (*k210_sim)->diagnostics())
    std::printf("  load warning: %s\n", w.to_string().c_str());
  std::printf(
      "[ mobilenet_v2 ] emc-convert -p k210 and -p cpu (default flags, calib/) in %.1f s wall; "
      "k210 kmodel %zu bytes, %zu layers (%zu on kpu-sim); cpu kmodel %zu bytes, %s the k210 "
      "file\n",
      convert_s, b1.size(), (*k210_sim)->plan().size(), on_sim, b2.size(),
      b1 == b2 ? "byte-identical to" : "differs from");

  double worst_dp = 0, sum_dp_cpu = 0, sum_dp_k210 = 0;
  std::size_t n_dp_cpu = 0;
  for (const RefCase& c : cases) {
    SCOPED_TRACE(c.name);
    const auto in = kmodel_input(**k210_sim, c.input);
    const KmodelRun sim = run_once(**k210_sim, in);
    const KmodelRun all_cpu = run_once(**k210_cpu, in);
    const KmodelRun p_cpu = run_once(**cpu_cpu, kmodel_input(**cpu_cpu, c.input));
    const KmodelRun p_cpu_sim = run_once(**cpu_sim, kmodel_input(**cpu_sim, c.input));
    ASSERT_EQ(sim.values.size(), c.output.size());
    // kpu-sim and the cpu backend compute the same bytes, on both kmodels.
    EXPECT_EQ(sim.bytes, all_cpu.bytes) << "k210 kmodel: kpu-sim vs cpu-only";
    EXPECT_EQ(p_cpu.bytes, p_cpu_sim.bytes) << "-p cpu kmodel: cpu-only vs kpu-sim";
    if (b1 == b2) {
      EXPECT_EQ(sim.bytes, p_cpu.bytes);
    }
    // Top-1 as TF.js (independent reference), for both targets.
    EXPECT_EQ(argmax(sim.values), c.top1) << "k210 kmodel on kpu-sim";
    EXPECT_EQ(argmax(p_cpu.values), c.top1) << "-p cpu kmodel on cpu";
    const double dp = max_abs_diff(sim.values, c.output);
    const double dp_cpu = max_abs_diff(p_cpu.values, c.output);
    worst_dp = std::max({worst_dp, dp, dp_cpu});
    for (std::size_t k = 0; k < c.output.size(); ++k, ++n_dp_cpu) {
      sum_dp_cpu += std::fabs(double(p_cpu.values[k]) - double(c.output[k]));
      sum_dp_k210 += std::fabs(double(sim.values[k]) - double(c.output[k]));
    }
    std::printf(
        "[ mobilenet_v2 %-9s ] TF.js top-1 %zu (p=%.5f); k210 on kpu-sim top-1 %zu (p=%.5f) "
        "max|dp| %.5f; -p cpu on cpu top-1 %zu max|dp| %.5f\n",
        c.name.c_str(), c.top1, double(c.output[c.top1]), argmax(sim.values),
        double(sim.values[argmax(sim.values)]), dp, argmax(p_cpu.values), dp_cpu);
  }
  // Sanity bound, not a target: a broken quantization gives |dp| near 1 on these confident photos.
  EXPECT_LT(worst_dp, 0.25);
  // Both targets (issues 12 and 13): mean |dp| under 1 % of probability.
  const double mean_dp_cpu = sum_dp_cpu / double(std::max<std::size_t>(n_dp_cpu, 1));
  const double mean_dp_k210 = sum_dp_k210 / double(std::max<std::size_t>(n_dp_cpu, 1));
  std::printf(
      "[ mobilenet_v2 ] mean |dp| over %zu photos x classes: -p k210 on kpu-sim %.5f, -p cpu "
      "%.5f\n",
      n_dp_cpu, mean_dp_k210, mean_dp_cpu);
  EXPECT_LT(mean_dp_k210, 0.01);
  EXPECT_LT(mean_dp_cpu, 0.01);
}

// ---- (c) InceptionV3 is refused for the K210
// -----------------------------------------------------

TEST(ThirdPartyInceptionV3,
     K210ConversionFailsOnTheChipsSramNamingTheBiggestLayersAndWritesNothing) {
  EMC_THIRDPARTY_MODEL(dir, "inception_v3");
  // InceptionV3 holds 23.8 M weights (the published model size, ~95 MB as float32 shards): even at
  // 8 bits they exceed the K210's 6 MiB of SRAM, a true limit of the chip, so the refusal must say
  // so and name the layers that weigh most (mixed-block 1x1/3x3 convs of 1.5 MiB each).
  TempDir tmp("incv3");
  // One photo: emc-convert calibrates before it lowers, so each photo costs a float InceptionV3
  // run.
  fs::create_directories(tmp.path / "photos");
  fs::copy_file(fs::path(EMC_SOURCE_DIR) / "samples" / "images" / "chelsea_224.png",
                tmp.path / "photos" / "chelsea_224.png");
  const fs::path out = tmp.path / "out" / "inception.kmodel";
  fs::create_directories(out.parent_path());
  const ToolOutput r = run_tool("emc-convert", "'" + dir + "/model.json' -p k210 --dataset '" +
                                                   (tmp.path / "photos").string() +
                                                   "' --input-range 0,1 -o '" + out.string() + "'");
  std::printf("[ inception_v3 -p k210 ] exit %d: %s", r.status, r.text.c_str());
  EXPECT_EQ(r.status, 5) << r.text;  // 5 = unsupported model
  EXPECT_THAT(r.text, testing::HasSubstr("6 MiB of SRAM"));
  EXPECT_THAT(r.text, testing::ContainsRegex("biggest layers: 'conv2d_[0-9]+' \\(Conv2D"));
  EXPECT_TRUE(fs::is_empty(out.parent_path())) << "emc-convert left files in " << out.parent_path();
}

TEST(ThirdPartyInceptionV3, CpuTargetConvertsAndKeepsTfjsTop1) {
  EMC_THIRDPARTY_MODEL(dir, "inception_v3");
  auto model = load_tfjs_model(dir + "/model.json");
  ASSERT_TRUE(model.ok()) << model.error().to_string();
  auto graph = build_graph(*model);
  ASSERT_TRUE(graph.ok()) << graph.error().to_string();
  const auto cases = load_cases(dir, graph->shape(graph->inputs[0]));
  ASSERT_GE(cases.size(), 10u) << "the MobileNetV2 test photos, edge-padded to 299x299";
  TempDir tmp("incv3_cpu");
  // Default flags, calibrated on calib/ (Debian photos resized to 299x299), none a test photo.
  const std::string km = (tmp.path / "inception_cpu.kmodel").string();
  const auto t0 = std::chrono::steady_clock::now();
  const ToolOutput conv = run_tool("emc-convert", "'" + dir + "/model.json' -p cpu --dataset '" +
                                                      calibration_dir(dir, cases) +
                                                      "' --input-range 0,1 -o '" + km + "'");
  ASSERT_EQ(conv.status, 0) << conv.text;
  const double convert_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto parsed = format::load_kmodel_file(km);
  ASSERT_TRUE(parsed.ok()) << parsed.error().to_string();
  std::size_t emc_convs = 0, big_kernels = 0;
  for (const auto& l : parsed->layers) {
    EXPECT_FALSE(format::is_k210_type(l.type));
    if (l.type != format::LayerType::kEmcConv2d) continue;
    ++emc_convs;
    const auto& g = std::get<format::EmcConv2dInt8Body>(l.body).geo;
    big_kernels += g.kernel_height > 3 || g.kernel_width > 3;
  }
  EXPECT_GT(big_kernels, 0u) << "5x5 / 1x7 / 7x1 kernels expected";
  interpreter::Registry cpu_only;
  ASSERT_TRUE(cpu_backend::register_cpu_backend(cpu_only).ok());
  auto it = interpreter::Interpreter::load_file(km, cpu_only);
  ASSERT_TRUE(it.ok()) << it.error().to_string();
  double sum_dp = 0;
  std::size_t n_dp = 0;
  for (const RefCase& c : cases) {
    SCOPED_TRACE(c.name);
    const auto t1 = std::chrono::steady_clock::now();
    const KmodelRun run = run_once(**it, kmodel_input(**it, c.input));
    const double run_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    ASSERT_EQ(run.values.size(), c.output.size());
    EXPECT_EQ(argmax(run.values), c.top1) << "-p cpu kmodel on cpu";
    for (std::size_t k = 0; k < c.output.size(); ++k, ++n_dp)
      sum_dp += std::fabs(double(run.values[k]) - double(c.output[k]));
    std::printf(
        "[ inception_v3 -p cpu %s ] converted in %.1f s (%zu bytes, %zu layers, %zu EMC_CONV2D, "
        "%zu "
        "with kernels > 3); run %.2f s; TF.js top-1 %zu (p=%.5f), kmodel top-1 %zu (p=%.5f), max "
        "|dp| %.5f\n",
        c.name.c_str(), convert_s, std::size_t(fs::file_size(km)), parsed->layers.size(), emc_convs,
        big_kernels, run_s, c.top1, double(c.output[c.top1]), argmax(run.values),
        double(run.values[argmax(run.values)]), max_abs_diff(run.values, c.output));
  }
  const double mean_dp = sum_dp / double(std::max<std::size_t>(n_dp, 1));
  std::printf("[ inception_v3 -p cpu ] mean |dp| %.5f over %zu photos x classes\n", mean_dp, n_dp);
  EXPECT_LT(mean_dp, 0.01);
}

}  // namespace
}  // namespace emc
