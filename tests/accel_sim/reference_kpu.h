// A plain reference of the K210 KPU layer arithmetic, written straight from
// ../shared/docs/kmodel_v3.md §5-§6 with naive per-pixel loops and int64 everywhere. It shares no
// code with accel_sim/src (only format's structs and register decoders), so differential tests
// against it check the simulator's fast kernels, layouts and shortcuts.
#pragma once

#include <cstdint>
#include <vector>

#include "emc/accel_sim/kpu_backend.h"
#include "emc/format/kmodel_v3.h"

namespace emc::test {

struct RefOptions {
  bool strict_segment = false;  // true: last x_start < bn (NN02); false: last x_start <= bn (NN01)
  bool banker = false;          // true: NN02 banker carry shift; false: SDK kpu_carry_shift
};
RefOptions ref_options_from(const accel_sim::KpuSimOptions& o);

// The 36-bit accumulator of every output channel and pixel, [oc][y][x] (pre-pooling, H_in x W_in),
// reading the input map from `kpu` at the register addresses (§6.1, §5.2).
std::vector<std::int64_t> ref_conv_acc(const format::ConvBody& body, bool eight_bit_weights,
                                       const std::vector<std::uint8_t>& kpu);

// §6.3 (wrapped to 36 bits) and §6.4.
std::int64_t ref_batch_norm(std::int64_t acc, std::uint64_t bn_word);
std::uint8_t ref_activation(std::int64_t bn, const format::KpuActivationWords& act,
                            const RefOptions& options);

// The whole layer: writes the output map to `kpu` and, with the body's main-out flag, the dense
// CHW output to `main`. Returns false (touching nothing) if a range does not fit.
bool ref_run_conv(const format::ConvBody& body, bool eight_bit_weights, const RefOptions& options,
                  std::vector<std::uint8_t>& kpu, std::vector<std::uint8_t>& main);

}  // namespace emc::test
