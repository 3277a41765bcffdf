// The cpu backend's K210 reference kernels on small layers whose results are worked out by hand
// from ../shared/docs/kmodel_v3.md §5-§6 (the arithmetic is in the comments).
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "cpu_backend/cpu_test_util.h"
#include "cpu_backend/k210_test_util.h"
#include "emc/cpu_backend/k210_reference.h"

namespace emc::cpu_backend::testing {
namespace {

constexpr std::int64_t kMinStart = -(std::int64_t{1} << 35);

// ---- scalar stages ------------------------------------------------------------------------------

TEST(K210Arithmetic, FloorShiftAndWrap36) {
  EXPECT_EQ(k210_floor_shift(-5, 1), -3);  // floor(-2.5)
  EXPECT_EQ(k210_floor_shift(5, 1), 2);
  EXPECT_EQ(k210_floor_shift(-1, 70), -1);  // shifts >= 63: sign only
  EXPECT_EQ(k210_floor_shift(123, 64), 0);
  EXPECT_EQ(k210_wrap36(std::int64_t{1} << 35), -(std::int64_t{1} << 35));  // 2^35 wraps
  EXPECT_EQ(k210_wrap36((std::int64_t{1} << 36) + 7), 7);
  EXPECT_EQ(k210_wrap36(-3), -3);
}

TEST(K210Arithmetic, BatchNormFloorsWithoutRounding) {
  // (-7 * 3) >> 2 = floor(-21/4) = floor(-5.25) = -6; -6 + 5 = -1.
  EXPECT_EQ(k210_batch_norm(-7, format::KpuBatchNorm{3, 5, 2}), -1);
  // (41 * 3) >> 1 = floor(61.5) = 61; 61 - 20 = 41.
  EXPECT_EQ(k210_batch_norm(41, format::KpuBatchNorm{3, -20, 1}), 41);
}

TEST(K210Arithmetic, CarryShiftsAsWrittenInTheSources) {
  // SDK kpu_carry_shift: v >>= s-1; odd -> (v>>1) ± 1.
  EXPECT_EQ(k210_sdk_carry_shift(18, 2), 5);    // 18>>1 = 9 odd -> 4 + 1
  EXPECT_EQ(k210_sdk_carry_shift(-15, 1), -9);  // -15 odd, negative -> (-15>>1) - 1 = -8 - 1
  EXPECT_EQ(k210_sdk_carry_shift(-10, 1), -5);  // even -> -10 >> 1
  // nncase banker: integral = v >> s, frac = v - integral*2^s, half = 2^(s-1).
  EXPECT_EQ(k210_banker_carry_shift(18, 2), 4);    // 4, frac 2 == half, 4 even -> 4
  EXPECT_EQ(k210_banker_carry_shift(30, 2), 8);    // 7, frac 2 == half, 7 odd -> 8
  EXPECT_EQ(k210_banker_carry_shift(-15, 1), -8);  // -8, frac 1 == half, -8 even -> -8
  EXPECT_EQ(k210_banker_carry_shift(-5, 2), -3);   // -2, frac 3 > half 2 -> -2 + sign(-1)
  EXPECT_EQ(k210_banker_carry_shift(3, 2), 1);     // 0, frac 3 > half 2 -> 1
}

// seg0: bias 9. seg1: from 10, y = (bn-10)*3 >> 2 + 100. seg2: from 20, y = (bn-20)*-5 >> 1 + 200.
// seg3: from 1000, y = bn - 1000 + 250. Segments 4-15 unreachable.
format::KpuActivationTable option_table() {
  format::KpuActivationTable t{};
  t[0] = {kMinStart, 0, 0, 9};
  t[1] = {10, 3, 2, 100};
  t[2] = {20, -5, 1, 200};
  t[3] = {1000, 1, 0, 250};
  for (std::size_t i = 4; i < 16; ++i) t[i].x_start = (std::int64_t{1} << 35) - 1;
  return t;
}

TEST(K210Arithmetic, ActivationSegmentsRoundingAndClamp) {
  const auto t = option_table();
  using S = SegmentSelection;
  using R = ActivationRounding;
  // bn == x_start of seg1: strict picks seg0 (9); <= picks seg1 (0*3 >> 2 + 100 = 100).
  EXPECT_EQ(k210_activation(10, t, S::kStartStrictlyLess, R::kNn02Banker), 9);
  EXPECT_EQ(k210_activation(10, t, S::kStartLessOrEqual, R::kNn02Banker), 100);
  // bn 16: 6*3 = 18, /4 = 4.5: SDK 5 -> 105, banker 4 (to even) -> 104.
  EXPECT_EQ(k210_activation(16, t, S::kStartStrictlyLess, R::kSdkCarryShift), 105);
  EXPECT_EQ(k210_activation(16, t, S::kStartStrictlyLess, R::kNn02Banker), 104);
  // bn 20: strict -> seg1: 10*3 = 30, 7.5 -> 8 in both -> 108; <= -> seg2: 0 -> 200.
  EXPECT_EQ(k210_activation(20, t, S::kStartStrictlyLess, R::kSdkCarryShift), 108);
  EXPECT_EQ(k210_activation(20, t, S::kStartStrictlyLess, R::kNn02Banker), 108);
  EXPECT_EQ(k210_activation(20, t, S::kStartLessOrEqual, R::kNn02Banker), 200);
  // bn 23 (seg2): 3*-5 = -15, shift 1: SDK -9 -> 191, banker -8 -> 192.
  EXPECT_EQ(k210_activation(23, t, S::kStartStrictlyLess, R::kSdkCarryShift), 191);
  EXPECT_EQ(k210_activation(23, t, S::kStartStrictlyLess, R::kNn02Banker), 192);
  // bn 999 (seg2): 979*-5 = -4895 >> 1 ~ -2448 + 200 < 0 -> clamped to 0.
  EXPECT_EQ(k210_activation(999, t, S::kStartStrictlyLess, R::kNn02Banker), 0);
  // bn 1010 (seg3): 10 + 250 = 260 -> clamped to 255.
  EXPECT_EQ(k210_activation(1010, t, S::kStartStrictlyLess, R::kNn02Banker), 255);
  // Below every start but segment 0's: segment 0.
  EXPECT_EQ(k210_activation(-5, t, S::kStartLessOrEqual, R::kSdkCarryShift), 9);
}

// ---- whole layers -------------------------------------------------------------------------------

// 1x1 conv, 4x4 map, 2 -> 1 channels, input at row 0, output at row 100, DMA to main at 8.
// Input ch0 = v = 4y + x (0..15), ch1 = 2. Weights w0 = 3, w1 = 5. arg_x = -3 (shr_x 1),
// arg_w = 7 (shr_w 2), arg_add = 10 (x g_ic = 2):
//   value = 3v + 10, Σx = v + 2, Σw = 8 -> (7*8) >> 2 = 14, arg_add*2 = 20
//   acc = 3v + 10 + floor(-3(v+2)/2) + 14 + 20
//     v=0: 44 - 3 = 41; v=1: 47 + floor(-4.5) = 42; v=2: 50 - 6 = 44; v=3: 53 + floor(-7.5) = 45
//     v=15: 89 + floor(-25.5) = 63
// BN mul 3, shift 1, add -20: bn = floor(3*acc/2) - 20: v=0: 61 - 20 = 41; v=1: 63 - 20 = 43;
//   v=2: 66 - 20 = 46; v=3: floor(67.5) - 20 = 47; v=15: floor(94.5) - 20 = 74.
// Activation: identity (y = bn).
format::Layer one_by_one_layer(const format::KpuActivationTable& act) {
  format::KpuLayerFields f = spec_conv_fields(4, 4, 2, 1, 1, 0, 0, 100);
  f.arg_x = -3;
  f.shr_x = 1;
  f.arg_w = 7;
  f.shr_w = 2;
  f.arg_add = 10;
  return spec_conv_layer(f, {3, 5}, {{3, -20, 1}}, act, true, 8);
}

void put_one_by_one_input(std::vector<std::uint8_t>& kpu) {
  for (std::uint32_t y = 0; y < 4; ++y)
    for (std::uint32_t x = 0; x < 4; ++x) {
      kpu[spec_pixel(0, 4, 4, 0, y, x)] = static_cast<std::uint8_t>(4 * y + x);
      kpu[spec_pixel(0, 4, 4, 1, y, x)] = 2;
    }
}

TEST(K210Conv, OneByOneWithArgTermsAndBatchNorm) {
  K210Fixture fx(one_by_one_layer(identity_activation()), 64);
  put_one_by_one_input(fx.kpu);
  EMC_ASSERT_OK(fx.run());
  const std::vector<std::uint8_t> expected = {41, 43, 46, 47, 50, 52, 55, 56,
                                              59, 61, 64, 65, 68, 70, 73, 74};
  // v: acc (3v + 44 + floor(-3(v+2)/2)) -> bn (floor(3acc/2) - 20):
  //  0: 41 -> 41   1: 42 -> 43   2: 44 -> 46   3: 45 -> 47   4: 47 -> 50   5: 48 -> 52
  //  6: 50 -> 55   7: 51 -> 56   8: 53 -> 59   9: 54 -> 61  10: 56 -> 64  11: 57 -> 65
  // 12: 59 -> 68  13: 60 -> 70  14: 62 -> 73  15: 63 -> 74
  for (std::uint32_t v = 0; v < 16; ++v) {
    const std::uint32_t y = v / 4, x = v % 4;
    EXPECT_EQ(fx.kpu[spec_pixel(100, 4, 4, 0, y, x)], expected[v]) << "KPU pixel v=" << v;
    EXPECT_EQ(fx.main[8 + v], expected[v]) << "DMA byte v=" << v;
  }
  // Row bytes past the 4-pixel lines and main memory around the DMA output are untouched.
  EXPECT_EQ(fx.kpu[100 * 64 + 4], kUntouched);
  EXPECT_EQ(fx.kpu[100 * 64 + 63], kUntouched);
  EXPECT_EQ(fx.main[7], kUntouched);
  EXPECT_EQ(fx.main[24], kUntouched);
}

TEST(K210Conv, ActivationOptionsReachTheKernel) {
  // Identity BN/act replaced by seg1 from 0 with y = bn >> 1 rounded: v=0 has bn 41 -> 20.5:
  // SDK carry shift -> 21, banker -> 20 (20 is even). v=1: bn 43 -> 21.5: SDK 22, banker 22.
  format::KpuActivationTable t = identity_activation();
  t[1].shift_number = 1;
  K210Fixture sdk(one_by_one_layer(t), 64), banker(one_by_one_layer(t), 64);
  put_one_by_one_input(sdk.kpu);
  put_one_by_one_input(banker.kpu);
  CpuBackendOptions o;
  o.k210_rounding = ActivationRounding::kSdkCarryShift;
  EMC_ASSERT_OK(sdk.run(o));
  EMC_ASSERT_OK(banker.run());  // default: banker, as kpu-sim
  EXPECT_EQ(sdk.main[8], 21);
  EXPECT_EQ(banker.main[8], 20);
  EXPECT_EQ(sdk.main[9], 22);
  EXPECT_EQ(banker.main[9], 22);
}

TEST(K210Conv, ThreeByThreeReadsPadValueOutsideTheMap) {
  // 4x4x1 input of ones, pad_value 7, all nine weights 1, no arg terms, identity BN/act:
  //   corner: 4 real taps + 5 pad taps = 4 + 35 = 39; edge: 6 + 3*7 = 27; interior: 9.
  format::KpuLayerFields f = spec_conv_fields(4, 4, 1, 1, 3, 0, 10, 20);
  f.pad_value = 7;
  K210Fixture fx(spec_conv_layer(f, std::vector<std::uint8_t>(9, 1), {{1, 0, 0}},
                                 identity_activation(), false, 0),
                 16);
  for (std::uint32_t y = 0; y < 4; ++y)
    for (std::uint32_t x = 0; x < 4; ++x) fx.kpu[spec_pixel(10, 4, 4, 0, y, x)] = 1;
  EMC_ASSERT_OK(fx.run());
  const std::uint8_t want[4][4] = {
      {39, 27, 27, 39}, {27, 9, 9, 27}, {27, 9, 9, 27}, {39, 27, 27, 39}};
  for (std::uint32_t y = 0; y < 4; ++y)
    for (std::uint32_t x = 0; x < 4; ++x)
      EXPECT_EQ(fx.kpu[spec_pixel(20, 4, 4, 0, y, x)], want[y][x]) << y << "," << x;
  // No DMA flag: main memory untouched.
  for (std::uint8_t b : fx.main) EXPECT_EQ(b, kUntouched);
}

TEST(K210Conv, DepthwiseSixteenBitWeights) {
  // Depthwise 3x3, 2 channels, 4x4, pad 0, 16-bit LE weights.
  //   ch0: centre weight 256 (bytes 00 01), others 0; input 3 everywhere -> value 768; Σw = 256.
  //   ch1: all nine weights 1; input 2 -> value = 2 x (taps inside the map): corner 8, edge 12,
  //        interior 18; Σw = 9.
  // arg_w = 1 (shr_w 0) adds Σw, arg_add = 5 is multiplied by g_ic = 1 (depthwise):
  //   ch0 acc = 768 + 256 + 5 = 1029; BN shift 8: floor(1029/256) = 4.
  //   ch1 acc = value + 9 + 5: corner 22, edge 26, interior 32; BN identity.
  format::KpuLayerFields f = spec_conv_fields(4, 4, 2, 2, 3, 0, 0, 50);
  f.depth_wise_layer = 1;
  f.arg_w = 1;
  f.arg_add = 5;
  std::vector<std::uint8_t> w(2 * 9 * 2, 0);
  w[2 * 4 + 1] = 1;  // ch0 tap 4 (centre) = 0x0100
  for (int t = 0; t < 9; ++t) w[2 * (9 + t)] = 1;
  K210Fixture fx(spec_conv_layer(f, w, {{1, 0, 8}, {1, 0, 0}}, identity_activation(), true, 0), 32,
                 /*eight_bit=*/false);
  for (std::uint32_t y = 0; y < 4; ++y)
    for (std::uint32_t x = 0; x < 4; ++x) {
      fx.kpu[spec_pixel(0, 4, 4, 0, y, x)] = 3;
      fx.kpu[spec_pixel(0, 4, 4, 1, y, x)] = 2;
    }
  EMC_ASSERT_OK(fx.run());
  const std::uint8_t ch1[4][4] = {
      {22, 26, 26, 22}, {26, 32, 32, 26}, {26, 32, 32, 26}, {22, 26, 26, 22}};
  for (std::uint32_t y = 0; y < 4; ++y)
    for (std::uint32_t x = 0; x < 4; ++x) {
      EXPECT_EQ(fx.main[y * 4 + x], 4) << y << "," << x;
      EXPECT_EQ(fx.main[16 + y * 4 + x], ch1[y][x]) << y << "," << x;
      EXPECT_EQ(fx.kpu[spec_pixel(50, 4, 4, 1, y, x)], ch1[y][x]);
    }
}

// An identity 1x1 conv (weight 1, BN and activation identity) on v = 4y + x, with a pool stage.
std::vector<std::uint8_t> pooled(int pool) {
  format::KpuLayerFields f = spec_conv_fields(4, 4, 1, 1, 1, pool, 0, 40);
  K210Fixture fx(spec_conv_layer(f, {1}, {{1, 0, 0}}, identity_activation(), true, 0), 16);
  for (std::uint32_t v = 0; v < 16; ++v)
    fx.kpu[spec_pixel(0, 4, 4, 0, v / 4, v % 4)] = static_cast<std::uint8_t>(v);
  const Status st = fx.run();
  EXPECT_TRUE(st.ok()) << st.error().to_string();
  const std::uint32_t n = spec_pool_size(4, pool);
  for (std::uint32_t y = 0; y < n; ++y)
    for (std::uint32_t x = 0; x < n; ++x)
      EXPECT_EQ(fx.kpu[spec_pixel(40, n, n, 0, y, x)], fx.main[y * n + x]);
  return {fx.main.begin(), fx.main.begin() + n * n};
}

TEST(K210Conv, EveryPoolTypeOnAFourByFourMap) {
  // Map:  0  1  2  3 /  4  5  6  7 /  8  9 10 11 / 12 13 14 15
  using V = std::vector<std::uint8_t>;
  EXPECT_EQ(pooled(0), V({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}));
  EXPECT_EQ(pooled(1), V({5, 7, 13, 15}));  // max of each 2x2 block
  EXPECT_EQ(pooled(2), V({2, 4, 10, 12}));  // 10/4, 18/4, 42/4, 50/4 floored
  EXPECT_EQ(pooled(3), V({15}));            // max of all
  EXPECT_EQ(pooled(4), V({7}));             // 120/16 = 7.5 floored
  EXPECT_EQ(pooled(5), V({0, 2, 8, 10}));   // left-top of each 2x2
  EXPECT_EQ(pooled(6), V({1, 3, 9, 11}));   // right-top of each 2x2
  EXPECT_EQ(pooled(7), V({0}));             // left-top of the 4x4
  // Mean 2x2 stride 1, coordinates clamped: (0,0) 0+1+4+5 = 10 -> 2; (0,3) 3+3+7+7 = 20 -> 5;
  // (1,1) 5+6+9+10 = 30 -> 7; (3,0) 12+13+12+13 = 50 -> 12; (3,3) 60 -> 15; (2,3) 11+11+15+15 =
  // 52 -> 13; row 0: 2, 3, 4, 5 (10, 14, 18, 20 / 4).
  EXPECT_EQ(pooled(8), V({2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 12, 13, 14, 15}));
  // Max 2x2 stride 1, out-of-range taps 0: (0,3) max(3, 7) = 7; (3,0) max(12, 13) = 13.
  EXPECT_EQ(pooled(9), V({5, 6, 7, 7, 9, 10, 11, 11, 13, 14, 15, 15, 13, 14, 15, 15}));
}

TEST(K210Conv, AccumulatorsMatchTheHandDerivation) {
  K210Fixture fx(one_by_one_layer(identity_activation()), 64);
  put_one_by_one_input(fx.kpu);
  const auto& body = std::get<format::ConvBody>(fx.model.layers[0].body);
  auto acc = k210_conv_accumulators(body, true, fx.kpu);
  ASSERT_TRUE(acc.ok()) << acc.error().to_string();
  ASSERT_EQ(acc->size(), 16u);
  EXPECT_EQ((*acc)[0], 41);
  EXPECT_EQ((*acc)[1], 42);
  EXPECT_EQ((*acc)[3], 45);
  EXPECT_EQ((*acc)[15], 63);
}

// ---- copy layers --------------------------------------------------------------------------------

TEST(K210Transfer, UploadWritesTheRowLayoutOfItsWidth) {
  // 20x2x3 (W 20: 2 channels per row at 32-byte pitch, one row per line, 2 rows per group).
  // Input CHW value = 40c + 20y + x at main offset 4; KPU row 5.
  format::UploadBody b;
  b.main_mem_in_address = 4;
  b.kpu_mem_out_address = 5;
  b.width = 20;
  b.height = 2;
  b.channels = 3;
  format::Layer layer;
  layer.type = format::LayerType::kK210Upload;
  layer.body = b;
  K210Fixture fx(layer, 4 + 120);
  for (int i = 0; i < 120; ++i) fx.main[4 + i] = static_cast<std::uint8_t>(i);
  EMC_ASSERT_OK(fx.run());
  const std::size_t base = 5 * 64;
  EXPECT_EQ(fx.kpu[base + 0], 0);                  // c0 y0 x0
  EXPECT_EQ(fx.kpu[base + 19], 19);                // c0 y0 x19
  EXPECT_EQ(fx.kpu[base + 20], kUntouched);        // past the line in c0's slot
  EXPECT_EQ(fx.kpu[base + 32 + 64 + 5], 65);       // c1 y1 x5 = 40 + 20 + 5
  EXPECT_EQ(fx.kpu[base + 128 + 64 + 19], 119);    // c2 (group 1, 2 rows on) y1 x19 = 80+20+19
  EXPECT_EQ(fx.kpu[base + 128 + 32], kUntouched);  // no channel 3
}

TEST(K210Transfer, AddPaddingWritesPixelZeroOfFourByFourMaps) {
  // Channel c -> byte (c/4)*256 + (c%4)*16 from row 3.
  format::AddPaddingBody b;
  b.main_mem_in_address = 2;
  b.kpu_mem_out_address = 3;
  b.channels = 6;
  format::Layer layer;
  layer.type = format::LayerType::kK210AddPadding;
  layer.body = b;
  K210Fixture fx(layer, 8);
  for (int c = 0; c < 6; ++c) fx.main[2 + c] = static_cast<std::uint8_t>(10 + c);
  EMC_ASSERT_OK(fx.run());
  const std::size_t base = 3 * 64;
  EXPECT_EQ(fx.kpu[base + 0], 10);
  EXPECT_EQ(fx.kpu[base + 16], 11);
  EXPECT_EQ(fx.kpu[base + 48], 13);
  EXPECT_EQ(fx.kpu[base + 256], 14);
  EXPECT_EQ(fx.kpu[base + 272], 15);
  EXPECT_EQ(fx.kpu[base + 1], kUntouched);
  EXPECT_EQ(fx.kpu[base + 64], kUntouched);  // other pixels of channel 0 are not written
}

TEST(K210Transfer, RemovePaddingTakesEverySixteenthByte) {
  format::RemovePaddingBody b;
  b.main_mem_in_address = 0;
  b.main_mem_out_address = 40;
  b.channels = 3;
  format::Layer layer;
  layer.type = format::LayerType::kK210RemovePadding;
  layer.body = b;
  K210Fixture fx(layer, 48);
  for (int i = 0; i < 40; ++i) fx.main[i] = static_cast<std::uint8_t>(100 + i);
  EMC_ASSERT_OK(fx.run());
  EXPECT_EQ(fx.main[40], 100);
  EXPECT_EQ(fx.main[41], 116);
  EXPECT_EQ(fx.main[42], 132);
  EXPECT_EQ(fx.main[43], kUntouched);
}

}  // namespace
}  // namespace emc::cpu_backend::testing
