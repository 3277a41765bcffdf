// EMC int8 pools, elementwise, concat, LUT, pad/crop and nearest resize against references written
// here from the definitions in docs/cpu_target.md (not from the kernel code): windows enumerate
// every tap and test it against the input, rescales are exact 128-bit quotients rounded half away
// from zero, resize coordinates come from the TF formulas in double. Exact bytes over randomized
// edge cases, plus hand-computed values.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "cpu_test_util.h"

namespace emc::cpu_backend::testing {
namespace {

using format::LayerType;

__extension__ typedef __int128 Int128;

// round_half_away(num / den), den > 0.
std::int64_t round_div(Int128 num, Int128 den) {
  const Int128 mag = num < 0 ? -num : num;
  Int128 q = mag / den;
  if (2 * (mag - q * den) >= den) ++q;
  return static_cast<std::int64_t>(num < 0 ? -q : q);
}
// R(v, m, s, n) = round_half_away(v * m / (n * 2^(31 - s))).
std::int64_t R(std::int64_t v, std::int32_t m, std::int32_t s, std::int64_t n = 1) {
  return round_div(static_cast<Int128>(v) * m, static_cast<Int128>(n) << (31 - s));
}
std::uint8_t code(std::int64_t v, std::int32_t lo = -128, std::int32_t hi = 127) {
  return static_cast<std::uint8_t>(static_cast<std::int8_t>(std::clamp<std::int64_t>(v, lo, hi)));
}
std::int32_t sv(std::uint8_t b) {
  return static_cast<std::int8_t>(b);
}

struct Rng {
  std::mt19937 g;
  int uni(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g); }
  std::vector<std::uint8_t> bytes(std::size_t n, int variant = 0) {
    std::vector<std::uint8_t> v(n);
    for (auto& x : v) {
      x = static_cast<std::uint8_t>(variant == 1 ? (uni(0, 1) ? 0x80 : 0x7F) : uni(0, 255));
    }
    return v;
  }
  // A multiplier: the limits, the identity's 2^30, or a random Q31 mantissa.
  std::int32_t mult() {
    switch (uni(0, 5)) {
      case 0:
        return uni(0, 3);
      case 1:
        return 2147483647;
      case 2:
        return 1 << 30;
      default:
        return uni(1 << 30, 2147483647);
    }
  }
};

// Runs `layer` on a memory holding `inputs` (address, bytes) and returns the `out_n` bytes at
// `out_at` for both ISAs (they must agree), checking nothing past the output was written.
std::vector<std::uint8_t> run(
    const format::Layer& layer,
    const std::vector<std::pair<std::size_t, std::vector<std::uint8_t>>>& in, std::size_t out_at,
    std::size_t out_n, std::size_t mem_n) {
  std::vector<std::uint8_t> got[2];
  for (int isa = 0; isa < 2; ++isa) {
    CpuBackendOptions opt;
    opt.emc_isa = isa == 0 ? EmcKernelIsa::kScalar : EmcKernelIsa::kBest;
    Mem mem(mem_n + 3);
    for (const auto& [at, bytes] : in) mem.put_u8(at, bytes);
    const Status s = prepare_and_run(layer, mem, opt);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().to_string());
    got[isa] = mem.u8(out_at, out_n);
    if (out_at + out_n >= mem_n) {
      EXPECT_EQ(mem.u8(mem_n, 3), std::vector<std::uint8_t>(3, kFill));
    }
  }
  EXPECT_EQ(got[0], got[1]);
  return got[0];
}

// ---- pools ------------------------------------------------------------------------------------

