// Semantic checks of a decoded layer (internal to emc_format): main-memory and KPU-RAM ranges
// recomputed from the layer's own fields, register consistency, finite scales, shift ranges.
#pragma once

#include <cstdint>

#include "emc/format/error.h"
#include "emc/format/hex.h"
#include "emc/format/kmodel_v3.h"

namespace emc::format::detail {

// Checks layer `index` of `model` (header already validated). Errors carry a byte offset and the
// layer reference.
Status validate_layer(const Kmodel& model, std::size_t index);

// LayerRef {index, "", type name}
LayerRef layer_ref(std::size_t index, LayerType type);

// Output size of KPU pool `pool_type` (0..9) for an input extent (kmodel_v3.md §6.5).
std::uint32_t kpu_pool_output_extent(std::uint32_t pool_type, std::uint32_t in);

}  // namespace emc::format::detail
