// Fluent builder for single-layer K210_CONV test cases (XNNPACK-tester style):
//
//   ConvCase().width(17).height(5).in_channels(3).out_channels(9).kernel(3).pool(5).seed(7)
//       .check_against_reference();
//
// build() makes a one-layer Kmodel with registers laid out per kmodel_v3.md §5.2, fills KPU RAM
// with random bytes and random weights/arguments, then derives the batch-norm and activation
// tables from the reference accumulators so that outputs spread over 0..255 and some BN values
// land exactly on segment starts (the §6.4 edge). check_against_reference() runs the layer on
// kpu-sim and on the cpu backend's K210_CONV kernel (a plain spec-derived reference sharing no
// code with accel_sim/src, emc/cpu_backend/k210_reference.h) with the same activation options,
// and requires both memories to be byte-identical.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "emc/accel_sim/kpu_backend.h"
#include "emc/format/kmodel_v3.h"
#include "kpu_spec_geometry.h"

namespace emc::test {

// Row layout of a width per §5.2 (written independently of accel_sim/src).
using TestLayout = SpecLayout;
inline TestLayout test_layout(std::uint32_t width) {
  return spec_layout(width);
}
inline std::uint32_t test_pool_size(std::uint32_t n, int pool) {
  return spec_pool_size(n, pool);
}

class ConvCase {
 public:
  ConvCase& width(std::uint32_t v) {
    w_ = v;
    return *this;
  }
  ConvCase& height(std::uint32_t v) {
    h_ = v;
    return *this;
  }
  ConvCase& in_channels(std::uint32_t v) {
    ic_ = v;
    return *this;
  }
  ConvCase& out_channels(std::uint32_t v) {
    oc_ = v;
    return *this;
  }
  ConvCase& kernel(std::uint32_t k) {
    k_ = k;
    return *this;
  }
  ConvCase& depthwise(bool v = true) {
    dw_ = v;
    return *this;
  }
  ConvCase& pool(int v) {
    pool_ = v;
    return *this;
  }
  ConvCase& sixteen_bit(bool v = true) {
    sixteen_ = v;
    return *this;
  }
  ConvCase& main_out(bool v = true) {
    main_out_ = v;
    return *this;
  }
  ConvCase& seed(std::uint32_t v) {
    seed_ = v;
    return *this;
  }
  ConvCase& shr_x(int v) {
    shr_x_ = v;
    return *this;
  }
  // arg_x itself instead of a random zero-point-like value (e.g. -128 with shr_x 0, as
  // emc-convert writes for inputs quantized around 128).
  ConvCase& arg_x(std::int64_t v) {
    arg_x_ = v;
    return *this;
  }
  ConvCase& shr_w(int v) {
    shr_w_ = v;
    return *this;
  }
  ConvCase& bn_shift(int v) {
    bn_shift_ = v;
    return *this;
  }
  ConvCase& act_shift(int v) {
    act_shift_ = v;
    return *this;
  }
  ConvCase& negative_bn(bool v = true) {
    negative_bn_ = v;
    return *this;
  }
  ConvCase& negative_act_mul(bool v = true) {
    negative_act_ = v;
    return *this;
  }
  // Only non-negative activation slopes (the output stage's non-negative-product form).
  ConvCase& positive_act_mul(bool v = true) {
    positive_act_ = v;
    return *this;
  }
  // A ReLU6-shaped table as emc-convert writes it: segment 0 constant 0 from -2^35, one linear
  // segment with y_mul = 2^k over the middle BN values (so rounding ties are frequent), then
  // constant 255, and 13 more constant-255 segments at the top of the 36-bit range.
  ConvCase& relu_table(bool v = true) {
    relu_table_ = v;
    return *this;
  }
  ConvCase& equal_starts(bool v = true) {
    equal_starts_ = v;
    return *this;
  }
  ConvCase& src_row(std::uint32_t v) {
    src_row_ = v;
    return *this;
  }
  ConvCase& options(const accel_sim::KpuSimOptions& o) {
    options_ = o;
    return *this;
  }

  // Builds the model and memories (called by check_against_reference if needed).
  void build();
  // Runs kpu-sim and the cpu backend; adds gtest failures on any difference.
  void check_against_reference();

  format::Kmodel& model() { return model_; }
  std::vector<std::uint8_t>& kpu() { return kpu_; }
  std::vector<std::uint8_t>& main() { return main_; }

 private:
  void derive_bn_and_activation(std::mt19937& rng);

  std::uint32_t w_ = 16, h_ = 5, ic_ = 3, oc_ = 4, k_ = 3;
  bool dw_ = false;
  int pool_ = 0;
  bool sixteen_ = false, main_out_ = true;
  std::uint32_t seed_ = 1;
  std::optional<int> shr_x_, shr_w_, bn_shift_, act_shift_;
  std::optional<std::int64_t> arg_x_;
  bool negative_bn_ = false, negative_act_ = false, equal_starts_ = false;
  bool positive_act_ = false, relu_table_ = false;
  std::uint32_t src_row_ = 0;
  accel_sim::KpuSimOptions options_;

  bool built_ = false;
  format::Kmodel model_;
  std::vector<std::uint8_t> kpu_, main_;
};

}  // namespace emc::test