std::vector<std::uint8_t> ref_pool(const format::EmcPool2dInt8Body& b, bool average,
                                   const std::vector<std::uint8_t>& x) {
  std::vector<std::uint8_t> out;
  for (std::uint32_t c = 0; c < b.channels; ++c) {
    for (std::uint32_t oy = 0; oy < b.out_height; ++oy) {
      for (std::uint32_t ox = 0; ox < b.out_width; ++ox) {
        std::int64_t sum = 0, n = 0, mx = -1000;
        for (std::uint32_t ky = 0; ky < b.kernel_height; ++ky) {
          for (std::uint32_t kx = 0; kx < b.kernel_width; ++kx) {
            const long y = long(oy * b.stride_height) - long(b.pad_top) + long(ky);
            const long xx = long(ox * b.stride_width) - long(b.pad_left) + long(kx);
            if (y < 0 || xx < 0 || y >= long(b.in_height) || xx >= long(b.in_width)) continue;
            const std::int64_t q =
                sv(x[(c * b.in_height + y) * b.in_width + xx]) - b.input_zero_point;
            sum += q;
            mx = std::max(mx, q);
            ++n;
          }
        }
        EXPECT_GT(n, 0);
        const std::int64_t r =
            average ? R(sum, b.multiplier, b.shift, n) : R(mx, b.multiplier, b.shift);
        out.push_back(code(r + b.output_zero_point, b.act_min, b.act_max));
      }
    }
  }
  return out;
}

format::EmcPool2dInt8Body random_pool(Rng& r, int variant) {
  format::EmcPool2dInt8Body b;
  b.kernel_width = r.uni(1, 7), b.kernel_height = r.uni(1, 7);
  b.stride_width = r.uni(1, 3), b.stride_height = r.uni(1, 3);
  b.pad_left = r.uni(0, b.kernel_width - 1), b.pad_right = r.uni(0, b.kernel_width - 1);
  b.pad_top = r.uni(0, b.kernel_height - 1), b.pad_bottom = r.uni(0, b.kernel_height - 1);
  b.in_width = std::max<int>(r.uni(1, 13), int(b.kernel_width) - int(b.pad_left + b.pad_right));
  b.in_height = std::max<int>(r.uni(1, 13), int(b.kernel_height) - int(b.pad_top + b.pad_bottom));
  if (variant == 3) {  // global pooling: the kernel is the map
    b.in_width = r.uni(1, 19), b.in_height = r.uni(1, 19);
    b.kernel_width = b.in_width, b.kernel_height = b.in_height;
    b.pad_left = b.pad_right = b.pad_top = b.pad_bottom = 0;
    b.stride_width = b.stride_height = 1;
  }
  b.out_width = (b.in_width + b.pad_left + b.pad_right - b.kernel_width) / b.stride_width + 1;
  b.out_height = (b.in_height + b.pad_top + b.pad_bottom - b.kernel_height) / b.stride_height + 1;
  b.channels = r.uni(1, 20);
  b.input_zero_point = variant == 1 ? (r.uni(0, 1) ? 127 : -128) : r.uni(-128, 127);
  b.output_zero_point = r.uni(-128, 127);
  if (variant == 0) {  // the identity requantization, as for Keras pools with one scale
    b.multiplier = 1 << 30, b.shift = 1, b.output_zero_point = b.input_zero_point;
  } else {
    b.multiplier = r.mult();
    b.shift = variant == 2 ? (r.uni(0, 1) ? -31 : 30) : r.uni(-2, 3);
  }
  b.act_min = r.uni(-128, 0), b.act_max = r.uni(0, 127);
  if (variant == 0) b.act_min = -128, b.act_max = 127;
  b.main_mem_in_address = r.uni(0, 7);
  b.main_mem_out_address =
      b.main_mem_in_address + b.in_width * b.in_height * b.channels + r.uni(0, 5);
  return b;
}

TEST(EmcPoolInt8, RandomizedAgainstSpecReference) {
  Rng r{std::mt19937(1205)};
  int unsaturated = 0, ties = 0;
  for (int i = 0; i < 400; ++i) {
    const bool average = i % 2 == 1;
    const auto b = random_pool(r, (i / 2) % 4);
    const auto x = r.bytes(std::size_t{b.in_width} * b.in_height * b.channels, i % 7 == 6);
    const std::size_t out_n = std::size_t{b.out_width} * b.out_height * b.channels;
    const auto expect = ref_pool(b, average, x);
    const auto layer =
        make_layer(average ? LayerType::kEmcAveragePool2dInt8 : LayerType::kEmcMaxPool2dInt8, b);
    ASSERT_EQ(run(layer, {{b.main_mem_in_address, x}}, b.main_mem_out_address, out_n,
                  b.main_mem_out_address + out_n),
              expect)
        << "case " << i;
    for (std::uint8_t v : expect) unsaturated += sv(v) != b.act_min && sv(v) != b.act_max;
    ties += average && b.multiplier == (1 << 30) && b.shift == 1;
  }
  EXPECT_GT(unsaturated, 20000);
  EXPECT_GT(ties, 40);
}

