// Tiny cases whose expected bytes are worked out by hand from kmodel_v3.md §5-§6.
#include <gtest/gtest.h>

#include <vector>

#include "sim_harness.h"

namespace emc::test {
namespace {

using accel_sim::ActivationRounding;
using accel_sim::KpuSimOptions;
using accel_sim::SegmentSelection;

constexpr std::uint32_t kDstRow = 100;
constexpr std::uint8_t kSentinel = 0xAB;

// A 4x4 map (W <= 16: 4 channels per row, 16-byte pitch, 1 row per line, 4 rows per channel
// group): pixel (c, y, x) of the map at `row` is byte row*64 + (c/4)*256 + (c%4)*16 + y*64 + x.
std::size_t at4x4(std::uint32_t row, std::uint32_t c, std::uint32_t y, std::uint32_t x) {
  return std::size_t{row} * 64 + (c / 4) * 256 + (c % 4) * 16 + y * 64 + x;
}

struct Mem {
  std::vector<std::uint8_t> kpu = std::vector<std::uint8_t>(kKpuRamBytes, kSentinel);
  std::vector<std::uint8_t> main = std::vector<std::uint8_t>(256, 0);
};

format::KpuBatchNorm bn(std::int32_t mul, std::uint32_t shift, std::int32_t add) {
  return format::KpuBatchNorm{mul, add, shift};
}

// Identity activation: y = bn for 0 <= bn <= 255.
format::KpuActivationTable identity() {
  return simple_act(0, 1, 0, 0);
}

TEST(HandCases, Conv1x1ScalesAndBatchNorm) {
  // 4x4x1 input x = 1..16 row by row, one output channel, weight 2, no arg terms:
  // acc = 2x; BN mul 3 shift 1 add 10: bn = (6x >> 1) + 10 = 3x + 10; identity activation.
  Mem m;
  for (std::uint32_t y = 0; y < 4; ++y)
    for (std::uint32_t x = 0; x < 4; ++x)
      m.kpu[at4x4(0, 0, y, x)] = static_cast<std::uint8_t>(y * 4 + x + 1);
  auto f = conv_fields(4, 4, 1, 1, 1, 0, 0, kDstRow);
  auto model = one_layer_model(conv_layer(f, {2}, {bn(3, 1, 10)}, identity(), true, 8), 256);
  ASSERT_TRUE(run_one(model, m.kpu, m.main).ok());
  for (std::uint32_t y = 0; y < 4; ++y) {
    for (std::uint32_t x = 0; x < 4; ++x) {
      const int v = static_cast<int>(y * 4 + x + 1);
      EXPECT_EQ(m.kpu[at4x4(kDstRow, 0, y, x)], 3 * v + 10) << y << "," << x;
      EXPECT_EQ(m.main[8 + y * 4 + x], 3 * v + 10);  // DMA: dense CHW at main_mem_out_address
    }
    // The rest of each 64-byte output line is not written (§5.2).
    for (std::uint32_t x = 4; x < 64; ++x) EXPECT_EQ(m.kpu[kDstRow * 64 + y * 64 + x], kSentinel);
  }
  EXPECT_EQ(m.main[7], 0);
  EXPECT_EQ(m.main[8 + 16], 0);  // nothing past the 16 output bytes
}

TEST(HandCases, ArgTermsUseFloorShifts) {
  // 1x1, 2 input channels: x0 = 10, x1 = 21 everywhere; weights (3, 5).
  // value = 30 + 105 = 135; sum_x = 31: (-7 * 31) >> 1 = floor(-108.5) = -109;
  // sum_w = 8: (-9 * 8) >> 2 = -18; arg_add * IC = 11 * 2 = 22. acc = 135 - 109 - 18 + 22 = 30.
  Mem m;
  for (std::uint32_t y = 0; y < 4; ++y)
    for (std::uint32_t x = 0; x < 4; ++x) {
      m.kpu[at4x4(0, 0, y, x)] = 10;
      m.kpu[at4x4(0, 1, y, x)] = 21;
    }
  auto f = conv_fields(4, 4, 2, 1, 1, 0, 0, kDstRow);
  f.arg_x = -7;
  f.shr_x = 1;
  f.arg_w = -9;
  f.shr_w = 2;
  f.arg_add = 11;
  auto model = one_layer_model(conv_layer(f, {3, 5}, {bn(1, 0, 0)}, identity(), false, 0), 256);
  ASSERT_TRUE(run_one(model, m.kpu, m.main).ok());
  for (std::uint32_t y = 0; y < 4; ++y)
    for (std::uint32_t x = 0; x < 4; ++x) EXPECT_EQ(m.kpu[at4x4(kDstRow, 0, y, x)], 30);
}

TEST(HandCases, Conv3x3ReadsPadValueOutsideTheMap) {
  // All inputs 1, all 9 weights 1, pad_value 7: a corner sees 4 inside + 5 pad taps = 4 + 35 = 39,
  // an edge 6 + 3*7 = 27, the interior 9.
  Mem m;
  for (std::uint32_t y = 0; y < 4; ++y)
    for (std::uint32_t x = 0; x < 4; ++x) m.kpu[at4x4(0, 0, y, x)] = 1;
  auto f = conv_fields(4, 4, 1, 1, 3, 0, 0, kDstRow);
  f.pad_value = 7;
  auto model = one_layer_model(
      conv_layer(f, std::vector<std::uint8_t>(9, 1), {bn(1, 0, 0)}, identity(), false, 0), 256);
  ASSERT_TRUE(run_one(model, m.kpu, m.main).ok());
  const int expected[4][4] = {{39, 27, 27, 39}, {27, 9, 9, 27}, {27, 9, 9, 27}, {39, 27, 27, 39}};
  for (std::uint32_t y = 0; y < 4; ++y)
    for (std::uint32_t x = 0; x < 4; ++x)
      EXPECT_EQ(m.kpu[at4x4(kDstRow, 0, y, x)], expected[y][x]) << y << "," << x;
}

TEST(HandCases, DepthwiseUsesOwnChannelAndGroupOfOne) {
  // 2 channels: c0 = 10 (weight 3), c1 = 20 (weight 5); arg_x 1, arg_w 2 >> 1, arg_add 4 x g_ic=1.
  // c0: 30 + 10 + (2*3 >> 1 = 3) + 4 = 47;  c1: 100 + 20 + (2*5 >> 1 = 5) + 4 = 129.
  Mem m;
  for (std::uint32_t y = 0; y < 4; ++y)
    for (std::uint32_t x = 0; x < 4; ++x) {
      m.kpu[at4x4(0, 0, y, x)] = 10;
      m.kpu[at4x4(0, 1, y, x)] = 20;
    }
  auto f = conv_fields(4, 4, 2, 2, 1, 0, 0, kDstRow);
  f.depth_wise_layer = 1;
  f.arg_x = 1;
  f.arg_w = 2;
  f.shr_w = 1;
  f.arg_add = 4;
  auto model =
      one_layer_model(conv_layer(f, {3, 5}, {bn(1, 0, 0), bn(1, 0, 0)}, identity(), false, 0), 256);
  ASSERT_TRUE(run_one(model, m.kpu, m.main).ok());
  EXPECT_EQ(m.kpu[at4x4(kDstRow, 0, 2, 1)], 47);
  EXPECT_EQ(m.kpu[at4x4(kDstRow, 1, 3, 3)], 129);
}

TEST(HandCases, SixteenBitWeightsAreLittleEndian) {
  // Weight 1000 = bytes E8 03; x = 200: acc = 200000; BN >> 10: floor(195.3) = 195.
  Mem m;
  for (std::uint32_t y = 0; y < 4; ++y)
    for (std::uint32_t x = 0; x < 4; ++x) m.kpu[at4x4(0, 0, y, x)] = 200;
  auto f = conv_fields(4, 4, 1, 1, 1, 0, 0, kDstRow);
  auto model = one_layer_model(conv_layer(f, {0xE8, 0x03}, {bn(1, 10, 0)}, identity(), false, 0),
                               256, false);
  ASSERT_TRUE(run_one(model, m.kpu, m.main).ok());
  EXPECT_EQ(m.kpu[at4x4(kDstRow, 0, 1, 1)], 195);
}

// Activation edges. Input x = 0..15, weight 1, BN add -8: bn = x - 8 in -8..7.
// Segment 0: bias 50. Segment 1 at 0: y_mul 3, shift 1, bias 100. Segment 2 at 4: y_mul -3,
// shift 1, bias 200. Segments 3..15 unreachable.
//   bn<0 -> 50.  bn=0: <= picks seg 1 -> 100, strict picks seg 0 -> 50.
//   bn=1: 3 -> sdk (3>>0 odd: 1+1) 2, banker (1, frac=half, odd) 2 -> 102.  bn=2: 6 -> 3 -> 103.
//   bn=3: 9 -> sdk 4+1 = 5 -> 105, banker (4, frac=half, even) 4 -> 104.
//   bn=4: <= seg 2: 0 -> 200; strict seg 1: 12 -> 6 -> 106.
//   bn=5: -3 -> sdk (odd: (-3>>1)-1 = -3) 197, banker (-2, frac=half, even) 198.
//   bn=6: -6 -> -3 -> 197.  bn=7: -9 -> sdk (-5)-1 = -6, banker (-5, half, odd) -6 -> 194.
struct ActCase {
  SegmentSelection sel;
  ActivationRounding rnd;
  std::vector<int> expected;  // for x = 8..15
};

class ActivationEdges : public ::testing::TestWithParam<ActCase> {};

TEST_P(ActivationEdges, SegmentChoiceAndRounding) {
  Mem m;
  for (std::uint32_t y = 0; y < 4; ++y)
    for (std::uint32_t x = 0; x < 4; ++x)
      m.kpu[at4x4(0, 0, y, x)] = static_cast<std::uint8_t>(y * 4 + x);
  auto f = conv_fields(4, 4, 1, 1, 1, 0, 0, kDstRow);
  auto act = simple_act(0, 3, 1, 100, 50);
  act[2].x_start = 4;
  act[2].y_mul = -3;
  act[2].shift_number = 1;
  act[2].result_bias = 200;
  auto model = one_layer_model(conv_layer(f, {1}, {bn(1, 0, -8)}, act, true, 0), 256);
  KpuSimOptions o;
  o.selection = GetParam().sel;
  o.rounding = GetParam().rnd;
  ASSERT_TRUE(run_one(model, m.kpu, m.main, o).ok());
  for (int x = 0; x < 8; ++x) EXPECT_EQ(m.main[static_cast<std::size_t>(x)], 50) << x;
  for (int x = 8; x < 16; ++x) {
    EXPECT_EQ(m.main[static_cast<std::size_t>(x)],
              GetParam().expected[static_cast<std::size_t>(x - 8)])
        << "x=" << x << " bn=" << x - 8;
  }
}

INSTANTIATE_TEST_SUITE_P(HandCases, ActivationEdges,
                         ::testing::Values(ActCase{SegmentSelection::kStartLessOrEqual,
                                                   ActivationRounding::kSdkCarryShift,
                                                   {100, 102, 103, 105, 200, 197, 197, 194}},
                                           ActCase{SegmentSelection::kStartLessOrEqual,
                                                   ActivationRounding::kNn02Banker,
                                                   {100, 102, 103, 104, 200, 198, 197, 194}},
                                           ActCase{SegmentSelection::kStartStrictlyLess,
                                                   ActivationRounding::kSdkCarryShift,
                                                   {50, 102, 103, 105, 106, 197, 197, 194}},
                                           ActCase{SegmentSelection::kStartStrictlyLess,
                                                   ActivationRounding::kNn02Banker,
                                                   {50, 102, 103, 104, 106, 198, 197, 194}}));

// Pooling on x = 1..16 (identity conv and activation):
//   [ 1  2  3  4]   1 max2: 6 8 / 14 16        2 mean2: 14/4=3 22/4=5 / 46/4=11 54/4=13
//   [ 5  6  7  8]   3 max4: 16   4 mean4: 136/16 = 8   5 left-top: 1 3 / 9 11
//   [ 9 10 11 12]   6 right-top: 2 4 / 10 12   7 left-top4: 1
//   [13 14 15 16]   8 mean 2x2 s1 clamped: (0,0) 14/4=3, (0,3) (4+4+8+8)/4=6, (3,0) 54/4=13, (3,3)
//   16
//                   9 max 2x2 s1: (0,0) 6, (0,3) 8, (3,0) 14, (3,3) 16, (1,1) 11
struct PoolCase {
  int pool;
  std::vector<std::vector<int>> expected;  // output rows (subset for 8/9 checked via map)
};

class Pooling : public ::testing::TestWithParam<PoolCase> {};

TEST_P(Pooling, MatchesHandValues) {
  Mem m;
  for (std::uint32_t y = 0; y < 4; ++y)
    for (std::uint32_t x = 0; x < 4; ++x)
      m.kpu[at4x4(0, 0, y, x)] = static_cast<std::uint8_t>(y * 4 + x + 1);
  const int pool = GetParam().pool;
  auto f = conv_fields(4, 4, 1, 1, 1, pool, 0, kDstRow);
  auto model = one_layer_model(conv_layer(f, {1}, {bn(1, 0, 0)}, identity(), true, 0), 256);
  ASSERT_TRUE(run_one(model, m.kpu, m.main).ok());
  const auto& e = GetParam().expected;
  const std::size_t ow = e[0].size();
  for (std::size_t y = 0; y < e.size(); ++y)
    for (std::size_t x = 0; x < ow; ++x) {
      EXPECT_EQ(m.main[y * ow + x], e[y][x]) << "pool " << pool << " at " << y << "," << x;
      EXPECT_EQ(
          m.kpu[at4x4(kDstRow, 0, static_cast<std::uint32_t>(y), static_cast<std::uint32_t>(x))],
          e[y][x]);
    }
}

INSTANTIATE_TEST_SUITE_P(
    HandCases, Pooling,
    ::testing::Values(
        PoolCase{0, {{1, 2, 3, 4}, {5, 6, 7, 8}, {9, 10, 11, 12}, {13, 14, 15, 16}}},
        PoolCase{1, {{6, 8}, {14, 16}}}, PoolCase{2, {{3, 5}, {11, 13}}}, PoolCase{3, {{16}}},
        PoolCase{4, {{8}}}, PoolCase{5, {{1, 3}, {9, 11}}}, PoolCase{6, {{2, 4}, {10, 12}}},
        PoolCase{7, {{1}}},
        // mean 2x2 s1: row 0: (1+2+5+6)/4=3, (2+3+6+7)/4=4, (3+4+7+8)/4=5, (4+4+8+8)/4=6 ...
        PoolCase{8, {{3, 4, 5, 6}, {7, 8, 9, 10}, {11, 12, 13, 14}, {13, 14, 15, 16}}},
        PoolCase{9, {{6, 7, 8, 8}, {10, 11, 12, 12}, {14, 15, 16, 16}, {14, 15, 16, 16}}}),
    [](const ::testing::TestParamInfo<PoolCase>& param_info) {
      return "type" + std::to_string(param_info.param.pool);
    });

}  // namespace
}  // namespace emc::test
