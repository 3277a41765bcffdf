// EMC_PRELU_INT8 against values computed by hand from the definition in docs/cpu_target.md
// (d = x - input_zero_point; out = R(d, pos) + output_zero_point for d >= 0, R(d, neg[c]) + ... for
// d < 0; R rounds half away from zero once), and against an exact 128-bit reference over every
// code and random parameters.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "cpu_test_util.h"

namespace emc::cpu_backend::testing {
namespace {

using format::LayerType;

// M = multiplier * 2^(shift - 31): pos 1518500250 * 2^-31 = 0.70710678 (sqrt 1/2); ch0 2^30 *
// 2^-33 = 0.125; ch1 -1288490189 * 2^-34 = -0.0750000000116; ch2 slope 0.
format::EmcPreluInt8Body body() {
  format::EmcPreluInt8Body b;
  b.main_mem_in_address = 0;
  b.main_mem_out_address = 16;
  b.channels = 3;
  b.plane = 4;
  b.input_zero_point = -7;
  b.output_zero_point = 12;
  b.pos_multiplier = 1518500250, b.pos_shift = 0;
  b.neg_multiplier = {1073741824, -1288490189, 0};
  b.neg_shift = {-2, -3, 0};
  return b;
}

std::vector<std::uint8_t> bytes(std::initializer_list<int> v) {
  std::vector<std::uint8_t> out;
  for (int x : v) out.push_back(static_cast<std::uint8_t>(static_cast<std::int8_t>(x)));
  return out;
}

std::vector<std::uint8_t> run(const format::EmcPreluInt8Body& b,
                              const std::vector<std::uint8_t>& in, std::size_t mem_n = 32) {
  Mem mem(mem_n);
  mem.put_u8(b.main_mem_in_address, in);
  const Status s = prepare_and_run(make_layer(LayerType::kEmcPreluInt8, b), mem, {});
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().to_string());
  return mem.u8(b.main_mem_out_address, in.size());
}

TEST(EmcPreluInt8, HandValues) {
  const auto x = bytes({13, -27, -128, 127,   // ch0: d = 20, -20, -121, 134
                        -47, -107, -7, -128,  // ch1: d = -40, -100, 0, -121
                        -100, 100, -8, -6});  // ch2: d = -93, 107, -1, 1
  // ch0: 20*0.7071 = 14.14 -> 14; -20*0.125 = -2.5 -> -3 (half away); -15.125 -> -15;
  //      94.75 -> 95. ch1: -40*-0.075 = 3.0000000005 -> 3; 7.5000000012 -> 8; 0 -> 0; 9.075 -> 9.
  // ch2: slope 0 -> 0; 75.66 -> 76; 0; 0.707 -> 1. Plus the output zero point 12.
  EXPECT_EQ(run(body(), x), bytes({26, 9, -3, 107, 15, 20, 12, 21, 12, 88, 12, 13}));
  // Clamped at 127: with zero point 60, 95 + 60 = 155.
  auto b = body();
  b.output_zero_point = 60;
  EXPECT_EQ(run(b, x)[3], 127);
  // In place (output over the input) gives the same bytes.
  b = body();
  b.main_mem_out_address = 0;
  EXPECT_EQ(run(b, x), bytes({26, 9, -3, 107, 15, 20, 12, 21, 12, 88, 12, 13}));
}

__extension__ typedef __int128 Int128;

// round_half_away(v * m / 2^(31 - s)) with 128-bit integers.
std::int64_t R(std::int64_t v, std::int64_t m, std::int32_t s) {
  const Int128 num = static_cast<Int128>(v) * m, den = Int128{1} << (31 - s);
  const Int128 mag = num < 0 ? -num : num;
  Int128 q = mag / den;
  if (2 * (mag - q * den) >= den) ++q;
  return static_cast<std::int64_t>(num < 0 ? -q : q);
}

TEST(EmcPreluInt8, EveryCodeAgainstExactReference) {
  std::mt19937 g(7);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g); };
  for (int round = 0; round < 50; ++round) {
    format::EmcPreluInt8Body b;
    b.channels = 2;
    b.plane = 256;
    b.main_mem_out_address = 512;
    b.input_zero_point = uni(-128, 127);
    b.output_zero_point = uni(-128, 127);
    b.pos_multiplier = uni(1 << 30, 2147483647);
    b.pos_shift = uni(-8, 2);
    for (int c = 0; c < 2; ++c) {
      const int m = uni(1 << 30, 2147483647);
      b.neg_multiplier.push_back(uni(0, 1) ? m : -m);
      b.neg_shift.push_back(uni(-12, 2));
    }
    std::vector<std::uint8_t> x(512), expect(512);
    for (int i = 0; i < 512; ++i) {
      x[i] = static_cast<std::uint8_t>(i % 256);
      const std::int64_t d = std::int64_t{static_cast<std::int8_t>(x[i])} - b.input_zero_point;
      const int c = i / 256;
      const std::int64_t r =
          d >= 0 ? R(d, b.pos_multiplier, b.pos_shift) : R(d, b.neg_multiplier[c], b.neg_shift[c]);
      expect[i] = static_cast<std::uint8_t>(
          static_cast<std::int8_t>(std::clamp<std::int64_t>(r + b.output_zero_point, -128, 127)));
    }
    ASSERT_EQ(run(b, x, 1024), expect) << "round " << round;
  }
}

}  // namespace
}  // namespace emc::cpu_backend::testing
