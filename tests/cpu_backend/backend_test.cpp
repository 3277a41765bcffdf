// The backend as a whole: which types it binds, registration, and prepare-time validation
// (out-of-range addresses, overflowing sizes, zero divisors, bad shifts) — every bad layer is a
// clear error from prepare(), never a crash in run().
#include <set>

#include "cpu_backend/cpu_test_util.h"
#include "emc/format/layer_types.h"
#include "emc/interpreter/registry.h"

namespace emc::cpu_backend::testing {
namespace {

using format::LayerType;

TEST(CpuBackend, SupportsEveryTypeButInvalidAndQuantizedFullyConnected) {
  auto backend = make_cpu_backend();
  EXPECT_EQ(backend->name(), "cpu");
  // The K210 types are supported too (reference kernels on KPU RAM, k210_conv_test.cpp).
  const std::set<LayerType> declined = {LayerType::kInvalid, LayerType::kQuantizedFullyConnected};
  for (LayerType type : format::all_layer_types()) {
    format::Layer layer;
    layer.type = type;
    EXPECT_EQ(backend->supports(info_for(layer, 0)), declined.count(type) == 0)
        << format::to_string(type);
  }
}

TEST(CpuBackend, RegistersUnderItsNameOnce) {
  interpreter::Registry registry;
  EMC_ASSERT_OK(register_cpu_backend(registry));
  ASSERT_NE(registry.find("cpu"), nullptr);
  EXPECT_FALSE(register_cpu_backend(registry).ok());  // duplicate name
}

TEST(CpuBackend, PrepareOfADeclinedTypeIsAnError) {
  format::Layer layer;
  layer.type = LayerType::kQuantizedFullyConnected;
  layer.body = format::FullyConnectedBody{};
  auto r = prepare(layer, 64);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kUnsupportedLayer);
}

TEST(CpuBackend, BodyThatDoesNotMatchTheTypeIsAnError) {
  auto layer = make_layer(LayerType::kSoftmax, format::AddBody{0, 0, 0, 0, 1});
  auto r = prepare(layer, 64);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("does not match"), std::string::npos);
}

TEST(CpuBackend, OutOfRangeAddressNamesFieldSizeAndBound) {
  // out at 40 + 3 floats = 52 bytes > 48
  auto layer = make_layer(LayerType::kAdd, format::AddBody{0, 0, 12, 40, 3});
  auto r = prepare(layer, 48);
  ASSERT_FALSE(r.ok());
  const std::string text = r.error().to_string();
  EXPECT_EQ(r.error().code(), Errc::kInvalidModel);
  EXPECT_NE(text.find("main_mem_out_address 0x28"), std::string::npos) << text;
  EXPECT_NE(text.find("12 bytes"), std::string::npos) << text;
  EXPECT_NE(text.find("48 bytes"), std::string::npos) << text;
  EXPECT_NE(text.find("layer 4 (ADD)"), std::string::npos) << text;
  // exactly fitting is fine
  EXPECT_TRUE(prepare(make_layer(LayerType::kAdd, format::AddBody{0, 0, 12, 36, 3}), 48).ok());
}

TEST(CpuBackend, HugeFieldsDoNotOverflowTheRangeCheck) {
  // 0xFFFFFFFF x 0xFFFFFFFF x 0xFFFFFFFF elements overflows 64 bits
  auto flat = make_layer(LayerType::kTensorflowFlatten,
                         format::FlattenBody{0, 0, 0, {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}});
  auto r1 = prepare(flat, 1024);
  ASSERT_FALSE(r1.ok());
  EXPECT_NE(r1.error().message().find("overflows"), std::string::npos) << r1.error().to_string();
  // address near 2^32 plus a count that would wrap 32-bit arithmetic
  auto add =
      make_layer(LayerType::kQuantizedAdd,
                 format::QuantizedAddBody{0, 0xFFFFFFF0u, 0, 0, 0x20, 0, 1, 0, 0, 1, 0, 0, 1, 0});
  EXPECT_FALSE(prepare(add, 1024).ok());
  format::ConcatBody concat;
  concat.inputs = {{0, 0xFFFFFFFFu}, {0, 0xFFFFFFFFu}};
  EXPECT_FALSE(prepare(make_layer(LayerType::kConcat, concat), 1024).ok());
}

