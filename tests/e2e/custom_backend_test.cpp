// samples/custom_backend: the demo program registers its own SOFTMAX backend beside the built-ins
// and runs maixpy_mnist.kmodel (11 layers, the last a SOFTMAX: ../shared/kmodels/SOURCES.md).
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "run_command.h"

namespace {

namespace fs = std::filesystem;

using Output = emc::test::CommandOutput;
using emc::test::run_command;

std::string demo() {
  return (fs::path(EMC_TOOLS_DIR) / "custom_backend_demo").string();
}

TEST(CustomBackend, SoftmaxGoesToTheCustomBackendOnMnist) {
  ASSERT_TRUE(fs::exists(demo())) << demo() << " not built";
  const std::string model = (fs::path(EMC_SHARED_DIR) / "kmodels" / "maixpy_mnist.kmodel").string();
  const Output out = run_command("'" + demo() + "' '" + model + "' --runs 3");
  ASSERT_EQ(out.status, 0) << out.text;
  EXPECT_THAT(out.text, ::testing::HasSubstr("backends: counting-softmax, kpu-sim, cpu"));
  EXPECT_THAT(out.text, ::testing::ContainsRegex("layer 10 SOFTMAX +-> counting-softmax"));
  EXPECT_THAT(out.text, ::testing::ContainsRegex("layer  0 K210_CONV +-> kpu-sim"));
  EXPECT_THAT(out.text, ::testing::ContainsRegex("layer  4 FULLY_CONNECTED +-> cpu"));
  EXPECT_THAT(out.text, ::testing::HasSubstr("counting-softmax calls: 3"));
  // Softmax outputs sum to 1 and agree with the built-in SDK-style softmax to float rounding.
  EXPECT_THAT(out.text, ::testing::HasSubstr("output 0: 10 values, sum 1.000000"));
  const std::string key = "max |diff| vs built-in cpu softmax ";
  const auto at = out.text.find(key);
  ASSERT_NE(at, std::string::npos) << out.text;
  EXPECT_LT(std::stod(out.text.substr(at + key.size())), 1e-6);
}

TEST(CustomBackend, MissingModelIsAnErrorWithNonZeroExit) {
  const Output out = run_command("'" + demo() + "' /nonexistent/model.kmodel");
  EXPECT_NE(out.status, 0);
  EXPECT_THAT(out.text, ::testing::HasSubstr("/nonexistent/model.kmodel"));
}

}  // namespace
