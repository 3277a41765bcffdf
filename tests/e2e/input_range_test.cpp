// The input range a kmodel's uint8 pixels stand for, as a user meets it: a Keras model that starts
// with Rescaling takes raw pixels, so emc-convert's default for it is 0,255, and its kmodel must
// then reproduce TF.js's outputs (samples/models/prelu_small/reference.json, written by TF.js from
// the raw 0..255 input tensors). Calibration tensors or --input-f32 tensors that no pixel of the
// chosen range can stand for are errors naming the file, never a clipped, silently different run.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "run_command.h"

namespace emc {
namespace {

namespace fs = std::filesystem;
using test::run_tool;

const std::string kSample = std::string(EMC_SOURCE_DIR) + "/samples/models/prelu_small";

std::vector<float> read_f32(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<float> v(raw.size() / 4);
  std::memcpy(v.data(), raw.data(), v.size() * 4);
  return v;
}

fs::path fresh_dir(const std::string& name) {
  const fs::path d =
      fs::temp_directory_path() / ("emc_input_range_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string q(const fs::path& p) {
  return "'" + p.string() + "'";
}

class RescalingModel : public testing::TestWithParam<const char*> {};

TEST_P(RescalingModel, DefaultsToRawPixelsAndMatchesTfjs) {
  const std::string target = GetParam();
  const fs::path dir = fresh_dir(target), km = dir / "m.kmodel";
  auto conv = run_tool("emc-convert", q(kSample + "/model.json") + " -p " + target + " --dataset " +
                                          q(kSample + "/inputs") + " -o " + q(km));
  ASSERT_EQ(conv.status, 0) << conv.text;
  EXPECT_NE(conv.text.find("input range 0,255 (raw pixels): the model's first layer 'rescale' is "
                           "a Rescaling"),
            std::string::npos)
      << conv.text;

  std::ifstream rf(kSample + "/reference.json");
  const auto ref = nlohmann::json::parse(rf);
  ASSERT_GE(ref.at("cases").size(), 3u);
  for (const auto& c : ref.at("cases")) {
    // The input tensor holds integer pixel values 0..255 (its preprocessing note); the kmodel
    // takes them as uint8 CHW.
    const std::vector<float> nhwc =
        read_f32(fs::path(kSample) / c.at("input_tensor").get<std::string>());
    ASSERT_EQ(nhwc.size(), 12u * 12 * 3);
    std::vector<char> chw(nhwc.size());
    for (std::size_t p = 0; p < 144; ++p) {
      for (std::size_t ch = 0; ch < 3; ++ch) {
        const float v = nhwc[p * 3 + ch];
        ASSERT_EQ(v, std::round(v));
        chw[ch * 144 + p] = static_cast<char>(static_cast<unsigned char>(v));
      }
    }
    const fs::path in = dir / "in.u8", out = dir / "out.f32";
    std::ofstream(in, std::ios::binary).write(chw.data(), std::streamsize(chw.size()));
    auto run = run_tool("emc-run", q(km) + " --input-raw " + q(in) + " --raw " + q(out));
    ASSERT_EQ(run.status, 0) << run.text;
    const std::vector<float> got = read_f32(out);
    const std::vector<float> want = c.at("output").get<std::vector<float>>();
    ASSERT_EQ(got.size(), want.size());
    double max_dp = 0;
    for (std::size_t k = 0; k < got.size(); ++k)
      max_dp = std::max(max_dp, std::fabs(double(got[k]) - want[k]));
    // Before the default followed the model, every pixel was taken as p/255 and then divided by
    // 255 again by the Rescaling: outputs off by up to 0.12, top-1 wrong.
    EXPECT_LT(max_dp, 0.01) << target << " " << c.at("name");
    EXPECT_EQ(std::max_element(got.begin(), got.end()) - got.begin(),
              std::max_element(want.begin(), want.end()) - want.begin())
        << target << " " << c.at("name");
  }
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Targets, RescalingModel, testing::Values("k210", "cpu"));

TEST(InputRange, CalibrationTensorsNoPixelCanStandForAreAnErrorNamingTheFile) {
  // The same raw 0..255 tensors with --input-range 0,1: a pixel stands for 0..1 only.
  const fs::path dir = fresh_dir("mismatch"), km = dir / "m.kmodel";
  for (const char* target : {"k210", "cpu"}) {
    auto conv = run_tool("emc-convert", q(kSample + "/model.json") + " -p " + target +
                                            " --input-range 0,1 --dataset " +
                                            q(kSample + "/inputs") + " -o " + q(km));
    EXPECT_EQ(conv.status, 2) << conv.text;
    EXPECT_NE(conv.text.find("inputs/random_0.f32: calibration sample 0: value 48 at index 0 "
                             "(channel 0) is outside [0, 1]"),
              std::string::npos)
        << conv.text;
    EXPECT_NE(conv.text.find("--input-range 0,255"), std::string::npos) << conv.text;
    EXPECT_FALSE(fs::exists(km));
    EXPECT_FALSE(fs::exists(km.string() + ".map.json"));
  }
  fs::remove_all(dir);
}

TEST(InputRange, CompareRefusesAnInputF32TheKmodelCannotTake) {
  // A kmodel made for 0..1 inputs (calibrated on the tensors / 255), then compared on the raw
  // tensor: the kmodel could only see it clipped to 255.
  const fs::path dir = fresh_dir("compare"), km = dir / "m.kmodel", ds = dir / "ds";
  fs::create_directories(ds);
  for (const auto& e : fs::directory_iterator(kSample + "/inputs")) {
    std::vector<float> v = read_f32(e.path());
    for (float& x : v) x /= 255.0f;
    std::ofstream(ds / e.path().filename(), std::ios::binary)
        .write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * 4));
  }
  auto conv = run_tool("emc-convert", q(kSample + "/model.json") + " -p k210 --input-range 0,1" +
                                          " --dataset " + q(ds) + " -o " + q(km));
  ASSERT_EQ(conv.status, 0) << conv.text;
  auto ok = run_tool("emc-compare", q(kSample + "/model.json") + " " + q(km) + " --input-f32 " +
                                        q(ds / "random_0.f32"));
  EXPECT_EQ(ok.status, 0) << ok.text;
  auto bad = run_tool("emc-compare", q(kSample + "/model.json") + " " + q(km) + " --input-f32 " +
                                         q(kSample + "/inputs/random_0.f32"));
  EXPECT_NE(bad.status, 0) << bad.text;
  EXPECT_NE(bad.text.find("random_0.f32: value 48 at index 0 (channel 0) is outside [0, 1]"),
            std::string::npos)
      << bad.text;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace emc
