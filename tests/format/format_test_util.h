// Helpers shared by the format tests: the real kmodels in ../shared/kmodels and small builders.
#pragma once

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace emc::format::test {

inline const std::vector<std::string>& real_kmodel_names() {
  static const std::vector<std::string> names = {"maixemc_cifar10.kmodel",
                                                 "maixemc_cifar10_output.kmodel",
                                                 "maixemc_mbnetv1_a075.kmodel",
                                                 "nncase01_iris.kmodel",
                                                 "nncase01_yolo20.kmodel",
                                                 "maixpy_facedetect.kmodel",
                                                 "maixpy_mnist.kmodel",
                                                 "maixpy_mask_detect.kmodel",
                                                 "sdkdemo_face_mask_detect_5.kmodel"};
  return names;
}

inline std::string real_kmodel_path(const std::string& name) {
  return std::string(EMC_SHARED_DIR) + "/kmodels/" + name;
}

inline std::vector<std::uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), {});
}

inline std::uint32_t get_u32(const std::vector<std::uint8_t>& b, std::size_t at) {
  return std::uint32_t{b.at(at)} | std::uint32_t{b.at(at + 1)} << 8 |
         std::uint32_t{b.at(at + 2)} << 16 | std::uint32_t{b.at(at + 3)} << 24;
}
inline void put_u32(std::vector<std::uint8_t>& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b.at(at + i) = static_cast<std::uint8_t>(v >> (8 * i));
}
inline void put_u64(std::vector<std::uint8_t>& b, std::size_t at, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) b.at(at + i) = static_cast<std::uint8_t>(v >> (8 * i));
}
inline std::uint64_t get_u64(const std::vector<std::uint8_t>& b, std::size_t at) {
  return std::uint64_t{get_u32(b, at)} | std::uint64_t{get_u32(b, at + 4)} << 32;
}

}  // namespace emc::format::test
