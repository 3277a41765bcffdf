#include "emc/format/kpu_cycle_model.h"

#include <cmath>

namespace emc::format {

KpuConvCost estimate_kpu_conv(const format::KpuLayerFields& f, bool eight_bit_weights,
                              bool main_mem_out, const KpuCycleModel& model) {
  const std::uint64_t in_c = static_cast<std::uint64_t>(f.in_channels());
  const std::uint64_t out_c = static_cast<std::uint64_t>(f.out_channels());
  const std::uint64_t in_w = static_cast<std::uint64_t>(f.in_width());
  const std::uint64_t in_h = static_cast<std::uint64_t>(f.in_height());
  const std::uint64_t k = static_cast<std::uint64_t>(f.kernel_size());
  // Channels per 64-byte row and rows per image line as the registers program them (§5.2); the
  // width-derived layout if a register holds an impossible value.
  const bool group_ok = f.coef_group == 1 || f.coef_group == 2 || f.coef_group == 4;
  const std::uint64_t groups = group_ok     ? static_cast<std::uint64_t>(f.coef_group)
                               : in_w <= 16 ? 4
                               : in_w <= 32 ? 2
                                            : 1;
  const std::uint64_t row_len = f.row_switch_addr > 0
                                    ? static_cast<std::uint64_t>(f.row_switch_addr)
                                : in_w <= 32 ? 1
                                             : (in_w + 63) / 64;
  const bool depthwise = f.depth_wise_layer != 0;

  KpuConvCost cost;
  // A depthwise channel reads only its own input channel: one slot per row per channel.
  const std::uint64_t in_groups = depthwise ? 1 : (in_c + groups - 1) / groups;
  cost.slots = out_c * in_groups * in_h * row_len;
  cost.weight_bytes = out_c * (depthwise ? 1 : in_c) * k * k * (eight_bit_weights ? 1 : 2);
  if (main_mem_out) {
    cost.dma_bytes = static_cast<std::uint64_t>(f.out_width() * f.out_height()) * out_c;
  }
  const double cycles = model.cycles_per_slot * static_cast<double>(cost.slots) +
                        static_cast<double>(cost.weight_bytes) / model.weight_bytes_per_cycle +
                        static_cast<double>(cost.dma_bytes) / model.dma_bytes_per_cycle;
  cost.cycles = static_cast<std::uint64_t>(std::llround(cycles)) + model.layer_overhead_cycles;
  return cost;
}

}  // namespace emc::format
