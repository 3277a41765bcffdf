// Per-body-type round trips through the public writer and parser: one single-layer model per
// layer type, encoded canonically, parsed back, compared field by field; plus hand-written byte
// layouts for a few bodies (kmodel_v3.md §3.2).
#include <gtest/gtest.h>

#include "emc/format/byte_io.h"
#include "emc/format/kmodel_codec.h"
#include "emc/format/kpu_layout.h"
#include "format_test_util.h"

namespace emc::format {
namespace {

Kmodel one_layer(LayerType type, LayerBody body) {
  Kmodel m;
  m.header.main_mem_usage = 1 << 20;
  m.outputs = {{0x100, 16}};
  m.layers.push_back(Layer{type, std::move(body), 0, 0});
  return m;
}

// A small valid 3x3 conv: 8x8x2 -> 8x8x4, 8-bit weights, DMA to main memory.
ConvBody small_conv() {
  ConvBody c;
  c.flags = 1;
  c.main_mem_out_address = 0x2000;
  KpuLayerFields f;
  f.image_src_addr = 0;
  f.image_dst_addr = 100;
  f.i_ch_num = 1;
  f.o_ch_num = 3;
  f.o_ch_num_coef = 3;
  f.i_row_wid = 7;
  f.i_col_high = 7;
  f.o_row_wid = 7;
  f.o_col_high = 7;
  f.kernel_type = 1;
  f.load_para = 1;
  f.dma_burst_size = 15;
  f.pad_value = 7;
  f.load_coor = 1;
  f.para_size = 72;
  f.channel_switch_addr = 8;  // W=8 -> groups 4, row_len 1, H 8
  f.row_switch_addr = 1;
  f.coef_group = 4;
  f.load_act = 1;
  f.wb_channel_switch_addr = 8;
  f.wb_row_switch_addr = 1;
  f.wb_group = 4;
  f.arg_x = -77;
  f.arg_w = 12345;
  f.arg_add = -99999;
  f.send_data_out = 1;
  f.channel_byte_num = 63;
  f.dma_total_byte = 255;
  c.layer_words = pack_kpu_layer(f);
  c.weights.resize(4 * 2 * 9);
  for (std::size_t i = 0; i < c.weights.size(); ++i) c.weights[i] = std::uint8_t(i * 3 + 1);
  c.bn_words = {pack_kpu_batchnorm({-3, -1000, 15}), pack_kpu_batchnorm({5, 6, 7}),
                pack_kpu_batchnorm({1, 2, 3}), pack_kpu_batchnorm({100, -200, 0})};
  KpuActivationTable t{};
  t[0].x_start = -(std::int64_t{1} << 35);
  t[10] = {0, 1024, 20, 3};
  c.act_words = pack_kpu_activation(t);
  return c;
}

std::vector<Kmodel> one_model_per_type() {
  std::vector<Kmodel> v;
  v.push_back(one_layer(LayerType::kK210Conv, small_conv()));
  v.push_back(one_layer(LayerType::kAdd, AddBody{1, 0x10, 0x20, 0x30, 4}));
  v.push_back(one_layer(LayerType::kQuantizedAdd,
                        QuantizedAddBody{0, 1, 2, 3, 4, -5, 6, 7, -8, 9, 10, 11, 12, 13}));
  for (LayerType t : {LayerType::kGlobalMaxPool2d, LayerType::kQuantizedGlobalMaxPool2d,
                      LayerType::kGlobalAveragePool2d, LayerType::kQuantizedGlobalAveragePool2d}) {
    v.push_back(one_layer(t, GlobalPoolBody{0, 0x40, 0x800, 49, 8}));
  }
  for (LayerType t : {LayerType::kMaxPool2d, LayerType::kQuantizedMaxPool2d,
                      LayerType::kAveragePool2d, LayerType::kQuantizedAveragePool2d}) {
    Pool2dBody p{0, 0x40, 0x4000, {20, 15, 3}, {10, 8, 3}, 2, 2, 2, 2, 0, 1, CpuActivation::kRelu6};
    v.push_back(one_layer(t, p));
  }
  v.push_back(one_layer(LayerType::kQuantize, QuantizeBody{0, 0, 0x400, 10, 0.25f, -1.5f}));
  v.push_back(one_layer(LayerType::kDequantize, QuantizeBody{1, 0, 0x400, 10, 0.125f, 3.0f}));
  RequantizeBody rq{0, 0, 0x100, 300, {}};
  for (int i = 0; i < 256; ++i) rq.table[i] = std::uint8_t(255 - i);
  v.push_back(one_layer(LayerType::kRequantize, rq));
  for (LayerType t : {LayerType::kL2Normalization, LayerType::kSoftmax, LayerType::kLogistic}) {
    v.push_back(one_layer(t, ChannelsBody{0, 0, 0x100, 10}));
  }
  for (LayerType t : {LayerType::kConcat, LayerType::kQuantizedConcat}) {
    v.push_back(one_layer(t, ConcatBody{0, 0x1000, {{0, 16}, {0x20, 8}, {0x40, 1}}}));
  }
  for (LayerType t : {LayerType::kFullyConnected, LayerType::kQuantizedFullyConnected}) {
    FullyConnectedBody fc{
        0, 0, 0x100, 3, 2, CpuActivation::kRelu, {1, 2, 3, 4, 5, -6.5f}, {0.5f, -0.25f}};
    v.push_back(one_layer(t, fc));
  }
  for (LayerType t : {LayerType::kTensorflowFlatten, LayerType::kQuantizedTensorflowFlatten}) {
    v.push_back(one_layer(t, FlattenBody{0, 0, 0x1000, {4, 5, 6}}));
  }
  for (LayerType t :
       {LayerType::kResizeNearestNeighbor, LayerType::kQuantizedResizeNearestNeighbor}) {
    v.push_back(one_layer(t, ResizeNearestBody{0, 0, 0x1000, {4, 5, 6}, 8, 10, 1}));
  }
  v.push_back(one_layer(LayerType::kChannelwiseDequantize,
                        ChannelwiseDequantizeBody{1, 0, 0x100, 7, {{0.5f, 1}, {2, -3}, {4, 5}}}));
  v.push_back(one_layer(LayerType::kK210AddPadding, AddPaddingBody{0, 0x10, 32000, 10}));
  v.push_back(one_layer(LayerType::kK210RemovePadding, RemovePaddingBody{0, 0, 0x200, 10}));
  v.push_back(one_layer(LayerType::kK210Upload, UploadBody{0, 0, 100, 20, 15, 3}));
  return v;
}

class BodyRoundTrip : public ::testing::TestWithParam<Kmodel> {};

TEST_P(BodyRoundTrip, CanonicalEncodeThenParseGivesSameBody) {
  const Kmodel& m = GetParam();
  auto bytes = encode_kmodel(m);
  ASSERT_TRUE(bytes.ok()) << bytes.error().to_string();
  auto back = parse_kmodel(*bytes);
  ASSERT_TRUE(back.ok()) << back.error().to_string();
  ASSERT_EQ(back->layers.size(), 1u);
  const Layer& l = back->layers[0];
  EXPECT_EQ(l.type, m.layers[0].type);
  EXPECT_EQ(l.body_offset, 28u + 8 + 8);
  EXPECT_EQ((l.body_offset + l.body_size) % 8, 0u);
  LayerBody expected = m.layers[0].body;
  if (auto* p = std::get_if<Pool2dBody>(&expected)) {
    // The act word exists only in the float pool bodies (types 7 and 9).
    if (l.type == LayerType::kQuantizedMaxPool2d || l.type == LayerType::kQuantizedAveragePool2d)
      p->act = CpuActivation::kLinear;
  }
  if (auto* c = std::get_if<ConvBody>(&expected)) {
    const auto& got = std::get<ConvBody>(l.body);
    // Canonical blob layout: body at 44, head 24 -> args at 68 rounded to 8 = 72, weights at 256
    // (72+96 = 168 -> 256), BN at 256+72 = 328 -> 384, act at 384+32 = 416 -> 512.
    EXPECT_EQ(got.layer_offset, 72u);
    EXPECT_EQ(got.weights_offset, 256u);
    EXPECT_EQ(got.bn_offset, 384u);
    EXPECT_EQ(got.act_offset, 512u);
    EXPECT_EQ(l.body_size, 512u + 144u - 44u);  // 656 is a multiple of 8
    c->layer_offset = got.layer_offset;
    c->weights_offset = got.weights_offset;
    c->bn_offset = got.bn_offset;
    c->act_offset = got.act_offset;
  }
  EXPECT_TRUE(l.body == expected);
  // kPreserve of the parsed model reproduces the canonical bytes exactly.
  auto again = encode_kmodel(*back, {EncodeLayout::kPreserve});
  ASSERT_TRUE(again.ok()) << again.error().to_string();
  EXPECT_TRUE(*again == *bytes);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, BodyRoundTrip, ::testing::ValuesIn(one_model_per_type()),
                         [](const ::testing::TestParamInfo<Kmodel>& p) {
                           return std::string(to_string(p.param.layers[0].type)) + "_" +
                                  std::to_string(p.index);
                         });

TEST(BodyBytes, QuantizeBodyLayoutByHand) {
  // QUANTIZE: 0 flags, 4 in, 8 out, 12 count, 16 scale f32, 20 bias f32 (kmodel_v3.md §3.2).
  auto bytes =
      encode_kmodel(one_layer(LayerType::kQuantize, QuantizeBody{0, 4, 0x400, 10, 1.0f, -2.0f}));
  ASSERT_TRUE(bytes.ok());
  const std::size_t b = 44;                   // 28 header + 8 output + 8 layer header
  EXPECT_EQ(test::get_u32(*bytes, 36), 11u);  // type
  EXPECT_EQ(test::get_u32(*bytes, 40), 28u);  // 24 bytes + pad to absolute 8 (44+24=68 -> 72)
  EXPECT_EQ(test::get_u32(*bytes, b + 4), 4u);
  EXPECT_EQ(test::get_u32(*bytes, b + 8), 0x400u);
  EXPECT_EQ(test::get_u32(*bytes, b + 12), 10u);
  EXPECT_EQ(test::get_u32(*bytes, b + 16), 0x3f800000u);  // 1.0f
  EXPECT_EQ(test::get_u32(*bytes, b + 20), 0xc0000000u);  // -2.0f
  EXPECT_EQ(bytes->size(), 72u);
}

TEST(BodyBytes, FloatPoolHasActWordQuantizedPoolDoesNot) {
  Pool2dBody p{0, 0x40, 0x4000, {20, 15, 3}, {10, 8, 3}, 2, 2, 2, 2, 0, 1, CpuActivation::kRelu6};
  auto f = encode_kmodel(one_layer(LayerType::kAveragePool2d, p));
  auto q = encode_kmodel(one_layer(LayerType::kQuantizedMaxPool2d, p));
  ASSERT_TRUE(f.ok() && q.ok());
  EXPECT_EQ(test::get_u32(*f, 44 + 60), 2u);  // act = relu6 at offset 60
  EXPECT_EQ(test::get_u32(*f, 40), 68u);      // 64 + pad (44+64=108 -> 112)
  EXPECT_EQ(test::get_u32(*q, 40), 60u);      // 44+60 = 104 is already a multiple of 8
}

TEST(BodyBytes, ConcatAndChannelwiseCountsComeFromTheVectors) {
  auto c = encode_kmodel(one_layer(LayerType::kConcat, ConcatBody{0, 0x1000, {{1, 2}, {3, 4}}}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(test::get_u32(*c, 44 + 8), 2u);  // input_count
  EXPECT_EQ(test::get_u32(*c, 44 + 12), 1u);
  EXPECT_EQ(test::get_u32(*c, 44 + 24), 4u);
  auto d =
      encode_kmodel(one_layer(LayerType::kChannelwiseDequantize,
                              ChannelwiseDequantizeBody{0, 0, 0x100, 7, {{1, 2}, {3, 4}, {5, 6}}}));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(test::get_u32(*d, 44 + 12), 3u);  // channels
  EXPECT_EQ(test::get_u32(*d, 44 + 16), 7u);  // channel_size
  EXPECT_EQ(test::get_u32(*d, 44 + 20), 0x3f800000u);
}

TEST(EncodeErrors, InconsistentBodiesAreRejectedWithTheLayer) {
  FullyConnectedBody fc{0, 0, 0x100, 3, 2, CpuActivation::kLinear, {1, 2}, {0, 0}};
  auto r = encode_kmodel(one_layer(LayerType::kFullyConnected, fc));
  ASSERT_FALSE(r.ok());
  ASSERT_TRUE(r.error().layer().has_value());
  EXPECT_EQ(r.error().layer()->index, 0);
  EXPECT_NE(r.error().to_string().find("FULLY_CONNECTED"), std::string::npos);
  // Body alternative does not match the type.
  auto mismatch = encode_kmodel(one_layer(LayerType::kSoftmax, AddBody{}));
  EXPECT_FALSE(mismatch.ok());
  // Conv whose weight count disagrees with its registers.
  ConvBody c = small_conv();
  c.weights.pop_back();
  auto bad_conv = encode_kmodel(one_layer(LayerType::kK210Conv, c));
  ASSERT_FALSE(bad_conv.ok());
  EXPECT_NE(bad_conv.error().message().find("71 weight bytes (expected 72)"), std::string::npos);
  // No layers.
  Kmodel empty;
  empty.outputs = {{0, 4}};
  EXPECT_FALSE(encode_kmodel(empty).ok());
}

TEST(EncodeErrors, PreserveNeedsChainedOffsets) {
  Kmodel m = one_layer(LayerType::kSoftmax, ChannelsBody{0, 0, 0x100, 10});
  m.layers[0].body_offset = 100;  // not where the body goes (44)
  m.layers[0].body_size = 16;
  auto r = encode_kmodel(m, {EncodeLayout::kPreserve});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("kCanonical"), std::string::npos);
}

TEST(ByteIo, ReaderReportsAbsoluteOffsetOnFailure) {
  const std::vector<std::uint8_t> data = {1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 9};
  ByteReader r(data, 0x1000);
  std::uint32_t u = 0;
  std::int32_t i = 0;
  ASSERT_TRUE(r.read_u32(u, "a").ok());
  EXPECT_EQ(u, 1u);
  ASSERT_TRUE(r.read_i32(i, "b").ok());
  EXPECT_EQ(i, -1);
  EXPECT_EQ(r.position(), 0x1008u);
  auto st = r.read_u32(u, "count");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), Errc::kTruncatedModel);
  EXPECT_EQ(st.error().byte_offset(), 0x1008u);
  EXPECT_NE(st.error().message().find("count"), std::string::npos);
  EXPECT_EQ(r.position(), 0x1008u);  // unchanged on failure
  std::uint8_t b = 0;
  EXPECT_TRUE(r.read_u8(b, "c").ok());
  EXPECT_EQ(b, 9);
  EXPECT_FALSE(r.seek(0xfff, "x").ok());
  EXPECT_TRUE(r.seek(0x1004, "x").ok());
  std::uint64_t q = 0;
  EXPECT_FALSE(r.read_u64(q, "q").ok());  // 5 bytes left
}

TEST(ByteIo, WriterAlignsPadsAndPatches) {
  ByteWriter w;
  w.write_u32(0x11223344);
  w.write_u8(0xaa);
  EXPECT_EQ(w.align_to(8), 8u);
  EXPECT_EQ(w.bytes(), (std::vector<std::uint8_t>{0x44, 0x33, 0x22, 0x11, 0xaa, 0, 0, 0}));
  EXPECT_EQ(w.align_to(8), 8u);  // already aligned: nothing written
  w.write_f32(1.0f);
  EXPECT_TRUE(w.patch_u32_at(0, 0xdeadbeef).ok());
  EXPECT_EQ(test::get_u32(w.bytes(), 0), 0xdeadbeefu);
  EXPECT_EQ(test::get_u32(w.bytes(), 8), 0x3f800000u);
  EXPECT_FALSE(w.patch_u32_at(10, 1).ok());  // only 2 bytes after 10
  EXPECT_TRUE(w.pad_to(16, "x").ok());
  EXPECT_EQ(w.position(), 16u);
  EXPECT_FALSE(w.pad_to(15, "x").ok());
  w.write_u64(0x0102030405060708ull);
  EXPECT_EQ(w.bytes()[16], 0x08);
  EXPECT_EQ(w.bytes()[23], 0x01);
}

}  // namespace
}  // namespace emc::format
