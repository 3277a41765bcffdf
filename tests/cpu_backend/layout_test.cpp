// CONCAT, TENSORFLOW_FLATTEN, RESIZE_NEAREST_NEIGHBOR (float and quantized forms).
#include <cmath>

#include "cpu_backend/cpu_test_util.h"

namespace emc::cpu_backend::testing {
namespace {

using format::LayerType;

TEST(CpuConcat, CopiesRangesConsecutively) {
  for (auto type : {LayerType::kConcat, LayerType::kQuantizedConcat}) {
    Mem mem(64);
    mem.put_u8(0, {1, 2, 3});
    mem.put_u8(10, {4, 5});
    format::ConcatBody body;
    body.main_mem_out_address = 20;
    body.inputs = {{10, 2}, {0, 3}, {5, 0}};
    auto layer = make_layer(type, body);
    EMC_ASSERT_OK(prepare_and_run(layer, mem));
    EXPECT_EQ(mem.u8(20, 6), (std::vector<std::uint8_t>{4, 5, 1, 2, 3, kFill}));
    auto prepared = prepare(layer, mem.size());
    ASSERT_TRUE(prepared.ok());
    EXPECT_EQ(prepared.value()->output_range(), (format::MemRange{20, 5}));
  }
}

// C=2, H=3, W=4; element (c,y,x) holds 100c + 10y + x so each value names its coordinates.
// HWC order: for y, for x, for c.
TEST(CpuFlatten, ChwToHwcOn2x3x4) {
  std::vector<float> chw;
  for (int c = 0; c < 2; ++c)
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 4; ++x) chw.push_back(static_cast<float>(100 * c + 10 * y + x));
  const std::vector<float> hwc = {0,  100, 1,  101, 2,  102, 3,  103,   // y = 0
                                  10, 110, 11, 111, 12, 112, 13, 113,   // y = 1
                                  20, 120, 21, 121, 22, 122, 23, 123};  // y = 2
  Mem mem(256);
  mem.put_f32(2, chw);
  format::FlattenBody body{0, 2, 130, {4, 3, 2}};
  EMC_ASSERT_OK(prepare_and_run(make_layer(LayerType::kTensorflowFlatten, body), mem));
  EXPECT_EQ(mem.f32(130, 24), hwc);

  Mem qmem(256);
  std::vector<std::uint8_t> qchw(chw.begin(), chw.end());
  qmem.put_u8(0, qchw);
  format::FlattenBody qbody{0, 0, 100, {4, 3, 2}};
  EMC_ASSERT_OK(prepare_and_run(make_layer(LayerType::kQuantizedTensorflowFlatten, qbody), qmem));
  EXPECT_EQ(qmem.u8(100, 24), std::vector<std::uint8_t>(hwc.begin(), hwc.end()));
}

format::ResizeNearestBody resize(format::Shape3 in, std::uint32_t ow, std::uint32_t oh) {
  return format::ResizeNearestBody{0, 0, 128, in, ow, oh, 0};
}

TEST(CpuResize, QuantizedUpscaleByNonIntegerFactor) {
  // 2x2 -> 3x3: scale = 2/3 = 0.6667: index 0 -> 0, 1 -> floor(0.667) = 0, 2 -> floor(1.333) = 1
  Mem mem(256);
  mem.put_u8(0, {1, 2, 3, 4});
  EMC_ASSERT_OK(prepare_and_run(
      make_layer(LayerType::kQuantizedResizeNearestNeighbor, resize({2, 2, 1}, 3, 3)), mem));
  EXPECT_EQ(mem.u8(128, 9), (std::vector<std::uint8_t>{1, 1, 2, 1, 1, 2, 3, 3, 4}));
}

TEST(CpuResize, FloatNonSquareTwoChannels) {
  // in W=3, H=2, C=2: ch0 = {1 2 3; 4 5 6}, ch1 = ch0 + 10. out W=2, H=4.
  // height_scale = 2/4 = 0.5 -> rows 0,0,1,1; width_scale = 3/2 = 1.5 -> cols 0, floor(1.5) = 1
  Mem mem(256);
  mem.put_f32(0, {1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16});
  auto body = resize({3, 2, 2}, 2, 4);
  body.align_corners = 1;  // ignored, as in the SDK
  EMC_ASSERT_OK(prepare_and_run(make_layer(LayerType::kResizeNearestNeighbor, body), mem));
  EXPECT_EQ(mem.f32(128, 16), (std::vector<float>{1, 2, 1, 2, 4, 5, 4, 5,  //
                                                  11, 12, 11, 12, 14, 15, 14, 15}));
}

TEST(CpuResize, MatchesSdkIndexFormulaOnManySizes) {
  for (std::uint32_t in = 1; in <= 20; ++in) {
    for (std::uint32_t out = 1; out <= 40; ++out) {
      Mem mem(1024);
      std::vector<std::uint8_t> src(in);
      for (std::uint32_t i = 0; i < in; ++i) src[i] = static_cast<std::uint8_t>(i);
      mem.put_u8(0, src);
      auto body = format::ResizeNearestBody{0, 0, 512, {in, 1, 1}, out, 1, 0};
      EMC_ASSERT_OK(
          prepare_and_run(make_layer(LayerType::kQuantizedResizeNearestNeighbor, body), mem));
      const auto got = mem.u8(512, out);
      const float scale = static_cast<float>(in) / static_cast<float>(out);
      for (std::uint32_t o = 0; o < out; ++o) {
        const float f = std::floor(static_cast<float>(o) * scale);
        const float idx = std::fmin(f, static_cast<float>(in - 1));
        ASSERT_EQ(got[o], static_cast<std::uint32_t>(idx)) << in << "->" << out << " @" << o;
      }
    }
  }
}

}  // namespace
}  // namespace emc::cpu_backend::testing
