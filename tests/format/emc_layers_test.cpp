// EMC layer types (emc_layers.h): numbering block, byte layout worked out by hand from
// docs/format.md, round trips, and every rejection the parser promises (naming layer and field).
#include <gtest/gtest.h>

#include <cstring>
#include <limits>

#include "emc/format/kmodel_codec.h"
#include "format_test_util.h"

namespace emc::format {
namespace {

using test::get_u32;
using test::put_u32;

// 5x4x3 input, 3x2 kernel, stride 2x1, dilation 1x2, pads l1 r1 t1 b1:
// out_w = (5 + 2 - 3) / 2 + 1 = 3; out_h = (4 + 2 - 3) / 1 + 1 = 4; 2 output channels.
EmcConvGeometry geometry() {
  EmcConvGeometry g;
  g.main_mem_in_address = 0;
  g.main_mem_out_address = 64;
  g.in_width = 5, g.in_height = 4, g.in_channels = 3;
  g.out_width = 3, g.out_height = 4, g.out_channels = 2;
  g.kernel_width = 3, g.kernel_height = 2;
  g.stride_width = 2, g.stride_height = 1;
  g.dilation_width = 1, g.dilation_height = 2;
  g.pad_left = 1, g.pad_right = 1, g.pad_top = 1, g.pad_bottom = 1;
  return g;
}

EmcConv2dInt8Body conv_int8() {
  EmcConv2dInt8Body b;
  b.geo = geometry();
  b.input_zero_point = -3;
  b.output_zero_point = 5;
  b.act_min = -100;
  b.act_max = 120;
  b.weights.resize(36);
  for (int i = 0; i < 36; ++i) b.weights[i] = static_cast<std::int8_t>(i * 7 - 128);
  b.bias = {-1000, 2000};
  b.multiplier = {1 << 30, 2147483647};
  b.shift = {-31, 30};
  return b;
}

Kmodel one_layer(LayerType type, LayerBody body, std::uint32_t main_mem = 128) {
  Kmodel m;
  m.header.main_mem_usage = main_mem;
  m.outputs.push_back({64, 24});
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

constexpr std::size_t kBody = 28 + 8 + 8;  // header, one output, one layer header

TEST(EmcLayerTypes, BlockIsReservedAndMarked) {
  for (LayerType t : all_layer_types()) {
    const auto v = static_cast<std::uint32_t>(t);
    if (is_emc_type(t)) {
      EXPECT_GE(v, 0x454D0000u);
      EXPECT_LE(v, 0x454DFFFFu);
      EXPECT_FALSE(is_k210_type(t));
      EXPECT_EQ(to_string(t).substr(0, 4), "EMC_");
    } else {
      EXPECT_TRUE(v <= 25 || (v >= 10240 && v <= 10243)) << v;
    }
  }
  EXPECT_EQ(static_cast<std::uint32_t>(LayerType::kEmcConv2d), 0x454D0001u);
  EXPECT_TRUE(is_emc_type(LayerType::kEmcDequantizeInt8));
  EXPECT_FALSE(is_emc_type(LayerType::kK210Conv));
  EXPECT_TRUE(is_k210_type(LayerType::kK210Upload));
}

TEST(EmcLayerTypes, Conv2dInt8BytesByHand) {
  const auto bytes = encode(one_layer(LayerType::kEmcConv2d, conv_int8()));
  // Body: 80 geometry + 16 + 36 weights (already a multiple of 4) + 3 x 2 x 4 = 156; it ends at
  // file offset 44 + 156 = 200, already on 8.
  ASSERT_EQ(bytes.size(), kBody + 156);
  EXPECT_EQ(get_u32(bytes, 36), 0x454D0001u);  // type, LE bytes 01 00 4D 45
  EXPECT_EQ(bytes[36], 0x01);
  EXPECT_EQ(bytes[39], 0x45);
  EXPECT_EQ(get_u32(bytes, 40), 156u);                  // body_size
  EXPECT_EQ(get_u32(bytes, kBody + 8), 64u);            // main_mem_out_address
  EXPECT_EQ(get_u32(bytes, kBody + 12), 5u);            // in_width
  EXPECT_EQ(get_u32(bytes, kBody + 52), 1u);            // dilation_width
  EXPECT_EQ(get_u32(bytes, kBody + 56), 2u);            // dilation_height
  EXPECT_EQ(get_u32(bytes, kBody + 76), 1u);            // depth_multiplier
  EXPECT_EQ(get_u32(bytes, kBody + 80), 0xFFFFFFFDu);   // input_zero_point -3
  EXPECT_EQ(get_u32(bytes, kBody + 84), 5u);            // output_zero_point
  EXPECT_EQ(bytes[kBody + 96], 0x80);                   // weight 0 = -128
  EXPECT_EQ(bytes[kBody + 97], 0x87);                   // weight 1 = -121
  EXPECT_EQ(get_u32(bytes, kBody + 132), 0xFFFFFC18u);  // bias[0] -1000
  EXPECT_EQ(get_u32(bytes, kBody + 140), 0x40000000u);  // multiplier[0]
  EXPECT_EQ(get_u32(bytes, kBody + 148), 0xFFFFFFE1u);  // shift[0] -31
  auto m = parse_kmodel(bytes);
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_TRUE(m.value().has_emc_layers());
  EXPECT_EQ(std::get<EmcConv2dInt8Body>(m.value().layers[0].body), conv_int8());
}

TEST(EmcLayerTypes, RoundTripsEveryType) {
  EmcConv2dInt8Body dw = conv_int8();
  dw.geo.out_channels = 6;
  dw.geo.depth_multiplier = 2;
  dw.geo.main_mem_out_address = 60;
  dw.weights.resize(6 * 3 * 2);  // 36 again; [oc][kh][kw]
  dw.bias.assign(6, 7);
  dw.multiplier.assign(6, 1 << 30);
  dw.shift.assign(6, 0);
  EmcConv2dF32Body f;
  f.geo = geometry();
  f.act_min = -std::numeric_limits<float>::infinity();
  f.act_max = 6.0f;
  f.weights.assign(36, 0.25f);
  f.bias = {1.0f, -2.0f};
  EmcQuantizeInt8Body q{0, 0, 64, 60, 0.5f, -7};
  const std::pair<LayerType, LayerBody> cases[] = {
      {LayerType::kEmcConv2d, conv_int8()},
      {LayerType::kEmcDepthwiseConv2d, dw},
      {LayerType::kEmcConv2dF32, f},
      {LayerType::kEmcQuantizeInt8, q},
      {LayerType::kEmcDequantizeInt8, EmcQuantizeInt8Body{0, 64, 0, 15, 0.5f, -7}}};
  for (const auto& [type, body] : cases) {
    SCOPED_TRACE(std::string(to_string(type)));
    const Kmodel m = one_layer(type, body, type == LayerType::kEmcConv2dF32 ? 512 : 256);
    const auto bytes = encode(m);
    auto back = parse_kmodel(bytes);
    ASSERT_TRUE(back.ok()) << back.error().message();
    EXPECT_EQ(back.value().layers[0].body, body);
    auto again = encode_kmodel(back.value(), {EncodeLayout::kPreserve});
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again.value(), bytes);
  }
}

// Parses `bytes`, expects a failure naming layer 0 and `needle` in the message.
void expect_rejected(const std::vector<std::uint8_t>& bytes, const std::string& needle) {
  auto m = parse_kmodel(bytes);
  ASSERT_FALSE(m.ok()) << "accepted; expected: " << needle;
  const std::string msg = m.error().to_string();
  EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  EXPECT_NE(msg.find("EMC_"), std::string::npos) << msg;
}

TEST(EmcLayerTypes, RejectsBadConvFields) {
  const auto good = encode(one_layer(LayerType::kEmcConv2d, conv_int8()));
  ASSERT_TRUE(parse_kmodel(good).ok());
  struct Case {
    std::size_t at;
    std::uint32_t value;
    const char* needle;
  };
  const Case cases[] = {
      {0, 1, "flags"},
      {4, 100, "main_mem_in_address"},
      {8, 120, "main_mem_out_address"},
      {36, 0, "kernel_width is 0"},
      {40, 0, "kernel_height is 0"},
      {44, 0, "stride_width is 0"},
      {52, 0, "dilation_width is 0"},
      {60, 3, "pad_left 3 is not smaller"},
      {72, 3, "pad_bottom 3 is not smaller"},
      {24, 4, "out_width 4 differs"},
      {28, 5, "out_height 5 differs"},
      {76, 2, "depth_multiplier 2 must be 1"},
      {80, 128, "input_zero_point 128"},
      {84, 0xFFFFFF7Fu, "output_zero_point -129"},
      {88, 121, "act_min 121 exceeds act_max"},
      {148, 0xFFFFFFE0u, "shift[0] -32 is outside [-31, 30]"},
      {152, 31, "shift[1] 31"},
      {140, 0x80000000u, "multiplier[0] -2147483648 is negative"},
      {132, 2147000000u, "overflow the int32 accumulator"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.needle);
    auto bad = good;
    put_u32(bad, kBody + c.at, c.value);
    expect_rejected(bad, c.needle);
  }
}

TEST(EmcLayerTypes, RejectsInconsistentSizes) {
  auto good = encode(one_layer(LayerType::kEmcConv2d, conv_int8()));
  {  // more channels than the arrays in the body hold
    auto bad = good;
    put_u32(bad, kBody + 32, 200);
    expect_rejected(bad, "do not fit");
  }
  {  // body_size below the fixed head
    auto bad = good;
    put_u32(bad, 40, 40);
    auto m = parse_kmodel(bad);
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.error().message().find("96-byte EMC_CONV2D argument"), std::string::npos)
        << m.error().message();
  }
  {  // body longer than its content + 7
    auto big = good;
    big.resize(big.size() + 8, 0);
    put_u32(big, 40, 164);
    expect_rejected(big, "disagrees");
  }
  {  // huge geometry: the weight count saturates and is rejected before allocation
    auto bad = good;
    put_u32(bad, kBody + 20, 0xFFFFFFFFu);
    put_u32(bad, kBody + 32, 0xFFFFFFFFu);
    expect_rejected(bad, "do not fit");
  }
}

TEST(EmcLayerTypes, RejectsBadFloatAndQuantizeFields) {
  EmcConv2dF32Body f;
  f.geo = geometry();
  f.act_min = 0.0f;
  f.act_max = 6.0f;
  f.weights.assign(36, 0.25f);
  f.bias = {1.0f, -2.0f};
  const auto good = encode(one_layer(LayerType::kEmcConv2dF32, f, 512));
  ASSERT_TRUE(parse_kmodel(good).ok());
  auto nan_w = good;
  put_u32(nan_w, kBody + 88 + 4 * 5, 0x7FC00000u);
  expect_rejected(nan_w, "weight");
  auto bad_act = good;
  put_u32(bad_act, kBody + 80, 0x41000000u);  // act_min 8 > act_max 6
  expect_rejected(bad_act, "out of order");

  const auto q =
      encode(one_layer(LayerType::kEmcQuantizeInt8, EmcQuantizeInt8Body{0, 0, 64, 16, 0.5f, 0}));
  ASSERT_TRUE(parse_kmodel(q).ok());
  auto zero_scale = q;
  put_u32(zero_scale, kBody + 16, 0);
  expect_rejected(zero_scale, "scale");
  auto zp = q;
  put_u32(zp, kBody + 20, 200);
  expect_rejected(zp, "zero_point 200");
  auto range = q;
  put_u32(range, kBody + 12,
          20);  // 20 floats = 80 bytes from 0 exceeds 128? no: 80 <= 128; out 64+20
  put_u32(range, kBody + 8, 120);
  expect_rejected(range, "main_mem_out_address");
}

TEST(EmcLayerTypes, V3FilesHaveNoEmcTypes) {
  for (const std::string& name : test::real_kmodel_names()) {
    auto m = load_kmodel_file(test::real_kmodel_path(name));
    ASSERT_TRUE(m.ok()) << name;
    EXPECT_FALSE(m.value().has_emc_layers()) << name;
  }
}

}  // namespace
}  // namespace emc::format

namespace emc::format {
namespace {

// The kmodel fuzz target's EMC seeds (fuzz/seeds/make_kmodel_seeds.py, laid out by hand from
// docs/format.md) are valid files: they parse, are marked, and re-encode byte for byte.
TEST(EmcLayerTypes, FuzzSeedsParse) {
  const std::string dir = std::string(EMC_SOURCE_DIR) + "/fuzz/seeds/kmodel/";
  for (const char* name :
       {"emc_quantize_conv_dequantize", "emc_depthwise_7x1_dilated", "emc_conv2d_f32_5x5",
        "emc_depthwise_f32_3x3", "emc_int8_ops_chain", "emc_prelu_chain"}) {
    SCOPED_TRACE(name);
    const auto bytes = test::read_bytes(dir + name + ".kmodel");
    ASSERT_FALSE(bytes.empty()) << "missing seed (run fuzz/seeds/make_kmodel_seeds.py)";
    auto m = parse_kmodel(bytes);
    ASSERT_TRUE(m.ok()) << m.error().to_string();
    EXPECT_TRUE(m.value().has_emc_layers());
    auto again = encode_kmodel(m.value(), {EncodeLayout::kPreserve});
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again.value(), bytes);
  }
}

}  // namespace
}  // namespace emc::format
