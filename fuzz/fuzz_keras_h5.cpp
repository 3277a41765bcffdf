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

#include <hdf5.h>

#include "emc/converter/model_file.h"

namespace {
// Every input opens an HDF5 file, and every open callocs libhdf5's metadata cache (H5C_t, ~1 MB)
// and frees it on close. Past its free-list limits libhdf5 returns such blocks to malloc, and
// ASan maps a block that large afresh each time (page faults plus zeroing: ~80 % of a 4 KB input's
// time). Unlimited free lists keep the block inside libhdf5 for the next input (what libhdf5 does
// anyway below the limits); nothing in EMC's code or in what ASan checks of it changes.
const bool kHdf5FreeLists = H5set_free_list_limits(-1, -1, -1, -1, -1, -1) >= 0;
}  // namespace

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
