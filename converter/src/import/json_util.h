// Bounded JSON parsing and typed field access with errors that name the layer (private).
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "emc/format/error.h"

namespace emc::converter::detail {

using Json = nlohmann::json;

// Parses `text` with the depth limit enforced while parsing (an over-deep document is rejected
// before it is built). Errors are kJson with "line L, column C".
Result<Json> parse_json_bounded(std::string_view text, int max_depth, const std::string& source);

// Line and column (1-based) of byte `offset` in `text`.
std::pair<std::size_t, std::size_t> line_column(std::string_view text, std::size_t offset);

// Typed access to a layer's config. Every getter throws ErrorException (kInvalidLayerConfig or
// kInvalidModel) naming the layer, the key, what was found and what is expected.
class ConfigReader {
 public:
  ConfigReader(const Json& config, LayerRef layer) : config_(config), layer_(std::move(layer)) {}

  const LayerRef& layer() const { return layer_; }
  // True when `key` is present and not null.
  bool has(const char* key) const;
  // First present, non-null key among `keys` (TensorLayer aliases), or nullptr.
  const char* first_present(std::initializer_list<const char*> keys) const;
  // Printable description of the value at `key` ("null" when absent).
  std::string describe_key(const char* key) const;

  std::int64_t get_int(const char* key, std::int64_t lo, std::int64_t hi) const;
  std::optional<std::int64_t> opt_int(const char* key, std::int64_t lo, std::int64_t hi) const;
  double get_number(const char* key) const;
  std::optional<double> opt_number(const char* key) const;
  std::optional<bool> opt_bool(const char* key) const;
  std::optional<std::string> opt_string(const char* key) const;
  // An int or a list of `n` ints (Keras kernel_size / strides); each in [lo, hi].
  std::optional<std::vector<std::int64_t>> opt_int_tuple(const char* key, std::size_t n,
                                                         std::int64_t lo, std::int64_t hi) const;

  // An activation at the first present key of `keys`: a name, or a Keras 3 serialized function
  // {"config": "relu", ...}; nullopt when absent or null. Other values are an error.
  std::optional<std::string> opt_activation(std::initializer_list<const char*> keys) const;
  // Keras ZeroPadding2D padding: int, [h, w] or [[top, bottom], [left, right]] -> {t, b, l, r}.
  std::optional<std::array<std::int64_t, 4>> opt_padding4(const char* key, std::int64_t hi) const;
  // An integer axis, also accepted as a one-element list.
  std::optional<std::int64_t> opt_axis(const char* key) const;
  // Keras axes that may be several or none (Normalization): nullopt when absent; empty for
  // null or []; otherwise an integer or a list of up to 8 integers, each in [-9, 9].
  std::optional<std::vector<std::int64_t>> opt_axes(const char* key) const;
  // A list of 1..max_len integers in [lo, hi].
  std::optional<std::vector<std::int64_t>> opt_int_list(const char* key, std::int64_t lo,
                                                        std::int64_t hi, std::size_t max_len) const;
  // A finite number (one value) or a flat list of 1..max_len finite numbers (Normalization's
  // mean / variance); nullopt when absent or null.
  std::optional<std::vector<double>> opt_numbers(const char* key, std::size_t max_len) const;
  // A shape list whose entries may be null (batch_input_shape): nullopt entries for null.
  std::optional<std::vector<std::optional<std::int64_t>>> opt_dims(const char* key,
                                                                   std::size_t max_len) const;

  // Rejects keys that are neither in `handled` nor in the global list of attributes that do not
  // change inference results (docs/converter_frontend.md). Null values are tolerated.
  void check_known_keys(std::initializer_list<const char*> handled) const;

  [[noreturn]] void fail(Errc code, const std::string& message) const;

 private:
  const Json& config_;
  LayerRef layer_;
};

// Value of a JSON number as int64 if it is integral and within [lo, hi].
std::optional<std::int64_t> as_int(const Json& v, std::int64_t lo, std::int64_t hi);

// Short description of a JSON value for messages ("string \"causal\"", "array of 3", ...).
std::string describe(const Json& v);

}  // namespace emc::converter::detail
