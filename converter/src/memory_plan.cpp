#include "emc/converter/memory_plan.h"

#include <algorithm>
#include <numeric>
#include <optional>
#include <string>

#include "emc/format/kpu_layout.h"

namespace emc::converter {
namespace {

struct Block {
  std::uint32_t start;
  std::uint32_t rows;
  std::size_t request;
};

std::string bytes_str(std::uint64_t rows) {
  return std::to_string(rows * 64) + " bytes";
}

}  // namespace

Result<KpuPlan> plan_kpu_memory(const std::vector<KpuBufferRequest>& requests) {
  constexpr std::uint32_t kRows = format::kKpuRamRows;
  KpuPlan plan;
  plan.start_rows.assign(requests.size(), 0);
  plan.from_top.assign(requests.size(), false);
  // Requests in step order (stable: request order within a step).
  std::vector<std::size_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return requests[a].first_step < requests[b].first_step;
  });
  std::vector<Block> live;  // sorted by start
  bool top = false;
  for (std::size_t idx : order) {
    const KpuBufferRequest& r = requests[idx];
    // Free everything whose last use is before this step.
    live.erase(std::remove_if(
                   live.begin(), live.end(),
                   [&](const Block& b) { return requests[b.request].last_step < r.first_step; }),
               live.end());
    if (r.rows == 0 || r.rows > kRows) {
      return Error(Errc::kKpuOutOfMemory, "feature map needs " + bytes_str(r.rows) +
                                              ", KPU RAM has " +
                                              std::to_string(format::kKpuRamBytes) + " bytes")
          .with_layer(r.layer);
    }
    // Gaps between live blocks.
    std::vector<std::pair<std::uint32_t, std::uint32_t>> gaps;  // [begin, end)
    std::uint32_t cur = 0;
    for (const Block& b : live) {
      if (b.start > cur) gaps.emplace_back(cur, b.start);
      cur = std::max(cur, b.start + b.rows);
    }
    if (cur < kRows) gaps.emplace_back(cur, kRows);
    std::optional<std::uint32_t> at;
    if (!top) {
      for (const auto& g : gaps)
        if (g.second - g.first >= r.rows) {
          at = g.first;
          break;
        }
    } else {
      for (auto it = gaps.rbegin(); it != gaps.rend(); ++it)
        if (it->second - it->first >= r.rows) {
          at = it->second - r.rows;
          break;
        }
    }
    if (!at) {
      std::uint64_t live_rows = 0, largest = 0;
      std::string names;
      for (const Block& b : live) {
        live_rows += b.rows;
        const LayerRef& l = requests[b.request].layer;
        names += (names.empty() ? "" : ", ") +
                 (l.name.empty() ? "layer " + std::to_string(l.index.value_or(-1)) : l.name) +
                 " (" + bytes_str(b.rows) + ")";
      }
      for (const auto& g : gaps) largest = std::max<std::uint64_t>(largest, g.second - g.first);
      return Error(Errc::kKpuOutOfMemory, "KPU RAM exhausted: output feature map needs " +
                                              bytes_str(r.rows) + " while " + bytes_str(live_rows) +
                                              " are live [" + names + "]; largest free block " +
                                              bytes_str(largest) + " of " +
                                              std::to_string(format::kKpuRamBytes) + " bytes")
          .with_layer(r.layer);
    }
    plan.start_rows[idx] = *at;
    plan.from_top[idx] = top;
    plan.lowest_row = std::min(plan.lowest_row, *at);
    live.push_back(Block{*at, r.rows, idx});
    std::sort(live.begin(), live.end(),
              [](const Block& a, const Block& b) { return a.start < b.start; });
    std::uint32_t in_use = 0;
    for (const Block& b : live) in_use += b.rows;
    plan.peak_rows = std::max(plan.peak_rows, in_use);
    top = !top;
  }
  return plan;
}

namespace {

MainPlan place_in_order(const std::vector<MainBufferRequest>& requests, std::uint64_t alignment,
                        const std::vector<std::size_t>& order) {
  MainPlan plan;
  plan.offsets.assign(requests.size(), 0);
  auto aligned = [&](std::uint64_t b) { return (b + alignment - 1) / alignment * alignment; };
  std::vector<std::size_t> placed;
  for (std::size_t idx : order) {
    const auto& r = requests[idx];
    const std::uint64_t size = aligned(r.bytes);
    std::vector<std::pair<std::uint64_t, std::uint64_t>> busy;  // [off, end) of overlapping
    for (std::size_t p : placed) {
      const auto& q = requests[p];
      if (lifetimes_overlap(r.first_step, r.last_step, q.first_step, q.last_step))
        busy.emplace_back(plan.offsets[p], plan.offsets[p] + aligned(q.bytes));
    }
    std::sort(busy.begin(), busy.end());
    std::uint64_t off = 0;
    for (const auto& b : busy) {
      if (b.first >= off + size) break;
      off = std::max(off, b.second);
    }
    plan.offsets[idx] = off;
    plan.total_bytes = std::max(plan.total_bytes, off + size);
    placed.push_back(idx);
  }
  return plan;
}

}  // namespace

MainPlan plan_main_memory(const std::vector<MainBufferRequest>& requests, std::uint64_t alignment) {
  auto aligned = [&](std::uint64_t b) { return (b + alignment - 1) / alignment * alignment; };
  std::vector<std::size_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const auto sa = aligned(requests[a].bytes), sb = aligned(requests[b].bytes);
    if (sa != sb) return sa > sb;
    return requests[a].first_step < requests[b].first_step;
  });
  return place_in_order(requests, alignment, order);
}

MainPlan plan_main_memory_in_order(const std::vector<MainBufferRequest>& requests,
                                   std::uint64_t alignment) {
  std::vector<std::size_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  return place_in_order(requests, alignment, order);
}

}  // namespace emc::converter
