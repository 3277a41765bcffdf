// KPU conv argument derivation (k210_conv_args.h) + activation table (activation_fit.h), checked
// end to end against the independent §6 integer model in k210_ref_model.h and a float reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "converter/k210_ref_model.h"
#include "emc/converter/activation_fit.h"
#include "emc/converter/k210_conv_args.h"

namespace emc::converter {
namespace {

TEST(K210ConvArgs, HandExampleRegisters) {
  // One 1x1 conv, 1 in / 1 out channel, weight 0.5, bias 0.25.
  // Input [-1, 1] -> scale 1/127, Zx = 127 or 128; weights [0, 0.5] -> Zw = 0, sw = 0.5/255.
  std::vector<float> w{0.5f}, b{0.25f};
  KpuConvSpec s;
  s.kernel = 1;
  s.in_channels = s.out_channels = 1;
  s.weights = w;
  s.bias = b;
  s.input = quant_param_from_range(-1, 1).value();
  s.output = quant_param_from_range(-1, 1).value();
  auto a = derive_kpu_conv_args(s);
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  EXPECT_EQ(a->weights.zero_point, 0);
  EXPECT_EQ(a->weights.codes[0], 255);
  EXPECT_EQ(a->arg_x, 0);                    // -Zw
  EXPECT_EQ(a->arg_w, -s.input.zero_point);  // -Zx
  EXPECT_EQ(a->arg_add, 0);                  // k^2 Zw Zx
  EXPECT_EQ(a->pad_value, s.input.zero_point);
  EXPECT_EQ(a->shr_x, 0);
  EXPECT_EQ(a->shr_w, 0);
  // bn = acc * (sw*sx/s_bn) + b/s_bn: check the multiplier to 23 bits.
  const auto& bn = a->bn[0];
  const double r = a->weights.scales[0] * s.input.scale / a->bn_scale;
  EXPECT_NEAR(bn.norm_mul / std::ldexp(1.0, bn.norm_shift), r, r * 1e-6);
  EXPECT_LE(bn.norm_shift, 15u);
  EXPECT_NEAR(bn.norm_add, 0.25 / a->bn_scale, 1.0);
  EXPECT_GE(a->min_mul_bits, 22);
}

TEST(K210ConvArgs, ZeroPointsWithArgAddAreExact) {
  // acc must equal Σ(qw − Zw)(qx − Zx) for a 3x3 conv with non-zero zero points on both sides.
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> d(-0.4f, 0.9f);
  const int ic = 3, oc = 2, h = 5, wd = 6;
  std::vector<float> w(oc * ic * 9);
  for (auto& v : w) v = d(rng);
  KpuConvSpec s;
  s.kernel = 3;
  s.in_channels = ic;
  s.out_channels = oc;
  s.weights = w;
  s.input = quant_param_from_range(-0.7, 2.0).value();
  s.output = quant_param_from_range(-3, 3).value();
  auto a = derive_kpu_conv_args(s);
  ASSERT_TRUE(a.ok());
  test::RefConv c;
  c.in_c = ic;
  c.out_c = oc;
  c.h = h;
  c.w = wd;
  c.k = 3;
  c.arg_x = a->arg_x;
  c.shr_x = a->shr_x;
  c.arg_w = a->arg_w;
  c.shr_w = a->shr_w;
  c.arg_add = a->arg_add;
  c.pad_value = a->pad_value;
  c.weights.assign(a->weights.codes.begin(), a->weights.codes.end());
  std::vector<std::uint8_t> in(ic * h * wd);
  for (auto& v : in) v = static_cast<std::uint8_t>(rng() & 255);
  for (int o = 0; o < oc; ++o)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < wd; ++x) {
        std::int64_t expect = 0;
        for (int i = 0; i < ic; ++i)
          for (int ky = 0; ky < 3; ++ky)
            for (int kx = 0; kx < 3; ++kx) {
              const int yy = y + ky - 1, xx = x + kx - 1;
              if (yy < 0 || yy >= h || xx < 0 || xx >= wd) continue;  // real zero padding
              const std::int64_t qx = in[(i * h + yy) * wd + xx] - s.input.zero_point;
              const std::int64_t qw =
                  a->weights.codes[((o * ic + i) * 3 + ky) * 3 + kx] - a->weights.zero_point;
              expect += qx * qw;
            }
        EXPECT_EQ(test::ref_acc(c, in, o, y, x), expect) << o << "," << y << "," << x;
      }
}

// The derived registers and `act`'s fitted table run through the §6 integer model on the CHW
// uint8 map `in` (h x w); the fit's reported error bound in `fit_bound_lsb`.
std::vector<std::uint8_t> run_ref_layer(const KpuConvSpec& s, const KpuConvArgs& a,
                                        const Activation& act, int h, int w,
                                        const std::vector<std::uint8_t>& in,
                                        double* fit_bound_lsb = nullptr) {
  ActivationFitSpec fs;
  fs.activation = act;
  fs.bn_scale = a.bn_scale;
  fs.output = s.output;
  fs.bn_min = a.bn_min;
  fs.bn_max = a.bn_max;
  auto fit = fit_activation(fs);
  EXPECT_TRUE(fit.ok()) << fit.error().to_string();
  if (!fit.ok()) return {};
  if (fit_bound_lsb) *fit_bound_lsb = fit->max_error_lsb;
  test::RefConv c;
  c.in_c = s.in_channels;
  c.out_c = s.out_channels;
  c.h = h;
  c.w = w;
  c.k = s.kernel;
  c.depthwise = s.depthwise;
  c.arg_x = a.arg_x;
  c.shr_x = a.shr_x;
  c.arg_w = a.arg_w;
  c.shr_w = a.shr_w;
  c.arg_add = a.arg_add;
  c.pad_value = a.pad_value;
  c.weights.assign(a.weights.codes.begin(), a.weights.codes.end());
  c.bn = a.bn;
  c.act = fit->table;
  return test::ref_kpu_layer(c, in);
}

struct Case {
  int k;
  bool dw;
  bool per_channel;
  int bits;
  ActivationKind act;
  float alpha;
  float max_value;
};

std::string case_name(const testing::TestParamInfo<Case>& i) {
  const Case& c = i.param;
  return "k" + std::to_string(c.k) + (c.dw ? "_dw" : "") + (c.per_channel ? "_pc" : "_pl") + "_w" +
         std::to_string(c.bits) + "_" + to_string(c.act) + (c.alpha != 0 ? "_leaky" : "") +
         (std::isfinite(c.max_value) ? "_max" : "");
}

class K210LayerVsFloat : public testing::TestWithParam<Case> {};

// The whole KPU layer (integer model of §6) against float arithmetic on the SAME quantized
// inputs and weights: only the BN fixed point and the activation table may differ, so the
// output code must be within the activation fit's reported bound (+1 LSB for BN truncation).
TEST_P(K210LayerVsFloat, OutputWithinFitBound) {
  const Case& p = GetParam();
  std::mt19937 rng(11 + p.k * 7 + p.bits);
  std::normal_distribution<float> nd(0.0f, 0.3f);
  const int ic = p.dw ? 6 : 5, oc = 6, h = 7, wd = 9;
  const int per = p.k * p.k * (p.dw ? 1 : ic);
  std::vector<float> w(oc * per), b(oc);
  for (int o = 0; o < oc; ++o)
    for (int i = 0; i < per; ++i) w[o * per + i] = nd(rng) * (1.0f + o);  // channel scales differ
  for (auto& v : b) v = nd(rng);
  Activation act;
  act.kind = p.act;
  act.alpha = p.alpha;
  act.max_value = p.max_value;
  KpuConvSpec s;
  s.kernel = p.k;
  s.depthwise = p.dw;
  s.in_channels = ic;
  s.out_channels = oc;
  s.weights = w;
  s.bias = b;
  s.weight_bits = p.bits;
  s.per_channel = p.per_channel;
  s.input = quant_param_from_range(-1.0, 1.5).value();
  const double omax = std::isfinite(p.max_value) ? p.max_value : 4.0;
  const double omin = (p.act == ActivationKind::kRelu && p.alpha == 0) ? 0.0
                      : p.act == ActivationKind::kSigmoid              ? 0.0
                      : p.act == ActivationKind::kSwish                ? -0.3
                                                                       : -4.0;
  s.output = quant_param_from_range(omin, p.act == ActivationKind::kSigmoid ? 1.0 : omax).value();
  auto a = derive_kpu_conv_args(s);
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  std::vector<std::uint8_t> in(ic * h * wd);
  for (auto& v : in) v = static_cast<std::uint8_t>(rng() & 255);
  double fit_bound = 0;
  const auto out = run_ref_layer(s, *a, act, h, wd, in, &fit_bound);
  ASSERT_FALSE(out.empty());

  double worst = 0;
  const int pd = p.k / 2;
  for (int o = 0; o < oc; ++o)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < wd; ++x) {
        double acc = 0;
        const int i0 = p.dw ? o : 0, i1 = p.dw ? o + 1 : ic;
        for (int i = i0; i < i1; ++i)
          for (int ky = 0; ky < p.k; ++ky)
            for (int kx = 0; kx < p.k; ++kx) {
              const int yy = y + ky - pd, xx = x + kx - pd;
              if (yy < 0 || yy >= h || xx < 0 || xx >= wd) continue;
              const int wi =
                  p.dw ? (o * p.k + ky) * p.k + kx : ((o * ic + i) * p.k + ky) * p.k + kx;
              acc += s.input.dequantize(in[(i * h + yy) * wd + xx]) *
                     (a->weights.codes[wi] - a->weights.zero_point) * a->weights.scales[o];
            }
        const double real = activation_value(act, acc + b[o]);
        const double ideal = std::clamp(real / s.output.scale + s.output.zero_point, 0.0, 255.0);
        worst = std::max(worst, std::fabs(out[(o * h + y) * wd + x] - ideal));
      }
  EXPECT_LE(worst, fit_bound + 0.05) << "fit bound " << fit_bound;
  if (p.act != ActivationKind::kSigmoid && p.act != ActivationKind::kSwish) {
    EXPECT_LE(worst, 0.55);  // piecewise-linear activations: rounding only
  } else {
    EXPECT_LE(worst, 2.0);
  }
}

