// KPU register golden tests. Every expected 64-bit word is computed by hand from the field table
// in kmodel_v3.md §4 (bit 0 = LSB); the arithmetic is written next to each value.
#include <gtest/gtest.h>

#include "emc/format/kmodel_codec.h"
#include "emc/format/kpu_regs.h"
#include "format_test_util.h"

namespace emc::format {
namespace {

KpuLayerFields golden_fields() {
  KpuLayerFields f;
  f.depth_wise_layer = 1;
  f.image_src_addr = 0x1234;
  f.image_dst_addr = 0x7ff0;
  f.i_ch_num = 31;  // 32 channels
  f.o_ch_num = 63;  // 64 channels
  f.o_ch_num_coef = 15;
  f.i_row_wid = 319;   // 320 wide
  f.i_col_high = 239;  // 240 high
  f.o_row_wid = 159;
  f.o_col_high = 119;
  f.kernel_type = 1;  // 3x3
  f.pool_type = 5;
  f.load_para = 1;
  f.dma_burst_size = 15;
  f.pad_value = 0x80;
  f.load_coor = 1;
  f.load_time = 2;
  f.para_size = 36672;
  f.channel_switch_addr = 1200;  // row_len 5 * H 240
  f.row_switch_addr = 5;
  f.coef_group = 1;
  f.load_act = 1;
  f.wb_channel_switch_addr = 360;  // row_len 3 * H 120
  f.wb_row_switch_addr = 3;
  f.wb_group = 1;
  f.shr_w = 3;
  f.shr_x = 15;
  f.arg_w = -5;
  f.arg_x = -1000;
  f.arg_add = -123456;
  f.send_data_out = 1;
  f.channel_byte_num = 19199;  // 160*120 - 1
  f.dma_total_byte = 1228799;  // 160*120*64 - 1
  return f;
}

const KpuLayerWords kGoldenWords = {
    // word0: depth_wise_layer bit 3 -> 1<<3
    0x0000000000000008ull,
    // word1: image_src_addr 0x1234 | image_dst_addr 0x7ff0 << 32
    0x00007ff000001234ull,
    // word2: 31 | 63<<32 | 15<<48
    0x000f003f0000001full,
    // word3: (w-1) | (h-1)<<10 | (ow-1)<<32 | (oh-1)<<42
    //      = 0x13f | 0xef<<10 (=0x3bc00) | 0x9f<<32 | 0x77<<42 (=0x1dc0000000000)
    0x0001dc9f0003bd3full,
    // word4: kernel_type 1 | pool_type 5<<4 | load_para 1<<10 | burst 15<<16 | pad_value 0x80<<24
    //      = 0x1 + 0x50 + 0x400 + 0xf0000 + 0x80000000
    0x00000000800f0451ull,
    // word5: load_coor 1 | load_time 2<<1 | para_size 36672<<15 (0x8f40*0x8000 = 0x47a00000)
    0x0000000047a00005ull,
    // word6: coef offsets 0
    0x0000000000000000ull,
    // word7: channel_switch 1200 (0x4b0) | row_switch 5<<16 | coef_group 1<<28 | load_act 1<<31
    0x00000000900504b0ull,
    // word8: wb_channel_switch 360 (0x168) | wb_row_switch 3<<16 | wb_group 1<<20
    0x0000000000130168ull,
    // word9: shr_w 3 | shr_x 15<<4 | arg_w (2^24-5 = 0xfffffb)<<8 | arg_x (2^24-1000 =
    // 0xfffc18)<<32
    0x00fffc18fffffbf3ull,
    // word10: arg_add 40-bit two's complement: 2^40 - 123456 (0x1e240) = 0xfffffe1dc0
    0x000000fffffe1dc0ull,
    // word11: send_data_out 1 | channel_byte_num 19199 (0x4aff)<<16 | dma_total 1228799
    // (0x12bfff)<<32
    0x0012bfff4aff0001ull,
};

TEST(KpuLayerRegs, PackMatchesHandComputedWords) {
  const KpuLayerWords w = pack_kpu_layer(golden_fields());
  for (std::size_t i = 0; i < w.size(); ++i) {
    EXPECT_EQ(w[i], kGoldenWords[i]) << "word " << i;
  }
}

TEST(KpuLayerRegs, UnpackSignExtendsNegativeArguments) {
  const KpuLayerFields f = unpack_kpu_layer(kGoldenWords);
  EXPECT_EQ(f, golden_fields());
  EXPECT_EQ(f.arg_w, -5);
  EXPECT_EQ(f.arg_x, -1000);
  EXPECT_EQ(f.arg_add, -123456);
  EXPECT_EQ(f.in_width(), 320);
  EXPECT_EQ(f.out_height(), 120);
  EXPECT_EQ(f.kernel_size(), 3);
}

TEST(KpuLayerRegs, MaixEmcReservedBitsOfWord10AreIgnored) {
  // Maix-EMC ORs a 64-bit negative arg_add into word 10 (kmodel_v3.md §4 notes): bits 40..63 = 1.
  KpuLayerWords w = kGoldenWords;
  w[10] = 0xfffffffffffe1dc0ull;  // -123456 as a 64-bit value
  EXPECT_EQ(unpack_kpu_layer(w).arg_add, -123456);
}

TEST(KpuLayerRegs, FieldFits) {
  const auto specs = kpu_field_specs();
  auto find = [&](std::string_view n) {
    for (const auto& s : specs)
      if (s.name == n) return s;
    return specs[0];
  };
  EXPECT_TRUE(kpu_field_fits(find("arg_x"), -(1 << 23)));
  EXPECT_FALSE(kpu_field_fits(find("arg_x"), -(1 << 23) - 1));
  EXPECT_TRUE(kpu_field_fits(find("arg_x"), (1 << 23) - 1));
  EXPECT_FALSE(kpu_field_fits(find("arg_x"), 1 << 23));
  EXPECT_TRUE(kpu_field_fits(find("i_row_wid"), 1023));
  EXPECT_FALSE(kpu_field_fits(find("i_row_wid"), 1024));
  EXPECT_FALSE(kpu_field_fits(find("i_row_wid"), -1));
}

TEST(KpuBatchNormWord, HandComputed) {
  // mul -3 -> 24-bit 0xfffffd; add -1000 -> 32-bit 0xfffffc18 << 24; shift 15 << 56
  // = 0x0000000000fffffd + 0x00fffffc18000000 + 0x0f00000000000000
  const KpuBatchNorm neg{-3, -1000, 15};
  EXPECT_EQ(pack_kpu_batchnorm(neg), 0x0ffffffc18fffffdull);
  EXPECT_EQ(unpack_kpu_batchnorm(0x0ffffffc18fffffdull), neg);
  // mul 0x123456, add 0x7fffffff << 24, shift 0
  const KpuBatchNorm pos{0x123456, 0x7fffffff, 0};
  EXPECT_EQ(pack_kpu_batchnorm(pos), 0x007fffffff123456ull);
  EXPECT_EQ(unpack_kpu_batchnorm(0x007fffffff123456ull), pos);
}

TEST(KpuActivationWords, HandComputed) {
  KpuActivationTable t{};
  // Segment 0: x_start = -2^35 (36-bit 0x800000000) -> 0x800000000 << 24 = 2^59
  t[0] = {-(std::int64_t{1} << 35), 0, 0, 0x11};
  // Segment 1: x_start -1000 (36-bit 0xffffffc18) << 24 | y_mul 102 << 8 | shift 20
  //          = 0x0ffffffc18000000 + 0x6600 + 0x14
  t[1] = {-1000, 102, 20, 0x22};
  // Segment 2: y_mul -2 (16-bit 0xfffe) << 8 | shift 8 = 0xfffe08
  t[2] = {0, -2, 8, 0};
  // Segment 3: x_start 0x7fffffff0 << 24 = 0x07fffffff0000000 (nncase's saturated start)
  t[3] = {0x7fffffff0, 0, 0, 0};
  t[7].result_bias = 0x88;
  t[8].result_bias = 0x99;
  t[15].result_bias = 0xff;
  const KpuActivationWords w = pack_kpu_activation(t);
  EXPECT_EQ(w[0], 0x0800000000000000ull);
  EXPECT_EQ(w[1], 0x0ffffffc18006614ull);
  EXPECT_EQ(w[2], 0x0000000000fffe08ull);
  EXPECT_EQ(w[3], 0x07fffffff0000000ull);
  // Word 16: bias bytes of segments 0..7 (byte i = segment i): 0x11, 0x22, ..., 0x88 at byte 7.
  EXPECT_EQ(w[16], 0x8800000000002211ull);
  // Word 17: segments 8..15: 0x99 at byte 0, 0xff at byte 7.
  EXPECT_EQ(w[17], 0xff00000000000099ull);
  EXPECT_EQ(unpack_kpu_activation(w), t);
}

// Decoding known words from a real file: maixemc_cifar10.kmodel layer 0 is a 3x3 conv on the
// 32x32x3 input with 32 output channels, DMA'd to main memory (SOURCES.md; kmodel_v3.md §1.6:
// layer_offset 0x88, weights 0x100, bn 0x480, act 0x580).
TEST(KpuLayerRegs, DecodesMaixEmcCifar10Layer0) {
  const auto bytes = test::read_bytes(test::real_kmodel_path("maixemc_cifar10.kmodel"));
  ASSERT_GT(bytes.size(), 0x100u);
  // Raw word 3 at 0x88 + 3*8: i_row_wid (bits 0..9) = 31, i_col_high (10..18) = 31.
  const std::uint64_t w3 = test::get_u64(bytes, 0x88 + 3 * 8);
  EXPECT_EQ(w3 & 0x3ff, 31u);
  EXPECT_EQ((w3 >> 10) & 0x1ff, 31u);
  auto m = parse_kmodel(bytes);
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  const auto& conv = std::get<ConvBody>(m->layers[0].body);
  EXPECT_EQ(conv.layer_offset, 0x88u);
  EXPECT_EQ(conv.weights_offset, 0x100u);
  EXPECT_EQ(conv.bn_offset, 0x480u);
  EXPECT_EQ(conv.act_offset, 0x580u);
  EXPECT_TRUE(conv.main_mem_out());
  const KpuLayerFields f = conv.fields();
  EXPECT_EQ(f.in_width(), 32);
  EXPECT_EQ(f.in_height(), 32);
  EXPECT_EQ(f.in_channels(), 3);
  EXPECT_EQ(f.out_channels(), 32);
  EXPECT_EQ(f.kernel_type, 1);  // 3x3
  EXPECT_EQ(f.depth_wise_layer, 0);
  EXPECT_EQ(f.pool_type, 0);  // the 3x3/2 max pool runs on the CPU (layer 1)
  EXPECT_EQ(f.out_width(), 32);
  EXPECT_EQ(f.out_height(), 32);
  EXPECT_EQ(f.coef_group, 2);  // W = 32 -> 2 channels per row (§5.2)
  EXPECT_EQ(f.channel_switch_addr, 32);
  EXPECT_EQ(f.send_data_out, 1);  // Maix-EMC writes 1 iff output to main memory
  EXPECT_EQ(f.dma_total_byte + 1, 32 * 32 * 32);
  EXPECT_EQ(f.load_para, 1);
  EXPECT_EQ(f.load_coor, 1);
  EXPECT_EQ(f.dma_burst_size, 15);
  // 3*3*3*32 = 864 weight bytes, 32 BN words, segment 0 of the table starts at -2^35.
  EXPECT_EQ(conv.weights.size(), 864u);
  EXPECT_EQ(conv.bn_words.size(), 32u);
  EXPECT_EQ(unpack_kpu_activation(conv.act_words)[0].x_start, -(std::int64_t{1} << 35));
}

// nncase v0.1 LeakyReLU tables: segments 1 and 2 share x_start, y_mul 102, shift 20 (SOURCES.md).
TEST(KpuActivationWords, DecodesNncaseLeakyTable) {
  auto m = load_kmodel_file(test::real_kmodel_path("nncase01_yolo20.kmodel"));
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  const auto t = unpack_kpu_activation(std::get<ConvBody>(m->layers[0].body).act_words);
  EXPECT_EQ(t[1].x_start, t[2].x_start);
  EXPECT_EQ(t[1].y_mul, 102);
  EXPECT_EQ(t[1].shift_number, 20u);
}

}  // namespace
}  // namespace emc::format
