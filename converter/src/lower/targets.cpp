// The target registry (target.h): the targets of targets.def, looked up by name.
#include <array>

#include "lower/targets.h"

namespace emc::converter {

namespace {
#define EMC_TARGET(var) &detail::var,
constexpr std::array kTargets = {
#include "lower/targets.def"
};
#undef EMC_TARGET
}  // namespace

std::span<const Target* const> targets() {
  return kTargets;
}

const Target* find_target(std::string_view name) {
  for (const Target* t : kTargets)
    if (t->name == name) return t;
  return nullptr;
}

std::vector<std::string> target_name_list() {
  std::vector<std::string> names;
  for (const Target* t : kTargets) names.emplace_back(t->name);
  return names;
}

std::string target_names(std::string_view separator) {
  std::string out;
  for (const Target* t : kTargets)
    out += (out.empty() ? "" : std::string(separator)) + std::string(t->name);
  return out;
}

}  // namespace emc::converter
