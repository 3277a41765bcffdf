// Hostile inputs against the four tools as processes (issue 16): every case asserts the exit code,
// that the message names the file / offset / layer, and that no file in the case's folder changed
// except the intended output. Families are generated: non-finite weights at each position,
// quantization parameters out of range, outputs naming inputs, broken calibration folders, huge
// shapes, malformed JSON (truncations, wrong types), malformed kmodels (truncations, flipped
// header words), bad CLI values for every tool, mismatched and broken sidecar maps, non-UTF-8
// names in JSON output. Plus the library edges: a throwing backend and a throwing shard reader end
// as an Error with exit code 70, never as an exception.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "emc/converter/model_json.h"
#include "emc/converter/sidecar_map.h"
#include "emc/format/file_io.h"
#include "emc/format/kmodel_codec.h"
#include "emc/interpreter/interpreter.h"
#include "run_command.h"

namespace emc {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using test::CommandOutput;
using test::run_tool;
using testing::HasSubstr;

std::string q(const std::string& s) {
  return "'" + s + "'";
}

std::vector<std::uint8_t> bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void put(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}
void put(const fs::path& p, const std::vector<std::uint8_t>& b) {
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), b.size());
}

// Content hash of every regular file under `dir` (symlinks not followed).
std::map<std::string, std::uint64_t> snapshot(const fs::path& dir) {
  std::map<std::string, std::uint64_t> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    std::error_code e2;
    if (it->is_symlink(e2) || !it->is_regular_file(e2)) continue;
    out[it->path().string()] = format::fnv1a64(bytes_of(it->path().string()));
  }
  return out;
}

