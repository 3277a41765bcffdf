// Load-time semantic checks the parser does not do (robustness.md §2.1 items 8, 10, 11, 15, 16):
// every layer's ranges inside main memory / KPU RAM, no unsafe input/output overlap in a CPU
// layer, a bounded amount of work, and def-before-use (reported as a Diagnostic, not an error:
// memory is zeroed at load, so such a read is deterministic, merely suspicious).
#pragma once

#include <vector>

#include "emc/format/error.h"
#include "emc/format/kmodel_v3.h"
#include "emc/interpreter/interpreter.h"
#include "layer_access.h"

namespace emc::interpreter::detail {

// Upper bound on the summed work estimate of all layers (MACs + bytes moved). The largest real
// file here (MobileNet v1 0.75, 224x224) needs about 3.2e8; this leaves a factor of ~3000.
inline constexpr std::uint64_t kMaxModelWork = 1'000'000'000'000ull;

// `access[i]` is layer_access(model.layers[i]). Errors name the layer (index and type).
Result<std::vector<Diagnostic>> check_model(const format::Kmodel& model,
                                            const std::vector<LayerAccess>& access);

// Error context for layer `index` of `model`.
LayerRef layer_ref(const format::Kmodel& model, std::size_t index);

}  // namespace emc::interpreter::detail
