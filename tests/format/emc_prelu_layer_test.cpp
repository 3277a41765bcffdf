// EMC_PRELU_INT8 (emc_layers.h): the byte layout worked out by hand from docs/format.md, a round
// trip, and every rejection the parser promises, each naming the layer type and the field.
#include <gtest/gtest.h>

#include <string>

#include "emc/format/kmodel_codec.h"
#include "emc/format/layer_footprint.h"
#include "format_test_util.h"

namespace emc::format {
namespace {

using test::get_u32;
using test::put_u32;

constexpr std::size_t kBody = 28 + 8 + 8;  // header, one output, one layer header

// 3 channels x plane 10: input at 0, output at 128 (30 bytes each).
EmcPreluInt8Body prelu() {
  EmcPreluInt8Body b;
  b.main_mem_out_address = 128;
  b.channels = 3;
  b.plane = 10;
  b.input_zero_point = -7;
  b.output_zero_point = 12;
  b.pos_multiplier = 1518500250, b.pos_shift = 0;
  b.neg_multiplier = {1073741824, -1288490189, 0};
  b.neg_shift = {-2, -3, 0};
  return b;
}

std::vector<std::uint8_t> encode_one(const EmcPreluInt8Body& body, std::uint32_t main_mem = 256) {
  Kmodel m;
  m.header.main_mem_usage = main_mem;
  m.outputs.push_back({128, 30});
  Layer l;
  l.type = LayerType::kEmcPreluInt8;
  l.body = body;
  m.layers.push_back(std::move(l));
  auto bytes = encode_kmodel(m);
  EXPECT_TRUE(bytes.ok()) << (bytes.ok() ? "" : bytes.error().message());
  return bytes.ok() ? bytes.value() : std::vector<std::uint8_t>{};
}

constexpr std::uint32_t neg(std::int32_t v) {
  return static_cast<std::uint32_t>(v);
}

TEST(EmcPreluLayer, BytesByHand) {
  EXPECT_EQ(static_cast<std::uint32_t>(LayerType::kEmcPreluInt8), 0x454D0035u);
  EXPECT_TRUE(is_emc_type(LayerType::kEmcPreluInt8));
  const auto bytes = encode_one(prelu());
  // 36 + 3 * 8 = 60 bytes from file offset 44 end at 104, on 8: body_size 60.
  ASSERT_EQ(bytes.size(), kBody + 60);
  EXPECT_EQ(get_u32(bytes, 36), 0x454D0035u);
  EXPECT_EQ(get_u32(bytes, 40), 60u);
  EXPECT_EQ(get_u32(bytes, kBody + 8), 128u);          // main_mem_out_address
  EXPECT_EQ(get_u32(bytes, kBody + 12), 3u);           // channels
  EXPECT_EQ(get_u32(bytes, kBody + 16), 10u);          // plane
  EXPECT_EQ(get_u32(bytes, kBody + 20), neg(-7));      // input_zero_point
  EXPECT_EQ(get_u32(bytes, kBody + 24), 12u);          // output_zero_point
  EXPECT_EQ(get_u32(bytes, kBody + 28), 1518500250u);  // pos_multiplier
  EXPECT_EQ(get_u32(bytes, kBody + 32), 0u);           // pos_shift
  EXPECT_EQ(get_u32(bytes, kBody + 36), 1073741824u);  // neg_multiplier[0]
  EXPECT_EQ(get_u32(bytes, kBody + 40), neg(-1288490189));
  EXPECT_EQ(get_u32(bytes, kBody + 48), neg(-2));  // neg_shift[0]
  EXPECT_EQ(get_u32(bytes, kBody + 52), neg(-3));  // neg_shift[1]
}

TEST(EmcPreluLayer, RoundTripAndFootprint) {
  const auto bytes = encode_one(prelu());
  auto back = parse_kmodel(bytes);
  ASSERT_TRUE(back.ok()) << back.error().to_string();
  EXPECT_TRUE(back.value().has_emc_layers());
  EXPECT_EQ(back.value().layers[0].body, LayerBody(prelu()));
  auto again = encode_kmodel(back.value(), {EncodeLayout::kPreserve});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.value(), bytes);
  EXPECT_TRUE(validate_layer(back.value().layers[0], 256).ok());
  EXPECT_FALSE(validate_layer(back.value().layers[0], 150).ok());  // output 128 + 30 > 150
  auto f = layer_footprint(back.value().layers[0]);
  ASSERT_TRUE(f.ok());
  ASSERT_EQ(f->main_reads.size(), 1u);
  EXPECT_EQ(f->main_reads[0].size, 30u);
  ASSERT_EQ(f->main_writes.size(), 1u);
  EXPECT_EQ(f->main_writes[0].start, 128u);
  EXPECT_EQ(f->main_writes[0].size, 30u);
}

TEST(EmcPreluLayer, RejectsCorruptBodies) {
  const auto good = encode_one(prelu());
  ASSERT_TRUE(parse_kmodel(good).ok());
  struct Bad {
    std::size_t at;
    std::uint32_t value;
    const char* needle;
  };
  const Bad cases[] = {{0, 1, "flags"},
                       {4, 240, "main_mem_in_address"},
                       {8, 240, "main_mem_out_address"},
                       {12, 0, "body_size 60 disagrees"},  // 0 channels leave 24 bytes
                       {12, 4, "do not fit"},  // 4 channels need 68 bytes, the body has 60
                       {16, 0, "plane is 0"},
                       {16, 50, "main_mem"},  // 150 bytes from 128 exceed 256
                       {20, 128, "input_zero_point 128"},
                       {24, neg(-129), "output_zero_point -129"},
                       {28, 0x80000000u, "pos_multiplier -2147483648 is negative"},
                       {32, 31, "pos_shift 31 is outside [-31, 30]"},
                       {40, 0x80000000u, "neg_multiplier[1] is -2^31"},
                       {56, neg(-32), "neg_shift[2] -32 is outside [-31, 30]"}};
  for (const Bad& c : cases) {
    SCOPED_TRACE(c.needle);
    auto bad = good;
    put_u32(bad, kBody + c.at, c.value);
    auto m = parse_kmodel(bad);
    ASSERT_FALSE(m.ok()) << "accepted; expected: " << c.needle;
    const std::string msg = m.error().to_string();
    EXPECT_NE(msg.find(c.needle), std::string::npos) << msg;
    EXPECT_NE(msg.find("EMC_PRELU_INT8"), std::string::npos) << msg;
  }
  // The in-memory check (what a backend runs) names the field itself.
  {
    Layer l;
    l.type = LayerType::kEmcPreluInt8;
    auto b = prelu();
    b.channels = 0;
    b.neg_multiplier.clear();
    b.neg_shift.clear();
    l.body = b;
    const Status st = validate_layer(l, 256);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().to_string().find("channels is 0"), std::string::npos)
        << st.error().to_string();
  }
  auto short_body = good;
  put_u32(short_body, 40, 8);
  auto m = parse_kmodel(short_body);
  ASSERT_FALSE(m.ok());
  // The encoder refuses arrays that do not match the channel count.
  auto b = prelu();
  b.neg_shift.pop_back();
  Kmodel km;
  km.header.main_mem_usage = 256;
  km.outputs.push_back({128, 30});
  Layer l;
  l.type = LayerType::kEmcPreluInt8;
  l.body = b;
  km.layers.push_back(l);
  EXPECT_FALSE(encode_kmodel(km).ok());
}

}  // namespace
}  // namespace emc::format
