// Binding layers to backends once at load (design.md §3.3): the first backend in policy order
// whose supports() is true, unless the DispatchPolicy names one for the layer's index or type.
#pragma once

#include <vector>

#include "emc/format/error.h"
#include "emc/format/kmodel_v3.h"
#include "emc/interpreter/backend.h"
#include "emc/interpreter/interpreter.h"
#include "emc/interpreter/registry.h"

namespace emc::interpreter::detail {

struct Binding {
  Backend* backend = nullptr;  // owned by the Registry
  bool overridden = false;
};

// One Binding per layer, or the first error: an unknown backend in the policy (kInvalidArgument),
// an override naming a backend that declines the layer (kInvalidArgument), or a layer no
// candidate supports (kNoBackend, "no registered backend supports it; registered: ...").
Result<std::vector<Binding>> bind_layers(const format::Kmodel& model, const Registry& registry,
                                         const DispatchPolicy& policy);

}  // namespace emc::interpreter::detail
