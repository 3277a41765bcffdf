// The bundled sample models (samples/models/<name>) as e2e test cases: which samples exist, how
// their .f32 inputs were made from pixels, whether the converted model must keep the float
// model's top-1, and the helpers that load their inputs and turn them into kmodel input bytes.
// Shared by convert_samples_test.cpp and convert_cpu_target_test.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "emc/converter/convert.h"
#include "emc/converter/float_executor.h"

namespace emc::e2e {

struct SampleSpec {
  const char* name;
  converter::PixelScale scale;  // how the .f32 inputs were made from pixels
  bool required;                // the sample must exist
  // Top-1 must equal the float model's on every sample input. Not for mobilenet_v1_025: it is
  // untrained and its classifier bias was set to cancel the mean features of these very photos
  // (samples/models/mobilenet_v1_025/README.md), so logits are differences of nearly equal
  // numbers. emc-compare --isolated: every uint8 conv reaches >= 31 dB on its own (gated in
  // compare_e2e_test.cpp), the untrained net amplifies that to 14.5 dB at the last pointwise
  // conv, and the float FC turns GAP's 28.7 dB into 4.8 dB at the logits: a logit noise of mean
  // |d| ~1.1 against float top-1 margins of 0.17-1.94 (docs/converter_k210.md, "Accuracy"), so
  // flips are expected. Its numbers are printed.
  bool keeps_top1 = true;
};

// The samples, in a fixed order.
const std::vector<SampleSpec>& sample_specs();

// samples/models/<name> in the source tree.
std::string model_dir(const char* name);

// Every <dir>/inputs/*.f32 (sorted by name) as an NHWC tensor of `shape`.
std::vector<converter::Tensor> load_inputs(const std::string& dir, const converter::Shape& shape);

// The kmodel input bytes for a float NHWC input: raw pixel codes in CHW for a KPU-first model
// (inverting the sample's documented preprocessing), float32 NHWC otherwise.
std::vector<std::uint8_t> kmodel_input(const converter::Tensor& t,
                                       const converter::ConvertResult& r,
                                       converter::PixelScale scale);

}  // namespace emc::e2e
