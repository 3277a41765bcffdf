// emc-compare on a model with two outputs: samples/models/two_heads (TF.js; output 0 class_probs, a
// 5-class softmax, output 1 map, an 8x8x3 conv map; reference.json holds TF.js's outputs of both),
// converted by the emc-convert binary for -p k210 and -p cpu (once per target, for all the tests of
// the target). Every expected number is computed here, independently of emc-compare: the kmodel's
// outputs come from the emc-run binary (--raw, the outputs in kmodel order; the map reordered from
// the kmodel's CHW planes by this file) and the float side is TF.js's reference output. Damaged
// pairings (no map, a map without main_out, a map locating two outputs in one kmodel output, a
// kmodel with one output less) are made here from the converted kmodel and its map.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "converter/model_builder.h"
#include "emc/format/file_io.h"
#include "emc/format/kmodel_codec.h"
#include "run_command.h"

namespace {

namespace fs = std::filesystem;
using emc::test::read_f32;
using emc::test::read_text;
using emc::test::ToolRun;
using nlohmann::json;

const std::string kDir = std::string(EMC_SOURCE_DIR) + "/samples/models/two_heads";
const std::string kModelJson = kDir + "/model.json";
constexpr std::size_t kClasses = 5, kMapH = 8, kMapW = 8, kMapC = 3;

ToolRun run(const std::string& tool, const std::vector<std::string>& args, const fs::path& tmp) {
  return emc::test::run_tool_apart(tool, args, tmp);
}

// The metrics emc-compare reports, computed here in double over the concatenation of the pairs.
struct Metrics {
  double signal = 0, noise = 0, dot = 0, ref_sq = 0, test_sq = 0, sum_abs = 0, max_abs = 0;
  std::size_t n = 0;
  void add(const std::vector<float>& ref, const std::vector<float>& test) {
    ASSERT_EQ(ref.size(), test.size());
    for (std::size_t i = 0; i < ref.size(); ++i) {
      const double a = ref[i], b = test[i], d = a - b;
      noise += d * d;
      dot += a * b;
      ref_sq += a * a;
      test_sq += b * b;
      sum_abs += std::fabs(d);
      max_abs = std::max(max_abs, std::fabs(d));
    }
    n += ref.size();
  }
  double sqnr_db() const { return 10.0 * std::log10(ref_sq / noise); }
  double cosine() const { return dot / std::sqrt(ref_sq * test_sq); }
  double mean_abs() const { return sum_abs / double(n); }
};

// Checks emc-compare's JSON metrics of one output against `m`. The float side of emc-compare is
// its own float executor, which equals TF.js to float rounding (the sample's 1e-4 tolerance; here
// ~1e-6 against an error of ~1e-2), so the numbers agree to those tolerances.
void expect_metrics(const json& got, const Metrics& m) {
  EXPECT_EQ(got["elements"].get<std::size_t>(), m.n);
  EXPECT_NEAR(got["sqnr_db"].get<double>(), m.sqnr_db(), 0.01);
  EXPECT_NEAR(got["cosine"].get<double>(), m.cosine(), 1e-6);
  EXPECT_NEAR(got["max_abs_error"].get<double>(), m.max_abs, 1e-5);
  EXPECT_NEAR(got["mean_abs_error"].get<double>(), m.mean_abs(), 1e-6);
}

std::size_t argmax(const std::vector<float>& v) {
  return std::size_t(std::max_element(v.begin(), v.end()) - v.begin());
}

bool has_warning(const json& j, const std::string& text) {
  for (const json& w : j["warnings"])
    if (w.get<std::string>().find(text) != std::string::npos) return true;
  return false;
}

// One stored case: TF.js's outputs and the kmodel's (emc-run), both in the float model's order.
struct Case {
  std::string name, input_f32;
  std::vector<float> tfjs[2], kmodel[2];
};

// Writes `model` to `path` and `map` to its sidecar `path`.map.json, the map's record of the
// kmodel ("kmodel": bytes, hash) updated to the new bytes.
void write_kmodel_and_map(const std::string& path, const emc::format::Kmodel& model, json map) {
  auto bytes = emc::format::encode_kmodel(model);
  ASSERT_TRUE(bytes.ok()) << bytes.error().to_string();
  ASSERT_TRUE(emc::format::write_file_atomically(path, *bytes).ok());
  map["kmodel"] = {{"bytes", bytes->size()}, {"fnv1a64", emc::format::fnv1a64_hex(*bytes)}};
  std::ofstream(path + ".map.json") << map.dump(1);
}

// The kmodel at `path` with its two output descriptors swapped (the same layers, so kmodel output 0
// is the map), and its sidecar map's record of the kmodel updated to the new bytes.
void swap_outputs(const std::string& path) {
  auto model = emc::format::load_kmodel_file(path);
  ASSERT_TRUE(model.ok()) << model.error().to_string();
  ASSERT_EQ(model->outputs.size(), 2u);
  std::swap(model->outputs[0], model->outputs[1]);
  write_kmodel_and_map(path, *model, json::parse(read_text(path + ".map.json")));
}

// two_heads converted for one target, and every stored case run through the kmodel with emc-run.
struct Converted {
  fs::path dir;
  std::string kmodel;
  std::vector<Case> cases;
  std::size_t kmodel_output[2] = {0, 0};  // the kmodel output holding model output o
  bool ok = false;
};

// Fills `c` for `param` ("k210", "cpu"; "k210 swapped": k210's kmodel with its outputs swapped,
// see swap_outputs).
void convert_and_run(const std::string& param, Converted& c) {
  ASSERT_TRUE(fs::exists(kModelJson)) << "sample missing: " << kDir;
  const bool swapped = param == "k210 swapped";
  const std::string target = swapped ? "k210" : param;
  c.dir = fs::temp_directory_path() /
          ("emc_compare_outputs_" + target + (swapped ? "_sw_" : "_") + std::to_string(::getpid()));
  fs::create_directories(c.dir);
  c.kmodel = (c.dir / "two_heads.kmodel").string();
  const ToolRun conv = run("emc-convert",
                           {kModelJson, "-p", target, "--dataset", kDir + "/inputs",
                            "--input-range", "0,1", "-o", c.kmodel, "--quiet"},
                           c.dir);
  ASSERT_EQ(conv.exit_code, 0) << conv.err;
  if (swapped) swap_outputs(c.kmodel);
  if (::testing::Test::HasFatalFailure()) return;

  const json ref = json::parse(read_text(kDir + "/reference.json"));
  ASSERT_EQ(ref["output_layers"], json({"class_probs", "map"}));
  for (const json& rc : ref["cases"]) {
    Case k;
    k.name = rc["name"].get<std::string>();
    k.input_f32 = kDir + "/" + rc["input_tensor"].get<std::string>();
    ASSERT_EQ(rc["outputs"].size(), 2u);
    for (int o = 0; o < 2; ++o) k.tfjs[o] = rc["outputs"][o]["output"].get<std::vector<float>>();
    ASSERT_EQ(k.tfjs[0].size(), kClasses);
    ASSERT_EQ(k.tfjs[1].size(), kMapH * kMapW * kMapC);
    // The kmodel input: the case's pixels (x = p / 255, every value on that grid), uint8 CHW.
    const std::vector<float> x = read_f32(k.input_f32);
    ASSERT_EQ(x.size(), 32u * 32 * 3);
    std::string chw(x.size(), '\0');
    for (std::size_t p = 0; p < 32 * 32; ++p)
      for (std::size_t ch = 0; ch < 3; ++ch) {
        const float v = x[p * 3 + ch];
        const long pixel = std::lround(double(v) * 255.0);
        ASSERT_NEAR(double(v), double(pixel) / 255.0, 1e-6) << k.name;
        chw[ch * 32 * 32 + p] = char(std::uint8_t(pixel));
      }
    const std::string in = (c.dir / (k.name + ".u8")).string();
    const std::string out = (c.dir / (k.name + ".out.f32")).string();
    std::ofstream(in, std::ios::binary) << chw;
    const ToolRun r = run("emc-run", {c.kmodel, "--input-raw", in, "--raw", out}, c.dir);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // --raw: every kmodel output, in kmodel order. Which is which is told by the sizes here.
    const std::vector<float> raw = read_f32(out);
    ASSERT_EQ(raw.size(), kClasses + kMapH * kMapW * kMapC);
    // emc-run names each output from the sidecar: the model's output layers and shapes.
    const std::string class_line = "'class_probs' [5]: 5 values\n";
    const std::string map_line = "'map' [8, 8, 3] CHW: 192 values\n";
    const bool class_first = r.out.rfind("output 0 " + class_line, 0) == 0;
    ASSERT_TRUE(class_first || r.out.rfind("output 0 " + map_line, 0) == 0) << r.out;
    ASSERT_EQ(class_first, !swapped) << r.out;
    ASSERT_NE(r.out.find("output 1 " + (class_first ? map_line : class_line)), std::string::npos)
        << r.out;
    c.kmodel_output[0] = class_first ? 0 : 1;
    c.kmodel_output[1] = class_first ? 1 : 0;
    const std::size_t map_at = class_first ? kClasses : 0;
    const std::size_t class_at = class_first ? 0 : kMapH * kMapW * kMapC;
    k.kmodel[0].assign(raw.begin() + long(class_at), raw.begin() + long(class_at + kClasses));
    // The map output as the kmodel holds a map: C planes of H x W. To the float model's HWC.
    k.kmodel[1].resize(kMapH * kMapW * kMapC);
    for (std::size_t ch = 0; ch < kMapC; ++ch)
      for (std::size_t p = 0; p < kMapH * kMapW; ++p)
        k.kmodel[1][p * kMapC + ch] = raw[map_at + ch * kMapH * kMapW + p];
    // The map's largest value as emc-run ranks it: "1. [i] v  (y Y, x X, c C)", the value at that
    // position of the map (i: the CHW index).
    const std::size_t at = r.out.find("  1. [", r.out.find("'map'"));
    ASSERT_NE(at, std::string::npos) << r.out;
    std::size_t i = 0, my = 0, mx = 0, mc = 0;
    double v = 0;
    ASSERT_EQ(std::sscanf(r.out.c_str() + at, "  1. [%zu] %lf  (y %zu, x %zu, c %zu)", &i, &v, &my,
                          &mx, &mc),
              5)
        << r.out.substr(at, 80);
    ASSERT_TRUE(my < kMapH && mx < kMapW && mc < kMapC);
    EXPECT_EQ(i, (mc * kMapH + my) * kMapW + mx);
    const float top = k.kmodel[1][(my * kMapW + mx) * kMapC + mc];
    EXPECT_NEAR(top, v, 1e-6);
    EXPECT_EQ(*std::max_element(k.kmodel[1].begin(), k.kmodel[1].end()), top);
    c.cases.push_back(std::move(k));
  }
  ASSERT_EQ(c.cases.size(), 6u);
  c.ok = true;
}

// Tests on two_heads converted for the target GetParam() (see convert_and_run), converted once for
// all the tests of the suite; each test works in its own folder under the conversion's.
class TwoHeads : public ::testing::TestWithParam<const char*> {
 protected:
  static std::map<std::string, std::unique_ptr<Converted>>& converted() {
    static std::map<std::string, std::unique_ptr<Converted>> by_param;
    return by_param;
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    for (const auto& [param, c] : converted())
      if (c->ok && !keep_) fs::remove_all(c->dir, ec);
    converted().clear();
  }

