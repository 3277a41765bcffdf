// Memory planning, address patching, kmodel encoding and the sidecar map (convert.h).
#include <algorithm>
#include <nlohmann/json.hpp>

#include "emc/converter/convert.h"
#include "emc/converter/memory_plan.h"
#include "emc/converter/passes.h"
#include "emc/format/kmodel_codec.h"
#include "emc/format/kpu_layout.h"
#include "k210_lower.h"

namespace emc::converter {
namespace {

using detail::Mem;

nlohmann::json sidecar_of(const ConvertResult& r, const ConvertOptions& o) {
  nlohmann::json j;
  j["format"] = "emc-kmodel-map";
  j["version"] = 1;
  j["target"] = o.target == Target::kK210 ? "k210" : "cpu";
  j["weight_bits"] = o.weight_bits;
  j["per_channel"] = o.per_channel;
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
    if (l.kpu_in_row) e["kpu_in_row"] = *l.kpu_in_row;
    if (l.kpu_out_row) e["kpu_out_row"] = *l.kpu_out_row;
    if (l.main_in) e["main_in"] = *l.main_in;
    if (l.main_out) e["main_out"] = *l.main_out;
    if (l.weight_bytes) e["weight_bytes"] = l.weight_bytes;
    if (l.sample_step != 1)
      e["sampling"] = {{"step", l.sample_step}, {"offset", l.sample_offset}};
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
  return j;
}

}  // namespace

Result<ConvertResult> convert_calibrated(const Graph& graph, const std::vector<Range>& ranges,
                                         const ConvertOptions& options) {
  if (options.weight_bits != 8 && options.weight_bits != 16) {
    return Error(Errc::kInvalidArgument, "weight bits must be 8 or 16");
  }
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
  m.header.layers_length = static_cast<std::uint32_t>(m.layers.size());
  m.header.output_count = static_cast<std::uint32_t>(m.outputs.size());
  auto bytes = format::encode_kmodel(m);
  if (!bytes.ok()) return std::move(bytes).error().prefix("encoding the kmodel: ");
  r.bytes = std::move(bytes).value();
  r.warnings = std::move(lm.warnings);
  // The K210 keeps the kmodel and its main-memory buffers in its 6 MiB of general SRAM, next to
  // the firmware (the SDK's own code and heap; MaixPy takes more). Past 5 MiB it will not load.
  constexpr std::uint64_t kK210SramBytes = 6u << 20, kK210ModelBudget = 5u << 20;
  const std::uint64_t resident = r.bytes.size() + r.main_mem_bytes;
  if (options.target == Target::kK210 && resident > kK210ModelBudget) {
    r.warnings.push_back(
        "the kmodel (" + std::to_string(r.bytes.size()) + " bytes) and its main memory (" +
        std::to_string(r.main_mem_bytes) + " bytes) take " + std::to_string(resident) +
        " bytes of the K210's " + std::to_string(kK210SramBytes) +
        " bytes of SRAM, which also hold the firmware: it will most likely not fit; put large "
        "Dense layers on the KPU (--dense kpu) or reduce the model");
  }
  r.input_is_uint8 = lm.input_is_uint8;
  r.input_shape = lm.input_shape;
  r.sidecar_json = sidecar_of(r, options).dump(1);
  return r;
}

Result<ConvertResult> convert(const Graph& graph, const std::vector<std::vector<Tensor>>& samples,
                              const ConvertOptions& options) {
  auto opt = optimize_graph(graph);
  if (!opt.ok()) return opt.error();
  auto exec = FloatExecutor::create(opt.value());
  if (!exec.ok()) return exec.error();
  // Structural problems (a kernel size, a stride, channel counts, KPU RAM) do not depend on the
  // ranges: lower once with placeholder ranges so that they are reported before a long
  // calibration run. Range-dependent failures are left to the real lowering.
  {
    const std::vector<Range> placeholder(exec->graph().tensors.size(), Range{-1.0, 1.0});
    auto dry = convert_calibrated(exec->graph(), placeholder, options);
    if (!dry.ok()) {
      const Errc c = dry.error().code();
      if (c == Errc::kUnsupportedLayer || c == Errc::kInvalidLayerConfig ||
          c == Errc::kShapeMismatch || c == Errc::kKpuOutOfMemory)
        return dry.error();
    }
  }
  auto ranges = calibrate(exec.value(), samples, options.calibration, options.progress,
                          options.threads);
  if (!ranges.ok()) return ranges.error();
  return convert_calibrated(exec->graph(), ranges.value(), options);
}

}  // namespace emc::converter
