// Binding layers to backends at load: policy order, supports() veto, overrides, error texts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "emc/interpreter/interpreter.h"
#include "interpreter/test_models.h"

namespace emc::interpreter {
namespace {

using format::LayerType;
using ::testing::_;
using testing::make_model;
using testing::NiceMockBackend;

// FC (4 floats at 0 -> 4 floats at 16), SOFTMAX (16 -> 32); output 4 floats at 32.
format::Kmodel fc_softmax_model() {
  return make_model(
      48, {testing::fc_layer(0, 16, 4, 4), testing::channels_layer(LayerType::kSoftmax, 16, 32, 4)},
      {{32, 16}});
}

struct TwoBackends {
  Registry registry;
  NiceMockBackend* a = nullptr;
  NiceMockBackend* b = nullptr;
  TwoBackends() {
    auto ua = std::make_unique<NiceMockBackend>("a");
    auto ub = std::make_unique<NiceMockBackend>("b");
    a = ua.get();
    b = ub.get();
    EXPECT_TRUE(registry.add(std::move(ua)).ok());
    EXPECT_TRUE(registry.add(std::move(ub)).ok());
  }
};

std::vector<std::string> backends_of(const Interpreter& interp) {
  std::vector<std::string> out;
  for (const PlanEntry& e : interp.plan()) out.push_back(e.backend);
  return out;
}

TEST(Dispatch, FirstBackendInRegistryOrderWins) {
  TwoBackends t;
  t.a->support_all();
  t.b->support_all();
  EXPECT_CALL(*t.b, prepare(_)).Times(0);
  auto interp = Interpreter::load_model(fc_softmax_model(), t.registry);
  ASSERT_TRUE(interp.ok()) << interp.error().to_string();
  EXPECT_EQ(backends_of(**interp), (std::vector<std::string>{"a", "a"}));
  EXPECT_FALSE((*interp)->plan()[0].overridden);
}

// supports() receives what prepare() receives: a backend can decline on the model header, e.g. a
// backend without 16-bit weight support (header flags bit 0 clear = 16-bit, kmodel_v3.md §1).
TEST(Dispatch, SupportsSeesTheModelHeaderAndCanDeclineSixteenBitWeights) {
  TwoBackends t;
  t.b->support_all();
  std::vector<LayerInfo> seen;
  EXPECT_CALL(*t.a, supports(_)).WillRepeatedly([&seen](const LayerInfo& info) {
    seen.push_back(info);
    return (info.model->header.flags & 1u) != 0;
  });
  format::Kmodel sixteen = fc_softmax_model();
  sixteen.header.flags = 0;
  auto on_b = Interpreter::load_model(sixteen, t.registry);
  ASSERT_TRUE(on_b.ok()) << on_b.error().to_string();
  EXPECT_EQ(backends_of(**on_b), (std::vector<std::string>{"b", "b"}));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].index, 1u);
  EXPECT_EQ(seen[1].layer->type, LayerType::kSoftmax);
  EXPECT_EQ(seen[1].main_mem_bytes, 48u);  // the header's main_mem_usage
  EXPECT_EQ(seen[1].kpu_mem_bytes, 0u);    // no K210 layer, no KPU RAM

  format::Kmodel eight = fc_softmax_model();
  eight.header.flags = 1;
  auto on_a = Interpreter::load_model(eight, t.registry);
  ASSERT_TRUE(on_a.ok()) << on_a.error().to_string();
  EXPECT_EQ(backends_of(**on_a), (std::vector<std::string>{"a", "a"}));
}

TEST(Dispatch, PolicyOrderReplacesRegistryOrder) {
  TwoBackends t;
  t.a->support_all();
  t.b->support_all();
  DispatchPolicy policy;
  policy.order = {"b", "a"};
  auto interp = Interpreter::load_model(fc_softmax_model(), t.registry, policy);
  ASSERT_TRUE(interp.ok()) << interp.error().to_string();
  EXPECT_EQ(backends_of(**interp), (std::vector<std::string>{"b", "b"}));
}

TEST(Dispatch, SupportsVetoFallsThroughToNextBackend) {
  TwoBackends t;
  t.a->support_types({LayerType::kSoftmax});
  t.b->support_all();
  EXPECT_CALL(*t.a, prepare(_)).Times(1);
  EXPECT_CALL(*t.b, prepare(_)).Times(1);
  auto interp = Interpreter::load_model(fc_softmax_model(), t.registry);
  ASSERT_TRUE(interp.ok()) << interp.error().to_string();
  EXPECT_EQ(backends_of(**interp), (std::vector<std::string>{"b", "a"}));
}