// A fresh folder per test.
fs::path fresh(const std::string& name) {
  const fs::path d =
      fs::temp_directory_path() / ("emc_hostile_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// Runs one case and checks exit code, message and that nothing in `dir` changed except `allowed`.
void expect_case(const std::string& tool, const std::string& args, int code,
                 const std::vector<std::string>& needles, const fs::path& dir,
                 const std::vector<std::string>& allowed = {}) {
  const auto before = snapshot(dir);
  const CommandOutput r = run_tool(tool, args);
  SCOPED_TRACE(tool + " " + args);
  EXPECT_EQ(r.status, code) << r.text;
  for (const auto& n : needles) EXPECT_THAT(r.text, HasSubstr(n));
  EXPECT_THAT(r.text, testing::Not(HasSubstr("terminate called")));
  auto after = snapshot(dir);
  for (const auto& a : allowed) after.erase(a);
  auto b2 = before;
  for (const auto& a : allowed) b2.erase(a);
  EXPECT_EQ(after, b2) << "files changed";
}

// ---- a small TF.js layers model written by the test ------------------------------------------

struct DenseSpec {
  std::string name;
  int units;
  std::string activation = "relu";
};

// Sequential: input [n] -> Dense... ; float32 weights in one shard, deterministic values.
struct TinyModel {
  int inputs = 4;
  std::vector<DenseSpec> dense = {{"dense_1", 8}, {"dense_2", 3, "softmax"}};
  // name -> (index, value) overrides of the weight values
  std::map<std::string, std::pair<std::size_t, float>> poison;
  std::map<std::string, float> times;  // name -> factor applied to every generated weight value
  json quantization;                   // applied to every weight when not null
  std::vector<int> input_shape;        // overrides [inputs]

  void write(const fs::path& dir) const {
    json layers = json::array();
    json weights = json::array();
    std::vector<std::uint8_t> shard;
    int in = inputs;
    for (std::size_t i = 0; i < dense.size(); ++i) {
      json cfg = {{"name", dense[i].name},
                  {"units", dense[i].units},
                  {"activation", dense[i].activation},
                  {"use_bias", true}};
      if (i == 0) {
        json shape = json::array({nullptr});
        if (input_shape.empty()) {
          shape.push_back(inputs);
        } else {
          for (int d : input_shape) shape.push_back(d);
        }
        cfg["batch_input_shape"] = shape;
      }
      layers.push_back({{"class_name", "Dense"}, {"config", cfg}});
      for (const char* part : {"kernel", "bias"}) {
        const std::string wname = dense[i].name + "/" + part;
        const std::size_t count = std::string(part) == "kernel"
                                      ? std::size_t(in) * std::size_t(dense[i].units)
                                      : std::size_t(dense[i].units);
        json w = {{"name", wname},
                  {"shape", std::string(part) == "kernel" ? json::array({in, dense[i].units})
                                                          : json::array({dense[i].units})},
                  {"dtype", "float32"}};
        if (!quantization.is_null()) {
          w["quantization"] = quantization;
          for (std::size_t k = 0; k < count; ++k) shard.push_back(std::uint8_t(k * 37));
        } else {
          for (std::size_t k = 0; k < count; ++k) {
            float v = 0.05f * float(int((k * 7 + i * 3) % 11) - 5);
            if (auto t = times.find(wname); t != times.end()) v *= t->second;
            auto p = poison.find(wname);
            if (p != poison.end() && p->second.first == k) v = p->second.second;
            std::uint8_t b[4];
            std::memcpy(b, &v, 4);
            shard.insert(shard.end(), b, b + 4);
          }
        }
        weights.push_back(w);
      }
      in = dense[i].units;
    }
    json model = {{"format", "layers-model"},
                  {"modelTopology",
                   {{"class_name", "Sequential"}, {"config", {{"name", "t"}, {"layers", layers}}}}},
                  {"weightsManifest", json::array({{{"paths", {"w.bin"}}, {"weights", weights}}})}};
    put(dir / "model.json", model.dump(1));
    put(dir / "w.bin", shard);
    fs::create_directories(dir / "calib");
    std::vector<std::uint8_t> f32;
    int n = inputs;
    if (!input_shape.empty()) {
      n = 1;
      for (int d : input_shape) n *= d;
    }
    if (n <= 4096) {
      for (int k = 0; k < n; ++k) {
        const float v = 0.1f * float(k % 5);
        std::uint8_t b[4];
        std::memcpy(b, &v, 4);
        f32.insert(f32.end(), b, b + 4);
      }
    }
    put(dir / "calib" / "a.f32", f32);
  }
};

std::string convert_args(const fs::path& d, const std::string& extra = "") {
  return q((d / "model.json").string()) + " -p cpu --dataset " + q((d / "calib").string()) +
         " -o " + q((d / "out.kmodel").string()) + " " + extra;
}

// ---- emc-convert: values ---------------------------------------------------------------------

TEST(HostileConvert, NonFiniteWeightsAreRefusedNamingTensorLayerAndIndex) {
  const float kInf = std::numeric_limits<float>::infinity();
  const float kNan = std::numeric_limits<float>::quiet_NaN();
  int n = 0;
  for (const std::string w : {"dense_1/kernel", "dense_1/bias", "dense_2/kernel", "dense_2/bias"}) {
    for (float v : {kNan, kInf, -kInf}) {
      for (std::size_t at : {std::size_t(0), std::size_t(1)}) {
        const fs::path d = fresh("nonfinite_" + std::to_string(n++));
        TinyModel m;
        m.poison[w] = {at, v};
        m.write(d);
        expect_case("emc-convert", convert_args(d), 5,
                    {"weight '" + w + "'", "at index " + std::to_string(at),
                     "'" + w.substr(0, w.find('/')) + "' (Dense)", "model.json"},
                    d);
        EXPECT_FALSE(fs::exists(d / "out.kmodel"));
      }
    }
  }
}

// Activations beyond what float32 sums on the chip can hold (convert.h kMaxActivation = 1e15):
// dense_1's unit 0 is its bias plus at most 4 * 0.25 * 0.4, so its calibrated output is the bias.
TEST(HostileConvert, ActivationsBeyondFloat32HeadroomAreRefusedNamingTheLayer) {
  int n = 0;
  for (const char* target : {"cpu", "k210"}) {
    const auto args = [&](const fs::path& dir) {
      std::string a = convert_args(dir);
      return a.replace(a.find(" -p cpu "), 8, std::string(" -p ") + target + " ");
    };
    const fs::path d = fresh("activation_peak_" + std::to_string(n++));
    TinyModel m;
    m.poison["dense_1/bias"] = {0, 2e15f};
    m.write(d);
    expect_case("emc-convert", args(d), 6,
                {"model.json", "layer 0 'dense_1' (Dense)", "its output reaches 2e+15",
                 "beyond the +-1e+15", "--input-range"},
                d);
    // Below the limit the same model converts.
    const fs::path ok = fresh("activation_peak_" + std::to_string(n++));
    m.poison["dense_1/bias"] = {0, 5e14f};
    m.write(ok);
    expect_case("emc-convert", args(ok), 0, {"wrote"}, ok,
                {(ok / "out.kmodel").string(), (ok / "out.kmodel.map.json").string()});
    EXPECT_TRUE(fs::exists(ok / "out.kmodel"));
    // A float32 overflow in the float model itself: unit 0 = 0.1 * 3.4e38 + 3.4e38 is inf in
    // 1 of dense_1's 8 outputs on the one calibration sample.
    const fs::path inf = fresh("activation_peak_" + std::to_string(n++));
    m.poison["dense_1/kernel"] = {8, 3.4e38f};
    m.poison["dense_1/bias"] = {0, 3.4e38f};
    m.write(inf);
    expect_case(
        "emc-convert", args(inf), 6,
        {"layer 0 'dense_1' (Dense)", "not finite (inf or NaN) in 1 of 8 calibration values"}, inf);
  }
}

// Activations of float32 denormals (quantize.h kMinQuantSpan): dense_1's weights and dense_2's
// biases are scaled by 1e-43, so by hand |dense_1| <= 0.6 * 2.5e-44 + 2.5e-44 = 4e-44 and
// |dense_2| <= 8 * 0.25 * 4e-44 + 2.5e-44 = 1.05e-43. The old step of such a range, span/255, is 0
// in the output's float32 scale field (a kmodel the reader refuses); the range is widened to
// 1e-30, so the kmodel reads back and runs, and its outputs are within 1e-30 of the float model.
TEST(HostileConvert, ActivationsOfFloat32DenormalsKeepAReadableScale) {
  int n = 0;
  for (const char* target : {"cpu", "k210"}) {
    const fs::path d = fresh("activation_denormal_" + std::to_string(n++));
    TinyModel m;
    m.dense = {{"dense_1", 8}, {"dense_2", 3, "linear"}};
    m.times["dense_1/kernel"] = 1e-43f;
    m.times["dense_1/bias"] = 1e-43f;
    m.times["dense_2/bias"] = 1e-43f;
    m.write(d);
    std::string args = convert_args(d);
    args.replace(args.find(" -p cpu "), 8, std::string(" -p ") + target + " ");
    const std::string kmodel = (d / "out.kmodel").string();
    expect_case("emc-convert", args, 0, {"wrote"}, d, {kmodel, kmodel + ".map.json"});
    expect_case("emc-inspect", q(kmodel), 0, {}, d);
    const std::string raw = (d / "out.f32").string();
    expect_case("emc-run", q(kmodel) + " --features 0,0.1,0.2,0.3 --raw " + q(raw), 0, {}, d,
                {raw});
    const auto out = bytes_of(raw);
    ASSERT_EQ(out.size(), 12u);
    for (std::size_t k = 0; k < 3; ++k) {
      float y = 0;
      std::memcpy(&y, out.data() + 4 * k, 4);
      EXPECT_LE(std::fabs(y), 1e-30 + 1.05e-43) << target << " output " << k;
    }
  }
}

TEST(HostileConvert, QuantizationParametersOutOfFloatRangeAreRefused) {
  int n = 0;
  for (double scale : {1e300, 1e37, -1e300}) {
    for (double min : {0.0, 1e308, -3.5e38}) {
      if (scale == 1e37 && min == 0.0) continue;  // 255e37 > FLT_MAX: still refused below
      const fs::path d = fresh("quant_" + std::to_string(n++));
      TinyModel m;
      m.quantization = {{"dtype", "uint8"}, {"scale", scale}, {"min", min}};
      m.write(d);
      expect_case("emc-convert", convert_args(d), 4,
                  {"dense_1/kernel", "outside the float32 range", "model.json"}, d);
    }
  }
  // Non-finite in the JSON itself: 1e999 is out of range for a double.
  const fs::path d = fresh("quant_inf");
  TinyModel m;
  m.quantization = {{"dtype", "uint8"}, {"scale", 0.5}, {"min", 0.0}};
  m.write(d);
  std::string text;
  {
    std::ifstream in(d / "model.json");
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const auto at = text.find("\"scale\": 0.5");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 12, "\"scale\": 1e999");
  put(d / "model.json", text);
  expect_case("emc-convert", convert_args(d), 4, {"model.json"}, d);
}

TEST(HostileConvert, NonFiniteCalibrationTensorsAreRefusedNamingFileAndIndex) {
  int n = 0;
  for (float v :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    for (int at : {0, 3}) {
      const fs::path d = fresh("calnan_" + std::to_string(n++));
      TinyModel m;
      m.write(d);
      auto b = bytes_of((d / "calib" / "a.f32").string());
      std::memcpy(b.data() + 4 * at, &v, 4);
      put(d / "calib" / "a.f32", b);
      expect_case("emc-convert", convert_args(d), 2,
                  {"a.f32", "value " + std::to_string(at), "not finite"}, d);
    }
  }
  // Wrong sizes: shorter, longer, empty, and a /dev/zero-like stream is never read unbounded.
  for (std::size_t size :
       {std::size_t(0), std::size_t(3), std::size_t(12), std::size_t(20), std::size_t(1 << 20)}) {
    const fs::path d = fresh("calsize_" + std::to_string(size));
    TinyModel m;
    m.write(d);
    put(d / "calib" / "a.f32", std::vector<std::uint8_t>(size, 0));
    expect_case("emc-convert", convert_args(d), 5, {"a.f32", "needs 16"}, d);
  }
}

// ---- emc-convert: files and folders ----------------------------------------------------------

TEST(HostileConvert, CalibrationFolderWithBrokenSymlinksIsAClearError) {
  {
    const fs::path d = fresh("symloop");
    TinyModel m;
    m.write(d);
    fs::create_symlink("loop.f32", d / "calib" / "loop.f32");
    expect_case("emc-convert", convert_args(d), 3, {"loop.f32", "symbolic links"}, d);
  }
  {
    const fs::path d = fresh("symlong");
    TinyModel m;
    m.write(d);
    fs::create_symlink(std::string(300, 'x') + "/a.f32", d / "calib" / "long.f32");
    expect_case("emc-convert", convert_args(d), 3, {"long.f32", "name too long"}, d);
  }
  {
    // A dangling link is not a calibration file: skipped (the folder still has a.f32).
    const fs::path d = fresh("dangling");
    TinyModel m;
    m.write(d);
    fs::create_symlink("missing.f32", d / "calib" / "b.f32");
    expect_case("emc-convert", convert_args(d), 0, {"wrote"}, d,
                {(d / "out.kmodel").string(), (d / "out.kmodel.map.json").string()});
  }
  {
    const fs::path d = fresh("emptycal");
    TinyModel m;
    m.write(d);
    fs::remove(d / "calib" / "a.f32");
    fs::create_directories(d / "calib" / "dir.f32");
    expect_case("emc-convert", convert_args(d), 2, {"has no images"}, d);
  }
  for (const std::string& ds : {std::string("/dev/null"), std::string("/nonexistent_emc")}) {
    const fs::path d = fresh("dsnotdir");
    TinyModel m;
    m.write(d);
    expect_case("emc-convert",
                q((d / "model.json").string()) + " -p cpu --dataset " + ds + " -o " +
                    q((d / "o.kmodel").string()),
                3, {"is not a directory"}, d);
  }
}

TEST(HostileConvert, OutputNamingAnInputIsRefusedAndNothingChanges) {
  const fs::path d = fresh("clobber");
  TinyModel m;
  m.write(d);
  fs::create_symlink("model.json", d / "link_to_model");
  fs::create_hard_link(d / "w.bin", d / "hard_w.bin");
  const std::string base =
      q((d / "model.json").string()) + " -p cpu --dataset " + q((d / "calib").string());
  struct Case {
    std::string out, needle;
  };
  for (const Case& c : std::vector<Case>{
           {(d / "model.json").string(), "the model"},
           {(d / "w.bin").string(), "the weight shard"},
           {(d / "calib" / "a.f32").string(), "the calibration file"},
           {(d / "link_to_model").string(), "the model"},
           {(d / "hard_w.bin").string(), "the weight shard"},
           {(d / "calib" / "." / "a.f32").string(), "the calibration file"},
           {(d / "calib" / ".." / "model.json").string(), "the model"},
       }) {
    expect_case("emc-convert", base + " -o " + q(c.out), 2, {"would overwrite " + c.needle}, d);
  }
  // The map name (-o X => X.map.json) may not name an input either.
  put(d / "w.bin.bak", "x");
  fs::rename(d / "w.bin", d / "m.kmodel.map.json");
  {
    json j = json::parse(std::ifstream(d / "model.json"));
    j["weightsManifest"][0]["paths"][0] = "m.kmodel.map.json";
    put(d / "model.json", j.dump());
  }
  expect_case("emc-convert", base + " -o " + q((d / "m.kmodel").string()), 2,
              {"would overwrite the weight shard"}, d);
  // Empty paths are usage errors.
  expect_case("emc-convert", base + " -o ''", 2, {"empty"}, d);
  expect_case("emc-convert", "'' -p cpu --dataset " + q((d / "calib").string()), 2, {"empty"}, d);
  expect_case("emc-convert", q((d / "model.json").string()) + " -p cpu --dataset ''", 2, {"empty"},
              d);
}

TEST(HostileConvert, OutputDirectoryKeepsTheEarlierMap) {
  const fs::path d = fresh("outdir");
  TinyModel m;
  m.write(d);
  fs::create_directories(d / "out.kmodel");
  put(d / "out.kmodel.map.json", "{\"earlier\": true}");
  expect_case("emc-convert", convert_args(d), 3, {"names a directory"}, d);
  EXPECT_TRUE(fs::exists(d / "out.kmodel.map.json"));
}

TEST(HostileConvert, BudgetsAreCheckedBeforeAllocation) {
  {
    const fs::path d = fresh("hugein");
    TinyModel m;
    m.input_shape = {16384, 16384, 3};
    m.dense = {{"dense_1", 2}};
    m.inputs = 3;  // Dense on the last axis: kernel [3, 2]
    m.write(d);
    expect_case("emc-convert", convert_args(d), 2, {"elements", "limit"}, d);
  }
  {
    // Dense 2048 -> 2048 -> 1536: 7.3 Mi weights, more than the K210's 6 MiB even at 8 bits
    // (uint8-quantized in the file, so the test stays small). Refused before calibration, naming
    // the biggest layers. (The cpu target's 64 MiB limit is the same check with another budget.)
    const fs::path d = fresh("bigdense");
    TinyModel m;
    m.inputs = 2048;
    m.dense = {{"big_0", 2048}, {"big_1", 1536}};
    m.quantization = {{"dtype", "uint8"}, {"scale", 0.001}, {"min", -0.1}};
    m.write(d);
    expect_case("emc-convert",
                q((d / "model.json").string()) + " -p k210 --dataset " + q((d / "calib").string()) +
                    " -o " + q((d / "out.kmodel").string()),
                5, {"K210's 6 MiB of SRAM", "biggest layers: 'big_0' (Dense, 4.0 MiB)"}, d);
  }
}

TEST(HostileConvert, GeneratedTensorNamesCollidingWithLayerNamesNameTheLayer) {
  const fs::path d = fresh("collide");
  TinyModel m;
  m.dense = {{"fc", 8, "softmax"}, {"fc/pre_softmax", 3}};
  m.write(d);
  expect_case("emc-convert", convert_args(d), 5, {"'fc/pre_softmax'", "rename the layer"}, d);
}

// Truncations of a valid model.json at many points: a kJson/kInvalidModel error naming the file.
TEST(HostileConvert, TruncatedModelJsonFamily) {
  const fs::path d = fresh("trunc");
  TinyModel m;
  m.write(d);
  const auto full = bytes_of((d / "model.json").string());
  const fs::path t = d / "t";
  fs::create_directories(t);
  fs::copy(d / "w.bin", t / "w.bin");
  fs::copy(d / "calib", t / "calib");
  for (int i = 0; i < 40; ++i) {
    const std::size_t len = full.size() * std::size_t(i) / 40;
    put(t / "model.json", std::vector<std::uint8_t>(full.begin(), full.begin() + long(len)));
    expect_case("emc-convert", convert_args(t), 4, {(t / "model.json").string()}, d);
  }
}

// Wrong types and values in a Dense config and the input shape: every case a clean error that
// names the layer (or the file), never exit 70.
TEST(HostileConvert, WrongConfigValuesFamily) {
  const fs::path d = fresh("types");
  TinyModel m;
  m.write(d);
  const json base = json::parse(std::ifstream(d / "model.json"));
  int n = 0;
  const std::vector<json> values = {json(-1),   json("x"),     json(nullptr),  json(0),
                                    json(1e30), json::array(), json::object(), json(2.5)};
  for (const char* key : {"units", "activation", "use_bias", "batch_input_shape"}) {
    for (const json& v : values) {
      json j = base;
      j["modelTopology"]["config"]["layers"][0]["config"][key] = v;
      const fs::path c = d / ("c" + std::to_string(n++));
      fs::create_directories(c);
      put(c / "model.json", j.dump());
      fs::copy(d / "w.bin", c / "w.bin");
      fs::copy(d / "calib", c / "calib");
      const CommandOutput r = run_tool("emc-convert", convert_args(c));
      SCOPED_TRACE(std::string(key) + " = " + v.dump());
      // Some values are valid (use_bias 0 -> false is refused, 2.5 units refused...); whatever
      // happens: a documented exit code and, on failure, the file named.
      EXPECT_NE(r.status, 70) << r.text;
      EXPECT_NE(r.status, -1) << r.text;
      if (r.status != 0) {
        EXPECT_THAT(r.text, HasSubstr("model.json")) << r.text;
      }
    }
  }
}

// ---- emc-inspect and emc-run on damaged kmodels ----------------------------------------------

std::string iris() {
  return std::string(EMC_SHARED_DIR) + "/kmodels/nncase01_iris.kmodel";
}
std::string cifar() {
  return std::string(EMC_SHARED_DIR) + "/kmodels/maixemc_cifar10.kmodel";
}

TEST(HostileKmodel, TruncationsAndFlippedHeaderWordsFamily) {
  const fs::path d = fresh("kmodel");
  const auto good = bytes_of(cifar());
  ASSERT_GT(good.size(), 1000u) << "missing fixture " << cifar();
  // Truncations: 30 points spread over the file.
  for (int i = 0; i < 30; ++i) {
    const std::size_t len = good.size() * std::size_t(i) / 30;
    const fs::path p = d / ("t" + std::to_string(i) + ".kmodel");
    put(p, std::vector<std::uint8_t>(good.begin(), good.begin() + long(len)));
    expect_case("emc-inspect", q(p.string()), 4, {p.string()}, d);
    expect_case("emc-run", q(p.string()) + " --input-raw /dev/null", 4, {p.string()}, d);
  }
  // Header words (version, flags, arch, layers_length, max_start_address, main_mem_usage,
  // output_count) set to extreme values.
  for (int word = 0; word < 7; ++word) {
    for (std::uint32_t v : {0u, 0xffffffffu, 0x7fffffffu}) {
      auto b = good;
      std::memcpy(b.data() + 4 * word, &v, 4);
      if (b == good) continue;
      const fs::path p = d / ("h" + std::to_string(word) + "_" + std::to_string(v) + ".kmodel");
      put(p, b);
      const CommandOutput r = run_tool("emc-inspect", q(p.string()));
      EXPECT_TRUE(r.status == 0 || r.status == 4) << p << r.text;
      if (r.status) {
        EXPECT_THAT(r.text, HasSubstr(p.string()));
      }
    }
  }
}

TEST(HostileInspect, UsageAndPaths) {
  const fs::path d = fresh("inspect");
  expect_case("emc-inspect", "", 2, {"model"}, d);
  expect_case("emc-inspect", "''", 2, {"empty"}, d);
  expect_case("emc-inspect", q(d.string()), 3, {"is a directory"}, d);
  expect_case("emc-inspect", "/nonexistent_emc.kmodel", 3, {"/nonexistent_emc.kmodel"}, d);
  expect_case("emc-inspect", q(iris()) + " --layer 99", 2, {"--layer 99"}, d);
  expect_case("emc-inspect", q(iris()) + " --layer -5", 2, {"--layer -5"}, d);
  expect_case("emc-inspect", q(iris()) + " --layer 99999999999999999999999", 2, {"--layer"}, d);
  expect_case("emc-inspect", q(iris()) + " --bogus", 2, {"bogus"}, d);
  // A file name with a non-UTF-8 byte: --json still prints JSON (the byte replaced).
  const fs::path odd = d / std::string("bad\xff name.kmodel");
  fs::copy(iris(), odd);
  const CommandOutput r = run_tool("emc-inspect", q(odd.string()) + " --json", false);
  EXPECT_EQ(r.status, 0) << r.text;
  EXPECT_TRUE(json::accept(r.text)) << r.text;
}

// ---- emc-run: CLI values and inputs ----------------------------------------------------------

TEST(HostileRun, CliValuesFamily) {
  const fs::path d = fresh("runcli");
  const std::string m = q(iris());
  struct Case {
    std::string args;
    int code;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {" --features 1,2,3,4,", 2, "trailing comma"},
      {" --features ,1,2,3", 2, "is not a finite number"},
      {" --features 1,,2,3", 2, "is not a finite number"},
      {" --features 1,2,3,nan", 2, "nan"},
      {" --features 1,2,3,inf", 2, "inf"},
      {" --features 1,2,3,1e999", 2, "1e999"},
      {" --features 1,2,3", 2, "3 values"},
      {" --features 1,2,3,4,5", 2, "5 values"},
      {" --features ''", 2, "features"},
      {" --features 1,2,3,4 --top 0", 2, "top"},
      {" --features 1,2,3,4 --top 18446744073709551616", 2, "top"},
      {" --features 1,2,3,4 --top 18446744073709551615", 2, "top"},
      {" --features 1,2,3,4 --top -1", 2, "top"},
      {" --features 1,2,3,4 --top abc", 2, "top"},
      {" --features 1,2,3,4 --backend-override 99999999999999999999999=cpu", 2, "out of range"},
      {" --features 1,2,3,4 --backend-override 7=cpu", 2, "the model has only 2 layers"},
      {" --features 1,2,3,4 --backend-override =cpu", 2, "expected IDX=NAME"},
      {" --features 1,2,3,4 --backend-override 0=", 2, "expected IDX=NAME"},
      {" --features 1,2,3,4 --backend-override NOPE=cpu", 2, "neither a layer index"},
      {" --features 1,2,3,4 --backend-override 0=nobody", 2, "'nobody', which is not registered"},
      {" --features 1,2,3,4 --backend gpu", 2, "backend"},
      {" --features 1,2,3,4 --labels " + q(d.string()), 3, "is a directory"},
      {" --features 1,2,3,4 --labels /dev/zero", 2, "larger than the limit"},
      {" --features 1,2,3,4 --labels /nonexistent_emc", 3, "/nonexistent_emc"},
      {" --features 1,2,3,4 --labels ''", 2, "empty"},
      {" --input-raw " + q(d.string()), 3, "is a directory"},
      {" --input-raw /dev/zero", 2, "more than 16 bytes"},
      {" --input-raw /nonexistent_emc", 3, "/nonexistent_emc"},
      {" --input-raw ''", 2, "empty"},
      {" --input-raw /dev/null", 2, "0 bytes"},
      {"", 2, "exactly one of"},
      {" --features 1,2,3,4 --input-raw /dev/null", 2, "exactly one of"},
      {" --input " + q(cifar()), 2, "K210_CONV"},
      {" --bogus", 2, "bogus"},
  };
  for (const Case& c : cases) expect_case("emc-run", m + c.args, c.code, {c.needle}, d);
  expect_case("emc-run", "'' --features 1,2,3,4", 2, {"empty"}, d);
}

TEST(HostileRun, NonFiniteRawInputIsReported) {
  const fs::path d = fresh("runnan");
  std::vector<float> v = {1.0f, std::numeric_limits<float>::quiet_NaN(), 2.0f,
                          std::numeric_limits<float>::infinity()};
  std::vector<std::uint8_t> b(16);
  std::memcpy(b.data(), v.data(), 16);
  put(d / "in.bin", b);
  expect_case("emc-run", q(iris()) + " --input-raw " + q((d / "in.bin").string()), 0,
              {"2 of 4 input values are NaN or infinite (first at index 1)"}, d);
}

// Images: oversized headers, truncations, wrong files; the decoder's pixel cap applies.
TEST(HostileRun, ImagesFamily) {
  const fs::path d = fresh("runimg");
  // PNG signature + IHDR claiming 20000 x 20000 RGB (stb refuses it before the cap is asked).
  std::vector<std::uint8_t> png = {0x89, 'P',  'N', 'G', '\r', '\n', 0x1a, '\n', 0,    0, 0,
                                   13,   'I',  'H', 'D', 'R',  0,    0,    0x4e, 0x20, 0, 0,
                                   0x4e, 0x20, 8,   2,   0,    0,    0,    0,    0,    0, 0};
  put(d / "huge.png", png);
  expect_case("emc-run", q(cifar()) + " --input " + q((d / "huge.png").string()), 2,
              {"huge.png", "20000x20000", "pixels"}, d);
  // Baseline JPEG header (SOI, SOF0 20000 x 20000 x 3) without data.
  std::vector<std::uint8_t> jpg = {0xff, 0xd8, 0xff, 0xc0, 0,    17, 8, 0x4e, 0x20, 0x4e, 0x20, 3,
                                   1,    0x11, 0,    2,    0x11, 0,  3, 0x11, 0,    0xff, 0xd9};
  put(d / "huge.jpg", jpg);
  const CommandOutput r =
      run_tool("emc-run", q(cifar()) + " --input " + q((d / "huge.jpg").string()));
  EXPECT_EQ(r.status, 2) << r.text;
  EXPECT_THAT(r.text, HasSubstr("huge.jpg"));
  // Truncations of a real BMP.
  const auto bmp = bytes_of(std::string(EMC_SHARED_DIR) + "/kmodels/nncase_yolo20_test_dog.bmp");
  ASSERT_GT(bmp.size(), 1000u);
  for (std::size_t len : {std::size_t(0), std::size_t(2), std::size_t(14), std::size_t(30)}) {
    const fs::path p = d / ("t" + std::to_string(len) + ".bmp");
    put(p, std::vector<std::uint8_t>(bmp.begin(), bmp.begin() + long(len)));
    expect_case("emc-run", q(cifar()) + " --input " + q(p.string()), 2, {p.string()}, d);
  }
  expect_case("emc-run", q(cifar()) + " --input " + q(d.string()), 3, {"is a directory"}, d);
  expect_case("emc-run", q(cifar()) + " --input /nonexistent_emc.png", 3, {"/nonexistent_emc.png"},
              d);
  expect_case("emc-run", q(cifar()) + " --input /dev/zero", 2, {"larger than the limit"}, d);
}

// ---- sidecar maps: one reader for emc-run and emc-compare ------------------------------------

TEST(HostileMap, MismatchedBrokenAndHostileMaps) {
  const fs::path d = fresh("maps");
  TinyModel m;
  m.write(d);
  ASSERT_EQ(run_tool("emc-convert", convert_args(d)).status, 0);
  const std::string km = (d / "out.kmodel").string(), map = km + ".map.json";
  const std::string good_map(reinterpret_cast<const char*>(bytes_of(map).data()),
                             bytes_of(map).size());
  const std::string run_args = q(km) + " --features 1,2,3,4";
  const std::string cmp_args = q((d / "model.json").string()) + " " + q(km) + " --input-f32 " +
                               q((d / "calib" / "a.f32").string());
  expect_case("emc-run", run_args, 0, {"output 0"}, d);
  expect_case("emc-compare", cmp_args, 0, {}, d);

  // A map from another conversion (different weights): both readers refuse it, naming both files.
  const fs::path other = d / "other";
  fs::create_directories(other);
  TinyModel m2;
  m2.poison["dense_1/bias"] = {0, 0.75f};
  m2.write(other);
  ASSERT_EQ(run_tool("emc-convert", convert_args(other)).status, 0);
  fs::copy_file(other / "out.kmodel.map.json", map, fs::copy_options::overwrite_existing);
  expect_case("emc-run", run_args, 2, {"different kmodel", map, km}, d);
  expect_case("emc-compare", cmp_args, 2, {"different kmodel", map}, d);

  // Hostile values in a map.
  struct Edit {
    std::string from, to;
    int run_code, cmp_code;
    std::string needle;
  };
  // -p cpu records layer 1's own int8 "quant": drop it, so that an inserted one is the only one
  // (JSON objects keep the last of duplicate keys).
  std::string base = good_map;
  {
    const auto at = base.find("\"index\": 1,");
    const auto qs = base.find("\"quant\": {", at);
    const auto qe = base.find('}', qs);
    const auto next = base.find("\"index\": 2,", at);
    if (at != std::string::npos && qs != std::string::npos && qe != std::string::npos &&
        qs < next) {
      const auto comma = base.find(',', qe);
      base.erase(qs, (comma == std::string::npos ? qe : comma) + 1 - qs);
    }
  }
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string t = base;
    const auto at = t.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) t.replace(at, from.size(), to);
    return t;
  };
  const std::vector<Edit> edits = {
      {"\"kpu_peak_bytes\": 0", "\"kpu_peak_bytes\": 1e999", 0, 4, "not a valid map"},
      {"\"index\": 0,", "\"index\": 0, \"quant\": {\"scale\": 1e999, \"bias\": 0},", 0, 4,
       "not a valid map"},
      {"\"index\": 1,", "\"index\": 1, \"quant\": {\"scale\": -1, \"bias\": 0},", 0, 2,
       "layers[1].quant.scale must be > 0"},
      {"\"index\": 1,", "\"index\": 1, \"quant\": {\"scale\": 1},", 0, 2,
       "needs 'scale' and 'bias'"},
      {"\"index\": 1,", "\"index\": -1,", 0, 2, "layers[1].index must be >= 0"},
      {"\"scale\": \"zero_one\"", "\"scale\": \"nope\"", 0, 2, "input.preprocess.scale"},
      {"\"order\": \"rgb\"", "\"order\": 7", 0, 2, "input.preprocess.order"},
      {"\"fnv1a64\": \"", "\"fnv1a64\": 5, \"y\": \"", 0, 2, "'kmodel' must be"},
      {"\"layers\": [", "\"layers\": 5, \"z\": [", 0, 2, "'layers' must be an array"},
  };
  for (const Edit& e : edits) {
    put(map, replaced(e.from, e.to));
    expect_case("emc-run", run_args, e.run_code, {}, d);
    expect_case("emc-compare", cmp_args, e.cmp_code, {e.needle}, d);
  }
  // A directory where the map should be.
  fs::remove(map);
  fs::create_directories(map);
  expect_case("emc-compare", cmp_args, 3, {"is a directory"}, d);
  expect_case("emc-run", run_args, 0, {"is a directory"}, d);
  fs::remove(map);
  // A map without the kmodel record (an older converter) is used with a warning.
  json j = json::parse(good_map);
  j.erase("kmodel");
  put(map, j.dump());
  expect_case("emc-compare", cmp_args, 0, {"does not record which kmodel"}, d);
  // 1e999 inside a layer's quantization (the case).
  put(map, replaced("\"index\": 2,", "\"index\": 2, \"quant\": {\"scale\": 1, \"bias\": 1e999},"));
  expect_case("emc-compare", cmp_args, 4, {map, "out_of_range"}, d);
}

