// Quantization parameters (converter/quantize.h) against hand computations.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "emc/converter/emc_conv_quant.h"
#include "emc/converter/quantize.h"

namespace emc::converter {
namespace {

TEST(QuantParams, ZeroToSixIsTheClassicRelu6Grid) {
  // [0, 6]: zero point 0, scale 6/255 (hand: 0.0235294...).
  auto p = quant_param_from_range(0.0, 6.0);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->zero_point, 0);
  EXPECT_NEAR(p->scale, 6.0 / 255.0, 1e-9);
  EXPECT_NEAR(p->bias(), 0.0, 1e-12);
  EXPECT_EQ(p->quantize(6.0), 255);
  EXPECT_EQ(p->quantize(3.01), 128);  // 3.01 / 0.0235294 = 127.9 -> 128
  EXPECT_EQ(p->quantize(-1.0), 0);    // clamped
}

TEST(QuantParams, RangeIsWidenedToContainZero) {
  // [2, 10] becomes [0, 10]: zero point 0, scale 10/255.
  auto p = quant_param_from_range(2.0, 10.0);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->zero_point, 0);
  EXPECT_NEAR(p->scale, 10.0 / 255.0, 1e-9);
  // [-10, -2] becomes [-10, 0]: zero point 255.
  auto n = quant_param_from_range(-10.0, -2.0);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->zero_point, 255);
  EXPECT_NEAR(n->scale, 10.0 / 255.0, 1e-9);
}

TEST(QuantParams, IntegerZeroPointAndRangeStillCovered) {
  // [-1, 2]: ideal zero point 85 exactly (1/3 of 255): scale 3/255.
  auto p = quant_param_from_range(-1.0, 2.0);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->zero_point, 85);
  EXPECT_NEAR(p->scale, 3.0 / 255.0, 1e-9);
  // [-1, 1]: ideal 127.5 -> 127 or 128; scale grows to cover both ends: 1/127.
  auto q = quant_param_from_range(-1.0, 1.0);
  ASSERT_TRUE(q.ok());
  EXPECT_TRUE(q->zero_point == 127 || q->zero_point == 128);
  EXPECT_NEAR(q->scale, 1.0 / 127.0, 1e-9);
  EXPECT_LE(q->real_min(), -1.0 + 1e-9);
  EXPECT_GE(q->real_max(), 1.0 - 1e-9);
  EXPECT_EQ(q->dequantize(q->zero_point), 0.0);  // real zero exact
}

TEST(QuantParams, TinyNegativeMinimumGetsZeroPointOne) {
  // [-0.001, 10]: a zero point of 0 could not represent the minimum.
  auto p = quant_param_from_range(-0.001, 10.0);
  ASSERT_TRUE(p.ok());
  EXPECT_GE(p->zero_point, 1);
  EXPECT_LE(p->real_min(), -0.001);
  EXPECT_GE(p->real_max(), 10.0 - 1e-9);
}

TEST(QuantParams, DegenerateAndInvalidRanges) {
  auto z = quant_param_from_range(0.0, 0.0);
  ASSERT_TRUE(z.ok());
  EXPECT_GT(z->scale, 0.0);
  EXPECT_FALSE(quant_param_from_range(1.0, 0.0).ok());
  EXPECT_FALSE(quant_param_from_range(NAN, 1.0).ok());
  EXPECT_EQ(quant_param_from_range(0, INFINITY).error().code(), Errc::kQuantization);
}

// Fuzz finding 23: a range of float32 denormals ([-7.0e-45, -1.4e-45], widened to [-7.0e-45, 0])
// gave a step of 2.7e-47, which a float32 scale field holds as 0. It is widened to kMinQuantSpan:
// [-1e-30, 0], step 1e-30/255, zero point 255 (uint8) or 127 (int8).
TEST(QuantParams, RangesOfFloat32DenormalsGetANormalFloat32Step) {
  auto p = quant_param_from_range(-7.00649e-45, -1.4013e-45);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->zero_point, 255);
  EXPECT_NEAR(p->scale, 1e-30 / 255, 1e-40);
  EXPECT_GE(static_cast<float>(p->scale), std::numeric_limits<float>::min());
  EXPECT_LE(p->real_min(), -7.00649e-45);
  auto i8 = int8_quant_from_range(-7.00649e-45, -1.4013e-45);
  ASSERT_TRUE(i8.ok());
  EXPECT_EQ(i8->zero_point, 127);
  EXPECT_NEAR(i8->scale, 1e-30 / 255, 1e-40);
  // A range across 0 keeps its ends' ratio: [-1e-40, 3e-40] becomes [-2.5e-31, 7.5e-31], so the
  // zero point is 255 * 0.25 = 63.75 rounded to 63 or 64, and both ends stay representable.
  auto mixed = quant_param_from_range(-1e-40, 3e-40);
  ASSERT_TRUE(mixed.ok());
  EXPECT_TRUE(mixed->zero_point == 63 || mixed->zero_point == 64) << mixed->zero_point;
  EXPECT_NEAR(mixed->scale, 1e-30 / 255, 1e-32 / 255);
  EXPECT_LE(mixed->real_min(), -2.5e-31 * (1 - 1e-9));
  EXPECT_GE(mixed->real_max(), 7.5e-31 * (1 - 1e-9));
  // Just above the floor nothing changes.
  EXPECT_DOUBLE_EQ(quant_param_from_range(0.0, 1e-29)->scale, 1e-29 / 255 * (1.0 + 1e-12));
}

