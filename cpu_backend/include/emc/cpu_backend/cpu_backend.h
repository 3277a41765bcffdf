// The "cpu" interpreter backend: every CPU layer type of kmodel V3 with the semantics of the
// Kendryte standalone SDK's kpu.c (../shared/docs/kmodel_v3.md §7; docs/cpu_backend.md lists each
// type, its source, and the decisions for types the SDK does not implement).
//
//   emc::interpreter::Registry registry;
//   emc::accel_sim::register_kpu_sim_backend(registry);   // K210 types
//   EMC_TRY(emc::cpu_backend::register_cpu_backend(registry));
//
// The backend also runs the four K210 types (K210_CONV, K210_UPLOAD, K210_ADD_PADDING,
// K210_REMOVE_PADDING) as plain reference kernels written from kmodel_v3.md §5-§6
// (k210_reference.h): they read and write ExecContext::kpu in the KPU row layout, bit-identical to
// the kpu-sim backend with the same activation options. Registered after kpu-sim, it gets the K210
// layers only when kpu-sim is absent or a DispatchPolicy prefers "cpu". It declines INVALID and
// QUANTIZED_FULLY_CONNECTED (its body carries no quantization parameters, see
// docs/cpu_backend.md). prepare() validates every main-memory and KPU RAM byte range a kernel
// touches against LayerInfo::main_mem_bytes / kpu_mem_bytes, every divisor, shift, register field
// and shape; run() then performs no per-element checks. Main memory is a byte buffer: float32
// values are little-endian and may be unaligned; quantized tensors are uint8, channel-planar
// (C,H,W).
#pragma once

#include <memory>

#include "emc/format/error.h"
#include "emc/format/kpu_activation_modes.h"
#include "emc/cpu_backend/emc_arithmetic.h"
#include "emc/interpreter/backend.h"
#include "emc/interpreter/registry.h"

namespace emc::cpu_backend {

// How QUANTIZE converts (x - bias) / scale to an integer before clamping to 0..255.
enum class QuantizeRounding {
  kRoundHalfAway,  // roundf(): kendryte-standalone-sdk kpu.c since cabbc35 (2019-04-26). Default.
  kTruncate,       // (int) conversion, toward zero: Maix-EMC's older kpu.c copy (EMC-KPU).
};

// The K210_CONV activation stage's two contested readings (format/kpu_activation_modes.h; the
// same types as accel_sim::ActivationRounding / SegmentSelection).
using ActivationRounding = format::KpuActivationRounding;
using SegmentSelection = format::KpuSegmentSelection;

struct CpuBackendOptions {
  QuantizeRounding quantize_rounding = QuantizeRounding::kRoundHalfAway;
  // K210_CONV activation stage. The defaults equal accel_sim::KpuSimOptions' defaults (nncase
  // v0.2/v1.9; docs/kpu_simulator.md gives the reasoning), so "cpu" and "kpu-sim" compute the same
  // bytes unless one of them is configured otherwise.
  ActivationRounding k210_rounding = ActivationRounding::kNn02Banker;
  SegmentSelection k210_selection = SegmentSelection::kStartStrictlyLess;
  // EMC_CONV2D / EMC_DEPTHWISE_CONV2D implementation (identical bytes either way).
  EmcKernelIsa emc_isa = EmcKernelIsa::kBest;
};

// The backend's registered name.
inline constexpr const char* kCpuBackendName = "cpu";

// A new "cpu" backend. The caller owns it (normally it is handed to a Registry).
std::unique_ptr<interpreter::Backend> make_cpu_backend(const CpuBackendOptions& options = {});

// Adds a "cpu" backend to `registry` (lowest priority so far). Fails if the name is taken.
Status register_cpu_backend(interpreter::Registry& registry, const CpuBackendOptions& options = {});

}  // namespace emc::cpu_backend
