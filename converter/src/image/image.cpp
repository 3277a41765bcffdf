// stb_image / stb_image_resize wrappers. The stb implementations live in libstb.so (emc_stb):
// only the declarations are included here.
#include "emc/converter/image.h"

#include <stb_image.h>
#include <stb_image_resize.h>

#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>

#include "emc/format/file_io.h"

namespace emc::converter {
namespace {

constexpr std::uint64_t kMaxImageFileBytes = 256ull << 20;

// stbi_info gives up on a PNG whose size it will not decode and reports "unknown image type";
// read the dimensions from the IHDR chunk so the message says what is wrong.
bool png_dimensions(const std::uint8_t* data, std::size_t size, std::int64_t* w, std::int64_t* h) {
  static const std::uint8_t kSig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (size < 24 || std::memcmp(data, kSig, 8) != 0 || std::memcmp(data + 12, "IHDR", 4) != 0)
    return false;
  auto be32 = [&](std::size_t at) {
    return (std::int64_t{data[at]} << 24) | (std::int64_t{data[at + 1]} << 16) |
           (std::int64_t{data[at + 2]} << 8) | std::int64_t{data[at + 3]};
  };
  *w = be32(16);
  *h = be32(20);
  return true;
}

Result<Image> decode(const std::uint8_t* data, std::size_t size, int channels,
                     std::int64_t max_pixels, const std::string& what) {
  if (channels != 1 && channels != 3)
    return Error(Errc::kInvalidArgument,
                 "images can be read as 1 or 3 channels, not " + std::to_string(channels));
  if (size == 0 || size > static_cast<std::size_t>(INT_MAX))
    return Error(Errc::kInvalidArgument, what + ": empty or too large image file");
  int w = 0, h = 0, n = 0;
  std::int64_t pw = 0, ph = 0;
  if (!stbi_info_from_memory(data, static_cast<int>(size), &w, &h, &n) &&
      png_dimensions(data, size, &pw, &ph) && (pw <= 0 || ph <= 0 || pw * ph > max_pixels)) {
    return Error(Errc::kInvalidArgument, what + ": PNG image is " + std::to_string(pw) + "x" +
                                             std::to_string(ph) + ", more than " +
                                             std::to_string(max_pixels) + " pixels");
  }
  if (!stbi_info_from_memory(data, static_cast<int>(size), &w, &h, &n))
    return Error(Errc::kInvalidArgument, what + ": not a decodable image (" +
                                             stbi_failure_reason() +
                                             "); supported: PNG, BMP, PPM/PGM, JPEG, TGA, GIF");
  if (w <= 0 || h <= 0 || static_cast<std::int64_t>(w) * h > max_pixels)
    return Error(Errc::kInvalidArgument, what + ": image is " + std::to_string(w) + "x" +
                                             std::to_string(h) + ", more than " +
                                             std::to_string(max_pixels) + " pixels");
  std::unique_ptr<stbi_uc, void (*)(void*)> px(
      stbi_load_from_memory(data, static_cast<int>(size), &w, &h, &n, channels), stbi_image_free);
  if (!px)
    return Error(Errc::kInvalidArgument,
                 what + ": cannot decode image (" + stbi_failure_reason() + ")");
  Image img;
  img.width = w;
  img.height = h;
  img.channels = channels;
  img.pixels.assign(px.get(), px.get() + static_cast<std::size_t>(w) * h * channels);
  return img;
}

}  // namespace

Result<Image> decode_image(std::span<const std::uint8_t> bytes, int channels,
                           std::int64_t max_pixels) {
  return decode(bytes.data(), bytes.size(), channels, max_pixels, "<memory>");
}

Result<Image> load_image(const std::string& path, int channels, std::int64_t max_pixels) {
  auto bytes = format::read_file_bounded(path, kMaxImageFileBytes, "image");
  if (!bytes.ok()) return std::move(bytes).error();
  auto r = decode(bytes->data(), bytes->size(), channels, max_pixels, path);
  if (!r.ok()) return r.error();
  return r;
}

Result<Image> resize_image(const Image& image, int width, int height) {
  if (width <= 0 || height <= 0 || width > (1 << 15) || height > (1 << 15))
    return Error(Errc::kInvalidArgument,
                 "bad resize target " + std::to_string(width) + "x" + std::to_string(height));
  if (image.width == width && image.height == height) return image;
  Image out;
  out.width = width;
  out.height = height;
  out.channels = image.channels;
  out.pixels.resize(static_cast<std::size_t>(width) * height * image.channels);
  if (!stbir_resize_uint8(image.pixels.data(), image.width, image.height, 0, out.pixels.data(),
                          width, height, 0, image.channels))
    return Error(Errc::kInternal, "stb_image_resize failed");
  return out;
}

PixelMapping pixel_mapping(const Preprocess& pre, int channels, int c) {
  switch (pre.scale) {
    case PixelScale::kZeroOne:
      return {0.0, 255.0};
    case PixelScale::kMinusOneOne:
      return {127.5, 127.5};
    case PixelScale::kRaw:
      return {0.0, 1.0};
    case PixelScale::kMeanStd: {
      const std::size_t j = channels == 3 && c >= 0 && c < 3 ? static_cast<std::size_t>(c) : 0;
      return {pre.mean[j], pre.std[j]};
    }
  }
  return {};
}

std::string to_string(const Preprocess& pre) {
  switch (pre.scale) {
    case PixelScale::kZeroOne:
      return "0,1";
    case PixelScale::kMinusOneOne:
      return "-1,1";
    case PixelScale::kRaw:
      return "0,255";
    case PixelScale::kMeanStd:
      break;
  }
  auto list = [](const std::array<float, 3>& v) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "%g,%g,%g", double(v[0]), double(v[1]), double(v[2]));
    return std::string(buf);
  };
  return "mean=" + list(pre.mean) + ":std=" + list(pre.std);
}

