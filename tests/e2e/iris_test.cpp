// End to end on the real kmodels in ../shared/kmodels with both real backends registered.
// Expected iris scores: nncase examples/iris Readme.md + main.c (../shared/kmodels/SOURCES.md).
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "emc/accel_sim/kpu_backend.h"
#include "emc/cpu_backend/cpu_backend.h"
#include "emc/format/kmodel_codec.h"
#include "emc/interpreter/interpreter.h"

namespace emc {
namespace {

namespace fs = std::filesystem;
using format::LayerType;
using interpreter::Interpreter;
using interpreter::Registry;

std::string shared_kmodel(const std::string& name) {
  return (fs::path(EMC_SHARED_DIR) / "kmodels" / name).string();
}

std::vector<std::uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

Registry both_backends() {
  Registry r;
  EXPECT_TRUE(accel_sim::register_kpu_sim_backend(r).ok());
  EXPECT_TRUE(cpu_backend::register_cpu_backend(r).ok());
  return r;
}

TEST(Iris, PublishedTestVector) {
  Registry registry = both_backends();
  auto it = Interpreter::load_file(shared_kmodel("nncase01_iris.kmodel"), registry);
  ASSERT_TRUE(it.ok()) << it.error().to_string();
  const float features[4] = {5.1f, 3.8f, 1.9f, 0.4f};
  std::uint8_t raw[16];
  std::memcpy(raw, features, 16);
  ASSERT_TRUE((*it)->set_input(0, raw).ok());
  ASSERT_TRUE((*it)->run().ok());
  const std::vector<float> out = (*it)->output(0);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_NEAR(out[0], 16.077795f, 1e-5);
  EXPECT_NEAR(out[1], 5.607656f, 1e-5);
  EXPECT_NEAR(out[2], -2.071745f, 1e-5);
  for (const auto& e : (*it)->plan()) EXPECT_EQ(e.backend, "cpu");
}

std::vector<std::string> all_kmodels() {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(fs::path(EMC_SHARED_DIR) / "kmodels")) {
    if (entry.path().extension() == ".kmodel") out.push_back(entry.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(RealModels, EveryFileLoadsAndRunsWithFiniteOutputs) {
  const auto files = all_kmodels();
  ASSERT_GE(files.size(), 9u);
  Registry registry = both_backends();
  for (const std::string& path : files) {
    SCOPED_TRACE(path);
    auto it = Interpreter::load_file(path, registry);
    ASSERT_TRUE(it.ok()) << it.error().to_string();
    const auto info = (*it)->input_info(0);
    // A mid-grey image (uint8 input) or ones (float input): not all zeros, so layers do work.
    std::vector<std::uint8_t> input(info.bytes, 128);
    if (info.type == interpreter::ElementType::kFloat32) {
      const float one = 1.0f;
      for (std::size_t i = 0; i + 4 <= input.size(); i += 4) std::memcpy(&input[i], &one, 4);
    }
    ASSERT_TRUE((*it)->set_input(0, input).ok());
    std::size_t events = 0;
    (*it)->set_observer([&events](const interpreter::LayerEvent&) { ++events; });
    Status s = (*it)->run();
    ASSERT_TRUE(s.ok()) << s.error().to_string();
    EXPECT_EQ(events, (*it)->model().layers.size());
    ASSERT_GE((*it)->output_count(), 1u);
    for (std::size_t o = 0; o < (*it)->output_count(); ++o) {
      const std::vector<float> v = (*it)->output(o);
      ASSERT_FALSE(v.empty());
      for (float x : v) ASSERT_TRUE(std::isfinite(x)) << "output " << o;
    }
    // Every K210 layer went to the simulator, every other layer to the CPU.
    for (const auto& e : (*it)->plan()) {
      EXPECT_EQ(e.backend, format::is_k210_type(e.type) ? "kpu-sim" : "cpu") << "layer " << e.index;
    }
  }
}

// ---- models that parse but are wrong at run time: errors naming the layer, never a crash ----

format::Kmodel parsed(const std::string& name) {
  auto m = format::load_kmodel_file(shared_kmodel(name));
  EXPECT_TRUE(m.ok()) << m.error().to_string();
  return m.ok() ? std::move(m).value() : format::Kmodel{};
}

TEST(BrokenModels, FullyConnectedOutputPastMainMemory) {
  format::Kmodel m = parsed("nncase01_iris.kmodel");
  ASSERT_EQ(m.layers.size(), 2u);
  std::get<format::FullyConnectedBody>(m.layers[1].body).main_mem_out_address =
      m.header.main_mem_usage - 4;
  Registry registry = both_backends();
  auto it = Interpreter::load_model(std::move(m), registry);
  ASSERT_FALSE(it.ok());
  EXPECT_THAT(it.error().to_string(),
              ::testing::StartsWith("layer 1 (FULLY_CONNECTED): writes main memory"));
}

TEST(BrokenModels, FullyConnectedOutputOverlapsItsInput) {
  format::Kmodel m = parsed("nncase01_iris.kmodel");
  auto& fc = std::get<format::FullyConnectedBody>(m.layers[1].body);
  fc.main_mem_out_address = fc.main_mem_in_address + 4;
  m.header.main_mem_usage =
      std::max<std::uint32_t>(m.header.main_mem_usage, fc.main_mem_out_address + 12);
  Registry registry = both_backends();
  auto it = Interpreter::load_model(std::move(m), registry);
  ASSERT_FALSE(it.ok());
  EXPECT_THAT(it.error().to_string(), ::testing::StartsWith("layer 1 (FULLY_CONNECTED): output"));
  EXPECT_THAT(it.error().to_string(), ::testing::HasSubstr("overlaps input"));
}

TEST(BrokenModels, KpuAddressBeyond2MiB) {
  format::Kmodel m = parsed("maixpy_mnist.kmodel");
  ASSERT_EQ(m.layers[1].type, LayerType::kK210Conv);
  auto& conv = std::get<format::ConvBody>(m.layers[1].body);
  format::KpuLayerFields f = conv.fields();
  f.image_dst_addr = 32767;  // the output map needs more than one row
  const auto packed = format::pack_kpu_layer(f);
  conv.layer_words[1] = packed[1];
  Registry registry = both_backends();
  auto it = Interpreter::load_model(m, registry);
  ASSERT_FALSE(it.ok());
  EXPECT_THAT(it.error().to_string(), ::testing::StartsWith("layer 1 (K210_CONV)"));

  // The same model written to bytes and loaded again: still an error, not a crash.
  auto bytes = format::encode_kmodel(m, {format::EncodeLayout::kPreserve});
  ASSERT_TRUE(bytes.ok()) << bytes.error().to_string();
  auto it2 = Interpreter::load(*bytes, registry);
  ASSERT_FALSE(it2.ok());
  EXPECT_THAT(it2.error().to_string(), ::testing::HasSubstr("layer 1 (K210_CONV)"));
}

TEST(BrokenModels, OutputDescriptorPastMainMemory) {
  format::Kmodel m = parsed("maixpy_mnist.kmodel");
  m.outputs[0].address = m.header.main_mem_usage;
  Registry registry = both_backends();
  auto it = Interpreter::load_model(std::move(m), registry);
  ASSERT_FALSE(it.ok());
  EXPECT_THAT(it.error().to_string(), ::testing::HasSubstr("output 0"));
}

// Random byte mutations of the layer arguments (and of the conv register blocks) of real files:
// whatever the parser accepts must then load with an error or run to completion. A crash, an
// abort or a sanitizer report fails the test. Fixed seed, so failures reproduce.
TEST(BrokenModels, MutatedLayerArgumentsNeverCrash) {
  Registry registry = both_backends();
  std::mt19937 rng(20261121);
  int loaded_ok = 0;
  for (const char* name :
       {"maixpy_mnist.kmodel", "nncase01_iris.kmodel", "maixemc_cifar10.kmodel"}) {
    const std::vector<std::uint8_t> original = read_bytes(shared_kmodel(name));
    auto model = format::parse_kmodel(original);
    ASSERT_TRUE(model.ok()) << model.error().to_string();
    // Byte ranges worth mutating: each layer's first 64 argument bytes and conv register blocks.
    std::vector<std::pair<std::uint64_t, std::uint64_t>> regions;
    for (const format::Layer& l : model->layers) {
      regions.push_back({l.body_offset, std::min<std::uint64_t>(l.body_size, 64)});
      if (const auto* c = std::get_if<format::ConvBody>(&l.body))
        regions.push_back({c->layer_offset, 96});
    }
    for (int iter = 0; iter < 150; ++iter) {
      std::vector<std::uint8_t> bytes = original;
      const auto& [start, size] = regions[rng() % regions.size()];
      const std::uint64_t at = start + rng() % size;
      if (at >= bytes.size()) continue;
      bytes[at] = static_cast<std::uint8_t>(rng());
      auto it = Interpreter::load(bytes, registry);
      if (!it.ok()) {
        EXPECT_FALSE(it.error().to_string().empty());
        continue;
      }
      ++loaded_ok;
      std::vector<std::uint8_t> input((*it)->input_info(0).bytes, 7);
      ASSERT_TRUE((*it)->set_input(0, input).ok());
      Status s = (*it)->run();
      if (!s.ok()) {
        EXPECT_TRUE(s.error().layer().has_value()) << s.error().to_string();
      }
    }
  }
  // Some mutations must get through to run() or the test exercises nothing at run time.
  EXPECT_GT(loaded_ok, 20);
}

}  // namespace
}  // namespace emc
