// Image loading / preprocessing against the tensors the TF.js sample generator wrote (pngjs
// decoding, its own /255 and /127.5-1 arithmetic), plus hand cases.
#include <gtest/gtest.h>

#include "emc/converter/image.h"
#include "frontend_test_util.h"

namespace emc::converter {
namespace {

using testing::read_f32;
namespace fs = std::filesystem;

TEST(Image, SamplePngMatchesTfjsInputTensorExactly) {
  const fs::path root = fs::path(testing::source_dir()) / "samples";
  struct Case {
    const char* image;
    const char* tensor;
    Shape shape;
    PixelScale scale;
  } cases[] = {
      {"images/chelsea_32.png",
       "models/functional_concat_add/inputs/chelsea.f32",
       {{32, 32, 3}},
       PixelScale::kZeroOne},
      {"images/astronaut_224.png",
       "models/mobilenet_v1_025/inputs/astronaut.f32",
       {{224, 224, 3}},
       PixelScale::kMinusOneOne},
  };
  int checked = 0;
  for (const auto& c : cases) {
    if (!fs::exists(root / c.image) || !fs::exists(root / c.tensor)) continue;
    Preprocess pre;
    pre.scale = c.scale;
    auto t = load_image_tensor((root / c.image).string(), c.shape, pre);
    ASSERT_TRUE(t.ok()) << t.error().to_string();
    EXPECT_EQ(t->data, read_f32((root / c.tensor).string())) << c.image;
    ++checked;
  }
  if (checked == 0) GTEST_FAIL() << "sample images not present";
}

TEST(Image, PreprocessingFormulasAndChannelOrder) {
  Image img{1, 1, 3, {0, 51, 255}};
  Preprocess pre;
  pre.scale = PixelScale::kZeroOne;
  EXPECT_EQ(image_to_tensor(img, {{1, 1, 3}}, pre)->data, (std::vector<float>{0, 0.2f, 1}));
  pre.scale = PixelScale::kMinusOneOne;
  EXPECT_EQ(image_to_tensor(img, {{1, 1, 3}}, pre)->data,
            (std::vector<float>{-1, static_cast<float>(51 / 127.5 - 1), 1}));
  pre.order = ChannelOrder::kBgr;
  pre.scale = PixelScale::kRaw;
  EXPECT_EQ(image_to_tensor(img, {{1, 1, 3}}, pre)->data, (std::vector<float>{255, 51, 0}));
  pre.order = ChannelOrder::kRgb;
  pre.scale = PixelScale::kMeanStd;
  pre.mean = {10, 1, 5};
  pre.std = {2, 50, 125};
  EXPECT_EQ(image_to_tensor(img, {{1, 1, 3}}, pre)->data, (std::vector<float>{-5, 1, 2}));
}

TEST(Image, DecodeResizeAndErrors) {
  // A 2x1 binary PPM: red, blue. Gray conversion uses (77 R + 150 G + 29 B) >> 8.
  const std::string ppm =
      std::string("P6\n2 1\n255\n") + std::string("\xff\x00\x00\x00\x00\xff", 6);
  std::vector<std::uint8_t> bytes(ppm.begin(), ppm.end());
  auto rgb = decode_image(bytes, 3);
  ASSERT_TRUE(rgb.ok()) << rgb.error().to_string();
  EXPECT_EQ(rgb->pixels, (std::vector<std::uint8_t>{255, 0, 0, 0, 0, 255}));
  auto gray = decode_image(bytes, 1);
  ASSERT_TRUE(gray.ok());
  EXPECT_EQ(gray->pixels, (std::vector<std::uint8_t>{(255 * 77) >> 8, (255 * 29) >> 8}));
  // Resizing a constant image keeps the constant.
  Image flat{4, 4, 1, std::vector<std::uint8_t>(16, 77)};
  auto small = resize_image(flat, 2, 3);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->pixels, std::vector<std::uint8_t>(6, 77));
  // Errors: not an image, wrong channel count for the model, too many pixels.
  std::vector<std::uint8_t> junk = {1, 2, 3, 4};
  EXPECT_EQ(decode_image(junk, 3).error().code(), Errc::kInvalidArgument);
  EXPECT_FALSE(image_to_tensor(*rgb, {{1, 2, 1}}, {}).ok());
  EXPECT_FALSE(image_to_tensor(*rgb, {{4}}, {}).ok());
  EXPECT_FALSE(decode_image(bytes, 3, 1).ok());
  EXPECT_EQ(load_image("/nonexistent.png", 3).error().code(), Errc::kIo);
}

}  // namespace
}  // namespace emc::converter
