// Pure metric functions for comparing a float reference with a quantized result (emc-compare):
// top-k, cosine similarity, SQNR, max abs error, top-1 agreement, top-k overlap, |Δp|, and an
// accumulator for a dataset.
//
// Conventions:
//  * `reference` is the float model's tensor, `test` the quantized model's (same element order;
//    callers reorder CHW <-> HWC first). Sizes must match: a mismatch is kInvalidArgument.
//  * Accumulation is in double. Inputs may contain NaN/Inf; the results then follow IEEE rules
//    (a NaN anywhere makes cosine / SQNR / max abs NaN) — callers report them, never crash.
//  * In rankings NaN sorts below every number; ties keep the lower index first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "emc/format/error.h"

namespace emc::compare {

// Indices of the k largest values, largest first (ties: lower index first; NaN last). Returns
// min(k, values.size()) indices.
std::vector<std::size_t> top_k(std::span<const float> values, std::size_t k);

// cos(a, b) = <a,b> / (|a| |b|), in [-1, 1]. Both all-zero: 1 (identical). Exactly one all-zero: 0.
Result<double> cosine_similarity(std::span<const float> reference, std::span<const float> test);

// Signal-to-quantization-noise ratio in dB: 10 * log10(sum(ref^2) / sum((ref - test)^2)).
// +infinity when test == reference exactly (no noise); -infinity when the reference is all zero
// but the test is not. An empty pair is kInvalidArgument.
Result<double> sqnr_db(std::span<const float> reference, std::span<const float> test);

// max_i |reference_i - test_i| (0 for empty inputs).
Result<double> max_abs_error(std::span<const float> reference, std::span<const float> test);

// mean_i |reference_i - test_i| (0 for empty inputs).
Result<double> mean_abs_error(std::span<const float> reference, std::span<const float> test);

// Whether the arg-max (top_k(.,1)) of both is the same index. Empty inputs: kInvalidArgument.
Result<bool> top1_agrees(std::span<const float> reference, std::span<const float> test);

// |top_k(reference, k) ∩ top_k(test, k)|, in [0, min(k, size)].
Result<std::size_t> top_k_overlap(std::span<const float> reference, std::span<const float> test,
                                  std::size_t k);

// Pooled error statistics of many (reference, test) tensor pairs: the metrics of the
// concatenation of everything added, so that one layer compared over a dataset gets one cosine /
// SQNR / max abs error. For a single pair they equal the functions above.
class TensorErrorAccumulator {
 public:
  // Adds one pair (sizes must match; on error nothing is added).
  Status add(std::span<const float> reference, std::span<const float> test);
  // Pools another accumulator's pairs into this one (as if they had been added here).
  void merge(const TensorErrorAccumulator& other);

  std::size_t elements() const { return elements_; }
  double cosine() const;   // same conventions as cosine_similarity()
  double sqnr_db() const;  // same conventions as sqnr_db(); NaN before the first add()
  double max_abs() const { return max_abs_; }
  double mean_abs() const { return elements_ ? sum_abs_ / double(elements_) : 0.0; }

 private:
  std::size_t elements_ = 0;
  double dot_ = 0.0, ref_sq_ = 0.0, test_sq_ = 0.0, noise_sq_ = 0.0, sum_abs_ = 0.0;
  double max_abs_ = 0.0;
};

// Running summary of per-image classifier comparisons over a dataset.
struct AgreementSummary {
  std::size_t images = 0;
  std::size_t top1_agree = 0;         // images whose float and quantized top-1 agree
  std::size_t top_k_overlap_sum = 0;  // sum of top_k_overlap over images
  std::size_t k = 5;                  // the k of top_k_overlap (--top)
  std::size_t top_k_slots = 0;        // sum over images of min(k, output size): the most overlap
  double sum_mean_abs_dp = 0.0;       // sum over images of mean_i |Δp_i|
  double max_abs_dp = 0.0;            // max over images and classes of |Δp_i|
  // Labelled datasets only (label_index >= 0 passed to add()).
  std::size_t labelled = 0;
  std::size_t float_top1_correct = 0, quant_top1_correct = 0;
  std::size_t float_top_k_correct = 0, quant_top_k_correct = 0;

  // Adds one image. `label_index` < 0 means unlabelled. Fails on a size mismatch / empty output
  // (then nothing is added).
  Status add(std::span<const float> reference, std::span<const float> test,
             std::int64_t label_index = -1);

  double top1_agreement() const { return images ? double(top1_agree) / double(images) : 0.0; }
  // Mean overlap as a fraction of the top-k set size (1.0 = identical top-k sets). An output of
  // fewer than k classes has a top-k set of all of them: 3 classes that agree are 3/3, not 3/5.
  double mean_top_k_overlap() const {
    return top_k_slots ? double(top_k_overlap_sum) / double(top_k_slots) : 0.0;
  }
  // The k the overlap was taken at: min(k, output size) (the same for every image of one model).
  std::size_t effective_k() const { return images ? top_k_slots / images : k; }
  double mean_abs_dp() const { return images ? sum_mean_abs_dp / double(images) : 0.0; }
};

}  // namespace emc::compare
