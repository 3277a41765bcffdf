// run(): observer events, memory bounds at run time, outputs, errors naming the layer.
#include <cstring>
#include <stdexcept>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "emc/interpreter/interpreter.h"
#include "interpreter/test_models.h"

namespace emc::interpreter {
namespace {

using format::LayerType;
using ::testing::_;
using testing::FakePrepared;
using testing::make_model;
using testing::NiceMockBackend;

// FC (4 floats 0 -> 16), SOFTMAX (16 -> 32), LOGISTIC (32 -> 32, in place); output at 32.
format::Kmodel three_layer_model() {
  return make_model(
      48,
      {testing::fc_layer(0, 16, 4, 4), testing::channels_layer(LayerType::kSoftmax, 16, 32, 4),
       testing::channels_layer(LayerType::kLogistic, 32, 32, 4)},
      {{32, 16}});
}

using RunFactory = std::function<FakePrepared::RunFn(std::size_t index)>;

struct Fixture {
  Registry registry;
  NiceMockBackend* backend = nullptr;
  explicit Fixture(RunFactory runs, std::vector<format::MemRange> out_ranges = {}) {
    auto b = std::make_unique<NiceMockBackend>("mock");
    backend = b.get();
    backend->support_all();
    ON_CALL(*backend, prepare(_)).WillByDefault([runs, out_ranges](const LayerInfo& info) {
      format::MemRange out =
          info.index < out_ranges.size() ? out_ranges[info.index] : format::MemRange{};
      return Result<std::unique_ptr<PreparedLayer>>(std::make_unique<FakePrepared>(
          runs ? runs(info.index) : nullptr, 100 * (info.index + 1), out));
    });
    EXPECT_TRUE(registry.add(std::move(b)).ok());
  }
};

TEST(Run, ObserverCalledOncePerLayerInOrder) {
  std::vector<std::size_t> ran;
  Fixture f(
      [&ran](std::size_t i) {
        return [&ran, i](ExecContext&) {
          ran.push_back(i);
          return ok_status();
        };
      },
      {{}, {32, 16}, {}});
  auto interp = Interpreter::load_model(three_layer_model(), f.registry);
  ASSERT_TRUE(interp.ok()) << interp.error().to_string();
  std::vector<LayerEvent> events;
  (*interp)->set_observer([&events, &ran](const LayerEvent& e) {
    EXPECT_EQ(ran.size(), e.index + 1) << "observer must run right after its layer";
    events.push_back(e);
  });
  ASSERT_TRUE((*interp)->run().ok());
  ASSERT_EQ(events.size(), 3u);
  const std::uint8_t* base = (*interp)->main_memory().all().data();
  const LayerType types[] = {LayerType::kFullyConnected, LayerType::kSoftmax, LayerType::kLogistic};
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(events[i].index, i);
    EXPECT_EQ(events[i].type, types[i]);
    EXPECT_EQ(events[i].backend, "mock");
    EXPECT_EQ(events[i].simulated_cycles, 100 * (i + 1));
    EXPECT_GE(events[i].host_time.count(), 0);
  }
  // Layer 0's backend reports no range: the interpreter falls back to the FC's own output field.
  EXPECT_EQ(events[0].output.data(), base + 16);
  EXPECT_EQ(events[0].output.size(), 16u);
  // Layer 1's backend reports its range.
  EXPECT_EQ(events[1].output.data(), base + 32);
  EXPECT_EQ(events[1].output.size(), 16u);
  EXPECT_EQ((*interp)->total_simulated_cycles(), 600u);
  EXPECT_EQ((*interp)->plan()[2].simulated_cycles, 300u);
}

TEST(Run, OutOfRangeAccessInKernelIsAnErrorNamingTheLayer) {
  std::vector<std::size_t> ran;
  Fixture f([&ran](std::size_t i) {
    return [&ran, i](ExecContext& ctx) -> Status {
      ran.push_back(i);
      if (i == 1) {
        auto bytes = ctx.main.at(40, 16);  // main memory is 48 bytes
        if (!bytes.ok()) return std::move(bytes).error();
        (*bytes)[0] = 1;
      }
      return ok_status();
    };
  });
  auto interp = Interpreter::load_model(three_layer_model(), f.registry);
  ASSERT_TRUE(interp.ok()) << interp.error().to_string();
  Status s = (*interp)->run();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Errc::kKernelFailed);
  EXPECT_EQ(s.error().to_string(),
            "layer 1 (SOFTMAX) [mock]: access of 16 bytes at main memory offset 40 is outside "
            "main memory (48 bytes)");
  EXPECT_EQ(ran, (std::vector<std::size_t>{0, 1})) << "run must stop at the failing layer";
}

TEST(Run, KpuRegionIsBoundsChecked) {
  // A K210_CONV (8x4x16 -> 8x4x16, DMA out to main 0), then the CPU model's three layers moved
  // past its 512-byte output: the conv is why the model has KPU RAM; the mock runs every layer.
  std::vector<format::Layer> layers{testing::conv_layer(8, 4, 16, 16, 0, 64, true, 0),
                                    testing::fc_layer(512, 528, 4, 4),
                                    testing::channels_layer(LayerType::kSoftmax, 528, 544, 4)};
  Fixture f([](std::size_t i) {
    return [i](ExecContext& ctx) -> Status {
      if (i == 2) {
        EXPECT_EQ(ctx.kpu.size(), 2u * 1024 * 1024);
        auto r = ctx.kpu.at(2u * 1024 * 1024 - 63, 64);
        if (!r.ok()) return std::move(r).error();
      }
      return ok_status();
    };
  });
  auto interp = Interpreter::load_model(testing::make_model(560, layers, {{544, 16}}), f.registry);
  ASSERT_TRUE(interp.ok()) << interp.error().to_string();
  Status s = (*interp)->run();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().to_string(),
              ::testing::StartsWith("layer 2 (SOFTMAX) [mock]: access of 64 bytes at KPU RAM"));
}

