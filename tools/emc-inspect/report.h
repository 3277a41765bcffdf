// emc-inspect renderers: human-readable text and JSON for scripts.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "emc/format/kmodel_v3.h"

namespace emc::inspect {

// The whole report (header, outputs, layer table, main-memory map, KPU-RAM map) as JSON.
nlohmann::ordered_json model_json(const format::Kmodel& model, const std::string& path,
                                  std::uint64_t file_size);

// The same content as aligned text.
void print_model_text(std::ostream& out, const nlohmann::ordered_json& report);

// One layer's full detail (layer_detail()) as text.
void print_layer_text(std::ostream& out, const nlohmann::ordered_json& detail);

}  // namespace emc::inspect
