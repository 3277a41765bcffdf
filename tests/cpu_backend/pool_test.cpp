// Global and windowed pools. Inputs are small CHW tensors; every expected value is worked out by
// hand from the window rule of kmodel_v3.md §7 (x0 = ox*stride - padding, window clipped to the
// input, padded taps do not exist).
#include "cpu_backend/cpu_test_util.h"

namespace emc::cpu_backend::testing {
namespace {

using format::LayerType;

format::GlobalPoolBody gpool(std::uint32_t kernel_size, std::uint32_t channels) {
  return format::GlobalPoolBody{0, 0, 64, kernel_size, channels};
}

TEST(CpuGlobalPool, AverageFloatIsSequentialSumOverKernelSize) {
  Mem mem(128);
  // channel 0: 1+2+4 = 7 -> 7/3; channel 1: 1e8 + 1 = 1e8 in float, - 1e8 = 0 -> 0/3 = 0
  // (a double or pairwise sum would give 1/3: the SDK sums sequentially in float).
  mem.put_f32(0, {1.f, 2.f, 4.f, 1e8f, 1.f, -1e8f});
  EMC_ASSERT_OK(prepare_and_run(make_layer(LayerType::kGlobalAveragePool2d, gpool(3, 2)), mem));
  EXPECT_EQ(mem.f32(64, 2), (std::vector<float>{7.f / 3.f, 0.f}));
}

TEST(CpuGlobalPool, QuantizedAverageFloorsTheUint32Mean) {
  Mem mem(128);
  mem.put_u8(0, {1, 2, 2, 255, 255, 254});
  EMC_ASSERT_OK(
      prepare_and_run(make_layer(LayerType::kQuantizedGlobalAveragePool2d, gpool(3, 2)), mem));
  // 5/3 = 1.67 -> 1; 764/3 = 254.67 -> 254
  EXPECT_EQ(mem.u8(64, 2), (std::vector<std::uint8_t>{1, 254}));
}

TEST(CpuGlobalPool, MaxFloatHandlesAllNegativeChannels) {
  Mem mem(128);
  mem.put_f32(0, {-3.f, -1.f, -2.f, 0.5f, 7.f, 7.5f});
  EMC_ASSERT_OK(prepare_and_run(make_layer(LayerType::kGlobalMaxPool2d, gpool(3, 2)), mem));
  EXPECT_EQ(mem.f32(64, 2), (std::vector<float>{-1.f, 7.5f}));
}

TEST(CpuGlobalPool, QuantizedMax) {
  Mem mem(128);
  mem.put_u8(0, {3, 200, 17, 0, 0, 1});
  EMC_ASSERT_OK(
      prepare_and_run(make_layer(LayerType::kQuantizedGlobalMaxPool2d, gpool(3, 2)), mem));
  EXPECT_EQ(mem.u8(64, 2), (std::vector<std::uint8_t>{200, 1}));
}

format::Pool2dBody pool(format::Shape3 in, format::Shape3 out, std::uint32_t k, std::uint32_t s,
                        std::uint32_t p) {
  format::Pool2dBody b;
  b.main_mem_in_address = 0;
  b.main_mem_out_address = 128;
  b.in_shape = in;
  b.out_shape = out;
  b.kernel_width = b.kernel_height = k;
  b.stride_width = b.stride_height = s;
  b.padding_width = b.padding_height = p;
  return b;
}

// Input channel 0 (3x3):   channel 1 = 10 x channel 0
//   9 1 5
//   2 8 3
//   4 6 7
// kernel 2, stride 2, padding 1, out 2x2: ox=0 -> x0 = -1 -> columns {0}; ox=1 -> x0 = 1 ->
// columns {1,2}; the same for rows.
//   (0,0): {9} = 9     (0,1): rows {0}, cols {1,2}: {1,5} -> 5
//   (1,0): rows {1,2}, cols {0}: {2,4} -> 4     (1,1): {8,3,6,7} -> 8
TEST(CpuPool2d, QuantizedMaxClipsTheWindowToTheInput) {
  Mem mem(256);
  mem.put_u8(0, {9, 1, 5, 2, 8, 3, 4, 6, 7, 90, 10, 50, 20, 80, 30, 40, 60, 70});
  EMC_ASSERT_OK(prepare_and_run(
      make_layer(LayerType::kQuantizedMaxPool2d, pool({3, 3, 2}, {2, 2, 2}, 2, 2, 1)), mem));
  EXPECT_EQ(mem.u8(128, 8), (std::vector<std::uint8_t>{9, 5, 4, 8, 90, 50, 40, 80}));
  EXPECT_EQ(mem.u8(136, 1)[0], kFill);
}

TEST(CpuPool2d, QuantizedMaxOfAnAllPaddingWindowIsZero) {
  // 1x1 input {77}, kernel 1, stride 1, padding 1, out 2x2: ox = 0 -> x0 = -1 (no valid tap),
  // ox = 1 -> x0 = 0. Only (1,1) sees the input; the SDK's start value 0 fills the rest.
  Mem mem(256);
  mem.put_u8(0, {77});
  EMC_ASSERT_OK(prepare_and_run(
      make_layer(LayerType::kQuantizedMaxPool2d, pool({1, 1, 1}, {2, 2, 1}, 1, 1, 1)), mem));
  EXPECT_EQ(mem.u8(128, 4), (std::vector<std::uint8_t>{0, 0, 0, 77}));
}

TEST(CpuPool2d, AverageFloatDividesByValidTaps) {
  Mem mem(256);
  mem.put_f32(0, {9, 1, 5, 2, 8, 3, 4, 6, 7});
  EMC_ASSERT_OK(prepare_and_run(
      make_layer(LayerType::kAveragePool2d, pool({3, 3, 1}, {2, 2, 1}, 2, 2, 1)), mem));
  // (0,0): 9/1 = 9 (not 9/4: padded taps do not count); (0,1): (1+5)/2 = 3;
  // (1,0): (2+4)/2 = 3; (1,1): (8+3+6+7)/4 = 6
  EXPECT_EQ(mem.f32(128, 4), (std::vector<float>{9.f, 3.f, 3.f, 6.f}));
}

TEST(CpuPool2d, AverageFloatSamePadding3x3) {
  Mem mem(256);
  mem.put_f32(0, {9, 1, 5, 2, 8, 3, 4, 6, 7});
  EMC_ASSERT_OK(prepare_and_run(
      make_layer(LayerType::kAveragePool2d, pool({3, 3, 1}, {3, 3, 1}, 3, 1, 1)), mem));
  // corners: 2x2 taps: (9+1+2+8)/4 = 5, (1+5+8+3)/4 = 4.25, (2+8+4+6)/4 = 5, (8+3+6+7)/4 = 6
  // edges: 6 taps: top (9+1+5+2+8+3)/6 = 28/6, left (9+1+2+8+4+6)/6 = 30/6 = 5,
  //        right (1+5+8+3+6+7)/6 = 30/6 = 5, bottom (2+8+3+4+6+7)/6 = 30/6 = 5
  // centre: 45/9 = 5
  const auto out = mem.f32(128, 9);
  EXPECT_EQ(out, (std::vector<float>{5.f, 28.f / 6.f, 4.25f, 5.f, 5.f, 5.f, 5.f, 5.f, 6.f}));
}

TEST(CpuPool2d, MaxFloatIgnoresPaddingForNegativeInputs) {
  // 2x2 input {-4,-2;-3,-1}, kernel 2, stride 1, padding 1, out 2x2: columns ox=0 -> {0},
  // ox=1 -> {0,1}. (0,0) = -4; (0,1) = max(-4,-2) = -2; (1,0) = max(-4,-3) = -3; (1,1) = -1.
  // A zero-padded max would give 0 for all four.
  Mem mem(256);
  mem.put_f32(0, {-4, -2, -3, -1});
  EMC_ASSERT_OK(
      prepare_and_run(make_layer(LayerType::kMaxPool2d, pool({2, 2, 1}, {2, 2, 1}, 2, 1, 1)), mem));
  EXPECT_EQ(mem.f32(128, 4), (std::vector<float>{-4.f, -2.f, -3.f, -1.f}));
}

TEST(CpuPool2d, QuantizedAverageRoundsHalfUp) {
  // 4x1 input {1,2,2,5}, kernel 3 (both axes), stride 1, padding 1, out 4x1:
  // columns: ox0 {0,1}, ox1 {0,1,2}, ox2 {1,2,3}, ox3 {2,3}; rows: only row 0.
  // ox0: 3/2 = 1.5 -> (3+1)/2 = 2; ox1: 5/3 -> (5+1)/3 = 2; ox2: 9/3 = 3; ox3: 7/2 = 3.5 -> 4
  Mem mem(256);
  mem.put_u8(0, {1, 2, 2, 5});
  EMC_ASSERT_OK(prepare_and_run(
      make_layer(LayerType::kQuantizedAveragePool2d, pool({4, 1, 1}, {4, 1, 1}, 3, 1, 1)), mem));
  EXPECT_EQ(mem.u8(128, 4), (std::vector<std::uint8_t>{2, 2, 3, 4}));
}

TEST(CpuPool2d, NonSquareWindowAndStrides) {
  // in 4x2 (W x H) one channel: row0 = 1 2 3 4, row1 = 5 6 7 8; kernel_w 2, kernel_h 1,
  // stride_w 2, stride_h 1, no padding, out 2x2: (0,0) max(1,2)=2, (0,1) max(3,4)=4,
  // (1,0) max(5,6)=6, (1,1) max(7,8)=8.
  Mem mem(256);
  mem.put_u8(0, {1, 2, 3, 4, 5, 6, 7, 8});
  auto body = pool({4, 2, 1}, {2, 2, 1}, 2, 2, 0);
  body.kernel_height = 1;
  body.stride_height = 1;
  EMC_ASSERT_OK(prepare_and_run(make_layer(LayerType::kQuantizedMaxPool2d, body), mem));
  EXPECT_EQ(mem.u8(128, 4), (std::vector<std::uint8_t>{2, 4, 6, 8}));
}

TEST(CpuPool2d, FloatPoolsRejectWindowsWithoutValidTaps) {
  for (auto type :
       {LayerType::kAveragePool2d, LayerType::kMaxPool2d, LayerType::kQuantizedAveragePool2d}) {
    auto layer = make_layer(type, pool({1, 1, 1}, {2, 2, 1}, 1, 1, 1));
    auto r = prepare(layer, 256);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find("has no valid input"), std::string::npos)
        << r.error().to_string();
  }
}

}  // namespace
}  // namespace emc::cpu_backend::testing
