// emc-run end to end on real files (../shared/kmodels; expected values from SOURCES.md there).
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "run_command.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

using Output = emc::test::CommandOutput;

Output run_command(const std::string& args) {
  return emc::test::run_tool("emc-run", args);
}

std::string shared(const std::string& name) {
  return "'" + (fs::path(EMC_SHARED_DIR) / "kmodels" / name).string() + "'";
}

fs::path temp_dir(const std::string& name) {
  fs::path p =
      fs::temp_directory_path() / ("emc_run_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

TEST(EmcRun, IrisFeaturesRawOutput) {
  const fs::path dir = temp_dir("iris");
  const fs::path raw = dir / "out.f32";
  const Output out = run_command(shared("nncase01_iris.kmodel") +
                                 " --features 5.1,3.8,1.9,0.4 --raw '" + raw.string() + "'");
  ASSERT_EQ(out.status, 0) << out.text;
  EXPECT_THAT(out.text, HasSubstr("output 0: 3 values"));
  std::ifstream f(raw, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ASSERT_EQ(bytes.size(), 12u);
  float v[3];
  std::memcpy(v, bytes.data(), 12);
  EXPECT_NEAR(v[0], 16.077795f, 1e-5);
  EXPECT_NEAR(v[1], 5.607656f, 1e-5);
  EXPECT_NEAR(v[2], -2.071745f, 1e-5);
  fs::remove_all(dir);
}

TEST(EmcRun, MobilenetTigerTop1WithLabelsAndProfile) {
  const Output out = run_command(shared("maixemc_mbnetv1_a075.kmodel") + " --input " +
                                 shared("maixemc_mbnetv1_test_tiger224.bmp") + " --labels " +
                                 shared("maixemc_mbnetv1_labels.txt") + " --top 2 --profile");
  ASSERT_EQ(out.status, 0) << out.text;
  EXPECT_THAT(out.text,
              ::testing::ContainsRegex("1\\. \\[[0-9]+\\] 0\\.9[0-9]+  tiger, Panthera tigris"));
  EXPECT_THAT(out.text, ::testing::ContainsRegex("2\\. \\[[0-9]+\\] 0\\.0[0-9]+  tiger cat"));
  EXPECT_THAT(out.text, HasSubstr("K210 cycles"));
  EXPECT_THAT(out.text, ::testing::ContainsRegex(" 0  K210_CONV +kpu-sim"));
  EXPECT_THAT(out.text, HasSubstr("\ntotal"));
}

TEST(EmcRun, DumpLayersWritesOneFilePerLayer) {
  const fs::path dir = temp_dir("dump");
  const Output out = run_command(shared("maixpy_mnist.kmodel") + " --input " +
                                 shared("maixemc_mbnetv1_test_tiger224.bmp") + " --dump-layers '" +
                                 dir.string() + "'");
  ASSERT_EQ(out.status, 0) << out.text;
  // A 224x224 RGB image for a 28x28 gray model: converted and resized, with a note.
  EXPECT_THAT(out.text, HasSubstr("image is 224x224, the model takes 28x28: resized"));
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  ASSERT_EQ(names.size(), 11u);
  EXPECT_EQ(names.front(), "layer_000_K210_CONV.bin");
  EXPECT_EQ(names.back(), "layer_010_SOFTMAX.bin");
  EXPECT_EQ(fs::file_size(dir / "layer_010_SOFTMAX.bin"), 40u);           // 10 float32
  EXPECT_EQ(fs::file_size(dir / "layer_004_FULLY_CONNECTED.bin"), 128u);  // 32 float32
  fs::remove_all(dir);
}

// --threads N (channel-parallel kpu-sim) gives every layer's bytes exactly as the cpu backend's
// K210 reference kernels do (an independent implementation of the same arithmetic).
TEST(EmcRun, ThreadsKeepEveryLayerEqualToTheCpuBackend) {
  const fs::path sim = temp_dir("threads_sim"), cpu = temp_dir("threads_cpu");
  const std::string model = shared("maixemc_mbnetv1_a075.kmodel") + " --input " +
                            shared("maixemc_mbnetv1_test_tiger224.bmp");
  Output out = run_command(model + " --threads 3 --dump-layers '" + sim.string() + "'");
  ASSERT_EQ(out.status, 0) << out.text;
  out = run_command(model + " --backend cpu --dump-layers '" + cpu.string() + "'");
  ASSERT_EQ(out.status, 0) << out.text;
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(cpu)) {
    auto read = [](const fs::path& p) {
      std::ifstream f(p, std::ios::binary);
      return std::vector<char>((std::istreambuf_iterator<char>(f)),
                               std::istreambuf_iterator<char>());
    };
    const fs::path other = sim / e.path().filename();
    ASSERT_TRUE(fs::exists(other)) << other;
    EXPECT_EQ(read(e.path()), read(other)) << e.path().filename();
    ++files;
  }
  EXPECT_GT(files, 30u);
  out = run_command(model + " --threads 0");
  EXPECT_NE(out.status, 0);
  fs::remove_all(sim);
  fs::remove_all(cpu);
}

TEST(EmcRun, Errors) {
  Output out = run_command("/nonexistent/model.kmodel --features 1");
  EXPECT_EQ(out.status, 3) << out.text;  // exit_code_for(kIo)
  EXPECT_THAT(out.text, HasSubstr("/nonexistent/model.kmodel"));

  out = run_command(shared("nncase01_iris.kmodel") + " --features 1,2");
  EXPECT_EQ(out.status, 2) << out.text;
  EXPECT_THAT(out.text, HasSubstr("--features has 2 values; the model takes 4"));

  out = run_command(shared("maixpy_mnist.kmodel") + " --input /nonexistent.png");
  EXPECT_NE(out.status, 0);
  EXPECT_THAT(out.text, HasSubstr("/nonexistent.png"));

  // (cpu runs every type, K210 ones included; kpu-sim runs only the K210 types.)
  out = run_command(shared("nncase01_iris.kmodel") +
                    " --features 1,2,3,4 --backend-override 0=kpu-sim");
  EXPECT_EQ(out.status, 2) << out.text;
  EXPECT_THAT(out.text, HasSubstr("layer 0 (FULLY_CONNECTED): dispatch override names backend "
                                  "'kpu-sim', which does not support it"));

  out = run_command("--no-such-flag");
  EXPECT_EQ(out.status, 2) << out.text;
}

}  // namespace
