// samples/custom_backend: the demo program registers its own SOFTMAX backend beside the built-ins
// and runs maixpy_mnist.kmodel (11 layers, the last a SOFTMAX: ../shared/kmodels/SOURCES.md).
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <regex>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace {

namespace fs = std::filesystem;

struct Output {
  int status = -1;
  std::string text;
};

Output run_command(const std::string& cmd) {
  Output out;
  FILE* pipe = popen((cmd + " 2>&1").c_str(), "r");
  if (!pipe) return out;
  char buf[4096];
  std::size_t n = 0;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.text.append(buf, n);
  const int rc = pclose(pipe);
  out.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

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
  std::smatch m;
  const std::regex diff("max \\|diff\\| vs built-in cpu softmax ([0-9.e+-]+)");
  ASSERT_TRUE(std::regex_search(out.text, m, diff)) << out.text;
  EXPECT_LT(std::stod(m[1].str()), 1e-6);
}

TEST(CustomBackend, MissingModelIsAnErrorWithNonZeroExit) {
  const Output out = run_command("'" + demo() + "' /nonexistent/model.kmodel");
  EXPECT_NE(out.status, 0);
  EXPECT_THAT(out.text, ::testing::HasSubstr("/nonexistent/model.kmodel"));
}

}  // namespace
