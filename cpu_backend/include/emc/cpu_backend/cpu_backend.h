// The "cpu" interpreter backend: every CPU layer type of kmodel V3 with the semantics of the
// Kendryte standalone SDK's kpu.c (../shared/docs/kmodel_v3.md §7; docs/cpu_backend.md lists each
// type, its source, and the decisions for types the SDK does not implement).
//
//   emc::interpreter::Registry registry;
//   emc::accel_sim::register_kpu_sim_backend(registry);   // K210 types
//   EMC_TRY(emc::cpu_backend::register_cpu_backend(registry));
//
// The backend declines the K210 types (K210_CONV, K210_ADD_PADDING, K210_REMOVE_PADDING,
// K210_UPLOAD), INVALID, and QUANTIZED_FULLY_CONNECTED (its body carries no quantization
// parameters, see docs/cpu_backend.md). prepare() validates every main-memory byte range a kernel
// touches against LayerInfo::main_mem_bytes, every divisor, shift and shape; run() then performs
// no per-element checks. Main memory is a byte buffer: float32 values are little-endian and may be
// unaligned; quantized tensors are uint8, channel-planar (C,H,W).
#pragma once

#include <memory>

#include "emc/format/error.h"
#include "emc/interpreter/backend.h"
#include "emc/interpreter/registry.h"

namespace emc::cpu_backend {

// How QUANTIZE converts (x - bias) / scale to an integer before clamping to 0..255.
enum class QuantizeRounding {
  kRoundHalfAway,  // roundf(): kendryte-standalone-sdk kpu.c since cabbc35 (2019-04-26). Default.
  kTruncate,       // (int) conversion, toward zero: Maix-EMC's older kpu.c copy (EMC-KPU).
};

struct CpuBackendOptions {
  QuantizeRounding quantize_rounding = QuantizeRounding::kRoundHalfAway;
};

// The backend's registered name.
inline constexpr const char* kCpuBackendName = "cpu";

// A new "cpu" backend. The caller owns it (normally it is handed to a Registry).
std::unique_ptr<interpreter::Backend> make_cpu_backend(const CpuBackendOptions& options = {});

// Adds a "cpu" backend to `registry` (lowest priority so far). Fails if the name is taken.
Status register_cpu_backend(interpreter::Registry& registry, const CpuBackendOptions& options = {});

}  // namespace emc::cpu_backend