TEST(QuantWeights, PerLayerHandExample) {
  // Weights {-1, 0, 0.5, 1} in one channel: range [-1, 1] -> scale 1/127, zp 127 or 128.
  std::vector<float> w{-1.0f, 0.0f, 0.5f, 1.0f};
  auto q = quantize_weights(w, 1, 8, false, 255);
  ASSERT_TRUE(q.ok());
  const double s = q->scales[0];
  EXPECT_NEAR(s, 1.0 / 127.0, 1e-9);
  for (std::size_t i = 0; i < w.size(); ++i) {
    EXPECT_NEAR((q->codes[i] - q->zero_point) * s, w[i], s / 2 + 1e-12) << i;
  }
  EXPECT_EQ(q->codes[1], q->zero_point);  // exact zero
}

TEST(QuantWeights, PerChannelSharesZeroPointAndBeatsPerLayer) {
  // Channel 0 spans [-100, 100], channel 1 [-0.01, 0.01]: per-layer quantization wipes out
  // channel 1; per-channel keeps it to within half a (small) step.
  std::vector<float> w{-100.f, 50.f, 100.f, -0.01f, 0.005f, 0.01f};
  auto pl = quantize_weights(w, 2, 8, false, 255);
  auto pc = quantize_weights(w, 2, 8, true, 255);
  ASSERT_TRUE(pl.ok());
  ASSERT_TRUE(pc.ok());
  double err_pl = 0, err_pc = 0;
  for (int i = 3; i < 6; ++i) {
    err_pl = std::max(err_pl, std::fabs((pl->codes[i] - pl->zero_point) * pl->scales[1] - w[i]));
    err_pc = std::max(err_pc, std::fabs((pc->codes[i] - pc->zero_point) * pc->scales[1] - w[i]));
  }
  EXPECT_GT(err_pl, 0.004);
  EXPECT_LT(err_pc, 0.0001);
  EXPECT_LT(pc->scales[1], pc->scales[0] / 1000);
  for (int i = 0; i < 6; ++i) {
    const int c = i / 3;
    EXPECT_NEAR((pc->codes[i] - pc->zero_point) * pc->scales[c], w[i], pc->scales[c] / 2 + 1e-12);
  }
}

TEST(QuantWeights, SixteenBitAndReducedQmax) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> d(-0.3f, 0.7f);
  std::vector<float> w(300);
  for (auto& v : w) v = d(rng);
  auto q = quantize_weights(w, 3, 16, true, 20000);
  ASSERT_TRUE(q.ok());
  for (std::size_t i = 0; i < w.size(); ++i) {
    EXPECT_LE(q->codes[i], 20000);
    const int c = static_cast<int>(i / 100);
    EXPECT_NEAR((q->codes[i] - q->zero_point) * q->scales[c], w[i], q->scales[c] / 2 + 1e-12);
  }
  EXPECT_FALSE(quantize_weights(w, 3, 12, false, 255).ok());
  EXPECT_FALSE(quantize_weights(w, 7, 8, false, 255).ok());  // 300 % 7 != 0
}

TEST(QuantWeights, AutoKeepsAPerTensorGridPerLayer) {
  // Every weight is a multiple of 0.01 in [-1.27, 1.28]: a model saved with per-tensor uint8
  // weights (scale 0.01, zero point 127). Hand: one per-layer scale 2.55 / 255 = 0.01 with zero
  // point 127 reproduces all six exactly (codes round(w / 0.01) + 127); per channel, channel 1
  // gets a scale near 0.13 / 127 or 0.13 / 128 (zero point 127 and 128 tie), on which 0.07 and
  // 0.02 fall between codes (e.g. 68.39 and 19.54 steps): ~4e-4 of error, a relative noise near
  // 1e-5. The automatic choice keeps the per-layer grid.
  std::vector<float> w{-1.27f, 0.5f, 1.28f, -0.13f, 0.07f, 0.02f};
  auto pc = quantize_weights(w, 2, 8, true, 255);
  ASSERT_TRUE(pc.ok());
  EXPECT_LT(pc->scales[1], 0.0011);
  EXPECT_GT(weight_relative_noise(w, pc.value()), 1e-6);
  auto q = quantize_weights_auto(w, 2, 8, 255);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->zero_point, 127);
  EXPECT_NEAR(q->scales[0], 0.01, 1e-9);
  EXPECT_NEAR(q->scales[1], 0.01, 1e-9);
  const std::vector<int> codes{0, 177, 255, 114, 134, 129};
  for (std::size_t i = 0; i < w.size(); ++i) EXPECT_EQ(q->codes[i], codes[i]) << i;
  EXPECT_LT(weight_relative_noise(w, q.value()), 1e-10);
}

TEST(QuantWeights, AutoKeepsPerChannelForChannelsOfDifferentSizes) {
  // The per-channel example above: one per-layer scale (200 / 255) puts all of channel 1 on the
  // zero point, relative noise 1 for that channel (hand: sum of w^2 over sum of w^2); per channel
  // it is below 1e-4. The automatic choice is per channel: channel 1's scale is its own.
  std::vector<float> w{-100.f, 50.f, 100.f, -0.01f, 0.005f, 0.01f};
  auto pl = quantize_weights(w, 2, 8, false, 255);
  ASSERT_TRUE(pl.ok());
  EXPECT_NEAR(weight_relative_noise(w, pl.value()), 1.0, 1e-3);
  auto q = quantize_weights_auto(w, 2, 8, 255);
  ASSERT_TRUE(q.ok());
  EXPECT_LT(q->scales[1], q->scales[0] / 1000);
  EXPECT_LT(weight_relative_noise(w, q.value()), 1e-4);
}

}  // namespace
}  // namespace emc::converter
