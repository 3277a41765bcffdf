// The sidecar map writer and reader (sidecar_map.h).
#include "emc/converter/sidecar_map.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "emc/format/file_io.h"

namespace emc::converter {
namespace {

using nlohmann::json;

Error bad(const std::string& path, const std::string& what) {
  return Error(Errc::kInvalidArgument, what).in_file(path);
}

const json* find_key(const json& obj, const char* name) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(name);
  return it != obj.end() && !it->is_null() ? &*it : nullptr;
}

Result<double> finite_number(const std::string& path, const json& v, const std::string& key) {
  if (!v.is_number()) return bad(path, "'" + key + "' must be a number");
  const double d = v.get<double>();
  if (!std::isfinite(d)) return bad(path, "'" + key + "' is not a finite number");
  return d;
}

Result<std::vector<MapQuant>> parse_quant(const std::string& path, const json& obj,
                                          const std::string& where) {
  std::vector<MapQuant> out;
  auto one = [&](const json& q, const std::string& key) -> Status {
    const json* s = find_key(q, "scale");
    const json* b = find_key(q, "bias");
    if (!s || !b) return bad(path, key + " needs 'scale' and 'bias'");
    auto sv = finite_number(path, *s, key + ".scale");
    if (!sv.ok()) return sv.error();
    if (!(*sv > 0)) return bad(path, key + ".scale must be > 0");
    auto bv = finite_number(path, *b, key + ".bias");
    if (!bv.ok()) return bv.error();
    out.push_back({*sv, *bv});
    return ok_status();
  };
  if (obj.is_array()) {
    if (obj.empty() || obj.size() > 4096) return bad(path, where + " must hold 1..4096 entries");
    for (std::size_t i = 0; i < obj.size(); ++i)
      EMC_TRY(one(obj[i], where + "[" + std::to_string(i) + "]"));
  } else {
    EMC_TRY(one(obj, where));
  }
  return out;
}

Result<Preprocess> parse_preprocess(const std::string& path, const json& p) {
  if (!p.is_object()) return bad(path, "input.preprocess must be an object");
  Preprocess pre;
  if (const json* mode = find_key(p, "scale")) {
    const std::string m = mode->is_string() ? mode->get<std::string>() : "";
    if (m == "zero_one") {
      pre.scale = PixelScale::kZeroOne;
    } else if (m == "minus_one_one") {
      pre.scale = PixelScale::kMinusOneOne;
    } else if (m == "raw") {
      pre.scale = PixelScale::kRaw;
    } else if (m == "mean_std") {
      pre.scale = PixelScale::kMeanStd;
    } else {
      return bad(path,
                 "input.preprocess.scale must be one of zero_one, minus_one_one, raw, "
                 "mean_std");
    }
  }
  auto triple = [&](const char* key, std::array<float, 3>& dst) -> Status {
    const json* v = find_key(p, key);
    if (!v) return ok_status();
    if (!v->is_array() || v->size() != 3)
      return bad(path, std::string("input.preprocess.") + key + " must be 3 numbers");
    for (std::size_t i = 0; i < 3; ++i) {
      auto d = finite_number(
          path, (*v)[i], std::string("input.preprocess.") + key + "[" + std::to_string(i) + "]");
      if (!d.ok()) return d.error();
      if (std::fabs(*d) > 1e30) {
        return bad(path, std::string("input.preprocess.") + key + "[" + std::to_string(i) +
                             "] is out of range");
      }
      dst[i] = static_cast<float>(*d);
    }
    return ok_status();
  };
  EMC_TRY(triple("mean", pre.mean));
  EMC_TRY(triple("std", pre.std));
  for (float s : pre.std) {
    if (!(s > 0)) return bad(path, "input.preprocess.std must be > 0");
  }
  if (const json* order = find_key(p, "order")) {
    const std::string o = order->is_string() ? order->get<std::string>() : "";
    if (o == "rgb") {
      pre.order = ChannelOrder::kRgb;
    } else if (o == "bgr") {
      pre.order = ChannelOrder::kBgr;
    } else {
      return bad(path, "input.preprocess.order must be \"rgb\" or \"bgr\"");
    }
  }
  return pre;
}

std::vector<std::string> strings(const json& v) {
  std::vector<std::string> out;
  if (v.is_array()) {
    for (const auto& e : v) {
      if (e.is_string()) out.push_back(e.get<std::string>());
    }
  } else if (v.is_string()) {
    out.push_back(v.get<std::string>());
  }
  return out;
}

std::string optional_string(const json& obj, const char* key) {
  const json* v = find_key(obj, key);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

Result<KmodelMap> parse_map_impl(std::string_view text, const std::string& path) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    // parse_error carries the byte position; out_of_range (406) a number like 1e999.
    return Error(Errc::kJson, std::string("not a valid map: ") + e.what()).in_file(path);
  }
  if (!j.is_object()) return bad(path, "the sidecar map must be a JSON object");

