// The Backend interface: how a kmodel layer is bound to code that runs it.
//
// Lifecycle (TFLite Micro's phases): at load the interpreter asks each registered backend, in
// policy order, whether it `supports()` a layer; the first that does is asked to `prepare()` it
// once, which validates everything it can (shapes, address ranges against the memory sizes) and
// returns a PreparedLayer holding whatever it precomputed. `run()` is then called once per
// inference with the live memories. A run() error names nothing itself: the interpreter adds the
// layer index, type and backend name.
//
// Ownership: the Registry owns Backends; the Interpreter owns the PreparedLayers; a PreparedLayer
// may keep a pointer to the Layer it was prepared from (the Interpreter keeps the decoded Kmodel
// alive and unmoved for its whole lifetime).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "emc/format/error.h"
#include "emc/format/kmodel_v3.h"

namespace emc::interpreter {

// A bounds-checked byte region (main memory or KPU RAM). Kernels reach memory only through
// `at()`, so an out-of-range address becomes an Error, never an out-of-bounds access.
class MemoryRegion {
 public:
  MemoryRegion() = default;
  MemoryRegion(std::string_view name, std::span<std::uint8_t> bytes) : name_(name), bytes_(bytes) {}

  std::string_view name() const { return name_; }
  std::size_t size() const { return bytes_.size(); }
  std::span<std::uint8_t> all() const { return bytes_; }

  // `size` bytes at `offset`; kKernelFailed naming the region, offset and size if out of range.
  Result<std::span<std::uint8_t>> at(std::uint64_t offset, std::uint64_t size) const;
  // True when [offset, offset + size) lies inside the region (overflow-safe).
  bool contains(std::uint64_t offset, std::uint64_t size) const {
    return size <= bytes_.size() && offset <= bytes_.size() - size;
  }

 private:
  std::string_view name_;
  std::span<std::uint8_t> bytes_;
};

// What a backend sees of one layer at prepare time.
struct LayerInfo {
  std::size_t index = 0;                  // position in the kmodel
  const format::Layer* layer = nullptr;   // decoded body (never null); lives as long as the model
  const format::Kmodel* model = nullptr;  // whole model (header flags: 8/16-bit weights, ...)
  std::size_t main_mem_bytes = 0;         // size of main memory (header main_mem_usage)
  std::size_t kpu_mem_bytes = 0;          // size of KPU RAM: 2 MiB, or 0 (kpu_ram_bytes)
};

// The live memories during run().
struct ExecContext {
  MemoryRegion main;  // main_mem_usage bytes
  MemoryRegion kpu;   // 2 MiB KPU RAM
};

// A layer bound to a backend: precomputed state plus the code that runs it.
class PreparedLayer {
 public:
  virtual ~PreparedLayer() = default;
  virtual Status run(ExecContext& ctx) = 0;
  // Estimated K210 cycles for this layer on the chip (KPU cycles for KPU layers, 0 if the backend
  // has no model). Constant per layer, so it is known after prepare.
  virtual std::uint64_t simulated_cycles() const { return 0; }
  // The main-memory range this layer writes, for observers (dump/compare); empty if none.
  virtual format::MemRange output_range() const { return {}; }
};

// The KPU RAM an Interpreter allocates for `model`: 2 MiB (format::kKpuRamBytes) when a layer is
// a K210 type (format::is_k210_type: the only layers that read or write KPU RAM), else 0, so a
// kmodel of CPU layers only does not pay for zeroing 2 MiB at every load.
std::size_t kpu_ram_bytes(const format::Kmodel& model);

// The LayerInfo the Interpreter passes to supports() and prepare() for layer `index` of `model`
// (which must outlive it): main_mem_bytes = header main_mem_usage, kpu_mem_bytes =
// kpu_ram_bytes(model) (the second form takes it precomputed: one scan per model, not per layer).
LayerInfo layer_info(const format::Kmodel& model, std::size_t index);
LayerInfo layer_info(const format::Kmodel& model, std::size_t index, std::size_t kpu_mem_bytes);

class Backend {
 public:
  virtual ~Backend() = default;
  // Unique name in a Registry ("kpu-sim", "cpu", ...).
  virtual std::string_view name() const = 0;
  // Whether this backend can run this layer (may decline particular configurations, e.g. 16-bit
  // weights from info.model->header). Receives what prepare() receives, at bind time (memory not
  // yet allocated; main_mem_bytes / kpu_mem_bytes already hold the sizes it will have).
  virtual bool supports(const LayerInfo& info) const = 0;
  // Validates and precomputes; called once per layer at load, only if supports() was true.
  virtual Result<std::unique_ptr<PreparedLayer>> prepare(const LayerInfo& info) = 0;
};

}  // namespace emc::interpreter
