#include "json_util.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <set>

namespace emc::converter::detail {
namespace {

struct DepthExceeded {
  std::size_t depth;
};

// Attributes that never change an inference result. Anything else a layer does not handle is an
// error, so a new Keras attribute cannot be silently ignored.
const std::set<std::string, std::less<>> kIgnorableKeys = {"name",
                                                           "trainable",
                                                           "dtype",
                                                           "kernel_initializer",
                                                           "bias_initializer",
                                                           "depthwise_initializer",
                                                           "beta_initializer",
                                                           "gamma_initializer",
                                                           "moving_mean_initializer",
                                                           "moving_variance_initializer",
                                                           "kernel_regularizer",
                                                           "bias_regularizer",
                                                           "depthwise_regularizer",
                                                           "beta_regularizer",
                                                           "gamma_regularizer",
                                                           "activity_regularizer",
                                                           "kernel_constraint",
                                                           "bias_constraint",
                                                           "depthwise_constraint",
                                                           "beta_constraint",
                                                           "gamma_constraint",
                                                           "momentum",
                                                           "renorm",
                                                           "renorm_clipping",
                                                           "renorm_momentum",
                                                           "fused",
                                                           "virtual_batch_size",
                                                           "adjustment",
                                                           "synchronized",
                                                           "seed",
                                                           "noise_shape",
                                                           "rate",
                                                           "batch_size",
                                                           "sparse",
                                                           "ragged",
                                                           "input_dim",
                                                           "input_length",
                                                           "batch_input_shape",
                                                           "batch_shape",
                                                           "input_shape",
                                                           "is_train",
                                                           "decay",
                                                           "layer_type",
                                                           "in_channels",
                                                           "num_features",
                                                           "W_init",
                                                           "b_init",
                                                           "W_init_args",
                                                           "b_init_args",
                                                           "moving_mean_init",
                                                           "moving_var_init",
                                                           "beta_init",
                                                           "gamma_init",
                                                           "autocast",
                                                           "input_spec"};
// lora_rank / quantization_config: only a non-null value would change the result, and non-null
// values are rejected by check_known_keys below.
const std::set<std::string, std::less<>> kIgnorableOnlyWhenNull = {
    "lora_rank", "lora_alpha", "quantization_config", "kernel_quantizer"};

}  // namespace

std::pair<std::size_t, std::size_t> line_column(std::string_view text, std::size_t offset) {
  offset = std::min(offset, text.size());
  std::size_t line = 1, col = 1;
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return {line, col};
}

Result<Json> parse_json_bounded(std::string_view text, int max_depth, const std::string& source) {
  const auto limit = static_cast<std::size_t>(std::max(max_depth, 1));
  Json::parser_callback_t cb = [limit](int depth, Json::parse_event_t event, Json&) {
    if ((event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start) &&
        static_cast<std::size_t>(depth) >= limit)
      throw DepthExceeded{static_cast<std::size_t>(depth) + 1};
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/true,
                       /*ignore_comments=*/false);
  } catch (const DepthExceeded& e) {
    return Error(Errc::kJson, "JSON nesting depth exceeds " + std::to_string(limit) + " (reached " +
                                  std::to_string(e.depth) + ")")
        .in_file(source);
  } catch (const Json::parse_error& e) {
    // e.byte is 1-based: the position of the offending character.
    auto [line, col] = line_column(text, e.byte > 0 ? e.byte - 1 : 0);
    std::string what = e.what();
    // Keep nlohmann's description but drop its "[json.exception...] parse error at ...: " prefix.
    auto pos = what.find(": ");
    if (pos != std::string::npos) what = what.substr(pos + 2);
    return Error(Errc::kJson, "malformed JSON at line " + std::to_string(line) + ", column " +
                                  std::to_string(col) + ": " + what)
        .in_file(source);
  } catch (const std::exception& e) {
    return Error(Errc::kJson, std::string("malformed JSON: ") + e.what()).in_file(source);
  }
}