constexpr float kInf = std::numeric_limits<float>::infinity();
INSTANTIATE_TEST_SUITE_P(Cases, K210LayerVsFloat,
                         testing::Values(Case{1, false, false, 8, ActivationKind::kLinear, 0, kInf},
                                         Case{3, false, false, 8, ActivationKind::kRelu, 0, kInf},
                                         Case{3, false, true, 8, ActivationKind::kRelu, 0, 6.0f},
                                         Case{3, true, false, 8, ActivationKind::kRelu, 0, 6.0f},
                                         Case{3, true, true, 8, ActivationKind::kRelu, 0.1f, kInf},
                                         Case{1, false, true, 16, ActivationKind::kRelu, 0, 6.0f},
                                         Case{3, false, false, 16, ActivationKind::kLinear, 0,
                                              kInf},
                                         Case{1, true, true, 8, ActivationKind::kSigmoid, 0, kInf},
                                         Case{3, false, true, 8, ActivationKind::kSwish, 0, kInf}),
                         case_name);

TEST(K210ConvArgs, BiasCorrectionHandExample1x1) {
  // Weights {1.0, 0.3} (2 output channels, 1 input channel), per layer: range [0, 1], Zw = 0,
  // sw = 1/255; 0.3 -> code round(76.5) = 77 -> 77/255 = 0.3019608, error +0.0019608; 1.0 is
  // exact. With E[x] = 2: corrections {0, 2 * (77/255 - 0.3)} = {0, 0.0039216}.
  std::vector<float> w{1.0f, 0.3f}, b{0.01f, 0.5f};
  const std::vector<double> mean{2.0};
  KpuConvSpec s;
  s.kernel = 1;
  s.in_channels = 1;
  s.out_channels = 2;
  s.weights = w;
  s.bias = b;
  s.input = quant_param_from_range(0, 6).value();
  s.output = quant_param_from_range(-2, 8).value();
  auto plain = derive_kpu_conv_args(s);
  s.input_mean = mean;
  auto corrected = derive_kpu_conv_args(s);
  ASSERT_TRUE(plain.ok() && corrected.ok());
  EXPECT_TRUE(plain->bias_correction.empty());
  ASSERT_EQ(corrected->weights.codes[1], 77);
  ASSERT_EQ(corrected->bias_correction.size(), 2u);
  EXPECT_NEAR(corrected->bias_correction[0], 0.0, 1e-9);
  EXPECT_NEAR(corrected->bias_correction[1], 2.0 * (77.0 / 255 - double(0.3f)), 1e-9);
  // The BN add carries it: add_c = round((b_c - corr_c) / s_bn + 1/2).
  ASSERT_EQ(plain->bn_scale, corrected->bn_scale);
  EXPECT_NEAR(double(corrected->bn[1].norm_add) - plain->bn[1].norm_add,
              -corrected->bias_correction[1] / corrected->bn_scale, 1.0);
  EXPECT_EQ(corrected->bn[0].norm_add, plain->bn[0].norm_add);
}

