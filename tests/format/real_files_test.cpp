// Every real V3 file in ../shared/kmodels parses, re-encodes byte for byte (kPreserve), and
// survives a canonical re-layout with the same decoded content.
#include <gtest/gtest.h>

#include "emc/format/kmodel_codec.h"
#include "format_test_util.h"

namespace emc::format {
namespace {

class RealFile : public ::testing::TestWithParam<std::string> {};

// Compares two models ignoring where things sit in the file (body/blob offsets and sizes).
void expect_same_content(const Kmodel& a, const Kmodel& b) {
  EXPECT_EQ(a.header, b.header);
  EXPECT_EQ(a.outputs, b.outputs);
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (std::size_t i = 0; i < a.layers.size(); ++i) {
    SCOPED_TRACE("layer " + std::to_string(i));
    EXPECT_EQ(a.layers[i].type, b.layers[i].type);
    const auto* ca = std::get_if<ConvBody>(&a.layers[i].body);
    const auto* cb = std::get_if<ConvBody>(&b.layers[i].body);
    if (ca && cb) {
      EXPECT_EQ(ca->flags, cb->flags);
      EXPECT_EQ(ca->main_mem_out_address, cb->main_mem_out_address);
      EXPECT_EQ(ca->layer_words, cb->layer_words);
      EXPECT_EQ(ca->weights, cb->weights);
      EXPECT_EQ(ca->bn_words, cb->bn_words);
      EXPECT_EQ(ca->act_words, cb->act_words);
    } else {
      EXPECT_TRUE(a.layers[i].body == b.layers[i].body);
    }
  }
}

TEST_P(RealFile, ParsesAndReencodesByteForByte) {
  const auto bytes = test::read_bytes(test::real_kmodel_path(GetParam()));
  ASSERT_FALSE(bytes.empty());
  auto m = parse_kmodel(bytes);
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  EXPECT_EQ(m->header.version, 3u);
  EXPECT_EQ(m->layers.size(), m->header.layers_length);
  // body_offset/body_size are filled and chain from body_start (kmodel_v3.md §1.1).
  std::uint64_t off = 28 + 8 * m->outputs.size() + 8 * m->layers.size();
  for (const Layer& l : m->layers) {
    EXPECT_EQ(l.body_offset, off);
    EXPECT_EQ(l.body_size,
              test::get_u32(bytes, 28 + 8 * m->outputs.size() + 8 * (&l - m->layers.data()) + 4));
    off += l.body_size;
  }
  EXPECT_EQ(off, bytes.size() + m->missing_tail_bytes);

  auto again = encode_kmodel(*m, {EncodeLayout::kPreserve});
  ASSERT_TRUE(again.ok()) << again.error().to_string();
  EXPECT_EQ(again->size(), bytes.size());
  EXPECT_TRUE(*again == bytes) << "kPreserve re-encode differs from the file";
}

TEST_P(RealFile, CanonicalEncodeParsesToSameModel) {
  auto m = load_kmodel_file(test::real_kmodel_path(GetParam()));
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  auto canon = encode_kmodel(*m, {EncodeLayout::kCanonical});
  ASSERT_TRUE(canon.ok()) << canon.error().to_string();
  auto back = parse_kmodel(*canon);
  ASSERT_TRUE(back.ok()) << back.error().to_string();
  EXPECT_EQ(back->missing_tail_bytes, 0u);
  expect_same_content(*m, *back);
  // Canonical layout: every body ends on 8, conv blobs at 8/128/128/256.
  for (const Layer& l : back->layers) {
    EXPECT_EQ((l.body_offset + l.body_size) % 8, 0u);
    if (const auto* c = std::get_if<ConvBody>(&l.body)) {
      EXPECT_EQ(c->layer_offset % 8, 0u);
      EXPECT_EQ(c->weights_offset % 128, 0u);
      EXPECT_EQ(c->bn_offset % 128, 0u);
      EXPECT_EQ(c->act_offset % 256, 0u);
    }
  }
  // Deterministic, and a fixed point: canonical(canonical(x)) == canonical(x).
  auto canon2 = encode_kmodel(*back, {EncodeLayout::kCanonical});
  ASSERT_TRUE(canon2.ok());
  EXPECT_TRUE(*canon2 == *canon);
}

INSTANTIATE_TEST_SUITE_P(Shared, RealFile, ::testing::ValuesIn(test::real_kmodel_names()),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                           std::string n = p.param.substr(0, p.param.find('.'));
                           for (char& c : n)
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

// The two nncase v0.1 files end before the last body's 8-byte pad (kmodel_v3.md §1.5).
TEST(RealFileQuirks, MissingFinalPadIsRecordedAndReproduced) {
  auto iris = load_kmodel_file(test::real_kmodel_path("nncase01_iris.kmodel"));
  ASSERT_TRUE(iris.ok()) << iris.error().to_string();
  // SOURCES.md: sum of body_size = 440, file = 436.
  EXPECT_EQ(iris->layers[0].body_size + iris->layers[1].body_size + 52u, 440u);
  EXPECT_EQ(iris->missing_tail_bytes, 4u);
  auto yolo = load_kmodel_file(test::real_kmodel_path("nncase01_yolo20.kmodel"));
  ASSERT_TRUE(yolo.ok()) << yolo.error().to_string();
  EXPECT_EQ(yolo->missing_tail_bytes, 4u);
  auto cifar = load_kmodel_file(test::real_kmodel_path("maixemc_cifar10.kmodel"));
  ASSERT_TRUE(cifar.ok());
  EXPECT_EQ(cifar->missing_tail_bytes, 0u);
  // Canonical output writes the pad: 440 bytes.
  auto canon = encode_kmodel(*iris, {EncodeLayout::kCanonical});
  ASSERT_TRUE(canon.ok());
  EXPECT_EQ(canon->size(), 440u);
}

}  // namespace
}  // namespace emc::format
