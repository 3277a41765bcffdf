// kpu-sim vs the cpu backend on corrupted K210 layers: random bit flips in the register words,
// BN/activation words and copy-layer bodies of valid layers. Both backends must agree on
// accepting or rejecting each layer (with the same error code), and when both accept, running it
// must give byte-identical KPU RAM and main memory. Neither may crash or touch memory outside the
// validated ranges (run this binary under -DEMC_SANITIZE=ON to check the latter).
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "conv_case.h"
#include "emc/accel_sim/kpu_backend.h"
#include "emc/cpu_backend/cpu_backend.h"
#include "emc/interpreter/backend.h"
#include "sim_harness.h"

namespace emc::test {
namespace {

struct Outcome {
  bool prepared = false;
  Errc code = Errc::kInternal;
  std::string error;
  std::vector<std::uint8_t> kpu, main;
};

Outcome run_on(interpreter::Backend& backend, const format::Kmodel& model,
               const std::vector<std::uint8_t>& kpu, const std::vector<std::uint8_t>& main) {
  Outcome o;
  o.kpu = kpu;
  o.main = main;
  if (!backend.supports(interpreter::layer_info(model, 0))) {
    o.error = "not supported";
    return o;
  }
  interpreter::LayerInfo info;
  info.layer = &model.layers[0];
  info.model = &model;
  info.main_mem_bytes = o.main.size();
  info.kpu_mem_bytes = o.kpu.size();
  auto p = backend.prepare(info);
  if (!p.ok()) {
    o.code = p.error().code();
    o.error = p.error().to_string();
    return o;
  }
  o.prepared = true;
  interpreter::ExecContext ctx{interpreter::MemoryRegion("main", o.main),
                               interpreter::MemoryRegion("kpu", o.kpu)};
  const Status st = (*p)->run(ctx);
  EXPECT_TRUE(st.ok()) << backend.name() << ": " << st.error().to_string();
  return o;
}

void expect_same(const format::Kmodel& model, const std::vector<std::uint8_t>& kpu,
                 const std::vector<std::uint8_t>& main, int trial, int& accepted) {
  auto sim = accel_sim::make_kpu_sim_backend();
  auto cpu = cpu_backend::make_cpu_backend();
  const Outcome a = run_on(*sim, model, kpu, main);
  const Outcome b = run_on(*cpu, model, kpu, main);
  ASSERT_EQ(a.prepared, b.prepared)
      << "trial " << trial << ": kpu-sim '" << a.error << "' cpu '" << b.error << "'";
  if (!a.prepared) {
    EXPECT_EQ(a.code, b.code) << "trial " << trial << ": kpu-sim '" << a.error << "' cpu '"
                              << b.error << "'";
    return;
  }
  ++accepted;
  EXPECT_TRUE(a.kpu == b.kpu) << "trial " << trial << ": KPU RAM differs";
  EXPECT_TRUE(a.main == b.main) << "trial " << trial << ": main memory differs";
}

TEST(MutatedLayers, ConvRegisterBitFlipsAgreeBetweenBackends) {
  std::mt19937 rng(20261121);
  int accepted = 0;
  constexpr int kTrials = 250;
  for (int trial = 0; trial < kTrials; ++trial) {
    // A small valid layer (17x5, 3 -> 4, 3x3, random pool), then 1-3 random bit flips in
    // register words 1..11 (word 0 holds only the depthwise bit and reserved bits; flip it too).
    ConvCase c;
    c.width(17)
        .height(5)
        .in_channels(3)
        .out_channels(4)
        .kernel(3)
        .pool(int(rng() % 10))
        .seed(rng());
    c.build();
    if (::testing::Test::HasFatalFailure()) return;
    auto& body = std::get<format::ConvBody>(c.model().layers[0].body);
    const int flips = 1 + int(rng() % 3);
    for (int i = 0; i < flips; ++i) {
      const std::size_t word = rng() % 12;
      body.layer_words[word] ^= std::uint64_t{1} << (rng() % 64);
    }
    if (rng() % 4 == 0)
      body.bn_words[rng() % body.bn_words.size()] ^= std::uint64_t{1} << (rng() % 64);
    if (rng() % 4 == 0) body.act_words[rng() % 18] ^= std::uint64_t{1} << (rng() % 64);
    if (rng() % 8 == 0) body.flags ^= 1;
    if (rng() % 8 == 0) body.main_mem_out_address += rng() % 64;
    expect_same(c.model(), c.kpu(), c.main(), trial, accepted);
    if (::testing::Test::HasFatalFailure()) return;
  }
  // Enough of the mutants are valid layers for the run comparison to mean something.
  std::printf("[ MutatedLayers ] %d of %d mutated conv layers accepted by both\n", accepted,
              kTrials);
  EXPECT_GT(accepted, kTrials / 10);
}

TEST(MutatedLayers, CopyLayerFieldsAgreeBetweenBackends) {
  std::mt19937 rng(7);
  std::vector<std::uint8_t> kpu(kKpuRamBytes), main(4096);
  for (auto& b : kpu) b = static_cast<std::uint8_t>(rng());
  for (auto& b : main) b = static_cast<std::uint8_t>(rng());
  int accepted = 0;
  for (int trial = 0; trial < 300; ++trial) {
    // Fields drawn around the memory limits: KPU rows near 32768, main addresses near 4096.
    auto row = [&] { return rng() % 2 ? rng() % 64 : 32768 - rng() % 64; };
    auto addr = [&] { return rng() % 2 ? rng() % 256 : 4096 - rng() % 512; };
    format::Layer layer;
    switch (trial % 3) {
      case 0:
        layer.type = format::LayerType::kK210Upload;
        layer.body = format::UploadBody{0,
                                        std::uint32_t(addr()),
                                        std::uint32_t(row()),
                                        1 + std::uint32_t(rng() % 80),
                                        1 + std::uint32_t(rng() % 6),
                                        1 + std::uint32_t(rng() % 6)};
        break;
      case 1:
        layer.type = format::LayerType::kK210AddPadding;
        layer.body = format::AddPaddingBody{0, std::uint32_t(addr()), std::uint32_t(row()),
                                            1 + std::uint32_t(rng() % 40)};
        break;
      default:
        layer.type = format::LayerType::kK210RemovePadding;
        layer.body = format::RemovePaddingBody{0, std::uint32_t(addr()), std::uint32_t(addr()),
                                               1 + std::uint32_t(rng() % 40)};
        break;
    }
    const format::Kmodel model = one_layer_model(std::move(layer), std::uint32_t(main.size()));
    expect_same(model, kpu, main, trial, accepted);
    if (::testing::Test::HasFatalFailure()) return;
  }
  EXPECT_GT(accepted, 50);
}

}  // namespace
}  // namespace emc::test