TEST(K210ConvArgs, BiasCorrectionWeighsBorderTaps3x3) {
  // Depthwise 3x3 on a 4x4 map, one channel: centre weight 1.0 (exact), the 8 others 0.3 (each
  // off by 77/255 - 0.3). A corner tap reads data at 3 of 4 rows and 3 of 4 columns (9/16 of the
  // output pixels), an edge tap at 3/4; the centre always. Sum of shares of the 8 taps:
  // 4 * 9/16 + 4 * 3/4 = 5.25, so the correction is 5.25 * E[x] * (77/255 - 0.3).
  std::vector<float> w(9, 0.3f);
  w[4] = 1.0f;
  const std::vector<double> mean{1.5};
  KpuConvSpec s;
  s.kernel = 3;
  s.depthwise = true;
  s.in_channels = s.out_channels = 1;
  s.weights = w;
  s.input = quant_param_from_range(0, 6).value();
  s.output = quant_param_from_range(0, 6).value();
  s.input_mean = mean;
  s.in_h = s.in_w = 4;
  auto a = derive_kpu_conv_args(s);
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  ASSERT_EQ(a->bias_correction.size(), 1u);
  EXPECT_NEAR(a->bias_correction[0], 5.25 * 1.5 * (77.0 / 255 - double(0.3f)), 1e-9);
}

