#include "outputs.h"

#include <algorithm>
#include <cctype>

namespace emc::compare {

namespace {

// "output 1 'map'" (or "the output" for a model with one).
std::string which(const converter::Graph& g, std::size_t o) {
  if (g.outputs.size() == 1) return "the output";
  return "output " + std::to_string(o) + " '" + g.tensor(g.outputs[o]).name + "'";
}

// The sidecar layer writing float output `name`, and the kmodel output it writes (see
// locate_outputs).
const SidecarLayer* find_writer(const Sidecar& sidecar, const format::Kmodel& model,
                                const std::string& name,
                                std::optional<std::size_t>& kmodel_output) {
  const SidecarLayer* named = nullptr;  // the last layer stating the tensor
  const SidecarLayer* writer = nullptr;
  for (const auto& l : sidecar.layers) {
    if (!l.float_tensor_stated || l.float_tensor != name) continue;
    named = &l;
    if (!l.main_out) continue;
    for (std::size_t k = 0; k < model.outputs.size(); ++k) {
      if (model.outputs[k].address == *l.main_out) {
        writer = &l;
        kmodel_output = k;
      }
    }
  }
  return writer ? writer : named;
}

}  // namespace

Result<std::vector<OutputLocation>> locate_outputs(const converter::Graph& g,
                                                   const interpreter::Interpreter& interp,
                                                   const Sidecar* sidecar,
                                                   const std::string& kmodel_path,
                                                   std::vector<std::string>& warnings) {
  const format::Kmodel& model = interp.model();
  if (interp.output_count() != g.outputs.size()) {
    return Error(Errc::kShapeMismatch,
                 "the kmodel has " + std::to_string(interp.output_count()) +
                     " outputs, the float model " + std::to_string(g.outputs.size()) + " (" +
                     list_outputs(g) + "): was the kmodel converted from this model?")
        .in_file(kmodel_path);
  }
  std::vector<OutputLocation> out(g.outputs.size());
  for (std::size_t o = 0; o < g.outputs.size(); ++o) {
    OutputLocation& loc = out[o];
    const std::string& name = g.tensor(g.outputs[o]).name;
    const converter::Shape shape = g.shape(g.outputs[o]);
    loc.kmodel_output = o;
    const SidecarLayer* writer = nullptr;
    if (sidecar) {
      std::optional<std::size_t> k;
      writer = find_writer(*sidecar, model, name, k);
      if (k) loc.kmodel_output = *k;
      if (!writer && g.outputs.size() == 1 && model.outputs.size() == 1 && !model.layers.empty())
        writer = sidecar->layer(model.layers.size() - 1);
    }
    const auto info = interp.output_info(loc.kmodel_output);
    const std::string kname = "kmodel output " + std::to_string(loc.kmodel_output);
    if (info.type != interpreter::ElementType::kFloat32) {
      return Error(Errc::kInvalidArgument,
                   "the " + kname + " (" + which(g, o) +
                       ") is uint8; emc-compare needs a float output (a final DEQUANTIZE)")
          .in_file(kmodel_path);
    }
    if (info.bytes / 4 != std::size_t(shape.num_elements())) {
      return Error(Errc::kShapeMismatch, "the " + kname + " has " + std::to_string(info.bytes / 4) +
                                             " values, the float model's " + which(g, o) + " " +
                                             converter::to_string(shape))
          .in_file(kmodel_path);
    }
    // A map output is held as CHW planes (docs/format.md), the float model's as HWC: it is
    // reordered before the two are compared, as the map describes it.
    const bool is_map = shape.rank() == 3 && shape.dims[0] * shape.dims[1] > 1 && shape.dims[2] > 1;
    if (!writer) {
      if (is_map) {
        warnings.push_back(which(g, o) + " " + converter::to_string(shape) + ": no sidecar layer " +
                           "says how the kmodel holds this map, so it is compared in the "
                           "kmodel's order as it is (emc-convert's map says it: convert again)");
      }
      continue;
    }
    if (!writer->layout.empty() && writer->layout != "CHW") continue;
    std::vector<std::size_t> map;
    if (writer->map_shape.size() == 3)
      map.assign(writer->map_shape.begin(), writer->map_shape.end());
    else if (shape.rank() == 3)
      map.assign(shape.dims.begin(), shape.dims.end());
    if (map.size() == 3 && map[0] * map[1] * map[2] == std::size_t(shape.num_elements()) &&
        map[0] * map[1] > 1 && map[2] > 1)
      loc.chw = {map[0], map[1], map[2]};
  }
  return out;
}

std::string list_outputs(const converter::Graph& g) {
  std::string s;
  for (std::size_t o = 0; o < g.outputs.size(); ++o) {
    s += (o ? ", " : "") + std::to_string(o) + " '" + g.tensor(g.outputs[o]).name + "' " +
         converter::to_string(g.shape(g.outputs[o]));
  }
  return s;
}

Result<std::size_t> resolve_output(const converter::Graph& g, const std::string& spec) {
  if (spec.empty()) return std::size_t{0};
  for (std::size_t o = 0; o < g.outputs.size(); ++o)
    if (g.tensor(g.outputs[o]).name == spec) return o;
  const bool digits =
      spec.size() <= 9 &&
      std::all_of(spec.begin(), spec.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
  if (digits) {
    const std::size_t o = std::stoul(spec);
    if (o < g.outputs.size()) return o;
  }
  return Error(Errc::kInvalidArgument, "--output '" + spec + "' is not an output of the model; " +
                                           "give a name or a 0-based index of one of its " +
                                           std::to_string(g.outputs.size()) + " output" +
                                           (g.outputs.size() == 1 ? "" : "s") + ": " +
                                           list_outputs(g));
}

std::vector<float> in_float_order(const OutputLocation& loc, std::vector<float> kmodel) {
  if (!loc.chw) return kmodel;
  const auto [h, w, c] = *loc.chw;
  std::vector<float> hwc(kmodel.size());
  for (std::size_t ch = 0; ch < c; ++ch)
    for (std::size_t p = 0; p < h * w; ++p) hwc[p * c + ch] = kmodel[ch * h * w + p];
  return hwc;
}

}  // namespace emc::compare
