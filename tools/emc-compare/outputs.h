// The model outputs of emc-compare: where each float model output is in the kmodel and in which
// layout, which output the top-k is about (--output), and the reordering of a map output.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "emc/converter/graph.h"
#include "emc/format/error.h"
#include "emc/interpreter/interpreter.h"
#include "sidecar.h"

namespace emc::compare {

// Where one float model output is in the kmodel.
struct OutputLocation {
  std::size_t kmodel_output = 0;  // the kmodel output (an index into interpreter outputs)
  // Held as the CHW planes of this [H, W, C] map (a map output, or a flatten or reshape of one):
  // reordered to the float model's HWC order before it is compared.
  std::optional<std::array<std::size_t, 3>> chw;
};

// Locates every output of `graph` (in graph.outputs order) in the kmodel run by `interp`, each the
// same way. With a sidecar map: the float layer (not an int8 one) that states the output's tensor
// name ("tensor") and whose main-memory output ("main_out") is a kmodel output's address writes
// that kmodel output, and its "layout" / "map_shape" say how it is held (a rank-3 output with no
// layout stated is CHW). Without that record (no map, an older map): model output i is kmodel
// output i (emc-convert writes them in the model's order; warned when a map lacks it for one of
// several outputs), a single output is written by the last layer, and a rank-3 output no layer
// describes is taken as CHW planes, as emc-convert writes every map (warned).
// Two model outputs located in one kmodel output are kInvalidArgument naming the sidecar map
// (written for another kmodel). Every output must be float32 (a final DEQUANTIZE) of the float
// output's size: otherwise kInvalidArgument / kShapeMismatch naming the output and `kmodel_path`.
// Notes for the user are appended to `warnings`.
Result<std::vector<OutputLocation>> locate_outputs(const converter::Graph& graph,
                                                   const interpreter::Interpreter& interp,
                                                   const Sidecar* sidecar,
                                                   const std::string& kmodel_path,
                                                   std::vector<std::string>& warnings);

// "0 'class_probs' [5], 1 'map' [8, 8, 3]": the outputs as --output names them.
std::string list_outputs(const converter::Graph& graph);

// The position in graph.outputs of --output `spec`: a float output tensor name (Keras output
// layer), else a 0-based index; "" is output 0. Anything else is kInvalidArgument listing the
// outputs.
Result<std::size_t> resolve_output(const converter::Graph& graph, const std::string& spec);

// The kmodel values `kmodel` in the float model's order (CHW planes of loc.chw -> HWC; others as
// they are).
std::vector<float> in_float_order(const OutputLocation& loc, std::vector<float> kmodel);

}  // namespace emc::compare
