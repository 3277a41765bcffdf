// Images -> model input tensors, shared by calibration, emc-run and emc-compare.
//
// Decoding uses stb_image (PNG, BMP, PPM/PGM, JPEG, TGA, GIF first frame, PSD composite, HDR is
// rejected) and resizing stb_image_resize (8-bit, linear colour space, stb's default filters:
// Catmull-Rom up, Mitchell down; the image is stretched to exactly H x W, no crop, no letterbox).
// The result is a per-sample NHWC float32 Tensor (float_executor.h).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "emc/converter/float_executor.h"
#include "emc/format/error.h"

namespace emc::converter {

// 8-bit interleaved pixels, row-major, `channels` (1 = gray, 3 = RGB) per pixel.
struct Image {
  int width = 0, height = 0, channels = 0;
  std::vector<std::uint8_t> pixels;  // width * height * channels bytes
};

// Decodes a file / an in-memory image into `channels` (1 or 3) channels. Colour images asked for
// 1 channel are converted with stb's luma (77 R + 150 G + 29 B) >> 8. Images larger than
// `max_pixels` are rejected before decoding (kInvalidArgument).
Result<Image> load_image(const std::string& path, int channels, std::int64_t max_pixels = 1 << 26);
Result<Image> decode_image(std::span<const std::uint8_t> bytes, int channels,
                           std::int64_t max_pixels = 1 << 26);

// Resizes to width x height (a copy when the size already matches).
Result<Image> resize_image(const Image& image, int width, int height);

enum class ChannelOrder { kRgb, kBgr };

enum class PixelScale {
  kZeroOne,      // x = p / 255                     (Keras "img_0_1")
  kMinusOneOne,  // x = p / 127.5 - 1               (MobileNet / Keras "tf" mode)
  kRaw,          // x = p                            (0..255)
  kMeanStd,      // x = (p - mean[c]) / std[c]       (p in 0..255; mean/std per model channel)
};

struct Preprocess {
  ChannelOrder order = ChannelOrder::kRgb;  // for 3-channel models
  PixelScale scale = PixelScale::kZeroOne;
  std::array<float, 3> mean{0.0f, 0.0f, 0.0f};  // kMeanStd, in model channel order
  std::array<float, 3> std{1.0f, 1.0f, 1.0f};   // kMeanStd, each > 0
};

// What a uint8 input pixel p of channel `c` (of `channels`) stands for: real = (p - mean) / std.
// kZeroOne: (0, 255); kMinusOneOne: (127.5, 127.5); kRaw: (0, 1); kMeanStd: pre.mean/std[c] (the
// first value for an input that does not have 3 channels).
struct PixelMapping {
  double mean = 0.0, std = 1.0;
};
PixelMapping pixel_mapping(const Preprocess& pre, int channels, int c);
// "0,1" / "-1,1" / "0,255" / "mean=...:std=..." as --input-range spells it.
std::string to_string(const Preprocess& pre);

// Converts `image` (resized to the shape's H x W when needed) into a tensor of `shape` [H, W, C]
// with C = 1 (gray) or 3 (RGB/BGR). Values are computed in double and rounded once to float.
Result<Tensor> image_to_tensor(const Image& image, const Shape& shape, const Preprocess& pre);

// load_image + image_to_tensor.
Result<Tensor> load_image_tensor(const std::string& path, const Shape& shape,
                                 const Preprocess& pre);

}  // namespace emc::converter
