// emc-compare --dataset on a constructed dataset whose answers are known by hand.
//
// The model (written here as a TF.js layers model.json): input [4, 4, 3] (the KPU's smallest map)
// (x = pixel / 255) -> Conv2D 1x1 with the identity kernel -> GlobalAveragePooling2D -> Dense(3)
// with kernel 4·I and softmax. For an image of one colour (r, g, b) the output is softmax(4·(r, g,
// b) / 255), so the top-1 is the largest channel and the ranking follows the channels. Every image
// below has margins of >= 60/255·4 ≈ 0.94 between its logits, far above 8-bit rounding, so the
// kmodel ranks the classes as the float model does: both accuracies are the hand-counted ones and
// their difference is 0.
//
// Dataset (ImageFolder layout, labels.txt = red, green, blue):
//   red/   (255, 0, 0)  (200, 60, 0)  (40, 230, 0)   <- the last one is green: top-1 wrong,
//                                                       but red is its 2nd: top-2 right
//   green/ (0, 255, 0)  (60, 0, 250)                 <- blue, then red, then green: both wrong
//   blue/  (0, 0, 255)
// top-1: 4 of 6 right; top-2: 5 of 6 right.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "run_command.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

void write_ppm(const fs::path& path, int r, int g, int b) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << "P6\n4 4\n255\n";
  for (int i = 0; i < 16; ++i) out << char(r) << char(g) << char(b);
}

json layer(const std::string& cls, const std::string& name, json config, const std::string& in) {
  config["name"] = name;
  json l = {{"name", name}, {"class_name", cls}, {"config", config}};
  l["inbound_nodes"] = in.empty() ? json::array() : json::array({json::array({{in, 0, 0, {}}})});
  return l;
}

// The hand-made model described above; returns the model.json path.
std::string write_model(const fs::path& dir) {
  fs::create_directories(dir);
  json layers = json::array();
  layers.push_back(layer("InputLayer", "input",
                         {{"batch_input_shape", {nullptr, 4, 4, 3}}, {"dtype", "float32"}}, ""));
  layers.push_back(layer("Conv2D", "conv",
                         {{"filters", 3},
                          {"kernel_size", {1, 1}},
                          {"strides", {1, 1}},
                          {"padding", "valid"},
                          {"data_format", "channels_last"},
                          {"dilation_rate", {1, 1}},
                          {"activation", "linear"},
                          {"use_bias", false}},
                         "input"));
  layers.push_back(
      layer("GlobalAveragePooling2D", "gap", {{"data_format", "channels_last"}}, "conv"));
  layers.push_back(layer("Dense", "dense",
                         {{"units", 3}, {"activation", "softmax"}, {"use_bias", false}}, "gap"));
  json topology = {{"class_name", "Model"},
                   {"config",
                    {{"name", "colours"},
                     {"layers", layers},
                     {"input_layers", {{"input", 0, 0}}},
                     {"output_layers", {{"dense", 0, 0}}}}}};
  json weights = {{"paths", {"weights.bin"}},
                  {"weights",
                   {{{"name", "conv/kernel"}, {"shape", {1, 1, 3, 3}}, {"dtype", "float32"}},
                    {{"name", "dense/kernel"}, {"shape", {3, 3}}, {"dtype", "float32"}}}}};
  json model = {
      {"format", "layers-model"}, {"modelTopology", topology}, {"weightsManifest", {weights}}};
  std::ofstream(dir / "model.json") << model.dump(1);
  std::vector<float> w;
  for (int i = 0; i < 3; ++i)
    for (int o = 0; o < 3; ++o) w.push_back(i == o ? 1.0f : 0.0f);  // conv: HWIO identity
  for (int i = 0; i < 3; ++i)
    for (int o = 0; o < 3; ++o) w.push_back(i == o ? 4.0f : 0.0f);  // dense: [in, out] 4·I
  std::ofstream(dir / "weights.bin", std::ios::binary)
      .write(reinterpret_cast<const char*>(w.data()), std::streamsize(w.size() * 4));
  std::ofstream(dir / "labels.txt") << "red\ngreen\nblue\n";
  return (dir / "model.json").string();
}

