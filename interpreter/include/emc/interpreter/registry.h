// Registry: the set of backends an Interpreter may bind layers to, in priority order.
//
// Registration is explicit (register_kpu_sim_backend(registry), register_cpu_backend(registry),
// or add() for your own): there is no static self-registration. A duplicate name is an error.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "emc/format/error.h"
#include "emc/interpreter/backend.h"

namespace emc::interpreter {

class Registry {
 public:
  // Appends `backend` (lowest priority so far). kInvalidArgument if its name is taken or null.
  Status add(std::unique_ptr<Backend> backend);

  // nullptr if no backend has that name.
  Backend* find(std::string_view name) const;

  // Backends in registration (priority) order. The Registry keeps ownership.
  const std::vector<std::unique_ptr<Backend>>& backends() const { return backends_; }

  // "kpu-sim, cpu" — for error messages.
  std::string names() const;

 private:
  std::vector<std::unique_ptr<Backend>> backends_;
};

}  // namespace emc::interpreter
