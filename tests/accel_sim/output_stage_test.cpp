// kpu-sim's BN/activation output stage: the optimized forms (AVX-512 int64, AVX-512 int32 with
// clamped bn and saturating offsets) against the portable per-element loop, which follows
// kmodel_v3.md §6.3-§6.4 literally, on random tables, channel constants and accumulators.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "output_stage.h"

namespace emc::accel_sim::detail {
namespace {

struct Stage {
  ActivationStage stage;
  Stage(const format::KpuActivationTable& t, KernelIsa isa, ActivationRounding r,
        SegmentSelection s)
      : stage(t, KpuSimOptions{.rounding = r, .selection = s, .max_isa = isa}) {}
};

// A table whose products are never negative (segment 0 at the lowest 36-bit start, y_mul >= 0):
// the class of every ReLU / ReLU6 / clipped-linear layer, which the int32 form is for.
format::KpuActivationTable random_nonneg_table(std::mt19937_64& rng, std::int64_t span) {
  format::KpuActivationTable t{};
  // Mostly what converters emit (few segments, shifts that keep 255 * 2^shift inside int32),
  // sometimes anything (the int32 form then declines and the int64 form runs).
  const bool wild = rng() % 4 == 0;
  std::uniform_int_distribution<int> used_d(1, wild ? 16 : 5), shift_d(0, wild ? 40 : 22);
  std::uniform_int_distribution<int> bias_d(0, 255);
  std::uniform_int_distribution<std::int64_t> start_d(-span, span);
  const int used = used_d(rng);
  std::vector<std::int64_t> starts;
  for (int i = 1; i < used; ++i) starts.push_back(start_d(rng));
  std::sort(starts.begin(), starts.end());
  for (int i = 0; i < 16; ++i) {
    auto& seg = t[i];
    if (i >= used) {  // the rest repeat the last segment (as converters fill a short table)
      seg = t[used - 1];
      continue;
    }
    seg.x_start = i == 0 ? -(std::int64_t{1} << 35) : starts[i - 1];
    const int kind = static_cast<int>(rng() % 4);
    if (i == 0 || kind == 0) {  // constant
      seg.y_mul = 0;
    } else if (kind == 1) {  // ReLU6-like: a power of two (cancels against the shift)
      seg.y_mul = 1 << (rng() % 15);
    } else {
      seg.y_mul = static_cast<std::int32_t>(rng() % 32768);
    }
    seg.shift_number = static_cast<std::uint32_t>(shift_d(rng));
    seg.result_bias = static_cast<std::uint8_t>(bias_d(rng));
  }
  return t;
}

// A ReLU / ReLU6 table as converters emit it: constant segment 0 equal to segment 1's bias,
// linear segment 1, and (ReLU6) a constant 255 from a start near where segment 1 saturates
// (a few bn either side of it, so both the one-linear-segment form and its refusal are hit).
format::KpuActivationTable random_relu6_table(std::mt19937_64& rng, std::int64_t span) {
  format::KpuActivationTable t{};
  const bool relu6 = rng() % 4 != 0;
  const auto y_mul = static_cast<std::int32_t>(rng() % 2 ? 1 << (rng() % 15) : 1 + rng() % 32767);
  const auto shift = static_cast<std::uint32_t>(rng() % 2 ? 30 : rng() % 23);
  const auto bias = static_cast<std::uint8_t>(rng() % 3 == 0 ? rng() % 256 : rng() % 8);
  const std::int64_t x1 = static_cast<std::int64_t>(rng() % (2 * span + 1)) - span;
  t[0] = {-(std::int64_t{1} << 35), 0, 0, bias};
  t[1] = {x1, y_mul, shift, bias};
  int used = 2;
  if (relu6) {
    const std::int64_t sat = ((std::int64_t{256 - bias} << shift) / y_mul);
    const std::int64_t jitter = static_cast<std::int64_t>(rng() % 5) - 2;
    t[2] = {x1 + std::max<std::int64_t>(1, sat + jitter), 0, static_cast<std::uint32_t>(rng() % 4),
            255};
    used = 3;
  }
  for (int i = used; i < 16; ++i) t[i] = t[used - 1];
  return t;
}

// The portable stage and both AVX-512 forms agree byte for byte. (On a CPU without AVX-512 the
// optimized stages fall back to the portable loop and the test compares it with itself.)
TEST(OutputStage, OptimizedFormsMatchPortableLoop) {
  std::mt19937_64 rng(20261205);
  int int32_tables = 0, linear_tables = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const std::int64_t span = std::int64_t{1} << (8 + rng() % 24);
    const auto table = trial % 2 ? random_relu6_table(rng, span) : random_nonneg_table(rng, span);
    const auto rounding =
        rng() % 2 ? ActivationRounding::kNn02Banker : ActivationRounding::kSdkCarryShift;
    const auto selection =
        rng() % 2 ? SegmentSelection::kStartStrictlyLess : SegmentSelection::kStartLessOrEqual;
    Stage ref(table, KernelIsa::kPortable, rounding, selection);
    Stage wide(table, KernelIsa::kAvx512Vnni, rounding, selection);
    Stage narrow(table, KernelIsa::kAvx512Vnni, rounding, selection);
    // Accumulators up to the bound; bn = (acc * mul >> shift) + add spans the table's starts.
    // Every other ReLU6 trial puts bn = acc on the table's edges (each start and the bn where
    // segment 1 saturates, +-3), where an off-by-one in a clamp shows.
    const bool edges = trial % 4 == 1;
    std::vector<std::int64_t> edge_points;
    if (edges) {
      edge_points = {table[1].x_start, table[2].x_start};
      for (std::int64_t b = table[1].x_start; b < table[2].x_start;
           b += 1 + (table[2].x_start - b) / 2)
        edge_points.push_back(b);  // down to the last bn before segment 2
    }
    std::int64_t acc_bound = std::int64_t{1} << (10 + rng() % 21);  // < 2^31
    for (std::int64_t e : edge_points) acc_bound = std::max(acc_bound, (e < 0 ? -e : e) + 4);
    if (acc_bound >= (std::int64_t{1} << 31)) continue;
    ChannelBn bn;
    bn.mul = static_cast<std::int64_t>(rng() % (1 << 23)) - (rng() % 4 == 0 ? (1 << 22) : 0);
    bn.shift = static_cast<std::uint32_t>(rng() % 16);
    bn.add = static_cast<std::int64_t>(rng() % (2 * span + 1)) - span;
    // The wraps may be skipped only when no bn can leave 36 bits (as conv_layer.cpp proves).
    auto abs64 = [](std::int64_t v) { return v < 0 ? -v : v; };
    while (((acc_bound * abs64(bn.mul)) >> bn.shift) + 1 + abs64(bn.add) >= (std::int64_t{1} << 35))
      bn.mul /= 2;
    if (edges) bn = ChannelBn{1, 0, 0};
    for (Stage* s : {&wide, &narrow}) s->stage.set_no_wrap(true);
    if (narrow.stage.enable_int32(acc_bound)) ++int32_tables;
    if (narrow.stage.int32_linear()) ++linear_tables;

    const std::size_t n = 1 + rng() % 300;
    std::vector<std::int32_t> lo(n), hi(n);
    std::vector<std::int64_t> xterm(n);
    bool with_hi = rng() % 4 == 0, with_xterm = rng() % 2 == 0;
    // acc = lo + 256 hi + xterm + cterm stays within acc_bound: each term within a quarter.
    const std::int64_t q = acc_bound / 4;
    std::uniform_int_distribution<std::int64_t> term(-q, q);
    for (std::size_t i = 0; i < n; ++i) {
      lo[i] = static_cast<std::int32_t>(term(rng));
      hi[i] = static_cast<std::int32_t>(term(rng) / 256);
      xterm[i] = term(rng);
    }
    std::int64_t cterm = term(rng);
    if (edges) {  // acc = lo alone, on the edge points
      for (std::size_t i = 0; i < n; ++i) {
        lo[i] = static_cast<std::int32_t>(edge_points[rng() % edge_points.size()] +
                                          static_cast<std::int64_t>(rng() % 7) - 3);
      }
      with_hi = with_xterm = false;
      cterm = 0;
    }
    std::vector<std::uint8_t> a(n), b(n), c(n);
    const std::int32_t* h = with_hi ? hi.data() : nullptr;
    const std::int64_t* x = with_xterm ? xterm.data() : nullptr;
    ref.stage.run(lo.data(), h, x, cterm, bn, n, a.data());
    wide.stage.run(lo.data(), h, x, cterm, bn, n, b.data());
    narrow.stage.run(lo.data(), h, x, cterm, bn, n, c.data());
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_EQ(int{a[i]}, int{b[i]}) << "avx512 int64, trial " << trial << " element " << i;
      ASSERT_EQ(int{a[i]}, int{c[i]}) << "avx512 int32, trial " << trial << " element " << i;
    }
  }
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) {
    // The int32 form must actually have run on a good share of the tables.
    EXPECT_GT(int32_tables, 100);
    EXPECT_GT(linear_tables, 50);
  }
#endif
}

}  // namespace
}  // namespace emc::accel_sim::detail
