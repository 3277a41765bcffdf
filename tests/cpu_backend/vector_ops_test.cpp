// L2_NORMALIZATION, SOFTMAX, LOGISTIC.
#include <cmath>

#include "cpu_backend/cpu_test_util.h"

namespace emc::cpu_backend::testing {
namespace {

using format::LayerType;

format::ChannelsBody cbody(std::uint32_t channels) {
  return format::ChannelsBody{0, 0, 64, channels};
}

TEST(CpuL2Normalization, DividesByTheNorm) {
  Mem mem(128);
  mem.put_f32(0, {3.f, 4.f});
  EMC_ASSERT_OK(prepare_and_run(make_layer(LayerType::kL2Normalization, cbody(2)), mem));
  // sum = 25, 1/sqrt(25) = 0.2 -> 0.6, 0.8
  const auto out = mem.f32(64, 2);
  EXPECT_FLOAT_EQ(out[0], 0.6f);
  EXPECT_FLOAT_EQ(out[1], 0.8f);
}

TEST(CpuL2Normalization, ClampsTinySumsToEpsilon) {
  Mem mem(128);
  // sum = 1e-12 < 1e-10 -> sum = 1e-10, 1/sqrt = 1e5: 1e-6 * 1e5 = 0.1 (not 1.0)
  mem.put_f32(0, {1e-6f, 0.f});
  EMC_ASSERT_OK(prepare_and_run(make_layer(LayerType::kL2Normalization, cbody(2)), mem));
  auto out = mem.f32(64, 2);
  EXPECT_NEAR(out[0], 0.1f, 1e-6f);
  EXPECT_EQ(out[1], 0.f);
  // all zeros: no division by zero, zeros out
  mem.put_f32(0, {0.f, 0.f});
  EMC_ASSERT_OK(prepare_and_run(make_layer(LayerType::kL2Normalization, cbody(2)), mem));
  EXPECT_EQ(mem.f32(64, 2), (std::vector<float>{0.f, 0.f}));
}

TEST(CpuSoftmax, NormalisesExponentials) {
  Mem mem(128);
  mem.put_f32(0, {0.f, std::log(3.f)});
  EMC_ASSERT_OK(prepare_and_run(make_layer(LayerType::kSoftmax, cbody(2)), mem));
  // e^0 = 1, e^ln3 = 3 -> 1/4, 3/4
  const auto out = mem.f32(64, 2);
  EXPECT_NEAR(out[0], 0.25f, 1e-6f);
  EXPECT_NEAR(out[1], 0.75f, 1e-6f);
}

TEST(CpuSoftmax, AllNegativeInputsGiveTheUsualSoftmax) {
  // max starts at FLT_MIN, so ~1e-38 is subtracted instead of -1; softmax is shift-invariant:
  // e^-1 / (e^-1 + e^-2 + e^-3) = 0.665241, 0.244728, 0.090031
  Mem mem(128);
  mem.put_f32(0, {-1.f, -2.f, -3.f});
  EMC_ASSERT_OK(prepare_and_run(make_layer(LayerType::kSoftmax, cbody(3)), mem));
  const auto out = mem.f32(64, 3);
  EXPECT_NEAR(out[0], 0.665241f, 1e-6f);
  EXPECT_NEAR(out[1], 0.244728f, 1e-6f);
  EXPECT_NEAR(out[2], 0.090031f, 1e-6f);
}

TEST(CpuSoftmax, FltMinStartUnderflowsForVeryNegativeInputsLikeTheSdk) {
  // The true softmax of {-200, -201} is {0.731, 0.269}; with the SDK's FLT_MIN start value
  // both expf(-200) and expf(-201) underflow to 0 and 0/0 is NaN. We keep the SDK's result.
  Mem mem(128);
  mem.put_f32(0, {-200.f, -201.f});
  EMC_ASSERT_OK(prepare_and_run(make_layer(LayerType::kSoftmax, cbody(2)), mem));
  const auto out = mem.f32(64, 2);
  EXPECT_TRUE(std::isnan(out[0]));
  EXPECT_TRUE(std::isnan(out[1]));
}

TEST(CpuSoftmax, LargePositiveInputsDoNotOverflow) {
  Mem mem(128);
  mem.put_f32(0, {1000.f, 1000.f});
  EMC_ASSERT_OK(prepare_and_run(make_layer(LayerType::kSoftmax, cbody(2)), mem));
  EXPECT_EQ(mem.f32(64, 2), (std::vector<float>{0.5f, 0.5f}));
}

TEST(CpuSoftmax, InPlaceMatchesOutOfPlace) {
  Mem mem(128);
  mem.put_f32(0, {0.f, std::log(3.f)});
  EMC_ASSERT_OK(
      prepare_and_run(make_layer(LayerType::kSoftmax, format::ChannelsBody{0, 0, 0, 2}), mem));
  const auto out = mem.f32(0, 2);
  EXPECT_NEAR(out[0], 0.25f, 1e-6f);
  EXPECT_NEAR(out[1], 0.75f, 1e-6f);
}

TEST(CpuLogistic, IsOneOverOnePlusExpMinusX) {
  Mem mem(128);
  mem.put_f32(0, {0.f, std::log(3.f), -std::log(3.f)});
  EMC_ASSERT_OK(prepare_and_run(make_layer(LayerType::kLogistic, cbody(3)), mem));
  // 1/(1+1) = 0.5; 1/(1+1/3) = 0.75; 1/(1+3) = 0.25
  const auto out = mem.f32(64, 3);
  EXPECT_EQ(out[0], 0.5f);
  EXPECT_NEAR(out[1], 0.75f, 1e-6f);
  EXPECT_NEAR(out[2], 0.25f, 1e-6f);
}

}  // namespace
}  // namespace emc::cpu_backend::testing
