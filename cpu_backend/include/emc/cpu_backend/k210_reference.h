// The K210 KPU layer arithmetic as plain functions, written from ../shared/docs/kmodel_v3.md
// §5-§6 (naive loops, int64 everywhere). These are the stages of the cpu backend's K210_CONV
// kernel, exposed so that tests and tools can look at intermediate values (accumulators, BN
// outputs) and so that other implementations (the kpu-sim backend) can be checked against an
// independent reference. Nothing here shares code with accel_sim/.
//
// Bit widths (§6.8): the conv accumulator and the BN output are 36-bit signed; values outside
// that range wrap to 36-bit two's complement (the same choice as kpu-sim, docs/kpu_simulator.md).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "emc/cpu_backend/cpu_backend.h"
#include "emc/format/error.h"
#include "emc/format/kmodel_v3.h"
#include "emc/format/kpu_regs.h"

namespace emc::cpu_backend {

// v modulo 2^36, as a signed 36-bit value.
std::int64_t k210_wrap36(std::int64_t v);

// floor(v / 2^s) for any s >= 0 (s >= 63 gives 0 or -1).
std::int64_t k210_floor_shift(std::int64_t v, std::int64_t s);

// The two literal rounding shifts of §6.4 (see ActivationRounding). s <= 0 returns v.
std::int64_t k210_sdk_carry_shift(std::int64_t v, std::int64_t s);
std::int64_t k210_banker_carry_shift(std::int64_t v, std::int64_t s);

// §6.3: wrap36(((acc * norm_mul) >> norm_shift) + norm_add), arithmetic shift, no rounding.
std::int64_t k210_batch_norm(std::int64_t acc, const format::KpuBatchNorm& bn);

// §6.4: the segment chosen by `selection` (segment 0 when none qualifies), then
// clamp(carry_shift((bn - x_start) * y_mul, shift_number) + result_bias, 0, 255).
std::uint8_t k210_activation(std::int64_t bn, const format::KpuActivationTable& table,
                             SegmentSelection selection, ActivationRounding rounding);

// §6.1: the 36-bit accumulator of every output channel and pixel of a K210_CONV layer, laid out
// [oc][y][x] over the H_in x W_in map (before pooling). The input map is read from `kpu_ram` (the
// whole KPU RAM, byte 0 = row 0) at the layer's registers in the §5.2 row layout. The registers,
// blob sizes and the input map's range are validated as the cpu backend's prepare() does;
// `eight_bit_weights` is the model header's flag (false: uint16 LE weights).
Result<std::vector<std::int64_t>> k210_conv_accumulators(const format::ConvBody& body,
                                                         bool eight_bit_weights,
                                                         std::span<const std::uint8_t> kpu_ram);

}  // namespace emc::cpu_backend
