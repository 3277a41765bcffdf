// libFuzzer harness for the .keras reader: the input bytes are a zip archive given to
// load_keras_archive_from_memory, the same path load_model takes after reading a .keras file ->
// EMC's zip reader (central directory, local headers, name rules, zip-bomb bounds, inflate, CRC)
// -> config.json through the Keras-config importer -> metadata.json -> model.weights.h5 through
// HDF5's core driver -> the Keras 3 / 2.13 weight-group mapping -> build_graph. Every input must
// give a Model/Graph or an emc::Error: never a crash, a hang or a sanitizer report.
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
  auto model = load_keras_archive_from_memory(bytes, "fuzz.keras", options);
  if (!model.ok()) {
    if (model.error().message().empty()) std::abort();
    return 0;
  }
  for (const auto& [name, w] : model->weights) {
    std::size_t n = 1;
    for (auto d : w.shape) n *= static_cast<std::size_t>(d);
    if (n != w.values.size()) std::abort();
  }
  auto graph = build_graph(*model);
  if (!graph.ok() && graph.error().message().empty()) std::abort();
  return 0;
}
