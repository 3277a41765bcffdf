// The one preprocessing of emc-compare: every input becomes ONE float32 NHWC tensor (the float
// model's input; images go through the converter's image.h, so decode, resize and pixel scaling
// are exactly those used for calibration); the kmodel input is derived from that same tensor
// (quantized with the converter's input parameters and reordered to CHW for a KPU-first model, or
// flattened for an FC-first one). So both models always see the same pixels.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "class_map.h"
#include "emc/converter/image.h"
#include "emc/converter/quantize.h"
#include "emc/converter/sidecar_map.h"
#include "emc/format/error.h"

namespace emc::compare {

// The Preprocess that maps pixel 0 to `min` and 255 to `max` (--input-range MIN,MAX): the exact
// named scales for [0,1], [-1,1] and [0,255], otherwise kMeanStd with the equivalent mean/std.
// kInvalidArgument unless min < max and both are finite.
Result<converter::Preprocess> preprocess_from_range(double min, double max);

// "x = p / 127.5 - 1 (RGB)", "x = (p - mean[c]) / std[c] with mean (..) std (..) (BGR)"
std::string describe(const converter::Preprocess& pre);

// The float range pixel values 0..255 map to (per channel, min over channels / max over channels).
std::pair<double, double> preprocess_range(const converter::Preprocess& pre);

// One input to compare: an image file or a preprocessed float32 tensor file.
struct InputItem {
  std::string path;
  bool is_f32 = false;        // --input-f32
  std::int64_t label = -1;    // dataset subfolder label (class index), -1 unknown
  bool from_dataset = false;  // listed from --dataset (an undecodable file is skipped, not fatal)
};

// Model input geometry (from the float graph's input tensor [H, W, C]).
struct InputGeometry {
  std::int32_t height = 0, width = 0, channels = 0;
  std::size_t elements() const { return std::size_t(height) * width * channels; }
};

// Reads a raw little-endian float32 file; its size must be exactly geometry.elements() * 4.
Result<std::vector<float>> load_f32_tensor(const std::string& path, const InputGeometry& geometry);

// real = q * scale + bias.
using AffineQuant = converter::MapQuant;

// The uint8 input encoding of a KPU-first kmodel as emc-convert defines it: the raw pixel, i.e.
// the inverse of the preprocessing (scale = 1/std_c, bias = -mean_c/std_c per model channel; for
// the named scales 1/255, 1/127.5 - 1 and raw). One entry per channel (3).
std::vector<AffineQuant> input_quant_from_preprocess(const converter::Preprocess& pre);

// An --input-f32 tensor fed to a uint8-input kmodel must hold values some pixel stands for:
// (x - bias) / scale within [-0.5, 255.5]. Otherwise kInvalidArgument naming the first value
// outside and the range, since clamping it would compare the kmodel on another input than the
// float model.
Status check_fits_uint8_input(const std::vector<float>& nhwc, const InputGeometry& g,
                              const std::vector<AffineQuant>& quant);

// Quantizes an NHWC float tensor as q = clamp(round((x - bias) / scale), 0, 255) (round half away
// from zero, as the SDK's QUANTIZE) with quant[c] (quant[0] if only one) and reorders it to uint8
// CHW for a KPU-first kmodel. Every scale > 0.
std::vector<std::uint8_t> quantize_to_chw(const std::vector<float>& nhwc,
                                          const InputGeometry& geometry,
                                          const std::vector<AffineQuant>& quant);

// Image files of a dataset folder, sorted by path. Files directly in `dir` are unlabelled; files in
// a subfolder get the subfolder's label: with a `class_map`, its entry there (a subfolder missing
// from it is kInvalidArgument); else its index in `labels` when the name is listed there, else its
// value when the name is a non-negative integer, else the index of the subfolder in sorted order
// (then `warning` explains). Only one level of subfolders is read.
Result<std::vector<InputItem>> list_dataset(const std::string& dir,
                                            const std::vector<std::string>& labels,
                                            std::string* warning,
                                            const ClassMap* class_map = nullptr);

// Reads a labels file: one label per line (trailing \r and blanks trimmed; empty lines kept as
// empty labels so line numbers stay class indices).
Result<std::vector<std::string>> read_labels(const std::string& path);

}  // namespace emc::compare
