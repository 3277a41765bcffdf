// Keras .keras archive -> Model: config.json through the Keras-config importer, metadata.json's
// keras_version, and model.weights.h5 mapped onto the config's layers by Keras's save order.
//
// Keras names a layer's weight group not by the layer's name but by its class, in the order the
// model lists its layers: saving_lib's _save_container_state gives the k-th layer of snake-cased
// class `c` the group `c` (first) or `c_<n>` (n counting every earlier occurrence of `c` in the
// container), and a layer's variables are `vars/0`, `vars/1`, ... in Keras's weight order.
//   Keras 3:     /layers/<name>/vars/<i>                          (container = model.layers)
//   Keras 2.13:  /_layer_checkpoint_dependencies/<name>/vars/<i>  (container = the dict
//                {layer_with_weights-k, layer-i}: a layer with weights appears twice; some
//                versions count the second, skipped, appearance when numbering, some do not)
// The second form is resolved by trying both numberings and keeping the one under which every
// weighted group of the file is claimed by exactly the layers that find weights.
#include <nlohmann/json.hpp>

#include <map>
#include <set>

#include "emc/converter/model_file.h"
#include "json_util.h"
#include "keras_import.h"
#include "zip_reader.h"

namespace emc::converter {
namespace {

using detail::Hdf5File;

constexpr std::size_t kMaxVars = 4096;
constexpr std::size_t kMaxGroups = 65536;

// keras.src.utils.naming.to_snake_case (Keras 3; `keras2` = tf-keras generic_utils, which keeps
// non-word characters and also splits before an uppercase letter followed by digits).
std::string to_snake_case(const std::string& in, bool keras2) {
  std::string s;
  for (char ch : in)
    if (keras2 || std::isalnum(static_cast<unsigned char>(ch)) || ch == '_') s += ch;
  auto upper = [](char ch) { return ch >= 'A' && ch <= 'Z'; };
  auto lower = [&](char ch) {
    return (ch >= 'a' && ch <= 'z') || (keras2 && ch >= '0' && ch <= '9');
  };
  // re.sub("(.)([A-Z][a-z]+)", r"\1_\2")
  std::string a;
  for (std::size_t i = 0; i < s.size();) {
    if (i + 2 < s.size() && upper(s[i + 1]) && lower(s[i + 2])) {
      std::size_t end = i + 2;
      while (end < s.size() && lower(s[end])) ++end;
      a += s[i];
      a += '_';
      a.append(s, i + 1, end - i - 1);
      i = end;
    } else {
      a += s[i++];
    }
  }
  // re.sub("([a-z])([A-Z])", r"\1_\2").lower()
  std::string b;
  for (std::size_t i = 0; i < a.size();) {
    if (i + 1 < a.size() && a[i] >= 'a' && a[i] <= 'z' && upper(a[i + 1])) {
      b += a[i];
      b += '_';
      b += a[i + 1];
      i += 2;
    } else {
      b += a[i++];
    }
  }
  for (char& ch : b) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (keras2 && !b.empty() && b[0] == '_') b = "private" + b;
  return b;
}

struct Assignment {
  std::map<std::size_t, std::string> group_of_layer;  // layer index in Model::layers -> group
  bool consistent = false;
};

// Numbers the layers as Keras does and records which layers find a non-empty vars group.
Assignment assign(const Hdf5File& f, const Model& m, const std::string& container, bool keras2,
                  bool duplicate_consumes_name, const std::set<std::string>& weighted_groups) {
  Assignment a;
  std::map<std::string, int> used;
  for (std::size_t li = 0; li < m.layers.size(); ++li) {
    const KerasLayer& l = m.layers[li];
    if (l.class_name == "InputLayer") continue;  // no weights; its snake name is unique
    const std::string snake = to_snake_case(l.class_name, keras2);
    std::string name = snake;
    if (auto it = used.find(snake); it != used.end()) {
      name = snake + "_" + std::to_string(++it->second);
    } else {
      used[snake] = 0;
    }
    if (!weighted_groups.count(name)) continue;
    a.group_of_layer[li] = container + "/" + name;
    if (duplicate_consumes_name) ++used[snake];
  }
  a.consistent = a.group_of_layer.size() == weighted_groups.size();
  (void)f;
  return a;
}

std::vector<std::size_t> var_indices(const Hdf5File& f, const std::string& vars) {
  std::vector<std::size_t> idx;
  for (const std::string& n : f.children(vars, kMaxVars)) {
    std::size_t v = 0;
    if (n.empty() || n.size() > 5 || n.find_first_not_of("0123456789") != std::string::npos ||
        (n.size() > 1 && n[0] == '0'))
      f.fail(vars + "/" + n, "is not a variable index (expected vars/0, vars/1, ...)");
    v = static_cast<std::size_t>(std::stoul(n));
    idx.push_back(v);
  }
  std::sort(idx.begin(), idx.end());
  for (std::size_t i = 0; i < idx.size(); ++i)
    if (idx[i] != i)
      f.fail(vars + "/" + std::to_string(i),
             "is missing (the variables are not "
             "numbered 0, 1, ... without gaps)");
  return idx;
}

void attach_weights(const Hdf5File& f, Model& m, const LoadOptions& options) {
  std::string container;
  bool keras2 = false;
  if (f.is_group("/layers")) {
    container = "/layers";
  } else if (f.is_group("/_layer_checkpoint_dependencies")) {
    container = "/_layer_checkpoint_dependencies";
    keras2 = true;
  } else {
    bool needs = false;
    for (const auto& l : m.layers) needs |= l.class_name != "InputLayer";
    if (!needs) return;
    f.fail("/layers",
           "is missing (and so is '/_layer_checkpoint_dependencies'): the archive's "
           "model.weights.h5 holds no layer weights");
  }
  std::set<std::string> weighted;
  for (const std::string& g : f.children(container, kMaxGroups)) {
    const std::string vars = container + "/" + g + "/vars";
    if (f.is_group(vars) && !f.children(vars, kMaxVars).empty()) weighted.insert(g);
  }
  Assignment a = assign(f, m, container, keras2, false, weighted);
  if (!a.consistent && keras2) a = assign(f, m, container, keras2, true, weighted);
  if (!a.consistent) {
    std::set<std::string> claimed;
    Assignment show = assign(f, m, container, keras2, false, weighted);
    for (auto& [li, g] : show.group_of_layer) claimed.insert(g.substr(container.size() + 1));
    std::string orphans;
    for (const auto& g : weighted)
      if (!claimed.count(g)) orphans += (orphans.empty() ? "'" : ", '") + g + "'";
    f.fail(container, "weight group(s) " + orphans +
                          " match no layer of config.json in Keras's save order (groups are "
                          "named after each layer's class, numbered in layer order)");
  }
  std::uint64_t budget = options.max_total_weight_bytes / 4;
  for (const auto& [li, group] : a.group_of_layer) {
    const std::string vars = group + "/vars";
    for (std::size_t i : var_indices(f, vars))
      detail::add_h5_weight(f, vars + "/" + std::to_string(i), m.layers[li].name, i, budget,
                            m.weights);
  }
}

std::string as_text(const std::vector<std::uint8_t>& b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

Model load(const std::vector<std::uint8_t>& bytes, const std::string& name,
           const LoadOptions& options) {
  detail::ZipReader zip(bytes, name);
  auto member = [&](const char* n) {
    const detail::ZipMember* m = zip.find(n);
    if (!m) {
      std::string have;
      for (const auto& z : zip.members()) have += (have.empty() ? "'" : ", '") + z.name + "'";
      zip.fail(n,
               "is missing; a .keras archive holds config.json, metadata.json and "
               "model.weights.h5 (this one has " +
                   (have.empty() ? std::string("no members") : have) + ")");
    }
    return m;
  };
  const detail::ZipMember* config_m = member("config.json");
  const detail::ZipMember* weights_m = member("model.weights.h5");
  const std::string config = as_text(zip.extract(*config_m, options.max_json_bytes));
  auto parsed = detail::model_from_config_text(config, options, name, "zip member 'config.json'");
  if (!parsed.ok()) throw ErrorException(parsed.error());
  Model m = std::move(parsed).value();
  if (const detail::ZipMember* meta = zip.find("metadata.json")) {
    auto j = detail::parse_json_bounded(as_text(zip.extract(*meta, 1 << 20)), 16, name);
    if (!j.ok()) throw ErrorException(std::move(j).error().prefix("zip member 'metadata.json': "));
    if (!j->is_object()) zip.fail("metadata.json", "is not a JSON object");
    if (auto v = j->find("keras_version"); v != j->end() && v->is_string())
      m.keras_version = v->get<std::string>();
  }
  const auto weights =
      zip.extract(*weights_m, 2 * options.max_total_weight_bytes + options.max_json_bytes);
  Hdf5File f = Hdf5File::open_memory(weights, name + ": model.weights.h5");
  attach_weights(f, m, options);
  return m;
}

}  // namespace

Result<Model> load_keras_archive_from_memory(const std::vector<std::uint8_t>& bytes,
                                             const std::string& name, const LoadOptions& options) {
  try {
    return load(bytes, name, options);
  } catch (const ErrorException& e) {
    Error err = e.error();
    if (err.file().empty()) err.in_file(name);
    return err;
  } catch (const std::bad_alloc&) {
    return Error(Errc::kInvalidModel, "out of memory while reading the archive").in_file(name);
  }
}

}  // namespace emc::converter
