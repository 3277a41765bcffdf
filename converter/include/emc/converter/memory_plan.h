// Memory planning for a lowered kmodel: KPU RAM (2 MiB, 64-byte rows) and the main-memory scratch
// buffer (main_mem_usage). Both work on buffers with a lifetime [first_step, last_step] in kmodel
// layer indices (inclusive: a layer's input and output are both live at that layer's step).
//
// KPU RAM (plan_kpu_memory): nncase v0.1's scheme — a first-fit allocator over the 32768 rows that
// alternates ends: allocations go bottom, top, bottom, ... in request order, so a chain of KPU
// convs ping-pongs between the two ends (layer i reads one end, writes the other). Buffers are
// freed after their last step, so a KPU output read later (a branch) stays live and untouched.
// Failure: kKpuOutOfMemory naming the layer, the rows/bytes it needs and what is live.
//
// Main memory (plan_main_memory): TFLite Micro's GreedyMemoryPlanner — buffers sorted by size
// (largest first; ties by first use, then request order), each placed at the lowest offset that
// does not overlap any already placed buffer whose lifetime intersects its own. Sizes are rounded
// up to `alignment` (8: the KPU output DMA and QUANTIZED_ADD touch up to 7 bytes past the end).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "emc/format/error.h"

namespace emc::converter {

struct KpuBufferRequest {
  std::uint32_t rows = 0;  // 64-byte rows (format::kpu_map_rows)
  std::int32_t first_step = 0;
  std::int32_t last_step = 0;
  LayerRef layer;  // the layer that writes it (for errors)
};

struct KpuPlan {
  std::vector<std::uint32_t> start_rows;  // per request
  std::vector<bool> from_top;             // which end each request was taken from
  std::uint32_t lowest_row = 32768;       // max_start_address (lowest row ever used)
  std::uint32_t peak_rows = 0;            // most rows live at once
};

Result<KpuPlan> plan_kpu_memory(const std::vector<KpuBufferRequest>& requests);

struct MainBufferRequest {
  std::uint64_t bytes = 0;
  std::int32_t first_step = 0;
  std::int32_t last_step = 0;
};

struct MainPlan {
  std::vector<std::uint64_t> offsets;  // per request
  std::uint64_t total_bytes = 0;       // main_mem_usage
};

MainPlan plan_main_memory(const std::vector<MainBufferRequest>& requests,
                          std::uint64_t alignment = 8);

// The baseline the greedy plan is compared with (report, docs/cpu_target.md): first fit in
// request order (each buffer at the lowest offset free of every placed buffer whose lifetime
// intersects its own, in the order the lowering created them), same alignment.
MainPlan plan_main_memory_in_order(const std::vector<MainBufferRequest>& requests,
                                   std::uint64_t alignment = 8);

// True when two requests' lifetimes intersect (inclusive steps).
inline bool lifetimes_overlap(std::int32_t a0, std::int32_t a1, std::int32_t b0, std::int32_t b1) {
  return a0 <= b1 && b0 <= a1;
}

}  // namespace emc::converter