TEST(EmcPoolInt8, HandComputed) {
  // 2x2 map [1 2; 3 4], zp 0, identity M, 2x2 kernel, stride 1, pad right 1 bottom 1 (Keras
  // 'same'): average over the valid taps only: 10/4 = 2.5 -> 3, (2+4)/2 = 3, (3+4)/2 = 3.5 -> 4,
  // 4. Max: 4 4 4 4. With every value -100 and zp 0 the max is -100: padding is no tap.
  format::EmcPool2dInt8Body b;
  b.in_width = b.in_height = 2, b.channels = 1, b.out_width = b.out_height = 2;
  b.kernel_width = b.kernel_height = 2, b.stride_width = b.stride_height = 1;
  b.pad_right = b.pad_bottom = 1;
  b.main_mem_out_address = 4;
  EXPECT_EQ(run(make_layer(LayerType::kEmcAveragePool2dInt8, b), {{0, {1, 2, 3, 4}}}, 4, 4, 8),
            (std::vector<std::uint8_t>{3, 3, 4, 4}));
  EXPECT_EQ(run(make_layer(LayerType::kEmcMaxPool2dInt8, b), {{0, {1, 2, 3, 4}}}, 4, 4, 8),
            (std::vector<std::uint8_t>{4, 4, 4, 4}));
  const std::uint8_t m100 = static_cast<std::uint8_t>(-100);
  EXPECT_EQ(
      run(make_layer(LayerType::kEmcMaxPool2dInt8, b), {{0, {m100, m100, m100, m100}}}, 4, 4, 8),
      std::vector<std::uint8_t>(4, m100));
  // Negative average -2.5 rounds away from zero to -3; requantized: zp_in 1, x = -1..-4 as
  // (x - 1) = -2, -3, -4, -5: global 2x2 average -3.5, times M = 0.5 (2^30, shift 0) = -1.75 -> -2,
  // + zp_out 10 = 8.
  b.pad_right = b.pad_bottom = 0, b.out_width = b.out_height = 1;
  b.input_zero_point = 1, b.output_zero_point = 10, b.multiplier = 1 << 30, b.shift = 0;
  EXPECT_EQ(run(make_layer(LayerType::kEmcAveragePool2dInt8, b), {{0, {0xFF, 0xFE, 0xFD, 0xFC}}}, 4,
                1, 5),
            (std::vector<std::uint8_t>{8}));
}

// ---- elementwise --------------------------------------------------------------------------------

std::vector<std::uint8_t> ref_elementwise(const format::EmcElementwiseInt8Body& b,
                                          const std::vector<std::uint8_t>& a,
                                          const std::vector<std::uint8_t>& bb) {
  std::vector<std::uint8_t> out;
  for (std::uint32_t c = 0; c < b.channels; ++c) {
    for (std::uint32_t i = 0; i < b.plane; ++i) {
      const std::int64_t qa = sv(a[c * b.plane + i]);
      const std::int64_t qb = sv(b.broadcast == 0   ? bb[c * b.plane + i]
                                 : b.broadcast == 1 ? bb[c]
                                                    : bb[0]);
      std::int64_t acc = 0;
      if (b.op == 2) {
        acc = (qa - b.a_zero_point) * (qb - b.b_zero_point);
      } else {
        const std::int64_t x = R((qa - b.a_zero_point) << b.left_shift, b.a_multiplier, b.a_shift);
        const std::int64_t y = R((qb - b.b_zero_point) << b.left_shift, b.b_multiplier, b.b_shift);
        acc = b.op == 0 ? x + y : b.op == 1 ? x - y : b.op == 3 ? std::max(x, y) : std::min(x, y);
      }
      EXPECT_LT(std::llabs(acc), 2147483648LL);
      out.push_back(
          code(R(acc, b.out_multiplier, b.out_shift) + b.out_zero_point, b.act_min, b.act_max));
    }
  }
  return out;
}

