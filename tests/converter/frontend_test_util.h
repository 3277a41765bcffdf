// Helpers shared by the converter front-end tests (import_*, graph_*, exec_*, passes_*).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "emc/converter/float_executor.h"
#include "emc/converter/model_json.h"

namespace emc::converter::testing {

inline std::string source_dir() {
  return EMC_SOURCE_DIR;
}

inline std::vector<float> read_f32(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<float> out(bytes.size() / 4);
  if (!out.empty()) std::memcpy(out.data(), bytes.data(), out.size() * 4);
  return out;
}

inline std::vector<std::uint8_t> f32_bytes(const std::vector<float>& v) {
  std::vector<std::uint8_t> b(v.size() * 4);
  if (!v.empty()) std::memcpy(b.data(), v.data(), b.size());
  return b;
}

inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return 1e30;
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    m = std::max(m, static_cast<double>(std::abs(a[i] - b[i])));
  return m;
}

// Loads model.json text + named shards from memory and builds the graph (asserting success is
// the caller's job).
inline Result<Graph> graph_from_memory(
    const std::string& json, std::map<std::string, std::vector<std::uint8_t>> shards = {}) {
  auto m = load_tfjs_model_from_memory(json, make_memory_shard_reader(std::move(shards)));
  if (!m.ok()) return m.error();
  return build_graph(*m);
}

}  // namespace emc::converter::testing
