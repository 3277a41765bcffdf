// What a layer reads and writes: format::layer_footprint (one description for the parser, the
// interpreter and the backends), under the names the load checks use.
#pragma once

#include "emc/format/layer_footprint.h"

namespace emc::interpreter::detail {

using format::ByteRange;
using format::OverlapRule;
using LayerAccess = format::LayerFootprint;

inline Result<LayerAccess> layer_access(const format::Layer& layer) {
  return format::layer_footprint(layer);
}

}  // namespace emc::interpreter::detail
