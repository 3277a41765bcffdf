// The class table build_graph() looks layers up in, from keras_classes.def.
#include <algorithm>
#include <string_view>

#include "emc/converter/model_json.h"
#include "layer_context.h"

namespace emc::converter {
namespace detail {
namespace {

enum class Dialect { kKeras, kTensorLayer };

struct ClassEntry {
  std::string_view class_name;
  Importer importer;
  Dialect dialect;
};

constexpr ClassEntry kClasses[] = {
#define EMC_KERAS_CLASS(class_name, importer, dialect) {class_name, importer, Dialect::dialect},
#include "keras_classes.def"
};

}  // namespace

Importer find_importer(const std::string& class_name) {
  for (const auto& e : kClasses)
    if (e.class_name == class_name) return e.importer;
  return nullptr;
}

bool is_tensorlayer_class(const std::string& class_name) {
  for (const auto& e : kClasses)
    if (e.class_name == class_name) return e.dialect == Dialect::kTensorLayer;
  return false;
}

}  // namespace detail

std::vector<std::string> supported_layer_classes() {
  std::vector<std::string> out{"InputLayer"};
  for (const auto& e : detail::kClasses) out.emplace_back(e.class_name);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace emc::converter
