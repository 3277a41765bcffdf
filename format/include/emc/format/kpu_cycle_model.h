// Per-layer K210 KPU cycle estimate (docs/kpu_simulator.md "Cycle model"). In format/ because it
// needs only the registers: the kpu-sim backend reports it per layer and emc-convert --report uses
// it without linking a backend.
//
// The KPU computes one 64-pixel slot of one image row for one output channel and one packed input
// row (1, 2 or 4 channels per 64-byte row, §5.2) per cycle, with all k*k taps in parallel; weights
// stream in from main SRAM. The constants were fitted to the Sipeed 3x3 128->128 throughput table
// (bbs.sipeed.com/t/topic/691) and are documented and tested in tests/accel_sim.
#pragma once

#include <cstdint>

#include "emc/format/kpu_regs.h"

namespace emc::format {

struct KpuCycleModel {
  double cycles_per_slot = 1.03;        // fitted: 3% pipeline overhead over 1 slot/cycle
  double weight_bytes_per_cycle = 3.5;  // fitted: weight fetch from main SRAM, not overlapped
  double dma_bytes_per_cycle = 8.0;     // assumed: one 64-bit word per cycle for the output DMA
  std::uint64_t layer_overhead_cycles = 0;
};

struct KpuConvCost {
  std::uint64_t slots = 0;         // 64-pixel x row x channel-group work units
  std::uint64_t weight_bytes = 0;  // bytes of weights fetched (OC*IC*k*k or C*k*k, x2 for 16-bit)
  std::uint64_t dma_bytes = 0;     // bytes streamed to main memory (0 without KLF_MAIN_MEM_OUT)
  std::uint64_t cycles = 0;        // the estimate
};

// Cost of one K210_CONV from its registers. `eight_bit_weights` from the kmodel header flags,
// `main_mem_out` from the conv body flags.
KpuConvCost estimate_kpu_conv(const format::KpuLayerFields& fields, bool eight_bit_weights,
                              bool main_mem_out, const KpuCycleModel& model = {});

}  // namespace emc::format
