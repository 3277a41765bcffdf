// What a layer reads and writes, recomputed from its own body fields and the element sizes of its
// row in layer_types.def (robustness.md §2.1 items 10, 11, 15, 16). One description serves the
// parser's range checks (kmodel_validate.cpp), the interpreter's load checks and the backends.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "emc/format/error.h"
#include "emc/format/kmodel_v3.h"

namespace emc::format {

// [start, start + size) in bytes. 64-bit so that sums of file fields cannot overflow.
struct ByteRange {
  std::uint64_t start = 0;
  std::uint64_t size = 0;
  std::uint64_t end() const { return start + size; }
};

// One range a layer touches, with the body field that places it (for error messages).
struct FootprintRange : ByteRange {
  std::string_view field;          // e.g. "main_mem_in_address", "image_src_addr (input map)"
  std::uint64_t field_offset = 0;  // byte offset of that field from the body start
  // Bytes the hardware moves when more than `size`: a K210_CONV's DMA copies whole 64-bit words
  // (ceil(N/8)*8 bytes, kmodel_v3.md §5.3), while its output is N bytes. 0 = same as size.
  std::uint64_t touched = 0;
  std::uint64_t touched_size() const { return touched > size ? touched : size; }
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

struct LayerFootprint {
  std::vector<FootprintRange> main_reads;
  std::vector<FootprintRange> main_writes;  // main_writes[0], if any, is the layer's output
  std::vector<FootprintRange> kpu_reads;    // byte ranges in KPU RAM
  std::vector<FootprintRange> kpu_writes;
  // Bytes at the end of kpu_reads[0] the layer reads but whose values reach no output: a 1x1
  // K210_CONV whose sampling pool keeps rows 0, s, 2s, ... never uses the last channel's trailing
  // lines (the converters' "read one line later" stride-2 form reads one line past its input).
  std::uint64_t kpu_read_unused_tail = 0;
  OverlapRule overlap = OverlapRule::kNone;
  std::uint32_t in_elem_bytes = 1;  // for kForwardElementwise
  std::uint32_t out_elem_bytes = 1;
  // Rough work estimate (multiply-accumulates + bytes moved) for the interpreter's work bound.
  std::uint64_t work = 0;
};

// Fails (kInvalidModel) only for a body that is not the struct layer_types.def names for the type
// (hand-built models), a K210_CONV whose group registers are 0, or an UPLOAD of an empty map;
// kUnsupportedLayer for kInvalid. Products saturate rather than wrap, so an absurd field still
// fails any range check. Sizes are not checked here against any memory: callers do that.
Result<LayerFootprint> layer_footprint(const Layer& layer);

}  // namespace emc::format
