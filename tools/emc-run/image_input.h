// Image -> model input for emc-run: decode (PNG/BMP/PPM/JPEG/... via stb_image), resize to the
// model's input size (stb_image_resize), and lay out as uint8 CHW planes (R, G, B, or one gray
// plane). Kept small and local until converter/ grows a shared image module.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "emc/format/error.h"

namespace emc::tools {

// Interleaved 8-bit pixels (HWC), as decoded.
struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;  // 1 (gray) or 3 (RGB): what was asked of the decoder
  std::vector<std::uint8_t> pixels;
};

// Decodes `path` into `channels` (1 = luminance, 3 = RGB; alpha is dropped). kIo if the file
// cannot be read, kInvalidArgument if it is not a decodable image.
Result<Image> load_image(const std::string& path, int channels);

// Resizes (if needed) to width x height with stb_image_resize's default filter.
Result<Image> resize_image(const Image& image, int width, int height);

// HWC interleaved -> CHW planar (channel c's plane is contiguous).
std::vector<std::uint8_t> to_chw(const Image& image);

// The whole path for a KPU-first model: decode, resize to W x H, planar. `note` receives a
// human-readable line when the image had to be resized (empty otherwise).
Result<std::vector<std::uint8_t>> image_to_model_input(const std::string& path, int channels,
                                                       int width, int height, std::string* note);

}  // namespace emc::tools
