// Loading from bytes or a file goes through the verifying parser, then load_model(). Kept apart
// from interpreter.cpp so programs that only build models in memory do not pull in the parser.
#include "emc/format/kmodel_codec.h"
#include "emc/interpreter/interpreter.h"

namespace emc::interpreter {

Result<std::unique_ptr<Interpreter>> Interpreter::load(std::span<const std::uint8_t> kmodel,
                                                       const Registry& registry,
                                                       const DispatchPolicy& policy) {
  auto model = format::parse_kmodel(kmodel);
  if (!model.ok()) return std::move(model).error();
  return load_model(std::move(model).value(), registry, policy);
}

Result<std::unique_ptr<Interpreter>> Interpreter::load_file(const std::string& path,
                                                            const Registry& registry,
                                                            const DispatchPolicy& policy) {
  auto model = no_throw("reading the kmodel", [&] { return format::load_kmodel_file(path); });
  if (!model.ok()) return std::move(model).error().in_file(path);
  auto interp = load_model(std::move(model).value(), registry, policy);
  if (!interp.ok() && interp.error().file().empty()) return std::move(interp).error().in_file(path);
  return interp;
}

}  // namespace emc::interpreter
