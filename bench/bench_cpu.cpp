// CPU backend kernels through prepare()/run() on a host buffer (no Interpreter):
//   FULLY_CONNECTED 1024 -> 1000 (float, linear) and QUANTIZED_ADD over 112x112x32 uint8.
// Figures are recorded in docs/cpu_backend.md; nothing here is asserted.
#include <benchmark/benchmark.h>

#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "emc/cpu_backend/cpu_backend.h"
#include "emc/format/kmodel_v3.h"
#include "emc/interpreter/backend.h"

namespace {

using emc::format::Layer;
using emc::format::LayerType;

struct Bench {
  Layer layer;
  std::vector<std::uint8_t> main;
  std::vector<std::uint8_t> kpu = std::vector<std::uint8_t>(64);
  std::unique_ptr<emc::interpreter::PreparedLayer> prepared;

  bool prepare(benchmark::State& state) {
    auto backend = emc::cpu_backend::make_cpu_backend();
    emc::interpreter::LayerInfo info;
    info.layer = &layer;
    info.main_mem_bytes = main.size();
    auto r = backend->prepare(info);
    if (!r.ok()) {
      state.SkipWithError(r.error().to_string().c_str());
      return false;
    }
    prepared = std::move(r).value();
    return true;
  }
  void run(benchmark::State& state) {
    emc::interpreter::ExecContext ctx{emc::interpreter::MemoryRegion("main", main),
                                      emc::interpreter::MemoryRegion("kpu", kpu)};
    for (auto _ : state) {
      auto s = prepared->run(ctx);
      if (!s.ok()) {
        state.SkipWithError(s.error().to_string().c_str());
        break;
      }
      benchmark::DoNotOptimize(main.data());
      benchmark::ClobberMemory();
    }
  }
};

void BM_FullyConnected1024x1000(benchmark::State& state) {
  constexpr std::uint32_t kIn = 1024, kOut = 1000;
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.f, 0.05f);
  emc::format::FullyConnectedBody body;
  body.main_mem_in_address = 0;
  body.main_mem_out_address = 4 * kIn;
  body.in_channels = kIn;
  body.out_channels = kOut;
  body.weights.resize(std::size_t{kIn} * kOut);
  for (auto& w : body.weights) w = dist(rng);
  body.bias.assign(kOut, 0.1f);
  Bench b;
  b.layer.type = LayerType::kFullyConnected;
  b.layer.body = std::move(body);
  b.main.assign(4 * (kIn + kOut), 0);
  std::vector<float> x(kIn);
  for (auto& v : x) v = dist(rng);
  std::memcpy(b.main.data(), x.data(), 4 * kIn);
  if (!b.prepare(state)) return;
  b.run(state);
  state.SetItemsProcessed(state.iterations() * std::int64_t{kIn} * kOut);  // MACs
}
BENCHMARK(BM_FullyConnected1024x1000)->Unit(benchmark::kMicrosecond);

void BM_QuantizedAdd112x112x32(benchmark::State& state) {
  constexpr std::uint32_t kCount = 112 * 112 * 32;
  emc::format::QuantizedAddBody body;
  body.main_mem_in_a_address = 0;
  body.main_mem_in_b_address = kCount;
  body.main_mem_out_address = 2 * kCount;
  body.count = kCount;
  // NN01-style parameters (mul as value * 2^-shift); equal input shifts take the SDK's first
  // branch, state.range(0) == 1 selects different shifts (second branch).
  body.in_a_offset = -12;
  body.in_a_mul = 1436549;
  body.in_a_shift = 20;
  body.in_b_offset = -3;
  body.in_b_mul = 1215752;
  body.in_b_shift = state.range(0) == 1 ? 21 : 20;
  body.out_offset = 7;
  body.out_mul = 1789569;
  body.out_shift = 21;
  Bench b;
  b.layer.type = LayerType::kQuantizedAdd;
  b.layer.body = body;
  b.main.resize(3 * std::size_t{kCount});
  std::mt19937 rng(2);
  for (std::uint32_t i = 0; i < 2 * kCount; ++i) b.main[i] = static_cast<std::uint8_t>(rng());
  if (!b.prepare(state)) return;
  b.run(state);
  state.SetItemsProcessed(state.iterations() * std::int64_t{kCount});
  state.SetBytesProcessed(state.iterations() * std::int64_t{kCount} * 3);
}
BENCHMARK(BM_QuantizedAdd112x112x32)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
