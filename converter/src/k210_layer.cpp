#include "emc/converter/k210_layer.h"

#include <string>

#include "emc/format/kpu_layout.h"

namespace emc::converter {

Result<KpuWeightLoad> kpu_weight_load(std::int32_t kernel, bool depthwise, std::int32_t in_channels,
                                      std::int32_t out_channels, std::int32_t weight_bytes) {
  KpuWeightLoad l;
  const std::uint64_t k2 = static_cast<std::uint64_t>(kernel) * kernel;
  if (depthwise) {
    l.channels_per_load = static_cast<std::uint32_t>(out_channels);
    l.loads = 1;
    const std::uint64_t bytes = k2 * out_channels * weight_bytes;
    if (bytes >= (1u << 17)) {
      return Error(Errc::kInvalidLayerConfig,
                   "depthwise weights take " + std::to_string(bytes) +
                       " bytes; the KPU loads at most 131071 bytes at once (para_size)");
    }
    l.para_size = static_cast<std::uint32_t>(bytes);
    return l;
  }
  const std::uint64_t one_channel = k2 * in_channels * weight_bytes;
  const std::uint64_t budget = (weight_bytes == 1 ? 30u : 60u) * 1024u;
  std::uint64_t per_load = std::min<std::uint64_t>(out_channels, budget / one_channel);
  if (per_load == 0) per_load = 1;
  l.channels_per_load = static_cast<std::uint32_t>(per_load);
  l.loads = static_cast<std::uint32_t>((out_channels + per_load - 1) / per_load);
  l.para_size = static_cast<std::uint32_t>(one_channel * per_load);
  if (l.loads > 64) {
    return Error(Errc::kInvalidLayerConfig, "weights need " + std::to_string(l.loads) +
                                                " loads; the KPU allows at most 64 (load_time)");
  }
  if (l.para_size >= (1u << 17)) {
    return Error(Errc::kInvalidLayerConfig,
                 "one weight load is " + std::to_string(l.para_size) + " bytes; limit 131071");
  }
  return l;
}

Status fill_kpu_geometry(const KpuGeometry& g, const KpuWeightLoad& load,
                         format::KpuLayerFields& f) {
  const auto in_l = format::kpu_row_layout(static_cast<std::uint32_t>(g.in_w));
  const auto out_l = format::kpu_row_layout(static_cast<std::uint32_t>(g.out_w));
  f.depth_wise_layer = g.depthwise ? 1 : 0;
  f.i_ch_num = g.in_c - 1;
  f.o_ch_num = g.out_c - 1;
  f.o_ch_num_coef = static_cast<std::int64_t>(load.channels_per_load) - 1;
  f.i_row_wid = g.in_w - 1;
  f.i_col_high = g.in_h - 1;
  f.o_row_wid = g.out_w - 1;
  f.o_col_high = g.out_h - 1;
  f.kernel_type = g.kernel == 3 ? 1 : 0;
  f.pad_type = 0;
  f.pool_type = g.pool_type;
  f.first_stride = 0;
  f.bypass_conv = 0;
  f.load_para = 1;
  f.dma_burst_size = 15;
  f.load_coor = 1;
  f.load_time = static_cast<std::int64_t>(load.loads) - 1;
  f.para_size = load.para_size;
  f.channel_switch_addr = static_cast<std::int64_t>(in_l.row_len) * g.in_h;
  f.row_switch_addr = in_l.row_len;
  f.coef_group = in_l.groups;
  f.load_act = 1;
  f.wb_channel_switch_addr = static_cast<std::int64_t>(out_l.row_len) * g.out_h;
  f.wb_row_switch_addr = out_l.row_len;
  f.wb_group = out_l.groups;
  f.channel_byte_num = static_cast<std::int64_t>(g.out_w) * g.out_h - 1;
  f.dma_total_byte = static_cast<std::int64_t>(g.out_w) * g.out_h * g.out_c - 1;
  if (f.channel_byte_num >= 65536) {
    return Error(Errc::kInvalidLayerConfig, "output map has " +
                                                std::to_string(f.channel_byte_num + 1) +
                                                " pixels per channel; the KPU allows 65536");
  }
  return ok_status();
}

}  // namespace emc::converter
