// BN + activation (kmodel_v3.md §6.3-§6.4) and pooling (§6.5) of the KPU output stage.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "emc/accel_sim/kpu_backend.h"
#include "emc/format/kpu_regs.h"

namespace emc::accel_sim::detail {

struct ChannelBn {
  std::int64_t mul = 0;     // sign-extended 24-bit norm_mul
  std::int64_t add = 0;     // sign-extended 32-bit norm_add
  std::uint32_t shift = 0;  // 0..15
};

// The AVX-512 path's table: the sorted segments that can decide an output (see ActivationStage's
// constructor), padded to a power of two `count` with starts no bn reaches.
struct alignas(64) SimdSegments {
  std::int64_t x_start[16], y_mul[16], shift[16], bias[16];
  // Rounding of a non-negative product v by shift s as (v + round_add + ((v >> s) & odd)) >> s:
  // banker: round_add = 2^(s-1) - 1, odd = 1; SDK: round_add = 2^(s-1), odd = 0 (both 0 for s = 0
  // and s >= 63, where the shift alone is exact).
  std::int64_t round_add[16], odd[16];
  int count = 16;       // entries used (a power of two)
  int used = 16;        // entries before the padding
  bool nonneg = false;  // every product (bn - x_start) * y_mul is >= 0 (see the constructor)
};

// The 32-bit form of a SimdSegments table (ActivationStage::enable_int32): bn is clamped to
// [lb, hb] (which selects the same segment and output), and to x_end = x_start + cap within the
// segment, where cap is the first offset at which the segment's output reaches 255 (larger ones
// give 255 as well), so the offset, product, rounding and bias all stay inside int32 and run on
// 16 lanes. y_mul and shift are reduced by their common powers of two (exact).
struct alignas(64) Int32Segments {
  std::int32_t x_start[16], x_end[16], y_mul[16], shift[16], round_add[16], odd[16], bias[16];
  std::int64_t lb = 0, hb = 0;  // bn clamp (inside int32)
  int used = 1;                 // entries 0..used-1 (segment 0 is constant)
  // The whole table is segment 1 on bn clamped to [x_start[1], x_end[1]] (ReLU, ReLU6: segment 0
  // gives segment 1's output at its start, a constant segment 2 the 255 that segment 1 reaches
  // by its start): lb/hb are that range and no segment is searched.
  bool linear = false;
};

// Where run_rows puts its bytes: element i at column (first_x + i) % row_w of row
// (first_x + i) / row_w, rows `stride` bytes apart (KPU RAM lines).
struct OutRows {
  std::size_t row_w = 0, first_x = 0, stride = 0;
};

// The layer's 16-segment activation table, decoded once at prepare.
class ActivationStage {
 public:
  ActivationStage(const format::KpuActivationTable& table, const KpuSimOptions& options);

  // out[i] = clamp(act(bn(value[i])), 0, 255) with value[i] = lo[i] + 256*hi[i] (hi may be null)
  // + xterm[i] (xterm may be null: 0) + cterm, wrapped to 36 bits; bn wrapped to 36 bits.
  // The caller has proven that neither the accumulator nor bn of any channel can leave 36 bits,
  // so the wraps may be skipped (the AVX-512 path does).
  void set_no_wrap(bool v) { no_wrap_ = v; }

  // Lets run() use the 16-lane int32 form when the layer's accumulator bound |acc| <= acc_bound
  // (lo + 256*hi + xterm + cterm) is below 2^31, the wraps are skipped (set_no_wrap(true) first)
  // and the table allows it (every product non-negative, segment 0 constant, starts and the
  // saturating offsets inside int32). Returns whether it does; results are the same bytes.
  bool enable_int32(std::int64_t acc_bound);
  // Whether run() uses the int32 form's one-linear-segment case (Int32Segments::linear).
  bool int32_linear() const { return int32_ && int32_table_.linear; }

  void run(const std::int32_t* lo, const std::int32_t* hi, const std::int64_t* xterm,
           std::int64_t cterm, const ChannelBn& bn, std::size_t n, std::uint8_t* out) const;
  // The same (hi null) with the n bytes laid out in rows (OutRows), e.g. straight into the
  // output map's lines in KPU RAM; out is row 0's column 0.
  void run_rows(const std::int32_t* lo, const std::int64_t* xterm, std::int64_t cterm,
                const ChannelBn& bn, std::size_t n, const OutRows& rows, std::uint8_t* out) const;

 private:
  void run_int32(const std::int32_t* lo, const std::int32_t* hi, const std::int64_t* xterm,
                 std::int64_t cterm, const ChannelBn& bn, std::size_t n, std::uint8_t* out,
                 const OutRows& rows) const;
  std::array<std::int64_t, 16> x_start_{};
  std::array<std::int64_t, 16> y_mul_{};
  std::array<std::uint32_t, 16> shift_{};
  std::array<std::int64_t, 16> bias_{};
  bool sorted_ = false;  // x_start non-decreasing: the qualifying segments are a prefix
  bool strict_ = false;
  bool banker_ = false;
  bool no_wrap_ = false;
  bool simd_ = false;   // AVX-512 path: sorted table, max_isa kAvx512Vnni, CPU has AVX-512F/DQ
  bool int32_ = false;  // the 16-lane int32 form (enable_int32)
  SimdSegments simd_table_{};
  Int32Segments int32_table_{};
};

// Output size of `pool_type` (0..9) on `in` pixels (§6.5; floor for the strided types).
std::uint32_t pool_output_size(std::uint32_t in, std::int64_t pool_type);

// Pools one channel plane in_h x in_w (dense) into out (dense out_h x out_w from
// pool_output_size). pool_type must be 0..9.
void pool_plane(const std::uint8_t* in, std::uint32_t in_h, std::uint32_t in_w,
                std::int64_t pool_type, std::uint8_t* out);

}  // namespace emc::accel_sim::detail