class CompareDataset : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = fs::temp_directory_path() / ("emc_compare_dataset_" + std::to_string(::getpid()));
    fs::remove_all(tmp_);
    model_ = write_model(tmp_ / "model");
    // Calibration images: other colours than the test images (never the same files).
    write_ppm(tmp_ / "calib" / "a.ppm", 250, 10, 10);
    write_ppm(tmp_ / "calib" / "b.ppm", 10, 250, 10);
    write_ppm(tmp_ / "calib" / "c.ppm", 10, 10, 250);
    write_ppm(tmp_ / "calib" / "d.ppm", 128, 128, 128);
    kmodel_ = (tmp_ / "colours.kmodel").string();
    const auto conv = emc::test::run_tool("emc-convert",
                                          "'" + model_ + "' -p k210 --input-range 0,1 --dataset '" +
                                              (tmp_ / "calib").string() + "' -o '" + kmodel_ + "'");
    ASSERT_EQ(conv.status, 0) << conv.text;

    ds_ = tmp_ / "ds";
    write_ppm(ds_ / "red" / "1.ppm", 255, 0, 0);
    write_ppm(ds_ / "red" / "2.ppm", 200, 60, 0);
    write_ppm(ds_ / "red" / "3.ppm", 40, 230, 0);
    write_ppm(ds_ / "green" / "1.ppm", 0, 255, 0);
    write_ppm(ds_ / "green" / "2.ppm", 60, 0, 250);
    write_ppm(ds_ / "blue" / "1.ppm", 0, 0, 255);
  }
  void TearDown() override {
    std::error_code ec;
    if (!HasFailure()) fs::remove_all(tmp_, ec);
  }
  json compare_json(const std::string& extra) {
    const auto r = emc::test::run_tool("emc-compare",
                                       "'" + model_ + "' '" + kmodel_ + "' --top 2 --json " + extra,
                                       /*stderr_too=*/false);
    EXPECT_EQ(r.status, 0) << r.text;
    return json::parse(r.text, nullptr, false);
  }

  fs::path tmp_, ds_;
  std::string model_, kmodel_;
};

TEST_F(CompareDataset, AccuracyOfBothModelsIsTheHandCountedOne) {
  const json j = compare_json("--dataset '" + ds_.string() + "'");
  ASSERT_FALSE(j.is_discarded());
  const json& s = j["summary"];
  EXPECT_EQ(s["images"].get<int>(), 6);
  EXPECT_EQ(s["labelled"].get<int>(), 6);
  EXPECT_EQ(s["float_top1_correct"].get<int>(), 4);
  EXPECT_EQ(s["quant_top1_correct"].get<int>(), 4);
  EXPECT_EQ(s["float_top_k_correct"].get<int>(), 5);
  EXPECT_EQ(s["quant_top_k_correct"].get<int>(), 5);
  EXPECT_NEAR(s["float_top1_accuracy"].get<double>(), 4.0 / 6.0, 1e-12);
  EXPECT_NEAR(s["quant_top_k_accuracy"].get<double>(), 5.0 / 6.0, 1e-12);
  EXPECT_EQ(s["top1_accuracy_difference"].get<double>(), 0.0);
  EXPECT_EQ(s["top1_agree"].get<int>(), 6);
  // The float probabilities are softmax(4·rgb/255): red/1 is softmax(4, 0, 0).
  const double e4 = std::exp(4.0);
  bool found = false;
  for (const auto& img : j["images"]) {
    if (img["name"].get<std::string>().find("red/1.ppm") == std::string::npos) continue;
    found = true;
    EXPECT_EQ(img["label_index"].get<int>(), 0);
    EXPECT_EQ(img["label"].get<std::string>(), "red");
    EXPECT_NEAR(img["float_top"][0]["float"].get<double>(), e4 / (e4 + 2), 1e-5);
  }
  EXPECT_TRUE(found);
}

TEST_F(CompareDataset, ParallelRunReportsWhatTheSequentialOneDoes) {
  const json a = compare_json("-j 1 --dataset '" + ds_.string() + "'");
  const json b = compare_json("-j 4 --dataset '" + ds_.string() + "'");
  ASSERT_FALSE(a.is_discarded());
  ASSERT_FALSE(b.is_discarded());
  EXPECT_EQ(a["summary"], b["summary"]);
  ASSERT_EQ(a["images"].size(), b["images"].size());
  for (std::size_t i = 0; i < a["images"].size(); ++i)
    EXPECT_EQ(a["images"][i]["name"], b["images"][i]["name"]) << "input order kept";
}

