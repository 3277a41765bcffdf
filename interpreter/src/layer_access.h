// What a layer reads and writes, recomputed from its own body fields (robustness.md §2.1 items
// 10, 11, 15, 16), independent of any backend. Used by the load-time checks and to find the
// output span reported to observers.
#pragma once

#include <cstdint>
#include <vector>

#include "emc/format/error.h"
#include "emc/format/kmodel_v3.h"

namespace emc::interpreter::detail {

// [start, start + size) in bytes. 64-bit so that sums of file fields cannot overflow.
struct ByteRange {
  std::uint64_t start = 0;
  std::uint64_t size = 0;
  std::uint64_t end() const { return start + size; }
};

// How a CPU kernel walks its input and output, which decides whether they may overlap.
enum class OverlapRule {
  // The kernel reads inputs at arbitrary positions while writing: no overlap allowed.
  kNone,
  // Element i of the output is written after element i of the input was read, and elements are
  // visited in increasing order (SDK-C loops): an overlap is safe when the output starts at or
  // before the input and output elements are not wider than input elements.
  kForwardElementwise,
  // CONCAT: an input may sit exactly at its own destination slot (a no-op copy); any other
  // overlap is an error.
  kConcat,
};

struct LayerAccess {
  std::vector<ByteRange> main_reads;
  std::vector<ByteRange> main_writes;  // main_writes[0], if any, is the layer's output
  std::vector<ByteRange> kpu_reads;    // byte ranges in KPU RAM
  std::vector<ByteRange> kpu_writes;
  // Bytes at the end of kpu_reads[0] the layer reads but whose values reach no output: a 1x1
  // K210_CONV whose sampling pool keeps rows 0, s, 2s, ... never uses the last channel's trailing
  // lines (the converters' "read one line later" stride-2 form reads one line past its input).
  std::uint64_t kpu_read_unused_tail = 0;
  OverlapRule overlap = OverlapRule::kNone;
  std::uint32_t in_elem_bytes = 1;  // for kForwardElementwise
  std::uint32_t out_elem_bytes = 1;
  // Rough work estimate (multiply-accumulates + bytes moved) for the work bound.
  std::uint64_t work = 0;
};

// Fails only for a body that does not match the layer type (hand-built models) or a K210_CONV
// whose registers are inconsistent with the 2 MiB KPU RAM addressing.
Result<LayerAccess> layer_access(const format::Layer& layer);

}  // namespace emc::interpreter::detail
