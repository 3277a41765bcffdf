// Interpreter state (private). The decoded model is never moved after load: PreparedLayers and
// LayerInfo point into model.layers.
#pragma once

#include <memory>
#include <vector>

#include "emc/interpreter/interpreter.h"
#include "layer_access.h"

namespace emc::interpreter {

struct Interpreter::Impl {
  format::Kmodel model;
  std::vector<detail::LayerAccess> access;  // per layer, recomputed from the bodies
  std::vector<Diagnostic> diagnostics;
  std::vector<PlanEntry> plan;
  std::vector<Backend*> backends;  // per layer; owned by the Registry
  std::vector<std::unique_ptr<PreparedLayer>> prepared;
  std::vector<std::uint8_t> main_mem;  // main_mem_usage bytes
  std::vector<std::uint8_t> kpu_mem;   // 2 MiB
  LayerObserver observer;
  TensorInfo input;
  // The model input, placed again at the start of every run() as kpu_run_kmodel does: later
  // layers may reuse its KPU rows or main-memory bytes (ping-pong buffers). Zeros until set.
  std::vector<std::uint8_t> input_bytes;
  std::vector<TensorInfo> outputs;
};

}  // namespace emc::interpreter
