// QUANTIZE, DEQUANTIZE, CHANNELWISE_DEQUANTIZE, REQUANTIZE; real = q * scale + bias.
#include <cmath>
#include <limits>

#include "cpu_backend/cpu_test_util.h"

namespace emc::cpu_backend::testing {
namespace {

using format::LayerType;

format::QuantizeBody qbody(std::uint32_t count, float scale, float bias) {
  return format::QuantizeBody{0, 0, 64, count, scale, bias};
}

// scale 0.5, bias 1: q = (x - 1) * 2 (1.f/0.5f = 2 exactly)
const std::vector<float> kQuantizeInputs = {2.25f,
                                            1.75f,
                                            0.75f,
                                            1.5f,
                                            3.f,
                                            200.f,
                                            1.f,
                                            std::numeric_limits<float>::quiet_NaN(),
                                            -std::numeric_limits<float>::infinity()};

TEST(CpuQuantize, SdkRoundsHalfAwayFromZeroAndClamps) {
  Mem mem(128);
  mem.put_f32(0, kQuantizeInputs);
  EMC_ASSERT_OK(prepare_and_run(make_layer(LayerType::kQuantize, qbody(9, 0.5f, 1.f)), mem));
  // 2.25 -> 2.5 -> 3; 1.75 -> 1.5 -> 2; 0.75 -> -0.5 -> roundf -1 -> 0; 1.5 -> 1; 3 -> 4;
  // 200 -> 398 -> 255; 1 -> 0; NaN -> 255 (RV64 fcvt.w.s gives INT_MAX); -inf -> 0
  EXPECT_EQ(mem.u8(64, 9), (std::vector<std::uint8_t>{3, 2, 0, 1, 4, 255, 0, 255, 0}));
  EXPECT_EQ(mem.u8(73, 1)[0], kFill);
}

TEST(CpuQuantize, EmcKpuOptionTruncates) {
  Mem mem(128);
  mem.put_f32(0, kQuantizeInputs);
  CpuBackendOptions options;
  options.quantize_rounding = QuantizeRounding::kTruncate;
  EMC_ASSERT_OK(
      prepare_and_run(make_layer(LayerType::kQuantize, qbody(9, 0.5f, 1.f)), mem, options));
  // 2.5 -> 2; 1.5 -> 1; -0.5 -> 0; 1 -> 1; 4; 255; 0; 255; 0
  EXPECT_EQ(mem.u8(64, 9), (std::vector<std::uint8_t>{2, 1, 0, 1, 4, 255, 0, 255, 0}));
}

TEST(CpuQuantize, UsesTheReciprocalOfScaleLikeTheSdk) {
  // scale 0.1f: the SDK multiplies by 1.f/0.1f (= 10.0f after rounding), it does not divide.
  // x = 0.25: (0.25 - 0) * 10 = 2.5 -> 3.  Cross-check with the formula for a sweep of inputs.
  Mem mem(4096);
  std::vector<float> xs;
  for (int i = 0; i < 300; ++i) xs.push_back(-3.f + 0.0371f * static_cast<float>(i));
  mem.put_f32(0, xs);
  EMC_ASSERT_OK(prepare_and_run(
      make_layer(LayerType::kQuantize, format::QuantizeBody{0, 0, 2048, 300, 0.1f, -3.5f}), mem));
  const auto out = mem.u8(2048, 300);
  const float inv = 1.f / 0.1f;
  for (int i = 0; i < 300; ++i) {
    const float r = std::round((xs[i] - -3.5f) * inv);
    const int expected = r < 0 ? 0 : (r > 255 ? 255 : static_cast<int>(r));
    ASSERT_EQ(out[i], expected) << i;
  }
}

TEST(CpuQuantize, RejectsZeroOrNonFiniteScale) {
  for (float scale : {0.f, -0.f, std::numeric_limits<float>::infinity(),
                      std::numeric_limits<float>::quiet_NaN(), 1e-45f}) {
    auto layer = make_layer(LayerType::kQuantize, qbody(4, scale, 0.f));
    auto r = prepare(layer, 128);
    ASSERT_FALSE(r.ok()) << scale;
    EXPECT_NE(r.error().message().find("scale"), std::string::npos);
  }
}

TEST(CpuDequantize, ScalesAndBiases) {
  Mem mem(128);
  mem.put_u8(3, {0, 1, 255});
  EMC_ASSERT_OK(prepare_and_run(
      make_layer(LayerType::kDequantize, format::QuantizeBody{0, 3, 65, 3, 0.5f, -1.f}), mem));
  // 0*0.5-1 = -1; 1*0.5-1 = -0.5; 255*0.5-1 = 126.5
  EXPECT_EQ(mem.f32(65, 3), (std::vector<float>{-1.f, -0.5f, 126.5f}));
}

TEST(CpuChannelwiseDequantize, UsesOneScaleAndBiasPerChannel) {
  Mem mem(128);
  mem.put_u8(0, {3, 4, 5, 8});
  format::ChannelwiseDequantizeBody body;
  body.main_mem_out_address = 64;
  body.channel_size = 2;
  body.params = {{1.f, 0.f}, {0.25f, 10.f}};
  EMC_ASSERT_OK(prepare_and_run(make_layer(LayerType::kChannelwiseDequantize, body), mem));
  // channel 0: 3, 4; channel 1: 5*0.25+10 = 11.25, 8*0.25+10 = 12
  EXPECT_EQ(mem.f32(64, 4), (std::vector<float>{3.f, 4.f, 11.25f, 12.f}));
}

TEST(CpuRequantize, LooksUpTheTable) {
  Mem mem(128);
  mem.put_u8(0, {0, 7, 255, 128});
  format::RequantizeBody body;
  body.main_mem_out_address = 64;
  body.count = 4;
  for (int i = 0; i < 256; ++i) body.table[i] = static_cast<std::uint8_t>(255 - i);
  EMC_ASSERT_OK(prepare_and_run(make_layer(LayerType::kRequantize, body), mem));
  EXPECT_EQ(mem.u8(64, 4), (std::vector<std::uint8_t>{255, 248, 0, 127}));
}

}  // namespace
}  // namespace emc::cpu_backend::testing
