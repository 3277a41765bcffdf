// FULLY_CONNECTED: row-major [out][in] weights, sequential float accumulation, bias, activation.
#include <random>

#include "cpu_backend/cpu_test_util.h"

namespace emc::cpu_backend::testing {
namespace {

using format::CpuActivation;
using format::LayerType;

// x = {1, -2, 0.5}
// row 0: W = {1, 2, 3},      1 - 4 + 1.5 = -1.5, bias 8   ->  6.5
// row 1: W = {-1, 0.5, -2}, -1 - 1 - 1  = -3,   bias -1  -> -4
// row 2: W = {0.5, 0.25, 2}, 0.5 - 0.5 + 1 = 1,  bias 0   ->  1
format::FullyConnectedBody small_fc(CpuActivation act) {
  format::FullyConnectedBody b;
  b.main_mem_in_address = 1;
  b.main_mem_out_address = 33;
  b.in_channels = 3;
  b.out_channels = 3;
  b.act = act;
  b.weights = {1, 2, 3, -1, 0.5f, -2, 0.5f, 0.25f, 2};
  b.bias = {8, -1, 0};
  return b;
}

TEST(CpuFullyConnected, LinearReluRelu6) {
  const std::vector<std::pair<CpuActivation, std::vector<float>>> cases = {
      {CpuActivation::kLinear, {6.5f, -4.f, 1.f}},
      {CpuActivation::kRelu, {6.5f, 0.f, 1.f}},
      {CpuActivation::kRelu6, {6.f, 0.f, 1.f}}};
  for (const auto& [act, expected] : cases) {
    Mem mem(64);
    mem.put_f32(1, {1.f, -2.f, 0.5f});
    EMC_ASSERT_OK(prepare_and_run(make_layer(LayerType::kFullyConnected, small_fc(act)), mem));
    EXPECT_EQ(mem.f32(33, 3), expected);
  }
}

TEST(CpuFullyConnected, AccumulatesSequentiallyInFloat) {
  // in 8 (the SDK's unrolled path), x = {1e8, 1, -1e8, 1, 0, 0, 0, 0}, five rows (one block of
  // four plus a remainder row). Row r has weight 1 everywhere except w[r][1] = r:
  // ((1e8 + r) - 1e8) + 1: for r = 0..4, 1e8 + r rounds to 1e8 in float (ulp 8), so every row
  // gives 0 + 1 = 1; exact arithmetic would give r + 1.
  format::FullyConnectedBody b;
  b.main_mem_out_address = 64;
  b.in_channels = 8;
  b.out_channels = 5;
  for (int r = 0; r < 5; ++r) {
    for (int i = 0; i < 8; ++i) b.weights.push_back(i == 1 ? static_cast<float>(r) : 1.f);
  }
  b.bias = {0, 0, 0, 0, 0};
  Mem mem(128);
  mem.put_f32(0, {1e8f, 1.f, -1e8f, 1.f, 0.f, 0.f, 0.f, 0.f});
  EMC_ASSERT_OK(prepare_and_run(make_layer(LayerType::kFullyConnected, b), mem));
  EXPECT_EQ(mem.f32(64, 5), (std::vector<float>{1.f, 1.f, 1.f, 1.f, 1.f}));
}

TEST(CpuFullyConnected, MatchesTheSdkLoopBitForBitOnRandomData) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.f, 1.f);
  for (std::uint32_t n_in : {1u, 7u, 64u, 100u}) {
    for (std::uint32_t n_out : {1u, 3u, 4u, 9u}) {
      format::FullyConnectedBody b;
      b.main_mem_in_address = 3;
      b.main_mem_out_address = 3 + 4 * n_in;
      b.in_channels = n_in;
      b.out_channels = n_out;
      for (std::uint32_t i = 0; i < n_in * n_out; ++i) b.weights.push_back(dist(rng));
      for (std::uint32_t o = 0; o < n_out; ++o) b.bias.push_back(dist(rng));
      std::vector<float> x(n_in);
      for (auto& v : x) v = dist(rng);
      Mem mem(8 + 4 * (n_in + n_out));
      mem.put_f32(3, x);
      EMC_ASSERT_OK(prepare_and_run(make_layer(LayerType::kFullyConnected, b), mem));
      const auto got = mem.f32(b.main_mem_out_address, n_out);
      for (std::uint32_t o = 0; o < n_out; ++o) {
        float sum = 0.f;  // kpu_kmodel_fully_connected's loop
        for (std::uint32_t i = 0; i < n_in; ++i) {
          const float prod = x[i] * b.weights[o * n_in + i];
          sum += prod;
        }
        ASSERT_EQ(got[o], sum + b.bias[o]) << n_in << "x" << n_out << " row " << o;
      }
    }
  }
}

TEST(CpuFullyConnected, RejectsInconsistentBodies) {
  auto bad_weights = small_fc(CpuActivation::kLinear);
  bad_weights.weights.pop_back();
  auto r1 = prepare(make_layer(LayerType::kFullyConnected, bad_weights), 64);
  ASSERT_FALSE(r1.ok());
  EXPECT_NE(r1.error().message().find("weights hold 8 floats"), std::string::npos)
      << r1.error().to_string();

  auto bad_bias = small_fc(CpuActivation::kLinear);
  bad_bias.bias.push_back(1.f);
  EXPECT_FALSE(prepare(make_layer(LayerType::kFullyConnected, bad_bias), 64).ok());

  auto bad_act = small_fc(static_cast<CpuActivation>(7));
  auto r3 = prepare(make_layer(LayerType::kFullyConnected, bad_act), 64);
  ASSERT_FALSE(r3.ok());
  EXPECT_NE(r3.error().message().find("act 7"), std::string::npos);
}

}  // namespace
}  // namespace emc::cpu_backend::testing
