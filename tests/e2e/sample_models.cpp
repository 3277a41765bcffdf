#include "sample_models.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace emc::e2e {

namespace fs = std::filesystem;
using namespace converter;

const std::vector<SampleSpec>& sample_specs() {
  static const std::vector<SampleSpec> specs = {
      SampleSpec{"mobilenet_v1_025", PixelScale::kMinusOneOne, true, false},
      SampleSpec{"functional_concat_add", PixelScale::kZeroOne, true},
      SampleSpec{"tiny_dense", PixelScale::kRaw, true},
      SampleSpec{"shapes_cnn", PixelScale::kZeroOne, false},
      SampleSpec{"shapes_cnn_uint8", PixelScale::kZeroOne, false},
      // Keras Rescaling first: the inputs are raw pixel values (its reference.json).
      SampleSpec{"prelu_small", PixelScale::kRaw, true},
      // Two outputs (a softmax classifier and a conv map): the tests check output 0's top-1 and
      // the cpu target's byte-identity on every output.
      SampleSpec{"two_heads", PixelScale::kZeroOne, true}};
  return specs;
}

std::string model_dir(const char* name) {
  return std::string(EMC_SOURCE_DIR) + "/samples/models/" + name;
}

std::vector<Tensor> load_inputs(const std::string& dir, const Shape& shape) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir + "/inputs"))
    if (e.path().extension() == ".f32") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::vector<Tensor> out;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Tensor t;
    t.shape = shape;
    t.data.resize(raw.size() / 4);
    std::memcpy(t.data.data(), raw.data(), raw.size());
    EXPECT_EQ(static_cast<std::int64_t>(t.data.size()), shape.num_elements()) << f;
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<std::uint8_t> kmodel_input(const Tensor& t, const ConvertResult& r, PixelScale scale) {
  std::vector<std::uint8_t> out;
  if (!r.input_is_uint8) {
    out.resize(t.data.size() * 4);
    std::memcpy(out.data(), t.data.data(), out.size());
    return out;
  }
  const int H = t.shape.h(), W = t.shape.w(), C = t.shape.c();
  out.resize(t.data.size());
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      for (int c = 0; c < C; ++c) {
        const double v = t.data[(static_cast<std::size_t>(y) * W + x) * C + c];
        const double p = scale == PixelScale::kMinusOneOne ? (v + 1.0) * 127.5
                         : scale == PixelScale::kZeroOne   ? v * 255.0
                                                           : v;
        out[(static_cast<std::size_t>(c) * H + y) * W + x] =
            static_cast<std::uint8_t>(std::clamp(std::lround(p), 0l, 255l));
      }
  return out;
}

}  // namespace emc::e2e
