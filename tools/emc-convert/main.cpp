// emc-convert: TF.js layers model.json -> kmodel V3 (+ <out>.map.json sidecar).
//
//   emc-convert model.json -p k210 --dataset images/ [-o out.kmodel] [--quant minmax|kld|mse]
//               [--per-channel] [--input-range 0,1|-1,1|0,255|mean=R,G,B:std=R,G,B] [--bgr]
//               [--weights-bits 8|16] [--report] [--approx-stride2] [--threads N] [--exact-float]
//               [--quiet]
//
// Calibration needs sample inputs: --dataset DIR with images (png, jpg, bmp, ppm, pgm, tga, gif;
// resized to the model input) and/or raw float32 tensors (*.f32, already preprocessed, exactly the
// input's element count). Without it the tool stops with a message saying so.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "emc/converter/convert.h"
#include "emc/converter/image.h"
#include "emc/converter/model_file.h"
#include "emc/converter/model_json.h"
#include "emc/format/file_io.h"
#include "emc/format/kmodel_codec.h"
#include "emc/format/kpu_cycle_model.h"
#include "progress_bar.h"

namespace fs = std::filesystem;
using namespace emc;
using namespace emc::converter;

namespace {

constexpr std::size_t kMaxCalibrationSamples = 500;
constexpr std::size_t kMaxListedFiles = 1u << 20;  // directory entries examined in --dataset

int fail(const Error& e) {
  std::cerr << "emc-convert: error: " << e.to_string() << "\n";
  return exit_code_for(e.code());
}

Result<Preprocess> parse_input_range(const std::string& s, bool bgr) {
  Preprocess p;
  p.order = bgr ? ChannelOrder::kBgr : ChannelOrder::kRgb;
  if (s == "0,1") {
    p.scale = PixelScale::kZeroOne;
  } else if (s == "-1,1") {
    p.scale = PixelScale::kMinusOneOne;
  } else if (s == "0,255") {
    p.scale = PixelScale::kRaw;
  } else if (s.rfind("mean=", 0) == 0 && s.find(":std=") != std::string::npos) {
    p.scale = PixelScale::kMeanStd;
    const auto colon = s.find(":std=");
    auto parse3 = [](const std::string& list, std::array<float, 3>& out) {
      std::stringstream ss(list);
      std::string item;
      int i = 0;
      while (std::getline(ss, item, ',')) {
        if (i >= 3) return false;
        try {
          out[i++] = std::stof(item);
        } catch (...) {
          return false;
        }
      }
      if (i == 1) out[1] = out[2] = out[0];
      return i == 1 || i == 3;
    };
    if (!parse3(s.substr(5, colon - 5), p.mean) || !parse3(s.substr(colon + 5), p.std) ||
        std::any_of(p.std.begin(), p.std.end(), [](float v) { return !(v > 0); })) {
      return Error(Errc::kInvalidArgument,
                   "--input-range '" + s + "': expected mean=m[,m,m]:std=s[,s,s] with s > 0");
    }
  } else {
    return Error(Errc::kInvalidArgument,
                 "--input-range '" + s + "': use 0,1 | -1,1 | 0,255 | mean=R,G,B:std=R,G,B");
  }
  return p;
}

bool is_image(const fs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  return e == ".png" || e == ".jpg" || e == ".jpeg" || e == ".bmp" || e == ".ppm" || e == ".pgm" ||
         e == ".tga" || e == ".gif";
}

// The calibration files of `dir` (images and .f32 tensors), sorted. Entries that cannot be
// examined (a symlink loop, a name too long to resolve) are errors naming them.
Result<std::vector<fs::path>> list_dataset(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return Error(Errc::kIo, "--dataset '" + dir + "' is not a directory" +
                                (ec ? ": " + ec.message() : std::string()));
  }
  std::vector<fs::path> files;
  fs::directory_iterator it(dir, ec), end;
  if (ec) return Error(Errc::kIo, "cannot list the folder: " + ec.message()).in_file(dir);
  std::size_t seen = 0;
  for (; it != end; it.increment(ec)) {
    if (ec) return Error(Errc::kIo, "cannot list the folder: " + ec.message()).in_file(dir);
    if (++seen > kMaxListedFiles) {
      return Error(Errc::kInvalidArgument,
                   "more than " + std::to_string(kMaxListedFiles) + " entries")
          .in_file(dir);
    }
    const fs::path& p = it->path();
    if (!(is_image(p) || p.extension() == ".f32")) continue;
    std::error_code fec;
    const bool regular = it->is_regular_file(fec);
    if (fec == std::errc::no_such_file_or_directory) continue;  // a dangling symlink
    if (fec) {
      return Error(Errc::kIo, "cannot examine this calibration file: " + fec.message())
          .in_file(p.string());
    }
    if (regular) files.push_back(p);
  }
  if (ec) return Error(Errc::kIo, "cannot list the folder: " + ec.message()).in_file(dir);
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    return Error(Errc::kInvalidArgument, "--dataset '" + dir +
                                             "' has no images (png/jpg/bmp/ppm/pgm/tga/gif) or "
                                             ".f32 tensors");
  }
  if (files.size() > kMaxCalibrationSamples) {  // evenly spaced, deterministic
    std::vector<fs::path> pick;
    for (std::size_t i = 0; i < kMaxCalibrationSamples; ++i)
      pick.push_back(files[i * files.size() / kMaxCalibrationSamples]);
    files = std::move(pick);
  }
  return files;
}

