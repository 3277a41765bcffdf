// Reading the converter's sidecar map `<kmodel>.map.json` (written by emc-convert next to the
// kmodel): the input preprocessing and quantization the converter calibrated with, and per kmodel
// layer the Keras layers it came from and its output's quantization. emc-compare needs it to feed
// the kmodel the same input as the converter assumed and to dequantize and name layer outputs.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "emc/converter/image.h"
#include "emc/format/error.h"
#include "inputs.h"

namespace emc::compare {

struct SidecarLayer {
  std::size_t index = 0;
  std::string type;                        // "K210_CONV" (informational; the kmodel is the truth)
  std::vector<std::string> source_layers;  // Keras layers fused into this layer, in order
  std::string float_tensor;                // float-graph tensor its output corresponds to ("")
  std::string dtype;                       // "uint8" / "float32" / "" (unknown)
  std::string layout;                      // "CHW" / "HWC" / "" (unknown)
  std::vector<AffineQuant> quant;          // uint8 outputs: 1 (per tensor) or C (per channel)
  // "sampling": a full-resolution map whose consumer does the stride-2 sampling holds the
  // tensor's pixel (y, x) at (y·step + offset, x·step + offset). 0: not stated (the map is the
  // tensor itself).
  std::uint32_t sample_step = 0;
  std::uint32_t sample_offset = 0;
};

struct Sidecar {
  std::string path;
  std::optional<converter::Preprocess> preprocess;  // how images become the float input
  // uint8 kmodel input: real = q*scale + bias, one entry or one per model input channel.
  std::optional<std::vector<AffineQuant>> input_quant;
  std::vector<SidecarLayer> layers;  // by kmodel layer index (may be sparse)

  const SidecarLayer* layer(std::size_t index) const;
};

// Parses the sidecar at `path` (kJson with line/column on malformed JSON, kInvalidArgument naming
// the key for a wrong type or value).
Result<Sidecar> read_sidecar(const std::string& path);

}  // namespace emc::compare
