// layer_footprint: the read/write ranges of a layer from its body and its layer_types.def row,
// checked against hand computations from ../shared/docs/kmodel_v3.md (§3 bodies, §5.3 SDK-C
// semantics), and the REMOVE_PADDING read extent settled from the spec on a real file.
#include "emc/format/layer_footprint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "emc/format/kmodel_codec.h"
#include "format/format_test_util.h"

namespace emc::format {
namespace {

Layer layer(LayerType type, LayerBody body) {
  return Layer{type, std::move(body), 0, 0};
}

TEST(LayerFootprint, RemovePaddingReadsEverySixteenthByteOnly) {
  // SDK-C kpu_remove_padding: dest[c] = src[c * 16], c = 0..2: reads bytes 32, 48, 64, so the
  // read extent is [32, 65) (16 * (C - 1) + 1 bytes), not 16 * C = 48.
  auto f = layer_footprint(layer(LayerType::kK210RemovePadding, RemovePaddingBody{0, 32, 0, 3}));
  ASSERT_TRUE(f.ok()) << f.error().to_string();
  ASSERT_EQ(f->main_reads.size(), 1u);
  EXPECT_EQ(f->main_reads[0].start, 32u);
  EXPECT_EQ(f->main_reads[0].end(), 65u);
  ASSERT_EQ(f->main_writes.size(), 1u);
  EXPECT_EQ(f->main_writes[0].start, 0u);
  EXPECT_EQ(f->main_writes[0].size, 3u);
  EXPECT_TRUE(f->kpu_reads.empty());
  EXPECT_TRUE(f->kpu_writes.empty());
}

Pool2dBody pool(std::uint32_t in, Shape3 in_shape, Shape3 out_shape, std::uint32_t stride,
                std::uint32_t kernel = 1, std::uint32_t padding = 0) {
  Pool2dBody b;
  b.main_mem_in_address = in;
  b.main_mem_out_address = 0x400;
  b.in_shape = in_shape;
  b.out_shape = out_shape;
  b.kernel_width = b.kernel_height = kernel;
  b.stride_width = b.stride_height = stride;
  b.padding_width = b.padding_height = padding;
  return b;
}

TEST(LayerFootprint, PoolReadsUpToItsLastWindowNotTheDeclaredExtent) {
  const auto reads = [](const Pool2dBody& b) {
    auto f = layer_footprint(layer(LayerType::kQuantizedMaxPool2d, b));
    EXPECT_TRUE(f.ok()) << f.error().to_string();
    return f.ok() ? ByteRange{f->main_reads.at(0).start, f->main_reads.at(0).size} : ByteRange{};
  };
  // Crop of a 6x5x2 map (W 5, plane 30) at 0x100 by top 1, left 2 to 3x2: the 1x1 pool starts at
  // 0x100 + 1*5 + 2 = 0x107; its last tap is channel 1, row 2, column 1: 30 + 2*5 + 1 = 41, so
  // it reads [0x107, 0x131), inside the map [0x100, 0x13c) (the declared 60 bytes from 0x107
  // would run 7 bytes past it).
  ByteRange r = reads(pool(0x107, {5, 6, 2}, {2, 3, 2}, 1));
  EXPECT_EQ(r.start, 0x107u);
  EXPECT_EQ(r.size, 42u);
  // Stride-2 sampling of a 4x4x3 map from buffer + W + 1 to 2x2: taps (1 + 2y, 1 + 2x) are read
  // as rows 0, 2 and columns 0, 2 of the shifted map: last = 2*16 + 2*4 + 2 = 42, 43 bytes.
  r = reads(pool(0x105, {4, 4, 3}, {2, 2, 3}, 2));
  EXPECT_EQ(r.size, 43u);
  // Stride 3 over a width-5 map, out 3: windows 0, 3, 6 (outside): the last tap is column 3.
  // One row, one channel: 4 bytes.
  r = reads(pool(0, {5, 1, 1}, {3, 1, 1}, 3));
  EXPECT_EQ(r.size, 4u);
  // A 3x3 window with padding 1 over 4x4x1, out 4x4: windows reach row/column 3: all 16 bytes.
  r = reads(pool(0, {4, 4, 1}, {4, 4, 1}, 1, 3, 1));
  EXPECT_EQ(r.size, 16u);
  // Every window in the padding (kernel 1, padding 2, out 1): nothing is read.
  r = reads(pool(0, {4, 4, 1}, {1, 1, 1}, 1, 1, 2));
  EXPECT_EQ(r.size, 0u);
  // AVERAGE_POOL2D reads float32: the 2x2x1 map, 2x2 window, out 1x1: 4 floats.
  auto f = layer_footprint(layer(LayerType::kAveragePool2d, pool(0, {2, 2, 1}, {1, 1, 1}, 2, 2)));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->main_reads.at(0).size, 16u);
}

TEST(LayerFootprint, ElementSizesComeFromTheTypeRow) {
  // QUANTIZE (11): float32 in, uint8 out; DEQUANTIZE (12): the reverse; one body struct.
  auto q = layer_footprint(layer(LayerType::kQuantize, QuantizeBody{0, 0, 0x100, 10, 1.f, 0.f}));
  auto d = layer_footprint(layer(LayerType::kDequantize, QuantizeBody{0, 0, 0x100, 10, 1.f, 0.f}));
  ASSERT_TRUE(q.ok() && d.ok());
  EXPECT_EQ(q->main_reads[0].size, 40u);
  EXPECT_EQ(q->main_writes[0].size, 10u);
  EXPECT_EQ(d->main_reads[0].size, 10u);
  EXPECT_EQ(d->main_writes[0].size, 40u);
  // GLOBAL_AVERAGE_POOL2D (float) vs QUANTIZED_GLOBAL_AVERAGE_POOL2D (uint8): 49 x 8 elements in.
  auto g = layer_footprint(layer(LayerType::kGlobalAveragePool2d, GlobalPoolBody{0, 0, 0, 49, 8}));
  auto qg = layer_footprint(
      layer(LayerType::kQuantizedGlobalAveragePool2d, GlobalPoolBody{0, 0, 0, 49, 8}));
  ASSERT_TRUE(g.ok() && qg.ok());
  EXPECT_EQ(g->main_reads[0].size, 49u * 8 * 4);
  EXPECT_EQ(qg->main_reads[0].size, 49u * 8);
}

TEST(LayerFootprint, AddPaddingWritesWholeFourByFourMaps) {
  // Channel c goes to row*64 + (c/4)*4*64 + (c%4)*16 (§5.3): 5 channels use two groups of four
  // 64-byte rows, 512 bytes from row 2.
  auto f = layer_footprint(layer(LayerType::kK210AddPadding, AddPaddingBody{0, 0x10, 2, 5}));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->main_reads[0].start, 0x10u);
  EXPECT_EQ(f->main_reads[0].size, 5u);
  ASSERT_EQ(f->kpu_writes.size(), 1u);
  EXPECT_EQ(f->kpu_writes[0].start, 128u);
  EXPECT_EQ(f->kpu_writes[0].size, 512u);
}

