#include "compare_metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

namespace emc::compare {
namespace {

Status check_sizes(std::span<const float> reference, std::span<const float> test,
                   const char* what) {
  if (reference.size() != test.size()) {
    return Error(Errc::kInvalidArgument, std::string(what) + ": reference has " +
                                             std::to_string(reference.size()) +
                                             " elements, test has " + std::to_string(test.size()));
  }
  return ok_status();
}

// Strict weak order for rankings: larger first, NaN after every number, ties by lower index.
bool ranks_before(std::span<const float> v, std::size_t a, std::size_t b) {
  const bool nan_a = std::isnan(v[a]), nan_b = std::isnan(v[b]);
  if (nan_a != nan_b) return nan_b;
  if (!nan_a && v[a] != v[b]) return v[a] > v[b];
  return a < b;
}

}  // namespace

std::vector<std::size_t> top_k(std::span<const float> values, std::size_t k) {
  std::vector<std::size_t> idx(values.size());
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  const std::size_t n = std::min(k, values.size());
  std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(n), idx.end(),
                    [&](std::size_t a, std::size_t b) { return ranks_before(values, a, b); });
  idx.resize(n);
  return idx;
}

Result<double> cosine_similarity(std::span<const float> reference, std::span<const float> test) {
  EMC_TRY(check_sizes(reference, test, "cosine similarity"));
  double dot = 0.0, na = 0.0, nb = 0.0;
  for (std::size_t i = 0; i < reference.size(); ++i) {
    const double a = reference[i], b = test[i];
    dot += a * b;
    na += a * a;
    nb += b * b;
  }
  if (std::isnan(dot) || std::isnan(na) || std::isnan(nb)) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  if (na == 0.0 && nb == 0.0) return 1.0;
  if (na == 0.0 || nb == 0.0) return 0.0;
  // Rounding can push |dot| a hair past |a||b|; keep the result a valid cosine.
  return std::clamp(dot / (std::sqrt(na) * std::sqrt(nb)), -1.0, 1.0);
}

Result<double> sqnr_db(std::span<const float> reference, std::span<const float> test) {
  EMC_TRY(check_sizes(reference, test, "SQNR"));
  if (reference.empty()) return Error(Errc::kInvalidArgument, "SQNR of empty tensors");
  double signal = 0.0, noise = 0.0;
  for (std::size_t i = 0; i < reference.size(); ++i) {
    const double r = reference[i];
    const double d = r - static_cast<double>(test[i]);
    signal += r * r;
    noise += d * d;
  }
  if (std::isnan(signal) || std::isnan(noise)) return std::numeric_limits<double>::quiet_NaN();
  if (noise == 0.0) return std::numeric_limits<double>::infinity();
  if (signal == 0.0) return -std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(signal / noise);
}

Result<double> max_abs_error(std::span<const float> reference, std::span<const float> test) {
  EMC_TRY(check_sizes(reference, test, "max abs error"));
  double m = 0.0;
  for (std::size_t i = 0; i < reference.size(); ++i) {
    const double d = std::fabs(static_cast<double>(reference[i]) - static_cast<double>(test[i]));
    if (std::isnan(d)) return std::numeric_limits<double>::quiet_NaN();
    m = std::max(m, d);
  }
  return m;
}

Result<double> mean_abs_error(std::span<const float> reference, std::span<const float> test) {
  EMC_TRY(check_sizes(reference, test, "mean abs error"));
  if (reference.empty()) return 0.0;
  double s = 0.0;
  for (std::size_t i = 0; i < reference.size(); ++i) {
    s += std::fabs(static_cast<double>(reference[i]) - static_cast<double>(test[i]));
  }
  return s / static_cast<double>(reference.size());
}

Result<bool> top1_agrees(std::span<const float> reference, std::span<const float> test) {
  EMC_TRY(check_sizes(reference, test, "top-1 agreement"));
  if (reference.empty()) return Error(Errc::kInvalidArgument, "top-1 of an empty output");
  return top_k(reference, 1)[0] == top_k(test, 1)[0];
}

