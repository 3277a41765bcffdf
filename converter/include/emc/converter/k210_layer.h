// K210_CONV register block helpers: weight-load split (kmodel_v3.md §4.4) and the layout/size
// registers of §4 / §5.2 that depend only on the map geometry.
#pragma once

#include <cstdint>

#include "emc/format/error.h"
#include "emc/format/kpu_regs.h"

namespace emc::converter {

// nncase's rule (NN01/NN02): one output channel's weights take k·k·IC·bytes (depthwise: the whole
// weight blob is one load); a load carries as many whole output channels as fit in 30 KiB
// (8-bit) / 60 KiB (16-bit). load_time ≤ 64 and para_size < 2^17 are checked.
struct KpuWeightLoad {
  std::uint32_t channels_per_load = 0;  // o_ch_num_coef + 1
  std::uint32_t loads = 0;              // load_time + 1
  std::uint32_t para_size = 0;          // bytes per load
};
Result<KpuWeightLoad> kpu_weight_load(std::int32_t kernel, bool depthwise, std::int32_t in_channels,
                                      std::int32_t out_channels, std::int32_t weight_bytes);

struct KpuGeometry {
  std::int32_t in_w = 0, in_h = 0, in_c = 0;     // conv input map (the KPU's view)
  std::int32_t out_w = 0, out_h = 0, out_c = 0;  // after pooling
  std::int32_t kernel = 1;
  bool depthwise = false;
  std::int32_t pool_type = 0;
};

// Fills every register of `f` that depends on the geometry and weight load: channel counts, sizes,
// kernel/pool type, row layout (coef_group, row_switch_addr, channel_switch_addr, wb_*), load
// fields, DMA sizes, and the constant fields (load_para/coor/act = 1, dma_burst_size = 15).
// Addresses, arg_*, pad_value and send_data_out are left to the caller.
Status fill_kpu_geometry(const KpuGeometry& g, const KpuWeightLoad& load,
                         format::KpuLayerFields& f);

}  // namespace emc::converter
