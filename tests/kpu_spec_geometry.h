// KPU map geometry for hand-built test models, written from ../shared/docs/kmodel_v3.md §5.2
// (row layout) and §6.5 (pool output sizes) — independent of format/'s kpu_layout so tests can
// check it. Shared by the accel_sim and cpu_backend test suites.
#pragma once

#include <cstddef>
#include <cstdint>

#include "emc/format/kpu_regs.h"

namespace emc::test {

// §5.2: channels per 64-byte row and rows per image line of a map of width w.
struct SpecLayout {
  std::uint32_t groups, row_len;
};
inline SpecLayout spec_layout(std::uint32_t w) {
  if (w <= 16) return {4, 1};
  if (w <= 32) return {2, 1};
  return {1, (w + 63) / 64};
}

// §5.2: byte of pixel (c, y, x) of a w x h map starting at KPU row `row`.
inline std::size_t spec_pixel(std::uint32_t row, std::uint32_t w, std::uint32_t h, std::uint32_t c,
                              std::uint32_t y, std::uint32_t x) {
  const SpecLayout l = spec_layout(w);
  return std::size_t{row} * 64 + std::size_t{c / l.groups} * l.row_len * h * 64 +
         std::size_t{c % l.groups} * (64 / l.groups) + std::size_t{y} * l.row_len * 64 + x;
}

// §6.5: output size of one side n after `pool`.
inline std::uint32_t spec_pool_size(std::uint32_t n, int pool) {
  if (pool == 1 || pool == 2 || pool == 5 || pool == 6) return n / 2;
  if (pool == 3 || pool == 4 || pool == 7) return n / 4;
  return n;
}

// Register fields of a w x h, ic -> oc conv with kernel k (1 or 3) and `pool`, input at src_row,
// output at dst_row, layouts from the shapes; the arithmetic fields are left 0 for the caller.
inline format::KpuLayerFields spec_conv_fields(std::uint32_t w, std::uint32_t h, std::uint32_t ic,
                                               std::uint32_t oc, std::uint32_t k, int pool,
                                               std::uint32_t src_row, std::uint32_t dst_row) {
  const std::uint32_t ow = spec_pool_size(w, pool), oh = spec_pool_size(h, pool);
  const SpecLayout in = spec_layout(w), out = spec_layout(ow);
  format::KpuLayerFields f;
  f.image_src_addr = src_row;
  f.image_dst_addr = dst_row;
  f.i_ch_num = ic - 1;
  f.o_ch_num = oc - 1;
  f.o_ch_num_coef = oc - 1;
  f.i_row_wid = w - 1;
  f.i_col_high = h - 1;
  f.o_row_wid = ow - 1;
  f.o_col_high = oh - 1;
  f.kernel_type = k == 3 ? 1 : 0;
  f.pool_type = pool;
  f.load_para = 1;
  f.dma_burst_size = 15;
  f.load_coor = 1;
  f.channel_switch_addr = in.row_len * h;
  f.row_switch_addr = in.row_len;
  f.coef_group = in.groups;
  f.load_act = 1;
  f.wb_channel_switch_addr = out.row_len * oh;
  f.wb_row_switch_addr = out.row_len;
  f.wb_group = out.groups;
  f.channel_byte_num = ow * oh - 1;
  f.dma_total_byte = ow * oh * oc - 1;
  return f;
}

}  // namespace emc::test
