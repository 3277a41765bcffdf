// -p k210: the Kendryte K210 (KPU + the SDK's CPU layers, 6 MiB of SRAM).
#include "emc/converter/convert.h"
#include "lower/lowerer.h"
#include "lower/targets.h"

namespace emc::converter {
namespace detail {

using K = NodeKind;
using L = Lowerer;

// A KPU conv layer is [pad] conv/depthwise [BN] [activation] [pool] (the KPU has conv, BN,
// activation and a pooling stage in one layer). Everything else runs on the CPU side of the
// kmodel. Longest match wins (layer_table.h). The K210 takes the kmodel V3 style: after these
// rows, every node kind's own kmodel_v3 rules (kind_lowering.h).
const LayerTable kKmodelV3Layers = {
    "K210",
    with_kind_rules<LayerRule>(
        {
            {"kpu_conv",
             {maybe({K::kZeroPad}), one_of({K::kConv2D, K::kDepthwiseConv2D}),
              maybe({K::kBatchNorm}), maybe({K::kActivation}), maybe({K::kMaxPool, K::kAvgPool})},
             &member_job<&L::lower_kpu_conv>},
            {"fully_connected",
             {one_of({K::kDense}), maybe({K::kActivation})},
             &member_job<&L::lower_fully_connected>},
            {"global_average_pool2d",
             {one_of({K::kGlobalAvgPool})},
             &member_job<&L::lower_global_avg_pool>},
            {"global_max_pool2d",
             {one_of({K::kGlobalMaxPool})},
             &member_job<&L::lower_global_max_pool>},
            {"max_pool2d",
             {maybe({K::kZeroPad}), one_of({K::kMaxPool})},
             &member_job<&L::lower_max_pool>},
            {"average_pool2d",
             {maybe({K::kZeroPad}), one_of({K::kAvgPool})},
             &member_job<&L::lower_avg_pool>},
            {"add", {one_of({K::kAdd}), maybe({K::kActivation})}, &member_job<&L::lower_add>},
            {"concat", {one_of({K::kConcat})}, &member_job<&L::lower_concat>},
            {"softmax", {one_of({K::kSoftmax})}, &member_job<&L::lower_softmax>},
            {"flatten", {one_of({K::kFlatten})}, &member_job<&L::lower_alias>},
            {"reshape", {one_of({K::kReshape})}, &member_job<&L::lower_alias>},
            {"identity", {one_of({K::kIdentity})}, &member_job<&L::lower_alias>},
            {"batch_norm",
             {one_of({K::kBatchNorm}), maybe({K::kActivation})},
             &member_job<&L::lower_batch_norm>},
            {"activation", {one_of({K::kActivation})}, &member_job<&L::lower_activation>},
            // A ZeroPadding2D the passes could not merge into a conv or pool.
            {"zero_pad", {one_of({K::kZeroPad})}, &member_job<&L::lower_zero_pad>},
            {"elementwise",
             {one_of({K::kSubtract, K::kMultiply, K::kMaximum, K::kMinimum, K::kAverage}),
              maybe({K::kActivation})},
             &member_job<&L::lower_elementwise>},
            {"crop", {one_of({K::kCrop})}, &member_job<&L::lower_crop>},
        },
        &KindLowering::kmodel_v3)};

const Target kK210Target = {
    .name = "k210",
    .title = "K210",
    .default_backend = "kpu-sim",
    .layers = &kKmodelV3Layers,
    .lower = &lower_with_table,
    // The chip's map limits: H <= 256, W <= 512, maps >= 4x4 (kmodel_v3.md).
    .min_map = 4,
    .max_map_h = 256,
    .max_map_w = 512,
    .conv_refusal_note = "",
    .dense_on_kpu = true,
    .emc_types_need_emc_runtime = true,
    .cpu_conv_fallback = true,
    // The kmodel and its main-memory buffers share the 6 MiB of general SRAM with the firmware
    // (the SDK's own code and heap; MaixPy takes more). Past 5 MiB it will not load.
    .limit_bytes = kK210SramBytes,
    .limit_includes_main_memory = true,
    .warn_bytes = 5u << 20,
    .weight_budget_text = "K210's 6 MiB of SRAM",
    .oversize_hint = "; try --dense kpu or a smaller model",
};

}  // namespace detail

const Target* const Target::kK210 = &detail::kK210Target;

}  // namespace emc::converter
