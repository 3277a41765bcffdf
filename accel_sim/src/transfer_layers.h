// K210_UPLOAD, K210_ADD_PADDING and K210_REMOVE_PADDING (kmodel_v3.md §5.3): the CPU-side copies
// between main memory and the KPU RAM row layout. They run on the CPU on the chip, so their
// simulated KPU cycles are 0.
#pragma once

#include <memory>

#include "emc/interpreter/backend.h"

namespace emc::accel_sim::detail {

Result<std::unique_ptr<interpreter::PreparedLayer>> prepare_upload(
    const interpreter::LayerInfo& info);
Result<std::unique_ptr<interpreter::PreparedLayer>> prepare_add_padding(
    const interpreter::LayerInfo& info);
Result<std::unique_ptr<interpreter::PreparedLayer>> prepare_remove_padding(
    const interpreter::LayerInfo& info);

}  // namespace emc::accel_sim::detail
