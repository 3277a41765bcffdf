// Malformed kmodels derived from real files: each named case mutates a real file and must be
// rejected with an emc::Error of the expected code whose text names the offset or the layer.
// Plus a sweep of bit flips and truncations that must never crash (ok or error only).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <stdexcept>

#include "emc/format/kmodel_codec.h"
#include "format_test_util.h"

namespace emc::format {
namespace {

using Bytes = std::vector<std::uint8_t>;
using Mutation = std::function<void(Bytes&, const Kmodel&)>;

struct Case {
  std::string name;
  std::string file;
  Mutation mutate;
  Errc code;
  std::string text;  // substring the message must contain
};

const Kmodel& original(const std::string& file) {
  static std::map<std::string, Kmodel> cache;
  auto it = cache.find(file);
  if (it == cache.end()) {
    auto m = load_kmodel_file(test::real_kmodel_path(file));
    if (!m.ok()) throw std::runtime_error(m.error().to_string());
    it = cache.emplace(file, std::move(m).value()).first;
  }
  return it->second;
}

// Offsets inside a file.
std::size_t layer_header(const Kmodel& m, std::size_t i) {
  return 28 + 8 * m.outputs.size() + 8 * i;
}
std::size_t body(const Kmodel& m, std::size_t i) {
  return m.layers[i].body_offset;
}
const ConvBody& conv(const Kmodel& m, std::size_t i) {
  return std::get<ConvBody>(m.layers[i].body);
}
// Replaces `width` bits at `lo` of register word `word` of conv layer i.
void set_reg(Bytes& b, const Kmodel& m, std::size_t i, int word, int lo, int width,
             std::uint64_t v) {
  const std::size_t at = conv(m, i).layer_offset + 8 * word;
  std::uint64_t w = test::get_u64(b, at);
  const std::uint64_t mask = ((std::uint64_t{1} << width) - 1) << lo;
  w = (w & ~mask) | ((v << lo) & mask);
  test::put_u64(b, at, w);
}
void truncate_to(Bytes& b, std::size_t n) {
  b.resize(n);
}
void put_f32(Bytes& b, std::size_t at, float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  test::put_u32(b, at, u);
}

const std::string kCifar = "maixemc_cifar10.kmodel";  // conv, pool, upload, flatten, deq, fc
const std::string kIris = "nncase01_iris.kmodel";     // 2 x FULLY_CONNECTED, missing final pad
const std::string kMnist = "maixpy_mnist.kmodel";     // quantize, add/remove padding, softmax
const std::string kYolo = "nncase01_yolo20.kmodel";   // channelwise dequantize
const std::string kMbnet = "maixemc_mbnetv1_a075.kmodel";

std::vector<Case> cases() {
  std::vector<Case> v;
  auto add = [&](std::string name, std::string file, Mutation m, Errc code, std::string text) {
    v.push_back({std::move(name), std::move(file), std::move(m), code, std::move(text)});
  };
  const Errc T = Errc::kTruncatedModel, I = Errc::kInvalidModel, V = Errc::kUnsupportedVersion,
             U = Errc::kUnsupportedLayer, C = Errc::kInvalidLayerConfig;

  // --- truncation at structure boundaries ---
  add(
      "empty", kIris, [](Bytes& b, const Kmodel&) { b.clear(); }, T, "header needs 28");
  add(
      "three_bytes", kIris, [](Bytes& b, const Kmodel&) { truncate_to(b, 3); }, T, "header");
  add(
      "header_27", kIris, [](Bytes& b, const Kmodel&) { truncate_to(b, 27); }, T,
      "header needs 28");
  add(
      "header_only", kCifar, [](Bytes& b, const Kmodel&) { truncate_to(b, 28); }, T,
      "layer headers end");
  add(
      "mid_outputs", kCifar, [](Bytes& b, const Kmodel&) { truncate_to(b, 32); }, T,
      "beyond the file size");
  add(
      "mid_layer_headers", kCifar,
      [](Bytes& b, const Kmodel& m) { truncate_to(b, layer_header(m, 4)); }, T, "layer headers");
  add(
      "at_body_start", kCifar, [](Bytes& b, const Kmodel& m) { truncate_to(b, body(m, 0)); }, T,
      "body of 1444 bytes");
  add(
      "mid_conv_head", kCifar, [](Bytes& b, const Kmodel& m) { truncate_to(b, body(m, 0) + 10); },
      T, "beyond the file size");
  add(
      "mid_conv_args", kMbnet, [](Bytes& b, const Kmodel& m) { truncate_to(b, body(m, 35) + 4); },
      T, "beyond the file size");
  add(
      "mid_last_fc", kCifar, [](Bytes& b, const Kmodel& m) { truncate_to(b, body(m, 8) + 100); }, T,
      "ends at");
  add(
      "last_body_8_short", kCifar, [](Bytes& b, const Kmodel&) { truncate_to(b, b.size() - 8); }, T,
      "beyond the file size");
  add(
      "last_body_1_short_no_pad", kCifar,
      [](Bytes& b, const Kmodel&) { truncate_to(b, b.size() - 1); }, T, "bias");
  add(
      "iris_12_short", kIris, [](Bytes& b, const Kmodel&) { truncate_to(b, b.size() - 8); }, T,
      "ends at");
  add(
      "iris_pad_plus_bias_missing", kIris,
      [](Bytes& b, const Kmodel&) { truncate_to(b, b.size() - 1); }, T, "bias");
  add(
      "yolo_last_conv_truncated", kYolo,
      [](Bytes& b, const Kmodel& m) { truncate_to(b, body(m, 16)); }, T, "body of 1024 bytes");
  // --- versions ---
  add(
      "v4_kmdl", kIris,
      [](Bytes& b, const Kmodel&) {
        test::put_u32(b, 0, 0x4B4D444C);
        test::put_u32(b, 4, 4);
      },
      V, "kmodel V4 ('KMDL' identifier, nncase >= 0.2); only V3 is supported");
  add(
      "v5_kmdl", kIris,
      [](Bytes& b, const Kmodel&) {
        test::put_u32(b, 0, 0x4B4D444C);
        test::put_u32(b, 4, 5);
      },
      V, "version 5");
  add(
      "v4_kmdl_4_bytes", kIris,
      [](Bytes& b, const Kmodel&) {
        test::put_u32(b, 0, 0x4B4D444C);
        truncate_to(b, 4);
      },
      V, "kmodel V4");
  add(
      "v1_legacy", kCifar, [](Bytes& b, const Kmodel&) { test::put_u32(b, 0, 1); }, V,
      "legacy kmodel V1");
  add(
      "version_2", kCifar, [](Bytes& b, const Kmodel&) { test::put_u32(b, 0, 2); }, V,
      "unsupported kmodel version 2");
  add(
      "byte_swapped", kCifar, [](Bytes& b, const Kmodel&) { test::put_u32(b, 0, 0x03000000); }, V,
      "big-endian");
  add(
      "arch_1", kCifar, [](Bytes& b, const Kmodel&) { test::put_u32(b, 8, 1); }, V, "arch 1");
  add(
      "flags_bit1", kCifar, [](Bytes& b, const Kmodel&) { test::put_u32(b, 4, 3); }, I,
      "undefined bits");
  add(
      "flags_swapped", kCifar, [](Bytes& b, const Kmodel&) { test::put_u32(b, 4, 0x01000000); }, I,
      "flags 0x1000000");
  // --- counts ---
  add(
      "zero_layers", kCifar, [](Bytes& b, const Kmodel&) { test::put_u32(b, 12, 0); }, I,
      "layers_length 0");
  add(
      "layers_overflow", kCifar, [](Bytes& b, const Kmodel&) { test::put_u32(b, 12, 0xffffffff); },
      I, "layers_length 4294967295");
  add(
      "layers_past_end", kIris, [](Bytes& b, const Kmodel&) { test::put_u32(b, 12, 4000); }, T,
      "4000 layer headers");
  add(
      "zero_outputs", kCifar, [](Bytes& b, const Kmodel&) { test::put_u32(b, 24, 0); }, I,
      "output_count 0");
  add(
      "outputs_overflow", kCifar, [](Bytes& b, const Kmodel&) { test::put_u32(b, 24, 0xffffffff); },
      I, "output_count");
  add(
      "main_mem_over_limit", kCifar,
      [](Bytes& b, const Kmodel&) { test::put_u32(b, 20, 0xffffffff); }, I,
      "main_mem_usage 4294967295");
  add(
      "max_start_beyond_kpu", kCifar, [](Bytes& b, const Kmodel&) { test::put_u32(b, 16, 0x8001); },
      I, "max_start_address 0x8001");
  add(
      "output_past_main", kCifar, [](Bytes& b, const Kmodel&) { test::put_u32(b, 28, 40960 - 39); },
      I, "exceeds main_mem_usage 40960");
  add(
      "output_size_zero", kCifar, [](Bytes& b, const Kmodel&) { test::put_u32(b, 32, 0); }, I,
      "output 0");
  add(
      "output_addr_wraps", kCifar,
      [](Bytes& b, const Kmodel&) {
        test::put_u32(b, 28, 0xfffffff0);
        test::put_u32(b, 32, 0x20);
      },
      I, "exceeds main_mem_usage");
  // --- layer types and body sizes ---
  add(
      "type_unknown", kCifar,
      [](Bytes& b, const Kmodel& m) { test::put_u32(b, layer_header(m, 3), 9999); }, U,
      "unsupported layer type 9999");
  add(
      "type_zero", kCifar,
      [](Bytes& b, const Kmodel& m) { test::put_u32(b, layer_header(m, 1), 0); }, U,
      "unsupported layer type 0");
  add(
      "type_26", kIris, [](Bytes& b, const Kmodel& m) { test::put_u32(b, layer_header(m, 1), 26); },
      U, "unsupported layer type 26");
  add(
      "type_10244", kIris,
      [](Bytes& b, const Kmodel& m) { test::put_u32(b, layer_header(m, 0), 10244); }, U,
      "unsupported layer type 10244");
  add(
      "conv_body_too_small", kCifar,
      [](Bytes& b, const Kmodel& m) { test::put_u32(b, layer_header(m, 0) + 4, 20); }, I,
      "smaller than the 24-byte K210_CONV");
  add(
      "fc_body_too_small", kIris,
      [](Bytes& b, const Kmodel& m) { test::put_u32(b, layer_header(m, 0) + 4, 16); }, I,
      "smaller than the 24-byte FULLY_CONNECTED");
  add(
      "body_size_huge", kCifar,
      [](Bytes& b, const Kmodel& m) { test::put_u32(b, layer_header(m, 2) + 4, 0xffffffff); }, T,
      "beyond the file size");
  add(
      "fc_in_channels_too_big", kIris,
      [](Bytes& b, const Kmodel& m) { test::put_u32(b, body(m, 0) + 12, 5); }, I, "do not fit");
  add(
      "fc_in_channels_too_small", kIris,
      [](Bytes& b, const Kmodel& m) { test::put_u32(b, body(m, 0) + 12, 3); }, I,
      "disagrees with the");
  add(
      "fc_counts_overflow", kIris,
      [](Bytes& b, const Kmodel& m) {
        test::put_u32(b, body(m, 0) + 12, 0xffffffff);
        test::put_u32(b, body(m, 0) + 16, 0xffffffff);
      },
      I, "do not fit");
  add(
      "fc_bad_act", kIris, [](Bytes& b, const Kmodel& m) { test::put_u32(b, body(m, 0) + 20, 7); },
      C, "act 7");
  add(
      "channelwise_count_plus_one", kYolo,
      [](Bytes& b, const Kmodel& m) { test::put_u32(b, body(m, 16) + 12, 126); }, I, "do not fit");
  add(
      "channelwise_count_overflow", kYolo,
      [](Bytes& b, const Kmodel& m) { test::put_u32(b, body(m, 16) + 12, 0x20000000); }, I,
      "do not fit");
  add(
      "trailing_garbage", kCifar, [](Bytes& b, const Kmodel&) { b.resize(b.size() + 16, 0xab); }, I,
      "unexpected bytes after the last layer");
  // --- conv blobs ---
  add(
      "conv_layer_offset_misaligned", kCifar,
      [](Bytes& b, const Kmodel& m) {
        test::put_u32(b, body(m, 0) + 8, conv(m, 0).layer_offset + 4);
      },
      I, "not aligned to 8");
  add(
      "conv_weights_misaligned", kCifar,
      [](Bytes& b, const Kmodel& m) {
        test::put_u32(b, body(m, 0) + 12, conv(m, 0).weights_offset + 8);
      },
      I, "not aligned to 128");
  add(
      "conv_bn_misaligned", kCifar,
      [](Bytes& b, const Kmodel& m) {
        test::put_u32(b, body(m, 3) + 16, conv(m, 3).bn_offset + 64);
      },
      I, "bn_offset");
  add(
      "conv_act_misaligned", kCifar,
      [](Bytes& b, const Kmodel& m) {
        test::put_u32(b, body(m, 0) + 20, conv(m, 0).act_offset + 64);
      },
      I, "act_offset");
  add(
      "conv_layer_offset_past_end", kCifar,
      [](Bytes& b, const Kmodel& m) { test::put_u32(b, body(m, 0) + 8, 0xffffff00); }, T,
      "exceeds file size");
  add(
      "conv_act_past_end", kCifar,
      [](Bytes& b, const Kmodel& m) { test::put_u32(b, body(m, 0) + 20, 0xffffff80); }, T,
      "exceeds file size");
  add(
      "conv_weights_outside_body", kCifar,
      [](Bytes& b, const Kmodel& m) { test::put_u32(b, body(m, 3) + 12, 0); }, I,
      "outside the layer's body");
  add(
      "conv_bn_into_next_body", kCifar,
      [](Bytes& b, const Kmodel& m) { test::put_u32(b, body(m, 0) + 16, 0x680); }, I,
      "outside the layer's body");
  add(
      "conv_blobs_overlap", kCifar,
      [](Bytes& b, const Kmodel& m) {
        test::put_u32(b, body(m, 0) + 16, conv(m, 0).weights_offset);
      },
      I, "overlaps");
  add(
      "conv_out_channels_grow", kCifar,
      [](Bytes& b, const Kmodel& m) { set_reg(b, m, 0, 2, 32, 10, 63); }, I,
      "outside the layer's body");
  add(
      "conv_kernel_type_2", kCifar, [](Bytes& b, const Kmodel& m) { set_reg(b, m, 0, 4, 0, 3, 2); },
      C, "kernel_type 2");
  add(
      "conv_pool_type_10", kCifar, [](Bytes& b, const Kmodel& m) { set_reg(b, m, 0, 4, 4, 4, 10); },
      C, "pool_type 10");
  add(
      "conv_pool_output_mismatch", kCifar,
      [](Bytes& b, const Kmodel& m) { set_reg(b, m, 0, 4, 4, 4, 1); }, C,
      "o_row_wid/o_col_high say 32x32");
  add(
      "conv_coef_group_3", kCifar, [](Bytes& b, const Kmodel& m) { set_reg(b, m, 0, 7, 28, 3, 3); },
      C, "coef_group");
  add(
      "conv_channel_switch_wrong", kCifar,
      [](Bytes& b, const Kmodel& m) { set_reg(b, m, 0, 7, 0, 15, 31); }, C, "expected 2/1/32");
  add(
      "conv_wb_group_wrong", kCifar,
      [](Bytes& b, const Kmodel& m) { set_reg(b, m, 0, 8, 20, 3, 4); }, C, "wb_group");
  add(
      "conv_dma_total_wrong", kCifar,
      [](Bytes& b, const Kmodel& m) { set_reg(b, m, 0, 11, 32, 32, 1000); }, C,
      "dma_total_byte + 1 = 1001");
  add(
      "conv_dma_out_past_main", kCifar,
      [](Bytes& b, const Kmodel& m) { test::put_u32(b, body(m, 0) + 4, 40960 - 32768 + 1); }, I,
      "exceeds main_mem_usage 40960");
  add(
      "conv_src_past_kpu", kCifar,
      [](Bytes& b, const Kmodel& m) { set_reg(b, m, 0, 1, 0, 15, 0x7ff0); }, I, "image_src_addr");
  add(
      "conv_dst_past_kpu", kMbnet,
      [](Bytes& b, const Kmodel& m) { set_reg(b, m, 0, 1, 32, 15, 27393); }, I, "image_dst_addr");
  add(
      "conv_depthwise_channel_mismatch", kCifar,
      [](Bytes& b, const Kmodel& m) { set_reg(b, m, 3, 0, 3, 1, 1); }, C, "depthwise");
  add(
      "conv_coef_exceeds_oc", kCifar,
      [](Bytes& b, const Kmodel& m) { set_reg(b, m, 0, 2, 48, 10, 40); }, C, "o_ch_num_coef 40");
  // --- CPU layer semantics ---
  add(
      "dequantize_scale_nan", kCifar,
      [](Bytes& b, const Kmodel& m) {
        put_f32(b, body(m, 6) + 16, std::numeric_limits<float>::quiet_NaN());
      },
      C, "scale nan is not finite");
  add(
      "dequantize_bias_inf", kCifar,
      [](Bytes& b, const Kmodel& m) {
        put_f32(b, body(m, 6) + 20, std::numeric_limits<float>::infinity());
      },
      C, "bias inf is not finite");
  add(
      "quantize_scale_zero", kMnist,
      [](Bytes& b, const Kmodel& m) { put_f32(b, body(m, 5) + 16, 0.0f); }, C, "scale is 0");
  add(
      "dequantize_count_past_main", kCifar,
      [](Bytes& b, const Kmodel& m) { test::put_u32(b, body(m, 6) + 12, 0x40000000); }, I,
      "main_mem_in_address 0x0 + 1073741824 bytes");
  add(
      "dequantize_count_zero", kCifar,
      [](Bytes& b, const Kmodel& m) { test::put_u32(b, body(m, 6) + 12, 0); }, I, "count is 0");
  add(
      "fc_weight_nan", kIris,
      [](Bytes& b, const Kmodel& m) {
        put_f32(b, body(m, 1) + 24 + 8, std::numeric_limits<float>::quiet_NaN());
      },
      C, "weight nan");
  add(
      "fc_out_past_main", kIris,
      [](Bytes& b, const Kmodel& m) { test::put_u32(b, body(m, 1) + 8, 48); }, I,
      "exceeds main_mem_usage 56");
  add(
      "upload_past_kpu", kCifar,
      [](Bytes& b, const Kmodel& m) { test::put_u32(b, body(m, 2) + 8, 0x7fff); }, I,
      "kpu_mem_out_address at KPU row 32767");
  add(
      "upload_width_zero", kCifar,
      [](Bytes& b, const Kmodel& m) { test::put_u32(b, body(m, 2) + 12, 0); }, I, "width is 0");
  add(
      "pool_stride_zero", kCifar,
      [](Bytes& b, const Kmodel& m) { test::put_u32(b, body(m, 1) + 44, 0); }, I,
      "stride_width is 0");
  add(
      "pool_channels_differ", kCifar,
      [](Bytes& b, const Kmodel& m) { test::put_u32(b, body(m, 1) + 32, 31); }, I,
      "out_shape.channels 31");
  add(
      "pool_out_past_main", kCifar,
      [](Bytes& b, const Kmodel& m) { test::put_u32(b, body(m, 1) + 8, 40000); }, I,
      "main_mem_out_address 0x9c40");
  add(
      "flatten_in_past_main", kCifar,
      [](Bytes& b, const Kmodel& m) { test::put_u32(b, body(m, 5) + 4, 0x10000); }, I,
      "main_mem_in_address 0x10000");
  add(
      "add_padding_past_kpu", kMnist,
      [](Bytes& b, const Kmodel& m) { test::put_u32(b, body(m, 6) + 8, 32767); }, I, "4x4 map");
  add(
      "remove_padding_in_past_main", kMnist,
      [](Bytes& b, const Kmodel& m) { test::put_u32(b, body(m, 8) + 4, 14000); }, I,
      "main_mem_in_address");
  add(
      "softmax_channels_zero", kMnist,
      [](Bytes& b, const Kmodel& m) { test::put_u32(b, body(m, 10) + 12, 0); }, I, "channels is 0");
  add(
      "softmax_out_past_main", kMnist,
      [](Bytes& b, const Kmodel& m) { test::put_u32(b, body(m, 10) + 8, 14100); }, I,
      "exceeds main_mem_usage 14112");
  add(
      "gap_kernel_zero", kMbnet,
      [](Bytes& b, const Kmodel& m) { test::put_u32(b, body(m, 28) + 12, 0); }, I,
      "kernel_size is 0");
  return v;
}

class Malformed : public ::testing::TestWithParam<Case> {};

TEST_P(Malformed, IsRejectedWithOffsetOrLayer) {
  const Case& c = GetParam();
  Bytes bytes = test::read_bytes(test::real_kmodel_path(c.file));
  ASSERT_FALSE(bytes.empty());
  c.mutate(bytes, original(c.file));
  auto r = parse_kmodel(bytes);
  ASSERT_FALSE(r.ok()) << c.name << " was accepted";
  const Error& e = r.error();
  const std::string text = e.to_string();
  EXPECT_EQ(e.code(), c.code) << text;
  EXPECT_NE(e.message().find(c.text), std::string::npos) << text;
  EXPECT_TRUE(e.byte_offset().has_value() || e.layer().has_value()) << text;
  EXPECT_TRUE(text.find("offset 0x") != std::string::npos ||
              text.find("layer ") != std::string::npos)
      << text;
}

INSTANTIATE_TEST_SUITE_P(FromRealFiles, Malformed, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& p) { return p.param.name; });

TEST(MalformedCount, AtLeastFifty) {
  EXPECT_GE(cases().size(), 50u);
}

// Layer errors carry {index, "", type name}.
TEST(MalformedDetail, LayerErrorsNameIndexAndType) {
  Bytes bytes = test::read_bytes(test::real_kmodel_path(kCifar));
  const Kmodel& m = original(kCifar);
  put_f32(bytes, body(m, 6) + 16, std::numeric_limits<float>::quiet_NaN());
  auto r = parse_kmodel(bytes);
  ASSERT_FALSE(r.ok());
  ASSERT_TRUE(r.error().layer().has_value());
  EXPECT_EQ(r.error().layer()->index, 6);
  EXPECT_EQ(r.error().layer()->type, "DEQUANTIZE");
  EXPECT_EQ(r.error().byte_offset(), body(m, 6) + 16);
  EXPECT_NE(r.error().to_string().find("layer 6 (DEQUANTIZE)"), std::string::npos);
}

// Truncating a multi-layer file at every layer-body boundary (and one byte after) is an error.
TEST(MalformedSweep, TruncationAtEveryBodyBoundary) {
  for (const std::string& f : {kCifar, kMnist, kMbnet}) {
    const Bytes full = test::read_bytes(test::real_kmodel_path(f));
    const Kmodel& m = original(f);
    for (const Layer& l : m.layers) {
      for (std::size_t cut : {l.body_offset, l.body_offset + 1}) {
        Bytes b(full.begin(), full.begin() + cut);
        auto r = parse_kmodel(b);
        ASSERT_FALSE(r.ok()) << f << " cut at " << cut;
        EXPECT_EQ(r.error().code(), Errc::kTruncatedModel) << r.error().to_string();
      }
    }
  }
}

// Never a crash: every truncation length and every single-bit flip of the iris file, and a
// sweep over the first 2 KB of a conv-only file (header, tables, first convs).
TEST(MalformedSweep, BitFlipsAndTruncationsNeverCrash) {
  const Bytes iris = test::read_bytes(test::real_kmodel_path(kIris));
  std::size_t accepted = 0, rejected = 0;
  auto run = [&](const Bytes& b) {
    auto r = parse_kmodel(b);
    if (r.ok()) {
      ++accepted;
      auto enc = encode_kmodel(*r);
      ASSERT_TRUE(enc.ok()) << enc.error().to_string();
      ASSERT_TRUE(parse_kmodel(*enc).ok());
    } else {
      ++rejected;
      ASSERT_FALSE(r.error().message().empty());
    }
  };
  for (std::size_t n = 0; n < iris.size(); ++n) run(Bytes(iris.begin(), iris.begin() + n));
  for (std::size_t bit = 0; bit < iris.size() * 8; ++bit) {
    Bytes b = iris;
    b[bit / 8] ^= std::uint8_t(1u << (bit % 8));
    run(b);
  }
  // Conv-only file (fast to parse): header, tables, the first conv bodies.
  const Bytes convs = test::read_bytes(test::real_kmodel_path("sdkdemo_face_mask_detect_5.kmodel"));
  for (std::size_t byte = 0; byte < 2000; ++byte) {
    Bytes b = convs;
    b[byte] ^= std::uint8_t(1u << (byte % 8));
    run(b);
  }
  EXPECT_GT(rejected, 0u);
  EXPECT_GT(accepted, 0u);  // flips in float weights / padding keep the file valid
}

}  // namespace
}  // namespace emc::format
