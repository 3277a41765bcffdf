// Keras HDF5 (.h5) -> Model: the root `model_config` through the Keras-config importer, the
// weights from `model_weights/<layer>` in `weight_names` order.
#include <map>
#include <set>

#include "emc/converter/model_file.h"
#include "keras_import.h"

namespace emc::converter {
namespace detail {

void add_h5_weight(const Hdf5File& file, const std::string& path, const std::string& layer,
                   std::size_t index, std::uint64_t& budget_values, WeightMap& out) {
  H5FloatData d = file.read_floats(path, budget_values);
  budget_values -= d.values.size();
  WeightTensor t;
  // The HDF5 path is what errors show ("weight '/model_weights/c/c/kernel:0' has shape ...").
  t.name = path;
  t.shape = std::move(d.shape);
  t.values = std::move(d.values);
  t.stored_dtype = std::move(d.stored_dtype);
  // "<layer>/<index>": the importers look a weight up by its role name first and then by its
  // position in Keras's weight order, which is how Keras assigns .h5 weights.
  const std::string key = layer + "/" + std::to_string(index);
  if (!out.emplace(key, std::move(t)).second)
    file.fail(path, "a second weight " + std::to_string(index) + " for layer '" + layer + "'");
}

}  // namespace detail

namespace {

using detail::Hdf5File;

constexpr std::size_t kMaxLayers = 4096;
constexpr std::size_t kMaxWeightsPerLayer = 4096;

bool is_tensorlayer_config(const std::string& text) {
  // TensorLayer 2.x Model.save() writes str(dict): single quotes, None, tuples, tf.float32.
  return text.find("'model_architecture'") != std::string::npos ||
         (text.size() > 1 && text[0] == '{' && text[1] == '\'');
}

Model load(const Hdf5File& f, const LoadOptions& options) {
  if (!f.has_attribute("/", "model_config")) {
    const bool weights_only =
        f.has_attribute("/", "layer_names") ||
        (f.is_group("/model_weights") && !f.has_attribute("/", "keras_version"));
    f.fail("/",
           std::string(weights_only ? "this is a weights-only .h5 (model.save_weights()): " : "") +
               "there is no root attribute 'model_config', so the file holds no model "
               "architecture; convert the file model.save('model.h5') or "
               "model.save('model.keras') writes, or the TF.js model.json");
  }
  const std::string config = f.string_attribute("/", "model_config", options.max_json_bytes);
  if (is_tensorlayer_config(config))
    f.fail("/' attribute 'model_config",
           "is Python-literal text (single quotes, None, tuples, tf.float32), not JSON: this is a "
           "TensorLayer 2.x Model.save() file, not a Keras one; EMC imports Keras .h5 only "
           "(export the TensorLayer model to a TF.js model.json or rebuild it in Keras)");
  auto parsed =
      detail::model_from_config_text(config, options, f.name(), "HDF5 attribute '/model_config'");
  if (!parsed.ok()) throw ErrorException(parsed.error());
  Model m = std::move(parsed).value();
  if (f.has_attribute("/", "keras_version"))
    m.keras_version = f.string_attribute("/", "keras_version", 256);

  const std::string root = "/model_weights";
  if (!f.is_group(root))
    f.fail(root, "is missing: a Keras .h5 model keeps its weights in this group");
  std::set<std::string> config_names;
  for (const KerasLayer& l : m.layers) config_names.insert(l.name);
  std::uint64_t budget = options.max_total_weight_bytes / 4;
  std::set<std::string> seen;
  for (const std::string& layer : f.string_list_attribute(root, "layer_names", kMaxLayers)) {
    const std::string group = root + "/" + layer;
    if (layer.empty() || layer.find('/') != std::string::npos || layer == "." || layer == "..")
      f.fail(root, "attribute 'layer_names' lists an invalid layer name '" + layer + "'");
    if (!seen.insert(layer).second)
      f.fail(root, "attribute 'layer_names' lists '" + layer + "' twice");
    if (!f.is_group(group))
      f.fail(group, "is missing (listed in '/model_weights' attribute 'layer_names')");
    const auto names = f.string_list_attribute(group, "weight_names", kMaxWeightsPerLayer);
    if (names.empty()) continue;
    if (!config_names.count(layer))
      f.fail(group, "holds weights of a layer '" + layer + "' that model_config does not have");
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (names[i].empty()) f.fail(group, "attribute 'weight_names' has an empty entry");
      detail::add_h5_weight(f, group + "/" + names[i], layer, i, budget, m.weights);
    }
  }
  return m;
}

}  // namespace

Result<Model> load_keras_h5_from_memory(const std::vector<std::uint8_t>& bytes,
                                        const std::string& name, const LoadOptions& options) {
  try {
    Hdf5File f = Hdf5File::open_memory(bytes, name);
    return load(f, options);
  } catch (const ErrorException& e) {
    Error err = e.error();
    if (err.file().empty()) err.in_file(name);
    return err;
  } catch (const std::bad_alloc&) {
    return Error(Errc::kInvalidModel, "out of memory while reading the file").in_file(name);
  }
}

}  // namespace emc::converter
