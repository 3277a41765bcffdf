// Internal: the declarations of the registered targets (targets.def) for their own files and the
// registry (targets.cpp).
#pragma once

#include "emc/converter/target.h"

namespace emc::converter::detail {
#define EMC_TARGET(var) extern const Target var;
#include "lower/targets.def"
#undef EMC_TARGET
}  // namespace emc::converter::detail