TEST(EmcElementwiseInt8, RandomizedAgainstSpecReference) {
  Rng r{std::mt19937(77)};
  int unsaturated = 0;
  for (int i = 0; i < 500; ++i) {
    format::EmcElementwiseInt8Body b;
    b.op = i % 5;
    b.broadcast = (i / 5) % 3;
    b.channels = r.uni(1, 20);
    b.plane = r.uni(1, 40);
    const int variant = (i / 15) % 3;
    b.a_zero_point = variant == 1 ? -128 : r.uni(-128, 127);
    b.b_zero_point = variant == 1 ? 127 : r.uni(-128, 127);
    b.out_zero_point = r.uni(-128, 127);
    if (b.op == 2) {
      b.left_shift = 0, b.a_multiplier = b.a_shift = b.b_multiplier = b.b_shift = 0;
      b.out_multiplier = r.mult();
      b.out_shift = variant == 2 ? (r.uni(0, 1) ? -31 : 30) : -r.uni(6, 10);
    } else {
      b.left_shift = variant == 2 ? (r.uni(0, 1) ? 0 : 22) : 20;
      b.a_multiplier = r.mult(), b.b_multiplier = r.mult();
      b.a_shift = variant == 2 ? -31 : -r.uni(0, 2);
      b.b_shift = variant == 2 ? 0 : -r.uni(0, 2);
      b.out_multiplier = r.mult();
      b.out_shift = variant == 2 ? (r.uni(0, 1) ? -31 : 30) : -b.left_shift + r.uni(-1, 2);
      b.out_shift = std::clamp(b.out_shift, -31, 30);
    }
    b.act_min = r.uni(-128, 0), b.act_max = r.uni(0, 127);
    const std::size_t n = std::size_t{b.channels} * b.plane;
    const std::size_t nb = b.broadcast == 0 ? n : b.broadcast == 1 ? b.channels : 1;
    b.main_mem_in_a_address = r.uni(0, 3);
    b.main_mem_in_b_address = static_cast<std::uint32_t>(b.main_mem_in_a_address + n + r.uni(0, 3));
    b.main_mem_out_address = static_cast<std::uint32_t>(b.main_mem_in_b_address + nb + r.uni(0, 3));
    const auto a = r.bytes(n, variant == 1), bb = r.bytes(nb, variant == 1);
    const auto expect = ref_elementwise(b, a, bb);
    const auto layer = make_layer(LayerType::kEmcElementwiseInt8, b);
    ASSERT_EQ(run(layer, {{b.main_mem_in_a_address, a}, {b.main_mem_in_b_address, bb}},
                  b.main_mem_out_address, n, b.main_mem_out_address + n),
              expect)
        << "case " << i << " op " << b.op << " broadcast " << b.broadcast;
    for (std::uint8_t v : expect) unsaturated += sv(v) != b.act_min && sv(v) != b.act_max;
    if (b.broadcast == 0) {  // in place over a: the same bytes
      auto in_place = b;
      in_place.main_mem_out_address = in_place.main_mem_in_a_address;
      ASSERT_EQ(run(make_layer(LayerType::kEmcElementwiseInt8, in_place),
                    {{b.main_mem_in_a_address, a}, {b.main_mem_in_b_address, bb}},
                    b.main_mem_in_a_address, n, b.main_mem_out_address + n),
                expect)
          << "in place, case " << i;
    }
  }
  EXPECT_GT(unsaturated, 20000);
}

