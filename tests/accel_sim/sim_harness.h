// Small helpers to build one-layer models by hand and run them on kpu-sim.
#pragma once

#include <cstdint>
#include <vector>

#include "emc/accel_sim/kpu_backend.h"
#include "emc/format/kmodel_v3.h"

namespace emc::test {

inline constexpr std::size_t kKpuRamBytes = 2u * 1024 * 1024;

// Register fields of a conv with the §5.2 layouts filled from the shapes (input at src_row,
// output at dst_row). The caller sets the arithmetic fields.
format::KpuLayerFields conv_fields(std::uint32_t w, std::uint32_t h, std::uint32_t ic,
                                   std::uint32_t oc, std::uint32_t k, int pool,
                                   std::uint32_t src_row, std::uint32_t dst_row);

// A segment table whose only reachable segment beyond 0 is 1: y = ((bn - start) * mul >> shift)
// + bias for bn >= start, and seg0_bias below it. Segments 2..15 start at 2^35 - 1.
format::KpuActivationTable simple_act(std::int64_t start, std::int32_t mul, std::uint32_t shift,
                                      std::uint8_t bias, std::uint8_t seg0_bias = 0);

format::Kmodel one_layer_model(format::Layer layer, std::uint32_t main_bytes,
                               bool eight_bit = true);
format::Layer conv_layer(const format::KpuLayerFields& f, std::vector<std::uint8_t> weights,
                         std::vector<format::KpuBatchNorm> bn,
                         const format::KpuActivationTable& act, bool main_out,
                         std::uint32_t main_addr);

// Prepares layer 0 of `model` and runs it once on the given memories.
Status run_one(const format::Kmodel& model, std::vector<std::uint8_t>& kpu,
               std::vector<std::uint8_t>& main, const accel_sim::KpuSimOptions& options = {});
// Prepare only (for error tests).
Status prepare_one(const format::Kmodel& model, std::size_t main_bytes, std::size_t kpu_bytes);

}  // namespace emc::test