// ---- emc-compare: usage, paths, names --------------------------------------------------------

TEST(HostileCompare, UsageErrorsAreExit2) {
  const fs::path d = fresh("cmpcli");
  TinyModel m;
  m.write(d);
  ASSERT_EQ(run_tool("emc-convert", convert_args(d)).status, 0);
  const std::string base = q((d / "model.json").string()) + " " + q((d / "out.kmodel").string());
  const std::string in = " --input-f32 " + q((d / "calib" / "a.f32").string());
  for (const std::string& args :
       {std::string(""), q((d / "model.json").string()), base + in + " --bogus",
        base + in + " --top 0", base + in + " --top 18446744073709551616", base + in + " --top x",
        base + in + " --backend gpu", base + " --input-f32 /nonexistent_emc.f32",
        base + " --dataset /nonexistent_emc", base + in + " --labels /nonexistent_emc",
        "/nonexistent_emc.json " + q((d / "out.kmodel").string()) + in, base,
        base + in + " --input-range 1,0", base + in + " --input-range mean=1,2:std=0",
        base + in + " --map ''", base + in + " --report ''"}) {
    expect_case("emc-compare", args, 2, {}, d);
  }
  // --report naming an input is refused.
  expect_case("emc-compare", base + in + " --report " + q((d / "model.json").string()), 2,
              {"would overwrite"}, d);
}

