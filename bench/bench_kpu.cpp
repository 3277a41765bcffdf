// kpu-sim speed: one 3x3 conv 112x112x32 -> 64 (per kernel instruction set), and whole models
// (K210 layers on kpu-sim, the rest on the cpu backend). Figures go to docs/kpu_simulator.md.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "emc/accel_sim/kpu_backend.h"
#include "emc/cpu_backend/cpu_backend.h"
#include "emc/format/kpu_regs.h"
#include "emc/interpreter/interpreter.h"

namespace {

using namespace emc;

constexpr std::size_t kKpuBytes = 2u * 1024 * 1024;

// 112x112 (W > 64: 1 channel per row, 2 rows per line), 32 -> 64 channels, 3x3, pool 0.
format::Kmodel conv_112_model() {
  const std::uint32_t w = 112, h = 112, ic = 32, oc = 64, row_len = 2;
  format::KpuLayerFields f;
  f.image_src_addr = 0;
  f.image_dst_addr = ic * row_len * h;
  f.i_ch_num = ic - 1;
  f.o_ch_num = oc - 1;
  f.o_ch_num_coef = oc - 1;
  f.i_row_wid = w - 1;
  f.i_col_high = h - 1;
  f.o_row_wid = w - 1;
  f.o_col_high = h - 1;
  f.kernel_type = 1;
  f.pad_value = 3;
  f.channel_switch_addr = row_len * h;
  f.row_switch_addr = row_len;
  f.coef_group = 1;
  f.wb_channel_switch_addr = row_len * h;
  f.wb_row_switch_addr = row_len;
  f.wb_group = 1;
  f.shr_x = 8;
  f.arg_x = -100 << 8;
  f.shr_w = 8;
  f.arg_w = -3 << 8;
  f.arg_add = 9 * 100 * 3;
  std::mt19937 rng(1);
  format::ConvBody body;
  body.flags = 1;
  body.main_mem_out_address = 0;
  body.layer_words = format::pack_kpu_layer(f);
  body.weights.resize(std::size_t{oc} * ic * 9);
  for (auto& b : body.weights) b = static_cast<std::uint8_t>(rng());
  for (std::uint32_t o = 0; o < oc; ++o)
    body.bn_words.push_back(format::pack_kpu_batchnorm({1 << 12, 1 << 10, 15}));
  format::KpuActivationTable t{};
  t[0].x_start = -(std::int64_t{1} << 35);
  for (std::size_t i = 1; i < 16; ++i) {
    t[i].x_start = static_cast<std::int64_t>(i) * 64 - 512;
    t[i].y_mul = 1 << 14;
    t[i].shift_number = 14;
    t[i].result_bias = static_cast<std::uint8_t>(i * 16);
  }
  body.act_words = format::pack_kpu_activation(t);
  format::Kmodel m;
  m.header.main_mem_usage = w * h * oc;
  format::Layer layer;
  layer.type = format::LayerType::kK210Conv;
  layer.body = std::move(body);
  m.layers.push_back(std::move(layer));
  return m;
}

void BM_Conv3x3_112x112_32to64(benchmark::State& state) {
  const format::Kmodel model = conv_112_model();
  accel_sim::KpuSimOptions options;
  options.max_isa = static_cast<accel_sim::KernelIsa>(state.range(0));
  auto backend = accel_sim::make_kpu_sim_backend(options);
  std::vector<std::uint8_t> kpu(kKpuBytes), main(model.header.main_mem_usage);
  std::mt19937 rng(2);
  for (auto& b : kpu) b = static_cast<std::uint8_t>(rng());
  interpreter::LayerInfo info;
  info.layer = &model.layers[0];
  info.model = &model;
  info.main_mem_bytes = main.size();
  info.kpu_mem_bytes = kpu.size();
  auto prepared = backend->prepare(info);
  if (!prepared.ok()) {
    state.SkipWithError(prepared.error().to_string().c_str());
    return;
  }
  interpreter::ExecContext ctx{interpreter::MemoryRegion("main", main),
                               interpreter::MemoryRegion("kpu", kpu)};
  for (auto _ : state) {
    const Status st = (*prepared)->run(ctx);
    if (!st.ok()) state.SkipWithError(st.error().to_string().c_str());
    benchmark::DoNotOptimize(main.data());
  }
  const double macs = 112.0 * 112 * 32 * 64 * 9;
  state.counters["GMAC/s"] = benchmark::Counter(macs, benchmark::Counter::kIsIterationInvariantRate,
                                                benchmark::Counter::kIs1000);
  state.counters["KPU_ms"] = static_cast<double>((*prepared)->simulated_cycles()) / 400e6 * 1e3;
}
BENCHMARK(BM_Conv3x3_112x112_32to64)
    ->ArgName("isa(0=portable,1=avx2,2=avx512vnni)")
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond);

void BM_Model(benchmark::State& state, const std::string& file, std::size_t input_bytes) {
  interpreter::Registry registry;
  if (!accel_sim::register_kpu_sim_backend(registry).ok() ||
      !cpu_backend::register_cpu_backend(registry).ok()) {
    state.SkipWithError("registration failed");
    return;
  }
  auto interp = interpreter::Interpreter::load_file(EMC_SHARED_DIR "/kmodels/" + file, registry);
  if (!interp.ok()) {
    state.SkipWithError(interp.error().to_string().c_str());
    return;
  }
  std::vector<std::uint8_t> input(input_bytes);
  std::mt19937 rng(3);
  for (auto& b : input) b = static_cast<std::uint8_t>(rng());
  if (!(*interp)->set_input(0, input).ok()) {
    state.SkipWithError("set_input failed");
    return;
  }
  for (auto _ : state) {
    const Status st = (*interp)->run();
    if (!st.ok()) state.SkipWithError(st.error().to_string().c_str());
  }
  state.counters["KPU_ms@400MHz"] =
      static_cast<double>((*interp)->total_simulated_cycles()) / 400e6 * 1e3;
}
BENCHMARK_CAPTURE(BM_Model, mbnetv1_a075, std::string("maixemc_mbnetv1_a075.kmodel"),
                  std::size_t{224 * 224 * 3})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Model, yolo20, std::string("nncase01_yolo20.kmodel"),
                  std::size_t{320 * 240 * 3})
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
