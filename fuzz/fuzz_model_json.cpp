// libFuzzer harness for the TF.js model.json importer, graph builder, passes and (for small
// graphs) the float executor. Input: model.json text, a NUL byte, then the bytes served for every
// weight shard path. Every input must give a value or an emc::Error: never a crash, a hang or a
// sanitizer report.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "emc/converter/float_executor.h"
#include "emc/converter/model_json.h"
#include "emc/converter/passes.h"

namespace {

// Multiply-accumulate estimate of one run, to skip executing graphs that would take long.
std::int64_t work_estimate(const emc::converter::Graph& g) {
  std::int64_t total = 0;
  for (const auto& n : g.nodes) {
    const std::int64_t out = g.shape(n.output).num_elements();
    std::int64_t per = 1;
    for (auto in : n.inputs) per += g.shape(in).c();
    per *= std::int64_t{n.kernel_h} * n.kernel_w;
    total += out * per;
    if (total > (std::int64_t{1} << 24)) return total;
  }
  return total;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace emc::converter;
  const auto* nul = static_cast<const std::uint8_t*>(std::memchr(data, 0, size));
  const std::size_t json_len = nul ? static_cast<std::size_t>(nul - data) : size;
  std::string_view json(reinterpret_cast<const char*>(data), json_len);
  std::vector<std::uint8_t> blob;
  if (nul) blob.assign(nul + 1, data + size);
  ShardReader reader = [&blob](const std::string&) -> emc::Result<std::vector<std::uint8_t>> {
    return blob;
  };
  LoadOptions options;
  options.max_total_weight_bytes = 1 << 20;
  auto model = load_tfjs_model_from_memory(json, reader, options);
  if (!model.ok()) return 0;
  auto graph = build_graph(*model);
  if (!graph.ok()) return 0;
  auto fused = optimize_graph(*graph);
  if (work_estimate(*graph) > (std::int64_t{1} << 24)) return 0;
  std::vector<Tensor> inputs;
  for (auto id : graph->inputs)
    inputs.push_back(Tensor{
        graph->shape(id),
        std::vector<float>(static_cast<std::size_t>(graph->shape(id).num_elements()), 0.5f)});
  auto out = run_float(*graph, inputs);
  if (fused.ok()) auto out2 = run_float(*fused, inputs);
  return 0;
}
