// Decoding a weightsManifest (private to the importer).
#pragma once

#include "emc/converter/model_json.h"
#include "emc/converter/weights.h"
#include "json_util.h"

#include <nlohmann/json.hpp>

namespace emc::converter::detail {

// Decodes every group of `manifest` (the JSON array) reading shards through `shards`.
Result<WeightMap> decode_weights_manifest(const Json& manifest, const ShardReader& shards,
                                          const LoadOptions& options, const std::string& source);

}  // namespace emc::converter::detail
