// Ground truth on a real labelled dataset: samples/models/fashion_cnn (trained on Fashion-MNIST's
// training split) converted with the default flags for -p k210 and -p cpu, calibrated on the
// committed 500 TRAINING images (calib/), evaluated with emc-compare --dataset on the committed
// first 300 TEST images (test_subset/, ImageFolder layout). The two splits never overlap.
//
// Independent expectations: reference.json holds TF.js's top-1 for each of the 300 PNGs
// (samples/tfjs/steps/fashion_cnn.js), so the float column must reproduce TF.js image by image.
// The kmodel must keep the float model's accuracy: within 2 images of 300 (0.67 points; measured
// +1 image on k210). The full 10,000-image run is scripts/accuracy.sh (docs/accuracy.md).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "run_command.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kModel = std::string(EMC_SOURCE_DIR) + "/samples/models/fashion_cnn";

json read_json(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str(), nullptr, false);
}

class FashionAccuracy : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    tmp_ = fs::temp_directory_path() /
           ("emc_fashion_" + GetParam() + "_" + std::to_string(::getpid()));
    fs::create_directories(tmp_);
  }
  void TearDown() override {
    std::error_code ec;
    if (!HasFailure()) fs::remove_all(tmp_, ec);
  }
  fs::path tmp_;
};

TEST_P(FashionAccuracy, KmodelKeepsTheFloatAccuracyOnTestImages) {
  const json ref = read_json(kModel + "/reference.json");
  ASSERT_FALSE(ref.is_discarded()) << "missing " << kModel << "/reference.json";
  const json& subset = ref["test_subset"];
  ASSERT_EQ(subset["count"].get<int>(), 300);

  // Calibration and test images come from different splits.
  std::size_t calib = 0;
  for (const auto& e : fs::directory_iterator(kModel + "/calib")) {
    EXPECT_EQ(e.path().filename().string().rfind("train_", 0), 0u) << e.path();
    ++calib;
  }
  EXPECT_EQ(calib, 500u);

  const std::string kmodel = (tmp_ / "fashion.kmodel").string();
  const auto conv = emc::test::run_tool(
      "emc-convert", "'" + kModel + "/model.json' -p " + GetParam() +
                         " --input-range 0,1 --dataset '" + kModel + "/calib' -o '" + kmodel + "'");
  ASSERT_EQ(conv.status, 0) << conv.text;
  const auto cmp = emc::test::run_tool(
      "emc-compare",
      "'" + kModel + "/model.json' '" + kmodel + "' --json --dataset '" + kModel + "/test_subset'",
      /*stderr_too=*/false);
  ASSERT_EQ(cmp.status, 0);
  const json j = json::parse(cmp.text, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << cmp.text.substr(0, 400);

  // The float model is TF.js, image by image.
  std::map<std::string, std::pair<int, int>> tfjs;  // file name -> (label, TF.js top-1)
  for (const auto& im : subset["images"]) {
    tfjs[fs::path(im["file"].get<std::string>()).filename().string()] = {
        im["label"].get<int>(), im["tfjs_top1"].get<int>()};
  }
  ASSERT_EQ(j["images"].size(), 300u);
  for (const auto& im : j["images"]) {
    const std::string file = fs::path(im["name"].get<std::string>()).filename().string();
    ASSERT_TRUE(tfjs.count(file)) << file;
    EXPECT_EQ(im["label_index"].get<int>(), tfjs[file].first) << file;
    EXPECT_EQ(im["float_top"][0]["index"].get<int>(), tfjs[file].second) << file;
  }
  const json& s = j["summary"];
  EXPECT_EQ(s["labelled"].get<int>(), 300);
  EXPECT_EQ(s["float_top1_correct"].get<int>(), subset["correct_tfjs"].get<int>());
  const int diff = s["quant_top1_correct"].get<int>() - s["float_top1_correct"].get<int>();
  EXPECT_LE(std::abs(diff), 2) << "kmodel " << s["quant_top1_correct"] << " vs float "
                               << s["float_top1_correct"] << " of 300";
  EXPECT_GE(s["top1_agree"].get<int>(), 294);  // >= 98 % top-1 agreement
}

INSTANTIATE_TEST_SUITE_P(Targets, FashionAccuracy, ::testing::Values("k210", "cpu"));

}  // namespace
