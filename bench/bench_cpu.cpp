// CPU backend kernels through prepare()/run() on a host buffer (no Interpreter):
//   FULLY_CONNECTED 1024 -> 1000 (float, linear), QUANTIZED_ADD over 112x112x32 uint8, and
//   EMC_CONV2D / EMC_DEPTHWISE_CONV2D int8 layers of MobileNet v1 1.0 per kernel ISA (Arg: 0
//   scalar, 1 AVX2, 2 AVX-512 VNNI; a path this CPU lacks runs the next one down).
// Figures are recorded in docs/cpu_backend.md; nothing here is asserted.
#include <benchmark/benchmark.h>

#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "emc/cpu_backend/cpu_backend.h"
#include "emc/format/emc_layers.h"
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

  bool prepare(benchmark::State& state, const emc::cpu_backend::CpuBackendOptions& opt = {}) {
    auto backend = emc::cpu_backend::make_cpu_backend(opt);
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

// One int8 conv of MobileNet v1 1.0 @224 with random codes (kernel k, stride s, 'same' padding
// as Keras pads it: extra on the bottom/right).
void emc_conv(benchmark::State& state, bool depthwise, std::uint32_t in_wh, std::uint32_t in_c,
              std::uint32_t out_c, std::uint32_t k, std::uint32_t s) {
  emc::format::EmcConv2dInt8Body body;
  auto& g = body.geo;
  g.in_width = g.in_height = in_wh;
  g.in_channels = in_c;
  g.out_channels = out_c;
  g.out_width = g.out_height = (in_wh + s - 1) / s;
  g.kernel_width = g.kernel_height = k;
  g.stride_width = g.stride_height = s;
  g.dilation_width = g.dilation_height = 1;
  g.depth_multiplier = 1;
  const std::uint32_t pad = (g.out_width - 1) * s + k - in_wh;
  g.pad_left = g.pad_top = pad / 2;
  g.pad_right = g.pad_bottom = pad - pad / 2;
  const std::size_t in_n = std::size_t{in_wh} * in_wh * in_c;
  g.main_mem_out_address = static_cast<std::uint32_t>(in_n);
  std::mt19937 rng(3);
  body.weights.resize(emc::format::emc_conv_weight_count(g, depthwise));
  for (auto& w : body.weights) w = static_cast<std::int8_t>(rng() % 61) - 30;
  body.input_zero_point = -5;
  body.output_zero_point = -128;
  body.act_min = -128;
  body.act_max = 127;
  body.bias.assign(out_c, 1000);
  body.multiplier.assign(out_c, 1518500250);
  body.shift.assign(out_c, -9);
  Bench b;
  b.layer.type = depthwise ? LayerType::kEmcDepthwiseConv2d : LayerType::kEmcConv2d;
  b.layer.body = std::move(body);
  b.main.resize(in_n + std::size_t{g.out_width} * g.out_height * out_c);
  for (std::size_t i = 0; i < in_n; ++i) b.main[i] = static_cast<std::uint8_t>(rng());
  emc::cpu_backend::CpuBackendOptions opt;
  using emc::cpu_backend::EmcKernelIsa;
  opt.emc_isa = state.range(0) == 0   ? EmcKernelIsa::kScalar
                : state.range(0) == 1 ? EmcKernelIsa::kAvx2
                                      : EmcKernelIsa::kAvx512Vnni;
  if (!b.prepare(state, opt)) return;
  b.run(state);
  const std::int64_t macs =
      std::int64_t{g.out_width} * g.out_height * out_c * k * k * (depthwise ? 1 : in_c);
  state.SetItemsProcessed(state.iterations() * macs);
}
void BM_EmcConv3x3s2_224x3x32(benchmark::State& st) {  // the first layer
  emc_conv(st, false, 224, 3, 32, 3, 2);
}
void BM_EmcConv1x1_56x128x128(benchmark::State& st) {
  emc_conv(st, false, 56, 128, 128, 1, 1);
}
void BM_EmcConv1x1_14x512x512(benchmark::State& st) {
  emc_conv(st, false, 14, 512, 512, 1, 1);
}
void BM_EmcDepthwise3x3_112x32(benchmark::State& st) {
  emc_conv(st, true, 112, 32, 32, 3, 1);
}
void BM_EmcDepthwise3x3s2_56x128(benchmark::State& st) {
  emc_conv(st, true, 56, 128, 128, 3, 2);
}
BENCHMARK(BM_EmcConv3x3s2_224x3x32)->DenseRange(0, 2)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_EmcConv1x1_56x128x128)->DenseRange(0, 2)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_EmcConv1x1_14x512x512)->DenseRange(0, 2)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_EmcDepthwise3x3_112x32)->DenseRange(0, 2)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_EmcDepthwise3x3s2_56x128)->DenseRange(0, 2)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
