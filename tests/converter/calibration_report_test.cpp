// What calibration reports about itself: the percentile cut, the fraction of the calibration
// values a range clips, and the warnings on calibration sets that cannot give sound ranges.
// Expected values are counted by hand from the constructed data.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "emc/converter/calibrate.h"
#include "emc/converter/convert.h"

namespace emc::converter {
namespace {

Range calibrated(const std::vector<float>& v, CalibrationMethod m) {
  RangeCollector c;
  c.observe_minmax(v);
  c.observe_histogram(v);
  return c.range(m);
}

TEST(CalibrationReport, MinMaxClipsNothingAndSaysWhatItSaw) {
  const std::vector<float> v = {-1.0f, 0.0f, 0.5f, 3.0f};
  const Range r = calibrated(v, CalibrationMethod::kMinMax);
  EXPECT_EQ(r.values, 4u);
  EXPECT_EQ(r.observed_min, -1.0);
  EXPECT_EQ(r.observed_max, 3.0);
  EXPECT_EQ(r.clipped_fraction, 0.0);
}

TEST(CalibrationReport, LowestSampleMaximumIsTheSmallestLargestValueOfOneSample) {
  // Three samples whose largest values are -10, 2 and -200 (a NaN is not a value): the overall
  // max is 2, the lowest sample maximum -200, whatever the order.
  RangeCollector c;
  c.observe_minmax(std::vector<float>{-50.0f, -10.0f});
  c.observe_minmax(std::vector<float>{2.0f, -3.0f});
  c.observe_minmax(std::vector<float>{-200.0f, std::nanf(""), -400.0f});
  const Range r = c.range(CalibrationMethod::kMinMax);
  EXPECT_EQ(r.max, 2.0);
  EXPECT_EQ(r.min, -400.0);
  EXPECT_EQ(r.lowest_sample_max, -200.0);
}

TEST(CalibrationReport, PercentileDropsTheRareOutliersAndCountsThem) {
  // 99,990 values spread over (0, 1), 10 zeros and 10 outliers at 100: 100,010 values. The
  // 99.99 % cut (100,000.0 inside) must keep the zeros and the (0, 1) block — 100,000 values —
  // and drop the 10 outliers: clipped 10 / 100,010. The cut is a bin edge (2048 bins over
  // [0, 100]) at or just above 1.
  std::vector<float> v;
  for (int k = 0; k < 99990; ++k) v.push_back(float((k + 0.5) / 99990.0));
  for (int k = 0; k < 10; ++k) v.push_back(0.0f);
  for (int k = 0; k < 10; ++k) v.push_back(100.0f);
  const Range r = calibrated(v, CalibrationMethod::kPercentile);
  const double bin = 100.0 / RangeCollector::kBins;
  EXPECT_GE(r.max, 1.0);
  EXPECT_LE(r.max, 1.0 + bin + 1e-9);
  EXPECT_EQ(r.min, 0.0);
  EXPECT_NEAR(r.clipped_fraction, 10.0 / 100010.0, 1e-12);
  EXPECT_EQ(r.observed_max, 100.0);
  // minmax keeps them: nothing clipped.
  EXPECT_EQ(calibrated(v, CalibrationMethod::kMinMax).clipped_fraction, 0.0);
}

TEST(CalibrationReport, PercentileThresholdOnAHandMadeHistogram) {
  // 4 bins of width 1: [10, 0, 0, 0] + 1 zero + 1 at the extreme (12 values). 99.99 % of 12 is
  // 11.9988: bin 0 and the zero give 11 < 11.9988, so nothing short of the full range (4) keeps
  // enough.
  const std::vector<double> h = {10, 0, 0, 0};
  EXPECT_EQ(percentile_threshold(h, 1.0, 1.0, 1.0, 0.9999), 4.0);
  // With 90 %: 10.8 needed, bin 0 + zero = 11 -> the cut after bin 0.
  EXPECT_EQ(percentile_threshold(h, 1.0, 1.0, 1.0, 0.9), 1.0);
}

TEST(CalibrationReport, MseClipFractionIsTheShareBeyondTheCut) {
  // A long tail: 100,000 values evenly in (0, 1) and 1,000 spread over (1, 8). MSE cuts inside
  // the tail; the reported fraction must be the share of values beyond the cut, counted here.
  std::vector<float> v;
  for (int k = 0; k < 100000; ++k) v.push_back(float((k + 0.5) / 100000.0));
  for (int k = 0; k < 1000; ++k) v.push_back(float(1.0 + 7.0 * (k + 0.5) / 1000.0));
  const Range r = calibrated(v, CalibrationMethod::kMse);
  ASSERT_LT(r.max, 8.0);
  std::size_t beyond = 0;
  for (float x : v) beyond += x > r.max ? 1 : 0;
  ASSERT_GT(beyond, 0u);
  // The cut is a histogram bin edge: a value sitting on it may land on either side.
  EXPECT_NEAR(r.clipped_fraction * double(v.size()), double(beyond), 1.0);
}

std::vector<std::vector<Tensor>> samples_of(const std::vector<std::vector<float>>& data) {
  std::vector<std::vector<Tensor>> out;
  for (const auto& d : data) out.push_back({Tensor{Shape{{std::int32_t(d.size())}}, d}});
  return out;
}

bool has(const std::vector<std::string>& w, const std::string& needle) {
  for (const auto& s : w)
    if (s.find(needle) != std::string::npos) return true;
  return false;
}

TEST(CalibrationSetWarnings, OneSample) {
  const auto w = calibration_set_warnings(samples_of({{0.1f, 0.7f}}), 2);
  EXPECT_TRUE(has(w, "calibration uses 1 sample")) << ::testing::PrintToString(w);
}

TEST(CalibrationSetWarnings, ConstantAndIdenticalSamples) {
  const auto w = calibration_set_warnings(
      samples_of({{0.5f, 0.5f, 0.5f}, {0.1f, 0.2f, 0.3f}, {0.0f, 0.0f, 0.0f}}), 1);
  EXPECT_TRUE(has(w, "2 of 3 calibration samples are constant")) << ::testing::PrintToString(w);
  EXPECT_FALSE(has(w, "identical"));
  const auto same = calibration_set_warnings(samples_of({{0.1f, 0.2f}, {0.1f, 0.2f}}), 1);
  EXPECT_TRUE(has(same, "all 2 calibration samples are identical"))
      << ::testing::PrintToString(same);
}

TEST(CalibrationSetWarnings, FewerSamplesThanClasses) {
  std::vector<std::vector<float>> d;
  for (int i = 0; i < 9; ++i) d.push_back({float(i), float(i) + 0.5f});
  const auto w = calibration_set_warnings(samples_of(d), 10);
  EXPECT_TRUE(has(w, "calibration uses 9 samples for a model with 10 outputs"))
      << ::testing::PrintToString(w);
  d.push_back({9.0f, 9.5f});
  EXPECT_TRUE(calibration_set_warnings(samples_of(d), 10).empty());
}

}  // namespace
}  // namespace emc::converter