TEST(Run, ModelWithoutK210LayersHasNoKpuRam) {
  // No layer of a CPU-only kmodel can address KPU RAM (the parser's footprints put none there), so
  // the Interpreter does not allocate it: a backend that tries anyway gets a bounds error.
  Fixture f([](std::size_t i) {
    return [i](ExecContext& ctx) -> Status {
      if (i == 1) {
        EXPECT_EQ(ctx.kpu.size(), 0u);
        auto r = ctx.kpu.at(0, 1);
        if (!r.ok()) return std::move(r).error();
      }
      return ok_status();
    };
  });
  auto interp = Interpreter::load_model(three_layer_model(), f.registry);
  ASSERT_TRUE(interp.ok());
  EXPECT_EQ((*interp)->kpu_memory().size(), 0u);
  Status s = (*interp)->run();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().to_string(),
              ::testing::StartsWith("layer 1 (SOFTMAX) [mock]: access of 1 bytes at KPU RAM"));
}

TEST(Run, KernelExceptionBecomesAnError) {
  Fixture f([](std::size_t i) {
    return [i](ExecContext&) -> Status {
      if (i == 0) throw std::runtime_error("boom");
      return ok_status();
    };
  });
  auto interp = Interpreter::load_model(three_layer_model(), f.registry);
  ASSERT_TRUE(interp.ok());
  Status s = (*interp)->run();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Errc::kInternal);
  EXPECT_EQ(s.error().to_string(), "layer 0 (FULLY_CONNECTED) [mock]: run threw: boom");
}

TEST(Run, MemoriesAreZeroedAndSizedFromTheHeader) {
  Fixture f(nullptr);
  auto interp = Interpreter::load_model(three_layer_model(), f.registry);
  ASSERT_TRUE(interp.ok());
  EXPECT_EQ((*interp)->main_memory().size(), 48u);
  for (std::uint8_t b : (*interp)->main_memory().all()) ASSERT_EQ(b, 0);

  auto kpu = Interpreter::load_model(
      testing::make_model(512, {testing::conv_layer(8, 4, 16, 16, 0, 64, true, 0)}, {{0, 512}}),
      f.registry);
  ASSERT_TRUE(kpu.ok()) << kpu.error().to_string();
  EXPECT_EQ((*kpu)->main_memory().size(), 512u);
  EXPECT_EQ((*kpu)->kpu_memory().size(), 2u * 1024 * 1024);  // the K210's KPU RAM
  for (std::uint8_t b : (*kpu)->kpu_memory().all()) ASSERT_EQ(b, 0);
}

TEST(Run, FullyConnectedFirstInputAndFloatOutput) {
  // The last layer writes 4 floats at the output address; the first checks the input arrived.
  Fixture f([](std::size_t i) {
    return [i](ExecContext& ctx) -> Status {
      if (i == 0) {
        auto in = ctx.main.at(0, 16);
        if (!in.ok()) return std::move(in).error();
        float v[4];
        std::memcpy(v, in->data(), 16);
        EXPECT_EQ(v[0], 5.1f);
        EXPECT_EQ(v[3], 0.4f);
        // Reuse the input bytes as scratch (as ping-pong buffers do): the next run() must still
        // see the input, because run() places it again (kpu_run_kmodel semantics).
        std::memset(in->data(), 0xAB, 16);
      }
      if (i == 2) {
        const float out[4] = {1.5f, -2.0f, 3.25f, 0.0f};
        auto dst = ctx.main.at(32, 16);
        if (!dst.ok()) return std::move(dst).error();
        std::memcpy(dst->data(), out, 16);
      }
      return ok_status();
    };
  });
  auto interp = Interpreter::load_model(three_layer_model(), f.registry);
  ASSERT_TRUE(interp.ok());
  Interpreter& it = **interp;
  EXPECT_EQ(it.input_count(), 1u);
  EXPECT_EQ(it.input_info(0).type, ElementType::kFloat32);
  EXPECT_EQ(it.input_info(0).shape, (std::vector<std::uint32_t>{4}));
  EXPECT_EQ(it.input_info(0).bytes, 16u);
  const float features[4] = {5.1f, 3.8f, 1.9f, 0.4f};
  std::uint8_t raw[16];
  std::memcpy(raw, features, 16);
  ASSERT_TRUE(it.set_input(0, raw).ok());
  // Bytes land at main_mem_in_address (0) verbatim.
  EXPECT_EQ(std::memcmp(it.main_memory().all().data(), raw, 16), 0);
  ASSERT_TRUE(it.run().ok());
  ASSERT_TRUE(it.run().ok());  // layer 0 checks the input again
  ASSERT_EQ(it.output_count(), 1u);
  EXPECT_EQ(it.output_info(0).type, ElementType::kFloat32);
  EXPECT_EQ(it.output_info(0).shape, (std::vector<std::uint32_t>{4}));
  EXPECT_EQ(it.output(0), (std::vector<float>{1.5f, -2.0f, 3.25f, 0.0f}));
  EXPECT_EQ(it.output_bytes(0).size(), 16u);

  Status wrong = it.set_input(0, std::span<const std::uint8_t>(raw, 12));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(wrong.error().message(), "input 0 takes exactly 16 bytes (float32 x 4), got 12");
  EXPECT_FALSE(it.set_input(1, raw).ok());
}

}  // namespace
}  // namespace emc::interpreter