TEST(HostileCompare, NonUtf8NamesInJsonOutput) {
  const fs::path d = fresh("cmputf");
  TinyModel m;
  m.write(d);
  ASSERT_EQ(run_tool("emc-convert", convert_args(d)).status, 0);
  const fs::path odd = d / std::string("in\xfe.f32");
  fs::copy(d / "calib" / "a.f32", odd);
  const CommandOutput r =
      run_tool("emc-compare",
               q((d / "model.json").string()) + " " + q((d / "out.kmodel").string()) +
                   " --json --input-f32 " + q(odd.string()),
               false);
  EXPECT_EQ(r.status, 0) << r.text;
  EXPECT_TRUE(json::accept(r.text)) << r.text;
}

// ---- library edges: no foreign exception crosses them ----------------------------------------

class ThrowingBackend : public interpreter::Backend {
 public:
  explicit ThrowingBackend(bool in_prepare) : in_prepare_(in_prepare) {}
  std::string_view name() const override { return "thrower"; }
  bool supports(const interpreter::LayerInfo&) const override { return true; }
  Result<std::unique_ptr<interpreter::PreparedLayer>> prepare(
      const interpreter::LayerInfo&) override {
    if (in_prepare_) throw std::runtime_error("prepare exploded");
    return std::unique_ptr<interpreter::PreparedLayer>(new Layer());
  }