TEST(K210ConvArgs, BiasCorrectionRemovesTheMeanOutputError) {
  // A 1x1 conv whose per-layer weight grid is coarse for most channels (input channel 0 has
  // weights ~N(0, 2), the others ~N(0, 0.05)), fed positive inputs (mean ~4): the weight rounding
  // shifts every output channel by a constant. Measured with the independent integer model
  // against float weights on the same dequantized inputs: the mean error per channel must drop
  // below 0.25 output LSB with the correction, and it is well above that without.
  std::mt19937 rng(5);
  std::normal_distribution<float> big(0.0f, 2.0f), small(0.0f, 0.05f);
  const int ic = 16, oc = 6, h = 16, wd = 16;
  std::vector<float> w(oc * ic), b(oc, 0.1f);
  for (int o = 0; o < oc; ++o)
    for (int i = 0; i < ic; ++i) w[o * ic + i] = i == 0 ? big(rng) * 0.1f : small(rng);
  w[0] =
      10.0f;  // one large weight sets the per-layer range (output channel 0 saturates: unchecked)
  std::vector<std::uint8_t> in(ic * h * wd);
  std::uniform_int_distribution<int> codes(85, 255);  // real 2..6 on a [0, 6] input grid
  for (auto& v : in) v = static_cast<std::uint8_t>(codes(rng));
  KpuConvSpec s;
  s.kernel = 1;
  s.in_channels = ic;
  s.out_channels = oc;
  s.weights = w;
  s.bias = b;
  s.input = quant_param_from_range(0, 6).value();
  s.output = quant_param_from_range(-4, 4).value();
  std::vector<double> mean(ic, 0.0);
  for (int i = 0; i < ic; ++i) {
    for (int p = 0; p < h * wd; ++p) mean[i] += s.input.dequantize(in[i * h * wd + p]);
    mean[i] /= h * wd;
  }
  Activation linear;
  auto mean_errors = [&](bool correct) {
    s.input_mean = correct ? std::span<const double>(mean) : std::span<const double>();
    auto a = derive_kpu_conv_args(s);
    EXPECT_TRUE(a.ok());
    ActivationFitSpec fs;
    fs.activation = linear;
    fs.bn_scale = a->bn_scale;
    fs.output = s.output;
    fs.bn_min = a->bn_min;
    fs.bn_max = a->bn_max;
    auto fit = fit_activation(fs);
    EXPECT_TRUE(fit.ok());
    test::RefConv c;
    c.in_c = ic;
    c.out_c = oc;
    c.h = h;
    c.w = wd;
    c.arg_x = a->arg_x;
    c.arg_w = a->arg_w;
    c.arg_add = a->arg_add;
    c.pad_value = a->pad_value;
    c.weights.assign(a->weights.codes.begin(), a->weights.codes.end());
    c.bn = a->bn;
    c.act = fit->table;
    const auto out = test::ref_kpu_layer(c, in);
    std::vector<double> err(oc, 0.0);  // in output LSB
    for (int o = 0; o < oc; ++o) {
      for (int p = 0; p < h * wd; ++p) {
        double y = b[o];
        for (int i = 0; i < ic; ++i)
          y += double(w[o * ic + i]) * s.input.dequantize(in[i * h * wd + p]);
        err[o] += (s.output.dequantize(out[o * h * wd + p]) - y) / s.output.scale;
      }
      err[o] /= h * wd;
    }
    return err;
  };
  const auto before = mean_errors(false);
  const auto after = mean_errors(true);
  double worst_before = 0;
  for (int o = 1; o < oc; ++o) {
    EXPECT_LT(std::fabs(after[o]), 0.25) << "channel " << o << " (before " << before[o] << ")";
    worst_before = std::max(worst_before, std::fabs(before[o]));
  }
  EXPECT_GT(worst_before, 1.0);
}

