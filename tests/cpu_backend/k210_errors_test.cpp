// Every bad K210 layer is a clear emc::Error from the cpu backend's prepare() (naming the layer,
// the backend, the field and the bound), and a run() on memories smaller than prepared fails
// instead of reading or writing out of range.
#include <gtest/gtest.h>

#include <string>

#include "cpu_backend/cpu_test_util.h"
#include "cpu_backend/k210_test_util.h"

namespace emc::cpu_backend::testing {
namespace {

format::Layer conv_with(const format::KpuLayerFields& f, std::size_t weights = 16,
                        std::size_t bn = 4) {
  return spec_conv_layer(f, std::vector<std::uint8_t>(weights, 1),
                         std::vector<format::KpuBatchNorm>(bn, format::KpuBatchNorm{1, 0, 0}),
                         identity_activation(), true, 0);
}

// A valid 4x4, 4 -> 4 channel 1x1 conv at rows 0 -> 100.
format::KpuLayerFields good_fields() {
  return spec_conv_fields(4, 4, 4, 4, 1, 0, 0, 100);
}

// prepare() error text, or "" if it succeeded.
std::string prepare_error(const format::Layer& layer, Errc want, std::size_t main_bytes = 64,
                          bool eight_bit = true) {
  K210Fixture fx(layer, main_bytes, eight_bit);
  auto r = fx.prepare();
  if (r.ok()) return "";
  EXPECT_EQ(r.error().code(), want) << r.error().to_string();
  return r.error().to_string();
}

#define EXPECT_HAS(text, part) EXPECT_NE((text).find(part), std::string::npos) << (text)

TEST(K210Errors, ValidLayerPrepares) {
  EXPECT_EQ(prepare_error(conv_with(good_fields()), Errc::kInvalidModel), "");
}

TEST(K210Errors, InputMapBeyondKpuRam) {
  format::KpuLayerFields f = good_fields();
  f.image_src_addr = 32767;  // last row; the 4x4 map needs 4 rows
  const std::string e = prepare_error(conv_with(f), Errc::kKpuOutOfMemory);
  EXPECT_HAS(e, "layer 7 (K210_CONV) [cpu]");
  EXPECT_HAS(e, "image_src_addr row 32767");
  EXPECT_HAS(e, "2097152 bytes");
}

TEST(K210Errors, OutputMapBeyondKpuRam) {
  format::KpuLayerFields f = good_fields();
  f.image_dst_addr = 32766;
  EXPECT_HAS(prepare_error(conv_with(f), Errc::kKpuOutOfMemory), "image_dst_addr row 32766");
}

TEST(K210Errors, DmaOutputBeyondMainMemory) {
  // 4x4x4 = 64 output bytes at main_mem_out_address 0 need 64 bytes; give 63.
  const std::string e = prepare_error(conv_with(good_fields()), Errc::kInvalidModel, 63);
  EXPECT_HAS(e, "main_mem_out_address 0 + 64 output bytes");
  EXPECT_HAS(e, "63 bytes");
}

TEST(K210Errors, BadRegisterFields) {
  {
    format::KpuLayerFields f = good_fields();
    f.kernel_type = 2;
    EXPECT_HAS(prepare_error(conv_with(f), Errc::kInvalidModel), "kernel_type 2");
  }
  {
    format::KpuLayerFields f = good_fields();
    f.pool_type = 10;
    EXPECT_HAS(prepare_error(conv_with(f), Errc::kInvalidModel), "pool_type 10");
  }
  {
    format::KpuLayerFields f = good_fields();
    f.coef_group = 3;
    EXPECT_HAS(prepare_error(conv_with(f), Errc::kInvalidModel), "input map: group register 3");
  }
  {
    format::KpuLayerFields f = good_fields();
    f.wb_group = 0;
    EXPECT_HAS(prepare_error(conv_with(f), Errc::kInvalidModel), "output map: group register 0");
  }
  {
    // Width 20 with 4 channels per row: a line needs 20 bytes, a slot has 16.
    format::KpuLayerFields f = spec_conv_fields(20, 4, 1, 1, 1, 0, 0, 100);
    f.coef_group = 4;
    EXPECT_HAS(prepare_error(conv_with(f, 1, 1), Errc::kInvalidModel),
               "lines of 20 pixels do not fit the 16 bytes");
  }
  {
    format::KpuLayerFields f = good_fields();
    f.o_row_wid = 1;  // pool 0 keeps 4 columns, the register says 2
    EXPECT_HAS(prepare_error(conv_with(f), Errc::kInvalidModel),
               "output size 2x4 (o_row_wid, o_col_high) does not match pool_type 0");
  }
  {
    format::KpuLayerFields f = good_fields();
    f.depth_wise_layer = 1;
    f.o_ch_num = 1;  // 4 in, 2 out
    EXPECT_HAS(prepare_error(conv_with(f), Errc::kInvalidModel), "depthwise layer with 4 input");
  }
}

TEST(K210Errors, ShortBlobs) {
  // 4 x 4 x 1x1 = 16 weights: 15 bytes (8-bit) or 31 bytes (16-bit) are short; 3 BN words too.
  EXPECT_HAS(prepare_error(conv_with(good_fields(), 15), Errc::kInvalidModel),
             "weights blob has 15 bytes");
  EXPECT_HAS(prepare_error(conv_with(good_fields(), 31), Errc::kInvalidModel, 64, false),
             "need 32 (16-bit weights)");
  EXPECT_HAS(prepare_error(conv_with(good_fields(), 16, 3), Errc::kInvalidModel),
             "batch-norm table has 3 entries");
}

TEST(K210Errors, CopyLayersOutOfRange) {
  {
    format::UploadBody b{0, 0, 32767, 64, 2, 1};  // 2 rows from row 32767
    format::Layer l;
    l.type = format::LayerType::kK210Upload;
    l.body = b;
    EXPECT_HAS(prepare_error(l, Errc::kKpuOutOfMemory, 128), "kpu_mem_out_address row 32767");
    EXPECT_HAS(prepare_error(l, Errc::kInvalidModel, 127), "main_mem_in_address");
  }
  {
    format::UploadBody b{0, 0, 0, 0, 2, 1};  // width 0
    format::Layer l;
    l.type = format::LayerType::kK210Upload;
    l.body = b;
    EXPECT_HAS(prepare_error(l, Errc::kInvalidModel), "width is 0");
  }
  {
    format::AddPaddingBody b{0, 0, 32767, 5};  // channel 4 is at byte 256 of the map
    format::Layer l;
    l.type = format::LayerType::kK210AddPadding;
    l.body = b;
    EXPECT_HAS(prepare_error(l, Errc::kKpuOutOfMemory), "kpu_mem_out_address row 32767");
  }
  {
    format::RemovePaddingBody b{0, 0, 60, 3};  // reads bytes 0..32, writes 60..62
    format::Layer l;
    l.type = format::LayerType::kK210RemovePadding;
    l.body = b;
    EXPECT_EQ(prepare_error(l, Errc::kInvalidModel, 63), "");
    EXPECT_HAS(prepare_error(l, Errc::kInvalidModel, 62), "main_mem_out_address");
    format::RemovePaddingBody c{0, 30, 0, 3};  // input reaches byte 62
    l.body = c;
    EXPECT_HAS(prepare_error(l, Errc::kInvalidModel, 62), "main_mem_in_address");
  }
}

TEST(K210Errors, RunOnSmallerMemoriesThanPreparedFails) {
  K210Fixture fx(conv_with(good_fields()), 64);
  auto p = fx.prepare();
  ASSERT_TRUE(p.ok()) << p.error().to_string();
  std::vector<std::uint8_t> small_kpu(100 * 64), main(64);
  interpreter::ExecContext ctx{interpreter::MemoryRegion("main", main),
                               interpreter::MemoryRegion("kpu", small_kpu)};
  const Status st = (*p)->run(ctx);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), Errc::kKernelFailed);
  std::vector<std::uint8_t> kpu(kKpuBytes), small_main(32);
  interpreter::ExecContext ctx2{interpreter::MemoryRegion("main", small_main),
                                interpreter::MemoryRegion("kpu", kpu)};
  const Status st2 = (*p)->run(ctx2);
  ASSERT_FALSE(st2.ok());
  EXPECT_EQ(st2.error().code(), Errc::kKernelFailed);
}

}  // namespace
}  // namespace emc::cpu_backend::testing
