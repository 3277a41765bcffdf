// The sidecar map `<kmodel>.map.json`: the one writer (convert() fills ConvertResult::sidecar_json)
// and the one reader (emc-run, emc-compare) of what the converter knows about a kmodel and the
// kmodel format cannot carry: the target, the input preprocessing, and per kmodel layer the Keras
// layers it came from and its output's quantization.
//
// A kmodel and its map are one unit: the map records the kmodel's size and 64-bit FNV-1a hash
// ("kmodel": {"bytes": N, "fnv1a64": "<16 hex digits>"}), and read_map_for_kmodel() refuses
// (kInvalidArgument) a map whose record does not match the kmodel's bytes, so no reader pairs one
// conversion's kmodel with another's map. A map without the record (older emc-convert) is read
// with a warning. Schema, one object:
//   format "emc-kmodel-map", version 1, target "k210"|"cpu", weight_bits, per_channel,
//   kmodel {bytes, fnv1a64},
//   input {type, layout, shape, preprocess {scale zero_one|minus_one_one|raw|mean_std, order
//          rgb|bgr, mean[3]?, std[3]?}, quant? [{scale, bias}...]},
//   layers [{index, type, placement, sources[], quant? {scale, bias}, dtype? uint8|int8|float32,
//            tensor? (the graph tensor it writes; "" none), layout? CHW|NHWC, map_shape? [H,W,C],
//            main_out? (byte offset of its main-memory output: the layer writing a model output
//            writes it at that kmodel output's address), ...}] — an int8 layer's quant maps the
//            signed code: real = q*scale + bias,
//   outputs, main_mem_usage, kpu_peak_bytes, warnings.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "emc/converter/convert.h"
#include "emc/converter/image.h"
#include "emc/format/error.h"

namespace emc::converter {

// real = q * scale + bias.
struct MapQuant {
  double scale = 1.0;
  double bias = 0.0;
};

struct MapLayer {
  std::size_t index = 0;
  std::string type;                        // "K210_CONV" (informational; the kmodel is the truth)
  std::vector<std::string> source_layers;  // Keras layers fused into this layer, in order
  std::string float_tensor;                // float-graph tensor its output corresponds to ("")
  bool float_tensor_stated = false;        // "tensor" given (an empty one: no counterpart)
  std::string dtype;                       // "uint8" / "int8" / "float32" / "" (unknown)
  std::string layout;                      // "CHW" / "NHWC" / "" (unknown)
  std::vector<std::uint32_t> map_shape;    // [H, W, C]: a vector stored as that map's CHW planes
  std::vector<std::uint32_t> out_shape;    // the output's shape ([] not recorded; informational)
  std::vector<MapQuant> quant;             // quantized outputs: 1 (per tensor) or C (per channel)
  std::optional<std::uint32_t> main_out;   // main-memory output offset in bytes (if it has one)
  // "sampling": a full-resolution map whose consumer does the stride-2 sampling holds the
  // tensor's pixel (y, x) at (y·step + offset, x·step + offset). 0: not stated (the map is the
  // tensor itself). Step 1, offset 0: the tensor is the top-left corner of a larger (padded) map.
  std::uint32_t sample_step = 0;
  std::uint32_t sample_offset = 0;
};

struct KmodelMap {
  std::string path;
  std::string target;  // "k210", "cpu" or "" (not recorded)
  std::optional<Preprocess> preprocess;
  std::optional<std::vector<MapQuant>> input_quant;  // uint8 input: real = q*scale + bias
  std::vector<MapLayer> layers;                      // by kmodel layer index (may be sparse)
  std::optional<std::uint64_t> kmodel_bytes;         // the kmodel it was written with
  std::string kmodel_fnv1a64;                        // 16 hex digits, "" if not recorded
  std::vector<std::string> warnings;                 // e.g. "no kmodel hash"

  const MapLayer* layer(std::size_t index) const;
  // The layer writing the float32 kmodel output at main-memory offset `address`: the last layer
  // that is not int8, states a graph tensor and has that main_out (nullptr: none recorded).
  const MapLayer* output_writer(std::uint32_t address) const;
};

// Maximum size of a map file the reader accepts.
inline constexpr std::uint64_t kMaxMapBytes = 64ull << 20;

// The map of a conversion (JSON text; non-UTF-8 bytes in names are replaced, never thrown on).
std::string write_map_json(const ConvertResult& result, const ConvertOptions& options);

// Parses map text (kJson with the parser's position on malformed JSON or out-of-range numbers,
// kInvalidArgument naming the key for a wrong type or a non-finite value). `path` is for messages.
Result<KmodelMap> parse_map(std::string_view text, const std::string& path);

// Reads and parses the map at `path` (at most kMaxMapBytes; a directory is a kIo error saying so).
Result<KmodelMap> read_map(const std::string& path);

// Checks that `map` was written for the kmodel whose bytes are `kmodel` (kInvalidArgument naming
// both files when the recorded size or hash differs). A map without the record passes, with a
// warning added to map.warnings.
Status check_map_matches(KmodelMap& map, std::span<const std::uint8_t> kmodel,
                         const std::string& kmodel_path);

// check_map_matches against the kmodel file at `kmodel_path`, hashed as it is read (the file is
// never held in memory: emc-run checks the map before loading the model).
Status check_map_matches_file(KmodelMap& map, const std::string& kmodel_path);

// read_map + check_map_matches against the kmodel file at `kmodel_path`.
Result<KmodelMap> read_map_for_kmodel(const std::string& map_path, const std::string& kmodel_path);

}  // namespace emc::converter
