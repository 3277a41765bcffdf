// Fitting an elementwise activation to the KPU's 16-segment piecewise-linear table
// (kmodel_v3.md §4.3, §6.4), on the integer batch-norm output domain of one layer.
//
// The table maps bn (the BN stage's integer output; real pre-activation value = bn · bn_scale) to
// an output code: segment i = last one with x_start ≤ bn, then
//     y = carry_shift((bn − x_start[i]) · y_mul[i], shift[i]) + result_bias[i];  out = clamp(y, 0,
//     255)
// The ideal output is g(bn) = f(bn · bn_scale) / s_out + Z_out (f the float activation, output
// quantization s_out, Z_out). Piecewise-linear activations (linear, relu, relu6, leaky relu,
// thresholded relu, hard sigmoid) get one segment per linear piece, starting at its kink; the
// result then equals the rounded ideal code except at exact .5 ties and where the kink itself is
// not an integer bn. Smooth ones (sigmoid, tanh, elu, selu, swish) are fitted by a minimax search:
// the smallest error e for which a greedy left-to-right cover needs ≤ 14 segments (plus the two
// constant tails). Segments have non-negative y_mul wherever the function is non-decreasing; only
// a decreasing piece (swish below −1.28) uses a negative y_mul (emulators sign-extend it; the SDK
// header declares the field unsigned — kmodel_v3.md §9.4).
//
// The reported error is measured against the real-valued ideal code clamped to [0, 255], under
// both segment-selection rules (≤ as nncase v0.1, strict > as nncase v0.2) and both rounding
// rules of §6.4 (half away from zero, banker's), taking the worst: at every integer bn when the
// active domain (widened by 2 LSB each side) has ≤ 2^21 values, else on 2^21 evenly spaced points
// plus every breakpoint ± 1 (see activation_table_error for how this is made cheap).
#pragma once

#include <cstdint>

#include "emc/converter/graph.h"
#include "emc/converter/quantize.h"
#include "emc/format/kpu_regs.h"

namespace emc::converter {

// The float activation (graph.h semantics) at x.
double activation_value(const Activation& act, double x);

struct ActivationFitSpec {
  Activation activation;
  double bn_scale = 1.0;                               // real pre-activation value per bn unit
  QuantParam output;                                   // uint8 output quantization
  std::int64_t bn_min = -(std::int64_t{1} << 35) + 1;  // reachable bn range (clips the search)
  std::int64_t bn_max = (std::int64_t{1} << 35) - 1;
};

struct ActivationFit {
  format::KpuActivationTable table{};
  int segments_used = 0;            // including the constant tails
  double max_error_lsb = 0;         // max |out − clamp(g)| in output LSB (≥ 0.5 in general)
  std::int64_t max_code_error = 0;  // max |out − clamp(round(g))| (0 = exact up to ties)
  std::int64_t evaluated_points = 0;
  bool exhaustive = false;                    // every integer bn of the active domain was evaluated
  std::int64_t domain_lo = 0, domain_hi = 0;  // bn range where the output is not constant
};

// Fails (kQuantization) only for non-finite/invalid parameters; any activation fits (with an
// error bound the caller reports and may reject).
Result<ActivationFit> fit_activation(const ActivationFitSpec& spec);

// The error check of fit_activation on its own: the worst |out − clamp(g, 0, 255)| and code error
// (|out − clamp(round(g), 0, 255)|, 1 at an exact .5 tie excused) of `table` under all four rule
// combinations, over every integer bn in [lo, hi], or with 0 < samples < hi − lo over the points
// lo + (hi − lo)·i / samples (integer division), i = 0..samples. Exact (the same maxima as
// evaluating every point), but for piecewise-linear activations, and for the smooth ones that are
// monotone (sigmoid, tanh, selu, elu with alpha ≥ 0), it evaluates only the ends of the runs where
// the output is constant and the ideal monotone (a smooth run also at every point when its ends
// could hold the maximum within the libm error), so its cost barely grows with the range
// (activation_fit.cpp, TableCheck).
struct ActivationTableError {
  double max_error_lsb = 0;
  std::int64_t max_code_error = 0;
};
ActivationTableError activation_table_error(const ActivationFitSpec& spec,
                                            const format::KpuActivationTable& table,
                                            std::int64_t lo, std::int64_t hi,
                                            std::int64_t samples = 0);

// The §6.4 table evaluation with an explicit choice of the two contested rules.
std::int64_t eval_activation_table(const format::KpuActivationTable& table, std::int64_t bn,
                                   bool strict_selection, bool bankers_rounding);

}  // namespace emc::converter
