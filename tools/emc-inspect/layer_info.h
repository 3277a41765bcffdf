// emc-inspect: a neutral description of a decoded kmodel (parameters, main-memory and KPU-RAM
// accesses per layer), rendered as text (text_report.cpp) or JSON (json_report.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "emc/format/kmodel_v3.h"

namespace emc::inspect {

// A byte range of main memory [begin, end) that a layer reads or writes.
struct MainAccess {
  std::size_t layer = 0;
  std::string what;  // field name, e.g. "main_mem_in_address"
  bool write = false;
  std::uint64_t begin = 0, end = 0;
};

// A row range of KPU RAM [row_begin, row_end) (64-byte rows).
struct KpuAccess {
  std::size_t layer = 0;
  std::string what;
  bool write = false;
  std::uint64_t row_begin = 0, row_end = 0;
};

struct LayerInfo {
  std::size_t index = 0;
  std::string type;
  std::uint64_t body_offset = 0;
  std::uint32_t body_size = 0;
  nlohmann::ordered_json params;  // key parameters (summary)
  std::vector<MainAccess> main;
  std::vector<KpuAccess> kpu;
};

// Printable KPU pool_type name (kmodel_v3.md §6.5): "bypass", "max_2_s2", ...
std::string kpu_pool_name(std::int64_t pool_type);

// Summary of layer `index` (needs the model for header flags).
LayerInfo describe_layer(const format::Kmodel& model, std::size_t index);

// Every field of one layer: all body fields; for K210_CONV all KPU register fields, the BN words
// per channel (raw + decoded) and the 16 activation segments.
nlohmann::ordered_json layer_detail(const format::Kmodel& model, std::size_t index);

// "0x1a4"
std::string hex(std::uint64_t v);

}  // namespace emc::inspect