  KmodelMap m;
  m.path = path;
  m.target = optional_string(j, "target");
  if (const json* k = find_key(j, "kmodel")) {
    const json* bytes = find_key(*k, "bytes");
    const json* hash = find_key(*k, "fnv1a64");
    if (!bytes || !bytes->is_number_unsigned() || !hash || !hash->is_string() ||
        hash->get<std::string>().size() != 16) {
      return bad(path, "'kmodel' must be {\"bytes\": N, \"fnv1a64\": \"<16 hex digits>\"}");
    }
    m.kmodel_bytes = bytes->get<std::uint64_t>();
    m.kmodel_fnv1a64 = hash->get<std::string>();
  }
  if (const json* input = find_key(j, "input")) {
    if (const json* p = find_key(*input, "preprocess")) {
      auto pre = parse_preprocess(path, *p);
      if (!pre.ok()) return std::move(pre).error();
      m.preprocess = *pre;
    }
    if (const json* q = find_key(*input, "quant")) {
      auto qv = parse_quant(path, *q, "input.quant");
      if (!qv.ok()) return std::move(qv).error();
      m.input_quant = std::move(qv).value();
    }
  }
  if (const json* layers = find_key(j, "layers")) {
    if (!layers->is_array()) return bad(path, "'layers' must be an array");
    for (std::size_t i = 0; i < layers->size(); ++i) {
      const json& e = (*layers)[i];
      const std::string where = "layers[" + std::to_string(i) + "]";
      if (!e.is_object()) return bad(path, where + " must be an object");
      MapLayer l;
      const json* idx = find_key(e, "index");
      if (idx && !idx->is_number_unsigned()) return bad(path, where + ".index must be >= 0");
      l.index = idx ? idx->get<std::size_t>() : i;
      l.type = optional_string(e, "type");
      if (const json* s = find_key(e, "sources")) l.source_layers = strings(*s);
      l.float_tensor = optional_string(e, "tensor");
      l.float_tensor_stated = e.contains("tensor") && e["tensor"].is_string();
      if (const json* ms = find_key(e, "map_shape")) {
        if (!ms->is_array() || ms->size() != 3)
          return bad(path, where + ".map_shape must be [H, W, C]");
        for (const auto& d : *ms) {
          if (!d.is_number_unsigned() || d.get<std::uint64_t>() < 1 ||
              d.get<std::uint64_t>() > (1u << 24))
            return bad(path, where + ".map_shape must hold 3 sizes in 1..2^24");
          l.map_shape.push_back(d.get<std::uint32_t>());
        }
      }
      if (const json* os = find_key(e, "out_shape")) {
        if (!os->is_array() || os->size() > 8)
          return bad(path, where + ".out_shape must be a list of up to 8 sizes");
        for (const auto& d : *os) {
          if (!d.is_number_unsigned() || d.get<std::uint64_t>() > 0x7fffffffull)
            return bad(path, where + ".out_shape must hold sizes in 0..2^31-1");
          l.out_shape.push_back(d.get<std::uint32_t>());
        }
      }
      l.dtype = optional_string(e, "dtype");
      l.layout = optional_string(e, "layout");
      if (const json* mo = find_key(e, "main_out")) {
        if (!mo->is_number_unsigned() || mo->get<std::uint64_t>() > 0xffffffffull)
          return bad(path, where + ".main_out must be a byte offset in 0..2^32-1");
        l.main_out = mo->get<std::uint32_t>();
      }
      if (const json* q = find_key(e, "quant")) {
        auto qv = parse_quant(path, *q, where + ".quant");
        if (!qv.ok()) return std::move(qv).error();
        l.quant = std::move(qv).value();
      }
      if (const json* smp = find_key(e, "sampling")) {
        const json* st = find_key(*smp, "step");
        const json* of = find_key(*smp, "offset");
        if (!st || !of || !st->is_number_unsigned() || !of->is_number_unsigned() ||
            st->get<std::uint64_t>() < 1 || st->get<std::uint64_t>() > 16 ||
            of->get<std::uint64_t>() >= st->get<std::uint64_t>()) {
          return bad(path, where + ".sampling must be {step: 1..16, offset: 0..step-1}");
        }
        l.sample_step = st->get<std::uint32_t>();
        l.sample_offset = of->get<std::uint32_t>();
      }
      m.layers.push_back(std::move(l));
    }
  }
  return m;
}

}  // namespace

