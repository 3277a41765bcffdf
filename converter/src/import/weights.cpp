#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "weights_decode.h"

namespace emc::converter {

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = (h >> 15) & 1u;
  const std::uint32_t exp = (h >> 10) & 0x1fu;
  const std::uint32_t mant = h & 0x3ffu;
  float v;
  if (exp == 0) {
    v = std::ldexp(static_cast<float>(mant), -24);  // zero or subnormal: mant * 2^-24
  } else if (exp == 31) {
    v = mant ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
  } else {
    v = std::ldexp(static_cast<float>(mant | 0x400u), static_cast<int>(exp) - 25);
  }
  return sign ? -v : v;
}

namespace {

Status check_relative_path(const std::string& path) {
  auto bad = [&](const std::string& why) {
    return Error(Errc::kInvalidModel, "weight shard path '" + path + "' " + why);
  };
  if (path.empty()) return bad("is empty");
  if (path.size() > 4096) return bad("is too long");
  if (path.find('\0') != std::string::npos) return bad("contains NUL");
  if (path.find('\\') != std::string::npos) return bad("contains a backslash");
  if (path[0] == '/') return bad("is absolute: shards must be relative to model.json's folder");
  if (path.size() >= 2 && path[1] == ':') return bad("has a drive letter");
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (path.compare(start, end - start, "..") == 0)
      return bad("contains '..': shards may not leave model.json's folder");
    start = end + 1;
  }
  return ok_status();
}

}  // namespace

ShardReader make_directory_shard_reader(std::string model_dir, std::uint64_t max_shard_bytes) {
  return [dir = std::move(model_dir),
          max_shard_bytes](const std::string& path) -> Result<std::vector<std::uint8_t>> {
    namespace fs = std::filesystem;
    EMC_TRY(check_relative_path(path));
    std::error_code ec;
    const fs::path base = fs::weakly_canonical(fs::path(dir.empty() ? "." : dir), ec);
    if (ec) return Error(Errc::kIo, "cannot resolve model folder '" + dir + "': " + ec.message());
    const fs::path target = fs::weakly_canonical(base / path, ec);
    if (ec) return Error(Errc::kIo, "cannot resolve weight shard '" + path + "': " + ec.message());
    auto rel = target.lexically_relative(base);
    if (rel.empty() || *rel.begin() == "..")
      return Error(Errc::kInvalidModel,
                   "weight shard '" + path + "' resolves outside the model folder (symlink?)");
    if (!fs::exists(target, ec))
      return Error(Errc::kIo, "weight shard '" + path + "' does not exist (looked for " +
                                  target.string() + ")");
    if (!fs::is_regular_file(target, ec))
      return Error(Errc::kInvalidModel, "weight shard '" + path + "' is not a regular file");
    const auto size = fs::file_size(target, ec);
    if (ec) return Error(Errc::kIo, "cannot stat weight shard '" + path + "': " + ec.message());
    if (size > max_shard_bytes)
      return Error(Errc::kInvalidModel, "weight shard '" + path + "' has " + std::to_string(size) +
                                            " bytes, more than the limit " +
                                            std::to_string(max_shard_bytes));
    std::ifstream in(target, std::ios::binary);
    if (!in) return Error(Errc::kIo, "cannot open weight shard '" + path + "'");
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
    if (size && !in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size)))
      return Error(Errc::kIo, "cannot read weight shard '" + path + "'");
    return bytes;
  };
}

ShardReader make_memory_shard_reader(std::map<std::string, std::vector<std::uint8_t>> shards) {
  return [m = std::move(shards)](const std::string& path) -> Result<std::vector<std::uint8_t>> {
    auto it = m.find(path);
    if (it == m.end()) return Error(Errc::kIo, "weight shard '" + path + "' is not available");
    return it->second;
  };
}