Result<std::vector<std::vector<Tensor>>> load_dataset(const std::vector<fs::path>& files,
                                                      const Graph& g, const Preprocess& pre) {
  const Shape& shape = g.shape(g.inputs.at(0));
  if (shape.num_elements() > kMaxTensorElements) {
    return Error(Errc::kInvalidArgument, "the model input " + to_string(shape) + " has " +
                                             std::to_string(shape.num_elements()) +
                                             " elements, more than the limit of " +
                                             std::to_string(kMaxTensorElements));
  }
  std::vector<std::vector<Tensor>> out;
  for (const auto& f : files) {
    Tensor t;
    if (f.extension() == ".f32") {
      const std::uint64_t need = static_cast<std::uint64_t>(shape.num_elements()) * 4;
      auto raw = format::read_file_bounded(f.string(), need, "calibration tensor");
      if (!raw.ok() || raw->size() != need) {
        if (!raw.ok() && raw.error().code() != Errc::kInvalidArgument) return raw.error();
        return Error(Errc::kShapeMismatch, f.string() + ": " +
                                               (raw.ok() ? std::to_string(raw->size()) + " bytes"
                                                         : std::string("more bytes than needed")) +
                                               ", the model input " + to_string(shape) + " needs " +
                                               std::to_string(need));
      }
      t.shape = shape;
      t.data.resize(static_cast<std::size_t>(shape.num_elements()));
      std::memcpy(t.data.data(), raw->data(), raw->size());
      for (std::size_t k = 0; k < t.data.size(); ++k) {
        if (!std::isfinite(t.data[k])) {
          return Error(Errc::kInvalidArgument, "calibration tensor value " + std::to_string(k) +
                                                   " (byte offset " + std::to_string(4 * k) +
                                                   ") is not finite")
              .in_file(f.string());
        }
      }
    } else {
      if (shape.rank() != 3) {
        return Error(Errc::kInvalidArgument,
                     "images need a [H, W, C] model input; this model takes " + to_string(shape) +
                         " (use .f32 tensors)");
      }
      auto r = load_image_tensor(f.string(), shape, pre);
      if (!r.ok()) return r.error();
      t = std::move(r).value();
    }
    out.push_back({std::move(t)});
  }
  return out;
}

// `-o` (and its map) must not name an input: the model, a shard, a calibration file.
Status check_output_is_not_an_input(const std::string& out, const std::string& model_path,
                                    const Model& model, const std::vector<fs::path>& dataset) {
  auto clash = [&](const std::string& input, const char* role) -> Status {
    if (format::same_file(out, input)) {
      return Error(Errc::kInvalidArgument, "the output would overwrite " + std::string(role) + " " +
                                               input + ": choose another -o")
          .in_file(out);
    }
    return ok_status();
  };
  EMC_TRY(clash(model_path, "the model"));
  for (const auto& s : model.shard_files) EMC_TRY(clash(s, "the weight shard"));
  for (const auto& f : dataset) EMC_TRY(clash(f.string(), "the calibration file"));
  return ok_status();
}

