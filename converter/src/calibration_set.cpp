// Warnings about calibration sets that cannot give sound ranges (convert.h).
#include <algorithm>
#include <string>

#include "emc/converter/convert.h"

namespace emc::converter {

std::vector<std::string> calibration_set_warnings(const std::vector<std::vector<Tensor>>& samples,
                                                  std::int64_t outputs) {
  std::vector<std::string> w;
  const std::size_t n = samples.size();
  if (n == 0) return w;
  if (n == 1) {
    w.push_back(
        "calibration uses 1 sample: every range fits that one input and other inputs will be "
        "clipped; calibrate on a few hundred inputs like the ones the model will see");
  }
  // A constant input (a blank image) spans no range at all.
  std::size_t constant = 0;
  for (const auto& s : samples) {
    if (s.empty() || s[0].data.empty()) continue;
    const auto& d = s[0].data;
    if (std::all_of(d.begin(), d.end(), [&](float v) { return v == d[0]; })) ++constant;
  }
  if (constant > 0) {
    w.push_back(std::to_string(constant) + " of " + std::to_string(n) +
                " calibration samples are constant (every input value the same, e.g. a blank "
                "image): they show the model no signal, so the ranges they give are too narrow "
                "for real inputs");
  }
  if (n > 1) {
    bool identical = true;
    for (std::size_t i = 1; i < n && identical; ++i) {
      if (samples[i].size() != samples[0].size()) identical = false;
      for (std::size_t k = 0; identical && k < samples[i].size(); ++k)
        identical = samples[i][k].data == samples[0][k].data;
    }
    if (identical) {
      w.push_back("all " + std::to_string(n) +
                  " calibration samples are identical: the ranges fit one input only");
    }
  }
  if (outputs > 1 && std::int64_t(n) < outputs) {
    w.push_back("calibration uses " + std::to_string(n) + (n == 1 ? " sample" : " samples") +
                " for a model with " + std::to_string(outputs) +
                " outputs: fewer samples than output classes cannot show every class's "
                "activations; use at least one (better: several) per class");
  }
  return w;
}

}  // namespace emc::converter
