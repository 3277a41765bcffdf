// Memory planning, address patching, kmodel encoding and the sidecar map (convert.h).
#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

#include "emc/converter/convert.h"
#include "emc/converter/memory_plan.h"
#include "emc/converter/passes.h"
#include "emc/converter/sidecar_map.h"
#include "emc/format/kmodel_codec.h"
#include "emc/format/kpu_layout.h"
#include "lower/lowered.h"

namespace emc::converter {
namespace {

using detail::Mem;

// What both entry points check before any work: options, weight values and the size budgets.
Status check_model_and_options(const Graph& graph, const ConvertOptions& options) {
  if (options.target == nullptr) return Error(Errc::kInvalidArgument, "no conversion target given");
  if (options.weight_bits != 8 && options.weight_bits != 16) {
    return Error(Errc::kInvalidArgument, "weight bits must be 8 or 16");
  }
  EMC_TRY(check_weight_values(graph));
  EMC_TRY(check_tensor_budget(graph));
  EMC_TRY(check_weight_budget(graph, options));
  return ok_status();
}

Result<ConvertResult> convert_calibrated_impl(const Graph& graph, const std::vector<Range>& ranges,
                                              const ConvertOptions& options) {
  EMC_TRY(check_model_and_options(graph, options));
  EMC_TRY(check_calibrated_ranges(graph, ranges));
  auto lowered = detail::lower_graph(graph, ranges, options);
  if (!lowered.ok()) return lowered.error();
  detail::LoweredModel& lm = lowered.value();

  // ---- memory planning ----
  std::vector<int> kpu_ids, main_ids;
  std::vector<KpuBufferRequest> kreq;
  std::vector<MainBufferRequest> mreq;
  for (std::size_t i = 0; i < lm.buffers.size(); ++i) {
    const auto& b = lm.buffers[i];
    if (b.last < 0) continue;  // never used
    if (b.mem == Mem::kKpu) {
      kpu_ids.push_back(static_cast<int>(i));
      kreq.push_back(KpuBufferRequest{b.rows, b.first, b.last, b.owner});
    } else {
      main_ids.push_back(static_cast<int>(i));
      mreq.push_back(MainBufferRequest{b.bytes, b.first, b.last});
    }
  }
  auto kplan = plan_kpu_memory(kreq);
  if (!kplan.ok()) return kplan.error();
  const MainPlan mplan = plan_main_memory(mreq, 8);
  ConvertResult r;
  for (const auto& q : mreq) r.main_mem_sum_bytes += (q.bytes + 7) / 8 * 8;
  r.main_mem_first_fit_bytes = plan_main_memory_in_order(mreq, 8).total_bytes;
  for (std::size_t i = 0; i < kpu_ids.size(); ++i)
    lm.buffers[static_cast<std::size_t>(kpu_ids[i])].address = kplan->start_rows[i];
  for (std::size_t i = 0; i < main_ids.size(); ++i)
    lm.buffers[static_cast<std::size_t>(main_ids[i])].address = mplan.offsets[i];
  r.kpu_peak_bytes = std::uint64_t{kplan->peak_rows} * 64;
  if (mplan.total_bytes > 0xffffffffull) {
    return Error(Errc::kMainOutOfMemory, "main memory plan exceeds 4 GiB");
  }
  r.main_mem_bytes = static_cast<std::uint32_t>(std::max<std::uint64_t>(mplan.total_bytes, 8));

  // ---- patch addresses, build the model ----
  format::Kmodel& m = r.model;
  m.header.flags = options.weight_bits == 8 ? format::kHeaderFlag8BitWeights : 0;
  m.header.max_start_address = kpu_ids.empty() ? 0 : kplan->lowest_row;
  m.header.main_mem_usage = r.main_mem_bytes;
  for (auto& L : lm.layers) {
    for (const auto& f : L.fixups) {
      f.set(L.layer, lm.buffers[static_cast<std::size_t>(f.buffer)].address + f.add);
    }
    if (L.layer.type == format::LayerType::kK210Conv) {
      const auto fl = std::get<format::ConvBody>(L.layer.body).fields();
      L.info.kpu_in_row = static_cast<std::uint32_t>(fl.image_src_addr);
      L.info.kpu_out_row = static_cast<std::uint32_t>(fl.image_dst_addr);
    }
    if (L.kpu_out >= 0 && L.layer.type == format::LayerType::kK210Upload)
      L.info.kpu_out_row =
          static_cast<std::uint32_t>(lm.buffers[static_cast<std::size_t>(L.kpu_out)].address);
    if (L.main_in >= 0)
      L.info.main_in =
          static_cast<std::uint32_t>(lm.buffers[static_cast<std::size_t>(L.main_in)].address);
    if (L.main_out >= 0)
      L.info.main_out =
          static_cast<std::uint32_t>(lm.buffers[static_cast<std::size_t>(L.main_out)].address);
    m.layers.push_back(L.layer);
    r.layers.push_back(L.info);
  }
  for (const auto& o : lm.outputs) {
    m.outputs.push_back(format::OutputDesc{
        static_cast<std::uint32_t>(lm.buffers[static_cast<std::size_t>(o.buffer)].address),
        o.bytes});
  }
  // EMC layer types on a target whose stock runtime cannot run them (k210): named, and an error
  // when the user asked for a file the vendor runtime loads.
  const Target& target = *options.target;
  if (target.emc_types_need_emc_runtime) {
    // One warning per Keras layer that left the KPU, listing every EMC layer serving it.
    struct OffKpu {
      const LayerInfo* first = nullptr;
      std::vector<std::size_t> index;
      std::vector<std::string> types;
    };
    std::vector<OffKpu> off_kpu;
    std::map<std::pair<std::optional<std::int64_t>, std::string>, std::size_t>
        group;  // Keras layer -> off_kpu
    for (const LayerInfo& li : r.layers) {
      if (!format::is_emc_type(li.type)) continue;
      const std::string type(format::to_string(li.type));
      if (li.off_kpu_layer) {  // a Keras layer the KPU cannot run exactly (Lowerer fallback)
        if (options.sdk_compatible) {
          return Error(Errc::kUnsupportedLayer,
                       li.off_kpu_reason + "; its CPU form (" + type +
                           ") is an EMC layer type, which the stock K210 SDK loader and MaixPy "
                           "cannot run, and --sdk-compatible was given: " +
                           li.off_kpu_change +
                           ", or convert without --sdk-compatible and run "
                           "the kmodel with EMC's runtime")
              .with_layer(*li.off_kpu_layer);
        }
        const auto [at, added] = group.try_emplace(
            std::make_pair(li.off_kpu_layer->index, li.off_kpu_layer->name), off_kpu.size());
        if (added) off_kpu.push_back(OffKpu{&li, {}, {}});
        off_kpu[at->second].index.push_back(li.index);
        off_kpu[at->second].types.push_back(type);
        continue;
      }
      const std::string who =
          "layer " + std::to_string(li.index) + " (" + type +
          (li.sources.empty() ? std::string() : ", from '" + li.sources.front() + "'") + ")";
      if (options.sdk_compatible) {
        return Error(Errc::kUnsupportedLayer,
                     who +
                         " is an EMC CPU layer type: the stock K210 SDK loader and MaixPy cannot "
                         "run it, and --sdk-compatible was given")
            .with_layer(LayerRef{static_cast<std::int64_t>(li.index),
                                 li.sources.empty() ? "" : li.sources.front(), type});
      }
      lm.warnings.push_back(who +
                            " runs as an EMC CPU layer type: EMC's runtime (emc-run) runs "
                            "it, the stock K210 SDK loader and MaixPy cannot "
                            "(--sdk-compatible makes this an error)");
    }
    for (const OffKpu& o : off_kpu) {
      const Error at = Error(Errc::kUnsupportedLayer, "").with_layer(*o.first->off_kpu_layer);
      std::string where = o.index.size() == 1 ? "kmodel layer " : "kmodel layers ";
      std::string types;
      for (std::size_t i = 0; i < o.index.size(); ++i) {
        where += (i ? ", " : "") + std::to_string(o.index[i]);
        types += (i ? ", " : "") + o.types[i];
      }
      lm.warnings.push_back(
          at.to_string() + "runs on the CPU as " + where + " (" + types +
          (o.index.size() == 1 ? ", an EMC layer type): " : ": EMC layer types): ") +
          o.first->off_kpu_reason +
          ". EMC's runtime (emc-run) runs it; the stock K210 SDK loader and "
          "MaixPy cannot (--sdk-compatible makes this an error)");
    }
  }
  m.header.layers_length = static_cast<std::uint32_t>(m.layers.size());
  m.header.output_count = static_cast<std::uint32_t>(m.outputs.size());
  auto bytes = format::encode_kmodel(m);
  if (!bytes.ok()) return std::move(bytes).error().prefix("encoding the kmodel: ");
  r.bytes = std::move(bytes).value();
  r.warnings = std::move(lm.warnings);
  // The target's memory budget (k210: the kmodel and its main-memory buffers share the SRAM with
  // the firmware; cpu: the loader's cap on the kmodel).
  const std::uint64_t resident = r.bytes.size() + r.main_mem_bytes;
  const std::uint64_t limit = target.limit_bytes;
  const std::string title(target.title);
  if ((target.limit_includes_main_memory ? resident : r.bytes.size()) > limit) {
    std::vector<const LayerInfo*> big;
    for (const auto& l : r.layers) big.push_back(&l);
    std::sort(big.begin(), big.end(), [](const LayerInfo* a, const LayerInfo* b) {
      return a->weight_bytes > b->weight_bytes;
    });
    std::string names;
    for (std::size_t i = 0; i < std::min<std::size_t>(3, big.size()); ++i) {
      std::string src;
      for (const auto& n : big[i]->sources) src += (src.empty() ? "" : "+") + n;
      names += (i ? ", " : "") + std::string("layer ") + std::to_string(big[i]->index) + " " +
               std::string(format::to_string(big[i]->type)) + " '" + src + "' (" +
               std::to_string(big[i]->weight_bytes) + " bytes)";
    }
    return Error(Errc::kMainOutOfMemory,
                 "the kmodel (" + std::to_string(r.bytes.size()) + " bytes)" +
                     (target.limit_includes_main_memory
                          ? " and its main memory (" + std::to_string(r.main_mem_bytes) +
                                " bytes) do not fit the " + title + "'s " + std::to_string(limit) +
                                " bytes of SRAM"
                          : " exceeds the " + title + "'s limit of " + std::to_string(limit) +
                                " bytes (what emc-run loads)") +
                     "; the biggest layers: " + names + std::string(target.oversize_hint));
  }
  if (target.warn_bytes > 0 && resident > target.warn_bytes) {
    r.warnings.push_back(
        "the kmodel (" + std::to_string(r.bytes.size()) + " bytes) and its main memory (" +
        std::to_string(r.main_mem_bytes) + " bytes) take " + std::to_string(resident) +
        " bytes of the " + title + "'s " + std::to_string(limit) +
        " bytes of SRAM, which also hold the firmware: it will most likely not fit; put large "
        "Dense layers on the KPU (--dense kpu) or reduce the model");
  }
  // Self-check: the verifying reader must accept what was built (fuzz finding 23 wrote a scale
  // that float32 held as 0, and the reader refused the file).
  if (auto parsed = format::parse_kmodel(r.bytes); !parsed.ok()) {
    return Error(Errc::kInternal, "the kmodel built fails EMC's own reader (" +
                                      parsed.error().to_string() +
                                      "): a defect in EMC, nothing was written; please report it "
                                      "with the model");
  }
  r.input_is_uint8 = lm.input_is_uint8;
  r.input_shape = lm.input_shape;
  r.sidecar_json = write_map_json(r, options);
  return r;
}

Result<ConvertResult> convert_impl(const Graph& graph,
                                   const std::vector<std::vector<Tensor>>& samples,
                                   const ConvertOptions& options) {
  EMC_TRY(check_model_and_options(graph, options));
  EMC_TRY(check_samples(graph, samples));
  auto opt = optimize_graph(graph);
  if (!opt.ok()) return opt.error();
  if (options.equalize) {
    opt = equalize_cross_layer(std::move(opt).value());
    if (!opt.ok()) return opt.error();
  }
  if (options.target->prepare_graph) {  // e.g. cpu: calibrate what its int8 layers write
    opt = options.target->prepare_graph(std::move(opt).value());
    if (!opt.ok()) return opt.error();
  }
  auto exec = FloatExecutor::create(std::move(opt).value(), options.float_mode);
  if (!exec.ok()) return exec.error();
  // Structural problems (a kernel size, a stride, channel counts, KPU RAM) do not depend on the
  // ranges: lower once with placeholder ranges so that they are reported before a long
  // calibration run. Range-dependent failures are left to the real lowering.
  // The dry run also says whether the kmodel takes uint8 pixels, so samples that no pixel can
  // stand for are refused before calibration (and after the real lowering if the dry run failed).
  bool pixels_checked = false;
  {
    const std::vector<Range> placeholder(exec->graph().tensors.size(), Range{-1.0, 1.0});
    auto dry = convert_calibrated_impl(exec->graph(), placeholder, options);
    if (!dry.ok()) {
      const Errc c = dry.error().code();
      if (c == Errc::kUnsupportedLayer || c == Errc::kInvalidLayerConfig ||
          c == Errc::kShapeMismatch || c == Errc::kKpuOutOfMemory)
        return dry.error();
    } else {
      if (dry->input_is_uint8) EMC_TRY(check_samples_are_pixels(graph, samples, options));
      pixels_checked = true;
    }
  }
  auto ranges =
      calibrate(exec.value(), samples, options.calibration, options.progress, options.threads);
  if (!ranges.ok()) return ranges.error();
  auto r = convert_calibrated_impl(exec->graph(), ranges.value(), options);
  if (!r.ok()) return r;
  if (!pixels_checked && r->input_is_uint8)
    EMC_TRY(check_samples_are_pixels(graph, samples, options));
  const Graph& g = exec->graph();
  for (std::size_t t = 0; t < ranges->size() && t < g.tensors.size(); ++t) {
    const Range& rg = (*ranges)[t];
    if (rg.values == 0) continue;
    r->calibration.push_back({g.tensors[t].name, rg.min, rg.max, rg.observed_min, rg.observed_max,
                              rg.clipped_fraction, rg.values});
  }
  // Classes: a vector output ([C] or [1, 1, C]); a map or a detector head has none.
  std::int64_t classes = 0;
  if (!g.outputs.empty()) {
    const Shape& os = g.shape(g.outputs[0]);
    if (os.rank() == 1 || (os.rank() == 3 && os.h() == 1 && os.w() == 1)) classes = os.c();
  }
  auto set_warnings = calibration_set_warnings(samples, classes);
  r->warnings.insert(r->warnings.begin(), set_warnings.begin(), set_warnings.end());
  r->sidecar_json = write_map_json(*r, options);
  return r;
}

}  // namespace

Result<ConvertResult> convert_calibrated(const Graph& graph, const std::vector<Range>& ranges,
                                         const ConvertOptions& options) {
  return no_throw("convert", [&] { return convert_calibrated_impl(graph, ranges, options); });
}

Result<ConvertResult> convert(const Graph& graph, const std::vector<std::vector<Tensor>>& samples,
                              const ConvertOptions& options) {
  return no_throw("convert", [&] { return convert_impl(graph, samples, options); });
}

}  // namespace emc::converter