void print_report(const ConvertResult& r, std::size_t file_size) {
  std::printf("%-4s %-28s %-4s %-15s %-15s %-13s %-19s %9s %10s  %s\n", "#", "type", "on", "in",
              "out", "kpu rows", "main in->out", "weights", "cycles", "source");
  std::uint64_t kpu_cycles = 0;
  const bool eight = r.model.eight_bit_weights();
  for (std::size_t i = 0; i < r.layers.size(); ++i) {
    const auto& l = r.layers[i];
    auto dims = [](const std::vector<std::int32_t>& d) {
      std::string s;
      for (std::size_t k = 0; k < d.size(); ++k) s += (k ? "x" : "") + std::to_string(d[k]);
      return s.empty() ? std::string("-") : s;
    };
    std::string rows = "-";
    if (l.kpu_in_row || l.kpu_out_row) {
      rows = (l.kpu_in_row ? std::to_string(*l.kpu_in_row) : std::string("-")) + "->" +
             (l.kpu_out_row ? std::to_string(*l.kpu_out_row) : std::string("-"));
    }
    std::string mem = (l.main_in ? std::to_string(*l.main_in) : std::string("-")) + "->" +
                      (l.main_out ? std::to_string(*l.main_out) : std::string("-"));
    std::string cycles = "-";
    if (l.type == format::LayerType::kK210Conv) {
      const auto& body = std::get<format::ConvBody>(r.model.layers[i].body);
      const auto c = format::estimate_kpu_conv(body.fields(), eight, body.main_mem_out());
      kpu_cycles += c.cycles;
      cycles = std::to_string(c.cycles);
    }
    std::string src;
    for (const auto& s : l.sources) src += (src.empty() ? "" : "+") + s;
    if (!l.note.empty()) src += (src.empty() ? "" : "  ") + std::string("[") + l.note + "]";
    if (l.act_fit_error_lsb) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "  act %s err %.2f LSB", l.activation.c_str(),
                    *l.act_fit_error_lsb);
      src += buf;
    }
    if (l.rounding_error && l.output_range && *l.output_range > 0) {
      // The quantized weights' and input grid's estimated error (docs/cpu_target.md), in % of the
      // range.
      char buf[64];
      std::snprintf(buf, sizeof buf, "  rounding ~%.1f%% of range",
                    100.0 * *l.rounding_error / *l.output_range);
      src += buf;
    }
    std::printf("%-4zu %-28s %-4s %-15s %-15s %-13s %-19s %9llu %10s  %s\n", i,
                std::string(format::to_string(l.type)).c_str(),
                l.on_kpu                   ? "KPU"
                : l.off_kpu_reason.empty() ? "CPU"
                                           : "CPU*",
                dims(l.in_shape).c_str(), dims(l.out_shape).c_str(), rows.c_str(), mem.c_str(),
                static_cast<unsigned long long>(l.weight_bytes), cycles.c_str(), src.c_str());
  }
  for (const auto& l : r.layers) {
    if (l.off_kpu_reason.empty()) continue;
    std::printf("CPU* layer %zu: off the KPU (%s), an EMC layer type: %s\n", l.index,
                l.off_kpu_layer ? l.off_kpu_layer->name.c_str() : "?", l.off_kpu_reason.c_str());
  }
  std::printf("\nfile size        %zu bytes\n", file_size);
  std::printf("KPU RAM peak     %llu bytes of 2097152\n",
              static_cast<unsigned long long>(r.kpu_peak_bytes));
  std::printf(
      "main memory      %u bytes (liveness plan, greedy by size; first fit in layer order "
      "%llu, no sharing %llu)\n",
      r.main_mem_bytes, static_cast<unsigned long long>(r.main_mem_first_fit_bytes),
      static_cast<unsigned long long>(r.main_mem_sum_bytes));
  std::uint64_t weights = 0;
  for (const auto& l : r.layers) weights += l.weight_bytes;
  std::printf("weights          %llu bytes\n", static_cast<unsigned long long>(weights));
  std::printf(
      "KPU time (est.)  %.3f ms at 400 MHz (%llu cycles; accel_sim cycle model, CPU layers "
      "not included)\n",
      double(kpu_cycles) / 400e3, static_cast<unsigned long long>(kpu_cycles));
  std::printf("input            %s %s\n", r.input_is_uint8 ? "uint8 CHW" : "float32 NHWC",
              [&] {
                std::string s;
                for (auto d : r.input_shape) s += (s.empty() ? "" : "x") + std::to_string(d);
                return s;
              }()
                  .c_str());
  if (!r.calibration.empty()) {
    std::printf(
        "\ncalibration (range chosen per tensor, and the share of the calibration values "
        "it clips)\n");
    std::printf("%-36s %12s %12s %12s %12s %9s\n", "tensor", "min", "max", "seen min", "seen max",
                "clipped");
    for (const auto& c : r.calibration) {
      std::printf("%-36s %12.6g %12.6g %12.6g %12.6g %8.4f%%\n", c.tensor.c_str(), c.min, c.max,
                  c.observed_min, c.observed_max, 100.0 * c.clipped_fraction);
    }
  }
  for (const auto& w : r.warnings) std::printf("warning: %s\n", w.c_str());
}

}  // namespace