// A dead channel (weights decayed to ~1e-13 in training, its BatchNormalization bias is the
// output: aXeleRate's YOLOv2 conv1 has two) has a per-channel scale of ~1e-16 that no 24-bit
// multiplier and 4-bit shift can express, so the whole layer was refused ("no batch-norm
// multiplier/shift fits"). Such a channel is its bias: the KPU's output must equal the float
// layer's with the ORIGINAL weights to rounding, on every pixel, next to ordinary channels.
TEST(K210ConvArgs, DeadChannelIsItsBias) {
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 0.4f);
  const int ic = 3, oc = 4, k = 3, h = 6, wd = 5, per = k * k * ic;
  std::vector<float> w(oc * per), b = {0.3f, -0.39f, -0.2f, 0.7f};
  for (int o = 0; o < oc; ++o)
    for (int i = 0; i < per; ++i) w[o * per + i] = (o == 1 || o == 3) ? nd(rng) * 1e-13f : nd(rng);
  KpuConvSpec s;
  s.kernel = k;
  s.in_channels = ic;
  s.out_channels = oc;
  s.weights = w;
  s.bias = b;
  s.per_channel = true;
  s.input = quant_param_from_range(0.0, 1.0).value();
  s.output = quant_param_from_range(0.0, 6.0).value();
  auto a = derive_kpu_conv_args(s);
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  Activation act;
  act.kind = ActivationKind::kRelu;
  act.max_value = 6.0f;
  std::vector<std::uint8_t> in(ic * h * wd);
  for (auto& v : in) v = static_cast<std::uint8_t>(rng() & 255);
  const auto out = run_ref_layer(s, *a, act, h, wd, in);
  ASSERT_FALSE(out.empty());
  for (int o = 0; o < oc; ++o)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < wd; ++x) {
        double acc = b[o];
        for (int i = 0; i < ic; ++i)
          for (int ky = 0; ky < k; ++ky)
            for (int kx = 0; kx < k; ++kx) {
              const int yy = y + ky - 1, xx = x + kx - 1;
              if (yy < 0 || yy >= h || xx < 0 || xx >= wd) continue;
              acc += s.input.dequantize(in[(i * h + yy) * wd + xx]) *
                     w[((o * ic + i) * k + ky) * k + kx];
            }
        const double ideal = std::clamp(std::clamp(acc, 0.0, 6.0) / s.output.scale, 0.0, 255.0);
        // 8-bit weights on the live channels: a few output steps; the dead ones: rounding only.
        const double tol = (o == 1 || o == 3) ? 0.5 : 3.0;
        EXPECT_LE(std::fabs(out[(o * h + y) * wd + x] - ideal), tol)
            << "channel " << o << " pixel " << y << "," << x;
      }
  EXPECT_EQ(out[(1 * h + 2) * wd + 2], 0);                                  // relu(-0.39)
  EXPECT_EQ(out[(3 * h + 2) * wd + 2], std::lround(0.7 / s.output.scale));  // 0.7
}

