// The float executor rounds where TF.js's CPU backend rounds. Expected values are worked out by
// hand from tfjs-backend-cpu 4.x's loops (Conv2D: `y[o] += x * w` on a Float32Array, i.e. the
// product exact in double and the sum rounded to float at every step, bias added afterwards;
// MatMul: 48-long blocks of k summed in a double, each block added to the float32 result, then
// the bias; BatchNorm: one double expression rounded once). Floats near 2^24 are spaced 2 apart,
// so ties (2^24 + odd) round to the neighbour with an even mantissa, as IEEE round-to-even says.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>

#include "model_builder.h"

namespace emc::converter {
namespace {

using testing::ModelBuilder;
using testing::run1;

constexpr float k2p24 = 16777216.0f;  // 2^24

std::vector<float> dense_out(const std::vector<float>& x, const std::vector<float>& w,
                             std::optional<float> bias) {
  ModelBuilder b;
  const int k = static_cast<int>(x.size());
  b.input("x", {k}).layer("Dense", "d", {{"units", 1}, {"use_bias", bias.has_value()}});
  b.weight("d/kernel", {k, 1}, w);
  if (bias) b.weight("d/bias", {1}, {*bias});
  auto g = b.graph();
  EXPECT_TRUE(g.ok()) << g.error().to_string();
  return g.ok() ? run1(*g, x) : std::vector<float>{};
}

std::vector<float> conv1x1_out(const std::vector<float>& x, const std::vector<float>& w,
                               std::optional<float> bias) {
  ModelBuilder b;
  const int c = static_cast<int>(x.size());
  b.input("x", {1, 1, c})
      .layer("Conv2D", "c",
             {{"filters", 1}, {"kernel_size", {1, 1}}, {"use_bias", bias.has_value()}});
  b.weight("c/kernel", {1, 1, c, 1}, w);
  if (bias) b.weight("c/bias", {1}, {*bias});
  auto g = b.graph();
  EXPECT_TRUE(g.ok()) << g.error().to_string();
  return g.ok() ? run1(*g, x) : std::vector<float>{};
}

TEST(ExecRounding, ConvProductIsExactBeforeTheSum) {
  // x = [2^-25, 1 + 2^-12], w = [1, 1 + 2^-12]. Step 1: y = 2^-25. Step 2: the exact product is
  // 1 + 2^-11 + 2^-24; y + product = 1 + 2^-11 + 1.5*2^-24 lies above the midpoint between the
  // floats 1 + 2^-11 and 1 + 2^-11 + 2^-23, so TF.js stores 1 + 2^-11 + 2^-23. Rounding the
  // product to float first (1 + 2^-11, a tie to even) and then adding 2^-25 gives 1 + 2^-11.
  const float e = std::ldexp(1.0f, -12);
  const float want = 1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -23);
  EXPECT_EQ(conv1x1_out({std::ldexp(1.0f, -25), 1.0f + e}, {1.0f, 1.0f + e}, std::nullopt),
            std::vector<float>{want});
}

TEST(ExecRounding, ConvAddsTheBiasAfterTheSum) {
  // x = [1, 1], w = [2^24 + 2, 1], bias -1. TF.js: y = 2^24 + 2; y + 1 = 2^24 + 3, a tie ->
  // 2^24 + 4; then + bias: 2^24 + 3 -> 2^24 + 4. Starting from the bias instead gives
  // -1 + 2^24 + 2 = 2^24 + 1 -> 2^24, then + 1 -> 2^24.
  EXPECT_EQ(conv1x1_out({1, 1}, {k2p24 + 2, 1}, -1.0f), std::vector<float>{k2p24 + 4});
}

TEST(ExecRounding, DenseSumsBlocksOf48InDouble) {
  // k = 3 (one block): w = [2^24, 1, 1], x = 1: the block sum in double is 2^24 + 2, exact in
  // float. Per-step float accumulation would give 2^24 (each + 1 is a tie back to 2^24).
  EXPECT_EQ(dense_out({1, 1, 1}, {k2p24, 1, 1}, std::nullopt), std::vector<float>{k2p24 + 2});
  // k = 49 (two blocks): w = [2^24, 1, 0 x 46, 1]. Block 1 = 2^24 + 1 -> stored 2^24 (tie);
  // block 2: 2^24 + 1 -> 2^24. One double sum over all k would give 2^24 + 2.
  std::vector<float> w(49, 0.0f);
  w[0] = k2p24;
  w[1] = 1;
  w[48] = 1;
  EXPECT_EQ(dense_out(std::vector<float>(49, 1.0f), w, std::nullopt), std::vector<float>{k2p24});
}

TEST(ExecRounding, DenseAddsTheBiasAfterTheProduct) {
  // As the conv case: [1, 1] . [2^24 + 2, 1] = 2^24 + 3 in double -> 2^24 + 4; + (-1) -> 2^24 + 4.
  EXPECT_EQ(dense_out({1, 1}, {k2p24 + 2, 1}, -1.0f), std::vector<float>{k2p24 + 4});
}

}  // namespace
}  // namespace emc::converter