TEST_F(CompareDataset, TextAndHtmlReportsShowAccuracyAndDifference) {
  const auto html = (tmp_ / "r.html").string();
  const auto r = emc::test::run_tool("emc-compare", "'" + model_ + "' '" + kmodel_ +
                                                        "' --top 2 -q --dataset '" + ds_.string() +
                                                        "' --report '" + html + "'");
  ASSERT_EQ(r.status, 0) << r.text;
  EXPECT_NE(r.text.find("top-1 accuracy        float  66.67 %   quantized  66.67 %   difference "
                        "+0.00 points  (4 vs 4 of 6)"),
            std::string::npos)
      << r.text;
  EXPECT_NE(r.text.find("top-2 accuracy"), std::string::npos) << r.text;
  std::ifstream in(html);
  const std::string page((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(page.find("66.67 % / 66.67 % (<span class=\"pos\">+0.00 points</span>, 6 labelled)"),
            std::string::npos);
  EXPECT_NE(page.find("83.33 % / 83.33 %"), std::string::npos);
}

TEST_F(CompareDataset, ClassMapMapsFolderNamesToOutputs) {
  // Folder names that are not labels: the class map says which output each one is.
  const fs::path ds2 = tmp_ / "ds2";
  write_ppm(ds2 / "n02_blue" / "1.ppm", 0, 0, 255);
  write_ppm(ds2 / "n00_red" / "1.ppm", 255, 0, 0);
  write_ppm(ds2 / "n01_green" / "1.ppm", 0, 0, 255);  // a blue image filed as green: wrong
  std::ofstream(tmp_ / "map.txt") << "# folder index\nn00_red 0\nn01_green,1\nn02_blue\t2\n";
  std::ofstream(tmp_ / "map.json") << R"({"n00_red": 0, "n01_green": 1, "n02_blue": 2})";
  for (const char* map : {"map.txt", "map.json"}) {
    const json j = compare_json("--dataset '" + ds2.string() + "' --class-map '" +
                                (tmp_ / map).string() + "'");
    ASSERT_FALSE(j.is_discarded()) << map;
    EXPECT_EQ(j["summary"]["float_top1_correct"].get<int>(), 2) << map;
    EXPECT_EQ(j["summary"]["quant_top1_correct"].get<int>(), 2) << map;
  }
  // Without the map the names are neither labels nor numbers: sorted position, with a warning
  // (that happens to match here).
  const json j = compare_json("--dataset '" + ds2.string() + "'");
  ASSERT_FALSE(j.is_discarded());
  EXPECT_NE(j["warnings"].dump().find("sorted position"), std::string::npos);

  // A folder missing from the map, and an index past the outputs, are errors.
  std::ofstream(tmp_ / "short.txt") << "n00_red 0\nn01_green 1\n";
  auto r = emc::test::run_tool("emc-compare", "'" + model_ + "' '" + kmodel_ + "' --dataset '" +
                                                  ds2.string() + "' --class-map '" +
                                                  (tmp_ / "short.txt").string() + "'");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.text.find("'n02_blue' is not in the class map"), std::string::npos) << r.text;
  std::ofstream(tmp_ / "past.txt") << "n00_red 0\nn01_green 1\nn02_blue 3\n";
  r = emc::test::run_tool("emc-compare", "'" + model_ + "' '" + kmodel_ + "' --dataset '" +
                                             ds2.string() + "' --class-map '" +
                                             (tmp_ / "past.txt").string() + "'");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.text.find("past the model's 3 outputs"), std::string::npos) << r.text;
}

TEST_F(CompareDataset, FlatFolderHasNoAccuracy) {
  const fs::path flat = tmp_ / "flat";
  write_ppm(flat / "a.ppm", 255, 0, 0);
  write_ppm(flat / "b.ppm", 0, 0, 255);
  const json j = compare_json("--dataset '" + flat.string() + "'");
  ASSERT_FALSE(j.is_discarded());
  EXPECT_EQ(j["summary"]["images"].get<int>(), 2);
  EXPECT_EQ(j["summary"]["top1_agree"].get<int>(), 2);
  EXPECT_FALSE(j["summary"].contains("labelled"));
  EXPECT_FALSE(j["summary"].contains("float_top1_accuracy"));
}

}  // namespace
