// Calibration range choice (calibrate.h): KLD and MSE thresholds on synthetic tensors whose best
// range is known in closed form (hand derivations in the comments).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "emc/converter/calibrate.h"

namespace emc::converter {
namespace {

Range calibrated(const std::vector<float>& v, CalibrationMethod m) {
  RangeCollector c;
  c.observe_minmax(v);
  c.observe_histogram(v);
  return c.range(m);
}

// n values evenly spread over (0, top): (k + 0.5) * top / n.
std::vector<float> uniform(int n, double top) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (int k = 0; k < n; ++k) v[static_cast<std::size_t>(k)] = float((k + 0.5) * top / n);
  return v;
}

TEST(CalibrateKld, UniformDataKeepsItsFullRange) {
  // A flat histogram: Q (8 bins merged, spread back) equals P at the full-range cut (KL 0),
  // every shorter cut piles the clipped mass into its last bin (KL > 0).
  const auto v = uniform(204800, 1.0);
  const Range r = calibrated(v, CalibrationMethod::kKld);
  EXPECT_NEAR(r.max, 1.0, 1.0 / 2048);
  EXPECT_EQ(r.min, v.front());
}

TEST(CalibrateKld, ExactZerosDoNotMoveTheThreshold) {
  // ReLU output: half of the values are exactly 0. They are exact in every range (integer zero
  // point), so the choice must be the same as without them: the full range. (Counted in bin 0,
  // they made every coarse Q smear a spike and the search picked the narrowest cut, 1/8 range.)
  auto v = uniform(204800, 1.0);
  v.resize(v.size() * 2, 0.0f);
  const Range r = calibrated(v, CalibrationMethod::kKld);
  EXPECT_EQ(r.min, 0.0);
  EXPECT_NEAR(r.max, 1.0, 1.0 / 2048);
}

TEST(CalibrateKld, SaturatedRelu6KeepsSix) {
  // 45 % exact zeros, 50 % spread over (0, 6), 5 % saturated at exactly 6: clipping below 6 moves
  // the 5 % atom, keeping 6 represents it exactly.
  auto v = uniform(100000, 6.0);
  v.insert(v.end(), 10000, 6.0f);
  v.insert(v.end(), 90000, 0.0f);
  const Range r = calibrated(v, CalibrationMethod::kKld);
  EXPECT_DOUBLE_EQ(r.max, 6.0);
}

TEST(CalibrateMse, OneOutlierHandDerivedOptimum) {
  // N values uniform in (0, 1) and one at 10. For a cut T in (1, 10) only the outlier is clipped:
  // E(T) = N·(T/255)²/12 + (10 − T)², minimum at T* = 10 / (1 + N/(12·255²)).
  for (int n : {100000, 1000000}) {
    auto v = uniform(n, 1.0);
    v.push_back(10.0f);
    const double want = 10.0 / (1.0 + n / (12.0 * 255 * 255));
    const Range r = calibrated(v, CalibrationMethod::kMse);
    EXPECT_NEAR(r.max, want, 10.0 / 2048) << "N = " << n;  // one histogram bin
    EXPECT_EQ(r.min, v.front());
  }
}

TEST(CalibrateMse, UniformClipsOnlyTheCubicallyCheapTail) {
  // Uniform on (0, 1), N values: E(T) = N·T²/(12·255²) + N·(1 − T)³/3, minimum where
  // 2T/(12·255²) = (1 − T)², i.e. T ≈ 1 − sqrt(2/(12·255²)) = 0.99840.
  const auto v = uniform(204800, 1.0);
  const Range r = calibrated(v, CalibrationMethod::kMse);
  EXPECT_NEAR(r.max, 1.0 - std::sqrt(2.0 / (12.0 * 255 * 255)), 0.001);
}

TEST(CalibrateMse, SaturatedRelu6KeepsSixAndZerosCostNothing) {
  auto v = uniform(100000, 6.0);
  v.insert(v.end(), 10000, 6.0f);
  const Range without_zeros = calibrated(v, CalibrationMethod::kMse);
  v.insert(v.end(), 90000, 0.0f);
  const Range with_zeros = calibrated(v, CalibrationMethod::kMse);
  EXPECT_DOUBLE_EQ(with_zeros.max, 6.0);
  EXPECT_DOUBLE_EQ(without_zeros.max, with_zeros.max);
}

TEST(CalibrateMse, SignedRangeClipsBothSidesAtTheSameThreshold) {
  // Symmetric uniform data with one far outlier on the negative side only: the negative end is
  // clipped (to T* of the one-outlier case), the positive end stays at its maximum.
  auto v = uniform(100000, 1.0);
  const std::size_t half = v.size();
  for (std::size_t i = 0; i < half; ++i) v.push_back(-v[i]);
  v.push_back(-10.0f);
  const Range r = calibrated(v, CalibrationMethod::kMse);
  // Range width = T + 1 now: E(T) = 2N·((T + 1)/255)²/12 + (10 − T)², N = 100000:
  // T* = (10 − 2N/(12·255²)) / (1 + 2N/(12·255²)).
  const double a = 2.0 * 100000 / (12.0 * 255 * 255);
  EXPECT_NEAR(r.min, -(10.0 - a) / (1.0 + a), 10.0 / 2048);
  EXPECT_FLOAT_EQ(float(r.max), v[half - 1]);
}

TEST(CalibrateMinMax, IsTheObservedRange) {
  const std::vector<float> v = {0.5f, -2.0f, 3.0f, 0.0f};
  const Range r = calibrated(v, CalibrationMethod::kMinMax);
  EXPECT_EQ(r.min, -2.0);
  EXPECT_EQ(r.max, 3.0);
}

}  // namespace
}  // namespace emc::converter
