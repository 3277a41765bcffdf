// A conversion target (-p NAME): everything the converter knows about one platform, in one
// description. Each target is one file, converter/src/lower/<name>_target.cpp, listed once in
// converter/src/lower/targets.def; nothing outside that file branches on which target it is (the
// lowering, emission, sidecar and tools read the fields below). docs/adding_a_layer.md ("A new
// target") shows the steps.
//
//   const Target* t = find_target("k210");   // nullptr for an unknown name
//   ConvertOptions opt;  opt.target = t;       // default: Target::kK210
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "emc/format/error.h"

namespace emc::converter {

struct Graph;
struct Range;
struct ConvertOptions;
struct LayerTable;
namespace detail {
struct LoweredModel;
}

// Lowers an optimized, calibrated graph (`ranges` indexed by TensorId) for `options.target`.
using LowerFn = Result<detail::LoweredModel> (*)(const Graph& graph,
                                                 const std::vector<Range>& ranges,
                                                 const ConvertOptions& options);

struct Target {
  std::string_view name;             // -p NAME; the sidecar map's "target"
  std::string_view title;            // in messages: "K210", "cpu target"
  std::string_view default_backend;  // the backend emc-run prefers for this target's kmodels
  // Which runs of graph nodes become which layers, and the Lowerer job of each (layer_table.h).
  const LayerTable* layers = nullptr;
  // The lowering entry point (detail::lower_with_table runs `layers` through the Lowerer).
  LowerFn lower = nullptr;
  // Optional: rewrites the optimized graph before calibration (nullptr: none). cpu splits the
  // activations its int8 layers cannot fuse into their own nodes, so that they are calibrated.
  Result<Graph> (*prepare_graph)(Graph graph) = nullptr;

  // K210_CONV map limits: the smallest map H/W the target computes (smaller maps are padded to
  // it) and the largest input map.
  std::int32_t min_map = 4;
  std::int32_t max_map_h = 256, max_map_w = 512;
  // Appended to a convolution's refusal (what the user cannot fall back to).
  std::string_view conv_refusal_note;
  // --dense may put a Dense layer on the KPU (the 4x4-padded 1x1 conv).
  bool dense_on_kpu = false;
  // EMC's own CPU layer types are named in a warning (an error with --sdk-compatible): the
  // platform's stock runtime cannot run them.
  bool emc_types_need_emc_runtime = false;
  // A convolution the KPU cannot run exactly (kernel, dilation, padding form, map or channel
  // limits) runs on the CPU as EMC_CONV2D / EMC_DEPTHWISE_CONV2D instead of being refused.
  bool cpu_conv_fallback = false;

  // Memory: the kmodel (with its main memory when `limit_includes_main_memory`) must fit
  // `limit_bytes`; above `warn_bytes` (0: never) a warning says it will most likely not load.
  std::uint64_t limit_bytes = 0;
  bool limit_includes_main_memory = false;
  std::uint64_t warn_bytes = 0;
  std::string_view weight_budget_text;  // "K210's 6 MiB of SRAM"
  std::string_view oversize_hint;       // appended to the too-big error, e.g. "; try ..."

  // The built-in targets (also reachable as find_target("k210") / find_target("cpu")).
  static const Target* const kK210;
  static const Target* const kCpu;
};

// Every registered target, in registration order (targets.def).
std::span<const Target* const> targets();
// The target named `name`, or nullptr.
const Target* find_target(std::string_view name);
// The registered names joined by `separator` ("k210 | cpu"), for help texts and messages.
std::string target_names(std::string_view separator = " | ");
std::vector<std::string> target_name_list();

}  // namespace emc::converter
