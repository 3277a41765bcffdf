#include "inputs.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <system_error>

namespace emc::compare {
namespace fs = std::filesystem;

Result<converter::Preprocess> preprocess_from_range(double min, double max) {
  if (!std::isfinite(min) || !std::isfinite(max) || !(min < max)) {
    return Error(Errc::kInvalidArgument, "--input-range needs finite MIN < MAX");
  }
  converter::Preprocess pre;
  if (min == 0.0 && max == 1.0) {
    pre.scale = converter::PixelScale::kZeroOne;
  } else if (min == -1.0 && max == 1.0) {
    pre.scale = converter::PixelScale::kMinusOneOne;
  } else if (min == 0.0 && max == 255.0) {
    pre.scale = converter::PixelScale::kRaw;
  } else {
    // x = min + p * (max - min) / 255 = (p - mean) / std with std = 255 / (max - min),
    // mean = -min * std.
    pre.scale = converter::PixelScale::kMeanStd;
    const double sd = 255.0 / (max - min);
    pre.std = {float(sd), float(sd), float(sd)};
    const float mean = float(-min * sd);
    pre.mean = {mean, mean, mean};
  }
  return pre;
}

std::pair<double, double> preprocess_range(const converter::Preprocess& pre) {
  switch (pre.scale) {
    case converter::PixelScale::kZeroOne:
      return {0.0, 1.0};
    case converter::PixelScale::kMinusOneOne:
      return {-1.0, 1.0};
    case converter::PixelScale::kRaw:
      return {0.0, 255.0};
    case converter::PixelScale::kMeanStd:
      break;
  }
  double lo = 0, hi = 0;
  for (int c = 0; c < 3; ++c) {
    const double a = (0.0 - pre.mean[c]) / pre.std[c], b = (255.0 - pre.mean[c]) / pre.std[c];
    lo = c ? std::min(lo, a) : a;
    hi = c ? std::max(hi, b) : b;
  }
  return {lo, hi};
}

std::string describe(const converter::Preprocess& pre) {
  std::string s;
  switch (pre.scale) {
    case converter::PixelScale::kZeroOne:
      s = "x = p / 255";
      break;
    case converter::PixelScale::kMinusOneOne:
      s = "x = p / 127.5 - 1";
      break;
    case converter::PixelScale::kRaw:
      s = "x = p";
      break;
    case converter::PixelScale::kMeanStd: {
      char buf[200];
      std::snprintf(buf, sizeof buf, "x = (p - mean) / std, mean (%g, %g, %g), std (%g, %g, %g)",
                    pre.mean[0], pre.mean[1], pre.mean[2], pre.std[0], pre.std[1], pre.std[2]);
      s = buf;
    }
  }
  const auto [lo, hi] = preprocess_range(pre);
  char buf[80];
  std::snprintf(buf, sizeof buf, ", range [%g, %g]", lo, hi);
  return s + buf + (pre.order == converter::ChannelOrder::kBgr ? ", BGR" : ", RGB");
}

Result<std::vector<float>> load_f32_tensor(const std::string& path, const InputGeometry& g) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return Error(Errc::kIo, "cannot open input tensor").in_file(path);
  const auto size = static_cast<std::uint64_t>(in.tellg());
  const std::uint64_t want = std::uint64_t(g.elements()) * 4;
  if (size != want) {
    return Error(Errc::kInvalidArgument,
                 "input tensor has " + std::to_string(size) + " bytes; the model input [" +
                     std::to_string(g.height) + ", " + std::to_string(g.width) + ", " +
                     std::to_string(g.channels) + "] float32 NHWC needs " + std::to_string(want))
        .in_file(path);
  }
  std::vector<float> out(g.elements());
  in.seekg(0);
  // float32 little-endian on disk, as on every host we build for (x86-64 / aarch64).
  if (!in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(want))) {
    return Error(Errc::kIo, "cannot read input tensor").in_file(path);
  }
  return out;
}

std::vector<AffineQuant> input_quant_from_preprocess(const converter::Preprocess& pre) {
  switch (pre.scale) {
    case converter::PixelScale::kZeroOne:
      return {{1.0 / 255.0, 0.0}};
    case converter::PixelScale::kMinusOneOne:
      return {{1.0 / 127.5, -1.0}};
    case converter::PixelScale::kRaw:
      return {{1.0, 0.0}};
    case converter::PixelScale::kMeanStd:
      break;
  }
  std::vector<AffineQuant> q;
  for (int c = 0; c < 3; ++c) {
    q.push_back({1.0 / double(pre.std[c]), -double(pre.mean[c]) / double(pre.std[c])});
  }
  return q;
}

