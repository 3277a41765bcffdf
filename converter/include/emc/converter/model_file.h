// One entry for every model file EMC reads, chosen by content:
//   * Keras HDF5 `.h5` (Keras 2 `model.save`, Keras 3 legacy `.h5`): the root attribute
//     `model_config` (JSON, fixed- or variable-length string) is the architecture, imported as
//     model.json's modelTopology is; the weights are `model_weights/<layer>` datasets taken in
//     each layer's `weight_names` order (the order Keras itself trusts; dataset paths need not
//     match layer names). float16 / float32 / float64 datasets.
//   * Keras `.keras` archive (zip of config.json, metadata.json, model.weights.h5): Keras 3
//     (`layers/<class>_N/vars/I`) and Keras 2.13 (`_layer_checkpoint_dependencies/...`) weight
//     layouts, matched to the config's layers by the order Keras saves them.
//   * anything else: a TF.js layers model.json (load_tfjs_model).
// Bounds are those of model.json (LoadOptions): the config text <= max_json_bytes with nesting
// <= max_json_depth, <= 4096 layers, weights <= max_total_weight_bytes (as float32); an HDF5 or
// zip file is read whole and may be at most max_total_weight_bytes + max_json_bytes long.
// Malformed files are kInvalidModel (exit code 4) naming the file and the HDF5 object or zip
// member; a weights-only .h5 and a TensorLayer .h5 are refused saying what they are.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "emc/converter/model_json.h"

namespace emc::converter {

enum class ModelFileKind { kTfjsJson, kKerasH5, kKerasArchive };

// What `head` (the first bytes of a file) is: HDF5 signature, zip signature, else JSON.
ModelFileKind detect_model_file(const std::uint8_t* head, std::size_t size);

// Loads model.json, .h5 or .keras (by content; a file named *.h5 / *.hdf5 / *.keras that has
// neither signature is an error saying so, not a JSON parse error).
Result<Model> load_model(const std::string& path, const LoadOptions& options = {});

// The same readers over bytes in memory (tests, fuzzing). `name` is what errors call the file.
Result<Model> load_keras_h5_from_memory(const std::vector<std::uint8_t>& bytes,
                                        const std::string& name, const LoadOptions& options = {});
Result<Model> load_keras_archive_from_memory(const std::vector<std::uint8_t>& bytes,
                                             const std::string& name,
                                             const LoadOptions& options = {});

}  // namespace emc::converter