TEST(LayerFootprint, BodyThatIsNotTheRowsStructIsAnError) {
  auto f = layer_footprint(layer(LayerType::kSoftmax, AddBody{}));
  ASSERT_FALSE(f.ok());
  EXPECT_THAT(f.error().message(), ::testing::HasSubstr("ChannelsBody"));
}

TEST(LayerFootprint, EveryLayerOfEveryRealFileHasOne) {
  for (const std::string& name : test::real_kmodel_names()) {
    auto m = load_kmodel_file(test::real_kmodel_path(name));
    ASSERT_TRUE(m.ok()) << name << ": " << m.error().to_string();
    for (std::size_t i = 0; i < m->layers.size(); ++i) {
      auto f = layer_footprint(m->layers[i]);
      ASSERT_TRUE(f.ok()) << name << " layer " << i << ": " << f.error().to_string();
      for (const auto& r : f->main_reads) EXPECT_LE(r.end(), m->header.main_mem_usage) << name;
      for (const auto& r : f->main_writes) EXPECT_LE(r.end(), m->header.main_mem_usage) << name;
    }
  }
}

// maixpy_mnist.kmodel layer 8 is a K210_REMOVE_PADDING. Moved so that its last 15 bytes of
// 16 * C lie past main_mem_usage while src[16 * (C - 1)] is the last byte of main memory, the
// SDK runs it; the parser accepts it. One byte further, src[16 * (C - 1)] is outside: rejected.
TEST(LayerFootprint, ParserTakesTheRemovePaddingExtentFromTheSpec) {
  std::vector<std::uint8_t> bytes = test::read_bytes(test::real_kmodel_path("maixpy_mnist.kmodel"));
  auto m = parse_kmodel(bytes);
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  const Layer& rp = m->layers.at(8);
  ASSERT_EQ(rp.type, LayerType::kK210RemovePadding);
  const std::uint32_t c = std::get<RemovePaddingBody>(rp.body).channels;
  ASSERT_GT(c, 1u);
  const std::uint32_t last_ok = m->header.main_mem_usage - (16 * (c - 1) + 1);
  test::put_u32(bytes, rp.body_offset + 4, last_ok);
  auto ok = parse_kmodel(bytes);
  ASSERT_TRUE(ok.ok()) << ok.error().to_string();
  test::put_u32(bytes, rp.body_offset + 4, last_ok + 1);
  auto bad = parse_kmodel(bytes);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().to_string(), ::testing::HasSubstr("main_mem_in_address"));
}

}  // namespace
}  // namespace emc::format
