// Internal: the slopes of a PReLU node in the order its int8 input is stored, for EMC_PRELU_INT8
// (format/emc_layers.h), shared by -p cpu and the k210 CPU layers.
#pragma once

#include <cstdint>
#include <vector>

#include "emc/converter/graph.h"

namespace emc::converter::detail {

// `alpha`: the node's slopes expanded to the input shape `s` (row-major, channels last).
// A rank-3 map stored CHW (`chw_of` empty, not `hwc`) whose slope is the same at every (y, x) of
// a channel gives one slope per channel (the body's plane is H*W); anything else one slope per
// stored element (plane 1): stored element j is logical element j, or, for a flattened CHW map
// (`chw_of` = its [H, W, C]), the HWC element of CHW index j.
std::vector<double> prelu_slopes(const std::vector<float>& alpha, const Shape& s,
                                 const std::vector<std::int32_t>& chw_of, bool hwc);

}  // namespace emc::converter::detail
