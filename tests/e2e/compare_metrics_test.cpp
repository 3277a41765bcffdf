// Metric functions of emc-compare on constructed cases whose answers are computed by hand (the
// arithmetic is written out next to each expectation).
#include "compare_metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace emc::compare {
namespace {

using V = std::vector<float>;

TEST(CompareTopK, OrdersLargestFirstWithLowerIndexOnTies) {
  const V v = {0.1f, 0.5f, 0.2f, 0.5f, 0.05f, 0.15f};
  // 0.5 at 1 and 3 (tie -> 1 first), then 0.2 (2), 0.15 (5), 0.1 (0).
  EXPECT_EQ(top_k(v, 5), (std::vector<std::size_t>{1, 3, 2, 5, 0}));
  EXPECT_EQ(top_k(v, 1), (std::vector<std::size_t>{1}));
  EXPECT_EQ(top_k(v, 0).size(), 0u);
  EXPECT_EQ(top_k(v, 99).size(), v.size());  // clipped to the size
}

TEST(CompareTopK, NanRanksLast) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const V v = {nan, -3.0f, 2.0f, nan, -1.0f};
  EXPECT_EQ(top_k(v, 5), (std::vector<std::size_t>{2, 4, 1, 0, 3}));
}

TEST(CompareCosine, HandComputed) {
  // a = (1,2,3), b = (4,5,6): a.b = 32, |a| = sqrt(14), |b| = sqrt(77);
  // 32 / sqrt(1078) = 32 / 32.83291 = 0.974631846.
  auto c = cosine_similarity(V{1, 2, 3}, V{4, 5, 6});
  ASSERT_TRUE(c.ok());
  EXPECT_NEAR(*c, 0.974631846, 1e-9);
  // Orthogonal, opposite, scaled copy.
  EXPECT_NEAR(*cosine_similarity(V{1, 0}, V{0, 1}), 0.0, 1e-12);
  EXPECT_NEAR(*cosine_similarity(V{1, -2}, V{-1, 2}), -1.0, 1e-12);
  EXPECT_NEAR(*cosine_similarity(V{1, -2, 3}, V{2, -4, 6}), 1.0, 1e-12);
}

TEST(CompareCosine, ZeroVectors) {
  EXPECT_EQ(*cosine_similarity(V{0, 0}, V{0, 0}), 1.0);
  EXPECT_EQ(*cosine_similarity(V{0, 0}, V{1, 0}), 0.0);
  EXPECT_EQ(*cosine_similarity(V{1, 0}, V{0, 0}), 0.0);
}

TEST(CompareCosine, SizeMismatchIsAnError) {
  auto c = cosine_similarity(V{1, 2}, V{1, 2, 3});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(c.error().message().find("2"), std::string::npos);
}

TEST(CompareSqnr, HandComputed) {
  // ref = (3,4): signal 25. test = (3,3): noise 1. 10*log10(25) = 13.97940009 dB.
  EXPECT_NEAR(*sqnr_db(V{3, 4}, V{3, 3}), 13.97940009, 1e-8);
  // ref = (1,1,1,1) signal 4; test = (1.1,0.9,1,1) noise 0.02 -> 10*log10(200) = 23.01029996.
  EXPECT_NEAR(*sqnr_db(V{1, 1, 1, 1}, V{1.1f, 0.9f, 1, 1}), 23.01029996, 1e-5);
  // Noise equal to the signal: 0 dB.
  EXPECT_NEAR(*sqnr_db(V{2, 0}, V{0, 0}), 0.0, 1e-12);
}

TEST(CompareSqnr, EdgeCases) {
  EXPECT_EQ(*sqnr_db(V{1, 2}, V{1, 2}), std::numeric_limits<double>::infinity());
  EXPECT_EQ(*sqnr_db(V{0, 0}, V{0, 1}), -std::numeric_limits<double>::infinity());
  EXPECT_FALSE(sqnr_db(V{}, V{}).ok());
  EXPECT_FALSE(sqnr_db(V{1}, V{1, 2}).ok());
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(*sqnr_db(V{1, 2}, V{nan, 2})));
}

TEST(CompareAbsError, HandComputed) {
  // |Δ| = (0.5, 2, 0, 1.5): max 2, mean 4/4 = 1.
  const V ref = {1, -1, 3, 0}, test = {1.5f, 1, 3, -1.5f};
  EXPECT_DOUBLE_EQ(*max_abs_error(ref, test), 2.0);
  EXPECT_DOUBLE_EQ(*mean_abs_error(ref, test), 1.0);
  EXPECT_DOUBLE_EQ(*max_abs_error(V{}, V{}), 0.0);
  EXPECT_FALSE(max_abs_error(V{1}, V{}).ok());
}

TEST(CompareAgreement, Top1AndOverlap) {
  const V ref = {0.40f, 0.30f, 0.10f, 0.08f, 0.06f, 0.04f, 0.02f};
  // Same top-1 (0); top-5 of test = {0, 2, 1, 6, 3}; ref top-5 = {0, 1, 2, 3, 4}; overlap 4.
  const V test = {0.35f, 0.20f, 0.25f, 0.07f, 0.01f, 0.02f, 0.10f};
  EXPECT_TRUE(*top1_agrees(ref, test));
  EXPECT_EQ(*top_k_overlap(ref, test, 5), 4u);
  EXPECT_EQ(*top_k_overlap(ref, test, 1), 1u);
  // Swapped winner: top-1 differs, top-2 sets equal.
  const V swapped = {0.30f, 0.40f, 0.10f, 0.08f, 0.06f, 0.04f, 0.02f};
  EXPECT_FALSE(*top1_agrees(ref, swapped));
  EXPECT_EQ(*top_k_overlap(ref, swapped, 2), 2u);
  EXPECT_FALSE(top1_agrees(V{}, V{}).ok());
}

