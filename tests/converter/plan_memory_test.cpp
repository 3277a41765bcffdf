// Memory planning (memory_plan.h): no two live buffers overlap, KPU ping-pong, error naming.
#include <gtest/gtest.h>

#include <random>

#include "emc/converter/memory_plan.h"

namespace emc::converter {
namespace {

TEST(PlanKpu, ChainPingPongsBetweenTheEnds) {
  // input(0..0) -> conv0 out (0..1) -> conv1 out (1..2) -> conv2 out (2..3)
  std::vector<KpuBufferRequest> r;
  for (int i = 0; i < 4; ++i)
    r.push_back({1000, i, i + 1, LayerRef{i, "l" + std::to_string(i), "K210_CONV"}});
  auto p = plan_kpu_memory(r);
  ASSERT_TRUE(p.ok());
  // Bottom, top, bottom, top: hand-computed rows.
  EXPECT_EQ(p->start_rows[0], 0u);
  EXPECT_EQ(p->start_rows[1], 32768u - 1000);
  EXPECT_EQ(p->start_rows[2], 0u);
  EXPECT_EQ(p->start_rows[3], 32768u - 1000);
  EXPECT_FALSE(p->from_top[0]);
  EXPECT_TRUE(p->from_top[1]);
  EXPECT_EQ(p->lowest_row, 0u);
  EXPECT_EQ(p->peak_rows, 2000u);
}

TEST(PlanKpu, LongLivedBranchIsNotOverwritten) {
  // b0 lives 0..5 (read by a late layer); chain b1..b4 in between must avoid it.
  std::vector<KpuBufferRequest> r = {
      {5000, 0, 5, {}}, {8000, 1, 2, {}}, {8000, 2, 3, {}}, {8000, 3, 4, {}}, {8000, 4, 5, {}}};
  auto p = plan_kpu_memory(r);
  ASSERT_TRUE(p.ok());
  for (std::size_t i = 0; i < r.size(); ++i)
    for (std::size_t j = i + 1; j < r.size(); ++j) {
      if (!lifetimes_overlap(r[i].first_step, r[i].last_step, r[j].first_step, r[j].last_step))
        continue;
      const auto a0 = p->start_rows[i], a1 = a0 + r[i].rows;
      const auto b0 = p->start_rows[j], b1 = b0 + r[j].rows;
      EXPECT_TRUE(a1 <= b0 || b1 <= a0) << i << " overlaps " << j;
    }
}

TEST(PlanKpu, OutOfMemoryNamesTheLayerAndBytes) {
  std::vector<KpuBufferRequest> r = {{20000, 0, 1, {0, "conv_in", "InputLayer"}},
                                     {20000, 1, 1, {3, "conv2d_7", "Conv2D"}}};
  auto p = plan_kpu_memory(r);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code(), Errc::kKpuOutOfMemory);
  const std::string s = p.error().to_string();
  EXPECT_NE(s.find("conv2d_7"), std::string::npos) << s;
  EXPECT_NE(s.find("1280000 bytes"), std::string::npos) << s;  // 20000 rows * 64
  EXPECT_NE(s.find("conv_in"), std::string::npos) << s;        // what is live
}

TEST(PlanMain, RandomLifetimesNeverOverlapAndAreAtLeastAsTightAsTheSum) {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<MainBufferRequest> r;
    const int n = 5 + static_cast<int>(rng() % 30);
    std::uint64_t sum = 0;
    for (int i = 0; i < n; ++i) {
      const int a = static_cast<int>(rng() % 40);
      const int b = a + static_cast<int>(rng() % 6);
      r.push_back({1 + rng() % 5000, a, b});
      sum += (r.back().bytes + 7) / 8 * 8;
    }
    const auto p = plan_main_memory(r, 8);
    EXPECT_LE(p.total_bytes, sum);
    for (int i = 0; i < n; ++i) {
      EXPECT_EQ(p.offsets[i] % 8, 0u);
      EXPECT_LE(p.offsets[i] + r[i].bytes, p.total_bytes);
      for (int j = i + 1; j < n; ++j) {
        if (!lifetimes_overlap(r[i].first_step, r[i].last_step, r[j].first_step, r[j].last_step))
          continue;
        EXPECT_TRUE(p.offsets[i] + r[i].bytes <= p.offsets[j] ||
                    p.offsets[j] + r[j].bytes <= p.offsets[i])
            << trial << ": " << i << " overlaps " << j;
      }
    }
  }
}

TEST(PlanMain, HandExampleReusesDeadBuffers) {
  // A(0..1, 100) B(1..2, 40) C(2..3, 100): C can reuse A's space; peak = 104 + 40 = 144.
  const auto p = plan_main_memory({{100, 0, 1}, {40, 1, 2}, {100, 2, 3}}, 8);
  EXPECT_EQ(p.offsets[0], 0u);
  EXPECT_EQ(p.offsets[2], 0u);
  EXPECT_EQ(p.offsets[1], 104u);
  EXPECT_EQ(p.total_bytes, 144u);
}

TEST(PlanMain, FirstFitInOrderAndGreedyBySizeDifferByHand) {
  // A(0..1, 16) B(1..2, 64) C(2..3, 64): in order, A at 0, B at 16 (A is live), C at 80 (B is
  // live at [16, 80), C does not fit in A's 16 bytes below it) -> 144. Greedy by size places B
  // at 0, C at 64, A at 64 (its lifetime does not meet C's) -> 128.
  const std::vector<MainBufferRequest> r = {{16, 0, 1}, {64, 1, 2}, {64, 2, 3}};
  const auto in_order = plan_main_memory_in_order(r, 8);
  EXPECT_EQ(in_order.offsets, (std::vector<std::uint64_t>{0, 16, 80}));
  EXPECT_EQ(in_order.total_bytes, 144u);
  const auto greedy = plan_main_memory(r, 8);
  EXPECT_EQ(greedy.offsets, (std::vector<std::uint64_t>{64, 0, 64}));
  EXPECT_EQ(greedy.total_bytes, 128u);
}

}  // namespace
}  // namespace emc::converter