TEST(EmcElementwiseInt8, HandComputedTfliteAdd) {
  // a: scale 0.5 zp 0, b: scale 0.25 zp 0, out: scale 0.5 zp 0. TFLite ADD: twice_max = 1,
  // a multiplier 0.5 (2^30, shift 0), b 0.25 (2^30, shift -1), out 1 / (2^20 * 0.5) = 2^-19
  // (2^30, shift -18). a = 3 (1.5), b = 2 (0.5): 3 * 2^20 / 2 + 2 * 2^20 / 4 = 2^21 -> 2^21 *
  // 2^-19 = 4 (2.0). a = -3, b = 1: -1572864 + 262144 = -1310720 -> -2.5 -> -3 (away from 0).
  format::EmcElementwiseInt8Body b;
  b.channels = 1, b.plane = 2, b.main_mem_in_b_address = 2, b.main_mem_out_address = 4;
  b.a_multiplier = 1 << 30, b.a_shift = 0, b.b_multiplier = 1 << 30, b.b_shift = -1;
  b.out_multiplier = 1 << 30, b.out_shift = -18;
  const auto l = make_layer(LayerType::kEmcElementwiseInt8, b);
  EXPECT_EQ(run(l, {{0, {3, 0xFD}}, {2, {2, 1}}}, 4, 2, 6),
            (std::vector<std::uint8_t>{4, static_cast<std::uint8_t>(-3)}));
  // mul: (3 - 1) * (5 - (-2)) = 14, M = 0.25 -> 3.5 -> 4, + zp 2 = 6; clamp max 5 -> 5.
  b.op = 2, b.left_shift = 0, b.a_multiplier = b.a_shift = b.b_multiplier = b.b_shift = 0;
  b.a_zero_point = 1, b.b_zero_point = -2, b.out_zero_point = 2, b.out_shift = -1;
  EXPECT_EQ(run(make_layer(LayerType::kEmcElementwiseInt8, b), {{0, {3, 3}}, {2, {5, 5}}}, 4, 2, 6),
            (std::vector<std::uint8_t>{6, 6}));
  b.act_max = 5;
  EXPECT_EQ(run(make_layer(LayerType::kEmcElementwiseInt8, b), {{0, {3, 3}}, {2, {5, 5}}}, 4, 2, 6),
            (std::vector<std::uint8_t>{5, 5}));
}

// ---- concat, LUT
// ----------------------------------------------------------------------------------

TEST(EmcConcatInt8, RandomizedAgainstSpecReference) {
  Rng r{std::mt19937(5)};
  for (int i = 0; i < 200; ++i) {
    format::EmcConcatInt8Body b;
    b.plane = r.uni(1, 30);
    b.output_zero_point = r.uni(-128, 127);
    const int k = r.uni(1, 5);
    std::uint32_t at = r.uni(0, 3), channels = 0;
    std::vector<std::pair<std::size_t, std::vector<std::uint8_t>>> in;
    std::vector<std::uint8_t> expect;
    for (int j = 0; j < k; ++j) {
      format::EmcConcatInput p;
      p.main_mem_address = at;
      p.channels = r.uni(1, 17);
      p.zero_point = r.uni(-128, 127);
      if (r.uni(0, 2) == 0) {
        p.multiplier = 1 << 30, p.shift = 1, p.zero_point = b.output_zero_point;  // identity
      } else {
        p.multiplier = r.mult(), p.shift = i % 9 == 0 ? (r.uni(0, 1) ? -31 : 30) : r.uni(-1, 2);
      }
      const auto x = r.bytes(std::size_t{p.channels} * b.plane, i % 5 == 4);
      for (std::uint8_t q : x) {
        expect.push_back(
            code(R(sv(q) - p.zero_point, p.multiplier, p.shift) + b.output_zero_point));
      }
      in.push_back({at, x});
      at += static_cast<std::uint32_t>(x.size()) + r.uni(0, 3);
      channels += p.channels;
      b.inputs.push_back(p);
    }
    b.main_mem_out_address = at;
    const std::size_t out_n = std::size_t{channels} * b.plane;
    ASSERT_EQ(run(make_layer(LayerType::kEmcConcatInt8, b), in, at, out_n, at + out_n), expect)
        << "case " << i;
    // The first input sitting in its own output slot (the planner's in-place form).
    auto slot = b;
    slot.inputs[0].main_mem_address = at;
    auto in2 = in;
    in2[0].first = at;
    ASSERT_EQ(run(make_layer(LayerType::kEmcConcatInt8, slot), in2, at, out_n, at + out_n), expect)
        << "in slot, case " << i;
  }
}

