// kpu_layout: expected values computed by hand from kmodel_v3.md §5.2:
//   W <= 16: groups 4, row_len 1, pitch 16; 16 < W <= 32: 2, 1, 32; W > 32: 1, ceil(W/64), 64.
//   map bytes = ceil(C / min(C, groups)) * row_len * H * 64.
#include <gtest/gtest.h>

#include <vector>

#include "emc/format/kpu_layout.h"

namespace emc::format {
namespace {

struct LayoutCase {
  std::uint32_t width, groups, row_len, pitch;
};

class KpuRowLayoutTest : public ::testing::TestWithParam<LayoutCase> {};

TEST_P(KpuRowLayoutTest, MatchesSpecTable) {
  const LayoutCase c = GetParam();
  const KpuRowLayout l = kpu_row_layout(c.width);
  EXPECT_EQ(l.groups, c.groups);
  EXPECT_EQ(l.row_len, c.row_len);
  EXPECT_EQ(l.row_pitch, c.pitch);
}

INSTANTIATE_TEST_SUITE_P(Widths, KpuRowLayoutTest,
                         ::testing::Values(LayoutCase{1, 4, 1, 16},     // W <= 16
                                           LayoutCase{16, 4, 1, 16},    // boundary: still 4 per row
                                           LayoutCase{17, 2, 1, 32},    // 16 < W <= 32
                                           LayoutCase{32, 2, 1, 32},    // boundary
                                           LayoutCase{33, 1, 1, 64},    // ceil(33/64) = 1
                                           LayoutCase{64, 1, 1, 64},    // ceil(64/64) = 1
                                           LayoutCase{65, 1, 2, 64},    // ceil(65/64) = 2
                                           LayoutCase{130, 1, 3, 64}),  // ceil(130/64) = 3
                         [](const ::testing::TestParamInfo<LayoutCase>& p) {
                           return "W" + std::to_string(p.param.width);
                         });

TEST(KpuMapBytes, HandComputed) {
  // W=1,H=2,C=5: groups 4 -> ceil(5/4)=2 row groups * 1 * 2 * 64 = 256
  EXPECT_EQ(kpu_map_bytes(1, 2, 5), 256u);
  // W=16,H=4,C=2: min(C,groups)=2 -> ceil(2/2)=1 * 1 * 4 * 64 = 256
  EXPECT_EQ(kpu_map_bytes(16, 4, 2), 256u);
  // W=17,H=3,C=3: groups 2 -> ceil(3/2)=2 * 1 * 3 * 64 = 384
  EXPECT_EQ(kpu_map_bytes(17, 3, 3), 384u);
  // W=32,H=32,C=32: 16 * 1 * 32 * 64 = 32768
  EXPECT_EQ(kpu_map_bytes(32, 32, 32), 32768u);
  // W=33,H=1,C=1: 1 * 1 * 1 * 64 = 64
  EXPECT_EQ(kpu_map_bytes(33, 1, 1), 64u);
  // W=64,H=2,C=3: dense CHW = 64*2*3 = 384
  EXPECT_EQ(kpu_map_bytes(64, 2, 3), 384u);
  // W=65,H=2,C=3: 3 * 2 * 2 * 64 = 768
  EXPECT_EQ(kpu_map_bytes(65, 2, 3), 768u);
  // W=130,H=2,C=3: 3 * 3 * 2 * 64 = 1152
  EXPECT_EQ(kpu_map_bytes(130, 2, 3), 1152u);
  EXPECT_EQ(kpu_map_rows(130, 2, 3), 18u);
  // 4x4 maps of ADD_PADDING, C=10: ceil(10/4)=3 * 1 * 4 * 64 = 768
  EXPECT_EQ(kpu_map_bytes(4, 4, 10), 768u);
  // mbnetv1 layer 0 (Maix-EMC ping-pong, kmodel_v3.md §5.4): output 112x112x24 ->
  // 24 * 2 * 112 * 64 = 344064, dst row = (2097152 - 344064) / 64 = 27392.
  EXPECT_EQ(kpu_map_bytes(112, 112, 24), 344064u);
  EXPECT_EQ(kpu_map_bytes(0, 2, 3), 0u);
  EXPECT_EQ(kpu_map_bytes(3, 2, 0), 0u);
}

TEST(KpuPixelOffset, HandComputed) {
  // W=17, H=3: groups 2, pitch 32. (c=1,y=2,x=5) = 0*1*3*64 + 1*32 + 2*64 + 5 = 165
  EXPECT_EQ(kpu_pixel_offset(kpu_row_layout(17), 3, 1, 2, 5), 165u);
  // (c=2,y=0,x=0) = 1*1*3*64 = 192
  EXPECT_EQ(kpu_pixel_offset(kpu_row_layout(17), 3, 2, 0, 0), 192u);
  // W=65, H=2: row_len 2. (c=1,y=1,x=64) = 1*2*2*64 + 1*2*64 + 64 = 448
  EXPECT_EQ(kpu_pixel_offset(kpu_row_layout(65), 2, 1, 1, 64), 448u);
  // W=1, H=4: groups 4, pitch 16. (c=3,y=3,x=0) = 3*16 + 3*64 = 240
  EXPECT_EQ(kpu_pixel_offset(kpu_row_layout(1), 4, 3, 3, 0), 240u);
}

TEST(KpuUpload, PlacesPixelsByHandAndLeavesRowTailsUntouched) {
  const std::uint32_t w = 17, h = 2, c = 3;
  std::vector<std::uint8_t> chw(w * h * c);
  for (std::uint32_t ci = 0; ci < c; ++ci)
    for (std::uint32_t y = 0; y < h; ++y)
      for (std::uint32_t x = 0; x < w; ++x)
        chw[(ci * h + y) * w + x] = std::uint8_t(ci * 100 + y * 20 + x);
  std::vector<std::uint8_t> ram(4096, 0xEE);
  ASSERT_TRUE(kpu_upload(chw, w, h, c, ram, 2).ok());
  const std::size_t base = 2 * 64;
  // (c=0,y=0,x=0) at 0; (c=1,y=0,x=3) at 32+3 = 35 -> 103; (c=0,y=1,x=16) at 64+16 = 80 -> 36;
  // (c=2,y=1,x=4) at 1*1*2*64 + 0 + 64 + 4 = 196 -> 224.
  EXPECT_EQ(ram[base + 0], 0);
  EXPECT_EQ(ram[base + 35], 103);
  EXPECT_EQ(ram[base + 80], 36);
  EXPECT_EQ(ram[base + 196], 224);
  // Bytes 17..31 of channel 0's first row and 49..63 (channel 1) are not written.
  for (std::size_t x = 17; x < 32; ++x) EXPECT_EQ(ram[base + x], 0xEE) << x;
  for (std::size_t x = 49; x < 64; ++x) EXPECT_EQ(ram[base + x], 0xEE) << x;
  // Nothing before the start row is touched.
  for (std::size_t i = 0; i < base; ++i) ASSERT_EQ(ram[i], 0xEE);
  // Download inverts upload.
  std::vector<std::uint8_t> back(w * h * c, 0);
  ASSERT_TRUE(kpu_download(ram, 2, w, h, c, back).ok());
  EXPECT_EQ(back, chw);
}

TEST(KpuUpload, WideMapEqualsDenseChwWhenWidthIsMultipleOf64) {
  const std::uint32_t w = 64, h = 3, c = 2;
  std::vector<std::uint8_t> chw(w * h * c);
  for (std::size_t i = 0; i < chw.size(); ++i) chw[i] = std::uint8_t(i * 7);
  std::vector<std::uint8_t> ram(w * h * c, 0);
  ASSERT_TRUE(kpu_upload(chw, w, h, c, ram, 0).ok());
  EXPECT_EQ(ram, chw);  // §5.2: "When W % 64 == 0 the layout equals dense CHW."
}

TEST(KpuUpload, RejectsMapsThatDoNotFitAndShortInputs) {
  std::vector<std::uint8_t> ram(kKpuRamBytes, 0);
  std::vector<std::uint8_t> chw(64 * 64 * 4, 1);
  // 64x64x4 = 16384 bytes = 256 rows; starting at row 32768-255 it overflows by one row.
  auto st = kpu_upload(chw, 64, 64, 4, ram, kKpuRamRows - 255);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), Errc::kKpuOutOfMemory);
  EXPECT_TRUE(kpu_upload(chw, 64, 64, 4, ram, kKpuRamRows - 256).ok());
  std::vector<std::uint8_t> short_chw(10);
  EXPECT_FALSE(kpu_upload(short_chw, 4, 4, 1, ram, 0).ok());
  EXPECT_FALSE(kpu_download(ram, 0, 4, 4, 1, short_chw).ok());
  EXPECT_FALSE(kpu_download(ram, kKpuRamRows, 4, 4, 1, chw).ok());
}

}  // namespace
}  // namespace emc::format
