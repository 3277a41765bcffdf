// emc-run --bench N: timing of a loaded model (the same input every run).
#pragma once

#include <string>

#include "emc/interpreter/interpreter.h"

namespace emc::tools {

struct BenchOptions {
  int runs = 0;    // timed runs (> 0)
  int warmup = 3;  // untimed runs first (caches, page faults, lazy allocation)
  bool json = false;
  std::string model_path;  // for the file size in the memory line
};

// Runs `it` (input already set) warmup + runs times and prints to stdout: total wall time per run
// (median, min, max in ms), the per-layer median host time, peak RSS of the process
// (getrusage ru_maxrss) against kmodel file + main memory + 2 MiB KPU RAM, and with `json` the
// same as one JSON object instead of the table. Replaces the interpreter's observer.
Status run_bench(interpreter::Interpreter& it, const BenchOptions& options);

}  // namespace emc::tools
