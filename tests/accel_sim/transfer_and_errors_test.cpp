// K210_UPLOAD / ADD_PADDING / REMOVE_PADDING by hand (§5.3), and address errors: every range
// problem is an emc::Error from prepare() or run(), never an out-of-bounds access.
#include <gtest/gtest.h>

#include <vector>

#include "emc/interpreter/backend.h"
#include "sim_harness.h"

namespace emc::test {
namespace {

format::Kmodel model_of(format::LayerType type, format::LayerBody body, std::uint32_t main_bytes) {
  format::Layer l;
  l.type = type;
  l.body = std::move(body);
  return one_layer_model(std::move(l), main_bytes);
}

TEST(Transfer, UploadWritesRowLayoutOnly) {
  // W=5 (<= 16: 4 channels per row at 16-byte pitch), H=2, C=5, to KPU row 10:
  // (c, y, x) -> 640 + (c/4)*2*64 + (c%4)*16 + y*64 + x. Channel 4 starts at 640 + 128.
  format::UploadBody b;
  b.main_mem_in_address = 3;
  b.kpu_mem_out_address = 10;
  b.width = 5;
  b.height = 2;
  b.channels = 5;
  auto model = model_of(format::LayerType::kK210Upload, b, 64);
  std::vector<std::uint8_t> kpu(kKpuRamBytes, 0xEE), main(64, 0);
  for (std::size_t i = 0; i < 50; ++i) main[3 + i] = static_cast<std::uint8_t>(i + 1);
  ASSERT_TRUE(run_one(model, kpu, main).ok());
  EXPECT_EQ(kpu[640 + 0], 1);              // c0 y0 x0
  EXPECT_EQ(kpu[640 + 4], 5);              // c0 y0 x4
  EXPECT_EQ(kpu[640 + 5], 0xEE);           // beyond W: untouched
  EXPECT_EQ(kpu[640 + 64 + 0], 6);         // c0 y1
  EXPECT_EQ(kpu[640 + 16 + 0], 11);        // c1 y0
  EXPECT_EQ(kpu[640 + 48 + 64 + 4], 40);   // c3 y1 x4
  EXPECT_EQ(kpu[640 + 128 + 0], 41);       // c4 y0 (second channel group)
  EXPECT_EQ(kpu[640 + 128 + 64 + 4], 50);  // c4 y1 x4
  EXPECT_EQ(kpu[640 + 128 + 16], 0xEE);    // no channel 5
}

TEST(Transfer, AddPaddingWritesPixelZeroOfA4x4Map) {
  // Value c goes to row*64 + (c/4)*256 + (c%4)*16; the other 15 pixels stay as they were.
  format::AddPaddingBody b;
  b.main_mem_in_address = 2;
  b.kpu_mem_out_address = 7;
  b.channels = 6;
  auto model = model_of(format::LayerType::kK210AddPadding, b, 16);
  std::vector<std::uint8_t> kpu(kKpuRamBytes, 0xEE), main = {0, 0, 11, 12, 13, 14, 15, 16};
  main.resize(16);
  ASSERT_TRUE(run_one(model, kpu, main).ok());
  const std::size_t base = 7 * 64;
  EXPECT_EQ(kpu[base + 0], 11);
  EXPECT_EQ(kpu[base + 16], 12);
  EXPECT_EQ(kpu[base + 32], 13);
  EXPECT_EQ(kpu[base + 48], 14);
  EXPECT_EQ(kpu[base + 256], 15);
  EXPECT_EQ(kpu[base + 272], 16);
  EXPECT_EQ(kpu[base + 1], 0xEE);
  EXPECT_EQ(kpu[base + 64], 0xEE);
  EXPECT_EQ(kpu[base + 288], 0xEE);
}

TEST(Transfer, RemovePaddingTakesEverySixteenthByte) {
  format::RemovePaddingBody b;
  b.main_mem_in_address = 0;
  b.main_mem_out_address = 100;
  b.channels = 3;
  auto model = model_of(format::LayerType::kK210RemovePadding, b, 128);
  std::vector<std::uint8_t> kpu(kKpuRamBytes, 0), main(128, 0);
  for (std::size_t i = 0; i < 48; ++i) main[i] = static_cast<std::uint8_t>(i);
  ASSERT_TRUE(run_one(model, kpu, main).ok());
  EXPECT_EQ(main[100], 0);
  EXPECT_EQ(main[101], 16);
  EXPECT_EQ(main[102], 32);
  EXPECT_EQ(main[103], 0);
}

format::Kmodel small_conv(std::uint32_t src_row, std::uint32_t dst_row, bool main_out,
                          std::uint32_t main_addr, std::uint32_t main_bytes) {
  auto f = conv_fields(16, 4, 2, 3, 3, 0, src_row, dst_row);
  return one_layer_model(conv_layer(f, std::vector<std::uint8_t>(2 * 3 * 9, 1),
                                    std::vector<format::KpuBatchNorm>(3, {1, 0, 0}),
                                    simple_act(0, 1, 0, 0), main_out, main_addr),
                         main_bytes);
}

TEST(Errors, ConvOutputBeyondKpuRam) {
  // 16x4x3 output = 1 channel group x 4 rows: row 32766 + 4 rows > 32768.
  auto model = small_conv(0, 32766, false, 0, 64);
  const Status st = prepare_one(model, 64, kKpuRamBytes);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), Errc::kKpuOutOfMemory);
  EXPECT_NE(st.error().message().find("image_dst_addr row 32766"), std::string::npos)
      << st.error().message();
}

