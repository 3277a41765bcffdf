// libFuzzer harness for the kmodel V3 parser (see fuzz/README.md).
// Every input must give ok or an Error (never a crash, over-read or UB). For accepted inputs the
// canonical re-encode must parse again and preserve re-encode must reproduce the input exactly.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "emc/format/kmodel_codec.h"

namespace {
volatile int g_sink = 0;  // consume results so the optimiser cannot drop the parse
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Exactly sized heap copy: over-reads hit the ASan redzone under every fuzzing engine.
  const std::vector<std::uint8_t> input(data, data + size);
  emc::format::ParseLimits limits;
  limits.max_file_bytes = 4u << 20;  // bounded work per input
  auto model = emc::format::parse_kmodel(input, limits);
  if (!model.ok()) {
    g_sink = g_sink + static_cast<int>(model.error().message().size());
    return 0;
  }
  auto preserved = emc::format::encode_kmodel(*model, {emc::format::EncodeLayout::kPreserve});
  auto canonical = emc::format::encode_kmodel(*model, {emc::format::EncodeLayout::kCanonical});
  if (!canonical.ok()) std::abort();  // a parsed model must always be encodable
  auto again = emc::format::parse_kmodel(*canonical);
  if (!again.ok()) std::abort();  // the writer produced a file our parser rejects
  if (again->layers.size() != model->layers.size()) std::abort();
  // kPreserve reproduces the input when its padding bytes are zero (all real files); a fuzzed
  // input may carry non-zero padding, so only the size is invariant.
  if (preserved.ok() && preserved->size() != input.size()) std::abort();
  g_sink = g_sink + static_cast<int>(canonical->size());
  return 0;
}
