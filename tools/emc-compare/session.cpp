#include "session.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "emc/accel_sim/kpu_backend.h"
#include "emc/converter/model_file.h"
#include "emc/converter/model_json.h"
#include "emc/cpu_backend/cpu_backend.h"
#include "emc/format/kmodel_codec.h"
#include "emc/format/kpu_layout.h"
#include "emc/format/layer_types.h"

namespace emc::compare {
namespace fs = std::filesystem;
using format::LayerType;

namespace {

// Whether a layer type writes uint8 (quantized) data when the sidecar does not say.
bool writes_uint8(LayerType t) {
  switch (t) {
    case LayerType::kK210Conv:
    case LayerType::kQuantize:
    case LayerType::kRequantize:
    case LayerType::kQuantizedAdd:
    case LayerType::kQuantizedGlobalMaxPool2d:
    case LayerType::kQuantizedGlobalAveragePool2d:
    case LayerType::kQuantizedMaxPool2d:
    case LayerType::kQuantizedAveragePool2d:
    case LayerType::kQuantizedConcat:
    case LayerType::kQuantizedTensorflowFlatten:
    case LayerType::kQuantizedResizeNearestNeighbor:
    case LayerType::kK210RemovePadding:
      return true;
    default:
      return false;
  }
}

std::string type_name(LayerType t) {
  return std::string(format::to_string(t));
}

}  // namespace

Result<std::unique_ptr<Session>> Session::open(const Options& options) {
  std::unique_ptr<Session> s(new Session());
  s->options_ = options;
  auto& r = s->result_;
  r.model_json = options.model_json;
  r.kmodel = options.kmodel;
  r.backend = options.backend;
  r.top = options.top;
  r.summary.k = options.top;
  r.layers_requested = options.layers || options.isolated;
  r.isolated_requested = options.isolated;
  r.sqnr_threshold_db = options.sqnr_threshold_db;

  // Float model: the imported graph as is (no fusion), so every Keras layer's tensor exists.
  auto model = converter::load_model(options.model_json);
  if (!model.ok()) return std::move(model).error();
  auto graph = converter::build_graph(*model);
  if (!graph.ok()) return std::move(graph).error();
  if (graph->inputs.size() != 1) {
    std::string names;
    for (std::size_t i = 0; i < graph->inputs.size(); ++i)
      names += (i ? ", '" : "'") + graph->tensor(graph->inputs[i]).name + "'";
    return Error(Errc::kInvalidArgument,
                 "emc-compare compares models with one input; this one has " +
                     std::to_string(graph->inputs.size()) + " (" + names +
                     "), and emc-convert converts only one-input models")
        .in_file(options.model_json);
  }
  if (graph->outputs.empty()) {
    return Error(Errc::kInvalidArgument, "the model has no output").in_file(options.model_json);
  }
  auto top_output = resolve_output(*graph, options.output);
  if (!top_output.ok()) return std::move(top_output).error().in_file(options.model_json);
  r.top_output = *top_output;
  const converter::Shape in_shape = graph->shape(graph->inputs[0]);
  if (in_shape.rank() == 3) {
    s->geometry_ = {in_shape.dims[0], in_shape.dims[1], in_shape.dims[2]};
  } else if (in_shape.rank() == 1) {
    s->geometry_ = {1, 1, in_shape.dims[0]};
  } else {
    return Error(Errc::kInvalidArgument,
                 "model input shape " + converter::to_string(in_shape) + " is not [H, W, C] or [N]")
        .in_file(options.model_json);
  }
  auto exec = converter::FloatExecutor::create(
      std::move(graph).value(),
      options.exact_float ? converter::FloatMode::kExact : converter::FloatMode::kFast);
  if (!exec.ok()) return std::move(exec).error();
  s->executor_ = std::make_unique<converter::FloatExecutor>(std::move(exec).value());

  // Quantized model.
  auto kmodel = format::load_kmodel_file(options.kmodel);
  if (!kmodel.ok()) return std::move(kmodel).error();
  s->registry_ = std::make_unique<interpreter::Registry>();
  EMC_TRY(accel_sim::register_kpu_sim_backend(*s->registry_));
  EMC_TRY(cpu_backend::register_cpu_backend(*s->registry_));
  interpreter::DispatchPolicy policy;
  if (options.backend == "cpu") {
    // Every layer the cpu backend can run goes there: since it has the K210 reference kernels
    // that is every layer of a valid model (kpu-sim keeps only what cpu declines).
    const interpreter::Backend* cpu = s->registry_->find(cpu_backend::kCpuBackendName);
    for (std::size_t i = 0; i < kmodel->layers.size(); ++i) {
      if (cpu->supports(interpreter::layer_info(*kmodel, i)))
        policy.by_index[i] = cpu_backend::kCpuBackendName;
    }
  } else if (options.backend != "kpu") {
    return Error(Errc::kInvalidArgument,
                 "--backend must be kpu or cpu, not '" + options.backend + "'");
  }
  auto interp =
      interpreter::Interpreter::load_model(std::move(kmodel).value(), *s->registry_, policy);
  if (!interp.ok()) return std::move(interp).error().in_file(options.kmodel);
  s->interp_ = std::move(interp).value();
  for (const auto& d : s->interp_->diagnostics())
    r.warnings.push_back(options.kmodel + ": " + d.to_string());

  // Sidecar map.
  const std::string map_path = options.map.empty() ? options.kmodel + ".map.json" : options.map;
  std::error_code ec;
  if (fs::exists(map_path, ec)) {
    auto sc = converter::read_map_for_kmodel(map_path, options.kmodel);
    if (!sc.ok()) return std::move(sc).error();
    s->sidecar_ = std::move(sc).value();
    for (const auto& w : s->sidecar_->warnings) r.warnings.push_back(w);
    r.sidecar = map_path;
  } else if (!options.map.empty()) {
    return Error(Errc::kIo, "cannot open the sidecar map").in_file(map_path);
  } else {
    r.warnings.push_back("no sidecar map " + map_path +
                         " (emc-convert writes it): the input quantization is derived from the "
                         "input range, and layers cannot be named or dequantized");
  }

  // Preprocessing: --input-range wins, then the converter's record.
  if (options.input_range) {
    auto pre = preprocess_from_range(options.input_range->first, options.input_range->second);
    if (!pre.ok()) return std::move(pre).error();
    s->preprocess_ = *pre;
    if (s->sidecar_ && s->sidecar_->preprocess &&
        preprocess_range(*s->sidecar_->preprocess) != preprocess_range(*pre)) {
      r.warnings.push_back("--input-range overrides the converter's preprocessing (" +
                           describe(*s->sidecar_->preprocess) + ")");
    }
  } else if (options.mean_std) {
    converter::Preprocess pre;
    pre.scale = converter::PixelScale::kMeanStd;
    pre.mean = options.mean_std->first;
    pre.std = options.mean_std->second;
    s->preprocess_ = pre;
  } else if (s->sidecar_ && s->sidecar_->preprocess) {
    s->preprocess_ = s->sidecar_->preprocess;
  }
  if (s->preprocess_ && options.bgr) s->preprocess_->order = converter::ChannelOrder::kBgr;

  // How the kmodel takes its input.
  const auto info = s->interp_->input_info(0);
  if (info.type == interpreter::ElementType::kUint8) {
    if (info.shape.size() != 3 || info.shape[0] != std::uint32_t(s->geometry_.channels) ||
        info.shape[1] != std::uint32_t(s->geometry_.height) ||
        info.shape[2] != std::uint32_t(s->geometry_.width)) {
      return Error(Errc::kShapeMismatch, "the kmodel input (uint8 CHW " +
                                             std::to_string(info.bytes) +
                                             " bytes) does not match the float model input [" +
                                             std::to_string(s->geometry_.height) + ", " +
                                             std::to_string(s->geometry_.width) + ", " +
                                             std::to_string(s->geometry_.channels) + "]")
          .in_file(options.kmodel);
    }
    if (s->sidecar_ && s->sidecar_->input_quant) {
      s->input_quant_ = s->sidecar_->input_quant;
    } else if (s->preprocess_) {
      // emc-convert's convention: the uint8 input of a KPU-first model is the raw pixel (the
      // first conv absorbs the preprocessing), i.e. the inverse of the preprocessing.
      s->input_quant_ = input_quant_from_preprocess(*s->preprocess_);
      if (!s->sidecar_) {
        r.warnings.push_back("uint8 kmodel input taken as the raw pixel of the preprocessing " +
                             describe(*s->preprocess_) + " (not read from a sidecar map)");
      }
    } else {
      return Error(Errc::kInvalidArgument,
                   "the kmodel takes uint8 input but its encoding is unknown: no sidecar map " +
                       map_path + " and no --input-range MIN,MAX");
    }
  } else if (info.bytes != s->geometry_.elements() * 4) {
    return Error(Errc::kShapeMismatch, "the kmodel input (float32 x " +
                                           std::to_string(info.bytes / 4) +
                                           ") does not match the float model input (" +
                                           std::to_string(s->geometry_.elements()) + " values)")
        .in_file(options.kmodel);
  }

  // Every model output, located in the kmodel the same way.
  const auto& g = s->executor_->graph();
  auto located = locate_outputs(g, *s->interp_, s->sidecar_ ? &*s->sidecar_ : nullptr,
                                options.kmodel, r.warnings);
  if (!located.ok()) return std::move(located).error();
  s->outputs_ = std::move(located).value();
  for (std::size_t o = 0; o < g.outputs.size(); ++o) {
    OutputResult out;
    out.name = g.tensor(g.outputs[o]).name;
    out.shape = converter::to_string(g.shape(g.outputs[o]));
    out.kmodel_output = s->outputs_[o].kmodel_output;
    out.reordered = s->outputs_[o].chw.has_value();
    r.outputs.push_back(std::move(out));
  }
  const auto out_shape = g.shape(g.outputs[r.top_output]);
  if (out_shape.rank() == 3)
    for (auto d : out_shape.dims) r.top_map.push_back(std::size_t(d));

  // Labels (of the top-k output): --labels, else labels.txt next to model.json.
  std::string labels_path = options.labels;
  if (labels_path.empty()) {
    const fs::path guess = fs::path(options.model_json).parent_path() / "labels.txt";
    if (fs::exists(guess, ec)) labels_path = guess.string();
  }
  if (!labels_path.empty()) {
    auto labels = read_labels(labels_path);
    if (!labels.ok()) return std::move(labels).error();
    r.labels = std::move(labels).value();
    const auto n = std::size_t(out_shape.num_elements());
    if (r.labels.size() != n && g.outputs.size() > 1) {
      // Of several outputs, labels of another size name another output's classes.
      r.warnings.push_back(labels_path + " has " + std::to_string(r.labels.size()) +
                           " labels and the top-k output '" + r.outputs[r.top_output].name + "' " +
                           std::to_string(n) +
                           " values: the labels are not used (--output chooses the output)");
      r.labels.clear();
    } else if (r.labels.size() != n) {
      r.warnings.push_back(labels_path + " has " + std::to_string(r.labels.size()) +
                           " labels, the model " + std::to_string(n) + " outputs");
    }
  }

  if (r.layers_requested) {
    // Per-layer rows, named from the plan and the map.
    const auto& plan = s->interp_->plan();
    for (const auto& p : plan) {
      LayerResult l;
      l.index = p.index;
      l.type = type_name(p.type);
      l.backend = p.backend;
      if (s->sidecar_) {
        if (const SidecarLayer* sl = s->sidecar_->layer(p.index)) {
          l.source_layers = sl->source_layers;
          l.float_tensor = sl->float_tensor;
          if (!sl->float_tensor_stated && !l.source_layers.empty()) {
            l.float_tensor = l.source_layers.back();
            // A Dense with activation='softmax' is two kmodel layers (FULLY_CONNECTED, SOFTMAX)
            // with the same source; the first one produces the graph's "<layer>/pre_softmax".
            const std::string pre = l.float_tensor + "/pre_softmax";
            if (p.type != LayerType::kSoftmax &&
                s->executor_->graph().find_tensor(pre) != converter::kNoTensor) {
              l.float_tensor = pre;
            }
          }
        }
      }
      r.layers.push_back(std::move(l));
    }
    s->captured_.resize(plan.size());
    s->layer_maps_.resize(plan.size());
    for (std::size_t i = 0; i < plan.size(); ++i) s->layer_maps_[i] = s->map_layer(i);
    Session* self = s.get();
    s->interp_->set_observer([self](const interpreter::LayerEvent& e) {
      Captured& c = self->captured_[e.index];
      c.valid = false;
      if (!e.output.empty()) {
        c.bytes.assign(e.output.begin(), e.output.end());
        c.where = "main";
        c.valid = true;
      } else if (e.type == LayerType::kK210Conv) {
        // The output stayed in KPU RAM: read it back from the row layout while it is still
        // there (the observer runs right after the layer, before anything can overwrite it).
        const auto& body = std::get<format::ConvBody>(self->interp_->model().layers[e.index].body);
        const auto f = body.fields();
        const auto w = std::uint32_t(f.out_width()), h = std::uint32_t(f.out_height()),
                   ch = std::uint32_t(f.out_channels());
        c.bytes.assign(std::size_t(w) * h * ch, 0);
        if (format::kpu_download(self->interp_->kpu_memory().all(), std::uint32_t(f.image_dst_addr),
                                 w, h, ch, c.bytes)
                .ok()) {
          c.where = "kpu";
          c.valid = true;
        }
      }
      if (self->injecting_) self->inject_reference(e);
    });
  }
  return s;
}

Result<std::vector<InputItem>> Session::collect_inputs() {
  std::vector<InputItem> items;
  for (const auto& p : options_.images) items.push_back({p, false, -1, false});
  for (const auto& p : options_.input_f32) items.push_back({p, true, -1, false});
  if (!options_.dataset.empty()) {
    std::string warning;
    std::optional<ClassMap> class_map;
    if (!options_.class_map.empty()) {
      auto cm = read_class_map(options_.class_map);
      if (!cm.ok()) return std::move(cm).error();
      class_map = std::move(cm).value();
    }
    auto ds =
        list_dataset(options_.dataset, result_.labels, &warning, class_map ? &*class_map : nullptr);
    if (!ds.ok()) return std::move(ds).error();
    if (!warning.empty()) result_.warnings.push_back(warning);
    // A label past the last output can never be predicted: that is a wrong mapping, not a miss.
    const auto& g = executor_->graph();
    const auto values = std::size_t(g.shape(g.outputs[result_.top_output]).num_elements());
    for (const auto& item : *ds) {
      if (item.label < 0 || std::size_t(item.label) < values) continue;
      const std::string label = "dataset label " + std::to_string(item.label) + " of " + item.path;
      if (g.outputs.size() == 1) {
        return Error(Errc::kInvalidArgument,
                     label + " is past the model's " + std::to_string(values) + " output" +
                         (values == 1 ? "" : "s") + " (check the subfolder names / --class-map)");
      }
      const OutputResult& top = result_.outputs[result_.top_output];
      return Error(Errc::kInvalidArgument,
                   label + " is past output " + std::to_string(result_.top_output) + " '" +
                       top.name + "' (" + std::to_string(values) + " value" +
                       (values == 1 ? "" : "s") +
                       "), the output the labels are of: check the subfolder names / "
                       "--class-map, or choose the output they name with --output (" +
                       list_outputs(g) + ")");
    }
    items.insert(items.end(), ds->begin(), ds->end());
  }
  if (items.empty()) {
    return Error(Errc::kInvalidArgument,
                 "nothing to compare: give --image, --input-f32 or --dataset");
  }
  bool any_image = std::any_of(items.begin(), items.end(), [](const auto& i) { return !i.is_f32; });
  if (any_image && !preprocess_) {
    return Error(Errc::kInvalidArgument,
                 "how images map to model inputs is unknown: no sidecar map with the converter's "
                 "preprocessing; pass --input-range MIN,MAX (e.g. 0,1 or -1,1) or --input-f32");
  }
  if (any_image && geometry_.height == 1 && geometry_.width == 1 && geometry_.channels > 3) {
    return Error(Errc::kInvalidArgument, "the model input is a vector of " +
                                             std::to_string(geometry_.channels) +
                                             " values, not an image: use --input-f32");
  }
  return items;
}

Result<std::vector<float>> Session::load_input(const InputItem& item) {
  if (item.is_f32) return load_f32_tensor(item.path, geometry_);
  converter::Shape shape{{geometry_.height, geometry_.width, geometry_.channels}};
  auto t = converter::load_image_tensor(item.path, shape, *preprocess_);
  if (!t.ok()) {
    Error e = std::move(t).error();
    if (e.file().empty()) e.in_file(item.path);
    return e;
  }
  return std::move(t->data);
}

Result<std::vector<std::uint8_t>> Session::kmodel_input(const std::vector<float>& nhwc) const {
  if (input_quant_) return quantize_to_chw(nhwc, geometry_, *input_quant_);
  std::vector<std::uint8_t> bytes(nhwc.size() * 4);
  std::memcpy(bytes.data(), nhwc.data(), bytes.size());  // FC-first: float32 LE, NHWC order
  return bytes;
}

Status Session::run(const InputItem& item) {
  auto img = evaluate(item);
  if (!img.ok()) return std::move(img).error();
  return add(std::move(img).value());
}

Status Session::add(ImageResult image) {
  if (image.outputs.size() != result_.outputs.size()) {
    return Error(Errc::kInternal, "an input result has " + std::to_string(image.outputs.size()) +
                                      " outputs, the model " +
                                      std::to_string(result_.outputs.size()));
  }
  EMC_TRY(result_.summary.add(image.float_out, image.quant_out, image.label));
  for (std::size_t o = 0; o < image.outputs.size(); ++o) {
    OutputResult& out = result_.outputs[o];
    const OutputImageResult& in = image.outputs[o];
    out.error.merge(in.error);
    ++out.images;
    out.top1_agree += in.top1_agree ? 1 : 0;
    out.top_k_overlap_sum += in.top_k_overlap;
    out.top_k_slots += in.top_k_size;
  }
  result_.images.push_back(std::move(image));
  return ok_status();
}

void Session::merge_layers(const Session& other) {
  for (std::size_t i = 0; i < result_.layers.size() && i < other.result_.layers.size(); ++i) {
    LayerResult& l = result_.layers[i];
    const LayerResult& o = other.result_.layers[i];
    if (o.compared) {
      l.error.merge(o.error);
      l.compared = true;
      l.note = o.note;
    } else if (!l.compared && l.note.empty()) {
      l.note = o.note;
    }
    if (o.isolated_compared) {
      l.isolated.merge(o.isolated);
      l.isolated_compared = true;
    }
    if (o.rounding_compared) {
      l.rounding.merge(o.rounding);
      l.rounding_compared = true;
    }
  }
}

Result<ImageResult> Session::evaluate(const InputItem& item) {
  auto input = load_input(item);
  if (!input.ok()) return std::move(input).error();

  const auto& g = executor_->graph();
  if (item.is_f32 && input_quant_) {
    if (Status s = check_fits_uint8_input(*input, geometry_, *input_quant_); !s.ok())
      return std::move(s).error().in_file(item.path);
  }
  auto kin = kmodel_input(*input);
  if (!kin.ok()) return std::move(kin).error();
  converter::Tensor t{g.shape(g.inputs[0]), std::move(input).value()};
  converter::RunOptions ro;
  ro.keep_all_tensors = result_.layers_requested;
  auto fout = executor_->run({std::move(t)}, ro);
  if (!fout.ok()) return std::move(fout).error().prefix("float model: ");
  const std::vector<converter::Tensor>& float_tensors = *fout;
  // Float output o: by tensor id when every tensor is kept, else the o-th of the outputs.
  auto float_output = [&](std::size_t o) -> const converter::Tensor& {
    return result_.layers_requested ? float_tensors.at(std::size_t(g.outputs[o]))
                                    : float_tensors.at(o);
  };

  for (auto& c : captured_) c.valid = false;
  EMC_TRY(interp_->set_input(0, *kin));
  Status st = interp_->run();
  if (!st.ok()) return std::move(st).error().in_file(options_.kmodel);

  ImageResult img;
  img.name = item.path;
  img.label = item.label;
  // Every output, compared element by element (the kmodel's in the float model's order).
  for (std::size_t o = 0; o < outputs_.size(); ++o) {
    const std::vector<float>& fv = float_output(o).data;
    std::vector<float> kv = in_float_order(outputs_[o], interp_->output(outputs_[o].kmodel_output));
    OutputImageResult out;
    EMC_TRY(out.error.add(fv, kv));
    auto agree = top1_agrees(fv, kv);
    if (!agree.ok()) return std::move(agree).error();
    out.top1_agree = *agree;
    out.top_k_overlap = top_k_overlap(fv, kv, options_.top).value();  // sizes checked above
    out.top_k_size = std::min(options_.top, fv.size());
    if (o == result_.top_output) {
      img.float_out = fv;
      img.quant_out = std::move(kv);
      img.top1_agree = out.top1_agree;
      img.top_k_overlap = out.top_k_overlap;
    }
    img.outputs.push_back(std::move(out));
  }
  img.float_top = top_k(img.float_out, options_.top);
  img.quant_top = top_k(img.quant_out, options_.top);
  img.mean_abs_dp = mean_abs_error(img.float_out, img.quant_out).value();
  img.max_abs_dp = max_abs_error(img.float_out, img.quant_out).value();

  if (result_.layers_requested) compare_layers(float_tensors, false);
  if (options_.isolated) {
    // Second run, every comparable layer's output replaced by the quantized float reference.
    for (auto& c : captured_) c.valid = false;
    current_float_ = &float_tensors;
    injecting_ = true;
    st = interp_->run();
    injecting_ = false;
    current_float_ = nullptr;
    if (!st.ok()) return std::move(st).error().prefix("isolated run: ").in_file(options_.kmodel);
    compare_layers(float_tensors, true);
  }
  return img;
}

Session::LayerMap Session::map_layer(std::size_t i) const {
  LayerMap m;
  const auto& g = executor_->graph();
  const auto& model = interp_->model();
  const LayerResult& l = result_.layers[i];
  const LayerType type = model.layers[i].type;
  if (!sidecar_) {
    m.why = "no sidecar map";
    return m;
  }
  const SidecarLayer* sl = sidecar_->layer(i);
  if (!sl) {
    m.why = "not in the map";
    return m;
  }
  if (l.float_tensor.empty()) {
    m.why = sl->float_tensor_stated ? "no float counterpart (an intermediate value)"
                                    : "no float counterpart";
    return m;
  }
  m.tensor = g.find_tensor(l.float_tensor);
  if (m.tensor == converter::kNoTensor) {
    // The converter's passes name the tensors they add "<layer>/<what>" (an n-ary merge's partial
    // sums, a pre-activation): intermediate values the model does not compute.
    const auto slash = l.float_tensor.find('/');
    const bool made = slash != std::string::npos &&
                      g.find_tensor(l.float_tensor.substr(0, slash)) != converter::kNoTensor;
    m.why = made ? "no float counterpart (an intermediate value, '" + l.float_tensor + "')"
                 : "float tensor '" + l.float_tensor + "' not in the float graph";
    return m;
  }
  m.is_i8 = sl->dtype == "int8";
  m.is_u8 = sl->dtype.empty() ? writes_uint8(type) : (sl->dtype == "uint8" || m.is_i8);
  if (m.is_u8) {
    if (sl->quant.empty()) {
      m.why = std::string(m.is_i8 ? "int8" : "uint8") +
              " output without quantization parameters in the map";
      return m;
    }
    m.quant = sl->quant;
  }
  const converter::Shape& fs = g.shape(m.tensor);
  const bool chw = sl->layout.empty() ? true : sl->layout == "CHW";
  // A flatten or reshape of a map stored as the map's CHW planes (a Flatten, a YOLO head's
  // [7, 7, 30] -> [7, 7, 5, 6]): compared as that map (the float tensor, row-major, is the map's
  // HWC order).
  const bool flat_map = chw && sl->map_shape.size() == 3 &&
                        std::uint64_t(sl->map_shape[0]) * sl->map_shape[1] * sl->map_shape[2] ==
                            std::uint64_t(fs.num_elements());
  if ((fs.rank() == 3 && chw) || flat_map) {
    m.spatial = true;
    if (flat_map) {
      m.h = sl->map_shape[0], m.w = sl->map_shape[1], m.c = sl->map_shape[2];
    } else {
      m.h = std::size_t(fs.dims[0]), m.w = std::size_t(fs.dims[1]), m.c = std::size_t(fs.dims[2]);
    }
    // The kmodel map size: K210 registers for a conv, else the float shape.
    m.kc = m.c, m.kh = m.h, m.kw = m.w;
    if (type == LayerType::kK210Conv) {
      const auto f = std::get<format::ConvBody>(model.layers[i].body).fields();
      m.kc = std::size_t(f.out_channels()), m.kh = std::size_t(f.out_height()),
      m.kw = std::size_t(f.out_width());
    }
    // Which kmodel pixel holds float pixel (y, x): the same one; pixel (0,0) of a 4x4 map for
    // a 1x1 tensor padded for the KPU (kmodel_v3.md: ADD/REMOVE_PADDING use pixel (0,0)); or,
    // as the sidecar states ("sampling"), (y·step + offset, x·step + offset) of a
    // full-resolution map whose consumer subsamples it (emc-convert's exact stride 2: offset 0
    // for left-top sampling after symmetric padding, 1 for the odd rows/columns of TF 'same' on
    // even sizes and 'valid' on odd sizes). The offset is never guessed from the shapes: both
    // forms have the same shapes, and comparing the wrong pixels reads as a broken layer.
    const std::size_t step = sl->sample_step, off = sl->sample_offset;
    if (step >= 1) {  // stated by the map (step 1: the top-left corner of a padded map)
      if (m.kc != m.c || (m.h - 1) * step + off >= m.kh || (m.w - 1) * step + off >= m.kw) {
        m.why = "sampling step " + std::to_string(step) + " offset " + std::to_string(off) +
                " does not fit the kmodel map " + std::to_string(m.kh) + "x" +
                std::to_string(m.kw) + " for float " + converter::to_string(fs);
        return m;
      }
      m.step = step, m.off = off;
      m.how = step == 1
                  ? std::string("map under 4x4 held padded on the KPU: its corner compared")
                  : std::string("full-resolution KPU map (stride 2 done by the next layer): ") +
                        (off ? "odd" : "even") + " rows/columns compared";
    } else if (m.kc == m.c && m.kh == m.h && m.kw == m.w) {
    } else if (m.kc == m.c && m.h == 1 && m.w == 1 && m.kh == 4 && m.kw == 4) {
      m.how = "1x1 map padded to 4x4 on the KPU: pixel (0,0) compared";
    } else {
      m.why = "shape mismatch: kmodel map " + std::to_string(m.kc) + "x" + std::to_string(m.kh) +
              "x" + std::to_string(m.kw) + " (CxHxW), float " + converter::to_string(fs);
      return m;
    }
    if (m.is_u8 && m.quant.size() > 1 && m.quant.size() != m.kc) {
      m.why = "per-channel parameters do not divide the output size";
      return m;
    }
  } else if (m.is_u8 && m.quant.size() > 1 &&
             std::size_t(fs.num_elements()) % m.quant.size() != 0) {
    m.why = "per-channel parameters do not divide the output size";
    return m;
  }
  m.ok = true;
  return m;
}

Result<std::vector<float>> Session::kmodel_values(const LayerMap& m, const Captured& cap) const {
  std::vector<float> kv;
  if (m.is_u8) {
    kv.resize(cap.bytes.size());
    const std::size_t per_channel = m.quant.size();
    const std::size_t plane = per_channel > 1 ? cap.bytes.size() / per_channel : 0;
    if (per_channel > 1 && plane * per_channel != cap.bytes.size()) {
      return Error(Errc::kInvalidArgument, "per-channel parameters do not divide the output size");
    }
    for (std::size_t k = 0; k < kv.size(); ++k)
      kv[k] =
          static_cast<float>(dequant(m, m.quant[per_channel > 1 ? k / plane : 0], cap.bytes[k]));
  } else {
    if (cap.bytes.size() % 4 != 0) {
      return Error(Errc::kInvalidArgument,
                   "float32 output of " + std::to_string(cap.bytes.size()) + " bytes");
    }
    kv.resize(cap.bytes.size() / 4);
    std::memcpy(kv.data(), cap.bytes.data(), cap.bytes.size());
  }
  if (m.spatial) {
    if (m.kc * m.kh * m.kw != kv.size()) {
      return Error(Errc::kInvalidArgument, "kmodel output has " + std::to_string(kv.size()) +
                                               " values, not " +
                                               std::to_string(m.kc * m.kh * m.kw));
    }
    // The kmodel pixels that stand for the float map, in CHW order.
    std::vector<float> pick(m.c * m.h * m.w);
    for (std::size_t ch = 0; ch < m.c; ++ch)
      for (std::size_t y = 0; y < m.h; ++y)
        for (std::size_t x = 0; x < m.w; ++x)
          pick[(ch * m.h + y) * m.w + x] =
              kv[(ch * m.kh + y * m.step + m.off) * m.kw + x * m.step + m.off];
    kv = std::move(pick);
  }
  return kv;
}

std::vector<float> Session::float_values(const LayerMap& m, const converter::Tensor& ft) const {
  if (!m.spatial) return ft.data;  // vectors, or an HWC-ordered kmodel tensor (FLATTEN output)
  // Float HWC -> CHW.
  std::vector<float> fv(m.c * m.h * m.w);
  for (std::size_t ch = 0; ch < m.c; ++ch)
    for (std::size_t y = 0; y < m.h; ++y)
      for (std::size_t x = 0; x < m.w; ++x)
        fv[(ch * m.h + y) * m.w + x] = ft.data[(y * m.w + x) * m.c + ch];
  return fv;
}

void Session::inject_reference(const interpreter::LayerEvent& e) {
  const std::size_t i = e.index;
  if (i >= layer_maps_.size() || !layer_maps_[i].ok || !current_float_) return;
  const LayerMap& m = layer_maps_[i];
  const converter::Tensor& ft = current_float_->at(std::size_t(m.tensor));
  const std::vector<float> fv = float_values(m, ft);
  // The layer's own output bytes (CHW for a map), rewritten at the compared positions only:
  // the pixels a consumer does not read (the even rows of a full-resolution stride-2 map, the
  // padding of a 4x4 map) keep what the layer computed.
  const bool kpu_out = e.type == LayerType::kK210Conv;
  std::vector<std::uint8_t> bytes;
  const auto& model = interp_->model();
  format::KpuLayerFields f;
  if (kpu_out) {
    f = std::get<format::ConvBody>(model.layers[i].body).fields();
    bytes.assign(m.kc * m.kh * m.kw, 0);
    if (!format::kpu_download(interp_->kpu_memory().all(), std::uint32_t(f.image_dst_addr),
                              std::uint32_t(m.kw), std::uint32_t(m.kh), std::uint32_t(m.kc), bytes)
             .ok())
      return;
  } else {
    bytes.assign(e.output.begin(), e.output.end());
  }
  const std::size_t elem = m.is_u8 ? 1 : 4;
  const std::size_t total = bytes.size() / elem;
  const std::size_t plane = m.spatial ? m.kh * m.kw : 0;
  const std::size_t per_q = m.quant.size() > 1 ? total / m.quant.size() : total;
  auto put = [&](std::size_t k, float v) {
    if (k >= total) return;
    if (m.is_u8) {
      bytes[k] = quant_byte(m, m.quant[m.quant.size() > 1 ? k / per_q : 0], v);
    } else {
      std::memcpy(&bytes[k * 4], &v, 4);
    }
  };
  if (m.spatial) {
    for (std::size_t ch = 0; ch < m.c; ++ch)
      for (std::size_t y = 0; y < m.h; ++y)
        for (std::size_t x = 0; x < m.w; ++x)
          put(ch * plane + (y * m.step + m.off) * m.kw + x * m.step + m.off,
              fv[(ch * m.h + y) * m.w + x]);
  } else {
    if (fv.size() != total) return;
    for (std::size_t k = 0; k < total; ++k) put(k, fv[k]);
  }
  if (kpu_out) {
    (void)format::kpu_upload(bytes, std::uint32_t(m.kw), std::uint32_t(m.kh), std::uint32_t(m.kc),
                             interp_->kpu_memory().all(), std::uint32_t(f.image_dst_addr));
  }
  if (!e.output.empty()) {
    // Main-memory output: the observer's span views the interpreter's main memory.
    auto mem = interp_->main_memory().all();
    const auto off = std::size_t(e.output.data() - mem.data());
    if (off < mem.size() && e.output.size() <= mem.size() - off &&
        bytes.size() == e.output.size()) {
      std::memcpy(mem.data() + off, bytes.data(), bytes.size());  // (for a conv: its DMA copy)
    }
  }
}

double Session::dequant(const LayerMap& m, const AffineQuant& q, std::uint8_t b) {
  const double code = m.is_i8 ? double(static_cast<std::int8_t>(b)) : double(b);
  return code * q.scale + q.bias;
}

std::uint8_t Session::quant_byte(const LayerMap& m, const AffineQuant& q, double v) {
  const double code = std::round((v - q.bias) / q.scale);  // half away from zero
  if (m.is_i8)
    return static_cast<std::uint8_t>(static_cast<std::int32_t>(std::clamp(code, -128.0, 127.0)));
  return static_cast<std::uint8_t>(std::clamp(code, 0.0, 255.0));
}

void Session::compare_layers(const std::vector<converter::Tensor>& all_float, bool isolated) {
  for (std::size_t i = 0; i < result_.layers.size(); ++i) {
    LayerResult& l = result_.layers[i];
    const Captured& cap = captured_[i];
    const LayerMap& m = layer_maps_[i];
    auto skip = [&](std::string why) {
      if (!l.compared) l.note = std::move(why);
    };
    if (!m.ok) {
      skip(m.why);
      continue;
    }
    if (!cap.valid) {
      skip("output not observable (stays in KPU RAM / not reported)");
      continue;
    }
    auto kv = kmodel_values(m, cap);
    if (!kv.ok()) {
      skip(kv.error().message());
      continue;
    }
    const std::vector<float> fv = float_values(m, all_float.at(std::size_t(m.tensor)));
    if (fv.size() != kv->size()) {
      skip("size mismatch: kmodel " + std::to_string(kv->size()) + " values, float " +
           converter::to_string(executor_->graph().shape(m.tensor)));
      continue;
    }
    if (isolated) {
      if (l.isolated.add(fv, *kv).ok()) l.isolated_compared = true;
      if (m.is_u8) {
        // The floor: the float tensor rounded to the layer's own code grid (no other error).
        const std::size_t per_q = m.quant.size() > 1 ? fv.size() / m.quant.size() : fv.size();
        std::vector<float> rv(fv.size());
        for (std::size_t k = 0; k < fv.size(); ++k) {
          const AffineQuant& q = m.quant[m.quant.size() > 1 ? k / per_q : 0];
          rv[k] = static_cast<float>(dequant(m, q, quant_byte(m, q, fv[k])));
        }
        if (l.rounding.add(fv, rv).ok()) l.rounding_compared = true;
      }
      continue;
    }
    if (l.error.add(fv, *kv).ok()) {
      l.compared = true;
      l.note = cap.where == "kpu" ? "read from KPU RAM" : "";
      if (!m.how.empty()) l.note += (l.note.empty() ? "" : "; ") + m.how;
    }
  }
}

void Session::finish() {
  result_.first_below.reset();
  for (std::size_t i = 0; i < result_.layers.size(); ++i) {
    const auto& l = result_.layers[i];
    if (!l.compared) continue;
    const double v = l.error.sqnr_db();
    if (std::isnan(v) || v < result_.sqnr_threshold_db) {
      result_.first_below = i;
      break;
    }
  }
}

}  // namespace emc::compare
