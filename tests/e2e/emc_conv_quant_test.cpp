// quantize_conv_int8 (converter) + EMC_CONV2D (cpu backend) against a float convolution computed
// here in double: with the input and weights at their quantized values, the only remaining errors
// are the bias rounding (<= 1/2 accumulator unit), the Q31 multiplier (relative 2^-31) and the
// final rounding (<= 1/2 output step), so every output must lie within that bound of the float
// result. Also the multiplier encoding by hand and the range -> int8 parameters.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "emc/converter/emc_conv_quant.h"
#include "emc/cpu_backend/cpu_backend.h"
#include "emc/interpreter/backend.h"

namespace emc::converter {
namespace {

TEST(EmcConvQuant, MultiplierByHand) {
  std::int32_t m = 0, s = 0;
  ASSERT_TRUE(quantize_multiplier(0.5, m, s).ok());  // 0.5 = 2^30 * 2^(0 - 31)
  EXPECT_EQ(m, 1 << 30);
  EXPECT_EQ(s, 0);
  ASSERT_TRUE(quantize_multiplier(0.75, m, s).ok());  // 0.75 = 0.75 * 2^0: 0.75 * 2^31
  EXPECT_EQ(m, 1610612736);
  EXPECT_EQ(s, 0);
  ASSERT_TRUE(quantize_multiplier(3.0, m, s).ok());  // 0.75 * 2^2
  EXPECT_EQ(m, 1610612736);
  EXPECT_EQ(s, 2);
  ASSERT_TRUE(quantize_multiplier(std::ldexp(0.5, -40), m, s).ok());  // 2^-41 = 2^21 * 2^-62
  EXPECT_EQ(m, 1 << 21);
  EXPECT_EQ(s, -31);
  ASSERT_TRUE(quantize_multiplier(1e-30, m, s).ok());
  EXPECT_EQ(m, 0);
  EXPECT_FALSE(quantize_multiplier(std::ldexp(1.0, 31), m, s).ok());
  EXPECT_FALSE(quantize_multiplier(0.0, m, s).ok());
}

TEST(EmcConvQuant, RangeToInt8ByHand) {
  // [-1, 3]: scale 4/255, zp = round(-128 + 1 / (4/255)) = round(-128 + 63.75) = -64.
  auto q = int8_quant_from_range(-1.0, 3.0);
  ASSERT_TRUE(q.ok());
  EXPECT_DOUBLE_EQ(q->scale, 4.0 / 255.0);
  EXPECT_EQ(q->zero_point, -64);
  // [2, 6] widens to [0, 6]: zp -128 (real 0 exact).
  q = int8_quant_from_range(2.0, 6.0);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->zero_point, -128);
  EXPECT_DOUBLE_EQ(q->scale, 6.0 / 255.0);
  EXPECT_FALSE(int8_quant_from_range(0.0, NAN).ok());
}

TEST(EmcConvQuant, QuantizedConvWithinHalfStepOfFloat) {
  std::mt19937 rng(42);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  std::normal_distribution<float> normal(0.0f, 1.0f);
  int checked = 0;
  for (int it = 0; it < 60; ++it) {
    FloatConv c;
    c.depthwise = it % 3 == 2;
    auto& g = c.geo;
    g.kernel_width = uni(1, 7), g.kernel_height = uni(1, 7);
    g.stride_width = uni(1, 2), g.stride_height = uni(1, 2);
    g.dilation_width = uni(1, 2), g.dilation_height = 1;
    const std::uint32_t ew = g.dilation_width * (g.kernel_width - 1) + 1;
    const std::uint32_t eh = g.kernel_height;
    g.pad_left = (ew - 1) / 2, g.pad_right = ew / 2, g.pad_top = (eh - 1) / 2,
    g.pad_bottom = eh / 2;
    g.in_width = uni(1, 12), g.in_height = uni(1, 12);
    g.in_width = std::max(g.in_width, ew - g.pad_left - g.pad_right);
    g.in_channels = uni(1, 18);
    g.depth_multiplier = c.depthwise ? uni(1, 2) : 1;
    g.out_channels = c.depthwise ? g.in_channels * g.depth_multiplier : uni(1, 18);
    g.out_width = (g.in_width + g.pad_left + g.pad_right - ew) / g.stride_width + 1;
    g.out_height = (g.in_height + g.pad_top + g.pad_bottom - eh) / g.stride_height + 1;
    const std::size_t nw = format::emc_conv_weight_count(g, c.depthwise);
    for (std::size_t k = 0; k < nw; ++k) c.weights.push_back(0.3f * normal(rng));
    for (std::uint32_t o = 0; o < g.out_channels; ++o) c.bias.push_back(0.5f * normal(rng));
    if (it % 4 == 1) c.act_min = 0, c.act_max = 6;
    // Input: real values in [-2, 5], quantized.
    const auto in_q = int8_quant_from_range(-2.0, 5.0).value();
    const std::size_t in_n = std::size_t{g.in_width} * g.in_height * g.in_channels;
    std::vector<std::int8_t> xq(in_n);
    for (auto& v : xq) v = static_cast<std::int8_t>(uni(-128, 127));
    // Float reference over the dequantized input and the quantized weights (computed below).
    auto qconv_w = quantize_conv_int8(c, in_q, Int8Quant{1.0, 0});
    ASSERT_TRUE(qconv_w.ok()) << qconv_w.error().message();
    const auto& wq = qconv_w->body.weights;
    const std::size_t per = nw / g.out_channels;
    const std::size_t out_n = std::size_t{g.out_width} * g.out_height * g.out_channels;
    std::vector<double> ref(out_n);
    double lo = 0, hi = 0;
    for (std::uint32_t o = 0; o < g.out_channels; ++o) {
      const std::uint32_t ics = c.depthwise ? 1 : g.in_channels;
      const std::uint32_t ic0 = c.depthwise ? o / g.depth_multiplier : 0;
      for (std::uint32_t oy = 0; oy < g.out_height; ++oy) {
        for (std::uint32_t ox = 0; ox < g.out_width; ++ox) {
          double s = c.bias[o];
          for (std::uint32_t i = 0; i < ics; ++i) {
            for (std::uint32_t ky = 0; ky < g.kernel_height; ++ky) {
              for (std::uint32_t kx = 0; kx < g.kernel_width; ++kx) {
                const long y = long(oy * g.stride_height) - long(g.pad_top) + long(ky);
                const long x =
                    long(ox * g.stride_width) - long(g.pad_left) + long(kx * g.dilation_width);
                if (y < 0 || x < 0 || y >= long(g.in_height) || x >= long(g.in_width)) continue;
                const double xv =
                    in_q.dequantize(xq[((ic0 + i) * g.in_height + y) * g.in_width + x]);
                const double wv = wq[o * per + (i * g.kernel_height + ky) * g.kernel_width + kx] *
                                  qconv_w->weight_scale[o];
                s += xv * wv;
              }
            }
          }
          s = std::min(std::max(s, c.act_min), c.act_max);
          ref[(o * g.out_height + oy) * g.out_width + ox] = s;
          lo = std::min(lo, s);
          hi = std::max(hi, s);
        }
      }
    }
    const auto out_q = int8_quant_from_range(lo, hi).value();
    auto qc = quantize_conv_int8(c, in_q, out_q);
    ASSERT_TRUE(qc.ok()) << qc.error().message();
    format::Layer layer;
    layer.type =
        c.depthwise ? format::LayerType::kEmcDepthwiseConv2d : format::LayerType::kEmcConv2d;
    auto body = qc->body;
    body.geo.main_mem_in_address = 0;
    body.geo.main_mem_out_address = static_cast<std::uint32_t>(in_n);
    layer.body = body;
    std::vector<std::uint8_t> mem(in_n + out_n), kpu(64);
    for (std::size_t i = 0; i < in_n; ++i) mem[i] = static_cast<std::uint8_t>(xq[i]);
    auto backend = cpu_backend::make_cpu_backend();
    interpreter::LayerInfo info;
    info.layer = &layer;
    info.main_mem_bytes = mem.size();
    info.kpu_mem_bytes = kpu.size();
    auto prepared = backend->prepare(info);
    ASSERT_TRUE(prepared.ok()) << prepared.error().to_string();
    interpreter::ExecContext ctx{interpreter::MemoryRegion("main", mem),
                                 interpreter::MemoryRegion("kpu", kpu)};
    ASSERT_TRUE(prepared.value()->run(ctx).ok());
    for (std::size_t i = 0; i < out_n; ++i) {
      const double got = out_q.dequantize(static_cast<std::int8_t>(mem[in_n + i]));
      const std::size_t o = i / (std::size_t{g.out_width} * g.out_height);
      const double acc_unit = in_q.scale * qc->weight_scale[o];
      const double bound = 0.5 * out_q.scale + 0.5 * acc_unit + 1e-6 * std::fabs(ref[i]) + 1e-9;
      // The clamp of the reference uses real bounds; the kernel clamps to their int8 codes.
      const double r = std::min(std::max(ref[i], out_q.dequantize(-128)), out_q.dequantize(127));
      ASSERT_LE(std::fabs(got - r), bound) << "case " << it << " output " << i;
      ++checked;
    }
  }
  EXPECT_GT(checked, 2000);
}

// A dead channel (weights ~1e-12) with a large bias, as a BatchNormalization shift leaves it
// (axelerate's YOLOv2 MobileNet conv1): at amax / 127 the bias would be ~3e19 accumulator units.
// The weight scale grows until the bias fits; the bias then still reads back as 1000 within half
// an accumulator unit, and the live channel keeps its own scale.
TEST(EmcConvQuant, DeadChannelWithLargeBiasFitsTheAccumulator) {
  FloatConv c;
  auto& g = c.geo;
  g.kernel_width = g.kernel_height = g.stride_width = g.stride_height = 1;
  g.dilation_width = g.dilation_height = g.depth_multiplier = 1;
  g.in_width = g.in_height = g.out_width = g.out_height = 2;
  g.in_channels = 1;
  g.out_channels = 2;
  c.weights = {1e-12f, 0.5f};
  c.bias = {1000.0f, 0.25f};
  const Int8Quant in_q = int8_quant_from_range(0.0, 1.0).value();  // scale 1/255
  auto r = quantize_conv_int8(c, in_q, int8_quant_from_range(0.0, 1100.0).value());
  ASSERT_TRUE(r.ok()) << r.error().message();
  const double acc0 = in_q.scale * r->weight_scale[0];
  EXPECT_LE(std::fabs(double(r->body.bias[0])) + 32640.0, 2147483647.0);
  EXPECT_NEAR(r->body.bias[0] * acc0, 1000.0, 0.5 * acc0 + 1e-9);
  EXPECT_EQ(r->body.weights[0], 0);
  EXPECT_DOUBLE_EQ(r->weight_scale[1], 0.5 / 127.0);
  EXPECT_EQ(r->body.weights[1], 127);
}

}  // namespace
}  // namespace emc::converter