TEST(EmcLutInt8, TableByInputCode) {
  format::EmcLutInt8Body b;
  for (int i = 0; i < 256; ++i) b.table[i] = static_cast<std::int8_t>((i * 37) % 256 - 128);
  b.count = 256;
  b.main_mem_out_address = 256;
  std::vector<std::uint8_t> x(256), expect(256);
  for (int i = 0; i < 256; ++i) {
    x[i] = static_cast<std::uint8_t>(i);  // the code sv(i)
    expect[i] = static_cast<std::uint8_t>(b.table[sv(x[i]) + 128]);
  }
  EXPECT_EQ(expect[0x80], static_cast<std::uint8_t>(b.table[0]));  // code -128 -> entry 0
  EXPECT_EQ(run(make_layer(LayerType::kEmcLutInt8, b), {{0, x}}, 256, 256, 512), expect);
  b.main_mem_out_address = 0;  // in place
  EXPECT_EQ(run(make_layer(LayerType::kEmcLutInt8, b), {{0, x}}, 0, 256, 512), expect);
}

// ---- pad/crop, resize ---------------------------------------------------------------------------

TEST(EmcPadCropInt8, RandomizedAgainstSpecReference) {
  Rng r{std::mt19937(9)};
  for (int i = 0; i < 300; ++i) {
    format::EmcPadCropInt8Body b;
    b.in_width = r.uni(1, 12), b.in_height = r.uni(1, 12), b.channels = r.uni(1, 5);
    auto side = [&](std::uint32_t in) { return r.uni(-(int(in) - 1), 4); };
    do {
      b.pad_left = side(b.in_width), b.pad_right = side(b.in_width);
    } while (int(b.in_width) + b.pad_left + b.pad_right < 1);
    do {
      b.pad_top = side(b.in_height), b.pad_bottom = side(b.in_height);
    } while (int(b.in_height) + b.pad_top + b.pad_bottom < 1);
    b.out_width = b.in_width + b.pad_left + b.pad_right;
    b.out_height = b.in_height + b.pad_top + b.pad_bottom;
    b.fill = r.uni(-128, 127);
    const std::size_t in_n = std::size_t{b.in_width} * b.in_height * b.channels;
    b.main_mem_out_address = static_cast<std::uint32_t>(in_n + r.uni(0, 3));
    const auto x = r.bytes(in_n);
    std::vector<std::uint8_t> expect;
    for (std::uint32_t c = 0; c < b.channels; ++c) {
      for (std::uint32_t y = 0; y < b.out_height; ++y) {
        for (std::uint32_t xx = 0; xx < b.out_width; ++xx) {
          const long iy = long(y) - b.pad_top, ix = long(xx) - b.pad_left;
          const bool inside = iy >= 0 && ix >= 0 && iy < long(b.in_height) && ix < long(b.in_width);
          expect.push_back(inside ? x[(c * b.in_height + iy) * b.in_width + ix] : code(b.fill));
        }
      }
    }
    ASSERT_EQ(run(make_layer(LayerType::kEmcPadCropInt8, b), {{0, x}}, b.main_mem_out_address,
                  expect.size(), b.main_mem_out_address + expect.size()),
              expect)
        << "case " << i;
  }
}

// TF resize_nearest coordinates, in double (exact for these small integers).
std::uint32_t tf_src(std::uint32_t mode, std::uint32_t o, std::uint32_t in, std::uint32_t out) {
  double v = 0;
  if (mode == 0) v = std::floor(double(o) * in / out);
  if (mode == 1) v = std::floor((o + 0.5) * in / out);
  if (mode == 2) v = out == 1 ? 0 : std::round(double(o) * (in - 1) / (out - 1));
  return std::min<std::uint32_t>(static_cast<std::uint32_t>(v), in - 1);
}

