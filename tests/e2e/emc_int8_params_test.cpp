// The converter's int8 parameter helpers (emc_int8_params.h) + the cpu backend's EMC int8 pools,
// elementwise ops, concat and LUT against double arithmetic on the dequantized inputs, computed
// here: every output must lie within the bound docs/cpu_target.md derives for the type (the
// output rounding 1/2 s_y, the elementwise input rescales 1/2 unit of 2 max(s_a, s_b) / 2^20
// each, the Q31 multipliers' relative 2^-31), after clamping the real result to the int8 range.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "emc/converter/emc_int8_params.h"
#include "emc/cpu_backend/cpu_backend.h"
#include "emc/interpreter/backend.h"

namespace emc::converter {
namespace {

// Runs one layer on `mem` through the cpu backend.
void run_layer(const format::Layer& layer, std::vector<std::uint8_t>& mem) {
  std::vector<std::uint8_t> kpu(64);
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
}

Int8Quant random_quant(std::mt19937& rng) {
  std::uniform_real_distribution<double> lo(-8.0, 1.0), span(0.05, 12.0);
  const double a = lo(rng);
  return int8_quant_from_range(a, a + span(rng)).value();
}

double clamp_to(const Int8Quant& q, double v, std::int32_t lo = -128, std::int32_t hi = 127) {
  return std::min(std::max(v, q.dequantize(lo)), q.dequantize(hi));
}

std::int32_t sv(std::uint8_t b) {
  return static_cast<std::int8_t>(b);
}

TEST(EmcInt8Params, IdentityAndHalvedMultipliersByHand) {
  format::EmcPool2dInt8Body p;
  const Int8Quant q{0.1, 3};
  ASSERT_TRUE(set_pool_int8_params(q, q, -kNoClamp, kNoClamp, p).ok());
  EXPECT_EQ(p.multiplier, 1 << 30);  // 1 = 2^30 * 2^(1 - 31)
  EXPECT_EQ(p.shift, 1);
  EXPECT_EQ(p.act_min, -128);
  EXPECT_EQ(p.act_max, 127);
  ASSERT_TRUE(set_pool_int8_params(q, q, 0.0, 6.0, p).ok());  // ReLU6: codes of 0 and 6
  EXPECT_EQ(p.act_min, 3);
  EXPECT_EQ(p.act_max, 63);
  // add: s_a 0.5, s_b 0.25, s_y 0.5: M_a = 0.5 / 1 (2^30, 0), M_b = 0.25 (2^30, -1),
  // M_y = 1 / (2^20 * 0.5) = 2^-19 (2^30, -18); average halves it (2^30, -19).
  format::EmcElementwiseInt8Body e;
  ASSERT_TRUE(
      set_elementwise_int8_params({0.5, 0}, {0.25, 0}, {0.5, 0}, -kNoClamp, kNoClamp, 0, e).ok());
  EXPECT_EQ(e.left_shift, 20);
  EXPECT_EQ(e.a_multiplier, 1 << 30);
  EXPECT_EQ(e.a_shift, 0);
  EXPECT_EQ(e.b_shift, -1);
  EXPECT_EQ(e.out_shift, -18);
  ASSERT_TRUE(
      set_elementwise_int8_params({0.5, 0}, {0.25, 0}, {0.5, 0}, -kNoClamp, kNoClamp, 2, e).ok());
  EXPECT_EQ(e.out_multiplier, 1 << 30);
  EXPECT_EQ(e.out_shift, -19);
  e.op = static_cast<std::uint32_t>(format::EmcElementwiseOp::kMax);
  EXPECT_FALSE(
      set_elementwise_int8_params({0.5, 0}, {0.25, 0}, {0.5, 0}, -kNoClamp, kNoClamp, 2, e).ok());
}

TEST(EmcInt8Params, PoolsWithinHalfStepOfDouble) {
  std::mt19937 rng(3);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int checked = 0;
  for (int it = 0; it < 60; ++it) {
    const bool average = it % 2 == 0;
    format::EmcPool2dInt8Body b;
    b.kernel_width = uni(1, 5), b.kernel_height = uni(1, 5);
    b.stride_width = uni(1, 2), b.stride_height = uni(1, 2);
    b.pad_left = (b.kernel_width - 1) / 2, b.pad_right = b.kernel_width / 2;
    b.pad_top = (b.kernel_height - 1) / 2, b.pad_bottom = b.kernel_height / 2;
    b.in_width = uni(1, 10), b.in_height = uni(1, 10), b.channels = uni(1, 6);
    b.out_width = (b.in_width + b.kernel_width - 1 - b.kernel_width) / b.stride_width + 1;
    b.out_height = (b.in_height + b.kernel_height - 1 - b.kernel_height) / b.stride_height + 1;
    const Int8Quant in = random_quant(rng);
    const Int8Quant out = it % 3 == 0 ? in : random_quant(rng);
    const bool relu = it % 4 == 1;
    ASSERT_TRUE(set_pool_int8_params(in, out, relu ? 0.0 : -kNoClamp, kNoClamp, b).ok());
    const std::size_t in_n = std::size_t{b.in_width} * b.in_height * b.channels;
    const std::size_t out_n = std::size_t{b.out_width} * b.out_height * b.channels;
    b.main_mem_out_address = static_cast<std::uint32_t>(in_n);
    std::vector<std::uint8_t> mem(in_n + out_n);
    for (std::size_t i = 0; i < in_n; ++i) mem[i] = static_cast<std::uint8_t>(uni(0, 255));
    format::Layer layer;
    layer.type =
        average ? format::LayerType::kEmcAveragePool2dInt8 : format::LayerType::kEmcMaxPool2dInt8;
    layer.body = b;
    const std::vector<std::uint8_t> x(mem.begin(), mem.begin() + in_n);
    run_layer(layer, mem);
    if (HasFatalFailure()) return;
    std::size_t k = in_n;
    for (std::uint32_t c = 0; c < b.channels; ++c) {
      for (std::uint32_t oy = 0; oy < b.out_height; ++oy) {
        for (std::uint32_t ox = 0; ox < b.out_width; ++ox, ++k) {
          double sum = 0, mx = -1e300;
          int n = 0;
          for (std::uint32_t ky = 0; ky < b.kernel_height; ++ky) {
            for (std::uint32_t kx = 0; kx < b.kernel_width; ++kx) {
              const long y = long(oy * b.stride_height) - long(b.pad_top) + long(ky);
              const long xx = long(ox * b.stride_width) - long(b.pad_left) + long(kx);
              if (y < 0 || xx < 0 || y >= long(b.in_height) || xx >= long(b.in_width)) continue;
              const double v = in.dequantize(sv(x[(c * b.in_height + y) * b.in_width + xx]));
              sum += v;
              mx = std::max(mx, v);
              ++n;
            }
          }
          double ref = average ? sum / n : mx;
          if (relu) ref = std::max(ref, 0.0);
          ref = clamp_to(out, ref);
          const double got = out.dequantize(sv(mem[k]));
          ASSERT_LE(std::fabs(got - ref), 0.5 * out.scale + 1e-6 * std::fabs(ref) + 1e-9)
              << "case " << it << " output " << k - in_n;
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 1000);
}

TEST(EmcInt8Params, ElementwiseWithinDerivedBoundOfDouble) {
  std::mt19937 rng(8);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int checked = 0;
  for (int it = 0; it < 100; ++it) {
    format::EmcElementwiseInt8Body e;
    e.op = it % 5;
    const bool average = e.op == 0 && it % 10 == 5;
    e.broadcast = (it / 5) % 3;
    e.channels = uni(1, 8), e.plane = uni(1, 30);
    const Int8Quant a = random_quant(rng), bq = random_quant(rng);
    // The output range covers the op's result range (as calibration would).
    auto lo_hi = [&](double x0, double x1, double y0, double y1) -> std::pair<double, double> {
      switch (e.op) {
        case 0:
          return average ? std::pair{(x0 + y0) / 2, (x1 + y1) / 2} : std::pair{x0 + y0, x1 + y1};
        case 1:
          return {x0 - y1, x1 - y0};
        case 2: {
          const double p[] = {x0 * y0, x0 * y1, x1 * y0, x1 * y1};
          return {*std::min_element(p, p + 4), *std::max_element(p, p + 4)};
        }
        default:
          return {std::min(x0, y0), std::max(x1, y1)};
      }
    };
    const auto [olo, ohi] =
        lo_hi(a.dequantize(-128), a.dequantize(127), bq.dequantize(-128), bq.dequantize(127));
    const Int8Quant out = int8_quant_from_range(olo, ohi).value();
    const bool relu = it % 4 == 3;
    ASSERT_TRUE(set_elementwise_int8_params(a, bq, out, relu ? 0.0 : -kNoClamp, kNoClamp,
                                            average ? 2 : 0, e)
                    .ok());
    const std::size_t n = std::size_t{e.channels} * e.plane;
    const std::size_t nb = e.broadcast == 0 ? n : e.broadcast == 1 ? e.channels : 1;
    e.main_mem_in_b_address = static_cast<std::uint32_t>(n);
    e.main_mem_out_address = static_cast<std::uint32_t>(n + nb);
    std::vector<std::uint8_t> mem(n + nb + n);
    for (std::size_t i = 0; i < n + nb; ++i) mem[i] = static_cast<std::uint8_t>(uni(0, 255));
    const std::vector<std::uint8_t> x(mem.begin(), mem.begin() + n + nb);
    format::Layer layer;
    layer.type = format::LayerType::kEmcElementwiseInt8;
    layer.body = e;
    run_layer(layer, mem);
    if (HasFatalFailure()) return;
    const double unit = 2 * std::max(a.scale, bq.scale) / std::ldexp(1.0, 20);
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t c = i / e.plane;
      const double va = a.dequantize(sv(x[i]));
      const double vb = bq.dequantize(sv(x[n + (e.broadcast == 0 ? i : e.broadcast == 1 ? c : 0)]));
      double ref = e.op == 0   ? (average ? (va + vb) / 2 : va + vb)
                   : e.op == 1 ? va - vb
                   : e.op == 2 ? va * vb
                   : e.op == 3 ? std::max(va, vb)
                               : std::min(va, vb);
      if (relu) ref = std::max(ref, 0.0);
      ref = clamp_to(out, ref);
      const double rescale = e.op == 2 ? 0 : (average ? 0.5 : 1.0) * unit;
      // The Q31 multipliers err by a relative 2^-31 of each input's and the result's magnitude.
      const double bound = 0.5 * out.scale + rescale +
                           1e-6 * (std::fabs(ref) + std::fabs(va) + std::fabs(vb)) + 1e-9;
      ASSERT_LE(std::fabs(out.dequantize(sv(mem[n + nb + i])) - ref), bound)
          << "case " << it << " op " << e.op << " element " << i;
      ++checked;
    }
  }
  EXPECT_GT(checked, 3000);
}

TEST(EmcInt8Params, ConcatAndLutWithinHalfStepOfDouble) {
  std::mt19937 rng(21);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int it = 0; it < 40; ++it) {
    // Concat of 1..4 inputs onto the union of their ranges.
    format::EmcConcatInt8Body c;
    c.plane = uni(1, 20);
    std::vector<Int8Quant> qs;
    double lo = 0, hi = 0;
    std::uint32_t at = 0;
    for (int k = uni(1, 4); k > 0; --k) {
      qs.push_back(random_quant(rng));
      lo = std::min(lo, qs.back().dequantize(-128));
      hi = std::max(hi, qs.back().dequantize(127));
      format::EmcConcatInput in;
      in.main_mem_address = at;
      in.channels = uni(1, 5);
      at += in.channels * c.plane;
      c.inputs.push_back(in);
    }
    const Int8Quant out =
        it % 5 == 0 && qs.size() == 1 ? qs[0] : int8_quant_from_range(lo, hi).value();
    ASSERT_TRUE(set_concat_int8_params(qs, out, c).ok());
    c.main_mem_out_address = at;
    std::vector<std::uint8_t> mem(2 * at);
    for (std::uint32_t i = 0; i < at; ++i) mem[i] = static_cast<std::uint8_t>(uni(0, 255));
    format::Layer layer;
    layer.type = format::LayerType::kEmcConcatInt8;
    layer.body = c;
    run_layer(layer, mem);
    if (HasFatalFailure()) return;
    std::uint32_t i = 0;
    for (std::size_t k = 0; k < qs.size(); ++k) {
      for (std::uint32_t j = 0; j < c.inputs[k].channels * c.plane; ++j, ++i) {
        const double ref = clamp_to(out, qs[k].dequantize(sv(mem[i])));
        ASSERT_LE(std::fabs(out.dequantize(sv(mem[at + i])) - ref),
                  0.5 * out.scale + 1e-6 * std::fabs(ref) + 1e-9)
            << "concat case " << it;
      }
    }
    // LUT of an activation: sigmoid, tanh, ELU, swish, leaky ReLU.
    const Int8Quant in = random_quant(rng);
    const int act = it % 5;
    auto f = [act](double v) {
      switch (act) {
        case 0:
          return 1 / (1 + std::exp(-v));
        case 1:
          return std::tanh(v);
        case 2:
          return v > 0 ? v : std::expm1(v);
        case 3:
          return v / (1 + std::exp(-v));
        default:
          return v > 0 ? v : 0.2 * v;
      }
    };
    double flo = 1e300, fhi = -1e300;
    for (int q = -128; q < 128; ++q) {
      flo = std::min(flo, f(in.dequantize(q)));
      fhi = std::max(fhi, f(in.dequantize(q)));
    }
    const Int8Quant lout = int8_quant_from_range(flo, fhi).value();
    format::EmcLutInt8Body l;
    ASSERT_TRUE(set_lut_int8_table(f, in, lout, l).ok());
    l.count = 256;
    l.main_mem_out_address = 256;
    std::vector<std::uint8_t> lm(512);
    for (int q = 0; q < 256; ++q) lm[q] = static_cast<std::uint8_t>(q);
    layer.type = format::LayerType::kEmcLutInt8;
    layer.body = l;
    run_layer(layer, lm);
    if (HasFatalFailure()) return;
    for (int q = 0; q < 256; ++q) {
      const double ref = clamp_to(lout, f(in.dequantize(sv(lm[q]))));
      ASSERT_LE(std::fabs(lout.dequantize(sv(lm[256 + q])) - ref), 0.5 * lout.scale + 1e-9)
          << "lut case " << it << " code " << sv(lm[q]);
    }
  }
}

}  // namespace
}  // namespace emc::converter