std::optional<std::int64_t> as_int(const Json& v, std::int64_t lo, std::int64_t hi) {
  if (v.is_number_integer()) {
    if (v.is_number_unsigned()) {
      auto u = v.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
      auto s = static_cast<std::int64_t>(u);
      if (s < lo || s > hi) return std::nullopt;
      return s;
    }
    auto s = v.get<std::int64_t>();
    if (s < lo || s > hi) return std::nullopt;
    return s;
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (!std::isfinite(d) || d != std::floor(d) || d < static_cast<double>(lo) ||
        d > static_cast<double>(hi))
      return std::nullopt;
    return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

std::string describe(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return v.get<bool>() ? "true" : "false";
    case Json::value_t::string: {
      std::string s = v.get<std::string>();
      if (s.size() > 64) s = s.substr(0, 64) + "...";
      return "\"" + s + "\"";
    }
    case Json::value_t::array:
      return "an array of " + std::to_string(v.size());
    case Json::value_t::object:
      return "an object";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float: {
      char buf[40];
      std::snprintf(buf, sizeof buf, "%.17g", v.get<double>());
      return buf;
    }
    default:
      return "an unsupported JSON value";
  }
}

void ConfigReader::fail(Errc code, const std::string& message) const {
  throw ErrorException(Error(code, message).with_layer(layer_));
}

bool ConfigReader::has(const char* key) const {
  auto it = config_.find(key);
  return it != config_.end() && !it->is_null();
}

const char* ConfigReader::first_present(std::initializer_list<const char*> keys) const {
  for (const char* k : keys)
    if (has(k)) return k;
  return nullptr;
}

std::string ConfigReader::describe_key(const char* key) const {
  return has(key) ? describe(config_.at(key)) : "null";
}

std::optional<std::string> ConfigReader::opt_activation(
    std::initializer_list<const char*> keys) const {
  const char* key = first_present(keys);
  if (!key) return std::nullopt;
  const Json& v = config_.at(key);
  if (v.is_string() && v.get_ref<const std::string&>().size() <= 256) return v.get<std::string>();
  if (v.is_object() && v.contains("config") && v["config"].is_string() &&
      v["config"].get_ref<const std::string&>().size() <= 256)
    return v["config"].get<std::string>();  // Keras 3 serialized function
  fail(Errc::kInvalidLayerConfig,
       std::string("'") + key + "' = " + describe(v) +
           " is not supported: custom activation functions cannot be converted");
}

std::optional<std::array<std::int64_t, 4>> ConfigReader::opt_padding4(const char* key,
                                                                      std::int64_t hi) const {
  if (!has(key)) return std::nullopt;
  const Json& v = config_.at(key);
  if (auto x = as_int(v, 0, hi)) return std::array<std::int64_t, 4>{*x, *x, *x, *x};
  if (v.is_array() && v.size() == 2) {
    auto a = as_int(v[0], 0, hi), b = as_int(v[1], 0, hi);
    if (a && b) return std::array<std::int64_t, 4>{*a, *a, *b, *b};
    if (v[0].is_array() && v[1].is_array() && v[0].size() == 2 && v[1].size() == 2) {
      auto t = as_int(v[0][0], 0, hi), bo = as_int(v[0][1], 0, hi);
      auto l = as_int(v[1][0], 0, hi), r = as_int(v[1][1], 0, hi);
      if (t && bo && l && r) return std::array<std::int64_t, 4>{*t, *bo, *l, *r};
    }
  }
  fail(Errc::kInvalidLayerConfig,
       std::string("'") + key + "' = " + describe(v) +
           " is not supported; expected an int, [h, w] or [[top, bottom], [left, right]]");
}

std::optional<std::int64_t> ConfigReader::opt_axis(const char* key) const {
  if (!has(key)) return std::nullopt;
  const Json& a = config_.at(key);
  const Json& a0 = (a.is_array() && a.size() == 1) ? a[0] : a;
  auto ax = as_int(a0, -9, 9);
  if (!ax)
    fail(Errc::kInvalidLayerConfig,
         std::string("'") + key + "' = " + describe(a) + " is not supported: expected one axis");
  return ax;
}

std::optional<std::vector<std::int64_t>> ConfigReader::opt_axes(const char* key) const {
  auto it = config_.find(key);
  if (it == config_.end()) return std::nullopt;
  if (it->is_null() || (it->is_array() && it->empty())) return std::vector<std::int64_t>{};
  if (!it->is_array()) {
    if (auto a = as_int(*it, -9, 9)) return std::vector<std::int64_t>{*a};
  } else {
    return opt_int_list(key, -9, 9, 8);
  }
  fail(Errc::kInvalidLayerConfig, std::string("'") + key + "' = " + describe(*it) +
                                      ": expected an axis, a list of axes or null");
}

std::optional<std::vector<std::int64_t>> ConfigReader::opt_int_list(const char* key,
                                                                    std::int64_t lo,
                                                                    std::int64_t hi,
                                                                    std::size_t max_len) const {
  if (!has(key)) return std::nullopt;
  const Json& v = config_.at(key);
  std::vector<std::int64_t> out;
  bool ok = v.is_array() && !v.empty() && v.size() <= max_len;
  if (ok)
    for (const Json& e : v) {
      auto x = as_int(e, lo, hi);
      if (!x) {
        ok = false;
        break;
      }
      out.push_back(*x);
    }
  if (!ok)
    fail(Errc::kInvalidLayerConfig, std::string("'") + key + "' = " + describe(v) +
                                        ": expected a list of 1 to " + std::to_string(max_len) +
                                        " integers in [" + std::to_string(lo) + ", " +
                                        std::to_string(hi) + "]");
  return out;
}

std::optional<std::vector<std::optional<std::int64_t>>> ConfigReader::opt_dims(
    const char* key, std::size_t max_len) const {
  if (!has(key)) return std::nullopt;
  const Json& v = config_.at(key);
  if (!v.is_array() || v.size() > max_len)
    fail(Errc::kInvalidModel, std::string("'") + key + "' = " + describe(v) +
                                  ": expected a list of at most " + std::to_string(max_len) +
                                  " dims");
  std::vector<std::optional<std::int64_t>> out;
  for (const Json& e : v) {
    if (e.is_null()) {
      out.push_back(std::nullopt);
      continue;
    }
    auto x = as_int(e, 0, std::int64_t{1} << 40);
    if (!x) fail(Errc::kInvalidModel, std::string("'") + key + "' has a bad dim " + describe(e));
    out.push_back(*x);
  }
  return out;
}

std::optional<std::int64_t> ConfigReader::opt_int(const char* key, std::int64_t lo,
                                                  std::int64_t hi) const {
  if (!has(key)) return std::nullopt;
  const Json& v = config_.at(key);
  auto r = as_int(v, lo, hi);
  if (!r)
    fail(Errc::kInvalidLayerConfig, std::string("'") + key + "' is " + describe(v) +
                                        ": expected an integer in [" + std::to_string(lo) + ", " +
                                        std::to_string(hi) + "]");
  return r;
}

std::int64_t ConfigReader::get_int(const char* key, std::int64_t lo, std::int64_t hi) const {
  auto r = opt_int(key, lo, hi);
  if (!r) fail(Errc::kInvalidLayerConfig, std::string("missing required attribute '") + key + "'");
  return *r;
}

std::optional<double> ConfigReader::opt_number(const char* key) const {
  if (!has(key)) return std::nullopt;
  const Json& v = config_.at(key);
  if (!v.is_number() || !std::isfinite(v.get<double>()))
    fail(Errc::kInvalidLayerConfig,
         std::string("'") + key + "' is " + describe(v) + ": expected a finite number");
  return v.get<double>();
}

std::optional<std::vector<double>> ConfigReader::opt_numbers(const char* key,
                                                             std::size_t max_len) const {
  if (!has(key)) return std::nullopt;
  const Json& v = config_.at(key);
  auto finite = [](const Json& e) { return e.is_number() && std::isfinite(e.get<double>()); };
  std::vector<double> out;
  if (finite(v)) {
    out.push_back(v.get<double>());
  } else if (v.is_array() && !v.empty() && v.size() <= max_len &&
             std::all_of(v.begin(), v.end(), finite)) {
    for (const Json& e : v) out.push_back(e.get<double>());
  } else {
    fail(Errc::kInvalidLayerConfig, std::string("'") + key + "' = " + describe(v) +
                                        ": expected a finite number or a flat list of 1 to " +
                                        std::to_string(max_len) + " finite numbers");
  }
  return out;
}

double ConfigReader::get_number(const char* key) const {
  auto r = opt_number(key);
  if (!r) fail(Errc::kInvalidLayerConfig, std::string("missing required attribute '") + key + "'");
  return *r;
}

std::optional<bool> ConfigReader::opt_bool(const char* key) const {
  if (!has(key)) return std::nullopt;
  const Json& v = config_.at(key);
  if (!v.is_boolean())
    fail(Errc::kInvalidLayerConfig,
         std::string("'") + key + "' is " + describe(v) + ": expected true or false");
  return v.get<bool>();
}

std::optional<std::string> ConfigReader::opt_string(const char* key) const {
  if (!has(key)) return std::nullopt;
  const Json& v = config_.at(key);
  if (!v.is_string() || v.get_ref<const std::string&>().size() > 4096)
    fail(Errc::kInvalidLayerConfig,
         std::string("'") + key + "' is " + describe(v) + ": expected a string");
  return v.get<std::string>();
}

std::optional<std::vector<std::int64_t>> ConfigReader::opt_int_tuple(const char* key, std::size_t n,
                                                                     std::int64_t lo,
                                                                     std::int64_t hi) const {
  if (!has(key)) return std::nullopt;
  const Json& v = config_.at(key);
  std::vector<std::int64_t> out;
  if (v.is_number()) {
    auto x = as_int(v, lo, hi);
    if (x) out.assign(n, *x);
  } else if (v.is_array() && v.size() == n) {
    for (const Json& e : v) {
      auto x = as_int(e, lo, hi);
      if (!x) break;
      out.push_back(*x);
    }
  }
  if (out.size() != n)
    fail(Errc::kInvalidLayerConfig, std::string("'") + key + "' is " + describe(v) +
                                        ": expected an integer or a list of " + std::to_string(n) +
                                        " integers in [" + std::to_string(lo) + ", " +
                                        std::to_string(hi) + "]");
  return out;
}

void ConfigReader::check_known_keys(std::initializer_list<const char*> handled) const {
  if (!config_.is_object()) return;
  for (auto it = config_.begin(); it != config_.end(); ++it) {
    const std::string& k = it.key();
    if (std::any_of(handled.begin(), handled.end(), [&](const char* h) { return k == h; }))
      continue;
    if (kIgnorableOnlyWhenNull.count(k)) {
      if (it->is_null()) continue;
      fail(Errc::kInvalidLayerConfig,
           "'" + k + "' = " + describe(*it) + " is not supported (only null)");
    }
    if (kIgnorableKeys.count(k)) continue;
    if (it->is_null()) continue;
    std::string known;
    for (const char* h : handled) known += std::string(known.empty() ? "" : ", ") + h;
    fail(Errc::kInvalidLayerConfig, "attribute '" + k + "' (= " + describe(*it) +
                                        ") is not understood; this class supports: " + known);
  }
}

}  // namespace emc::converter::detail