TEST(Dispatch, PrepareIsCalledOncePerLayerAtLoadNotAtRun) {
  TwoBackends t;
  t.a->support_all();
  EXPECT_CALL(*t.a, prepare(_)).Times(2);
  auto interp = Interpreter::load_model(fc_softmax_model(), t.registry);
  ASSERT_TRUE(interp.ok()) << interp.error().to_string();
  ASSERT_TRUE((*interp)->run().ok());
  ASSERT_TRUE((*interp)->run().ok());
}

TEST(Dispatch, PrepareSeesIndexLayerAndMemorySizes) {
  TwoBackends t;
  t.a->support_all();
  std::vector<std::size_t> seen;
  std::size_t main_bytes = 48, kpu_bytes = 0;
  ON_CALL(*t.a, prepare(_)).WillByDefault([&](const LayerInfo& info) {
    seen.push_back(info.index);
    EXPECT_EQ(info.main_mem_bytes, main_bytes);
    EXPECT_EQ(info.kpu_mem_bytes, kpu_bytes);
    EXPECT_EQ(info.layer, &info.model->layers[info.index]);
    return Result<std::unique_ptr<PreparedLayer>>(
        std::make_unique<testing::FakePrepared>(nullptr, 0, format::MemRange{}));
  });
  auto interp = Interpreter::load_model(fc_softmax_model(), t.registry);
  ASSERT_TRUE(interp.ok()) << interp.error().to_string();
  EXPECT_EQ(seen, (std::vector<std::size_t>{0, 1}));

  // A K210 layer anywhere gives every layer the chip's 2 MiB of KPU RAM.
  seen.clear();
  main_bytes = 560;
  kpu_bytes = 2u * 1024 * 1024;
  auto kpu = Interpreter::load_model(
      make_model(
          560,
          {testing::conv_layer(8, 4, 16, 16, 0, 64, true, 0), testing::fc_layer(512, 528, 4, 4),
           testing::channels_layer(LayerType::kSoftmax, 528, 544, 4)},
          {{544, 16}}),
      t.registry);
  ASSERT_TRUE(kpu.ok()) << kpu.error().to_string();
  EXPECT_EQ(seen, (std::vector<std::size_t>{0, 1, 2}));
}

