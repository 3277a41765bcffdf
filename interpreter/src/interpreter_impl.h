// Interpreter state (private). The decoded model is never moved after load: PreparedLayers and
// LayerInfo point into model.layers.
#pragma once

#include <memory>
#include <vector>

#include "emc/interpreter/interpreter.h"
#include "layer_access.h"
#include "zeroed_buffer.h"

namespace emc::interpreter {

struct Interpreter::Impl {
  format::Kmodel model;
  std::vector<detail::LayerAccess> access;  // per layer, recomputed from the bodies
  std::vector<Diagnostic> diagnostics;
  std::vector<PlanEntry> plan;
  std::vector<Backend*> backends;  // per layer; owned by the Registry
  std::vector<std::unique_ptr<PreparedLayer>> prepared;
  detail::ZeroedBuffer main_mem;  // main_mem_usage bytes
  detail::ZeroedBuffer kpu_mem;   // kpu_ram_bytes(model): 2 MiB or none
  LayerObserver observer;
  TensorInfo input;
  // The model input, placed again at the start of every run() as kpu_run_kmodel does: later
  // layers may reuse its KPU rows or main-memory bytes (ping-pong buffers). Zeros until set.
  std::vector<std::uint8_t> input_bytes;
  std::vector<TensorInfo> outputs;
};

}  // namespace emc::interpreter
