// libFuzzer harness for the Keras .h5 reader: the input bytes are an HDF5 image opened through
// HDF5's core (in-memory) driver by load_keras_h5_from_memory, the same path load_model takes
// after reading a .h5 file -> root model_config (fixed / variable-length strings) -> the
// Keras-config importer -> model_weights/<layer> weight_names -> float16/32/64 datasets ->
// build_graph. Every input must give a Model/Graph or an emc::Error: never a crash, a hang or a
// sanitizer report. (libhdf5 itself is Debian's uninstrumented build: coverage guides the search
// through EMC's code, and a crash inside libhdf5 is still a finding.)
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "emc/converter/model_file.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace emc::converter;
  const std::vector<std::uint8_t> bytes(data, data + size);
  LoadOptions options;
  options.max_json_bytes = 1 << 20;
  options.max_total_weight_bytes = 4 << 20;
  auto model = load_keras_h5_from_memory(bytes, "fuzz.h5", options);
  if (!model.ok()) {
    if (model.error().message().empty()) std::abort();
    return 0;
  }
  for (const auto& [name, w] : model->weights) {
    std::size_t n = 1;
    for (auto d : w.shape) n *= static_cast<std::size_t>(d);
    if (n != w.values.size()) std::abort();  // the reader's invariant
  }
  auto graph = build_graph(*model);
  if (!graph.ok() && graph.error().message().empty()) std::abort();
  return 0;
}