const MapLayer* KmodelMap::layer(std::size_t index) const {
  for (const auto& l : layers) {
    if (l.index == index) return &l;
  }
  return nullptr;
}

const MapLayer* KmodelMap::output_writer(std::uint32_t address) const {
  const MapLayer* writer = nullptr;
  for (const auto& l : layers) {
    if (l.float_tensor_stated && !l.float_tensor.empty() && l.dtype != "int8" && l.main_out &&
        *l.main_out == address)
      writer = &l;
  }
  return writer;
}

std::string write_map_json(const ConvertResult& r, const ConvertOptions& o) {
  nlohmann::json j;
  j["format"] = "emc-kmodel-map";
  j["version"] = 1;
  j["kmodel"] = {{"bytes", r.bytes.size()}, {"fnv1a64", format::fnv1a64_hex(r.bytes)}};
  j["target"] = std::string(o.target->name);
  j["weight_bits"] = o.weight_bits;
  j["per_channel"] = o.per_channel;
  j["cross_layer_equalization"] = o.equalize;
  j["input"] = {{"type", r.input_is_uint8 ? "uint8" : "float32"},
                {"layout", r.input_is_uint8 ? "CHW" : "NHWC"},
                {"shape", r.input_shape}};
  // How pixels became the model's float input (emc-convert --input-range/--bgr), so tools that
  // feed images (emc-compare) use the same preprocessing without being told again.
  const Preprocess& pre = o.preprocess;
  const char* scale = pre.scale == PixelScale::kZeroOne       ? "zero_one"
                      : pre.scale == PixelScale::kMinusOneOne ? "minus_one_one"
                      : pre.scale == PixelScale::kRaw         ? "raw"
                                                              : "mean_std";
  j["input"]["preprocess"] = {{"scale", scale},
                              {"order", pre.order == ChannelOrder::kBgr ? "bgr" : "rgb"}};
  if (pre.scale == PixelScale::kMeanStd) {
    j["input"]["preprocess"]["mean"] = pre.mean;
    j["input"]["preprocess"]["std"] = pre.std;
  }
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& l : r.layers) {
    nlohmann::json e;
    e["index"] = l.index;
    e["type"] = std::string(format::to_string(l.type));
    e["placement"] = l.on_kpu ? "KPU" : "CPU";
    e["sources"] = l.sources;
    if (!l.note.empty()) e["note"] = l.note;
    if (!l.in_shape.empty()) e["in_shape"] = l.in_shape;
    if (!l.out_shape.empty()) e["out_shape"] = l.out_shape;
    if (l.out_scale) e["quant"] = {{"scale", *l.out_scale}, {"bias", *l.out_bias}};
    if (l.out_int8) e["dtype"] = "int8";  // real = (the byte as int8) * scale + bias
    if (!l.off_kpu_reason.empty()) e["off_kpu"] = l.off_kpu_reason;
    if (!l.layout.empty()) e["layout"] = l.layout;
    if (!l.dtype.empty()) e["dtype"] = l.dtype;
    if (l.float_tensor) e["tensor"] = *l.float_tensor;
    if (!l.map_shape.empty()) e["map_shape"] = l.map_shape;
    if (l.kpu_in_row) e["kpu_in_row"] = *l.kpu_in_row;
    if (l.kpu_out_row) e["kpu_out_row"] = *l.kpu_out_row;
    if (l.main_in) e["main_in"] = *l.main_in;
    if (l.main_out) e["main_out"] = *l.main_out;
    if (l.weight_bytes) e["weight_bytes"] = l.weight_bytes;
    if (l.sample_step != 1 || l.padded_map)
      e["sampling"] = {{"step", l.sample_step}, {"offset", l.sample_offset}};
    if (l.border_error) e["border_error"] = *l.border_error;
    if (l.rounding_error) {
      e["rounding_error"] = *l.rounding_error;
      e["output_range"] = l.output_range.value_or(0.0);
    }
    if (l.act_fit_error_lsb) {
      e["activation"] = l.activation;
      e["activation_max_error_lsb"] = *l.act_fit_error_lsb;
    }
    layers.push_back(std::move(e));
  }
  j["layers"] = std::move(layers);
  nlohmann::json outs = nlohmann::json::array();
  for (const auto& od : r.model.outputs)
    outs.push_back({{"address", od.address}, {"size", od.size}});
  j["outputs"] = std::move(outs);
  j["main_mem_usage"] = r.main_mem_bytes;
  j["kpu_peak_bytes"] = r.kpu_peak_bytes;
  j["warnings"] = r.warnings;
  if (!r.calibration.empty()) {
    nlohmann::json cal = nlohmann::json::array();
    for (const auto& c : r.calibration) {
      cal.push_back({{"tensor", c.tensor},
                     {"min", c.min},
                     {"max", c.max},
                     {"observed_min", c.observed_min},
                     {"observed_max", c.observed_max},
                     {"clipped_fraction", c.clipped_fraction},
                     {"values", c.values}});
    }
    j["calibration"] = std::move(cal);
  }
  return j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<KmodelMap> parse_map(std::string_view text, const std::string& path) {
  return no_throw("reading the sidecar map", [&] { return parse_map_impl(text, path); });
}

