// K210_CONV as a prepared kpu-sim layer: conv -> BN -> activation -> pooling -> write-back (+ DMA).
#pragma once

#include <memory>

#include "emc/accel_sim/kpu_backend.h"
#include "emc/interpreter/backend.h"
#include "scratch_arena.h"

namespace emc::accel_sim::detail {

// `arena` is the scratch shared by the layers of info.model (see scratch_arena.h).
Result<std::unique_ptr<interpreter::PreparedLayer>> prepare_conv(
    const interpreter::LayerInfo& info, const KpuSimOptions& options,
    std::shared_ptr<ScratchArena> arena);

}  // namespace emc::accel_sim::detail