 private:
  struct Layer : interpreter::PreparedLayer {
    Status run(interpreter::ExecContext&) override { throw std::logic_error("run exploded"); }
  };
  bool in_prepare_;
};

TEST(HostileLibrary, ThrowingBackendEndsAsInternalError) {
  for (bool in_prepare : {true, false}) {
    interpreter::Registry reg;
    ASSERT_TRUE(reg.add(std::make_unique<ThrowingBackend>(in_prepare)).ok());
    auto it = interpreter::Interpreter::load_file(iris(), reg);
    Status s = it.ok() ? Status() : Status(it.error());
    if (it.ok()) {
      ASSERT_TRUE((*it)->set_input(0, std::vector<std::uint8_t>(16, 0)).ok());
      s = (*it)->run();
    }
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(exit_code_for(s.error().code()), 70);
    EXPECT_THAT(s.error().to_string(), HasSubstr(in_prepare ? "prepare exploded" : "run exploded"));
    EXPECT_THAT(s.error().to_string(), HasSubstr("[thrower]"));
  }
}

TEST(HostileLibrary, ThrowingShardReaderEndsAsInternalError) {
  const fs::path d = fresh("shardthrow");
  TinyModel m;
  m.write(d);
  std::ifstream in(d / "model.json");
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  int n = 0;
  for (int kind = 0; kind < 3; ++kind) {
    const converter::ShardReader reader =
        [kind](const std::string&) -> Result<std::vector<std::uint8_t>> {
      if (kind == 0) throw std::runtime_error("disk on fire");
      if (kind == 1) throw std::bad_alloc();
      throw 42;
    };
    auto r = converter::load_tfjs_model_from_memory(text, reader);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(exit_code_for(r.error().code()), 70) << r.error().to_string();
    EXPECT_THAT(r.error().to_string(), HasSubstr("internal error in loading the model"));
    if (kind == 0) {
      EXPECT_THAT(r.error().to_string(), HasSubstr("disk on fire"));
    }
    ++n;
  }
  EXPECT_EQ(n, 3);
}

