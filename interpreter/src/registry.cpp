#include "emc/interpreter/registry.h"

#include <string>

namespace emc::interpreter {

Status Registry::add(std::unique_ptr<Backend> backend) {
  if (!backend) return Error(Errc::kInvalidArgument, "cannot register a null backend");
  const std::string_view name = backend->name();
  if (name.empty())
    return Error(Errc::kInvalidArgument, "cannot register a backend with an empty name");
  if (find(name) != nullptr) {
    return Error(Errc::kInvalidArgument, "a backend named '" + std::string(name) +
                                             "' is already registered; registered: " + names());
  }
  backends_.push_back(std::move(backend));
  return ok_status();
}

Backend* Registry::find(std::string_view name) const {
  for (const auto& b : backends_) {
    if (b->name() == name) return b.get();
  }
  return nullptr;
}

std::string Registry::names() const {
  if (backends_.empty()) return "(none)";
  std::string out;
  for (const auto& b : backends_) {
    if (!out.empty()) out += ", ";
    out += b->name();
  }
  return out;
}

}  // namespace emc::interpreter
