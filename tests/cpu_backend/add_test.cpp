// ADD and QUANTIZED_ADD. Expected values are worked out by hand in the comments; the random
// cross-check re-implements the formula of kmodel_v3.md §7 / kpu.c independently.
#include <random>

#include "cpu_backend/cpu_test_util.h"

namespace emc::cpu_backend::testing {
namespace {

using format::LayerType;

TEST(CpuAdd, AddsFloatsAtUnalignedAddresses) {
  Mem mem(64);
  mem.put_f32(1, {1.5f, -2.f, 0.25f});
  mem.put_f32(17, {2.5f, 0.5f, 0.125f});
  format::AddBody body{0, 1, 17, 33, 3};
  auto layer = make_layer(LayerType::kAdd, body);
  EMC_ASSERT_OK(prepare_and_run(layer, mem));
  // 1.5+2.5 = 4; -2+0.5 = -1.5; 0.25+0.125 = 0.375 (all exact in float)
  EXPECT_EQ(mem.f32(33, 3), (std::vector<float>{4.f, -1.5f, 0.375f}));
  EXPECT_EQ(mem.u8(45, 1)[0], kFill);  // nothing written past count
  auto prepared = prepare(layer, mem.size());
  ASSERT_TRUE(prepared.ok());
  EXPECT_EQ(prepared.value()->output_range(), (format::MemRange{33, 12}));
}

format::QuantizedAddBody qadd(std::uint32_t count) {
  format::QuantizedAddBody b;
  b.main_mem_in_a_address = 0;
  b.main_mem_in_b_address = 16;
  b.main_mem_out_address = 32;
  b.count = count;
  b.in_a_mul = b.in_b_mul = b.out_mul = 1;
  return b;
}

// Same-shift branch: v = ((a + off_a)*mul_a + (b + off_b)*mul_b) >> sh_a, then
// carry_shift(v*mul_o, sh_o) + off_o, clamp 0..255. Here off_a = -10, b = 0, all muls 1,
// shifts 0 except sh_o = 1, off_o = 10, so out = carry_shift(a - 10, 1) + 10.
// kpu_carry_shift(v, 1): v >>= 0; if v odd: v<0 ? (v>>1)-1 : (v>>1)+1; else v>>1.
TEST(CpuQuantizedAdd, SameShiftBranchRoundsLikeKpuCarryShift) {
  Mem mem(48);
  mem.put_u8(0, {13, 14, 15, 5, 6, 7, 9, 10});
  mem.put_u8(16, {0, 0, 0, 0, 0, 0, 0, 0});
  auto body = qadd(8);
  body.in_a_offset = -10;
  body.out_shift = 1;
  body.out_offset = 10;
  EMC_ASSERT_OK(prepare_and_run(make_layer(LayerType::kQuantizedAdd, body), mem));
  // a=13: v=3 (1.5): odd, positive -> (3>>1)+1 = 2      -> 12
  // a=14: v=4 (2.0): even -> 2                          -> 12
  // a=15: v=5 (2.5): odd -> (5>>1)+1 = 3 (half up)      -> 13
  // a=5:  v=-5 (-2.5): odd, negative -> (-5>>1)-1 = -3-1 = -4 -> 6
  //       (the SDK's arithmetic shift floors, so this is NOT round-half-away, which gives -3)
  // a=6:  v=-4 (-2.0): even -> -2                       -> 8
  // a=7:  v=-3 (-1.5): odd -> (-3>>1)-1 = -2-1 = -3     -> 7
  // a=9:  v=-1 (-0.5): odd -> (-1>>1)-1 = -1-1 = -2     -> 8
  // a=10: v=0                                           -> 10
  EXPECT_EQ(mem.u8(32, 8), (std::vector<std::uint8_t>{12, 12, 13, 6, 8, 7, 8, 10}));
}

TEST(CpuQuantizedAdd, DifferentShiftBranchShiftsEachInputFirst) {
  Mem mem(48);
  mem.put_u8(0, {3, 1, 0});
  mem.put_u8(16, {0, 4, 0});
  auto body = qadd(3);
  body.in_a_mul = 3;
  body.in_a_shift = 1;
  body.in_b_offset = -1;
  body.in_b_mul = 5;
  body.in_b_shift = 2;
  body.out_mul = 7;
  body.out_shift = 2;
  body.out_offset = 6;
  EMC_ASSERT_OK(prepare_and_run(make_layer(LayerType::kQuantizedAdd, body), mem));
  // e0: (3*3)>>1 = 4; ((0-1)*5)>>2 = -5>>2 = -2; v = 2; 2*7 = 14;
  //     carry_shift(14, 2): 14>>1 = 7 odd -> (7>>1)+1 = 4; +6 -> 10
  // e1: (1*3)>>1 = 1; ((4-1)*5)>>2 = 15>>2 = 3; v = 4; 28; 28>>1 = 14 even -> 7; +6 -> 13
  // e2: 0; -2; v = -2; -14; -14>>1 = -7 odd -> (-7>>1)-1 = -4-1 = -5; +6 -> 1
  // (Had the same-shift formula been used, e0 would be (9 + -5)>>1 = 2 -> 14 -> 4+6 = 10 too,
  //  but e1 would be (3 + 15)>>1 = 9 -> 63 -> carry_shift(63,2) = 16 -> 22.)
  EXPECT_EQ(mem.u8(32, 3), (std::vector<std::uint8_t>{10, 13, 1}));
}

TEST(CpuQuantizedAdd, ClampsAndWritesExactlyCountBytes) {
  Mem mem(48);
  mem.put_u8(0, {255, 0, 100, 1, 2});
  mem.put_u8(16, {255, 0, 0, 0, 0});
  auto body = qadd(5);  // count 5: the SDK would touch 8 bytes; we write exactly 5
  body.out_offset = -3;
  // v = a + b, no shifts; out = a + b - 3
  EMC_ASSERT_OK(prepare_and_run(make_layer(LayerType::kQuantizedAdd, body), mem));
  // 510-3 = 507 -> 255; 0-3 -> 0; 97; 1-3 -> 0; 2-3 -> 0
  EXPECT_EQ(mem.u8(32, 5), (std::vector<std::uint8_t>{255, 0, 97, 0, 0}));
  EXPECT_EQ(mem.u8(37, 3), (std::vector<std::uint8_t>{kFill, kFill, kFill}));
}

// kpu_carry_shift as written in kmodel_v3.md §6.4 (independent re-implementation).
std::int64_t reference_carry_shift(std::int64_t v, int s) {
  if (s == 0) return v;
  v >>= s - 1;
  if (v & 1) return v < 0 ? (v >> 1) - 1 : (v >> 1) + 1;
  return v >> 1;
}

std::uint8_t reference_qadd(int a, int b, const format::QuantizedAddBody& p) {
  std::int64_t v;
  const std::int64_t sa = (std::int64_t{a} + p.in_a_offset) * p.in_a_mul;
  const std::int64_t sb = (std::int64_t{b} + p.in_b_offset) * p.in_b_mul;
  if (p.in_a_shift == p.in_b_shift) {
    v = (sa + sb) >> p.in_a_shift;
  } else {
    v = (sa >> p.in_a_shift) + (sb >> p.in_b_shift);
  }
  v = reference_carry_shift(v * p.out_mul, p.out_shift) + p.out_offset;
  return static_cast<std::uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

TEST(CpuQuantizedAdd, MatchesSdkFormulaOnRandomParameters) {
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> byte(0, 255), off(-255, 255), mul(-(1 << 20), 1 << 20),
      shift(0, 24), same(0, 1);
  for (int trial = 0; trial < 200; ++trial) {
    const std::uint32_t n = 37;
    Mem mem(3 * 64);
    std::vector<std::uint8_t> a(n), b(n);
    for (auto& x : a) x = static_cast<std::uint8_t>(byte(rng));
    for (auto& x : b) x = static_cast<std::uint8_t>(byte(rng));
    mem.put_u8(0, a);
    mem.put_u8(64, b);
    format::QuantizedAddBody p;
    p.main_mem_in_a_address = 0;
    p.main_mem_in_b_address = 64;
    p.main_mem_out_address = 128;
    p.count = n;
    p.in_a_offset = off(rng);
    p.in_b_offset = off(rng);
    p.in_a_mul = mul(rng);
    p.in_b_mul = mul(rng);
    p.in_a_shift = shift(rng);
    p.in_b_shift = same(rng) ? p.in_a_shift : shift(rng);
    p.out_mul = mul(rng) / 16;
    p.out_shift = shift(rng) + 8;
    p.out_offset = off(rng);
    EMC_ASSERT_OK(prepare_and_run(make_layer(LayerType::kQuantizedAdd, p), mem));
    const auto out = mem.u8(128, n);
    for (std::uint32_t i = 0; i < n; ++i) {
      ASSERT_EQ(out[i], reference_qadd(a[i], b[i], p)) << "trial " << trial << " i " << i;
    }
  }
}

// Parameters with a real-valued meaning: x = q_a/2 - 10, y = q_b/4, z = x + y, q_o = z + 20.
// z = (2*q_a - 40 + q_b)/4, so off_a = -20, mul_a = 2, off_b = 0, mul_b = 1, shifts 0,
// mul_o = 1, sh_o = 2 (divide by 4 with kpu_carry_shift), off_o = 20.
TEST(CpuQuantizedAdd, ComputesRealSumWithScaledParameters) {
  Mem mem(48);
  mem.put_u8(0, {20, 40, 41, 60, 0});
  mem.put_u8(16, {0, 4, 1, 255, 2});
  auto body = qadd(5);
  body.in_a_offset = -20;
  body.in_a_mul = 2;
  body.out_shift = 2;
  body.out_offset = 20;
  EMC_ASSERT_OK(prepare_and_run(make_layer(LayerType::kQuantizedAdd, body), mem));
  // (20,0):  x=0, y=0, z=0 -> 20.           v = 0 -> 0 -> 20
  // (40,4):  x=10, y=1, z=11 -> 31.         v = 44: 44>>1 = 22 even -> 11 -> 31
  // (41,1):  x=10.5, y=0.25, z=10.75 -> 31. v = 43: 43>>1 = 21 odd -> 10+1 = 11 -> 31
  // (60,255): x=20, y=63.75, z=83.75 -> 104. v = 335: 167 odd -> 83+1 = 84 -> 104
  // (0,2):   x=-10, y=0.5, z=-9.5 -> 10.5 would round to 10 or 11, but the SDK gives 9:
  //          v = -38: -38>>1 = -19 odd, negative -> (-19>>1)-1 = -10-1 = -11 -> 9
  EXPECT_EQ(mem.u8(32, 5), (std::vector<std::uint8_t>{20, 31, 31, 104, 9}));
}

}  // namespace
}  // namespace emc::cpu_backend::testing
