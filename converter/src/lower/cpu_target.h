// Internal: the generic-MCU target (-p cpu). Lowers an optimized, calibrated graph onto EMC's own
// int8 CPU layer types (format/emc_layers.h) with no KPU limit; what it emits and why:
// docs/cpu_target.md "The -p cpu lowering".
#pragma once

#include <vector>

#include "lower/lowered.h"

namespace emc::converter::detail {

// The graph rewrite the cpu target calibrates on (after optimize_graph): an activation that is not
// a clamp (anything but linear, ReLU and ReLU with a max value) is split off the Conv2D /
// DepthwiseConv2D / Dense / BatchNormalization / Add that absorbed it into its own Activation
// node, so calibration records the pre-activation tensor the int8 layer writes. The activation's
// output keeps the original tensor (and name); the new tensor is "<name>/pre_activation".
Result<Graph> split_cpu_activations(Graph graph);

// -p cpu: every tensor int8 asymmetric CHW in main memory (per-tensor parameters from `ranges`,
// one per TensorId); Conv2D / DepthwiseConv2D / Dense / BatchNormalization / average pools as
// EMC_CONV2D / EMC_DEPTHWISE_CONV2D, activations as 256-entry REQUANTIZE tables, concat and
// nearest upsampling as byte copies, everything else through EMC_DEQUANTIZE_INT8 -> the V3 float
// layer -> EMC_QUANTIZE_INT8. Input: uint8 CHW pixels (stored as p - 128) when the first layer is
// a conv, else float32 NHWC. All buffers are Mem::kMain.
Result<LoweredModel> lower_cpu_graph(const Graph& graph, const std::vector<Range>& ranges,
                                     const ConvertOptions& options);

}  // namespace emc::converter::detail
