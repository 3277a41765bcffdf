#include "emc/format/layer_types.h"

#include <array>

namespace emc::format {
namespace {

constexpr std::array kAllTypes = {
#define EMC_LAYER_TYPE(name, value, printable, ...) LayerType::name,
#include "emc/format/layer_types.def"
#undef EMC_LAYER_TYPE
};

}  // namespace

std::span<const LayerType> all_layer_types() {
  return kAllTypes;
}

std::string_view to_string(LayerType type) {
  switch (type) {
#define EMC_LAYER_TYPE(name, value, printable, ...) \
  case LayerType::name:                             \
    return printable;
#include "emc/format/layer_types.def"
#undef EMC_LAYER_TYPE
  }
  return "UNKNOWN";
}

std::optional<LayerType> layer_type_from_value(std::uint32_t value) {
  for (LayerType t : kAllTypes) {
    if (static_cast<std::uint32_t>(t) == value) return t;
  }
  return std::nullopt;
}

}  // namespace emc::format
