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
#include "kpu_spec_geometry.h"

namespace emc::cpu_backend::testing {

inline constexpr std::size_t kKpuBytes = 2u * 1024 * 1024;
inline constexpr std::uint8_t kUntouched = 0xA5;  // sentinel for bytes a layer must not write

using emc::test::spec_conv_fields;
using emc::test::spec_layout;
using emc::test::spec_pixel;
using emc::test::spec_pool_size;
using emc::test::SpecLayout;

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
