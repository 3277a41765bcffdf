// What one emc-compare run found: per-image top-k side by side, the dataset summary, every model
// output's error and the per-layer comparison. Filled by the runner, rendered by text_report /
// json_report / html_report.
//
// Top-k, agreement and accuracy are about one output, the top-k output (--output, default 0):
// ImageResult's float_out ... max_abs_dp and CompareResult::summary. Every output (the top-k one
// included) is also compared element by element: ImageResult::outputs, CompareResult::outputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "compare_metrics.h"

namespace emc::compare {

// One model output of one input: float model vs kmodel.
struct OutputImageResult {
  TensorErrorAccumulator error;  // this input's cosine, SQNR, max / mean |difference|
  bool top1_agree = false;       // same arg-max
  std::size_t top_k_overlap = 0;
  std::size_t top_k_size = 0;  // min(k, number of values): the most overlap there can be
};

struct ImageResult {
  std::string name;              // image path, or the --input-f32 file
  std::int64_t label = -1;       // ground-truth class index (dataset subfolder), -1 if unknown
  std::vector<float> float_out;  // float model's top-k output (probabilities for a softmax model)
  std::vector<float> quant_out;  // kmodel output, same order
  std::vector<std::size_t> float_top, quant_top;  // top-k indices of each
  bool top1_agree = false;
  std::size_t top_k_overlap = 0;
  double mean_abs_dp = 0.0, max_abs_dp = 0.0;
  std::vector<OutputImageResult> outputs;  // every model output, in the float model's order
};

// One model output, pooled over all inputs.
struct OutputResult {
  std::string name;               // the float model's tensor name (the Keras output layer)
  std::string shape;              // the float model's shape, e.g. "[8, 8, 3]"
  std::size_t kmodel_output = 0;  // the kmodel output holding it
  bool reordered = false;         // held by the kmodel as CHW planes, compared in HWC order
  TensorErrorAccumulator error;   // pooled: the metrics of all inputs' values concatenated
  std::size_t images = 0, top1_agree = 0;  // inputs, and those whose arg-max agrees
  std::size_t top_k_overlap_sum = 0, top_k_slots = 0;

  double top1_agreement() const { return images ? double(top1_agree) / double(images) : 0.0; }
  double mean_top_k_overlap() const {
    return top_k_slots ? double(top_k_overlap_sum) / double(top_k_slots) : 0.0;
  }
};

// One kmodel layer in the per-layer comparison.
struct LayerResult {
  std::size_t index = 0;                   // kmodel layer index
  std::string type;                        // "K210_CONV"
  std::string backend;                     // "kpu-sim" / "cpu"
  std::vector<std::string> source_layers;  // Keras layers fused into it (sidecar)
  std::string float_tensor;                // float tensor it is compared with ("" if none)
  bool compared = false;                   // metrics below are valid
  std::string note;                        // why not compared / where the output was read
  TensorErrorAccumulator error;            // pooled over all images
  // --isolated: the same metrics when the layer is fed the float model's exact input (quantized
  // with the kmodel's parameters), i.e. the error this layer adds by itself.
  bool isolated_compared = false;
  TensorErrorAccumulator isolated;
  // --isolated, uint8 outputs: the float tensor rounded to the layer's own output grid, i.e. the
  // best SQNR any implementation of this layer can reach with these output parameters.
  bool rounding_compared = false;
  TensorErrorAccumulator rounding;
};

struct CompareResult {
  std::string model_json, kmodel, sidecar;
  std::string backend;  // "kpu" or "cpu"
  std::size_t top = 5;
  std::vector<std::string> labels;  // may be empty (then "class <i>", or a map's "(y, x, c)")
  // The top-k output's [H, W, C] when it is a map (its values in the float model's HWC order):
  // a value without a label is named by its position. Empty: not a map.
  std::vector<std::size_t> top_map;
  std::vector<std::string> warnings;
  std::vector<ImageResult> images;
  AgreementSummary summary;           // of the top-k output
  std::vector<OutputResult> outputs;  // every model output, in the float model's order
  std::size_t top_output = 0;         // position in `outputs` of the top-k output (--output)
  bool layers_requested = false;
  bool isolated_requested = false;
  double sqnr_threshold_db = 20.0;
  std::vector<LayerResult> layers;
  // Position in `layers` of the first compared layer whose SQNR is below the threshold.
  std::optional<std::size_t> first_below;

  std::string label(std::size_t index) const {
    if (index < labels.size()) return labels[index];
    if (top_map.size() == 3 && top_map[1] * top_map[2] > 0) {
      const std::size_t w = top_map[1], c = top_map[2];
      return "(y " + std::to_string(index / c / w) + ", x " + std::to_string(index / c % w) +
             ", c " + std::to_string(index % c) + ")";
    }
    return "class " + std::to_string(index);
  }
};

}  // namespace emc::compare
