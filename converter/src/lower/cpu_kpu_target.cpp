// -p cpu as it is today: the kmodel V3 layers of the K210 target (V3 has no CPU convolution, so a
// conv is still a K210_CONV layer: the architecture-neutral integer conv+BN+activation+pool of
// kmodel_v3.md §6) without the limits that come only from the chip (H <= 256, W <= 512, maps >=
// 4x4); the register-field limits (H <= 512, W <= 1024, <= 1024 channels, 1x1/3x3 kernels) and
// the 2 MiB KPU RAM still apply. Every layer runs on the "cpu" backend, whose K210 kernels are
// the spec's reference arithmetic (bit-exact with kpu-sim).
#include "emc/converter/convert.h"
#include "lower/lowerer.h"
#include "lower/targets.h"

namespace emc::converter {
namespace detail {

const Target kCpuTarget = {
    .name = "cpu",
    .title = "cpu target",
    .default_backend = "cpu",
    .layers = &kKmodelV3Layers,
    .lower = &lower_with_table,
    .min_map = 1,
    .max_map_h = 512,
    .max_map_w = 1024,
    .conv_refusal_note =
        " (kmodel V3 has no CPU convolution layer: -p cpu runs convolutions as K210_CONV too)",
    .dense_on_kpu = false,
    .emc_types_need_emc_runtime = false,
    .limit_bytes = kCpuModelBytes,  // the loader's cap
    .limit_includes_main_memory = false,
    .warn_bytes = 0,
    .weight_budget_text = "cpu target's limit of 64 MiB per kmodel",
    .oversize_hint = "",
};

}  // namespace detail

const Target* const Target::kCpu = &detail::kCpuTarget;

}  // namespace emc::converter
