// The two readings of the K210 KPU activation stage that the documents leave open
// (../shared/docs/kmodel_v3.md §6.4, §9.1, §9.2). Every bit-exact implementation of K210_CONV
// takes both as options: accel_sim::KpuSimOptions and cpu_backend::CpuBackendOptions name these
// types (accel_sim::ActivationRounding, cpu_backend::SegmentSelection, ... are aliases).
#pragma once

namespace emc::format {

// How the activation stage rounds `(bn - x_start) * y_mul` right by `shift_number` (§6.4, §9.2).
enum class KpuActivationRounding {
  // kendryte-standalone-sdk `kpu_carry_shift` / nncase v0.1 `CarryShift`, taken literally:
  // v >>= s-1; then +1 (v >= 0) or -1 (v < 0) after a further >>1 when the dropped bit is set.
  // Round-half-up for non-negative products (the only case for tables with y_mul >= 0).
  kSdkCarryShift,
  // nncase v0.2 / v1.9 `carry_shift<int64_t, true>` ("banker"), including its sign quirk:
  // frac > half adds sign(v), frac == half rounds to even, frac < half truncates (floor).
  kNn02Banker,
};

// Which of the 16 activation segments a BN value uses (§6.4, §9.1). Both pick the highest-numbered
// segment that qualifies (so equal x_starts resolve to the later segment); if none qualifies,
// segment 0 is used.
enum class KpuSegmentSelection {
  kStartLessOrEqual,   // nncase v0.1: last segment with x_start <= bn
  kStartStrictlyLess,  // nncase v0.2/v1.9: last segment with x_start < bn
};

}  // namespace emc::format