  void SetUp() override {
    std::unique_ptr<Converted>& c = converted()[GetParam()];
    if (!c) {
      c = std::make_unique<Converted>();
      convert_and_run(GetParam(), *c);
    }
    ASSERT_TRUE(c->ok) << "two_heads did not convert / run for " << GetParam()
                       << " (the suite's first test says why)";
    kmodel_ = c->kmodel;
    cases_ = c->cases;
    kmodel_output_[0] = c->kmodel_output[0];
    kmodel_output_[1] = c->kmodel_output[1];
    std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(test.begin(), test.end(), '/', '_');
    tmp_ = c->dir / test;
    fs::create_directories(tmp_);
  }
  void TearDown() override {
    std::error_code ec;
    if (HasFailure())
      keep_ = true;
    else
      fs::remove_all(tmp_, ec);
  }

  bool swapped() const { return std::string(GetParam()) == "k210 swapped"; }

  // emc-compare on the model and `kmodel` (default: the converted one) with `args` (plus every
  // stored case with `all`).
  ToolRun compare(std::vector<std::string> args, bool all = true, std::string kmodel = "") const {
    std::vector<std::string> a = {kModelJson, kmodel.empty() ? kmodel_ : kmodel, "-q"};
    if (all) {
      for (const Case& c : cases_) {
        a.push_back("--input-f32");
        a.push_back(c.input_f32);
      }
    }
    a.insert(a.end(), args.begin(), args.end());
    return run("emc-compare", a, tmp_);
  }

