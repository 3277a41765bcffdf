// K210_CONV as a prepared kpu-sim layer: conv -> BN -> activation -> pooling -> write-back (+ DMA).
#pragma once

#include <memory>

#include "emc/accel_sim/kpu_backend.h"
#include "emc/interpreter/backend.h"

namespace emc::accel_sim::detail {

Result<std::unique_ptr<interpreter::PreparedLayer>> prepare_conv(const interpreter::LayerInfo& info,
                                                                 const KpuSimOptions& options);

}  // namespace emc::accel_sim::detail
