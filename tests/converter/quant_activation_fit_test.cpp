// Activation table fitting (activation_fit.h): exactness for piecewise-linear functions, reported
// worst-case bounds for smooth ones, verified independently by scanning the table with the
// integer model of §6.4 in k210_ref_model.h.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "converter/k210_ref_model.h"
#include "emc/converter/activation_fit.h"

namespace emc::converter {
namespace {

// Scans every bn in [lo, hi] with the independent table evaluation; returns the max distance from
// the ideal real-valued code (clamped to [0, 255]).
double scan_error(const ActivationFitSpec& s, const format::KpuActivationTable& t, std::int64_t lo,
                  std::int64_t hi, std::int64_t* code_mismatch = nullptr) {
  double worst = 0;
  std::int64_t mism = 0;
  for (std::int64_t bn = lo; bn <= hi; ++bn) {
    const double g = activation_value(s.activation, double(bn) * s.bn_scale) / s.output.scale +
                     s.output.zero_point;
    const int out = test::ref_act(t, bn);
    worst = std::max(worst, std::fabs(out - std::clamp(g, 0.0, 255.0)));
    const double fr = g - std::floor(g);
    if (std::fabs(fr - 0.5) > 1e-9 && out != std::clamp<double>(std::round(g), 0, 255)) ++mism;
  }
  if (code_mismatch) *code_mismatch = mism;
  return worst;
}

ActivationFitSpec spec(Activation a, double omin, double omax, int p = 6) {
  ActivationFitSpec s;
  s.activation = a;
  s.output = quant_param_from_range(omin, omax).value();
  s.bn_scale = std::ldexp(s.output.scale, -p);  // 64 bn units per output LSB
  return s;
}

TEST(ActivationFit, LinearReluRelu6AreExact) {
  for (Activation a : {Activation{}, make_relu(), make_relu(6.0f)}) {
    for (auto [lo, hi] : {std::pair{-3.0, 5.0}, std::pair{0.0, 6.0}, std::pair{-1.0, 4.0}}) {
      ActivationFitSpec s = spec(a, lo, hi);
      auto f = fit_activation(s);
      ASSERT_TRUE(f.ok());
      EXPECT_EQ(f->max_code_error, 0) << to_string(a) << " " << lo << ".." << hi;
      EXPECT_LE(f->max_error_lsb, 0.5 + 1e-9);
      std::int64_t mism = 0;
      const double e = scan_error(s, f->table, -400 * 64, 400 * 64, &mism);
      EXPECT_EQ(mism, 0) << to_string(a);
      EXPECT_LE(e, 0.5 + 1e-9);
      EXPECT_TRUE(f->exhaustive);
    }
  }
}

TEST(ActivationFit, LeakyAndHardSigmoidWithinHalfLsbPlusSlopeRounding) {
  for (Activation a : {make_relu(INFINITY, 0.1f), make_relu(INFINITY, 0.3f)}) {
    ActivationFitSpec s = spec(a, -2.0, 6.0);
    auto f = fit_activation(s);
    ASSERT_TRUE(f.ok());
    EXPECT_LE(f->max_error_lsb, 0.52) << to_string(a);
    EXPECT_LE(scan_error(s, f->table, -2000 * 64, 400 * 64), f->max_error_lsb + 1e-9);
  }
  Activation hs;
  hs.kind = ActivationKind::kHardSigmoid;
  hs.alpha = 0.2f;
  ActivationFitSpec s = spec(hs, 0.0, 1.0, 4);
  s.bn_scale = 1.0 / 4096;  // hard sigmoid input in [-2.5, 2.5]: 20480 bn units
  auto f = fit_activation(s);
  ASSERT_TRUE(f.ok());
  EXPECT_LE(f->max_error_lsb, 0.52);
  EXPECT_LE(scan_error(s, f->table, -40000, 40000), f->max_error_lsb + 1e-9);
}

// Swish has a decreasing piece: its negative y_mul meets the emulators' rounding quirks for
// negative products (§6.4), hence the looser bound.
TEST(ActivationFit, SmoothFunctionsHaveSmallVerifiedBounds) {
  struct C {
    ActivationKind k;
    double lo, hi, bound;
  };
  for (C c : {C{ActivationKind::kSigmoid, 0.0, 1.0, 1.5}, C{ActivationKind::kTanh, -1.0, 1.0, 1.5},
              C{ActivationKind::kElu, -1.0, 4.0, 1.5}, C{ActivationKind::kSelu, -1.8, 4.0, 1.5},
              C{ActivationKind::kSwish, -0.3, 4.0, 2.5}}) {
    Activation a;
    a.kind = c.k;
    a.alpha = 1.0f;
    ActivationFitSpec s = spec(a, c.lo, c.hi);
    s.bn_scale = 1.0 / 2048;  // the inputs of interest (|x| < 8) span 32768 bn units
    auto f = fit_activation(s);
    ASSERT_TRUE(f.ok()) << to_string(a);
    EXPECT_LE(f->segments_used, 16);
    EXPECT_LE(f->max_error_lsb, c.bound) << to_string(a);
    // Independent scan over a wide window must not exceed the reported bound.
    EXPECT_LE(scan_error(s, f->table, -40000, 40000), f->max_error_lsb + 1e-9) << to_string(a);
  }
}

// An output range far smaller than the pre-activations that reach it (fuzz_convert finding 11: a
// sigmoid conv whose calibrated output was [0, 0.045], reached for x in [-9.3, -3.05], on a
// reachable range of about ±8.5): the active domain lies outside ±64 output ranges around 0,
// where the fit used to look for it alone, and its table was the constant 255 while it reported
// 0 LSB (-17 dB against the float model). Scanned with the reference model over the whole
// reachable range, sampled: within the reported bound, which stays small.
TEST(ActivationFit, ActiveDomainFarFromZeroIsFound) {
  struct C {
    ActivationKind k;
    double omax;
    double lo, hi;  // reachable pre-activations (real)
    double edge;    // the active domain starts below this (real): sigmoid 2 LSB at -8.2,
                    // hard_sigmoid 0.2x + 0.5 leaves 0 at -2.5
  };
  for (C c : {C{ActivationKind::kSigmoid, 0.045, -8.5, 8.5, -8.0},
              C{ActivationKind::kHardSigmoid, 0.01, -6.0, 6.0, -2.45}}) {
    Activation a;
    a.kind = c.k;
    a.alpha = c.k == ActivationKind::kHardSigmoid ? 0.2f : 1.0f;
    ActivationFitSpec s = spec(a, 0.0, c.omax);
    s.bn_scale = 2.0e-8;
    s.bn_min = static_cast<std::int64_t>(c.lo / s.bn_scale);
    s.bn_max = static_cast<std::int64_t>(c.hi / s.bn_scale);
    auto f = fit_activation(s);
    ASSERT_TRUE(f.ok()) << to_string(a);
    EXPECT_LE(f->max_error_lsb, 1.5) << to_string(a);
    EXPECT_LT(f->domain_lo, static_cast<std::int64_t>(c.edge / s.bn_scale)) << to_string(a);
    double worst = 0;
    for (std::int64_t i = 0; i <= 200000; ++i) {
      const std::int64_t bn = s.bn_min + (s.bn_max - s.bn_min) / 200000 * i;
      worst = std::max(worst, scan_error(s, f->table, bn, bn));
    }
    EXPECT_LE(worst, f->max_error_lsb + 1e-9) << to_string(a);
    EXPECT_LE(worst, 1.5) << to_string(a);
  }
}

TEST(ActivationFit, TableIsAscendingAndStartsAtMinus2Pow35) {
  Activation a;
  a.kind = ActivationKind::kTanh;
  auto f = fit_activation(spec(a, -1, 1));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->table[0].x_start, -(std::int64_t{1} << 35));
  for (int i = 1; i < 16; ++i) EXPECT_GE(f->table[i].x_start, f->table[i - 1].x_start);
  for (const auto& seg : f->table) {
    EXPECT_GE(seg.y_mul, -32768);
    EXPECT_LE(seg.y_mul, 32767);
    EXPECT_LT(seg.x_start, std::int64_t{1} << 35);
  }
  // Round trip through the packed words keeps the table.
  EXPECT_EQ(format::unpack_kpu_activation(format::pack_kpu_activation(f->table)), f->table);
}

// activation_table_error skips the points whose error is implied by a run's ends; it must give
// exactly the maxima of evaluating every point (the definition, written out here), for fitted
// tables and for random ones (negative slopes, zero slopes, shifts 0..14, starts inside the window,
// .5 ties), over every integer of the window and over sampled points.
struct BruteError {
  double err = 0;
  std::int64_t code = 0;
};
BruteError brute_error(const ActivationFitSpec& s, const format::KpuActivationTable& t,
                       std::int64_t lo, std::int64_t hi, std::int64_t samples) {
  BruteError r;
  const std::int64_t n = samples > 0 && samples < hi - lo ? samples : hi - lo;
  for (std::int64_t i = 0; i <= n; ++i) {
    const std::int64_t bn = n == 0 ? lo : lo + (hi - lo) * i / n;
    const double g = activation_value(s.activation, double(bn) * s.bn_scale) / s.output.scale +
                     s.output.zero_point;
    const auto code = static_cast<std::int64_t>(std::clamp(std::round(g), 0.0, 255.0));
    const bool tie = std::fabs(g - std::floor(g) - 0.5) < 1e-9;
    for (bool strict : {false, true})
      for (bool bankers : {false, true}) {
        const std::int64_t out = eval_activation_table(t, bn, strict, bankers);
        r.err = std::max(r.err, std::fabs(double(out) - std::clamp(g, 0.0, 255.0)));
        std::int64_t ce = std::llabs(out - code);
        if (tie && ce == 1) ce = 0;
        r.code = std::max(r.code, ce);
      }
  }
  return r;
}

std::vector<Activation> piecewise_linear_activations() {
  Activation hs;
  hs.kind = ActivationKind::kHardSigmoid;
  hs.alpha = 0.2;
  Activation thr = make_relu();
  thr.threshold = 0.75f;
  Activation up, down;  // affine (Rescaling): increasing, and decreasing (negative y_mul)
  up.kind = down.kind = ActivationKind::kAffine;
  up.alpha = 0.8;
  up.offset = 0.25;
  down.alpha = -0.6;
  down.offset = 1.5;
  return {Activation{},
          make_relu(),
          make_relu(6.0f),
          make_relu(INFINITY, 0.1f),
          make_relu(6.0f, 0.3f),
          make_relu(INFINITY, -0.2f),
          thr,
          hs,
          up,
          down};
}

TEST(ActivationFit, ErrorCheckEqualsEveryPointScanOnFittedTables) {
  for (Activation a : piecewise_linear_activations()) {
    for (int p : {0, 3, 6}) {
      ActivationFitSpec s = spec(a, -2.0, 6.0, p);
      auto f = fit_activation(s);
      ASSERT_TRUE(f.ok());
      const std::int64_t lo = f->domain_lo - 300, hi = f->domain_hi + 300;
      const auto got = activation_table_error(s, f->table, lo, hi);
      const auto want = brute_error(s, f->table, lo, hi, 0);
      EXPECT_EQ(got.max_error_lsb, want.err) << to_string(a) << " p=" << p;
      EXPECT_EQ(got.max_code_error, want.code) << to_string(a) << " p=" << p;
    }
  }
}

TEST(ActivationFit, ErrorCheckEqualsEveryPointScanOnRandomTables) {
  std::mt19937_64 rng(20261205);
  auto uni = [&](std::int64_t a, std::int64_t b) {
    return std::uniform_int_distribution<std::int64_t>(a, b)(rng);
  };
  const auto acts = piecewise_linear_activations();
  int nonzero_code_errors = 0, ties = 0;
  for (int iter = 0; iter < 400; ++iter) {
    ActivationFitSpec s;
    s.activation = acts[static_cast<std::size_t>(iter) % acts.size()];
    s.output = quant_param_from_range(-double(uni(0, 4)), double(uni(1, 8))).value();
    s.bn_scale = s.output.scale * std::ldexp(1.0, -static_cast<int>(uni(0, 7)));
    format::KpuActivationTable t{};
    std::vector<std::int64_t> xs;
    for (int i = 1; i < 16; ++i) xs.push_back(uni(-3000, 3000));
    std::sort(xs.begin(), xs.end());
    xs.erase(std::unique(xs.begin(), xs.end()), xs.end());
    while (xs.size() < 15) xs.push_back(xs.back() + 1 + uni(0, 50));
    t[0].x_start = -(std::int64_t{1} << 35);
    for (int i = 0; i < 16; ++i) {
      if (i > 0) t[i].x_start = xs[static_cast<std::size_t>(i - 1)];
      const int kind = static_cast<int>(uni(0, 5));
      t[i].y_mul = kind == 0   ? 0
                   : kind == 1 ? static_cast<std::int32_t>(uni(-300, -1))
                               : static_cast<std::int32_t>(uni(1, 32767));
      t[i].shift_number = static_cast<std::uint32_t>(uni(0, 14));
      t[i].result_bias = static_cast<std::uint8_t>(uni(0, 255));
    }
    std::int64_t lo = uni(-4000, 3000), hi = lo + uni(0, 3000);
    std::int64_t samples = 0;
    if (iter % 4 == 3) {  // sampled points over a wider window
      hi = lo + uni(5000, 60000);
      samples = uni(100, 4000);
    }
    const auto got = activation_table_error(s, t, lo, hi, samples);
    const auto want = brute_error(s, t, lo, hi, samples);
    ASSERT_EQ(got.max_error_lsb, want.err) << "iteration " << iter;
    ASSERT_EQ(got.max_code_error, want.code) << "iteration " << iter;
    if (want.code > 0) ++nonzero_code_errors;
    for (std::int64_t bn = lo; bn <= std::min(hi, lo + 2000); ++bn) {
      const double g = activation_value(s.activation, double(bn) * s.bn_scale) / s.output.scale +
                       s.output.zero_point;
      if (g - std::floor(g) == 0.5) ++ties;
    }
  }
  // The cases exercise what they are meant to.
  EXPECT_GT(nonzero_code_errors, 100);
  EXPECT_GT(ties, 1000);
}

// The smooth activations: the monotone ones (sigmoid, tanh, selu, elu with alpha >= 0) skip the
// inner points of constant-output runs whose ends cannot hold the maximum; swish and a decreasing
// elu are evaluated at every point. Both must equal the every-point scan exactly, on fitted tables
// (exhaustive windows and sampled ones, several output ranges and bn scales, including an output
// scale so small that the run shortcut is off) and on random tables.
std::vector<Activation> smooth_activations() {
  std::vector<Activation> out;
  for (ActivationKind k : {ActivationKind::kSigmoid, ActivationKind::kTanh, ActivationKind::kSelu,
                           ActivationKind::kSwish}) {
    Activation a;
    a.kind = k;
    out.push_back(a);
  }
  for (double alpha : {1.0, 0.3, -0.5}) {
    Activation a;
    a.kind = ActivationKind::kElu;
    a.alpha = alpha;
    out.push_back(a);
  }
  return out;
}

TEST(ActivationFit, SmoothErrorCheckEqualsEveryPointScanOnFittedTables) {
  int cases = 0;
  for (Activation a : smooth_activations()) {
    for (auto [omin, omax] : {std::pair{-1.0, 1.0}, {-0.3, 6.0}, {-0.01, 0.02}}) {
      for (int p : {1, 8}) {
        ActivationFitSpec s = spec(a, omin, omax, p);
        auto f = fit_activation(s);
        ASSERT_TRUE(f.ok());
        const std::int64_t lo = f->domain_lo - 300, hi = f->domain_hi + 300;
        for (std::int64_t samples : {std::int64_t{0}, std::int64_t{1} + (hi - lo) / 7}) {
          if (samples == 0 && hi - lo > 400000) continue;  // the brute scan stays fast
          const auto got = activation_table_error(s, f->table, lo, hi, samples);
          const auto want = brute_error(s, f->table, lo, hi, samples);
          EXPECT_EQ(got.max_error_lsb, want.err)
              << to_string(a) << " [" << omin << ", " << omax << "] p=" << p << " n=" << samples;
          EXPECT_EQ(got.max_code_error, want.code)
              << to_string(a) << " [" << omin << ", " << omax << "] p=" << p << " n=" << samples;
          ++cases;
        }
      }
    }
  }
  EXPECT_GT(cases, 60);
}

TEST(ActivationFit, SmoothErrorCheckEqualsEveryPointScanOnRandomTables) {
  std::mt19937_64 rng(51515);
  auto uni = [&](std::int64_t a, std::int64_t b) {
    return std::uniform_int_distribution<std::int64_t>(a, b)(rng);
  };
  // Fitted tables (fitting costs more than checking), then some segments moved: shifted starts,
  // other slopes and biases.
  std::vector<std::pair<ActivationFitSpec, ActivationFit>> fitted;
  for (Activation a : smooth_activations()) {
    for (int k = 0; k < 3; ++k) {
      ActivationFitSpec s;
      s.activation = a;
      s.output = quant_param_from_range(-double(uni(0, 4)) / 4, double(uni(1, 8)) / 4).value();
      s.bn_scale = s.output.scale * std::ldexp(1.0, -static_cast<int>(uni(0, 9)));
      auto f = fit_activation(s);
      ASSERT_TRUE(f.ok());
      fitted.emplace_back(s, *f);
    }
  }
  int nonzero_code_errors = 0;
  for (int iter = 0; iter < 300; ++iter) {
    const auto& [s, fit] = fitted[static_cast<std::size_t>(iter) % fitted.size()];
    const ActivationFit* f = &fit;
    format::KpuActivationTable t = f->table;
    for (int i = 1; i < 16; ++i) {
      if (uni(0, 3) != 0 || t[i].x_start > (std::int64_t{1} << 34)) continue;
      const std::int64_t x = t[i].x_start + uni(-20, 20);
      if (x > t[i - 1].x_start && (i == 15 || x < t[i + 1].x_start)) t[i].x_start = x;
      t[i].y_mul = static_cast<std::int32_t>(std::max<std::int64_t>(0, t[i].y_mul + uni(-40, 40)));
      t[i].result_bias = static_cast<std::uint8_t>(
          std::clamp<std::int64_t>(t[i].result_bias + uni(-2, 2), 0, 255));
    }
    const std::int64_t lo = f->domain_lo - uni(0, 500), hi = f->domain_hi + uni(0, 500);
    const std::int64_t samples = iter % 3 == 2 ? uni(100, 5000) : 0;
    if (samples == 0 && hi - lo > 400000) continue;
    const auto got = activation_table_error(s, t, lo, hi, samples);
    const auto want = brute_error(s, t, lo, hi, samples);
    ASSERT_EQ(got.max_error_lsb, want.err)
        << "iteration " << iter << " " << to_string(s.activation);
    ASSERT_EQ(got.max_code_error, want.code) << "iteration " << iter;
    if (want.code > 0) ++nonzero_code_errors;
  }
  EXPECT_GT(nonzero_code_errors, 50);
}

}  // namespace
}  // namespace emc::converter