TEST(CpuBackend, ZeroDivisorsAreRejected) {
  auto gap = prepare(
      make_layer(LayerType::kGlobalAveragePool2d, format::GlobalPoolBody{0, 0, 0, 0, 2}), 64);
  ASSERT_FALSE(gap.ok());
  EXPECT_NE(gap.error().message().find("kernel_size is 0"), std::string::npos);
  EXPECT_FALSE(prepare(make_layer(LayerType::kQuantizedGlobalAveragePool2d,
                                  format::GlobalPoolBody{0, 0, 0, 0, 2}),
                       64)
                   .ok());

  format::Pool2dBody pool;
  pool.in_shape = {2, 2, 1};
  pool.out_shape = {1, 1, 1};
  pool.kernel_width = pool.kernel_height = 2;
  pool.stride_width = 2;
  pool.stride_height = 0;
  auto p = prepare(make_layer(LayerType::kQuantizedMaxPool2d, pool), 64);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().message().find("stride_height is 0"), std::string::npos);
  pool.stride_height = 2;
  pool.kernel_width = 0;
  EXPECT_FALSE(prepare(make_layer(LayerType::kAveragePool2d, pool), 64).ok());

  auto rz = prepare(make_layer(LayerType::kResizeNearestNeighbor,
                               format::ResizeNearestBody{0, 0, 0, {2, 2, 1}, 0, 2, 0}),
                    64);
  ASSERT_FALSE(rz.ok());
  EXPECT_NE(rz.error().message().find("out_width is 0"), std::string::npos);
  EXPECT_FALSE(prepare(make_layer(LayerType::kQuantizedResizeNearestNeighbor,
                                  format::ResizeNearestBody{0, 0, 0, {2, 0, 1}, 2, 2, 0}),
                       64)
                   .ok());
}

TEST(CpuBackend, QuantizedAddShiftsMustBeIn0To63) {
  for (int bad : {-1, 64, 1000}) {
    for (int which = 0; which < 3; ++which) {
      format::QuantizedAddBody b{0, 0, 0, 0, 4, 0, 1, 0, 0, 1, 0, 0, 1, 0};
      (which == 0 ? b.in_a_shift : which == 1 ? b.in_b_shift : b.out_shift) = bad;
      auto r = prepare(make_layer(LayerType::kQuantizedAdd, b), 64);
      ASSERT_FALSE(r.ok()) << bad << " " << which;
      EXPECT_NE(r.error().message().find("[0, 63]"), std::string::npos);
    }
  }
  format::QuantizedAddBody ok{0, 0, 0, 0, 4, 0, 1, 63, 0, 1, 63, 0, 1, 63};
  EXPECT_TRUE(prepare(make_layer(LayerType::kQuantizedAdd, ok), 64).ok());
}

TEST(CpuBackend, RunOnSmallerMemoryThanPreparedFailsCleanly) {
  auto layer = make_layer(LayerType::kAdd, format::AddBody{0, 0, 16, 32, 4});
  auto prepared = prepare(layer, 48);
  ASSERT_TRUE(prepared.ok());
  Mem small(40);
  auto ctx = small.ctx();
  auto s = prepared.value()->run(ctx);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Errc::kKernelFailed);
}

TEST(CpuBackend, ZeroSizedLayersAreNoOps) {
  Mem mem(16);
  EMC_ASSERT_OK(
      prepare_and_run(make_layer(LayerType::kAdd, format::AddBody{0, 16, 16, 16, 0}), mem));
  EMC_ASSERT_OK(
      prepare_and_run(make_layer(LayerType::kSoftmax, format::ChannelsBody{0, 0, 0, 0}), mem));
  format::Pool2dBody pool;
  pool.in_shape = {2, 2, 0};
  pool.out_shape = {0xFFFFFFFFu, 0xFFFFFFFFu, 0};  // zero channels: no output, no huge tables
  pool.kernel_width = pool.kernel_height = pool.stride_width = pool.stride_height = 1;
  EMC_ASSERT_OK(prepare_and_run(make_layer(LayerType::kQuantizedMaxPool2d, pool), mem));
  EXPECT_EQ(mem.u8(0, 16), std::vector<std::uint8_t>(16, kFill));
}

}  // namespace
}  // namespace emc::cpu_backend::testing