Result<std::size_t> top_k_overlap(std::span<const float> reference, std::span<const float> test,
                                  std::size_t k) {
  EMC_TRY(check_sizes(reference, test, "top-k overlap"));
  auto a = top_k(reference, k), b = top_k(test, k);
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  std::vector<std::size_t> common;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(common));
  return common.size();
}

Status TensorErrorAccumulator::add(std::span<const float> reference, std::span<const float> test) {
  EMC_TRY(check_sizes(reference, test, "layer comparison"));
  for (std::size_t i = 0; i < reference.size(); ++i) {
    const double a = reference[i], b = test[i], d = a - b;
    dot_ += a * b;
    ref_sq_ += a * a;
    test_sq_ += b * b;
    noise_sq_ += d * d;
    sum_abs_ += std::fabs(d);
    max_abs_ = std::isnan(d) ? d : std::max(max_abs_, std::fabs(d));
  }
  elements_ += reference.size();
  return ok_status();
}

void TensorErrorAccumulator::merge(const TensorErrorAccumulator& o) {
  dot_ += o.dot_;
  ref_sq_ += o.ref_sq_;
  test_sq_ += o.test_sq_;
  noise_sq_ += o.noise_sq_;
  sum_abs_ += o.sum_abs_;
  max_abs_ = std::isnan(o.max_abs_) ? o.max_abs_ : std::max(max_abs_, o.max_abs_);
  elements_ += o.elements_;
}

double TensorErrorAccumulator::cosine() const {
  if (std::isnan(dot_) || std::isnan(ref_sq_) || std::isnan(test_sq_)) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  if (ref_sq_ == 0.0 && test_sq_ == 0.0) return 1.0;
  if (ref_sq_ == 0.0 || test_sq_ == 0.0) return 0.0;
  return std::clamp(dot_ / (std::sqrt(ref_sq_) * std::sqrt(test_sq_)), -1.0, 1.0);
}

double TensorErrorAccumulator::sqnr_db() const {
  if (elements_ == 0 || std::isnan(ref_sq_) || std::isnan(noise_sq_)) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  if (noise_sq_ == 0.0) return std::numeric_limits<double>::infinity();
  if (ref_sq_ == 0.0) return -std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(ref_sq_ / noise_sq_);
}

Status AgreementSummary::add(std::span<const float> reference, std::span<const float> test,
                             std::int64_t label_index) {
  auto agree = top1_agrees(reference, test);
  if (!agree.ok()) return agree.error();
  auto overlap = top_k_overlap(reference, test, k);
  if (!overlap.ok()) return overlap.error();
  auto mean_dp = mean_abs_error(reference, test);
  if (!mean_dp.ok()) return mean_dp.error();
  auto max_dp = max_abs_error(reference, test);
  if (!max_dp.ok()) return max_dp.error();

  ++images;
  top1_agree += *agree ? 1 : 0;
  top_k_overlap_sum += *overlap;
  top_k_slots += std::min(k, reference.size());
  sum_mean_abs_dp += *mean_dp;
  // NaN must not vanish in std::max: keep it visible.
  max_abs_dp = std::isnan(*max_dp) ? *max_dp : std::max(max_abs_dp, *max_dp);

  if (label_index >= 0) {
    ++labelled;
    const auto label = static_cast<std::size_t>(label_index);
    const auto ref_top = top_k(reference, k), test_top = top_k(test, k);
    float_top1_correct += ref_top.front() == label ? 1 : 0;
    quant_top1_correct += test_top.front() == label ? 1 : 0;
    float_top_k_correct += std::find(ref_top.begin(), ref_top.end(), label) != ref_top.end();
    quant_top_k_correct += std::find(test_top.begin(), test_top.end(), label) != test_top.end();
  }
  return ok_status();
}

}  // namespace emc::compare