static int run(int argc, char** argv) {
  CLI::App app{
      "emc-convert: TF.js model.json / Keras .h5 / .keras -> kmodel V3 for the Kendryte K210"};
  std::string model_path, platform = "k210", out_path, dataset, quant = "minmax",
                          input_range = "0,1", dense = "auto";
  bool per_channel = false, bgr = false, report = false, approx = false, quantized_add = false;
  bool sdk_compatible = false;
  int weight_bits = 8;
  app.add_option("model", model_path, "model.json (TF.js layers), Keras .h5 or .keras")->required();
  app.add_option("-p,--platform", platform, target_names())
      ->check(CLI::IsMember(target_name_list()));
  app.add_option("-o,--output", out_path,
                 "output kmodel (default: <model>.kmodel next to model.json)");
  app.add_option("--dataset", dataset, "calibration folder: images and/or .f32 input tensors");
  app.add_option("--quant", quant,
                 "calibration: minmax | kld | mse (range minimising the squared quantization "
                 "error) | percentile (99.99 % of the values inside)")
      ->check(CLI::IsMember({"minmax", "kld", "mse", "percentile"}));
  bool per_layer = false;
  app.add_flag("--per-channel", per_channel,
               "per-output-channel weight scales on every layer (default: per channel, except "
               "where one per-layer scale quantizes a layer's weights with less error, e.g. "
               "weights stored on a per-tensor grid; on the K210 per-channel scales fold into "
               "the BN multipliers at no cost)");
  app.add_flag("--per-layer", per_layer, "one weight scale per layer (the old default)");
  bool no_bias_correction = false;
  app.add_flag("--no-bias-correction", no_bias_correction,
               "keep the conv biases as they are (default: subtract the mean output error of "
               "the quantized weights, estimated on the calibration data)");
  bool cle = false, no_cle = false;
  app.add_flag("--cle", cle,
               "cross-layer equalization (Nagel et al. 2019) before calibration: rescales the "
               "channels of conv/depthwise/dense pairs with linear, ReLU or LeakyReLU between "
               "them (exact; ReLU6 pairs are left alone)");
  app.add_flag("--no-cle", no_cle, "no cross-layer equalization (the default)");
  app.add_option("--input-range", input_range,
                 "pixel preprocessing: 0,1 | -1,1 | 0,255 | mean=R,G,B:std=R,G,B (pixel units); "
                 "default 0,1, or 0,255 when the model starts with a Rescaling (it normalizes "
                 "its own input) or a Normalization whose statistics are not those of [0, 1] "
                 "values");
  app.add_flag("--bgr", bgr, "the model takes BGR channel order");
  app.add_option("--weights-bits", weight_bits, "8 | 16")->check(CLI::IsMember({8, 16}));
  app.add_flag("--report", report, "print the per-layer report");
  app.add_option("--dense", dense,
                 "k210 placement of Dense layers: auto (the KPU when the float weights would "
                 "exceed 1 MiB) | cpu (float FULLY_CONNECTED, exact) | kpu (4x4-padded 1x1 KPU "
                 "conv, quantized)")
      ->check(CLI::IsMember({"auto", "cpu", "kpu"}));
  app.add_flag("--quantized-add", quantized_add,
               "run Add layers as QUANTIZED_ADD on uint8 (less memory and time on the chip, "
               "~1 LSB per add; default: float ADD, more accurate for residual networks)");
  app.add_flag("--sdk-compatible", sdk_compatible,
               "-p k210: fail instead of warning when a layer would use an EMC CPU layer type "
               "(the stock K210 SDK loader and MaixPy cannot run those)");
  app.add_flag("--approx-stride2", approx,
               "allow an approximate stride-2 form (TF 'same' padding taken as symmetric)");
  int threads = 0;
  app.add_option("--threads", threads,
                 "calibration threads, one sample each (default 0: one per hardware thread); the "
                 "result does not depend on it")
      ->check(CLI::NonNegativeNumber);
  bool exact_float = false;
  app.add_flag("--exact-float", exact_float,
               "calibrate with the float executor that reproduces TF.js's arithmetic bit for bit "
               "(slower; default: the SIMD float32 executor, which differs by float rounding)");
  bool quiet = false;
  app.add_flag("--quiet", quiet, "no calibration progress bar (it is shown only on a terminal)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : exit_code_for(Errc::kInvalidArgument);
  }
  if (model_path.empty() || (app.count("-o") && out_path.empty()) ||
      (app.count("--dataset") && dataset.empty())) {
    return fail(Error(Errc::kInvalidArgument, "a path argument is empty"));
  }
  auto pre = parse_input_range(input_range, bgr);
  if (!pre.ok()) return fail(pre.error());
  auto model = load_model(model_path);
  if (!model.ok()) return fail(model.error());
  for (const auto& w : model->warnings) std::cerr << "emc-convert: warning: " << w << "\n";
  auto graph = build_graph(model.value());
  if (!graph.ok()) return fail(graph.error());
  if (dataset.empty()) {
    return fail(
        Error(Errc::kInvalidArgument,
              "calibration data is required: pass --dataset DIR with images like the ones "
              "the model will see (or preprocessed .f32 input tensors); quantization ranges "
              "cannot be guessed"));
  }
  auto files = list_dataset(dataset);
  if (!files.ok()) return fail(files.error());
  if (out_path.empty()) {
    fs::path p(model_path);
    out_path = (p.parent_path() / p.stem()).string() + ".kmodel";
  }
  const std::string map_path = out_path + ".map.json";
  for (const std::string& o : {out_path, map_path}) {
    if (Status s = check_output_is_not_an_input(o, model_path, model.value(), *files); !s.ok())
      return fail(s.error());
  }
  if (!app.count("--input-range")) {  // the model's own normalization decides (convert.h)
    std::string why;
    const ChannelOrder order = pre->order;
    pre = default_preprocess(graph.value(), &why);
    pre->order = order;
    if (pre->scale != PixelScale::kZeroOne) std::cerr << "emc-convert: " << why << "\n";
  }
  auto samples = load_dataset(*files, graph.value(), pre.value());
  if (!samples.ok()) return fail(samples.error());
  ConvertOptions opt;
  opt.target = find_target(platform);
  if (opt.target == nullptr) {
    return fail(Error(Errc::kInvalidArgument,
                      "unknown platform '" + platform + "' (" + target_names() + ")"));
  }
  opt.calibration = quant == "kld"          ? CalibrationMethod::kKld
                    : quant == "mse"        ? CalibrationMethod::kMse
                    : quant == "percentile" ? CalibrationMethod::kPercentile
                                            : CalibrationMethod::kMinMax;
  if (per_channel && per_layer) {
    return fail(Error(Errc::kInvalidArgument, "--per-channel and --per-layer exclude each other"));
  }
  if (per_layer) opt.per_channel = false;
  if (per_channel) {
    opt.per_channel = true;
    opt.auto_per_layer = false;
  }
  opt.bias_correction = !no_bias_correction;
  if (cle && no_cle)
    return fail(Error(Errc::kInvalidArgument, "--cle and --no-cle exclude each other"));
  if (cle) opt.equalize = true;
  if (no_cle) opt.equalize = false;
  opt.weight_bits = weight_bits;
  opt.approx_stride2 = approx;
  opt.quantized_add = quantized_add;
  opt.sdk_compatible = sdk_compatible;
  opt.dense = dense == "cpu"   ? DensePlacement::kCpu
              : dense == "kpu" ? DensePlacement::kKpu
                               : DensePlacement::kAuto;
  opt.preprocess = pre.value();
  for (const auto& f : *files) opt.sample_names.push_back(f.string());
  opt.threads = threads;
  opt.float_mode = exact_float ? FloatMode::kExact : FloatMode::kFast;
  tools::ProgressBar bar(!quiet, opt.calibration == CalibrationMethod::kMinMax ? 1 : 2);
  opt.progress = bar.callback();
  auto result = convert(graph.value(), samples.value(), opt);
  bar.finish();
  if (!result.ok()) {
    Error e = result.error();
    if (e.file().empty()) e.in_file(model_path);
    return fail(e);
  }
  // The kmodel and its map are one unit: both are written completely before either replaces
  // anything; the map records the kmodel's hash, so readers detect a pair from two runs.
  const auto& side = result->sidecar_json;
  auto kmodel_file = format::write_pending(out_path, result->bytes);
  if (!kmodel_file.ok()) return fail(kmodel_file.error());
  auto map_file = format::write_pending(
      map_path, std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(side.data()),
                                              side.size()));
  if (!map_file.ok()) return fail(map_file.error());
  if (Status st = kmodel_file->commit(); !st.ok()) return fail(st.error());
  if (Status st = map_file->commit(); !st.ok()) return fail(st.error());
  for (const auto& w : result->warnings) std::cerr << "emc-convert: warning: " << w << "\n";
  if (report) print_report(result.value(), result->bytes.size());
  std::cerr << "emc-convert: wrote " << out_path << " (" << result->bytes.size() << " bytes, "
            << result->layers.size() << " layers) and " << map_path << "\n";
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (...) {
    return fail(error_from_current_exception("emc-convert"));
  }
}
