// EMC int8 pools, elementwise, concat, LUT, pad/crop and nearest resize (emc_layers.h): byte
// layouts worked out by hand from docs/format.md, round trips, and every rejection the parser
// promises, each naming the layer type and the field.
#include <gtest/gtest.h>

#include <string>

#include "emc/format/kmodel_codec.h"
#include "format_test_util.h"

namespace emc::format {
namespace {

using test::get_u32;
using test::put_u32;

constexpr std::size_t kBody = 28 + 8 + 8;  // header, one output, one layer header

Kmodel one_layer(LayerType type, LayerBody body, std::uint32_t main_mem = 256) {
  Kmodel m;
  m.header.main_mem_usage = main_mem;
  m.outputs.push_back({128, 16});
  Layer l;
  l.type = type;
  l.body = std::move(body);
  m.layers.push_back(std::move(l));
  return m;
}

std::vector<std::uint8_t> encode(const Kmodel& m) {
  auto bytes = encode_kmodel(m);
  EXPECT_TRUE(bytes.ok()) << (bytes.ok() ? "" : bytes.error().message());
  return bytes.ok() ? bytes.value() : std::vector<std::uint8_t>{};
}

// 6x5x3 input at 0, 3x2 kernel, stride 2x2, pads l1 r0 t1 b1: out_w = (6 + 1 - 3) / 2 + 1 = 3,
// out_h = (5 + 2 - 2) / 2 + 1 = 3; output 3x3x3 at 128.
EmcPool2dInt8Body pool() {
  EmcPool2dInt8Body b;
  b.main_mem_out_address = 128;
  b.in_width = 6, b.in_height = 5, b.channels = 3;
  b.out_width = 3, b.out_height = 3;
  b.kernel_width = 3, b.kernel_height = 2;
  b.stride_width = 2, b.stride_height = 2;
  b.pad_left = 1, b.pad_top = 1, b.pad_bottom = 1;
  b.input_zero_point = -5, b.output_zero_point = 7;
  b.multiplier = 1518500250, b.shift = -2;
  b.act_min = -100, b.act_max = 100;
  return b;
}

EmcElementwiseInt8Body elementwise() {
  EmcElementwiseInt8Body b;
  b.main_mem_in_a_address = 0;
  b.main_mem_in_b_address = 64;
  b.main_mem_out_address = 128;
  b.op = 0, b.broadcast = 0, b.channels = 4, b.plane = 10;
  b.left_shift = 20;
  b.a_zero_point = -3, b.a_multiplier = 1 << 30, b.a_shift = 0;
  b.b_zero_point = 9, b.b_multiplier = 1717986918, b.b_shift = -1;
  b.out_zero_point = 1, b.out_multiplier = 1 << 30, b.out_shift = -18;
  b.act_min = -128, b.act_max = 127;
  return b;
}

EmcConcatInt8Body concat() {
  EmcConcatInt8Body b;
  b.main_mem_out_address = 128;
  b.plane = 6;
  b.output_zero_point = -2;
  b.inputs = {{0, 2, -2, 1 << 30, 1}, {40, 3, 5, 1431655765, 0}};
  return b;
}

EmcLutInt8Body lut() {
  EmcLutInt8Body b;
  b.main_mem_in_address = 0;
  b.main_mem_out_address = 128;
  b.count = 100;
  for (int i = 0; i < 256; ++i) b.table[i] = static_cast<std::int8_t>(127 - i);
  return b;
}

// 5x4x2 -> pad left 2, crop right 1, crop top 1, pad bottom 3: 6x6x2.
EmcPadCropInt8Body pad_crop() {
  EmcPadCropInt8Body b;
  b.main_mem_out_address = 128;
  b.in_width = 5, b.in_height = 4, b.channels = 2;
  b.out_width = 6, b.out_height = 6;
  b.pad_left = 2, b.pad_right = -1, b.pad_top = -1, b.pad_bottom = 3;
  b.fill = -7;
  return b;
}

EmcResizeNearestInt8Body resize() {
  EmcResizeNearestInt8Body b;
  b.main_mem_out_address = 64;
  b.in_width = 3, b.in_height = 2, b.channels = 2;
  b.out_width = 6, b.out_height = 4;
  b.mode = 1;
  return b;
}

TEST(EmcInt8Layers, NumbersInTheReservedBlock) {
  const std::pair<LayerType, std::uint32_t> values[] = {
      {LayerType::kEmcMaxPool2dInt8, 0x454D0020u},
      {LayerType::kEmcAveragePool2dInt8, 0x454D0021u},
      {LayerType::kEmcElementwiseInt8, 0x454D0030u},
      {LayerType::kEmcConcatInt8, 0x454D0031u},
      {LayerType::kEmcLutInt8, 0x454D0032u},
      {LayerType::kEmcPadCropInt8, 0x454D0033u},
      {LayerType::kEmcResizeNearestInt8, 0x454D0034u}};
  for (const auto& [t, v] : values) {
    EXPECT_EQ(static_cast<std::uint32_t>(t), v);
    EXPECT_TRUE(is_emc_type(t));
  }
  // The first six keep their numbers.
  EXPECT_EQ(static_cast<std::uint32_t>(LayerType::kEmcDepthwiseConv2dF32), 0x454D0004u);
  EXPECT_EQ(static_cast<std::uint32_t>(LayerType::kEmcDequantizeInt8), 0x454D0011u);
}

TEST(EmcInt8Layers, BytesByHand) {
  {
    const auto bytes = encode(one_layer(LayerType::kEmcAveragePool2dInt8, pool()));
    // 88-byte body from file offset 44 ends at 132, padded to 136: body_size 92.
    ASSERT_EQ(bytes.size(), kBody + 92);
    EXPECT_EQ(get_u32(bytes, 36), 0x454D0021u);
    EXPECT_EQ(get_u32(bytes, 40), 92u);
    EXPECT_EQ(get_u32(bytes, kBody + 8), 128u);          // main_mem_out_address
    EXPECT_EQ(get_u32(bytes, kBody + 12), 6u);           // in_width
    EXPECT_EQ(get_u32(bytes, kBody + 32), 3u);           // kernel_width
    EXPECT_EQ(get_u32(bytes, kBody + 48), 1u);           // pad_left
    EXPECT_EQ(get_u32(bytes, kBody + 52), 0u);           // pad_right
    EXPECT_EQ(get_u32(bytes, kBody + 64), 0xFFFFFFFBu);  // input_zero_point -5
    EXPECT_EQ(get_u32(bytes, kBody + 72), 1518500250u);  // multiplier
    EXPECT_EQ(get_u32(bytes, kBody + 76), 0xFFFFFFFEu);  // shift -2
    EXPECT_EQ(get_u32(bytes, kBody + 84), 100u);         // act_max
  }
  {
    const auto bytes = encode(one_layer(LayerType::kEmcElementwiseInt8, elementwise()));
    ASSERT_EQ(bytes.size(), kBody + 84);  // 80 + 4 pad (44 + 80 = 124 -> 128)
    EXPECT_EQ(get_u32(bytes, 36), 0x454D0030u);
    EXPECT_EQ(get_u32(bytes, kBody + 8), 64u);           // main_mem_in_b_address
    EXPECT_EQ(get_u32(bytes, kBody + 28), 10u);          // plane
    EXPECT_EQ(get_u32(bytes, kBody + 32), 20u);          // left_shift
    EXPECT_EQ(get_u32(bytes, kBody + 52), 1717986918u);  // b_multiplier
    EXPECT_EQ(get_u32(bytes, kBody + 68), 0xFFFFFFEEu);  // out_shift -18
  }
  {
    const auto bytes = encode(one_layer(LayerType::kEmcConcatInt8, concat()));
    ASSERT_EQ(bytes.size(), kBody + 60);  // 20 + 2 x 20; 44 + 60 = 104, on 8
    EXPECT_EQ(get_u32(bytes, 40), 60u);
    EXPECT_EQ(get_u32(bytes, kBody + 12), 0xFFFFFFFEu);  // output_zero_point -2
    EXPECT_EQ(get_u32(bytes, kBody + 16), 2u);           // input_count
    EXPECT_EQ(get_u32(bytes, kBody + 40), 40u);          // inputs[1].main_mem_address
    EXPECT_EQ(get_u32(bytes, kBody + 44), 3u);           // inputs[1].channels
    EXPECT_EQ(get_u32(bytes, kBody + 52), 1431655765u);  // inputs[1].multiplier
  }
  {
    const auto bytes = encode(one_layer(LayerType::kEmcLutInt8, lut()));
    ASSERT_EQ(bytes.size(), kBody + 276);  // 272 + 4 pad
    EXPECT_EQ(get_u32(bytes, kBody + 12), 100u);
    EXPECT_EQ(bytes[kBody + 16], 0x7F);        // table[0] (input -128) = 127
    EXPECT_EQ(bytes[kBody + 16 + 255], 0x80);  // table[255] (input 127) = -128
  }
  {
    const auto bytes = encode(one_layer(LayerType::kEmcPadCropInt8, pad_crop()));
    ASSERT_EQ(bytes.size(), kBody + 52);                 // 44 + 52 = 96, on 8
    EXPECT_EQ(get_u32(bytes, kBody + 32), 2u);           // pad_left
    EXPECT_EQ(get_u32(bytes, kBody + 36), 0xFFFFFFFFu);  // pad_right -1
    EXPECT_EQ(get_u32(bytes, kBody + 48), 0xFFFFFFF9u);  // fill -7
  }
  {
    const auto bytes = encode(one_layer(LayerType::kEmcResizeNearestInt8, resize()));
    ASSERT_EQ(bytes.size(), kBody + 36);        // 44 + 36 = 80, on 8
    EXPECT_EQ(get_u32(bytes, kBody + 24), 6u);  // out_width
    EXPECT_EQ(get_u32(bytes, kBody + 32), 1u);  // mode half pixel
  }
}

std::vector<std::pair<LayerType, LayerBody>> all_cases() {
  return {{LayerType::kEmcMaxPool2dInt8, pool()},
          {LayerType::kEmcAveragePool2dInt8, pool()},
          {LayerType::kEmcElementwiseInt8, elementwise()},
          {LayerType::kEmcConcatInt8, concat()},
          {LayerType::kEmcLutInt8, lut()},
          {LayerType::kEmcPadCropInt8, pad_crop()},
          {LayerType::kEmcResizeNearestInt8, resize()}};
}

TEST(EmcInt8Layers, RoundTripEveryType) {
  for (const auto& [type, body] : all_cases()) {
    SCOPED_TRACE(std::string(to_string(type)));
    const auto bytes = encode(one_layer(type, body));
    auto back = parse_kmodel(bytes);
    ASSERT_TRUE(back.ok()) << back.error().to_string();
    EXPECT_TRUE(back.value().has_emc_layers());
    EXPECT_EQ(back.value().layers[0].body, body);
    auto again = encode_kmodel(back.value(), {EncodeLayout::kPreserve});
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again.value(), bytes);
    // The in-memory check a backend runs agrees with the parser.
    EXPECT_TRUE(validate_layer(back.value().layers[0], 256).ok());
    EXPECT_FALSE(validate_layer(back.value().layers[0], 100).ok());
  }
}

void expect_rejected(const std::vector<std::uint8_t>& bytes, const std::string& type,
                     const std::string& needle) {
  auto m = parse_kmodel(bytes);
  ASSERT_FALSE(m.ok()) << "accepted; expected: " << needle;
  const std::string msg = m.error().to_string();
  EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  EXPECT_NE(msg.find(type), std::string::npos) << msg;
}

struct Bad {
  std::size_t at;
  std::uint32_t value;
  const char* needle;
};

void expect_all_rejected(LayerType type, const LayerBody& body, std::initializer_list<Bad> cases) {
  const auto good = encode(one_layer(type, body));
  ASSERT_TRUE(parse_kmodel(good).ok());
  for (const Bad& c : cases) {
    SCOPED_TRACE(std::string(to_string(type)) + ": " + c.needle);
    auto bad = good;
    put_u32(bad, kBody + c.at, c.value);
    expect_rejected(bad, std::string(to_string(type)), c.needle);
  }
  // A body_size below the fixed argument.
  auto short_body = good;
  put_u32(short_body, 40, 8);
  expect_rejected(short_body, std::string(to_string(type)), "argument");
}

constexpr std::uint32_t neg(std::int32_t v) {
  return static_cast<std::uint32_t>(v);
}

TEST(EmcInt8Layers, RejectsBadPoolFields) {
  for (LayerType t : {LayerType::kEmcMaxPool2dInt8, LayerType::kEmcAveragePool2dInt8}) {
    expect_all_rejected(t, pool(),
                        {{0, 1, "flags"},
                         {4, 200, "main_mem_in_address"},
                         {8, 240, "main_mem_out_address"},
                         {12, 0, "in_width is 0"},
                         {20, 0, "channels is 0"},
                         {24, 0, "out_width is 0"},
                         {32, 0, "kernel_width is 0"},
                         {36, 0, "kernel_height is 0"},
                         {40, 0, "stride_width is 0"},
                         {44, 0, "stride_height is 0"},
                         {48, 3, "pad_left 3 is not smaller than kernel_width 3"},
                         {60, 2, "pad_bottom 2 is not smaller than kernel_height 2"},
                         {24, 4, "out_width 4 differs"},
                         {28, 2, "out_height 2 differs"},
                         {64, 128, "input_zero_point 128"},
                         {68, neg(-129), "output_zero_point -129"},
                         {72, 0x80000000u, "multiplier -2147483648 is negative"},
                         {76, 31, "shift 31 is outside [-31, 30]"},
                         {76, neg(-32), "shift -32 is outside"},
                         {80, 101, "act_min 101 exceeds act_max 100"},
                         {84, 128, "act_max 128 is outside"}});
  }
  // 4096 x 4096 taps: the int32 window sum is no longer provably exact.
  auto bytes = encode(one_layer(LayerType::kEmcAveragePool2dInt8, pool()));
  put_u32(bytes, kBody + 32, 4096);
  put_u32(bytes, kBody + 36, 4096);
  expect_rejected(bytes, "EMC_AVERAGE_POOL2D_INT8", "more than 2^23 taps");
}

TEST(EmcInt8Layers, RejectsBadElementwiseFields) {
  expect_all_rejected(LayerType::kEmcElementwiseInt8, elementwise(),
                      {{0, 2, "flags"},
                       {4, 230, "main_mem_in_a_address"},
                       {8, 250, "main_mem_in_b_address"},
                       {12, 250, "main_mem_out_address"},
                       {16, 5, "op 5 is not"},
                       {20, 3, "broadcast 3 is not"},
                       {24, 0, "channels is 0"},
                       {28, 0, "plane is 0"},
                       {32, 23, "left_shift 23 is outside [0, 22]"},
                       {32, neg(-1), "left_shift -1"},
                       {36, 128, "a_zero_point 128"},
                       {40, 0x80000000u, "a_multiplier -2147483648 is negative"},
                       {44, 1, "a_shift 1 is outside [-31, 0]"},
                       {48, neg(-200), "b_zero_point -200"},
                       {56, neg(-32), "b_shift -32 is outside [-31, 0]"},
                       {60, neg(-129), "out_zero_point -129"},
                       {64, 0xFFFFFFFFu, "out_multiplier -1 is negative"},
                       {68, 31, "out_shift 31 is outside [-31, 30]"},
                       {72, neg(-129), "act_min -129"},
                       {76, 200, "act_max 200"},
                       // mul: the input rescales are unused and must be 0
                       {16, 2, "left_shift 20 must be 0 for op mul"}});
  // A broadcast b is smaller: per channel 4 bytes at 250 fit in 256, the full 40 do not.
  auto e = elementwise();
  e.main_mem_in_b_address = 250;
  e.broadcast = 1;
  EXPECT_TRUE(parse_kmodel(encode(one_layer(LayerType::kEmcElementwiseInt8, e))).ok());
  e.broadcast = 2;
  e.main_mem_in_b_address = 255;
  EXPECT_TRUE(parse_kmodel(encode(one_layer(LayerType::kEmcElementwiseInt8, e))).ok());
  e.op = 2, e.left_shift = 0, e.a_multiplier = e.a_shift = e.b_multiplier = e.b_shift = 0;
  EXPECT_TRUE(parse_kmodel(encode(one_layer(LayerType::kEmcElementwiseInt8, e))).ok());
}

TEST(EmcInt8Layers, RejectsBadConcatFields) {
  expect_all_rejected(LayerType::kEmcConcatInt8, concat(),
                      {{0, 1, "flags"},
                       {4, 240, "main_mem_out_address"},
                       {8, 0, "plane is 0"},
                       {12, 128, "output_zero_point 128"},
                       {16, 0, "input_count is 0"},
                       {16, 3, "do not fit"},
                       {24, 0, "inputs[0].channels is 0"},
                       {40, 250, "inputs.main_mem_address"},
                       {48, 200, "inputs[1].zero_point 200"},
                       {52, 0x80000000u, "inputs[1].multiplier -2147483648 is negative"},
                       {56, 31, "inputs[1].shift 31 is outside [-31, 30]"}});
}

TEST(EmcInt8Layers, RejectsBadLutPadCropResizeFields) {
  expect_all_rejected(LayerType::kEmcLutInt8, lut(),
                      {{0, 1, "flags"},
                       {4, 200, "main_mem_in_address"},
                       {12, 0, "count is 0"},
                       {12, 200, "main_mem_out_address"}});
  expect_all_rejected(LayerType::kEmcPadCropInt8, pad_crop(),
                      {{0, 1, "flags"},
                       {8, 200, "main_mem_out_address"},
                       {12, 0, "in_width is 0"},
                       {20, 0, "channels is 0"},
                       {24, 7, "out_width 7 differs from 5 + 2 + -1 = 6"},
                       {28, 5, "out_height 5 differs"},
                       {32, neg(-5), "pad_left -5 crops the whole input width 5"},
                       {44, neg(-4), "pad_bottom -4 crops the whole input height 4"},
                       {48, 128, "fill 128"}});
  expect_all_rejected(LayerType::kEmcResizeNearestInt8, resize(),
                      {{0, 1, "flags"},
                       {4, 250, "main_mem_in_address"},
                       {8, 220, "main_mem_out_address"},
                       {12, 0, "in_width is 0"},
                       {20, 0, "channels is 0"},
                       {28, 0, "out_height is 0"},
                       {32, 3, "mode 3 is not"}});
}

}  // namespace
}  // namespace emc::format
