// Interpreter: loads a kmodel V3, binds every layer to a registered backend once, then runs.
//
//   emc::interpreter::Registry registry;
//   emc::accel_sim::register_kpu_sim_backend(registry);
//   emc::cpu_backend::register_cpu_backend(registry);
//   auto interp = emc::interpreter::Interpreter::load_file("model.kmodel", registry);
//   if (!interp.ok()) { print(interp.error().to_string()); return 1; }
//   interp->set_input(0, bytes);   // uint8 CHW for a KPU-first model, float32 for an FC-first one
//   EMC_TRY(interp->run());
//   std::span<const float> out = interp->output(0);
//
// The Registry must outlive the Interpreter (the plan points at its backends). The Interpreter
// owns the decoded model, main memory (main_mem_usage bytes) and KPU RAM (2 MiB when the model
// has a K210 layer, else none: kpu_ram_bytes in backend.h), both zeroed at load. Not thread-safe;
// one run() at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "emc/format/error.h"
#include "emc/format/kmodel_v3.h"
#include "emc/interpreter/backend.h"
#include "emc/interpreter/registry.h"

namespace emc::interpreter {

// Which backend runs which layer. Default: each layer goes to the first backend in registry
// order whose supports() is true. Overrides name a backend for a layer index or a layer type;
// an index override beats a type override. Naming a backend that does not exist, or that does not
// support the layer, is a load error.
struct DispatchPolicy {
  std::vector<std::string> order;                    // empty: registry order
  std::map<std::size_t, std::string> by_index;       // layer index -> backend name
  std::map<format::LayerType, std::string> by_type;  // layer type -> backend name
};

enum class ElementType { kUint8, kFloat32 };

struct TensorInfo {
  ElementType type = ElementType::kUint8;
  std::vector<std::uint32_t>
      shape;  // input: {C, H, W} for uint8 CHW, {N} for float; output: best known
  std::size_t bytes = 0;
};

// Delivered to the observer after each layer runs.
struct LayerEvent {
  std::size_t index = 0;
  format::LayerType type = format::LayerType::kInvalid;
  std::string_view backend;
  std::chrono::nanoseconds host_time{0};
  std::uint64_t simulated_cycles = 0;
  std::span<const std::uint8_t> output;  // main-memory bytes the layer wrote (may be empty)
};
using LayerObserver = std::function<void(const LayerEvent&)>;

// A load-time finding that is suspicious but not fatal (robustness.md §2.1 item 15), e.g. a layer
// reading main memory that neither the model input nor an earlier layer wrote (it reads zeros).
struct Diagnostic {
  std::size_t layer = 0;
  format::LayerType type = format::LayerType::kInvalid;
  std::string message;
  // "layer 4 (DEQUANTIZE): reads main memory [0x100, 0x180) that nothing wrote before it"
  std::string to_string() const;
};

// One row of the execution plan, for tools (emc-run --profile, emc-inspect).
struct PlanEntry {
  std::size_t index = 0;
  format::LayerType type = format::LayerType::kInvalid;
  std::string backend;
  bool overridden = false;
  std::uint64_t simulated_cycles = 0;
};

class Interpreter {
 public:
  static Result<std::unique_ptr<Interpreter>> load(std::span<const std::uint8_t> kmodel,
                                                   const Registry& registry,
                                                   const DispatchPolicy& policy = {});
  static Result<std::unique_ptr<Interpreter>> load_file(const std::string& path,
                                                        const Registry& registry,
                                                        const DispatchPolicy& policy = {});
  // Takes an already decoded model (the converter's output before encoding, or a parsed file).
  static Result<std::unique_ptr<Interpreter>> load_model(format::Kmodel model,
                                                         const Registry& registry,
                                                         const DispatchPolicy& policy = {});

  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  const format::Kmodel& model() const;
  const std::vector<PlanEntry>& plan() const;
  // Load-time warnings (never errors: those fail the load). Empty for a clean model.
  const std::vector<Diagnostic>& diagnostics() const;

  std::size_t input_count() const;  // always 1 for V3
  TensorInfo input_info(std::size_t index) const;
  // Copies `bytes` (exactly input_info(index).bytes) into place: for a first K210_CONV into KPU
  // RAM at its image_src_addr in the row layout, for a first FULLY_CONNECTED into main memory.
  // The input is kept and placed again at the start of every run() (as the SDK's kpu_run_kmodel
  // does), because later layers may reuse those bytes. Until set, the input is all zeros.
  Status set_input(std::size_t index, std::span<const std::uint8_t> bytes);

  std::size_t output_count() const;
  TensorInfo output_info(std::size_t index) const;
  // The output bytes in main memory (valid until the next run()).
  std::span<const std::uint8_t> output_bytes(std::size_t index) const;
  // The output as float32 values (V3 outputs are float32 after a final dequantize).
  std::vector<float> output(std::size_t index) const;

  void set_observer(LayerObserver observer);

  // Runs every layer in order. An error names the layer index, type and backend.
  Status run();

  // Sum of simulated_cycles over the plan.
  std::uint64_t total_simulated_cycles() const;

  MemoryRegion main_memory() const;
  MemoryRegion kpu_memory() const;

 private:
  Interpreter();
  Status place_input();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace emc::interpreter