Status check_fits_uint8_input(const std::vector<float>& nhwc, const InputGeometry& g,
                              const std::vector<AffineQuant>& quant) {
  const std::size_t channels = g.channels > 0 ? std::size_t(g.channels) : 1;
  for (std::size_t k = 0; k < nhwc.size(); ++k) {
    const std::size_t c = k % channels;
    const AffineQuant& aq = quant[c < quant.size() ? c : 0];
    const double q = (double(nhwc[k]) - aq.bias) / aq.scale;
    if (q >= -0.5 && q <= 255.5) continue;
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "value %g at index %zu (channel %zu) is outside [%g, %g], what the kmodel's "
                  "uint8 input pixels stand for",
                  double(nhwc[k]), k, c, aq.bias, aq.bias + 255.0 * aq.scale);
    return Error(Errc::kInvalidArgument,
                 std::string(buf) +
                     ": this tensor was not made with the kmodel's input range (its .map.json "
                     "input.preprocess); the kmodel would see it clipped");
  }
  return ok_status();
}

std::vector<std::uint8_t> quantize_to_chw(const std::vector<float>& nhwc, const InputGeometry& g,
                                          const std::vector<AffineQuant>& quant) {
  auto quantize = [&](double x, std::int32_t c) {
    const AffineQuant& aq = quant[std::size_t(c) < quant.size() ? std::size_t(c) : 0];
    const double q = std::round((x - aq.bias) / aq.scale);  // std::round: half away from zero
    return static_cast<std::uint8_t>(std::isnan(q) ? 0.0 : std::clamp(q, 0.0, 255.0));
  };
  std::vector<std::uint8_t> chw(g.elements());
  const std::size_t plane = std::size_t(g.height) * g.width;
  for (std::size_t p = 0; p < plane; ++p) {
    for (std::int32_t c = 0; c < g.channels; ++c) {
      chw[std::size_t(c) * plane + p] = quantize(nhwc[p * g.channels + std::size_t(c)], c);
    }
  }
  return chw;
}

namespace {

bool is_image_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  static const char* const kExt[] = {".png", ".jpg", ".jpeg", ".bmp", ".tga",
                                     ".gif", ".ppm", ".pgm",  ".pnm"};
  return std::any_of(std::begin(kExt), std::end(kExt), [&](const char* e) { return ext == e; });
}

std::optional<std::int64_t> parse_index(const std::string& s) {
  if (s.empty() || s.size() > 9) return std::nullopt;
  for (char ch : s) {
    if (!std::isdigit(static_cast<unsigned char>(ch))) return std::nullopt;
  }
  return std::stoll(s);
}

}  // namespace

Result<std::vector<InputItem>> list_dataset(const std::string& dir,
                                            const std::vector<std::string>& labels,
                                            std::string* warning, const ClassMap* class_map) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Error(Errc::kIo, "not a folder").in_file(dir);
  std::vector<InputItem> items;
  std::vector<fs::path> subdirs;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory(ec)) {
      subdirs.push_back(it->path());
    } else if (is_image_file(it->path())) {
      items.push_back({it->path().string(), false, -1, true});
    }
  }
  if (ec) return Error(Errc::kIo, "cannot list folder: " + ec.message()).in_file(dir);
  std::sort(subdirs.begin(), subdirs.end());
  std::vector<std::string> guessed;
  for (std::size_t s = 0; s < subdirs.size(); ++s) {
    const std::string name = subdirs[s].filename().string();
    std::int64_t label = static_cast<std::int64_t>(s);
    auto found = std::find(labels.begin(), labels.end(), name);
    if (class_map) {
      auto it = class_map->find(name);
      if (it == class_map->end()) {
        return Error(Errc::kInvalidArgument,
                     "dataset subfolder '" + name + "' is not in the class map")
            .in_file(subdirs[s]);
      }
      label = it->second;
    } else if (found != labels.end()) {
      label = found - labels.begin();
    } else if (auto idx = parse_index(name)) {
      label = *idx;
    } else {
      guessed.push_back(name + "=" + std::to_string(s));
    }
    for (fs::directory_iterator it(subdirs[s], ec), end; !ec && it != end; it.increment(ec)) {
      if (!it->is_directory(ec) && is_image_file(it->path())) {
        items.push_back({it->path().string(), false, label, true});
      }
    }
    if (ec) return Error(Errc::kIo, "cannot list folder: " + ec.message()).in_file(subdirs[s]);
  }
  std::sort(items.begin(), items.end(),
            [](const InputItem& a, const InputItem& b) { return a.path < b.path; });
  if (warning) {
    warning->clear();
    if (!guessed.empty()) {
      *warning = "dataset subfolders not found in the labels (" + std::to_string(guessed.size()) +
                 "), labelled by their sorted position: ";
      for (std::size_t i = 0; i < guessed.size() && i < 8; ++i)
        *warning += (i ? ", " : "") + guessed[i];
      if (guessed.size() > 8) *warning += ", ...";
    }
  }
  if (items.empty())
    return Error(Errc::kInvalidArgument, "no image files in the dataset").in_file(dir);
  return items;
}

Result<std::vector<std::string>> read_labels(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error(Errc::kIo, "cannot open labels file").in_file(path);
  std::vector<std::string> labels;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    std::size_t b = 0;
    while (b < line.size() && std::isspace(static_cast<unsigned char>(line[b]))) ++b;
    labels.push_back(line.substr(b));
  }
  // A trailing empty line is not a class.
  while (!labels.empty() && labels.back().empty()) labels.pop_back();
  return labels;
}

}  // namespace emc::compare