TEST(CompareSummary, OverlapOfAnOutputSmallerThanKIsOverItsClasses) {
  // 3 classes, --top 5: the top-5 set is all 3 classes, so identical outputs overlap 3/3 = 100 %
  // (not 3/5 = 60 %) and the summary says top-3.
  AgreementSummary s;
  s.k = 5;
  ASSERT_TRUE(s.add(V{0.2f, 0.5f, 0.3f}, V{0.2f, 0.5f, 0.3f}).ok());
  ASSERT_TRUE(s.add(V{0.6f, 0.3f, 0.1f}, V{0.1f, 0.3f, 0.6f}).ok());
  EXPECT_EQ(s.top_k_overlap_sum, 6u);
  EXPECT_EQ(s.top_k_slots, 6u);
  EXPECT_DOUBLE_EQ(s.mean_top_k_overlap(), 1.0);
  EXPECT_EQ(s.effective_k(), 3u);
  EXPECT_DOUBLE_EQ(s.top1_agreement(), 0.5);
}

TEST(CompareSummary, AccumulatesOverImages) {
  AgreementSummary s;
  s.k = 2;
  // Image 1: ref top-2 {0,1}, test top-2 {0,1}: agree, overlap 2. |Δ| = (.1,.1,0) mean .2/3,
  // max .1. Label 0: both correct at top-1.
  ASSERT_TRUE(s.add(V{0.6f, 0.3f, 0.1f}, V{0.5f, 0.4f, 0.1f}, 0).ok());
  // Image 2: ref top-2 {2,0}, test top-2 {1,2}: disagree, overlap 1. |Δ| = (.2,.5,.3) mean
  // 1.0/3, max .5. Label 1: float wrong (top-2 {2,0}), quantized right at top-1.
  ASSERT_TRUE(s.add(V{0.3f, 0.1f, 0.6f}, V{0.1f, 0.6f, 0.3f}, 1).ok());
  // Image 3 unlabelled, a size mismatch: rejected, nothing counted.
  EXPECT_FALSE(s.add(V{1, 0}, V{1, 0, 0}).ok());

  EXPECT_EQ(s.images, 2u);
  EXPECT_EQ(s.top1_agree, 1u);
  EXPECT_DOUBLE_EQ(s.top1_agreement(), 0.5);
  EXPECT_EQ(s.top_k_overlap_sum, 3u);
  EXPECT_DOUBLE_EQ(s.mean_top_k_overlap(), 3.0 / 4.0);
  EXPECT_NEAR(s.mean_abs_dp(), (0.2 / 3 + 1.0 / 3) / 2, 1e-7);
  EXPECT_NEAR(s.max_abs_dp, 0.5, 1e-7);
  EXPECT_EQ(s.labelled, 2u);
  EXPECT_EQ(s.float_top1_correct, 1u);
  EXPECT_EQ(s.quant_top1_correct, 2u);
  EXPECT_EQ(s.float_top_k_correct, 1u);
  EXPECT_EQ(s.quant_top_k_correct, 2u);
}

TEST(CompareAccumulator, PoolsLikeTheConcatenation) {
  // Two pairs: ref (3,4) vs (3,3) and ref (0,0) vs (1,0). Pooled: signal 25, noise 1 + 1 = 2,
  // SQNR 10*log10(12.5) = 10.96910013 dB. dot = 9+12+0 = 21, |ref|^2 = 25, |test|^2 = 18+1 = 19:
  // cos = 21 / sqrt(475) = 21 / 21.794495 = 0.9635461. max |Δ| = 1, mean |Δ| = 2/4.
  TensorErrorAccumulator acc;
  ASSERT_TRUE(acc.add(V{3, 4}, V{3, 3}).ok());
  ASSERT_TRUE(acc.add(V{0, 0}, V{1, 0}).ok());
  EXPECT_FALSE(acc.add(V{1}, V{1, 2}).ok());
  EXPECT_EQ(acc.elements(), 4u);
  EXPECT_NEAR(acc.sqnr_db(), 10.96910013, 1e-8);
  EXPECT_NEAR(acc.cosine(), 0.9635461, 1e-6);
  EXPECT_DOUBLE_EQ(acc.max_abs(), 1.0);
  EXPECT_DOUBLE_EQ(acc.mean_abs(), 0.5);
  // Equal to the one-shot functions on the concatenation.
  EXPECT_NEAR(acc.sqnr_db(), *sqnr_db(V{3, 4, 0, 0}, V{3, 3, 1, 0}), 1e-12);
  EXPECT_NEAR(acc.cosine(), *cosine_similarity(V{3, 4, 0, 0}, V{3, 3, 1, 0}), 1e-12);
  EXPECT_TRUE(std::isnan(TensorErrorAccumulator().sqnr_db()));
}

}  // namespace
}  // namespace emc::compare
