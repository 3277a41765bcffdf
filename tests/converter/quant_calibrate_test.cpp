// Calibration range choice (calibrate.h): KLD and MSE thresholds on synthetic tensors whose best
// range is known in closed form (hand derivations in the comments).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <vector>

#include "emc/converter/calibrate.h"
#include "emc/converter/model_json.h"
#include "frontend_test_util.h"

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

// calibrate() runs samples on several threads; the ranges must be those of the definition: the
// min/max of every tensor over all samples (computed here directly from serial executor runs),
// identical (bit for bit, channel means included) for every thread count, and progress reported
// in sample order on the calling thread.
TEST(Calibrate, ThreadedRunsEqualTheSerialDefinition) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(testing::source_dir()) / "samples" / "models" / "shapes_cnn";
  auto model = load_tfjs_model((dir / "model.json").string());
  ASSERT_TRUE(model.ok()) << model.error().to_string();
  auto graph = build_graph(*model);
  ASSERT_TRUE(graph.ok()) << graph.error().to_string();
  auto ex = FloatExecutor::create(*graph);
  ASSERT_TRUE(ex.ok());
  std::vector<std::vector<Tensor>> samples;
  for (const auto& e : fs::directory_iterator(dir / "inputs"))
    samples.push_back(
        {Tensor{graph->shape(graph->inputs[0]), testing::read_f32(e.path().string())}});
  std::sort(samples.begin(), samples.end(),
            [](const auto& a, const auto& b) { return a[0].data < b[0].data; });
  ASSERT_GE(samples.size(), 7u);
  samples.resize(7);  // 7 samples: full and partial batches for 2 and 4 threads

  const std::size_t nt = ex->graph().tensors.size();
  std::vector<double> lo(nt, INFINITY), hi(nt, -INFINITY);
  for (const auto& s : samples) {
    auto all = ex->run(s, RunOptions{true});
    ASSERT_TRUE(all.ok());
    for (std::size_t t = 0; t < nt; ++t)
      for (float v : (*all)[t].data) {
        lo[t] = std::min<double>(lo[t], v);
        hi[t] = std::max<double>(hi[t], v);
      }
  }
  for (CalibrationMethod m : {CalibrationMethod::kMinMax, CalibrationMethod::kKld}) {
    std::vector<std::vector<Range>> results;
    for (int threads : {1, 2, 4}) {
      std::vector<std::pair<std::size_t, int>> calls;
      auto r = calibrate(
          *ex, samples, m,
          [&](std::size_t done, std::size_t total, int pass) {
            EXPECT_EQ(total, samples.size());
            calls.emplace_back(done, pass);
            return true;
          },
          threads);
      ASSERT_TRUE(r.ok()) << r.error().to_string();
      const int passes = m == CalibrationMethod::kMinMax ? 1 : 2;
      ASSERT_EQ(calls.size(), samples.size() * passes);
      for (std::size_t i = 0; i < calls.size(); ++i) {
        EXPECT_EQ(calls[i].first, i % samples.size() + 1);
        EXPECT_EQ(calls[i].second, static_cast<int>(i / samples.size()) + 1);
      }
      results.push_back(std::move(r).value());
    }
    for (std::size_t t = 0; t < nt; ++t) {
      if (m == CalibrationMethod::kMinMax) {
        EXPECT_EQ(results[0][t].min, lo[t]) << "tensor " << t;
        EXPECT_EQ(results[0][t].max, hi[t]) << "tensor " << t;
      }
      for (std::size_t k = 1; k < results.size(); ++k) {
        EXPECT_EQ(results[k][t].min, results[0][t].min);
        EXPECT_EQ(results[k][t].max, results[0][t].max);
        EXPECT_EQ(results[k][t].channel_mean, results[0][t].channel_mean);
      }
    }
  }
}

}  // namespace
}  // namespace emc::converter