  // A copy of the converted kmodel in this test's folder as `name`, with its map edited by
  // `edit_map` and the kmodel by `edit_kmodel` (the map's kmodel record follows the new bytes).
  template <typename EditMap, typename EditKmodel>
  std::string edited_copy(const std::string& name, EditMap edit_map, EditKmodel edit_kmodel) const {
    auto model = emc::format::load_kmodel_file(kmodel_);
    EXPECT_TRUE(model.ok()) << model.error().to_string();
    if (!model.ok()) return "";
    json map = json::parse(read_text(kmodel_ + ".map.json"));
    edit_map(map, *model);
    edit_kmodel(*model);
    const std::string path = (tmp_ / name).string();
    write_kmodel_and_map(path, *model, map);
    return path;
  }

  // emc-compare's --json `j` (every stored case, in order) against TF.js and emc-run: each output
  // located in kmodel output `kmodel_output[o]` and compared in the float model's order.
  void expect_every_output_matches(const json& j, const std::size_t kmodel_output[2]) const {
    ASSERT_EQ(j["outputs"].size(), 2u);
    ASSERT_EQ(j["images"].size(), cases_.size());
    const char* names[2] = {"class_probs", "map"};
    const char* shapes[2] = {"[5]", "[8, 8, 3]"};
    for (std::size_t o = 0; o < 2; ++o) {
      SCOPED_TRACE(names[o]);
      const json& out = j["outputs"][o];
      EXPECT_EQ(out["name"], names[o]);
      EXPECT_EQ(out["shape"], shapes[o]);
      EXPECT_EQ(out["kmodel_output"].get<std::size_t>(), kmodel_output[o]);
      EXPECT_EQ(out["reordered_from_chw"].get<bool>(), o == 1);
      Metrics pooled;
      std::size_t agree = 0;
      for (std::size_t i = 0; i < cases_.size(); ++i) {
        SCOPED_TRACE(cases_[i].name);
        Metrics one;
        one.add(cases_[i].tfjs[o], cases_[i].kmodel[o]);
        pooled.add(cases_[i].tfjs[o], cases_[i].kmodel[o]);
        const json& img = j["images"][i]["outputs"][o];
        expect_metrics(img, one);
        const bool same = argmax(cases_[i].tfjs[o]) == argmax(cases_[i].kmodel[o]);
        EXPECT_EQ(img["top1_agree"].get<bool>(), same);
        agree += same;
      }
      expect_metrics(out, pooled);
      EXPECT_EQ(out["images"].get<std::size_t>(), cases_.size());
      EXPECT_EQ(out["top1_agree"].get<std::size_t>(), agree);
      // A comparison worth the name: both heads survive 8-bit quantization (a broken reordering
      // of the map would give ~0 dB here and above).
      EXPECT_GT(pooled.sqnr_db(), 20.0);
    }
  }