Result<KmodelMap> read_map(const std::string& path) {
  auto text = format::read_text_bounded(path, kMaxMapBytes, "sidecar map");
  if (!text.ok()) return std::move(text).error();
  return parse_map(*text, path);
}

namespace {

// The check of check_map_matches on a kmodel of `size` bytes whose hash is `hash` (16 hex digits).
Status check_map_digest(KmodelMap& map, const std::string& hash, std::uint64_t size,
                        const std::string& kmodel_path) {
  if (hash != map.kmodel_fnv1a64 || (map.kmodel_bytes && *map.kmodel_bytes != size)) {
    return Error(Errc::kInvalidArgument,
                 "this map was written for a different kmodel (" +
                     std::to_string(map.kmodel_bytes.value_or(0)) + " bytes, FNV-1a " +
                     map.kmodel_fnv1a64 + ") than " + kmodel_path + " (" + std::to_string(size) +
                     " bytes, FNV-1a " + hash + "): convert again, or delete the stale map")
        .in_file(map.path);
  }
  return ok_status();
}

bool warn_unrecorded(KmodelMap& map, const std::string& kmodel_path) {
  if (!map.kmodel_fnv1a64.empty()) return false;
  map.warnings.push_back(map.path +
                         " does not record which kmodel it belongs to (written by an "
                         "older emc-convert): it is assumed to match " +
                         kmodel_path);
  return true;
}

}  // namespace

Status check_map_matches_file(KmodelMap& map, const std::string& kmodel_path) {
  if (warn_unrecorded(map, kmodel_path)) return ok_status();
  auto d = format::digest_file(kmodel_path, "kmodel");
  if (!d.ok()) return std::move(d).error();
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(d->fnv1a64));
  return check_map_digest(map, hex, d->bytes, kmodel_path);
}

Status check_map_matches(KmodelMap& map, std::span<const std::uint8_t> kmodel,
                         const std::string& kmodel_path) {
  if (warn_unrecorded(map, kmodel_path)) return ok_status();
  return check_map_digest(map, format::fnv1a64_hex(kmodel), kmodel.size(), kmodel_path);
}

Result<KmodelMap> read_map_for_kmodel(const std::string& map_path, const std::string& kmodel_path) {
  auto map = read_map(map_path);
  if (!map.ok()) return map;
  EMC_TRY(check_map_matches_file(*map, kmodel_path));
  return map;
}

}  // namespace emc::converter