TEST(EmcResizeNearestInt8, RandomizedAgainstTfFormulas) {
  Rng r{std::mt19937(11)};
  for (int i = 0; i < 300; ++i) {
    format::EmcResizeNearestInt8Body b;
    b.mode = i % 3;
    b.in_width = r.uni(1, 9), b.in_height = r.uni(1, 9), b.channels = r.uni(1, 4);
    if (i % 2) {  // integer factors (UpSampling2D)
      b.out_width = b.in_width * r.uni(1, 4), b.out_height = b.in_height * r.uni(1, 4);
    } else {
      b.out_width = r.uni(1, 20), b.out_height = r.uni(1, 20);
    }
    const std::size_t in_n = std::size_t{b.in_width} * b.in_height * b.channels;
    b.main_mem_out_address = static_cast<std::uint32_t>(in_n);
    const auto x = r.bytes(in_n);
    std::vector<std::uint8_t> expect;
    for (std::uint32_t c = 0; c < b.channels; ++c) {
      for (std::uint32_t y = 0; y < b.out_height; ++y) {
        for (std::uint32_t xx = 0; xx < b.out_width; ++xx) {
          const std::uint32_t sy = tf_src(b.mode, y, b.in_height, b.out_height);
          const std::uint32_t sx = tf_src(b.mode, xx, b.in_width, b.out_width);
          expect.push_back(x[(c * b.in_height + sy) * b.in_width + sx]);
        }
      }
    }
    ASSERT_EQ(run(make_layer(LayerType::kEmcResizeNearestInt8, b), {{0, x}}, in_n, expect.size(),
                  in_n + expect.size()),
              expect)
        << "case " << i << " mode " << b.mode;
  }
}

TEST(EmcResizeNearestInt8, UpSampling2DByHand) {
  // Keras UpSampling2D(size=(2, 3)) on a 2x1 map [5 6]: every value repeated 3 wide, 2 high.
  format::EmcResizeNearestInt8Body b;
  b.in_width = 2, b.in_height = 1, b.channels = 1, b.out_width = 6, b.out_height = 2;
  b.main_mem_out_address = 2;
  for (std::uint32_t mode : {0u, 1u}) {
    b.mode = mode;
    EXPECT_EQ(run(make_layer(LayerType::kEmcResizeNearestInt8, b), {{0, {5, 6}}}, 2, 12, 14),
              (std::vector<std::uint8_t>{5, 5, 5, 6, 6, 6, 5, 5, 5, 6, 6, 6}));
  }
  // Downscale 3 -> 2, half pixel: src = floor((o + 0.5) * 1.5) = 0, 2; asymmetric: 0, 1.
  b.in_width = 3, b.out_width = 2, b.out_height = 1, b.main_mem_out_address = 3;
  b.mode = 1;
  EXPECT_EQ(run(make_layer(LayerType::kEmcResizeNearestInt8, b), {{0, {7, 8, 9}}}, 3, 2, 5),
            (std::vector<std::uint8_t>{7, 9}));
  b.mode = 0;
  EXPECT_EQ(run(make_layer(LayerType::kEmcResizeNearestInt8, b), {{0, {7, 8, 9}}}, 3, 2, 5),
            (std::vector<std::uint8_t>{7, 8}));
}

TEST(EmcInt8Ops, PrepareRejectsBadFieldsNamingThem) {
  format::EmcPool2dInt8Body b;
  b.in_width = b.in_height = 2, b.channels = 1, b.out_width = b.out_height = 1;
  b.kernel_width = b.kernel_height = 2, b.stride_width = b.stride_height = 1;
  b.main_mem_out_address = 4;
  EXPECT_TRUE(prepare(make_layer(LayerType::kEmcMaxPool2dInt8, b), 5).ok());
  auto p = prepare(make_layer(LayerType::kEmcMaxPool2dInt8, b), 4);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().to_string().find("main_mem_out_address"), std::string::npos)
      << p.error().to_string();
  b.shift = 31;
  p = prepare(make_layer(LayerType::kEmcMaxPool2dInt8, b), 5);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().to_string().find("shift 31"), std::string::npos) << p.error().to_string();
  EXPECT_NE(p.error().to_string().find("EMC_MAX_POOL2D_INT8"), std::string::npos);
  format::EmcElementwiseInt8Body e;
  e.channels = 1, e.plane = 1, e.op = 9;
  p = prepare(make_layer(LayerType::kEmcElementwiseInt8, e), 16);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().to_string().find("op 9"), std::string::npos) << p.error().to_string();
}

}  // namespace
}  // namespace emc::cpu_backend::testing
