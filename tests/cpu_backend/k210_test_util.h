// Helpers for the K210 reference-kernel tests: one-layer models with a real 2 MiB KPU RAM, conv
// registers laid out per ../shared/docs/kmodel_v3.md §5.2 (written here from the spec), and
// prepare+run through the "cpu" backend.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "emc/cpu_backend/cpu_backend.h"
#include "emc/format/kmodel_v3.h"
#include "emc/format/kpu_regs.h"
#include "emc/interpreter/backend.h"

namespace emc::cpu_backend::testing {

inline constexpr std::size_t kKpuBytes = 2u * 1024 * 1024;
inline constexpr std::uint8_t kUntouched = 0xA5;  // sentinel for bytes a layer must not write

// §5.2: channels per 64-byte row and rows per image line of a map of width w.
struct SpecLayout {
  std::uint32_t groups, row_len;
};
inline SpecLayout spec_layout(std::uint32_t w) {
  if (w <= 16) return {4, 1};
  if (w <= 32) return {2, 1};
  return {1, (w + 63) / 64};
}
// §5.2: byte of pixel (c, y, x) of a w x h map starting at `row`.
inline std::size_t spec_pixel(std::uint32_t row, std::uint32_t w, std::uint32_t h, std::uint32_t c,
                              std::uint32_t y, std::uint32_t x) {
  const SpecLayout l = spec_layout(w);
  return std::size_t{row} * 64 + std::size_t{c / l.groups} * l.row_len * h * 64 +
         std::size_t{c % l.groups} * (64 / l.groups) + std::size_t{y} * l.row_len * 64 + x;
}
// §6.5 output size.
inline std::uint32_t spec_pool_size(std::uint32_t n, int pool) {
  if (pool == 1 || pool == 2 || pool == 5 || pool == 6) return n / 2;
  if (pool == 3 || pool == 4 || pool == 7) return n / 4;
  return n;
}

// Register fields of a w x h, ic -> oc conv with kernel k (1 or 3) and `pool`, input at src_row,
// output at dst_row; arithmetic fields are left 0 for the caller.
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

// y = bn for 0 <= bn <= 255 (segment 1 from 0 with slope 1), 0 below; segments 2-15 unreachable.
inline format::KpuActivationTable identity_activation() {
  format::KpuActivationTable t{};
  t[0].x_start = -(std::int64_t{1} << 35);
  t[1].x_start = 0;
  t[1].y_mul = 1;
  for (std::size_t i = 2; i < 16; ++i) t[i].x_start = (std::int64_t{1} << 35) - 1;
  return t;
}

inline format::Layer spec_conv_layer(const format::KpuLayerFields& f,
                                     std::vector<std::uint8_t> weights,
                                     const std::vector<format::KpuBatchNorm>& bn,
                                     const format::KpuActivationTable& act, bool main_out,
                                     std::uint32_t main_addr) {
  format::ConvBody body;
  body.flags = main_out ? format::kLayerFlagMainMemOut : 0;
  body.main_mem_out_address = main_addr;
  body.layer_words = format::pack_kpu_layer(f);
  body.weights = std::move(weights);
  for (const auto& b : bn) body.bn_words.push_back(format::pack_kpu_batchnorm(b));
  body.act_words = format::pack_kpu_activation(act);
  format::Layer layer;
  layer.type = format::LayerType::kK210Conv;
  layer.body = std::move(body);
  return layer;
}

// One layer plus the memories it runs on (KPU RAM and main memory start as kUntouched).
struct K210Fixture {
  format::Kmodel model;
  std::vector<std::uint8_t> kpu = std::vector<std::uint8_t>(kKpuBytes, kUntouched);
  std::vector<std::uint8_t> main;

  K210Fixture(format::Layer layer, std::size_t main_bytes, bool eight_bit = true)
      : main(main_bytes, kUntouched) {
    model.header.flags = eight_bit ? format::kHeaderFlag8BitWeights : 0;
    model.header.layers_length = 1;
    model.header.main_mem_usage = static_cast<std::uint32_t>(main_bytes);
    model.layers.push_back(std::move(layer));
  }

  interpreter::LayerInfo info() const {
    interpreter::LayerInfo i;
    i.index = 7;
    i.layer = &model.layers[0];
    i.model = &model;
    i.main_mem_bytes = main.size();
    i.kpu_mem_bytes = kpu.size();
    return i;
  }
  Result<std::unique_ptr<interpreter::PreparedLayer>> prepare(
      const CpuBackendOptions& options = {}) const {
    return make_cpu_backend(options)->prepare(info());
  }
  Status run(const CpuBackendOptions& options = {}) {
    auto p = prepare(options);
    if (!p.ok()) return std::move(p).error();
    interpreter::ExecContext ctx{interpreter::MemoryRegion("main", main),
                                 interpreter::MemoryRegion("kpu", kpu)};
    return (*p)->run(ctx);
  }
};

}  // namespace emc::cpu_backend::testing
