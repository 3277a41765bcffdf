// emc-convert and emc-compare on Keras .h5 / .keras files (tests/data/keras, written from the
// shapes_cnn TF.js sample by tests/data/keras/make_keras_fixtures.py): the kmodel equals, byte
// for byte, the one converted from the sample's model.json (also behind an equivalent leading
// Normalization); malformed files exit with code 4 and leave no output behind.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "run_command.h"

namespace emc {
namespace {

namespace fs = std::filesystem;
using test::run_tool;

std::string src(const std::string& rel) {
  return std::string(EMC_SOURCE_DIR) + "/" + rel;
}

std::vector<char> bytes_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class KerasConvertTool : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("emc_keras_e2e_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // emc-convert `model` for `target` (with `options`), calibrated on shapes_cnn's images.
  test::CommandOutput convert(const std::string& model, const fs::path& out,
                              const std::string& target = "k210", const std::string& options = "") {
    return run_tool("emc-convert", "'" + model + "' -p " + target + options + " --dataset '" +
                                       src("samples/models/shapes_cnn/calib") + "' -o '" +
                                       out.string() + "'");
  }
  // For `target`: the shapes_cnn sample converted with `sample_options` and the fixture
  // tests/data/keras/`fixture` (a model computing the same), each into its own kmodel.
  struct Pair {
    fs::path sample, fixture;
    test::CommandOutput sample_run, fixture_run;
  };
  Pair convert_pair(const std::string& target, const std::string& sample_options,
                    const std::string& fixture) {
    Pair p{dir_ / (target + "_sample.kmodel"), dir_ / (target + "_" + fixture + ".kmodel"), {}, {}};
    p.sample_run =
        convert(src("samples/models/shapes_cnn/model.json"), p.sample, target, sample_options);
    p.fixture_run = convert(src("tests/data/keras/") + fixture, p.fixture, target);
    return p;
  }
  fs::path dir_;
};

TEST_F(KerasConvertTool, H5AndKerasGiveTheModelJsonKmodel) {
  const fs::path ref = dir_ / "json.kmodel";
  auto r = convert(src("samples/models/shapes_cnn/model.json"), ref);
  ASSERT_EQ(r.status, 0) << r.text;
  for (const char* f : {"shapes_cnn_k2.h5", "shapes_cnn_deep_btree_k2.h5", "shapes_cnn_k3.keras",
                        "shapes_cnn_k213.keras"}) {
    SCOPED_TRACE(f);
    const fs::path out = dir_ / (std::string(f) + ".kmodel");
    auto c = convert(src("tests/data/keras/") + f, out);
    ASSERT_EQ(c.status, 0) << c.text;
    EXPECT_TRUE(fs::exists(out.string() + ".map.json"));
    EXPECT_EQ(bytes_of(out), bytes_of(ref)) << "kmodel differs from the model.json conversion";
  }
}

TEST_F(KerasConvertTool, MalformedFilesExitWith4AndWriteNothing) {
  for (const char* f : {"bad_wrong_shape.h5",
                        "bad_truncated.h5",
                        "bad_not_hdf5.h5",
                        "weights_only.h5",
                        "bad_zip_bomb.keras",
                        "bad_dotdot.keras",
                        "bad_member_names.keras",
                        "bad_truncated.keras",
                        "fuzz_attr_overflow.h5",
                        "fuzz_hang_global_heap.h5",
                        "fuzz_huge_header_chunk.h5",
                        "fuzz_heap_object_overflow.h5",
                        "fuzz_huge_driver_info.h5",
                        "bad_vlen_length.h5",
                        "bad_superblock_extension.h5",
                        "bad_float_bits.h5",
                        "fuzz_compact_without_data.h5",
                        "fuzz_local_heap_free_list_loop.h5",
                        "fuzz_btree_undefined_address.h5",
                        "bad_btree_sibling_loop.h5",
                        "bad_symbol_node_overfull.h5"}) {
    SCOPED_TRACE(f);
    const std::string model = src("tests/data/keras/") + f;
    const fs::path out = dir_ / (std::string(f) + ".kmodel");
    auto c = convert(model, out);
    EXPECT_EQ(c.status, 4) << c.text;
    EXPECT_NE(c.text.find(model), std::string::npos) << c.text;
    EXPECT_FALSE(fs::exists(out));
    EXPECT_FALSE(fs::exists(out.string() + ".map.json"));
  }
}

// shapes_cnn_norm_k2.h5 is the shapes_cnn sample behind a Keras Normalization with the statistics
// of raw pixels, mean 0 and variance 255^2: on raw pixels it computes what the sample computes
// on p / 255 (make_keras_fixtures.py). emc-convert must take raw pixels (and say why) and fold
// the Normalization into the input mapping, so the kmodel is byte for byte the sample's.
TEST_F(KerasConvertTool, LeadingNormalizationFoldsIntoTheInputMapping) {
  for (const std::string target : {"k210", "cpu"}) {
    SCOPED_TRACE(target);
    const Pair p = convert_pair(target, "", "shapes_cnn_norm_k2.h5");
    ASSERT_EQ(p.sample_run.status, 0) << p.sample_run.text;
    ASSERT_EQ(p.fixture_run.status, 0) << p.fixture_run.text;
    EXPECT_NE(p.fixture_run.text.find("input range 0,255 (raw pixels): the model's first layer "
                                      "'normalization' is a Normalization"),
              std::string::npos)
        << p.fixture_run.text;
    EXPECT_EQ(bytes_of(p.fixture), bytes_of(p.sample)) << "kmodel differs from the sample's";
  }
}

// shapes_cnn_norm_rgb_k2.h5: the sample behind a Normalization with per-channel statistics
// (mean [123, 116, 104], variance [58^2, 57^2, 56^2]) computes what the sample computes on
// (p - mean_c) / std_c, i.e. with --input-range mean=123,116,104:std=58,57,56: the same kmodel.
// No pixel maps to 0.0 in every channel (the nearest, round(343 / 3) = 114, reads
// |114 - 104| / 56 = 0.18 in the blue channel), so folding the normalization into the first 3x3
// conv would pad its border with that: the normalization is a layer of its own instead, and the
// conv pads its map's exact 0.0. Against the float model (emc-compare on the sample's 24 images)
// the first conv keeps over 30 dB (35 measured; 22.8 dB with the folded border), with no warning.
TEST_F(KerasConvertTool, PerChannelNormalizationEqualsThePerChannelInputRange) {
  for (const std::string target : {"k210", "cpu"}) {
    SCOPED_TRACE(target);
    const Pair p = convert_pair(target, " --input-range mean=123,116,104:std=58,57,56",
                                "shapes_cnn_norm_rgb_k2.h5");
    for (const test::CommandOutput* run : {&p.sample_run, &p.fixture_run}) {
      ASSERT_EQ(run->status, 0) << run->text;
      EXPECT_EQ(run->text.find("zero padding reads pixel"), std::string::npos) << run->text;
    }
    EXPECT_EQ(bytes_of(p.fixture), bytes_of(p.sample))
        << "kmodel differs from the --input-range one";
    auto c = run_tool("emc-compare",
                      "'" + src("tests/data/keras/shapes_cnn_norm_rgb_k2.h5") + "' '" +
                          p.fixture.string() + "' --dataset '" +
                          src("samples/models/shapes_cnn/images") + "' --layers --json",
                      /*stderr_too=*/false);
    ASSERT_EQ(c.status, 0) << c.text;
    const auto j = nlohmann::json::parse(c.text);
    bool seen = false;
    for (const auto& l : j.at("layers")) {
      const auto& src_layers = l.at("source_layers");
      if (src_layers.empty() || src_layers.front() != "conv1" || !l.at("compared")) continue;
      seen = true;
      EXPECT_GT(l.at("sqnr_db").get<double>(), 30.0) << l.dump();
    }
    EXPECT_TRUE(seen) << "no compared layer of conv1";
  }
}

// shapes_cnn_rescale_norm_k2.h5: the sample behind Rescaling(1/255) then Normalization(mean 0.5,
// variance 0.25), i.e. fed p / 127.5 - 1, what --input-range -1,1 feeds it. Both leading layers
// fold into the input mapping (before, k210 refused the model: its first layer would have been
// QUANTIZE; cpu took float input that its first conv could not read as a map). The composed map
// differs from the -1,1 one by double rounding only, so the kmodels may differ in a few weight
// bits: their outputs on an image must agree to 0.01.
TEST_F(KerasConvertTool, RescalingThenNormalizationFoldTogether) {
  for (const std::string target : {"k210", "cpu"}) {
    SCOPED_TRACE(target);
    const Pair p = convert_pair(target, " --input-range -1,1", "shapes_cnn_rescale_norm_k2.h5");
    ASSERT_EQ(p.sample_run.status, 0) << p.sample_run.text;
    ASSERT_EQ(p.fixture_run.status, 0) << p.fixture_run.text;
    std::vector<std::vector<float>> outputs;
    for (const fs::path& km : {p.sample, p.fixture}) {
      const fs::path raw = km.string() + ".out";
      auto run = run_tool("emc-run", "'" + km.string() + "' -i '" +
                                         src("samples/models/shapes_cnn/images/star_1.png") +
                                         "' --raw '" + raw.string() + "'");
      ASSERT_EQ(run.status, 0) << run.text;
      const std::vector<char> b = bytes_of(raw);
      std::vector<float> v(b.size() / 4);
      std::memcpy(v.data(), b.data(), v.size() * 4);
      outputs.push_back(v);
    }
    ASSERT_EQ(outputs[0].size(), 8u);  // the eight shape classes
    ASSERT_EQ(outputs[1].size(), 8u);
    for (std::size_t i = 0; i < 8; ++i) EXPECT_NEAR(outputs[1][i], outputs[0][i], 0.01) << i;
  }
}

TEST_F(KerasConvertTool, CompareTakesTheKerasFile) {
  const fs::path km = dir_ / "k3.kmodel";
  const std::string model = src("tests/data/keras/shapes_cnn_k3.keras");
  ASSERT_EQ(convert(model, km).status, 0);
  auto c = run_tool("emc-compare", "'" + model + "' '" + km.string() + "' --image '" +
                                       src("samples/models/shapes_cnn/images/star_1.png") +
                                       "' --labels '" +
                                       src("samples/models/shapes_cnn/labels.txt") + "'");
  EXPECT_EQ(c.status, 0) << c.text;
  EXPECT_NE(c.text.find("star"), std::string::npos) << c.text;
}

// aXeleRate's YOLOv2 (MobileNet, ../shared/models_h5/axelerate_yolov2_mbnet, a real Keras 2.3
// file made for the K210) was refused on both targets: its final Reshape [7, 7, 30] ->
// [7, 7, 5, 6], and on k210 also conv1, whose two dead channels (weights ~1e-13) had no
// batch-norm multiplier. The kmodel now outputs the detection conv's map as CHW planes and the
// map says so (map_shape); the framework's own description (YOLO_best_mAP.json) gives the
// output [1, 6, 7, 7, 5] of 1470 values. Calibrated on two photos, compared on two others: the
// output keeps 25 dB of the float model's (33-35 dB measured), emc-compare reads it in the float
// model's order, and on k210 every layer runs on the KPU.
class AxelerateYolo : public KerasConvertTool, public ::testing::WithParamInterface<const char*> {};

TEST_P(AxelerateYolo, HeadReshapeAndDeadChannelsConvert) {
  const std::string target = GetParam();
  const std::string model =
      std::string(EMC_SHARED_DIR) + "/models_h5/axelerate_yolov2_mbnet/model.h5";
  ASSERT_TRUE(fs::exists(model)) << model;
  const fs::path calib = dir_ / "calib", km = dir_ / (target + ".kmodel");
  fs::create_directories(calib);
  for (const char* f : {"chelsea_224.png", "coffee_224.png"})
    fs::copy_file(src("samples/images/") + f, calib / f, fs::copy_options::overwrite_existing);
  auto c = run_tool("emc-convert", "'" + model + "' -p " + target + " --dataset '" +
                                       calib.string() + "' -o '" + km.string() + "'");
  ASSERT_EQ(c.status, 0) << c.text;
  EXPECT_NE(c.text.find("output 'reshape_1' [7, 7, 5, 6] holds the CHW planes of the map [7, 7, "
                        "30]"),
            std::string::npos)
      << c.text;
  EXPECT_EQ(c.text.find("fewer samples than output classes"), std::string::npos) << c.text;
  std::ifstream mf(km.string() + ".map.json");
  const auto map = nlohmann::json::parse(mf);
  const auto& last = map.at("layers").back();
  EXPECT_EQ(last.at("tensor"), "reshape_1");
  EXPECT_EQ(last.at("map_shape"), (nlohmann::json{7, 7, 30}));
  EXPECT_EQ(map.at("outputs").at(0).at("size"), 1470 * 4);
  auto r = run_tool("emc-compare",
                    "'" + model + "' '" + km.string() + "' --json --layers --image '" +
                        src("samples/images/astronaut_224.png") + "' --image '" +
                        src("samples/images/rocket_224.png") + "'",
                    /*stderr_too=*/false);
  ASSERT_EQ(r.status, 0) << r.text;
  const auto j = nlohmann::json::parse(r.text);
  double out_sqnr = -1, out_max = -1;
  int kpu = 0;
  for (const auto& l : j.at("layers")) {
    if (l.at("type") == "K210_CONV") ++kpu;
    if (l.at("compared").get<bool>() && l.at("float_tensor") == "reshape_1")
      out_sqnr = l.at("sqnr_db").get<double>(), out_max = l.at("max_abs_error").get<double>();
  }
  if (target == "k210") {
    EXPECT_EQ(kpu, 28);  // 14 convs + 13 depthwise + the detection conv
  }
  EXPECT_GE(out_sqnr, 25.0) << j.at("layers").dump();
  for (const auto& img : j.at("images"))
    EXPECT_LE(img.at("max_abs_dp").get<double>(), out_max + 1e-6) << img.dump();
}

INSTANTIATE_TEST_SUITE_P(Targets, AxelerateYolo, ::testing::Values("k210", "cpu"));

}  // namespace
}  // namespace emc
