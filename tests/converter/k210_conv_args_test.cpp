// KPU conv argument derivation (k210_conv_args.h) + activation table (activation_fit.h), checked
// end to end against the independent §6 integer model in k210_ref_model.h and a float reference.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
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
  ActivationFitSpec fs;
  fs.activation = act;
  fs.bn_scale = a->bn_scale;
  fs.output = s.output;
  fs.bn_min = a->bn_min;
  fs.bn_max = a->bn_max;
  auto fit = fit_activation(fs);
  ASSERT_TRUE(fit.ok()) << fit.error().to_string();

  test::RefConv c;
  c.in_c = ic;
  c.out_c = oc;
  c.h = h;
  c.w = wd;
  c.k = p.k;
  c.depthwise = p.dw;
  c.arg_x = a->arg_x;
  c.shr_x = a->shr_x;
  c.arg_w = a->arg_w;
  c.shr_w = a->shr_w;
  c.arg_add = a->arg_add;
  c.pad_value = a->pad_value;
  c.weights.assign(a->weights.codes.begin(), a->weights.codes.end());
  c.bn = a->bn;
  c.act = fit->table;
  std::vector<std::uint8_t> in(ic * h * wd);
  for (auto& v : in) v = static_cast<std::uint8_t>(rng() & 255);
  auto out = test::ref_kpu_layer(c, in);

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
  EXPECT_LE(worst, fit->max_error_lsb + 0.05) << "fit bound " << fit->max_error_lsb;
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
