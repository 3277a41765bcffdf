// A real third-party kmodel that runs entirely on the CPU backend: nncase v0.1 iris
// (../shared/kmodels/nncase01_iris.kmodel, two FULLY_CONNECTED layers). Expected output is the
// published test vector of nncase examples/iris (Readme.md, main.c), see kmodels/SOURCES.md.
#include <cstring>
#include <filesystem>

#include "cpu_backend/cpu_test_util.h"
#include "emc/interpreter/interpreter.h"
#include "emc/interpreter/registry.h"

namespace emc::cpu_backend::testing {
namespace {

TEST(CpuModel, NncaseIrisReproducesThePublishedScores) {
  const std::string path = std::string(EMC_SHARED_DIR) + "/kmodels/nncase01_iris.kmodel";
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  interpreter::Registry registry;
  EMC_ASSERT_OK(register_cpu_backend(registry));
  auto interp = interpreter::Interpreter::load_file(path, registry);
  ASSERT_TRUE(interp.ok()) << interp.error().to_string();
  const float features[4] = {5.1f, 3.8f, 1.9f, 0.4f};
  std::vector<std::uint8_t> bytes(sizeof features);
  std::memcpy(bytes.data(), features, sizeof features);
  EMC_ASSERT_OK(interp.value()->set_input(0, bytes));
  EMC_ASSERT_OK(interp.value()->run());
  const std::vector<float> out = interp.value()->output(0);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_NEAR(out[0], 16.077795f, 1e-5f);
  EXPECT_NEAR(out[1], 5.607656f, 1e-5f);
  EXPECT_NEAR(out[2], -2.071745f, 1e-5f);
}

}  // namespace
}  // namespace emc::cpu_backend::testing
