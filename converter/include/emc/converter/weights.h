// Weights of a TF.js layers model: the `weightsManifest` of model.json and its binary shards.
//
// A manifest is a list of groups {paths: [shard...], weights: [{name, shape, dtype,
// quantization?}...]}. Within a group the shards are concatenated in `paths` order and the weights
// are laid out back to back in `weights` order (a weight may span two shards). Values are
// little-endian. Decoding follows tfjs-core's io.decodeWeights:
//   dtype float32 / int32                     raw 4-byte values (int32 converted to float)
//   quantization {dtype: uint8|uint16, scale, min}  value = q * scale + min (computed in double,
//                                             rounded once to float; int32 weights: rounded to
//                                             the nearest integer as tfjs does)
//   quantization {dtype: float16}             IEEE binary16 (float32 weights only)
// Every byte of every group must be accounted for: a shard that is missing or too short is an
// error naming the weight, the bytes it needs and the shard; trailing bytes are an error too.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "emc/format/error.h"

namespace emc::converter {

// One decoded weight tensor (always float32 after decoding).
struct WeightTensor {
  std::string name;                 // manifest name, e.g. "conv2d_1/kernel" (":0" suffix removed)
  std::vector<std::int64_t> shape;  // as in the manifest (Keras layout, e.g. HWIO for a kernel)
  std::vector<float> values;        // row-major, product(shape) values
  std::string stored_dtype;         // "float32", "int32", "uint8", "uint16" or "float16" (TF.js);
                                    // HDF5 also "float64" and "int8".."int64", "uint8".."uint64"
};

using WeightMap = std::map<std::string, WeightTensor>;

// Returns the complete bytes of one shard, given the path exactly as written in `paths`.
// Implementations enforce their own size caps and path rules.
using ShardReader = std::function<Result<std::vector<std::uint8_t>>(const std::string& path)>;

// A reader for shards next to model.json. Rejects (kInvalidModel) empty, absolute, drive-letter,
// backslash or NUL-containing paths and any ".." component; the canonical target must stay inside
// `model_dir` (so symlinks escaping it are rejected) and be a regular file of at most
// `max_shard_bytes` bytes.
ShardReader make_directory_shard_reader(std::string model_dir, std::uint64_t max_shard_bytes);

// A reader serving shards from memory (tests, fuzzing, embedding). Unknown paths are a kIo error.
ShardReader make_memory_shard_reader(std::map<std::string, std::vector<std::uint8_t>> shards);

// IEEE 754 binary16 -> float32 (exact, including subnormals, infinities and NaN).
float half_to_float(std::uint16_t half);

}  // namespace emc::converter
