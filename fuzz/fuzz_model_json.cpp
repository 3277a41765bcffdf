// libFuzzer harness for the TF.js layers importer: model.json text + weight shard bytes ->
// load_tfjs_model_from_memory (the same load path load_tfjs_model uses after reading the file)
// -> weight slicing and dequantization (float32/int32/uint8/uint16/float16) -> build_graph (class
// dispatch, attribute checks, shape inference, validate_graph) -> optimize_graph -> run_float on
// small graphs. Every input must give a value or an emc::Error: never a crash, a hang or a
// sanitizer report.
//
// Input layout (see fuzz/README.md):   <model.json> [ kShardSeparator <shard bytes> ]*
// Shard i is served for the i-th distinct path the loader asks for (manifest order); a path asked
// for beyond the last shard is a kIo error, as a missing file is. Every path first goes through
// the directory reader's path rules (absolute, "..", backslash, NUL, ... are rejected exactly as
// for files next to model.json), against an empty temporary folder.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "emc/converter/float_executor.h"
#include "emc/converter/model_json.h"
#include "emc/converter/passes.h"

namespace {

using namespace emc::converter;

constexpr std::string_view kShardSeparator{"\0--shard--\0", 11};
volatile std::size_t g_sink = 0;  // consume results so the optimiser cannot drop work

// An empty folder for the directory reader's path checks (created once, never written to).
const std::string& empty_dir() {
  static const std::string dir = [] {
    std::string templ = (std::filesystem::temp_directory_path() / "emc_fuzz_XXXXXX").string();
    if (!mkdtemp(templ.data())) std::abort();
    return templ;
  }();
  return dir;
}

// Multiply-accumulate estimate of one float run, to skip executing graphs that would take long.
std::int64_t work_estimate(const Graph& g) {
  std::int64_t total = 0;
  for (const auto& n : g.nodes) {
    const std::int64_t out = g.shape(n.output).num_elements();
    std::int64_t per = 1;
    for (auto in : n.inputs) per += g.shape(in).c();
    per *= std::int64_t{n.kernel_h} * n.kernel_w;
    total += out * per;
    if (total > (std::int64_t{1} << 18)) return total;
  }
  return total;
}

// EMC_FUZZ_DEBUG=1 prints how far each input got (to check that seeds reach the graph).
const bool g_debug = std::getenv("EMC_FUZZ_DEBUG") != nullptr;

// An error must always carry a message (the tools print it as the only line).
void check_error(const emc::Error& e) {
  if (e.message().empty()) std::abort();
  g_sink = g_sink + e.to_string().size();
  if (g_debug) std::fprintf(stderr, "rejected: %s\n", e.to_string().c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Exactly sized heap copy, so over-reads hit the ASan redzone under every engine.
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> parts;
  std::string_view rest(input);
  for (;;) {
    auto pos = rest.find(kShardSeparator);
    parts.push_back(rest.substr(0, pos));
    if (pos == std::string_view::npos) break;
    rest.remove_prefix(pos + kShardSeparator.size());
  }
  const std::string json(parts[0]);  // exactly sized again

  LoadOptions options;
  options.max_json_bytes = 1 << 20;
  options.max_shard_bytes = 1 << 20;
  options.max_total_weight_bytes = 1 << 20;
  const ShardReader path_rules = make_directory_shard_reader(empty_dir(), options.max_shard_bytes);
  std::vector<std::string> served;  // paths in the order first asked for
  ShardReader reader = [&](const std::string& path) -> emc::Result<std::vector<std::uint8_t>> {
    auto on_disk = path_rules(path);  // the folder is empty: only a rule violation is not kIo
    if (!on_disk.ok() && on_disk.error().code() != emc::Errc::kIo) return on_disk.error();
    std::size_t i = 0;
    while (i < served.size() && served[i] != path) ++i;
    if (i == served.size()) served.push_back(path);
    if (i + 1 >= parts.size())
      return emc::Error(emc::Errc::kIo, "weight shard '" + path + "' is not available");
    const std::string_view bytes = parts[i + 1];
    return std::vector<std::uint8_t>(bytes.begin(), bytes.end());
  };

  auto model = load_tfjs_model_from_memory(json, reader, options);
  if (!model.ok()) {
    check_error(model.error());
    return 0;
  }
  // Decoder invariant: every weight holds exactly product(shape) values.
  for (const auto& [name, w] : model->weights) {
    std::uint64_t n = 1;
    for (auto d : w.shape) n *= static_cast<std::uint64_t>(d);
    if (n != w.values.size() || name != w.name) std::abort();
  }
  auto graph = build_graph(*model);
  if (!graph.ok()) {
    check_error(graph.error());
    return 0;
  }
  if (!validate_graph(*graph).ok()) std::abort();  // build_graph promises a valid graph
  auto fused = optimize_graph(*graph);
  if (!fused.ok()) {
    check_error(fused.error());
  } else if (!validate_graph(*fused).ok()) {
    std::abort();
  }
  if (work_estimate(*graph) > (std::int64_t{1} << 18)) {
    if (g_debug) std::fprintf(stderr, "graph: %zu nodes (too large to run)\n", graph->nodes.size());
    return 0;
  }
  std::vector<Tensor> inputs;
  for (auto id : graph->inputs)
    inputs.push_back(Tensor{
        graph->shape(id),
        std::vector<float>(static_cast<std::size_t>(graph->shape(id).num_elements()), 0.5f)});
  auto out = run_float(*graph, inputs);
  if (out.ok()) g_sink = g_sink + out->size();
  if (g_debug)
    std::fprintf(stderr, "graph: %zu nodes, %zu weights, run %s\n", graph->nodes.size(),
                 model->weights.size(), out.ok() ? "ok" : out.error().to_string().c_str());
  if (fused.ok()) {
    auto out2 = run_float(*fused, inputs);
    if (out2.ok()) g_sink = g_sink + out2->size();
  }
  return 0;
}