namespace detail {
namespace {

std::size_t dtype_bytes(const std::string& dtype) {
  if (dtype == "float32" || dtype == "int32") return 4;
  if (dtype == "uint16" || dtype == "float16") return 2;
  if (dtype == "uint8") return 1;
  return 0;
}

std::uint32_t load_le32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
         std::uint32_t{p[3]} << 24;
}

struct Spec {
  std::string name;
  std::vector<std::int64_t> shape;
  std::string dtype;   // float32 | int32
  std::string stored;  // float32 | int32 | uint8 | uint16 | float16
  double scale = 0, min = 0;
  std::uint64_t count = 0;  // number of values
  std::uint64_t bytes = 0;
};

Result<Spec> parse_spec(const Json& w, std::size_t group, const std::string& source) {
  auto err = [&](const std::string& m) {
    return Error(Errc::kInvalidModel, "weightsManifest group " + std::to_string(group) + ": " + m)
        .in_file(source);
  };
  if (!w.is_object()) return err("a weight entry is " + describe(w) + ", expected an object");
  Spec s;
  auto name = w.find("name");
  if (name == w.end() || !name->is_string() || name->get_ref<const std::string&>().empty() ||
      name->get_ref<const std::string&>().size() > 4096)
    return err("a weight has no valid 'name'");
  s.name = name->get<std::string>();
  if (s.name.size() > 2 && s.name.compare(s.name.size() - 2, 2, ":0") == 0)
    s.name.resize(s.name.size() - 2);
  auto shape = w.find("shape");
  if (shape == w.end() || !shape->is_array() || shape->size() > 8)
    return err("weight '" + s.name + "' has no valid 'shape' (an array of at most 8 dims)");
  s.count = 1;
  for (const Json& d : *shape) {
    auto v = as_int(d, 0, std::int64_t{1} << 31);
    if (!v) return err("weight '" + s.name + "' has a bad dimension " + describe(d));
    s.shape.push_back(*v);
    s.count *= static_cast<std::uint64_t>(*v);
    if (s.count > (std::uint64_t{1} << 31))
      return err("weight '" + s.name + "' has more than 2^31 values");
  }
  auto dtype = w.find("dtype");
  s.dtype = (dtype != w.end() && dtype->is_string()) ? dtype->get<std::string>() : "";
  if (s.dtype != "float32" && s.dtype != "int32")
    return err("weight '" + s.name + "' has dtype " +
               (dtype == w.end() ? std::string("(missing)") : describe(*dtype)) +
               ": supported dtypes are float32 and int32");
  s.stored = s.dtype;
  auto q = w.find("quantization");
  if (q != w.end() && !q->is_null()) {
    if (!q->is_object()) return err("weight '" + s.name + "': 'quantization' is not an object");
    auto qd = q->find("dtype");
    s.stored = (qd != q->end() && qd->is_string()) ? qd->get<std::string>() : "";
    if (s.stored == "uint8" || s.stored == "uint16") {
      auto sc = q->find("scale");
      auto mn = q->find("min");
      if (sc == q->end() || mn == q->end() || !sc->is_number() || !mn->is_number() ||
          !std::isfinite(sc->get<double>()) || !std::isfinite(mn->get<double>()))
        return err("weight '" + s.name + "' is quantized to " + s.stored +
                   " without finite 'scale' and 'min'");
      s.scale = sc->get<double>();
      s.min = mn->get<double>();
      const double qmax = s.stored == "uint8" ? 255.0 : 65535.0;
      if (std::fabs(s.min) + std::fabs(s.scale) * qmax > 3.4e38) {
        char buf[96];
        std::snprintf(buf, sizeof buf, "quantization scale %g and min %g", s.scale, s.min);
        return err("weight '" + s.name + "': " + buf + " give values outside the float32 range");
      }
    } else if (s.stored == "float16") {
      if (s.dtype != "float32")
        return err("weight '" + s.name + "': float16 quantization needs dtype float32");
    } else {
      return err("weight '" + s.name + "' has quantization dtype " +
                 (qd == q->end() ? std::string("(missing)") : describe(*qd)) +
                 ": supported are uint8, uint16 and float16");
    }
  }
  s.bytes = s.count * dtype_bytes(s.stored);
  return s;
}

void decode_values(const Spec& s, const std::uint8_t* p, std::vector<float>& out) {
  out.resize(static_cast<std::size_t>(s.count));
  for (std::size_t i = 0; i < out.size(); ++i) {
    double v;
    if (s.stored == "float32") {
      std::uint32_t bits = load_le32(p + 4 * i);
      float f;
      std::memcpy(&f, &bits, 4);
      out[i] = f;
      continue;
    } else if (s.stored == "int32") {
      v = static_cast<double>(static_cast<std::int32_t>(load_le32(p + 4 * i)));
    } else if (s.stored == "float16") {
      out[i] = half_to_float(static_cast<std::uint16_t>(p[2 * i] | p[2 * i + 1] << 8));
      continue;
    } else {
      const double q =
          s.stored == "uint8" ? p[i] : static_cast<double>(p[2 * i] | p[2 * i + 1] << 8);
      v = q * s.scale + s.min;
      if (s.dtype == "int32") v = std::round(v);
    }
    out[i] = static_cast<float>(v);
  }
}

}  // namespace

