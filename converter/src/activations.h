// What each ActivationKind computes (private): the table built from activations.def.
#pragma once

#include <span>
#include <vector>

#include "emc/converter/graph.h"

namespace emc::converter::detail {

struct ActivationInfo {
  // The float executor's value: TF.js's own arithmetic (double where JS numbers are, rounded as
  // tfjs-backend-cpu rounds).
  float (*tfjs)(const Activation& a, float x);
  // The real-valued function (the ideal the KPU activation-table fit approximates).
  double (*real)(const Activation& a, double x);
  // Its breakpoints: kinks, discontinuities, extrema where the slope changes sign.
  std::vector<double> (*kinks)(const Activation& a);
  bool piecewise_linear;  // exact with one table segment per linear piece
  // Whether real() is monotone on the whole line for these parameters (the activation-table
  // check then needs only the ends of a constant-output run, activation_fit.cpp).
  bool (*monotone)(const Activation& a);
};

const ActivationInfo& activation_info(ActivationKind kind);

// The activation strings of model configs (EMC_ACTIVATION_NAME rows), in table order.
struct ActivationSpelling {
  const char* name;
  Activation activation;
};
std::span<const ActivationSpelling> activation_spellings();

}  // namespace emc::converter::detail