TEST(K210ConvArgs, WorstChannelWeightSqnr) {
  // Channel 0 spans [-1, 1]; channel 1's weights {0.003, 0.001} are below half a per-layer step
  // (2/255 / 2 = 0.0039): both round to the zero point, the channel is lost: SQNR
  // 10·log10(Σw² / Σw²) = 0 dB. Per channel, channel 1 gets its own scale: 0.003 -> a full-scale
  // code, 0.001 is one third of it (error <= half a step of 0.003/255 => > 40 dB).
  std::vector<float> w{1.0f, -1.0f, 0.003f, 0.001f};
  KpuConvSpec s;
  s.kernel = 1;
  s.in_channels = 2;
  s.out_channels = 2;
  s.weights = w;
  s.input = quant_param_from_range(0, 1).value();
  s.output = quant_param_from_range(-1, 1).value();
  auto per_layer = derive_kpu_conv_args(s);
  ASSERT_TRUE(per_layer.ok()) << per_layer.error().to_string();
  EXPECT_EQ(per_layer->worst_weight_channel, 1);
  EXPECT_NEAR(per_layer->worst_weight_sqnr_db, 0.0, 1e-9);
  EXPECT_LT(per_layer->worst_weight_sqnr_db, kPerLayerWeightWarnDb);
  s.per_channel = true;
  auto per_channel = derive_kpu_conv_args(s);
  ASSERT_TRUE(per_channel.ok());
  EXPECT_GT(per_channel->worst_weight_sqnr_db, 40.0);
}

TEST(K210ConvArgs, SixteenBitQmaxKeepsTheAccumulatorIn36Bits) {
  EXPECT_EQ(kpu_weight_qmax(8, 9 * 1024), 255);
  const std::int32_t q = kpu_weight_qmax(16, 9 * 1024);
  EXPECT_LT(q, 65535);
  EXPECT_LE(std::int64_t{q} * 255 * 9 * 1024, (std::int64_t{1} << 35) - 1);
  EXPECT_EQ(kpu_weight_qmax(16, 9), 65535);
}

TEST(K210ConvArgs, RejectsBadGeometry) {
  std::vector<float> w(4);
  KpuConvSpec s;
  s.kernel = 5;
  s.in_channels = s.out_channels = 1;
  s.weights = w;
  EXPECT_FALSE(derive_kpu_conv_args(s).ok());
}

}  // namespace
}  // namespace emc::converter
