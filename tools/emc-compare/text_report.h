// Human-readable output of emc-compare: aligned tables on stdout and a progress indicator on
// stderr.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>

#include "compare_result.h"

namespace emc::compare {

// "kmodel layer 7 (K210_CONV) <- conv_dw_3 + conv_dw_3_bn + conv_dw_3_relu"
std::string describe_layer(const LayerResult& layer);

// "output 0 class_probs": the output top-k and agreement are about, for a model with several
// outputs; "" for a model with one.
std::string describe_top_output(const CompareResult& result);

// Formats a dB value: "38.21", "inf" (identical), "-inf", "nan".
std::string format_db(double db);

// The top-k of one image, float and quantized side by side (rank by float probability); for a
// model with several outputs, the output it is about and each output's error for this image.
std::string format_image_table(const CompareResult& result, const ImageResult& image);

// Top-1 agreement, top-k overlap, mean / max |Δp| (and accuracies when labelled), of the top-k
// output (named when the model has several).
std::string format_summary(const CompareResult& result);

// Every model output's pooled cosine, SQNR, max / mean |difference| and top-1 agreement (printed
// for a model with several outputs).
std::string format_output_table(const CompareResult& result);

// The per-layer table and the first layer below the SQNR threshold.
std::string format_layer_table(const CompareResult& result);

// Progress on stderr: a redrawn bar when stderr is a terminal, otherwise a line every 10%.
class Progress {
 public:
  Progress(std::size_t total, std::FILE* out);
  void update(std::size_t done, const std::string& item);
  void finish();

 private:
  std::size_t total_;
  std::FILE* out_;
  bool tty_;
  std::size_t last_reported_ = 0;
  bool active_ = false;
};

}  // namespace emc::compare
