// Structure-aware decoder for the whole-pipeline fuzzer: any byte string becomes a valid TF.js
// layers model (model.json text, one float32 weight shard) plus an input image, so that almost
// every fuzz input reaches conversion instead of dying in the JSON parser. The bytes choose the
// input size, the layers (Conv2D / DepthwiseConv2D with kernels 1..7, strides 1..2, dilations,
// 'same'/'valid'; BatchNormalization; pools; activations; ZeroPadding2D; UpSampling2D; Add and
// Concatenate with an earlier tensor, merges of 3 or 4 tensors; global pools, Flatten, Dense,
// softmax), their attributes, the weights, and whether the input is declared as the map or as a
// flat vector / grey plane that a Reshape makes the map, whether the output map is reshaped
// into the model output, and whether a Rescaling / Normalization leads. When the bytes run out
// every further choice reads 0, so short inputs give small models. The generated model is what
// Keras would accept: each layer's input shape is valid for it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace emc::fuzz {

struct GeneratedModel {
  std::string model_json;           // TF.js layers-model JSON, one shard "group1-shard1of1.bin"
  std::vector<std::uint8_t> shard;  // little-endian float32 weights in manifest order
  std::int32_t height = 0, width = 0, channels = 0;  // input [H, W, C]
  std::vector<std::uint8_t> pixels;                  // HWC, the model input is pixels / 255
  std::size_t layer_count = 0;                       // Keras layers after the InputLayer
  std::string summary;                               // one line per layer, for EMC_FUZZ_DEBUG
};

GeneratedModel generate_model(const std::uint8_t* data, std::size_t size);

}  // namespace emc::fuzz