TEST(Dispatch, PerIndexOverride) {
  TwoBackends t;
  t.a->support_all();
  t.b->support_all();
  DispatchPolicy policy;
  policy.by_index[1] = "b";
  auto interp = Interpreter::load_model(fc_softmax_model(), t.registry, policy);
  ASSERT_TRUE(interp.ok()) << interp.error().to_string();
  EXPECT_EQ(backends_of(**interp), (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE((*interp)->plan()[0].overridden);
  EXPECT_TRUE((*interp)->plan()[1].overridden);
}

TEST(Dispatch, PerTypeOverrideAndIndexBeatsType) {
  TwoBackends t;
  t.a->support_all();
  t.b->support_all();
  DispatchPolicy policy;
  policy.by_type[LayerType::kFullyConnected] = "b";
  policy.by_type[LayerType::kSoftmax] = "b";
  policy.by_index[1] = "a";
  auto interp = Interpreter::load_model(fc_softmax_model(), t.registry, policy);
  ASSERT_TRUE(interp.ok()) << interp.error().to_string();
  EXPECT_EQ(backends_of(**interp), (std::vector<std::string>{"b", "a"}));
  EXPECT_TRUE((*interp)->plan()[1].overridden);
}

TEST(Dispatch, OverrideNamingUnknownBackendIsAnError) {
  TwoBackends t;
  t.a->support_all();
  DispatchPolicy policy;
  policy.by_type[LayerType::kSoftmax] = "nope";
  auto interp = Interpreter::load_model(fc_softmax_model(), t.registry, policy);
  ASSERT_FALSE(interp.ok());
  EXPECT_EQ(interp.error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(interp.error().to_string(),
            "layer 1 (SOFTMAX): dispatch override names backend 'nope', which is not "
            "registered; registered: a, b");
}

TEST(Dispatch, OverrideNamingBackendThatDeclinesIsAnError) {
  TwoBackends t;
  t.a->support_all();
  t.b->support_types({LayerType::kSoftmax});
  DispatchPolicy policy;
  policy.by_index[0] = "b";
  auto interp = Interpreter::load_model(fc_softmax_model(), t.registry, policy);
  ASSERT_FALSE(interp.ok());
  EXPECT_EQ(interp.error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(interp.error().to_string(),
            "layer 0 (FULLY_CONNECTED): dispatch override names backend 'b', which does not "
            "support it");
}

TEST(Dispatch, OverrideOfMissingLayerIndexIsAnError) {
  TwoBackends t;
  t.a->support_all();
  DispatchPolicy policy;
  policy.by_index[5] = "a";
  auto interp = Interpreter::load_model(fc_softmax_model(), t.registry, policy);
  ASSERT_FALSE(interp.ok());
  EXPECT_EQ(interp.error().code(), Errc::kInvalidArgument);
  EXPECT_THAT(interp.error().message(), ::testing::HasSubstr("only 2 layers"));
}

TEST(Dispatch, PolicyOrderNamingUnknownBackendIsAnError) {
  TwoBackends t;
  t.a->support_all();
  DispatchPolicy policy;
  policy.order = {"a", "gpu"};
  auto interp = Interpreter::load_model(fc_softmax_model(), t.registry, policy);
  ASSERT_FALSE(interp.ok());
  EXPECT_EQ(interp.error().code(), Errc::kInvalidArgument);
  EXPECT_THAT(interp.error().message(), ::testing::HasSubstr("'gpu'"));
}

TEST(Dispatch, LayerNoBackendSupportsNamesLayerAndRegisteredBackends) {
  // Layers 0..6 run on "cpu"; layer 7 is a K210_CONV that nobody supports.
  std::vector<format::Layer> layers = {testing::fc_layer(0, 16, 4, 4)};
  for (int i = 1; i < 7; ++i)
    layers.push_back(testing::channels_layer(LayerType::kSoftmax, 16, 16, 4));
  layers.push_back(testing::conv_layer(4, 4, 1, 1, 0, 100));
  Registry registry;
  auto cpu = std::make_unique<NiceMockBackend>("cpu");
  cpu->support_types({LayerType::kFullyConnected, LayerType::kSoftmax});
  ASSERT_TRUE(registry.add(std::move(cpu)).ok());
  auto interp = Interpreter::load_model(make_model(32, std::move(layers), {{16, 16}}), registry);
  ASSERT_FALSE(interp.ok());
  EXPECT_EQ(interp.error().code(), Errc::kNoBackend);
  EXPECT_EQ(interp.error().to_string(),
            "layer 7 (K210_CONV): no registered backend supports it; registered: cpu");
}

TEST(Dispatch, EmptyRegistrySaysNone) {
  Registry registry;
  auto interp = Interpreter::load_model(fc_softmax_model(), registry);
  ASSERT_FALSE(interp.ok());
  EXPECT_EQ(interp.error().to_string(),
            "layer 0 (FULLY_CONNECTED): no registered backend supports it; registered: (none)");
}

TEST(Dispatch, PrepareErrorGetsLayerAndBackend) {
  TwoBackends t;
  t.a->support_all();
  ON_CALL(*t.a, prepare(_)).WillByDefault([](const LayerInfo& info) {
    if (info.index == 1) {
      return Result<std::unique_ptr<PreparedLayer>>(
          Error(Errc::kInvalidLayerConfig, "bad channels"));
    }
    return Result<std::unique_ptr<PreparedLayer>>(
        std::make_unique<testing::FakePrepared>(nullptr, 0, format::MemRange{}));
  });
  auto interp = Interpreter::load_model(fc_softmax_model(), t.registry);
  ASSERT_FALSE(interp.ok());
  EXPECT_EQ(interp.error().code(), Errc::kInvalidLayerConfig);
  EXPECT_EQ(interp.error().to_string(), "layer 1 (SOFTMAX) [a]: bad channels");
}

TEST(Registry, DuplicateNameIsRejected) {
  Registry registry;
  ASSERT_TRUE(registry.add(std::make_unique<NiceMockBackend>("cpu")).ok());
  ASSERT_TRUE(registry.add(std::make_unique<NiceMockBackend>("kpu-sim")).ok());
  Status s = registry.add(std::make_unique<NiceMockBackend>("cpu"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Errc::kInvalidArgument);
  EXPECT_THAT(s.error().message(), ::testing::HasSubstr("'cpu' is already registered"));
  EXPECT_EQ(registry.backends().size(), 2u);
  EXPECT_EQ(registry.names(), "cpu, kpu-sim");
}

TEST(Registry, NullAndFind) {
  Registry registry;
  EXPECT_FALSE(registry.add(nullptr).ok());
  EXPECT_EQ(registry.names(), "(none)");
  ASSERT_TRUE(registry.add(std::make_unique<NiceMockBackend>("x")).ok());
  ASSERT_NE(registry.find("x"), nullptr);
  EXPECT_EQ(registry.find("x")->name(), "x");
  EXPECT_EQ(registry.find("y"), nullptr);
}

}  // namespace
}  // namespace emc::interpreter
