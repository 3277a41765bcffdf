// Shared by the Keras readers (.h5, .keras) and the model-file dispatcher (private).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "emc/converter/model_json.h"
#include "hdf5_file.h"

namespace emc::converter::detail {

// model_config / config.json text -> Model (topology only), with the model.json bounds (size,
// nesting depth, layer count). Errors are prefixed with `what` and name `source`.
Result<Model> model_from_config_text(std::string_view text, const LoadOptions& options,
                                     const std::string& source, const std::string& what);

// Reads the dataset at `path` of `file` as one weight of `layer` (key "<layer>/<index>", Keras's
// weight order), charging its bytes against `budget_values` (throws past it).
void add_h5_weight(const Hdf5File& file, const std::string& path, const std::string& layer,
                   std::size_t index, std::uint64_t& budget_values, WeightMap& out);

}  // namespace emc::converter::detail
