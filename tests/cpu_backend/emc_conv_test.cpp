// EMC int8/float convolutions and int8 quantize/dequantize against a reference written here from
// the spec in docs/cpu_target.md (not from the kernel code): the input is first expanded into a
// padded tensor filled with the zero point, the requantization is done with exact 128-bit
// quotient/remainder. Exact bytes, randomized edge cases, scalar == AVX2.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

#include "cpu_test_util.h"

namespace emc::cpu_backend::testing {
namespace {

using format::EmcConv2dInt8Body;
using format::LayerType;

__extension__ typedef __int128 Int128;

// round_half_away(acc * mult / 2^(31 - shift)) with exact integers, then + zp, clamp.
std::int8_t ref_requant(std::int32_t acc, std::int32_t mult, std::int32_t shift, std::int32_t zp,
                        std::int32_t lo, std::int32_t hi) {
  const Int128 p = static_cast<Int128>(acc) * mult;
  const Int128 d = static_cast<Int128>(1) << (31 - shift);
  const Int128 mag = p < 0 ? -p : p;
  Int128 q = mag / d;
  if (2 * (mag - q * d) >= d) ++q;  // half rounds away from zero
  Int128 v = (p < 0 ? -q : q) + zp;
  if (v < lo) v = lo;
  if (v > hi) v = hi;
  return static_cast<std::int8_t>(v);
}

TEST(EmcRequantize, HandValues) {
  // 3 * 2^30 / 2^31 = 1.5 -> 2; -1.5 -> -2; 5 * 2^30 / 2^32 = 1.25 -> 1; 7 * 2^30 / 2^32 = 1.75.
  EXPECT_EQ(emc_requantize(3, 1 << 30, 0, 0, -128, 127), 2);
  EXPECT_EQ(emc_requantize(-3, 1 << 30, 0, 0, -128, 127), -2);
  EXPECT_EQ(emc_requantize(5, 1 << 30, -1, 0, -128, 127), 1);
  EXPECT_EQ(emc_requantize(7, 1 << 30, -1, 0, -128, 127), 2);
  EXPECT_EQ(emc_requantize(-5, 1 << 30, -1, 10, -128, 127), 9);
  // shift 30: right shift 1: acc * mult / 2; saturates to the clamp.
  EXPECT_EQ(emc_requantize(1000, 1 << 30, 30, 0, -128, 127), 127);
  EXPECT_EQ(emc_requantize(-1000, 1 << 30, 30, 0, -100, 127), -100);
  // shift -31: right shift 62: (2^31 - 1) * (2^31 - 1) / 2^62 = 0.99999... -> 1
  EXPECT_EQ(emc_requantize(2147483647, 2147483647, -31, 0, -128, 127), 1);
  EXPECT_EQ(emc_requantize(-2147483647 - 1, 2147483647, -31, -3, -128, 127), -4);
  EXPECT_EQ(emc_requantize(0, 0, 0, 5, -128, 127), 5);
  for (std::int32_t acc : {-7, -6, -5, -4, -3, 3, 4, 5, 6, 7, 123456, -98765}) {
    for (std::int32_t s : {-31, -20, -3, 0, 5, 30}) {
      EXPECT_EQ(emc_requantize(acc, 1518500250, s, 3, -128, 127),
                ref_requant(acc, 1518500250, s, 3, -128, 127));
    }
  }
}

struct Case {
  EmcConv2dInt8Body b;
  bool depthwise = false;
  std::vector<std::uint8_t> input;
};

std::vector<std::uint8_t> reference(const Case& c) {
  const auto& g = c.b.geo;
  const std::int64_t pw = g.in_width + g.pad_left + g.pad_right;
  const std::int64_t ph = g.in_height + g.pad_top + g.pad_bottom;
  std::vector<std::int32_t> padded(static_cast<std::size_t>(pw * ph * g.in_channels),
                                   c.b.input_zero_point);
  for (std::uint32_t ch = 0; ch < g.in_channels; ++ch) {
    for (std::uint32_t y = 0; y < g.in_height; ++y) {
      for (std::uint32_t x = 0; x < g.in_width; ++x) {
        padded[(ch * ph + y + g.pad_top) * pw + x + g.pad_left] =
            static_cast<std::int8_t>(c.input[(ch * g.in_height + y) * g.in_width + x]);
      }
    }
  }
  std::vector<std::uint8_t> out(std::size_t{g.out_width} * g.out_height * g.out_channels);
  const std::uint32_t kh = g.kernel_height, kw = g.kernel_width;
  for (std::uint32_t o = 0; o < g.out_channels; ++o) {
    for (std::uint32_t oy = 0; oy < g.out_height; ++oy) {
      for (std::uint32_t ox = 0; ox < g.out_width; ++ox) {
        std::int64_t sum = 0;
        const std::uint32_t first = c.depthwise ? o / g.depth_multiplier : 0;
        const std::uint32_t count = c.depthwise ? 1 : g.in_channels;
        for (std::uint32_t i = 0; i < count; ++i) {
          for (std::uint32_t ky = 0; ky < kh; ++ky) {
            for (std::uint32_t kx = 0; kx < kw; ++kx) {
              const std::int64_t y = std::int64_t{oy} * g.stride_height + ky * g.dilation_height;
              const std::int64_t x = std::int64_t{ox} * g.stride_width + kx * g.dilation_width;
              const std::int32_t v = padded[((first + i) * ph + y) * pw + x];
              const std::int32_t w =
                  c.b.weights[((std::size_t{o} * count + i) * kh + ky) * kw + kx];
              sum += std::int64_t{v - c.b.input_zero_point} * w;
            }
          }
        }
        sum += c.b.bias[o];
        EXPECT_LE(std::llabs(sum), 2147483647LL);
        out[(std::size_t{o} * g.out_height + oy) * g.out_width + ox] = static_cast<std::uint8_t>(
            ref_requant(static_cast<std::int32_t>(sum), c.b.multiplier[o], c.b.shift[o],
                        c.b.output_zero_point, c.b.act_min, c.b.act_max));
      }
    }
  }
  return out;
}

Case random_case(std::mt19937& rng, bool depthwise, int variant) {
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  Case c;
  c.depthwise = depthwise;
  auto& g = c.b.geo;
  g.kernel_width = uni(1, 7);
  g.kernel_height = uni(1, 7);
  g.stride_width = uni(1, 3);
  g.stride_height = uni(1, 3);
  g.dilation_width = uni(1, 3);
  g.dilation_height = uni(1, 3);
  if (variant == 5) g.stride_width = uni(1, 5);  // strides 4, 5 leave the VNNI depthwise window
  if (variant == 6 && !depthwise) {  // pointwise: the VNNI kernel packs the planes directly
    g.kernel_width = g.kernel_height = g.stride_width = g.stride_height = 1;
    g.dilation_width = g.dilation_height = 1;
  }
  const std::uint32_t ew = g.dilation_width * (g.kernel_width - 1) + 1;
  const std::uint32_t eh = g.dilation_height * (g.kernel_height - 1) + 1;
  g.pad_left = uni(0, ew - 1);
  g.pad_right = uni(0, ew - 1);
  g.pad_top = uni(0, eh - 1);
  g.pad_bottom = uni(0, eh - 1);
  if (variant == 6) g.pad_left = g.pad_right = g.pad_top = g.pad_bottom = 0;
  const int max_w = variant == 5 ? 70 : 13;  // several 16-output blocks per row, masked tails
  g.in_width = std::max<int>(uni(1, max_w), static_cast<int>(ew) - g.pad_left - g.pad_right);
  if (variant == 5 && !depthwise && uni(0, 1) == 1) {  // whole 16-output rows: VNNI row windows
    const int target = 16 * uni(1, 3);
    g.in_width = std::max<int>(1, (target - 1) * static_cast<int>(g.stride_width) +
                                      static_cast<int>(ew) - g.pad_left - g.pad_right);
  }
  g.in_height = std::max<int>(uni(1, 13), static_cast<int>(eh) - g.pad_top - g.pad_bottom);
  g.in_width = std::max<std::uint32_t>(g.in_width, 1);
  g.in_height = std::max<std::uint32_t>(g.in_height, 1);
  g.out_width = (g.in_width + g.pad_left + g.pad_right - ew) / g.stride_width + 1;
  g.out_height = (g.in_height + g.pad_top + g.pad_bottom - eh) / g.stride_height + 1;
  g.in_channels = variant == 6 ? uni(1, 70) : uni(1, 20);
  g.depth_multiplier = depthwise ? uni(1, 3) : 1;
  g.out_channels = depthwise ? g.in_channels * g.depth_multiplier : uni(1, 21);
  g.main_mem_in_address = uni(0, 5);
  const std::uint64_t in_n = std::uint64_t{g.in_width} * g.in_height * g.in_channels;
  g.main_mem_out_address = static_cast<std::uint32_t>(g.main_mem_in_address + in_n + uni(0, 9));
  c.b.input_zero_point = variant == 1 ? 127 : variant == 2 ? -128 : uni(-128, 127);
  c.b.output_zero_point = uni(-128, 127);
  c.b.act_min = uni(-128, 0);
  c.b.act_max = uni(0, 127);
  if (variant == 3) c.b.act_min = -128, c.b.act_max = 127;
  const std::uint64_t taps =
      std::uint64_t{g.kernel_width} * g.kernel_height * (depthwise ? 1 : g.in_channels);
  c.b.weights.resize(format::emc_conv_weight_count(g, depthwise));
  for (auto& w : c.b.weights) {
    w = static_cast<std::int8_t>(variant == 1 ? (uni(0, 1) ? -128 : 127) : uni(-128, 127));
  }
  c.input.resize(in_n);
  for (auto& x : c.input) x = static_cast<std::uint8_t>(variant == 1 ? 0x80 : uni(0, 255));
  for (std::uint32_t o = 0; o < g.out_channels; ++o) {
    c.b.bias.push_back(uni(-100000, 100000));
    c.b.multiplier.push_back(variant == 4 ? uni(0, 3) : uni(1 << 30, 2147483647));
    // About 1 / (64 sqrt(taps)) keeps most outputs unsaturated; variant 2 uses the limits.
    const int s = -static_cast<int>(std::log2(static_cast<double>(taps)) / 2 + 7) + uni(-2, 2);
    c.b.shift.push_back(variant == 2 ? (uni(0, 1) ? -31 : 30) : std::clamp(s, -31, 30));
  }
  return c;
}

void run_case(const Case& c, const std::string& label) {
  const auto& g = c.b.geo;
  const std::size_t out_n = std::size_t{g.out_width} * g.out_height * g.out_channels;
  const std::size_t mem_n = g.main_mem_out_address + out_n + 3;
  const auto expect = reference(c);
  const format::Layer layer =
      make_layer(c.depthwise ? LayerType::kEmcDepthwiseConv2d : LayerType::kEmcConv2d, c.b);
  // Every path this machine can run, each forced, against the reference (hence each other).
  for (auto [isa, name] :
       {std::pair{EmcKernelIsa::kScalar, " scalar"}, std::pair{EmcKernelIsa::kAvx2, " avx2"},
        std::pair{EmcKernelIsa::kAvx512Vnni, " avx512-vnni"}}) {
    if (!emc_kernel_isa_available(isa)) continue;
    CpuBackendOptions opt;
    opt.emc_isa = isa;
    Mem mem(mem_n);
    mem.put_u8(g.main_mem_in_address, c.input);
    EMC_ASSERT_OK(prepare_and_run(layer, mem, opt));
    ASSERT_EQ(mem.u8(g.main_mem_out_address, out_n), expect) << label << name;
    // Nothing past the output was touched.
    EXPECT_EQ(mem.u8(g.main_mem_out_address + out_n, 3), std::vector<std::uint8_t>(3, kFill));
  }
}

// The VNNI path is offered exactly when the CPU has what it needs (so the randomized test really
// forces it on such a machine).
TEST(EmcConv2dInt8, IsaDetectionMatchesCpuinfo) {
  std::ifstream f("/proc/cpuinfo");
  ASSERT_TRUE(f) << "/proc/cpuinfo";
  std::string line, flags;
  while (std::getline(f, line)) {
    if (line.rfind("flags", 0) == 0) {
      flags = line + " ";
      break;
    }
  }
  ASSERT_FALSE(flags.empty());
  auto has = [&](const char* flag) {
    return flags.find(" " + std::string(flag) + " ") != std::string::npos;
  };
  EXPECT_EQ(emc_kernel_isa_available(EmcKernelIsa::kAvx2), has("avx2"));
  EXPECT_EQ(emc_kernel_isa_available(EmcKernelIsa::kAvx512Vnni),
            has("avx512f") && has("avx512bw") && has("avx512vl") && has("avx512_vnni") &&
                has("avx512vbmi"));
}

TEST(EmcConv2dInt8, RandomizedAgainstSpecReference) {
  ASSERT_TRUE(emc_avx2_available()) << "this machine has AVX2 (see /proc/cpuinfo)";
  std::mt19937 rng(20261205);
  int unsaturated = 0;
  for (int i = 0; i < 700; ++i) {
    const bool dw = i % 2 == 1;
    const Case c = random_case(rng, dw, (i / 2) % 7);
    const std::string label = "case " + std::to_string(i);
    run_case(c, label);
    if (HasFatalFailure()) return;
    for (std::uint8_t v : reference(c)) {
      const auto s = static_cast<std::int8_t>(v);
      unsaturated += s != c.b.act_min && s != c.b.act_max;
    }
  }
  EXPECT_GT(unsaturated, 10000);  // the cases exercise the rounding, not only the clamps
}

// Maps of more than 2048 output pixels: the packed kernels pack and multiply them in passes of
// 2048 (1x1 planes, whole 16-output rows, and the im2col with an odd width and padding).
TEST(EmcConv2dInt8, LargeMapsInSeveralPasses) {
  std::mt19937 rng(99);
  struct Geo {
    std::uint32_t w, h, in_c, out_c, k, s, pad;
  };
  int i = 0;
  for (const Geo& t : {Geo{64, 50, 5, 9, 1, 1, 0}, Geo{64, 70, 3, 10, 3, 1, 1},
                       Geo{47, 61, 2, 11, 3, 1, 1}, Geo{95, 97, 3, 4, 3, 2, 1}}) {
    Case c = random_case(rng, false, 0);
    auto& g = c.b.geo;
    g.in_width = t.w, g.in_height = t.h, g.in_channels = t.in_c, g.out_channels = t.out_c;
    g.kernel_width = g.kernel_height = t.k, g.stride_width = g.stride_height = t.s;
    g.dilation_width = g.dilation_height = 1;
    g.pad_left = g.pad_right = g.pad_top = g.pad_bottom = t.pad;
    g.out_width = (t.w + 2 * t.pad - t.k) / t.s + 1;
    g.out_height = (t.h + 2 * t.pad - t.k) / t.s + 1;
    ASSERT_GT(g.out_width * g.out_height, 2048u);
    g.main_mem_in_address = 3;
    g.main_mem_out_address = 3 + t.w * t.h * t.in_c + 5;
    std::uniform_int_distribution<int> byte(0, 255), weight(-128, 127);
    c.input.resize(std::size_t{t.w} * t.h * t.in_c);
    for (auto& x : c.input) x = static_cast<std::uint8_t>(byte(rng));
    c.b.weights.resize(format::emc_conv_weight_count(g, false));
    for (auto& w : c.b.weights) w = static_cast<std::int8_t>(weight(rng));
    c.b.bias.resize(t.out_c, 1234);
    c.b.multiplier.assign(t.out_c, 1518500250);
    c.b.shift.assign(t.out_c, -8);
    run_case(c, "large " + std::to_string(i++));
    if (HasFatalFailure()) return;
  }
}

TEST(EmcConv2dInt8, HandComputed1x1AndPadding) {
  // 2x1 input, 1 channel, values 10 and -20, zp 2; 3x1 kernel [1, 2, 3], pad l1 r1, stride 1:
  // x - zp = 8, -22; padding contributes 0.
  // out0 = 0*1 + 8*2 + (-22)*3 = -50; out1 = 8*1 + (-22)*2 + 0*3 = -36; bias 4 -> -46, -32.
  // multiplier 2^30, shift -1: / 4 -> -11.5 -> -12, -8; + zp_out 1 -> -11, -7.
  Case c;
  auto& g = c.b.geo;
  g.in_width = 2, g.in_height = 1, g.in_channels = 1;
  g.out_width = 2, g.out_height = 1, g.out_channels = 1;
  g.kernel_width = 3, g.kernel_height = 1, g.stride_width = 1, g.stride_height = 1;
  g.dilation_width = 1, g.dilation_height = 1, g.pad_left = 1, g.pad_right = 1;
  g.main_mem_out_address = 4;
  c.b.input_zero_point = 2;
  c.b.output_zero_point = 1;
  c.b.weights = {1, 2, 3};
  c.b.bias = {4};
  c.b.multiplier = {1 << 30};
  c.b.shift = {-1};
  c.input = {10, static_cast<std::uint8_t>(-20)};
  EXPECT_EQ(reference(c), (std::vector<std::uint8_t>{static_cast<std::uint8_t>(-11),
                                                     static_cast<std::uint8_t>(-7)}));
  run_case(c, "hand");
}

TEST(EmcConv2dInt8, PrepareRejectsBadFields) {
  std::mt19937 rng(7);
  Case c = random_case(rng, false, 0);
  const std::size_t mem_n = c.b.geo.main_mem_out_address + std::size_t{c.b.geo.out_width} *
                                                               c.b.geo.out_height *
                                                               c.b.geo.out_channels;
  auto expect_error = [&](Case bad, const std::string& needle) {
    const format::Layer layer = make_layer(LayerType::kEmcConv2d, bad.b);
    auto p = prepare(layer, mem_n);
    ASSERT_FALSE(p.ok()) << needle;
    EXPECT_NE(p.error().to_string().find(needle), std::string::npos) << p.error().to_string();
  };
  Case ok = c;
  EXPECT_TRUE(prepare(make_layer(LayerType::kEmcConv2d, ok.b), mem_n).ok());
  Case bad = c;
  bad.b.shift[0] = 31;
  expect_error(bad, "shift 31");
  bad = c;
  bad.b.geo.kernel_width = 0;
  expect_error(bad, "kernel_width");
  bad = c;
  bad.b.geo.out_width += 1;
  expect_error(bad, "width: output");
  bad = c;
  bad.b.geo.main_mem_out_address += 1;
  expect_error(bad, "main_mem_out_address");
  bad = c;
  bad.b.input_zero_point = 128;
  expect_error(bad, "input_zero_point 128");
  bad = c;
  bad.b.bias.pop_back();
  expect_error(bad, "sizes do not match");
}

TEST(EmcConv2dF32, MatchesPlainLoopAndClamps) {
  // 3x3 input ramp 0..8, one 2x2 kernel [1, -1, 0.5, 2], stride 1, pad b1 r1, bias 0.25, clamp
  // [-1, 10]. out(0,0) = 0 - 1 + 1.5 + 8 + .25 = 8.75; out(1,0) = 1 - 2 + 2 + 10 + .25 = 11.25 ->
  // 10; out(2,0) = 2 + 2.5 + .25 = 4.75 (right taps are padding); out(2,2) = 8 + .25 = 8.25.
  format::EmcConv2dF32Body b;
  auto& g = b.geo;
  g.in_width = 3, g.in_height = 3, g.in_channels = 1;
  g.out_width = 3, g.out_height = 3, g.out_channels = 1;
  g.kernel_width = 2, g.kernel_height = 2, g.stride_width = 1, g.stride_height = 1;
  g.dilation_width = 1, g.dilation_height = 1, g.pad_right = 1, g.pad_bottom = 1;
  g.main_mem_out_address = 36;
  b.act_min = -1.0f;
  b.act_max = 10.0f;
  b.weights = {1.0f, -1.0f, 0.5f, 2.0f};
  b.bias = {0.25f};
  Mem mem(72);
  mem.put_f32(0, {0, 1, 2, 3, 4, 5, 6, 7, 8});
  EMC_ASSERT_OK(prepare_and_run(make_layer(LayerType::kEmcConv2dF32, b), mem));
  const auto out = mem.f32(36, 9);
  EXPECT_EQ(out[0], 8.75f);
  EXPECT_EQ(out[1], 10.0f);
  EXPECT_EQ(out[2], 4.75f);
  EXPECT_EQ(out[8], 8.25f);
}

TEST(EmcQuantizeInt8, RoundsHalfAwayAndSaturates) {
  // scale 0.5, zp -3: x / 0.5 = 2x. 1.25 -> 2.5 -> 3 -> 0; -1.25 -> -3 -> -6; 100 -> 200 -> 127;
  // -100 -> -128; NaN -> zp; 0.2 -> 0.4 -> 0 -> -3.
  format::EmcQuantizeInt8Body q{0, 0, 32, 6, 0.5f, -3};
  Mem mem(40);
  mem.put_f32(0, {1.25f, -1.25f, 100.0f, -100.0f, std::nanf(""), 0.2f});
  EMC_ASSERT_OK(prepare_and_run(make_layer(LayerType::kEmcQuantizeInt8, q), mem));
  EXPECT_EQ(mem.u8(32, 6), (std::vector<std::uint8_t>{0, 0xFA, 127, 0x80, 0xFD, 0xFD}));
  // Dequantize back: (q - zp) * scale.
  format::EmcQuantizeInt8Body d{0, 32, 0, 6, 0.5f, -3};
  EMC_ASSERT_OK(prepare_and_run(make_layer(LayerType::kEmcDequantizeInt8, d), mem));
  EXPECT_EQ(mem.f32(0, 6), (std::vector<float>{1.5f, -1.5f, 65.0f, -62.5f, 0.0f, 0.0f}));
}

}  // namespace
}  // namespace emc::cpu_backend::testing