  static inline bool keep_ = false;  // a test failed: its files and the conversions stay
  fs::path tmp_;
  std::string kmodel_;
  std::size_t kmodel_output_[2] = {0, 0};
  std::vector<Case> cases_;
};

// The sidecar layers of `map` that state `tensor`, not int8, and write a kmodel output of `model`
// (main_out at its address).
std::vector<json*> output_writers(json& map, const emc::format::Kmodel& model,
                                  const std::string& tensor) {
  std::vector<json*> w;
  for (json& l : map["layers"]) {
    if (l.value("tensor", "") != tensor || l.value("dtype", "") == "int8" ||
        !l.contains("main_out"))
      continue;
    for (const auto& out : model.outputs)
      if (out.address == l["main_out"].get<std::uint32_t>()) w.push_back(&l);
  }
  return w;
}

TEST_P(TwoHeads, EveryOutputHasTheErrorOfTheKmodelsOwnOutput) {
  const ToolRun r = compare({"--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  expect_every_output_matches(j, kmodel_output_);
  EXPECT_FALSE(has_warning(j, "taken as")) << j["warnings"].dump();
  // The top-k summary is output 0's by default: its max |dp| and top-1 agreement.
  EXPECT_EQ(j["top_output"], json({{"index", 0}, {"name", "class_probs"}}));
  EXPECT_NEAR(j["summary"]["max_abs_dp"].get<double>(),
              j["outputs"][0]["max_abs_error"].get<double>(), 1e-12);
  EXPECT_EQ(j["summary"]["top1_agree"], j["outputs"][0]["top1_agree"]);

  // Pooled in input order: one worker or three, the same numbers.
  const ToolRun one = compare({"--json", "-j", "1"}), three = compare({"--json", "-j", "3"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  ASSERT_EQ(three.exit_code, 0) << three.err;
  EXPECT_EQ(json::parse(one.out)["outputs"], json::parse(three.out)["outputs"]);

  // The text and the HTML report name both outputs in their per-output sections.
  const std::string html = (tmp_ / "report.html").string();
  const ToolRun text = compare({"--report", html});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("per-output comparison"), std::string::npos) << text.out;
  for (const char* n : {"class_probs", "map"}) {
    EXPECT_NE(text.out.find(std::string("  ") + n + "  "), std::string::npos) << text.out;
    EXPECT_NE(read_text(html).find(std::string("<td class=\"l\">") + n + "</td>"),
              std::string::npos);
  }
  EXPECT_NE(read_text(html).find("<h2>Outputs</h2>"), std::string::npos);
}

TEST_P(TwoHeads, AKmodelWithAnotherNumberOfOutputsIsRefused) {
  const std::string one = edited_copy(
      "one_output.kmodel", [](json&, const emc::format::Kmodel&) {},
      [](emc::format::Kmodel& m) { m.outputs.pop_back(); });
  ASSERT_FALSE(HasFailure());
  const ToolRun r = compare({"--json"}, true, one);
  EXPECT_EQ(r.exit_code, 5) << r.err;  // a shape mismatch
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_NE(r.err.find(one), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("the kmodel has 1 output, the float model 2 (0 'class_probs' [5], 1 'map' "
                       "[8, 8, 3]): was the kmodel converted from this model?"),
            std::string::npos)
      << r.err;
}

TEST_P(TwoHeads, WithoutASidecarOutputsAreTakenByPositionAndTheMapAsChwPlanes) {
  const std::string bare = (tmp_ / "no_map.kmodel").string();
  fs::copy_file(kmodel_, bare);
  const ToolRun r = compare({"--json", "--input-range", "0,1"}, true, bare);
  if (swapped()) {
    // Model output 0 (5 values) by position is kmodel output 0, the map: refused, not compared.
    EXPECT_EQ(r.exit_code, 5) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_NE(r.err.find(bare), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("kmodel output 0 has 192 values but model output 0 'class_probs' [5] has "
                         "5: was the kmodel converted from this model? (model output 0 "
                         "'class_probs' was taken as kmodel output 0 by its position: no sidecar "
                         "map)"),
              std::string::npos)
        << r.err;
    return;
  }
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  // emc-convert's order, and the map reordered from CHW planes: the numbers of the kmodel's own
  // outputs (emc-run's, in HWC order) against TF.js.
  const std::size_t by_position[2] = {0, 1};
  expect_every_output_matches(j, by_position);
  EXPECT_TRUE(has_warning(j,
                          "model output 1 'map' [8, 8, 3]: there is no sidecar map to say how "
                          "the kmodel holds it; taken as CHW planes"))
      << j["warnings"].dump();
  EXPECT_FALSE(has_warning(j, "model output 0 'class_probs'")) << j["warnings"].dump();
}

TEST_P(TwoHeads, AMapWithoutMainOutLocatesTheOutputsByPosition) {
  const std::string k = edited_copy(
      "no_main_out.kmodel",
      [](json& map, const emc::format::Kmodel&) {
        for (json& l : map["layers"]) l.erase("main_out");
      },
      [](emc::format::Kmodel&) {});
  ASSERT_FALSE(HasFailure());
  const ToolRun r = compare({"--json"}, true, k);
  if (swapped()) {
    // By position model output 0 would be the map: refused, saying why, never compared.
    EXPECT_EQ(r.exit_code, 5) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_NE(r.err.find(k), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("kmodel output 0 has 192 values but model output 0 'class_probs' [5] has "
                         "5: was the kmodel converted from this model? (model output 0 "
                         "'class_probs' was taken as kmodel output 0 by its position: no layer of "
                         "the sidecar map records its main_out)"),
              std::string::npos)
        << r.err;
    return;
  }
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  const std::size_t by_position[2] = {0, 1};
  expect_every_output_matches(j, by_position);
  for (const char* o : {"model output 0 'class_probs'", "model output 1 'map'"}) {
    EXPECT_TRUE(has_warning(j, std::string(o) + ": no layer of the sidecar map records which "
                                                "kmodel output holds it (its main_out)"))
        << j["warnings"].dump();
  }
  // The map's layer still says how it is held: no assumption to warn about.
  EXPECT_FALSE(has_warning(j, "taken as CHW planes")) << j["warnings"].dump();
}

TEST_P(TwoHeads, AMapLocatingTwoOutputsInOneKmodelOutputIsRefused) {
  const std::string k = edited_copy(
      "two_in_one.kmodel",
      [](json& map, const emc::format::Kmodel& model) {
        // class_probs's writer stating the map's kmodel output as its own.
        const std::vector<json*> map_writer = output_writers(map, model, "map");
        const std::vector<json*> class_writer = output_writers(map, model, "class_probs");
        ASSERT_EQ(map_writer.size(), 1u);
        ASSERT_EQ(class_writer.size(), 1u);
        (*class_writer[0])["main_out"] = (*map_writer[0])["main_out"];
      },
      [](emc::format::Kmodel&) {});
  ASSERT_FALSE(HasFailure());
  const ToolRun r = compare({"--json"}, true, k);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_NE(r.err.find(k + ".map.json"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("model output 0 'class_probs' and model output 1 'map' are both located in "
                       "kmodel output " +
                       std::to_string(kmodel_output_[1]) + " by this sidecar map"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("convert the model again"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--map"), std::string::npos) << r.err;
}

TEST_P(TwoHeads, FloatOutputsAreTfjsOutputsAndQuantOutputsTheKmodels) {
  // --top 1000 lists every value of the chosen output: all of them, both outputs, every case.
  for (const std::size_t o : {0u, 1u}) {
    SCOPED_TRACE("output " + std::to_string(o));
    const ToolRun r = compare({"--json", "--top", "1000", "--output", std::to_string(o)});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json j = json::parse(r.out);
    ASSERT_EQ(j["images"].size(), cases_.size());
    for (std::size_t i = 0; i < cases_.size(); ++i) {
      SCOPED_TRACE(cases_[i].name);
      const json& top = j["images"][i]["float_top"];
      ASSERT_EQ(top.size(), cases_[i].tfjs[o].size());
      std::vector<bool> seen(top.size(), false);
      for (const json& e : top) {
        const std::size_t k = e["index"].get<std::size_t>();
        ASSERT_LT(k, seen.size());
        seen[k] = true;
        EXPECT_NEAR(e["float"].get<double>(), cases_[i].tfjs[o][k], 1e-4) << "value " << k;
        // The same element of the kmodel's output (the map in HWC order): exactly emc-run's.
        EXPECT_EQ(e["quant"].get<float>(), cases_[i].kmodel[o][k]) << "value " << k;
      }
      EXPECT_EQ(std::count(seen.begin(), seen.end(), true), long(seen.size()));
    }
  }
}

TEST_P(TwoHeads, OutputOptionChoosesTheTopKOutput) {
  // Default: output 0, TF.js's top-5 of the classifier, labelled by labels.txt.
  ToolRun r = compare({"--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json ref = json::parse(read_text(kDir + "/reference.json"));
  json j = json::parse(r.out);
  for (std::size_t i = 0; i < cases_.size(); ++i) {
    const json& top = j["images"][i]["float_top"];
    const json& want = ref["cases"][i]["outputs"][0]["top5"];
    ASSERT_EQ(top.size(), want.size());
    for (std::size_t k = 0; k < top.size(); ++k) {
      EXPECT_EQ(top[k]["index"], want[k]["index"]);
      EXPECT_EQ(top[k]["label"], "class_" + std::to_string(want[k]["index"].get<int>()));
    }
  }

  // --output 1 and --output map: the map's top-5 (TF.js's) named by position, its summary.
  const ToolRun by_index = compare({"--json", "--output", "1"});
  const ToolRun by_name = compare({"--json", "--output", "map"});
  ASSERT_EQ(by_index.exit_code, 0) << by_index.err;
  ASSERT_EQ(by_name.exit_code, 0) << by_name.err;
  j = json::parse(by_index.out);
  EXPECT_EQ(j["images"], json::parse(by_name.out)["images"]);
  EXPECT_EQ(j["top_output"], json({{"index", 1}, {"name", "map"}}));
  Metrics map_error;
  std::size_t agree = 0;
  for (std::size_t i = 0; i < cases_.size(); ++i) {
    SCOPED_TRACE(cases_[i].name);
    const json& top = j["images"][i]["float_top"];
    const json& want = ref["cases"][i]["outputs"][1]["top5"];
    ASSERT_EQ(top.size(), 5u);
    for (std::size_t k = 0; k < 5; ++k) {
      EXPECT_EQ(top[k]["index"], want[k]["index"]);
      // Named by its position in the [8, 8, 3] map (TF.js's index is NHWC row-major).
      const int at = want[k]["index"].get<int>();
      EXPECT_EQ(top[k]["label"], "(y " + std::to_string(at / 24) + ", x " +
                                     std::to_string(at / 3 % 8) + ", c " + std::to_string(at % 3) +
                                     ")");
    }
    map_error.add(cases_[i].tfjs[1], cases_[i].kmodel[1]);
    agree += argmax(cases_[i].tfjs[1]) == argmax(cases_[i].kmodel[1]);
  }
  EXPECT_NEAR(j["summary"]["max_abs_dp"].get<double>(), map_error.max_abs, 1e-5);
  EXPECT_EQ(j["summary"]["top1_agree"].get<std::size_t>(), agree);
  bool warned = false;
  for (const json& w : j["warnings"])
    warned |= w.get<std::string>().find("labels are not used") != std::string::npos;
  EXPECT_TRUE(warned) << j["warnings"].dump();

  // The text says which output the top-k is of.
  r = compare({"--output", "map"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("output 1 map: top-1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("summary over 6 inputs (top-k and agreement of output 1 map)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("[8, 8, 3]"), std::string::npos);
}

TEST_P(TwoHeads, BadOutputIsAUsageErrorNamingTheOutputs) {
  for (const char* bad : {"2", "nope", "-1", "Map", "01x"}) {
    SCOPED_TRACE(bad);
    const ToolRun r = compare({"--output", bad});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_NE(r.err.find(std::string("--output '") + bad + "'"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("0 'class_probs' [5], 1 'map' [8, 8, 3]"), std::string::npos) << r.err;
  }
  const ToolRun empty = compare({"--output", ""});
  EXPECT_EQ(empty.exit_code, 2) << empty.err;
  EXPECT_NE(empty.err.find("--output is empty"), std::string::npos) << empty.err;
}

TEST_P(TwoHeads, DatasetAccuracyIsOfTheChosenOutput) {
  // Photos in folders named by the index of TF.js's largest map value (numbers: rule 3 of the
  // folder naming, since labels.txt names output 0's classes).
  const fs::path ds = tmp_ / "dataset";
  std::size_t float_right = 0, quant_right = 0;
  const json ref = json::parse(read_text(kDir + "/reference.json"));
  for (std::size_t i = 0; i < cases_.size(); ++i) {
    const json& c = ref["cases"][i];
    if (c["image"].is_null()) continue;
    const std::size_t label = argmax(cases_[i].tfjs[1]);
    fs::create_directories(ds / std::to_string(label));
    fs::copy_file(kDir + "/" + c["image"].get<std::string>(),
                  ds / std::to_string(label) / (cases_[i].name + ".png"));
    ++float_right;
    quant_right += argmax(cases_[i].kmodel[1]) == label;
  }
  ASSERT_EQ(float_right, 4u);
  const ToolRun r = compare({"--dataset", ds.string(), "--output", "map", "--json"}, false);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["summary"]["labelled"].get<std::size_t>(), 4u);
  EXPECT_EQ(j["summary"]["float_top1_correct"].get<std::size_t>(), float_right);
  EXPECT_EQ(j["summary"]["quant_top1_correct"].get<std::size_t>(), quant_right);
  // For output 0 (5 classes) those labels are past its last class: a wrong mapping, an error
  // naming the output and --output.
  const ToolRun wrong = compare({"--dataset", ds.string()}, false);
  EXPECT_EQ(wrong.exit_code, 2) << wrong.err;
  EXPECT_NE(wrong.err.find("is past output 0 'class_probs' (5 values), the output the labels are "
                           "of"),
            std::string::npos)
      << wrong.err;
  EXPECT_NE(wrong.err.find("--output (0 'class_probs' [5], 1 'map' [8, 8, 3])"), std::string::npos)
      << wrong.err;
}

// "k210 swapped": the kmodel's outputs in another order than the model's are still each compared
// with the right float output (the map's main_out says which kmodel output a layer writes).
INSTANTIATE_TEST_SUITE_P(Targets, TwoHeads, ::testing::Values("k210", "cpu", "k210 swapped"));

// -p cpu's int8 layers state the output tensors too. One of them whose main_out is another
// output's address (main memory is reused) does not write that output: the float layer after it
// does (here, with its main_out removed, the map is located by position).
class TwoHeadsInt8 : public TwoHeads {};

TEST_P(TwoHeadsInt8, AnInt8LayerAtAnOutputsAddressIsNotItsWriter) {
  const std::string k = edited_copy(
      "int8_at_output.kmodel",
      [&](json& map, const emc::format::Kmodel& model) {
        const std::vector<json*> float_writer = output_writers(map, model, "map");
        ASSERT_EQ(float_writer.size(), 1u);
        float_writer[0]->erase("main_out");
        std::size_t int8 = 0;
        for (json& l : map["layers"]) {
          if (l.value("tensor", "") != "map" || l.value("dtype", "") != "int8") continue;
          l["main_out"] = model.outputs[kmodel_output_[0]].address;  // class_probs's
          ++int8;
        }
        ASSERT_GE(int8, 1u) << "no int8 layer states 'map': nothing to test";
      },
      [](emc::format::Kmodel&) {});
  ASSERT_FALSE(HasFailure());
  const ToolRun r = compare({"--json"}, true, k);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  expect_every_output_matches(j, kmodel_output_);
  EXPECT_TRUE(has_warning(j,
                          "model output 1 'map': no layer of the sidecar map records which "
                          "kmodel output holds it"))
      << j["warnings"].dump();
}

INSTANTIATE_TEST_SUITE_P(Cpu, TwoHeadsInt8, ::testing::Values("cpu"));

// A one-output model: messages name "the model output" and "the kmodel output", without indexes.
class TwoHeadsOneOutput : public TwoHeads {};

TEST_P(TwoHeadsOneOutput, ASizeMismatchReadsRightForOneOutput) {
  // The kmodel with its class_probs output only (5 values), and a one-output model of the same
  // input whose output 'gap' has 3 values.
  const std::string k = edited_copy(
      "class_probs_only.kmodel", [](json&, const emc::format::Kmodel&) {},
      [&](emc::format::Kmodel& m) {
        const auto keep = m.outputs[kmodel_output_[0]];
        m.outputs = {keep};
      });
  ASSERT_FALSE(HasFailure());
  emc::converter::testing::ModelBuilder mb;
  mb.input("input", {32, 32, 3});
  mb.layer("GlobalAveragePooling2D", "gap", json::object());
  const std::string model_json = (tmp_ / "gap.json").string();
  std::ofstream(model_json) << mb.text();
  const ToolRun r = run("emc-compare", {model_json, k, "--input-f32", cases_[0].input_f32}, tmp_);
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_NE(r.err.find(k), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("the kmodel output has 5 values but the model output 'gap' [3] has 3: was "
                       "the kmodel converted from this model?"),
            std::string::npos)
      << r.err;
}

INSTANTIATE_TEST_SUITE_P(K210, TwoHeadsOneOutput, ::testing::Values("k210"));

TEST(CompareInputs, SeveralInputsAreStillRefused) {
  const fs::path tmp =
      fs::temp_directory_path() / ("emc_compare_two_inputs_" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  emc::converter::testing::ModelBuilder mb;
  mb.input("left", {4, 4, 3});
  mb.input("right", {4, 4, 3});
  mb.layer("Add", "sum", json::object(), {"left", "right"});
  const std::string model_json = (tmp / "model.json").string();
  std::ofstream(model_json) << mb.text();
  // Any kmodel: the model is refused before the kmodel is read.
  const std::string kmodel = (tmp / "x.kmodel").string();
  std::ofstream(kmodel) << "not read";
  const std::string x = (tmp / "x.f32").string();
  std::ofstream(x, std::ios::binary) << std::string(4 * 4 * 3 * 4, '\0');
  const ToolRun r = run("emc-compare", {model_json, kmodel, "--input-f32", x}, tmp);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("models with one input; this one has 2 ('left', 'right')"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find(model_json), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
  std::error_code ec;
  if (!::testing::Test::HasFailure()) fs::remove_all(tmp, ec);
}

}  // namespace
