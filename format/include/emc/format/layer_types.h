// kmodel V3 layer types, generated from layer_types.def (the single list, explicit values).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace emc::format {

enum class LayerType : std::uint32_t {
#define EMC_LAYER_TYPE(name, value, printable, ...) name = value,
#include "emc/format/layer_types.def"
#undef EMC_LAYER_TYPE
};

// Every type in the .def, in file order (kInvalid first).
std::span<const LayerType> all_layer_types();

// "K210_CONV"; "UNKNOWN" for a value not in the list.
std::string_view to_string(LayerType type);

// The LayerType for a raw value from a file, or nullopt when the value is not in the list.
std::optional<LayerType> layer_type_from_value(std::uint32_t value);

// Types executed by the KPU (K210_CONV) or touching KPU RAM (ADD_PADDING, REMOVE_PADDING, UPLOAD).
constexpr bool is_k210_type(LayerType type) {
  return static_cast<std::uint32_t>(type) >= 10240;
}

}  // namespace emc::format
