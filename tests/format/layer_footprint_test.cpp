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
