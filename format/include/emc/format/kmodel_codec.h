// Reading and writing whole kmodel V3 files.
//
// parse_kmodel() is the verifying parser: it takes a buffer and its size and returns a fully
// decoded, validated Kmodel or an Error naming the byte offset and the layer (index, type). It
// never reads outside the buffer and never aborts. Checks follow ../shared/docs/robustness.md §2.1.
// encode_kmodel() is the writer: absolute-offset tracking, explicit zero padding.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "emc/format/error.h"
#include "emc/format/kmodel_v3.h"

namespace emc::format {

struct ParseLimits {
  std::uint64_t max_file_bytes = 64ull * 1024 * 1024;
  std::uint32_t max_layers = 4096;
  std::uint32_t max_outputs = 64;
  std::uint32_t max_main_mem_bytes = 64u * 1024 * 1024;  // finite, larger than the chip's 6 MiB
};

// Parses and validates `data` (the whole file).
Result<Kmodel> parse_kmodel(std::span<const std::uint8_t> data, const ParseLimits& limits = {});

// Reads `path` and parses it; errors carry the file name.
Result<Kmodel> load_kmodel_file(const std::string& path, const ParseLimits& limits = {});

// The parser's semantic checks of one layer built in memory (a backend's prepare, a converter's
// self-check), against a main memory of `main_mem_bytes`: the same code parse_kmodel runs per
// layer. Errors name the field and its bound; byte offsets count from layer.body_offset. K210_CONV
// is checked without its register blobs' file offsets (use parse_kmodel for those).
Status validate_layer(const Layer& layer, std::uint64_t main_mem_bytes);

enum class EncodeLayout {
  // Our canonical layout: every body's end padded to 8, conv argument 8, weights 128, BN 128,
  // activation table 256 (nncase v0.1's alignments, accepted by the K210 SDK loader).
  kCanonical,
  // Reuse each layer's recorded body_offset/body_size and the conv blob offsets as decoded, so a
  // parsed file re-encodes byte for byte (Maix-EMC's unpadded bodies and 128-aligned tables).
  kPreserve,
};

struct EncodeOptions {
  EncodeLayout layout = EncodeLayout::kCanonical;
};

// Encodes a model. Fails with an Error naming the layer when a body is inconsistent (e.g. a
// conv whose blob sizes disagree with its registers).
Result<std::vector<std::uint8_t>> encode_kmodel(const Kmodel& model,
                                                const EncodeOptions& options = {});

// Writes `bytes` to `path` atomically (temporary file in the same folder, then rename): a failed
// or interrupted write leaves no partial file behind.
Status write_file_atomically(const std::string& path, std::span<const std::uint8_t> bytes);

}  // namespace emc::format