Result<WeightMap> decode_weights_manifest(const Json& manifest, const ShardReader& shards,
                                          const LoadOptions& options, const std::string& source) {
  WeightMap out;
  if (manifest.is_null()) return out;
  if (!manifest.is_array())
    return Error(Errc::kInvalidModel,
                 "'weightsManifest' is " + describe(manifest) + ", expected an array of groups")
        .in_file(source);
  std::uint64_t total = 0;
  for (std::size_t g = 0; g < manifest.size(); ++g) {
    const Json& group = manifest[g];
    auto err = [&](const std::string& m) {
      return Error(Errc::kInvalidModel, "weightsManifest group " + std::to_string(g) + ": " + m)
          .in_file(source);
    };
    if (!group.is_object()) return err("is " + describe(group) + ", expected an object");
    auto paths = group.find("paths");
    auto weights = group.find("weights");
    if (paths == group.end() || !paths->is_array()) return err("has no 'paths' array");
    if (weights == group.end() || !weights->is_array()) return err("has no 'weights' array");
    std::vector<Spec> specs;
    for (const Json& w : *weights) {
      auto s = parse_spec(w, g, source);
      if (!s.ok()) return s.error();
      total += s->bytes;
      if (total > options.max_total_weight_bytes)
        return err("weights need more than " + std::to_string(options.max_total_weight_bytes) +
                   " bytes in total");
      specs.push_back(std::move(*s));
    }
    // Concatenate the shards, remembering where each begins (for error messages).
    std::vector<std::uint8_t> data;
    std::vector<std::pair<std::uint64_t, std::string>> starts;
    for (const Json& p : *paths) {
      if (!p.is_string()) return err("a shard path is " + describe(p) + ", expected a string");
      const std::string path = p.get<std::string>();
      auto bytes = shards(path);
      if (!bytes.ok()) {
        // Name the first weight that lives (at least partly) in this shard.
        std::string who;
        std::uint64_t off = 0;
        for (const Spec& s : specs) {
          if (off + s.bytes > data.size()) {
            who = "weight '" + s.name + "' needs bytes [" + std::to_string(off) + ", " +
                  std::to_string(off + s.bytes) + ") of group " + std::to_string(g) +
                  ", which start in shard '" + path + "': ";
            break;
          }
          off += s.bytes;
        }
        Error e = bytes.error();
        return std::move(e.prefix(who)).in_file(source);
      }
      starts.emplace_back(data.size(), path);
      data.insert(data.end(), bytes->begin(), bytes->end());
      if (data.size() > options.max_total_weight_bytes)
        return err("shards are larger than " + std::to_string(options.max_total_weight_bytes) +
                   " bytes in total");
    }
    auto shard_at = [&](std::uint64_t off) {
      std::string name = starts.empty() ? std::string("(no shard listed)") : starts[0].second;
      for (auto& [start, p] : starts)
        if (start <= off) name = p;
      return name;
    };
    std::uint64_t off = 0;
    for (Spec& s : specs) {
      if (off + s.bytes > data.size())
        return err("weight '" + s.name + "' (" + std::to_string(s.count) + " x " + s.stored +
                   ") needs bytes [" + std::to_string(off) + ", " + std::to_string(off + s.bytes) +
                   ") but the group's shards hold only " + std::to_string(data.size()) +
                   " bytes (shard '" + shard_at(off) + "' is missing data)");
      WeightTensor t;
      t.name = s.name;
      t.shape = s.shape;
      t.stored_dtype = s.stored;
      decode_values(s, data.data() + off, t.values);
      off += s.bytes;
      if (out.count(t.name)) return err("weight name '" + t.name + "' appears twice");
      out.emplace(t.name, std::move(t));
    }
    if (off != data.size())
      return err("shards hold " + std::to_string(data.size()) + " bytes but the weights use " +
                 std::to_string(off) + " (trailing bytes in shard '" + shard_at(off) + "')");
  }
  return out;
}

}  // namespace detail
}  // namespace emc::converter