Result<Tensor> image_to_tensor(const Image& image, const Shape& shape, const Preprocess& pre) {
  if (shape.rank() != 3 || (shape.c() != 1 && shape.c() != 3))
    return Error(Errc::kInvalidArgument,
                 "image inputs need a [H, W, 1] or [H, W, 3] model input, "
                 "this model takes " +
                     to_string(shape));
  if (image.channels != shape.c())
    return Error(Errc::kInvalidArgument, "the image has " + std::to_string(image.channels) +
                                             " channel(s), the model input " +
                                             std::to_string(shape.c()));
  for (float s : pre.std)
    if (pre.scale == PixelScale::kMeanStd && !(s > 0.0f))
      return Error(Errc::kInvalidArgument, "preprocessing std must be > 0");
  auto resized = resize_image(image, shape.w(), shape.h());
  if (!resized.ok()) return resized.error();
  const int c = shape.c();
  Tensor t;
  t.shape = shape;
  t.data.resize(static_cast<std::size_t>(shape.num_elements()));
  for (std::size_t p = 0; p < t.data.size() / static_cast<std::size_t>(c); ++p) {
    for (int ch = 0; ch < c; ++ch) {
      const int src = (c == 3 && pre.order == ChannelOrder::kBgr) ? 2 - ch : ch;
      const double v =
          resized->pixels[p * static_cast<std::size_t>(c) + static_cast<std::size_t>(src)];
      double x = v;
      switch (pre.scale) {
        case PixelScale::kZeroOne:
          x = v / 255.0;
          break;
        case PixelScale::kMinusOneOne:
          x = v / 127.5 - 1.0;
          break;
        case PixelScale::kRaw:
          break;
        case PixelScale::kMeanStd:
          x = (v - pre.mean[ch]) / pre.std[ch];
          break;
      }
      t.data[p * static_cast<std::size_t>(c) + static_cast<std::size_t>(ch)] =
          static_cast<float>(x);
    }
  }
  return t;
}

Result<Tensor> load_image_tensor(const std::string& path, const Shape& shape,
                                 const Preprocess& pre) {
  if (shape.rank() != 3)
    return Error(Errc::kInvalidArgument,
                 "image inputs need a rank-3 model input, got " + to_string(shape));
  auto img = load_image(path, shape.c() == 1 ? 1 : 3);
  if (!img.ok()) return img.error();
  auto t = image_to_tensor(*img, shape, pre);
  if (!t.ok()) {
    Error e = t.error();
    return std::move(e).in_file(path);
  }
  return t;
}

}  // namespace emc::converter
