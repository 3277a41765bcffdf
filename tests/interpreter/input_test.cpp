// Model input placement (kmodel_v3.md §1.7, §5.2): a first K210_CONV takes uint8 CHW, placed in
// KPU RAM at its image_src_addr in the row layout. Expected addresses are computed by hand from
// the §5.2 table, not with format::kpu_pixel_offset.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "emc/interpreter/interpreter.h"
#include "interpreter/test_models.h"

namespace emc::interpreter {
namespace {

using format::LayerType;
using testing::make_model;
using testing::NiceMockBackend;

std::unique_ptr<Interpreter> load_conv_first(std::uint32_t w, std::uint32_t h, std::uint32_t c,
                                             std::uint32_t src_row, Registry& registry) {
  auto b = std::make_unique<NiceMockBackend>("kpu");
  b->support_all();
  EXPECT_TRUE(registry.add(std::move(b)).ok());
  // conv (DMA output to main at 0) -> dequantize -> output
  const std::uint32_t n = w * h * 2;
  auto model = make_model(n * 5,
                          {testing::conv_layer(w, h, c, 2, src_row, 20000, true, 0),
                           testing::dequantize_layer(0, n, n)},
                          {{n, n * 4}});
  auto interp = Interpreter::load_model(std::move(model), registry);
  EXPECT_TRUE(interp.ok()) << interp.error().to_string();
  return interp.ok() ? std::move(interp).value() : nullptr;
}

std::vector<std::uint8_t> pattern(std::size_t n) {
  std::vector<std::uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(1 + i % 251);  // never 0
  return v;
}

// Checks every byte of KPU RAM: the expected address of each pixel gets its value, all else 0.
void expect_kpu_bytes(
    const Interpreter& it, const std::vector<std::uint8_t>& chw, std::uint32_t w, std::uint32_t h,
    std::uint32_t c,
    const std::function<std::size_t(std::uint32_t, std::uint32_t, std::uint32_t)>& addr) {
  std::vector<std::uint8_t> expected(2u * 1024 * 1024, 0);
  for (std::uint32_t ch = 0; ch < c; ++ch)
    for (std::uint32_t y = 0; y < h; ++y)
      for (std::uint32_t x = 0; x < w; ++x) expected[addr(ch, y, x)] = chw[(ch * h + y) * w + x];
  const auto ram = it.kpu_memory().all();
  ASSERT_EQ(ram.size(), expected.size());
  for (std::size_t i = 0; i < ram.size(); ++i) ASSERT_EQ(ram[i], expected[i]) << "KPU byte " << i;
}

TEST(Input, KpuFirstWidth20TwoChannelsPerRow) {
  // W = 20: 2 channels per 64-byte row, 32 bytes apart, one row per image line.
  // pixel (c, y, x) -> 64*src_row + (c/2)*H*64 + (c%2)*32 + y*64 + x.
  Registry registry;
  auto it = load_conv_first(20, 3, 3, 10, registry);
  ASSERT_TRUE(it);
  EXPECT_EQ(it->input_info(0).type, ElementType::kUint8);
  EXPECT_EQ(it->input_info(0).shape, (std::vector<std::uint32_t>{3, 3, 20}));
  EXPECT_EQ(it->input_info(0).bytes, 180u);
  const auto chw = pattern(180);
  ASSERT_TRUE(it->set_input(0, chw).ok());
  const auto ram = it->kpu_memory().all();
  // A few addresses worked out by hand.
  EXPECT_EQ(ram[640], chw[0]);    // (0,0,0)
  EXPECT_EQ(ram[672], chw[60]);   // (1,0,0): second channel of row 10, +32
  EXPECT_EQ(ram[832], chw[120]);  // (2,0,0): 640 + 3 lines * 64
  EXPECT_EQ(ram[979], chw[179]);  // (2,2,19): 832 + 128 + 19
  EXPECT_EQ(ram[819], chw[119]);  // (1,2,19): 640 + 32 + 128 + 19
  EXPECT_EQ(ram[660], 0);         // x = 20 of channel 0 is past W: untouched
  expect_kpu_bytes(*it, chw, 20, 3, 3, [](std::uint32_t c, std::uint32_t y, std::uint32_t x) {
    return 640 + (c / 2) * 3 * 64 + (c % 2) * 32 + y * 64 + x;
  });
}

TEST(Input, KpuFirstWidth8FourChannelsPerRow) {
  // W = 8: 4 channels per row, 16 bytes apart. C = 5 -> channel 4 starts a second block.
  Registry registry;
  auto it = load_conv_first(8, 4, 5, 0, registry);
  ASSERT_TRUE(it);
  const auto chw = pattern(160);
  ASSERT_TRUE(it->set_input(0, chw).ok());
  EXPECT_EQ(it->kpu_memory().all()[3 * 16 + 2 * 64 + 7], chw[(3 * 4 + 2) * 8 + 7]);  // (3,2,7)
  EXPECT_EQ(it->kpu_memory().all()[256], chw[128]);                                  // (4,0,0)
  expect_kpu_bytes(*it, chw, 8, 4, 5, [](std::uint32_t c, std::uint32_t y, std::uint32_t x) {
    return (c / 4) * 4 * 64 + (c % 4) * 16 + y * 64 + x;
  });
}

TEST(Input, KpuFirstWidth70TwoRowsPerLine) {
  // W = 70 > 64: one channel per row, ceil(70/64) = 2 rows per image line.
  Registry registry;
  auto it = load_conv_first(70, 2, 2, 100, registry);
  ASSERT_TRUE(it);
  const auto chw = pattern(280);
  ASSERT_TRUE(it->set_input(0, chw).ok());
  EXPECT_EQ(it->kpu_memory().all()[6400 + 453], chw[279]);  // (1,1,69): 256 + 128 + 69
  expect_kpu_bytes(*it, chw, 70, 2, 2, [](std::uint32_t c, std::uint32_t y, std::uint32_t x) {
    return 6400 + c * 2 * 2 * 64 + y * 2 * 64 + x;
  });
}

TEST(Input, KpuFirstWrongSizeIsRejected) {
  Registry registry;
  auto it = load_conv_first(20, 3, 3, 10, registry);
  ASSERT_TRUE(it);
  const auto chw = pattern(179);
  Status s = it->set_input(0, chw);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message(), "input 0 takes exactly 180 bytes (uint8 CHW 3x3x20), got 179");
}

TEST(Input, OtherFirstLayerIsALoadErrorQuotingTheSdkRule) {
  Registry registry;
  auto b = std::make_unique<NiceMockBackend>("cpu");
  b->support_all();
  ASSERT_TRUE(registry.add(std::move(b)).ok());
  auto interp = Interpreter::load_model(
      make_model(64, {testing::dequantize_layer(0, 16, 4)}, {{16, 16}}), registry);
  ASSERT_FALSE(interp.ok());
  EXPECT_EQ(interp.error().code(), Errc::kInvalidModel);
  EXPECT_EQ(interp.error().to_string(),
            "layer 0 (DEQUANTIZE): the model input cannot be fed to a first layer of type "
            "DEQUANTIZE: the K210 SDK (kpu_run_kmodel) accepts only K210_CONV (uint8 CHW into KPU "
            "RAM) or FULLY_CONNECTED (float32 into main memory) as the first layer and returns -1 "
            "otherwise (EMC's runtime also takes EMC_CONV2D / EMC_DEPTHWISE_CONV2D: uint8 CHW "
            "pixels, and EMC_QUANTIZE_INT8: float32)");
}

// docs/cpu_target.md "Input": a first EMC int8 conv takes uint8 CHW pixels p, stored at its input
// address as the int8 code p - 128 (byte p ^ 0x80); a first EMC_QUANTIZE_INT8 takes float32.
TEST(Input, EmcConvFirstTakesUint8PixelsStoredAsPMinus128) {
  Registry registry;
  auto b = std::make_unique<NiceMockBackend>("cpu");
  b->support_all();
  ASSERT_TRUE(registry.add(std::move(b)).ok());
  format::Layer conv;
  conv.type = LayerType::kEmcDepthwiseConv2d;
  format::EmcConv2dInt8Body body;
  auto& g = body.geo;
  g.main_mem_in_address = 8;
  g.main_mem_out_address = 40;
  g.in_width = g.out_width = 3;
  g.in_height = g.out_height = 2;
  g.in_channels = g.out_channels = 2;
  g.kernel_width = g.kernel_height = g.stride_width = g.stride_height = 1;
  g.dilation_width = g.dilation_height = 1;
  body.weights = {1, 1};
  body.bias = {0, 0};
  body.multiplier = {1 << 30, 1 << 30};
  body.shift = {1, 1};
  conv.body = body;
  format::Layer deq;
  deq.type = LayerType::kEmcDequantizeInt8;
  format::EmcQuantizeInt8Body q;
  q.main_mem_in_address = 40;
  q.main_mem_out_address = 56;
  q.count = 12;
  deq.body = q;
  auto it = Interpreter::load_model(make_model(104, {conv, deq}, {{56, 48}}), registry);
  ASSERT_TRUE(it.ok()) << it.error().to_string();
  EXPECT_EQ((*it)->input_info(0).type, ElementType::kUint8);
  EXPECT_EQ((*it)->input_info(0).shape, (std::vector<std::uint32_t>{2, 2, 3}));
  EXPECT_EQ((*it)->input_info(0).bytes, 12u);
  const std::vector<std::uint8_t> px = {0, 1, 127, 128, 129, 255, 10, 20, 30, 200, 250, 64};
  ASSERT_TRUE((*it)->set_input(0, px).ok());
  ASSERT_TRUE((*it)->run().ok());
  const auto mem = (*it)->main_memory().all();
  for (std::size_t i = 0; i < px.size(); ++i) {
    const int code = int(px[i]) - 128;  // by hand: p - 128 as two's complement
    EXPECT_EQ(mem[8 + i], static_cast<std::uint8_t>(code & 0xff)) << "pixel " << i;
  }
}

TEST(Input, EmcQuantizeFirstTakesFloat32) {
  Registry registry;
  auto b = std::make_unique<NiceMockBackend>("cpu");
  b->support_all();
  ASSERT_TRUE(registry.add(std::move(b)).ok());
  format::Layer qz;
  qz.type = LayerType::kEmcQuantizeInt8;
  format::EmcQuantizeInt8Body q;
  q.main_mem_in_address = 16;
  q.main_mem_out_address = 0;
  q.count = 3;
  q.scale = 0.5f;
  qz.body = q;
  format::Layer deq;
  deq.type = LayerType::kEmcDequantizeInt8;
  q.main_mem_in_address = 0;
  q.main_mem_out_address = 32;
  deq.body = q;
  auto it = Interpreter::load_model(make_model(48, {qz, deq}, {{32, 12}}), registry);
  ASSERT_TRUE(it.ok()) << it.error().to_string();
  EXPECT_EQ((*it)->input_info(0).type, ElementType::kFloat32);
  EXPECT_EQ((*it)->input_info(0).shape, (std::vector<std::uint32_t>{3}));
  const float v[3] = {1.5f, -2.0f, 0.25f};
  std::vector<std::uint8_t> bytes(12);
  std::memcpy(bytes.data(), v, 12);
  ASSERT_TRUE((*it)->set_input(0, bytes).ok());
  ASSERT_TRUE((*it)->run().ok());
  const auto mem = (*it)->main_memory().all();
  EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), mem.begin() + 16));
}

}  // namespace
}  // namespace emc::interpreter
