#include "image_input.h"

#include <filesystem>
#include <memory>

#include <stb_image.h>
#include <stb_image_resize.h>

namespace emc::tools {

Result<Image> load_image(const std::string& path, int channels) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return Error(Errc::kIo, "cannot read image: no such file").in_file(path);
  }
  if (channels != 1 && channels != 3) {
    return Error(Errc::kInvalidArgument,
                 "images can be decoded to 1 or 3 channels, not " + std::to_string(channels))
        .in_file(path);
  }
  int w = 0, h = 0, file_channels = 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> data(
      stbi_load(path.c_str(), &w, &h, &file_channels, channels), stbi_image_free);
  if (!data) {
    const char* why = stbi_failure_reason();
    return Error(Errc::kInvalidArgument, std::string("cannot decode image: ") +
                                             (why ? why : "unknown format") +
                                             " (PNG, BMP, PPM/PGM, JPEG, TGA, GIF are supported)")
        .in_file(path);
  }
  Image img;
  img.width = w;
  img.height = h;
  img.channels = channels;
  img.pixels.assign(data.get(), data.get() + std::size_t(w) * h * channels);
  return img;
}

Result<Image> resize_image(const Image& image, int width, int height) {
  if (image.width == width && image.height == height) return image;
  Image out;
  out.width = width;
  out.height = height;
  out.channels = image.channels;
  out.pixels.resize(std::size_t(width) * height * image.channels);
  if (!stbir_resize_uint8(image.pixels.data(), image.width, image.height, 0, out.pixels.data(),
                          width, height, 0, image.channels)) {
    return Error(Errc::kInternal, "stb_image_resize failed for " + std::to_string(image.width) +
                                      "x" + std::to_string(image.height) + " -> " +
                                      std::to_string(width) + "x" + std::to_string(height));
  }
  return out;
}

std::vector<std::uint8_t> to_chw(const Image& image) {
  const std::size_t plane = std::size_t(image.width) * image.height;
  std::vector<std::uint8_t> chw(plane * image.channels);
  for (std::size_t i = 0; i < plane; ++i) {
    for (int c = 0; c < image.channels; ++c)
      chw[c * plane + i] = image.pixels[i * image.channels + c];
  }
  return chw;
}

Result<std::vector<std::uint8_t>> image_to_model_input(const std::string& path, int channels,
                                                       int width, int height, std::string* note) {
  auto img = load_image(path, channels);
  if (!img.ok()) return std::move(img).error();
  if (note) note->clear();
  if (img->width != width || img->height != height) {
    if (note) {
      *note = "image is " + std::to_string(img->width) + "x" + std::to_string(img->height) +
              ", the model takes " + std::to_string(width) + "x" + std::to_string(height) +
              ": resized (aspect ratio not preserved)";
    }
    auto resized = resize_image(*img, width, height);
    if (!resized.ok()) return std::move(resized).error().in_file(path);
    return to_chw(*resized);
  }
  return to_chw(*img);
}

}  // namespace emc::tools