TEST(Errors, ConvInputBeyondKpuRam) {
  auto model = small_conv(32767, 0, false, 0, 64);
  const Status st = prepare_one(model, 64, kKpuRamBytes);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("input map"), std::string::npos) << st.error().message();
}

TEST(Errors, ConvDmaBeyondMainMemory) {
  // 16*4*3 = 192 output bytes at main offset 100 of a 200-byte main memory.
  auto model = small_conv(0, 100, true, 100, 200);
  const Status st = prepare_one(model, 200, kKpuRamBytes);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("main memory"), std::string::npos) << st.error().message();
}

TEST(Errors, RunWithSmallerMemoriesFailsCleanly) {
  // Prepared against full-size memories, run against smaller ones: run() returns an Error.
  auto model = small_conv(0, 30000, true, 0, 256);
  auto backend = accel_sim::make_kpu_sim_backend();
  interpreter::LayerInfo info;
  info.layer = &model.layers[0];
  info.model = &model;
  info.main_mem_bytes = 256;
  info.kpu_mem_bytes = kKpuRamBytes;
  auto prepared = backend->prepare(info);
  ASSERT_TRUE(prepared.ok()) << prepared.error().to_string();
  std::vector<std::uint8_t> kpu(1024 * 1024, 0), main(256, 0);
  interpreter::ExecContext ctx{interpreter::MemoryRegion("main", main),
                               interpreter::MemoryRegion("kpu", kpu)};
  const Status st = (*prepared)->run(ctx);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), Errc::kKernelFailed);
  std::vector<std::uint8_t> kpu2(kKpuRamBytes, 0), main2(100, 0);
  interpreter::ExecContext ctx2{interpreter::MemoryRegion("main", main2),
                                interpreter::MemoryRegion("kpu", kpu2)};
  EXPECT_FALSE((*prepared)->run(ctx2).ok());
}

TEST(Errors, InvalidRegisterValues) {
  auto base = small_conv(0, 100, false, 0, 64);
  auto with = [&](auto edit) {
    auto m = base;
    auto& body = std::get<format::ConvBody>(m.layers[0].body);
    auto f = body.fields();
    edit(f, body);
    body.layer_words = format::pack_kpu_layer(f);
    return prepare_one(m, 64, kKpuRamBytes);
  };
  EXPECT_FALSE(with([](auto& f, auto&) { f.coef_group = 3; }).ok());
  EXPECT_FALSE(with([](auto& f, auto&) { f.wb_group = 0; }).ok());
  EXPECT_FALSE(with([](auto& f, auto&) { f.pool_type = 10; }).ok());
  EXPECT_FALSE(with([](auto& f, auto&) { f.kernel_type = 2; }).ok());
  EXPECT_FALSE(with([](auto& f, auto&) { f.o_row_wid = 7; }).ok());  // 8 != pool 0 of 16
  EXPECT_FALSE(with([](auto& f, auto&) {
                 f.row_switch_addr = 0;
                 f.coef_group = 1;
               }).ok());
  EXPECT_FALSE(with([](auto&, auto& b) { b.weights.resize(10); }).ok());
  EXPECT_FALSE(with([](auto&, auto& b) { b.bn_words.resize(2); }).ok());
  EXPECT_FALSE(with([](auto& f, auto&) { f.depth_wise_layer = 1; }).ok());  // 2 in != 3 out
  EXPECT_TRUE(with([](auto&, auto&) {}).ok());
}

TEST(Errors, TransferLayersOutOfRange) {
  format::UploadBody up;
  up.main_mem_in_address = 0;
  up.kpu_mem_out_address = 32767;
  up.width = 64;
  up.height = 2;
  up.channels = 1;  // 2 rows from row 32767: beyond 2 MiB
  EXPECT_FALSE(
      prepare_one(model_of(format::LayerType::kK210Upload, up, 128), 128, kKpuRamBytes).ok());
  up.kpu_mem_out_address = 0;
  EXPECT_FALSE(
      prepare_one(model_of(format::LayerType::kK210Upload, up, 127), 127, kKpuRamBytes).ok());
  EXPECT_TRUE(
      prepare_one(model_of(format::LayerType::kK210Upload, up, 128), 128, kKpuRamBytes).ok());

  format::AddPaddingBody ap;
  ap.main_mem_in_address = 10;
  ap.kpu_mem_out_address = 0;
  ap.channels = 8;
  EXPECT_FALSE(
      prepare_one(model_of(format::LayerType::kK210AddPadding, ap, 17), 17, kKpuRamBytes).ok());
  ap.kpu_mem_out_address = 32767;  // channel 4 lands 256 bytes further: beyond
  EXPECT_FALSE(
      prepare_one(model_of(format::LayerType::kK210AddPadding, ap, 18), 18, kKpuRamBytes).ok());

  format::RemovePaddingBody rp;
  rp.main_mem_in_address = 0;
  rp.main_mem_out_address = 60;
  rp.channels = 5;  // reads byte 64
  EXPECT_FALSE(
      prepare_one(model_of(format::LayerType::kK210RemovePadding, rp, 64), 64, kKpuRamBytes).ok());
  EXPECT_TRUE(
      prepare_one(model_of(format::LayerType::kK210RemovePadding, rp, 65), 65, kKpuRamBytes).ok());
}

}  // namespace
}  // namespace emc::test
