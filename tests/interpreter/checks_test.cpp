// Load-time semantic checks (robustness.md §2.1 items 10, 11, 15, 16): a model that decodes but
// is wrong at run time is an error naming the layer, or a diagnostic when merely suspicious.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "emc/interpreter/interpreter.h"
#include "interpreter/test_models.h"

namespace emc::interpreter {
namespace {

using format::LayerType;
using ::testing::HasSubstr;
using testing::make_model;
using testing::NiceMockBackend;

class Checks : public ::testing::Test {
 protected:
  Checks() {
    auto b = std::make_unique<NiceMockBackend>("any");
    b->support_all();
    EXPECT_TRUE(registry_.add(std::move(b)).ok());
  }
  Result<std::unique_ptr<Interpreter>> load(format::Kmodel m) {
    return Interpreter::load_model(std::move(m), registry_);
  }
  Registry registry_;
};

TEST_F(Checks, CleanModelHasNoDiagnostics) {
  auto it = load(make_model(
      48, {testing::fc_layer(0, 16, 4, 4), testing::channels_layer(LayerType::kSoftmax, 16, 32, 4)},
      {{32, 16}}));
  ASSERT_TRUE(it.ok()) << it.error().to_string();
  EXPECT_TRUE((*it)->diagnostics().empty());
}

TEST_F(Checks, MainMemoryWriteBeyondMainMemUsage) {
  auto it = load(make_model(24, {testing::fc_layer(0, 16, 4, 4)}, {{16, 8}}));
  ASSERT_FALSE(it.ok());
  EXPECT_EQ(it.error().code(), Errc::kInvalidModel);
  EXPECT_EQ(it.error().to_string(),
            "layer 0 (FULLY_CONNECTED): writes main memory [0x10, 0x20) (16 bytes), beyond "
            "main_mem_usage 0x18 (24 bytes)");
}

TEST_F(Checks, MainMemoryReadBeyondEndInLaterLayer) {
  auto it = load(make_model(48,
                            {testing::fc_layer(0, 16, 4, 4),
                             testing::channels_layer(LayerType::kSoftmax, 0xFFFFFFF0u, 32, 4)},
                            {{32, 16}}));
  ASSERT_FALSE(it.ok());
  EXPECT_THAT(
      it.error().to_string(),
      ::testing::StartsWith("layer 1 (SOFTMAX): reads main memory [0xfffffff0, 0x100000000)"));
}

TEST_F(Checks, KpuAddressBeyond2MiB) {
  // 4x4x1 map = 4 rows starting at row 32766: ends 2 rows past the 32768-row KPU RAM.
  auto it = load(make_model(
      64,
      {testing::conv_layer(4, 4, 1, 1, 32766, 0, true, 0), testing::dequantize_layer(0, 16, 16)},
      {{16, 64}}));
  ASSERT_FALSE(it.ok());
  EXPECT_EQ(it.error().code(), Errc::kInvalidModel);
  EXPECT_EQ(it.error().to_string(),
            "layer 0 (K210_CONV): reads KPU RAM [0x1fff80, 0x200080) (256 bytes), beyond the "
            "2 MiB KPU RAM end 0x200000 (2097152 bytes)");
}

TEST_F(Checks, KpuOutputBeyond2MiBInSecondConv) {
  auto it = load(make_model(
      64,
      {testing::conv_layer(4, 4, 1, 1, 0, 8), testing::conv_layer(4, 4, 1, 1, 8, 32767, true, 0),
       testing::dequantize_layer(0, 16, 16)},
      {{16, 64}}));
  ASSERT_FALSE(it.ok());
  EXPECT_THAT(it.error().to_string(), ::testing::StartsWith("layer 1 (K210_CONV): writes KPU RAM"));
}

TEST_F(Checks, PartialOverlapOfFullyConnectedInAndOutIsAnError) {
  auto it = load(make_model(64, {testing::fc_layer(0, 8, 4, 4)}, {{8, 16}}));
  ASSERT_FALSE(it.ok());
  EXPECT_EQ(it.error().code(), Errc::kInvalidModel);
  EXPECT_THAT(it.error().to_string(),
              ::testing::StartsWith("layer 0 (FULLY_CONNECTED): output [0x8, 0x18) (16 bytes) "
                                    "overlaps input [0x0, 0x10) (16 bytes)"));
}

TEST_F(Checks, InPlaceElementwiseIsAllowed) {
  // SOFTMAX exactly in place, QUANTIZE float32 -> uint8 at the same start (shrinking, forward).
  auto it = load(make_model(64,
                            {testing::fc_layer(0, 16, 4, 4),
                             testing::channels_layer(LayerType::kSoftmax, 16, 16, 4),
                             {LayerType::kQuantize, format::QuantizeBody{0, 16, 16, 4, 1.f, 0.f}},
                             testing::dequantize_layer(16, 32, 4)},
                            {{32, 16}}));
  ASSERT_TRUE(it.ok()) << it.error().to_string();
  EXPECT_TRUE((*it)->diagnostics().empty());
}

TEST_F(Checks, GrowingElementwiseInPlaceIsAnError) {
  // DEQUANTIZE uint8 -> float32 in place: writing element 0 clobbers inputs 1..3.
  auto it = load(make_model(64,
                            {testing::fc_layer(0, 16, 4, 4),
                             {LayerType::kQuantize, format::QuantizeBody{0, 16, 32, 4, 1.f, 0.f}},
                             testing::dequantize_layer(32, 32, 4)},
                            {{32, 16}}));
  ASSERT_FALSE(it.ok());
  EXPECT_THAT(it.error().to_string(), ::testing::StartsWith("layer 2 (DEQUANTIZE): output"));
}

TEST_F(Checks, ConcatInputAlreadyInItsSlotIsAllowedOtherOverlapIsNot) {
  format::ConcatBody ok_body;
  ok_body.main_mem_out_address = 16;
  ok_body.inputs = {{16, 8}, {40, 8}};  // first input is exactly slot 0
  auto ok_it = load(
      make_model(64, {testing::fc_layer(0, 16, 4, 8), {LayerType::kConcat, ok_body}}, {{16, 16}}));
  ASSERT_TRUE(ok_it.ok()) << ok_it.error().to_string();

  format::ConcatBody bad_body;
  bad_body.main_mem_out_address = 16;
  bad_body.inputs = {{40, 8}, {16, 8}};  // second input would be overwritten by the first copy
  auto bad_it = load(
      make_model(64, {testing::fc_layer(0, 16, 4, 8), {LayerType::kConcat, bad_body}}, {{16, 16}}));
  ASSERT_FALSE(bad_it.ok());
  EXPECT_THAT(bad_it.error().to_string(), ::testing::StartsWith("layer 1 (CONCAT): output"));
}

// The stride-2 form "read one line later" (docs/converter_k210.md): a 1x1 conv with right-top
// sampling (pool 6) starts reading its 8x8x4 input one line (one 64-byte row) after the producer's
// map, so it reads the row past it; but pool 6 keeps rows 0, 2, 4, 6 of what it reads, so that
// last line (row 7) reaches no output: no diagnostic. Without the sampling it would.
format::Layer sampled_reader(int pool_type) {
  format::Layer l = testing::conv_layer(8, 8, 4, 4, 101, 200, true, 0);
  auto& b = std::get<format::ConvBody>(l.body);
  auto f = b.fields();
  f.pool_type = pool_type;
  if (pool_type != 0) {
    f.o_row_wid = 3;
    f.o_col_high = 3;
    f.wb_channel_switch_addr = 4;
    f.dma_total_byte = 4 * 4 * 4 - 1;
  }
  b.layer_words = format::pack_kpu_layer(f);
  return l;
}

TEST_F(Checks, ShiftedReadPastTheMapIsFineWhenTheSamplingDropsTheLine) {
  auto ok = load(
      make_model(256, {testing::conv_layer(8, 8, 4, 4, 0, 100), sampled_reader(6)}, {{0, 64}}));
  auto bad = load(
      make_model(256, {testing::conv_layer(8, 8, 4, 4, 0, 100), sampled_reader(0)}, {{0, 64}}));
  ASSERT_TRUE(ok.ok()) << ok.error().to_string();
  ASSERT_TRUE(bad.ok()) << bad.error().to_string();
  EXPECT_TRUE((*ok)->diagnostics().empty());
  ASSERT_EQ((*bad)->diagnostics().size(), 1u);
  EXPECT_THAT((*bad)->diagnostics()[0].to_string(), HasSubstr("fully wrote"));
}

TEST_F(Checks, ReadOfNeverWrittenMemoryIsADiagnostic) {
  auto it = load(make_model(
      64, {testing::fc_layer(0, 16, 4, 4), testing::channels_layer(LayerType::kSoftmax, 32, 48, 4)},
      {{48, 16}}));
  ASSERT_TRUE(it.ok()) << it.error().to_string();
  ASSERT_EQ((*it)->diagnostics().size(), 1u);
  EXPECT_EQ((*it)->diagnostics()[0].to_string(),
            "layer 1 (SOFTMAX): reads main memory [0x20, 0x30) (16 bytes) that neither the model "
            "input nor an earlier layer fully wrote (reads zeros)");
}

// A 1x1 QUANTIZED_MAX_POOL2D reading a 4x4x2 CHW map (plane 16) from `start`.
format::Layer pool_layer(std::uint32_t start, std::uint32_t out_addr, std::uint32_t out_hw,
                         std::uint32_t stride) {
  format::Pool2dBody b;
  b.main_mem_in_address = start;
  b.main_mem_out_address = out_addr;
  b.in_shape = {4, 4, 2};
  b.out_shape = {out_hw, out_hw, 2};
  b.kernel_width = b.kernel_height = 1;
  b.stride_width = b.stride_height = stride;
  return {LayerType::kQuantizedMaxPool2d, b};
}

TEST_F(Checks, ShiftedPoolReadsOnlyItsWindows) {
  // FULLY_CONNECTED writes 8 floats = 32 bytes at 16: the map [16, 48). A crop by top 1, left 1
  // to 2x2 starts at 16 + 4 + 1 = 21 and last reads 21 + 16 + 4 + 1 = 42: [21, 43), written.
  // (The declared extent, 32 bytes from 21, would end at 53, past the map.)
  auto crop = load(make_model(56, {testing::fc_layer(0, 16, 4, 8), pool_layer(21, 48, 2, 1)},
                              {{48, 8}}));
  ASSERT_TRUE(crop.ok()) << crop.error().to_string();
  EXPECT_TRUE((*crop)->diagnostics().empty());
  // Stride-2 sampling from map + W + 1 = 21 to 2x2: taps 21 + {0, 2, 8, 10} + 16c, last 47.
  auto sample = load(make_model(56, {testing::fc_layer(0, 16, 4, 8), pool_layer(21, 48, 2, 2)},
                                {{48, 8}}));
  ASSERT_TRUE(sample.ok()) << sample.error().to_string();
  EXPECT_TRUE((*sample)->diagnostics().empty());
  // The same crop when only 6 floats = 24 bytes [16, 40) were written: bytes 40..42 of channel 1's
  // window are read and nothing wrote them.
  auto bad = load(make_model(56, {testing::fc_layer(0, 16, 4, 6), pool_layer(21, 48, 2, 1)},
                             {{48, 8}}));
  ASSERT_TRUE(bad.ok()) << bad.error().to_string();
  ASSERT_EQ((*bad)->diagnostics().size(), 1u);
  EXPECT_EQ((*bad)->diagnostics()[0].to_string(),
            "layer 1 (QUANTIZED_MAX_POOL2D): reads main memory [0x15, 0x2b) (22 bytes) that "
            "neither the model input nor an earlier layer fully wrote (reads zeros)");
}

TEST_F(Checks, OutputBeyondMainMemory) {
  auto it = load(make_model(32, {testing::fc_layer(0, 16, 4, 4)}, {{16, 32}}));
  ASSERT_FALSE(it.ok());
  EXPECT_THAT(it.error().to_string(),
              ::testing::StartsWith("output 0: output descriptor main memory"));
}

TEST_F(Checks, BodyThatDoesNotMatchTypeIsAnError) {
  format::Layer l = testing::fc_layer(0, 16, 4, 4);
  l.type = LayerType::kSoftmax;  // FullyConnectedBody under a SOFTMAX header
  auto it = load(make_model(32, {testing::fc_layer(0, 16, 4, 4), l}, {{16, 16}}));
  ASSERT_FALSE(it.ok());
  EXPECT_EQ(it.error().code(), Errc::kInvalidModel);
  EXPECT_THAT(it.error().to_string(),
              ::testing::StartsWith("layer 1 (SOFTMAX): body is not a ChannelsBody"));
}

TEST_F(Checks, UnboundedWorkIsRejectedBeforeAllocation) {
  format::FullyConnectedBody b;  // 2^20 x 2^20 MACs, weights not even present
  b.main_mem_in_address = 0;
  b.main_mem_out_address = 4u << 20;
  b.in_channels = 1u << 20;
  b.out_channels = 1u << 20;
  auto it = load(make_model(8u << 20, {{LayerType::kFullyConnected, b}}, {{4u << 20, 16}}));
  ASSERT_FALSE(it.ok());
  EXPECT_THAT(it.error().to_string(), HasSubstr("work estimate exceeds"));
}

TEST_F(Checks, EmptyModel) {
  auto it = load(make_model(32, {}, {{0, 16}}));
  ASSERT_FALSE(it.ok());
  EXPECT_EQ(it.error().message(), "the model has no layers");
}

}  // namespace
}  // namespace emc::interpreter