TEST(HostileLibrary, MapReaderNeverThrows) {
  for (const std::string text :
       {"", "{", "[]", "{\"layers\": [1e999]}", "{\"kmodel\": {\"bytes\": -1}}",
        "{\"input\": {\"preprocess\": {\"scale\": \"mean_std\", \"std\": [0, 1, 1]}}}",
        "{\"input\": {\"preprocess\": {\"mean\": [1e39, 0, 0]}}}",
        "{\"layers\": [{\"index\": -3}]}",
        "{\"layers\": [{\"quant\": {\"scale\": 0, \"bias\": 0}}]}",
        "{\"layers\": [{\"quant\": []}]}", "{\"layers\": [{\"main_out\": -8}]}",
        "{\"layers\": [{\"main_out\": 4294967296}]}", "{\"layers\": [{\"main_out\": \"0\"}]}",
        "{\"layers\": [{\"out_shape\": 5}]}", "{\"layers\": [{\"out_shape\": [8, -1, 3]}]}",
        "{\"layers\": [{\"out_shape\": [2147483648]}]}",
        "{\"layers\": [{\"out_shape\": [1, 1, 1, 1, 1, 1, 1, 1, 1]}]}", "\xff\xfe"}) {
    auto r = converter::parse_map(text, "x.map.json");
    EXPECT_FALSE(r.ok()) << text;
    if (!r.ok()) {
      EXPECT_NE(exit_code_for(r.error().code()), 70) << r.error().to_string();
      EXPECT_EQ(r.error().file(), "x.map.json");
    }
  }
}

}  // namespace
}  // namespace emc
