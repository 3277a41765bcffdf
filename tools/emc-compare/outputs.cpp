#include "outputs.h"

#include <algorithm>
#include <cctype>

namespace emc::compare {

namespace {

// "1 output", "2 outputs".
std::string count(std::size_t n, const std::string& noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

// "model output 1 'map'" (or "the model output 'dense'" for a model with one).
std::string which(const converter::Graph& g, std::size_t o) {
  const std::string name = "'" + g.tensor(g.outputs[o]).name + "'";
  if (g.outputs.size() == 1) return "the model output " + name;
  return "model output " + std::to_string(o) + " " + name;
}

// "kmodel output 1" (or "the kmodel output" for a kmodel with one).
std::string kmodel_which(const format::Kmodel& model, std::size_t k) {
  if (model.outputs.size() == 1) return "the kmodel output";
  return "kmodel output " + std::to_string(k);
}

// The sidecar layer writing float output `name`, and the kmodel output it writes (see
// locate_outputs). Layers storing int8 codes are not writers of a float output (-p cpu's int8
// layers state the tensor too, and as main memory is reused their main_out can be another output's
// address): the writer is the float layer that follows them (a DEQUANTIZE, a SOFTMAX).
const SidecarLayer* find_writer(const Sidecar& sidecar, const format::Kmodel& model,
                                const std::string& name,
                                std::optional<std::size_t>& kmodel_output) {
  const SidecarLayer* named = nullptr;  // the last layer stating the tensor
  const SidecarLayer* writer = nullptr;
  for (const auto& l : sidecar.layers) {
    if (!l.float_tensor_stated || l.float_tensor != name || l.dtype == "int8") continue;
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
  const std::size_t n = g.outputs.size();
  if (interp.output_count() != n) {
    return Error(Errc::kShapeMismatch, "the kmodel has " + count(interp.output_count(), "output") +
                                           ", the float model " + std::to_string(n) + " (" +
                                           list_outputs(g) +
                                           "): was the kmodel converted from this model?")
        .in_file(kmodel_path);
  }
  // Which kmodel output holds each model output, and the sidecar layer writing it.
  std::vector<OutputLocation> out(n);
  std::vector<const SidecarLayer*> writers(n, nullptr);
  std::vector<bool> by_position(n, true);
  for (std::size_t o = 0; o < n; ++o) {
    out[o].kmodel_output = o;
    if (!sidecar) continue;
    std::optional<std::size_t> k;
    writers[o] = find_writer(*sidecar, model, g.tensor(g.outputs[o]).name, k);
    if (k) {
      out[o].kmodel_output = *k;
      by_position[o] = false;
    }
    if (!writers[o] && n == 1 && !model.layers.empty())
      writers[o] = sidecar->layer(model.layers.size() - 1);
  }
  // Two model outputs in one kmodel output: the map was not written for this kmodel.
  for (std::size_t o = 0; o < n; ++o) {
    for (std::size_t p = 0; p < o; ++p) {
      if (out[p].kmodel_output != out[o].kmodel_output) continue;
      return Error(Errc::kInvalidArgument,
                   which(g, p) + " and " + which(g, o) + " are both located in kmodel output " +
                       std::to_string(out[o].kmodel_output) + " " +
                       "by this sidecar map, which cannot be the map of " + kmodel_path +
                       ": convert the model again (emc-convert writes the kmodel and its map "
                       "together) or pass the kmodel's own map with --map")
          .in_file(sidecar ? sidecar->path : kmodel_path);
    }
  }
  for (std::size_t o = 0; o < n; ++o) {
    OutputLocation& loc = out[o];
    const SidecarLayer* writer = writers[o];
    const converter::Shape shape = g.shape(g.outputs[o]);
    if (sidecar && n > 1 && by_position[o]) {
      warnings.push_back(which(g, o) +
                         ": no layer of the sidecar map records which kmodel output "
                         "holds it (its main_out), so it is taken as kmodel output " +
                         std::to_string(o) + ", the position emc-convert writes it at");
    }
    const auto info = interp.output_info(loc.kmodel_output);
    const std::string kname = kmodel_which(model, loc.kmodel_output);
    if (info.type != interpreter::ElementType::kFloat32) {
      return Error(Errc::kInvalidArgument,
                   kname + (n > 1 ? " (" + which(g, o) + ")" : "") +
                       " is uint8; emc-compare needs a float output (a final DEQUANTIZE, as "
                       "emc-convert writes)")
          .in_file(kmodel_path);
    }
    if (info.bytes / 4 != std::size_t(shape.num_elements())) {
      std::string why;
      if (n > 1 && by_position[o]) {
        why = " (" + which(g, o) + " was taken as kmodel output " + std::to_string(o) +
              " by its position: " +
              (sidecar ? "no layer of the sidecar map records its main_out" : "no sidecar map") +
              ")";
      }
      return Error(Errc::kShapeMismatch, kname + " has " + count(info.bytes / 4, "value") +
                                             " but " + which(g, o) + " " +
                                             converter::to_string(shape) + " has " +
                                             std::to_string(shape.num_elements()) +
                                             ": was the kmodel converted from this model?" + why)
          .in_file(kmodel_path);
    }
    // A map output is held as CHW planes (docs/format.md), the float model's as HWC: it is
    // reordered before the two are compared, as the writer's record describes it; with no record,
    // a rank-3 output is taken as the map emc-convert writes (CHW planes).
    if (writer && !writer->layout.empty() && writer->layout != "CHW") continue;
    std::vector<std::size_t> map;
    if (writer && writer->map_shape.size() == 3)
      map.assign(writer->map_shape.begin(), writer->map_shape.end());
    else if (shape.rank() == 3)
      map.assign(shape.dims.begin(), shape.dims.end());
    if (map.size() != 3 || map[0] * map[1] * map[2] != std::size_t(shape.num_elements()) ||
        map[0] * map[1] <= 1 || map[2] <= 1)
      continue;
    loc.chw = {map[0], map[1], map[2]};
    if (!writer) {
      warnings.push_back(
          which(g, o) + " " + converter::to_string(shape) + ": " +
          (sidecar ? "no layer of the sidecar map records how the kmodel holds it"
                   : "there is no sidecar map to say how the kmodel holds it") +
          "; taken as CHW planes (how emc-convert writes every map, docs/format.md) and reordered "
          "to the float model's HWC order");
    }
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
