// Internal: the lowered program between lowering (a target's LowerFn, target.h; the Lowerer of
// src/lower/) and emission (emit_kmodel.cpp). Layers hold complete bodies except for memory
// addresses, which are patched after planning through the fixups (buffer id + setter).
#pragma once

#include <climits>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "emc/converter/calibrate.h"
#include "emc/converter/convert.h"
#include "emc/converter/graph.h"
#include "emc/format/kmodel_v3.h"

namespace emc::converter::detail {

enum class Mem { kKpu, kMain };

struct Buffer {
  Mem mem = Mem::kMain;
  std::uint64_t bytes = 0;  // main: bytes; KPU: bytes of the map (rows * 64)
  std::uint32_t rows = 0;   // KPU only (including any extra line read past the end)
  std::int32_t first = INT_MAX, last = -1;
  LayerRef owner;
  std::uint64_t address = 0;  // main: byte offset; KPU: row
};

using AddressSetter = std::function<void(format::Layer&, std::uint64_t)>;

struct Fixup {
  int buffer = -1;
  std::uint64_t add = 0;  // added to the buffer's address (e.g. the +row_len line shift)
  AddressSetter set;
};

// A fixup that writes the address of `buffer` (+ `add`) into `member` of the layer's Body.
template <class Body, class Field>
Fixup fix(int buffer, Field Body::*member, std::uint64_t add = 0) {
  return Fixup{buffer, add, [member](format::Layer& l, std::uint64_t a) {
                 std::get<Body>(l.body).*member = static_cast<Field>(a);
               }};
}

struct LoweredLayer {
  format::Layer layer;
  LayerInfo info;
  std::vector<Fixup> fixups;
  int kpu_in = -1, kpu_out = -1, main_in = -1, main_out = -1;  // for the report
};

struct LoweredOutput {
  int buffer = -1;
  std::uint32_t bytes = 0;
};

struct LoweredModel {
  std::vector<Buffer> buffers;
  std::vector<LoweredLayer> layers;
  std::vector<LoweredOutput> outputs;
  std::vector<std::string> warnings;
  bool input_is_uint8 = true;
  std::vector<std::int32_t> input_shape;
};

// Lowers an optimized, calibrated graph for options.target (its LowerFn). `ranges` is indexed by
// TensorId.
Result<LoweredModel> lower_graph(const Graph& graph, const std::vector<Range>& ranges,
                                 const ConvertOptions& options);

// The LowerFn of the targets whose layer table binds Lowerer jobs (k210, cpu): matches the graph
// with options.target->layers and runs each match's job (src/lower/lowerer.h).
Result<LoweredModel> lower_with_table(const Graph& graph, const std::vector<Range>& ranges,
                                      const ConvertOptions& options);

}  // namespace emc::converter::detail
