#include "sidecar.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "inputs.h"

namespace emc::compare {
namespace {

using nlohmann::json;

constexpr std::uint64_t kMaxSidecarBytes = 64ull << 20;

Error bad(const std::string& path, const std::string& what) {
  return Error(Errc::kInvalidArgument, what).in_file(path);
}

// First present key of `names` in `obj`, or nullptr.
const json* find_key(const json& obj, std::initializer_list<const char*> names) {
  if (!obj.is_object()) return nullptr;
  for (const char* n : names) {
    auto it = obj.find(n);
    if (it != obj.end() && !it->is_null()) return &*it;
  }
  return nullptr;
}

Result<double> number(const std::string& path, const json& v, const std::string& key) {
  if (!v.is_number()) return bad(path, "'" + key + "' must be a number");
  return v.get<double>();
}

Result<std::vector<AffineQuant>> parse_quant(const std::string& path, const json& obj,
                                             const std::string& where) {
  std::vector<AffineQuant> out;
  auto one = [&](const json& q, const std::string& key) -> Status {
    const json* s = find_key(q, {"scale"});
    const json* b = find_key(q, {"bias"});
    const json* z = find_key(q, {"zero_point"});
    if (!s || (!b && !z)) return bad(path, key + " needs 'scale' and 'bias' (or 'zero_point')");
    auto sv = number(path, *s, key + ".scale");
    if (!sv.ok()) return sv.error();
    if (!(*sv > 0)) return bad(path, key + ".scale must be > 0");
    double bias = 0;
    if (b) {
      auto bv = number(path, *b, key + ".bias");
      if (!bv.ok()) return bv.error();
      bias = *bv;
    } else {
      auto zv = number(path, *z, key + ".zero_point");
      if (!zv.ok()) return zv.error();
      bias = -*zv * *sv;
    }
    out.push_back({*sv, bias});
    return ok_status();
  };
  if (obj.is_array()) {
    for (std::size_t i = 0; i < obj.size(); ++i)
      EMC_TRY(one(obj[i], where + "[" + std::to_string(i) + "]"));
  } else {
    EMC_TRY(one(obj, where));
  }
  return out;
}

Result<converter::Preprocess> parse_preprocess(const std::string& path, const json& p) {
  if (!p.is_object()) return bad(path, "input preprocessing must be an object");
  converter::Preprocess pre;
  if (const json* range = find_key(p, {"range"}); range && !find_key(p, {"scale", "mode"})) {
    if (!range->is_array() || range->size() != 2 || !(*range)[0].is_number() ||
        !(*range)[1].is_number()) {
      return bad(path, "input.preprocess.range must be [min, max]");
    }
    auto r = preprocess_from_range((*range)[0].get<double>(), (*range)[1].get<double>());
    if (!r.ok()) return std::move(r).error().in_file(path);
    pre = *r;
  } else if (const json* mode = find_key(p, {"scale", "mode"})) {
    if (!mode->is_string()) return bad(path, "input.preprocess.scale must be a string");
    const std::string m = mode->get<std::string>();
    if (m == "zero_one" || m == "0_1" || m == "kZeroOne") {
      pre.scale = converter::PixelScale::kZeroOne;
    } else if (m == "minus_one_one" || m == "-1_1" || m == "kMinusOneOne") {
      pre.scale = converter::PixelScale::kMinusOneOne;
    } else if (m == "raw" || m == "0_255" || m == "kRaw") {
      pre.scale = converter::PixelScale::kRaw;
    } else if (m == "mean_std" || m == "kMeanStd") {
      pre.scale = converter::PixelScale::kMeanStd;
    } else {
      return bad(path, "input.preprocess.scale '" + m +
                           "' is not one of zero_one, minus_one_one, raw, mean_std");
    }
  }
  auto triple = [&](const char* key, std::array<float, 3>& dst) -> Status {
    const json* v = find_key(p, {key});
    if (!v) return ok_status();
    if (v->is_number()) {
      dst.fill(v->get<float>());
      return ok_status();
    }
    if (!v->is_array() || v->empty() || v->size() > 3) {
      return bad(path, std::string("input.preprocess.") + key + " must be a number or 1-3 numbers");
    }
    for (std::size_t i = 0; i < 3; ++i) {
      const json& e = (*v)[std::min(i, v->size() - 1)];
      if (!e.is_number())
        return bad(path, std::string("input.preprocess.") + key + " must hold numbers");
      dst[i] = e.get<float>();
    }
    return ok_status();
  };
  EMC_TRY(triple("mean", pre.mean));
  EMC_TRY(triple("std", pre.std));
  for (float s : pre.std) {
    if (!(s > 0)) return bad(path, "input.preprocess.std must be > 0");
  }
  if (const json* order = find_key(p, {"order", "channel_order"})) {
    const std::string o = order->is_string() ? order->get<std::string>() : "";
    if (o == "rgb" || o == "RGB" || o == "kRgb") {
      pre.order = converter::ChannelOrder::kRgb;
    } else if (o == "bgr" || o == "BGR" || o == "kBgr") {
      pre.order = converter::ChannelOrder::kBgr;
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

}  // namespace

const SidecarLayer* Sidecar::layer(std::size_t index) const {
  for (const auto& l : layers) {
    if (l.index == index) return &l;
  }
  return nullptr;
}

Result<Sidecar> read_sidecar(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return Error(Errc::kIo, "cannot open the sidecar map").in_file(path);
  const auto size = static_cast<std::uint64_t>(in.tellg());
  if (size > kMaxSidecarBytes) return bad(path, "sidecar map larger than 64 MiB");
  in.seekg(0);
  std::string text(size, '\0');
  in.read(text.data(), static_cast<std::streamsize>(size));
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    return Error(Errc::kJson, e.what()).in_file(path);
  }
  if (!j.is_object()) return bad(path, "the sidecar map must be a JSON object");

  Sidecar sc;
  sc.path = path;
  if (const json* input = find_key(j, {"input"})) {
    if (const json* p = find_key(*input, {"preprocess", "preprocessing"})) {
      auto pre = parse_preprocess(path, *p);
      if (!pre.ok()) return std::move(pre).error();
      sc.preprocess = *pre;
    }
    if (const json* q = find_key(*input, {"quant", "quantization"})) {
      auto qv = parse_quant(path, *q, "input.quant");
      if (!qv.ok()) return std::move(qv).error();
      sc.input_quant = std::move(qv).value();
    }
  }

  if (const json* layers = find_key(j, {"layers"})) {
    if (!layers->is_array()) return bad(path, "'layers' must be an array");
    for (std::size_t i = 0; i < layers->size(); ++i) {
      const json& e = (*layers)[i];
      const std::string where = "layers[" + std::to_string(i) + "]";
      if (!e.is_object()) return bad(path, where + " must be an object");
      SidecarLayer l;
      const json* idx = find_key(e, {"index"});
      if (idx && !idx->is_number_unsigned()) return bad(path, where + ".index must be >= 0");
      l.index = idx ? idx->get<std::size_t>() : i;
      if (const json* t = find_key(e, {"type"}); t && t->is_string())
        l.type = t->get<std::string>();
      if (const json* s = find_key(e, {"sources", "source_layers"})) l.source_layers = strings(*s);
      if (const json* t = find_key(e, {"tensor", "float_tensor", "output_tensor"});
          t && t->is_string()) {
        l.float_tensor = t->get<std::string>();
      }
      if (const json* d = find_key(e, {"dtype", "out_dtype"}); d && d->is_string()) {
        l.dtype = d->get<std::string>();
      }
      if (const json* d = find_key(e, {"layout", "out_layout"}); d && d->is_string()) {
        l.layout = d->get<std::string>();
      }
      if (const json* q = find_key(e, {"quant", "out_quant", "output_quant"})) {
        auto qv = parse_quant(path, *q, where + ".quant");
        if (!qv.ok()) return std::move(qv).error();
        l.quant = std::move(qv).value();
      } else if (const json* s = find_key(e, {"out_scale"})) {
        const json pair = {{"scale", *s}, {"bias", e.value("out_bias", json(0.0))}};
        auto qv = parse_quant(path, pair, where + ".out_scale/out_bias");
        if (!qv.ok()) return std::move(qv).error();
        l.quant = std::move(qv).value();
      }
      if (const json* smp = find_key(e, {"sampling"})) {
        const json* st = smp->is_object() ? find_key(*smp, {"step"}) : nullptr;
        const json* of = smp->is_object() ? find_key(*smp, {"offset"}) : nullptr;
        if (!st || !of || !st->is_number_unsigned() || !of->is_number_unsigned() ||
            st->get<std::uint64_t>() < 1 || st->get<std::uint64_t>() > 16 ||
            of->get<std::uint64_t>() >= st->get<std::uint64_t>()) {
          return bad(path, where + ".sampling must be {step: 1..16, offset: 0..step-1}");
        }
        l.sample_step = st->get<std::uint32_t>();
        l.sample_offset = of->get<std::uint32_t>();
      }
      sc.layers.push_back(std::move(l));
    }
  }
  return sc;
}

}  // namespace emc::compare
