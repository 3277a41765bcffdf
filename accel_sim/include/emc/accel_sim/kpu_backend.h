// The "kpu-sim" backend: the K210 KPU as an interpreter backend, bit-exact to the arithmetic of
// ../shared/docs/kmodel_v3.md §5-§6 (see docs/kpu_simulator.md for the model and its choices).
//
//   emc::interpreter::Registry registry;
//   EMC_TRY(emc::accel_sim::register_kpu_sim_backend(registry));
//
// It runs K210_CONV, K210_UPLOAD, K210_ADD_PADDING and K210_REMOVE_PADDING. Every address a layer
// touches is checked once when the layer is prepared and once at the start of each run(); an
// address outside KPU RAM or main memory is an emc::Error, never an out-of-bounds access.
#pragma once

#include <memory>
#include <string_view>

#include "emc/format/error.h"
#include "emc/format/kpu_activation_modes.h"
#include "emc/interpreter/backend.h"
#include "emc/interpreter/registry.h"

namespace emc::accel_sim {

inline constexpr std::string_view kKpuSimBackendName = "kpu-sim";

// The two contested readings of the activation stage (format/kpu_activation_modes.h).
using ActivationRounding = format::KpuActivationRounding;
using SegmentSelection = format::KpuSegmentSelection;

// Highest x86 instruction set the convolution kernels may use (results are identical for all;
// lower settings exist for tests and benchmarks). Unsupported sets fall back to the next lower.
enum class KernelIsa { kPortable, kAvx2, kAvx512Vnni };

struct KpuSimOptions {
  // KPU clock for latency estimates (Hz). simulated_cycles() does not depend on it.
  double clock_hz = 400e6;
  // Defaults follow nncase v0.2/v1.9, Kendryte's later KPU simulator, which singles out banker
  // rounding for the KPU activation; see docs/kpu_simulator.md for the reasoning and evidence.
  ActivationRounding rounding = ActivationRounding::kNn02Banker;
  SegmentSelection selection = SegmentSelection::kStartStrictlyLess;
  KernelIsa max_isa = KernelIsa::kAvx512Vnni;
  // Threads per conv layer (the caller's plus threads - 1 workers per model): the AVX-512 quad
  // GEMM path with folded terms and the 3x3 depthwise line kernel split their output channels;
  // other layers run on the calling thread. Results are the same bytes for every value.
  unsigned threads = 1;
};

// A new kpu-sim backend (owned by the caller until handed to a Registry).
std::unique_ptr<interpreter::Backend> make_kpu_sim_backend(const KpuSimOptions& options = {});

// Adds a kpu-sim backend to `registry` (kInvalidArgument if the name "kpu-sim" is taken).
emc::Status register_kpu_sim_backend(interpreter::Registry& registry,
                                     const KpuSimOptions& options = {});

}  // namespace emc::accel_sim
