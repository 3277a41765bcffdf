// emc-run: run a kmodel V3 on the simulated K210 (kpu-sim + cpu backends) and print the result.
//
//   emc-run model.kmodel --input cat.jpg --labels labels.txt --top 5
//   emc-run iris.kmodel --features 5.1,3.8,1.9,0.4
//   emc-run model.kmodel --input-raw input.bin --raw out.f32 --dump-layers dump/ --profile
//   emc-run model.kmodel --input img.png --bench 30 [--warmup 3] [--json]
//   emc-run model.kmodel --input cat.jpg --backend cpu      # every layer on the cpu backend
//
// Backend preference: --backend NAME puts that backend first (the other one still takes the layers
// it alone supports). Without --backend, a sidecar <model>.map.json whose "target" is "cpu"
// (emc-convert -p cpu) makes cpu preferred; otherwise kpu-sim runs the K210 layers.
#include <algorithm>
#include <bit>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>
#include <optional>
#include <sstream>
#include <string>
#include <vector>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "bench.h"
#include "emc/accel_sim/kpu_backend.h"
#include "emc/converter/graph.h"
#include "emc/converter/image.h"
#include "emc/converter/sidecar_map.h"
#include "emc/converter/target.h"
#include "emc/cpu_backend/cpu_backend.h"
#include "emc/format/file_io.h"
#include "emc/format/kmodel_codec.h"
#include "emc/format/kpu_layout.h"
#include "emc/interpreter/interpreter.h"

namespace {

using emc::Errc;
using emc::Error;
using emc::Result;
using emc::Status;
namespace fs = std::filesystem;
namespace interp = emc::interpreter;
namespace fmt = emc::format;

constexpr double kK210ClockMhz = 400.0;  // KPU/CPU clock used for the simulated time
constexpr std::uint64_t kMaxLabelsBytes = 16ull << 20;
constexpr std::size_t kMaxTop = 1000000;

struct Options {
  std::string model;
  std::string input;
  std::string input_raw;
  std::string features;
  std::string labels;
  std::size_t top = 5;
  std::string raw;
  std::string dump_dir;
  bool profile = false;
  std::vector<std::string> overrides;
  std::string backend;   // "kpu-sim", "cpu", or empty (decided from the sidecar map)
  unsigned threads = 1;  // kpu-sim threads per conv layer
  emc::tools::BenchOptions bench;
};

// The preferred backend and why it was chosen (for --profile).
struct Preference {
  std::string backend;
  std::string reason;
};

// The sidecar <model>.map.json (the target, the outputs' names and layouts), if there is one. It
// is optional: an unreadable or malformed map is ignored with a warning (K210 layers then run on
// kpu-sim and outputs are unnamed); a map written for a different kmodel (its recorded hash
// differs) is an error.
Result<std::optional<emc::converter::KmodelMap>> read_sidecar(const Options& opt) {
  const std::string map_path = opt.model + ".map.json";
  std::error_code ec;
  if (!fs::exists(map_path, ec)) return std::optional<emc::converter::KmodelMap>{};
  auto map = emc::converter::read_map(map_path);
  if (!map.ok()) {
    if (map.error().code() == Errc::kJson) {
      std::cerr << "emc-run: warning: " << map_path
                << ": not valid JSON; ignored (K210 layers run on kpu-sim): "
                << map.error().message() << "\n";
    } else {
      std::cerr << "emc-run: warning: " << map.error().to_string()
                << "; ignored (K210 layers run on kpu-sim)\n";
    }
    return std::optional<emc::converter::KmodelMap>{};
  }
  // Hashed as it is read: a whole copy here would be freed only to be read again by the load.
  EMC_TRY(emc::converter::check_map_matches_file(*map, opt.model));
  for (const auto& w : map->warnings) std::cerr << "emc-run: warning: " << w << "\n";
  return std::optional<emc::converter::KmodelMap>{std::move(map).value()};
}

// --backend if given; else "cpu" when the sidecar map says target "cpu"; else "kpu-sim".
Preference choose_backend(const Options& opt, const std::optional<emc::converter::KmodelMap>& map) {
  if (!opt.backend.empty()) return Preference{opt.backend, "--backend " + opt.backend};
  // The target's own backend when it is not the default (the cpu target: "cpu").
  const auto* target = map ? emc::converter::find_target(map->target) : nullptr;
  if (target != nullptr && target->default_backend != emc::accel_sim::kKpuSimBackendName)
    return Preference{std::string(target->default_backend),
                      opt.model + ".map.json has target \"" + map->target + "\""};
  return Preference{std::string(emc::accel_sim::kKpuSimBackendName), "default"};
}

int fail(const Error& e) {
  std::cerr << "emc-run: " << e.to_string() << "\n";
  return emc::exit_code_for(e.code());
}

// "IDX=NAME" or "TYPE=NAME" (e.g. "3=cpu", "SOFTMAX=my-backend").
Status parse_override(const std::string& text, interp::DispatchPolicy& policy) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) {
    return Error(Errc::kInvalidArgument,
                 "--backend-override '" + text + "': expected IDX=NAME or TYPE=NAME (e.g. 3=cpu)");
  }
  const std::string key = text.substr(0, eq);
  const std::string name = text.substr(eq + 1);
  if (std::all_of(key.begin(), key.end(), [](unsigned char c) { return std::isdigit(c); })) {
    std::size_t index = 0;
    const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), index);
    if (ec != std::errc() || end != key.data() + key.size() || index > (1u << 20)) {
      return Error(Errc::kInvalidArgument,
                   "--backend-override '" + text + "': layer index " + key + " is out of range");
    }
    policy.by_index[index] = name;
    return emc::ok_status();
  }
  for (fmt::LayerType t : fmt::all_layer_types()) {
    if (fmt::to_string(t) == key) {
      policy.by_type[t] = name;
      return emc::ok_status();
    }
  }
  return Error(Errc::kInvalidArgument, "--backend-override '" + text + "': '" + key +
                                           "' is neither a layer index nor a layer type name");
}

Result<std::vector<float>> parse_features(const std::string& text) {
  std::vector<float> out;
  if (text.empty() || text.back() == ',') {
    return Error(Errc::kInvalidArgument,
                 "--features '" + text +
                     "': expected comma-separated numbers, without a trailing "
                     "comma");
  }
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    const float v = std::strtof(item.c_str(), &end);
    if (item.empty() || end == item.c_str() || *end != '\0' || !std::isfinite(v)) {
      return Error(Errc::kInvalidArgument, "--features: '" + item + "' is not a finite number");
    }
    out.push_back(v);
  }
  return out;
}

Result<std::vector<std::string>> read_labels(const std::string& path) {
  auto text = fmt::read_text_bounded(path, kMaxLabelsBytes, "labels file");
  if (!text.ok()) return std::move(text).error();
  std::vector<std::string> labels;
  std::stringstream ss(*text);
  std::string line;
  while (std::getline(ss, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    labels.push_back(line);
  }
  return labels;
}

// An image decoded (converter/image.h, with its pixel-count cap) before the model is loaded, so
// the decoder's temporaries are freed before the model's allocations rather than adding to them
// (MobileNet v1 1.0: mean peak RSS 0.07 MiB lower over 8 runs). Decoded as RGB: nearly every
// image model takes 3 channels; a 1-channel model has the file decoded again as gray (stb's own
// conversion).
using EarlyImage = std::optional<Result<emc::converter::Image>>;

// Resizes the decoded image (`early`, or `path` decoded now when it is not the right channel count)
// to the model's width x height and lays it out as uint8 CHW planes. `note` says when it was
// resized.
Result<std::vector<std::uint8_t>> image_to_chw(const std::string& path, EarlyImage& early,
                                               int channels, int width, int height,
                                               std::string* note) {
  Result<emc::converter::Image> img =
      early && channels == 3 ? std::move(*early) : emc::converter::load_image(path, channels);
  early.reset();
  if (!img.ok()) return std::move(img).error();
  if (img->width != width || img->height != height) {
    *note = "image is " + std::to_string(img->width) + "x" + std::to_string(img->height) +
            ", the model takes " + std::to_string(width) + "x" + std::to_string(height) +
            ": resized (aspect ratio not preserved)";
    auto resized = emc::converter::resize_image(*img, width, height);
    if (!resized.ok()) return std::move(resized).error().in_file(path);
    img = std::move(resized);
  }
  const std::size_t plane = std::size_t(width) * height;
  std::vector<std::uint8_t> chw(plane * channels);
  for (std::size_t i = 0; i < plane; ++i) {
    for (int c = 0; c < channels; ++c) chw[c * plane + i] = img->pixels[i * channels + c];
  }
  return chw;
}

// Warns (does not refuse: the user may be probing) about NaN/Inf in a float32 input.
void report_non_finite(const std::vector<std::uint8_t>& bytes, const std::string& what) {
  std::size_t bad = 0, first = 0;
  for (std::size_t i = 0; i + 4 <= bytes.size(); i += 4) {
    float v;
    std::memcpy(&v, bytes.data() + i, 4);
    if (!std::isfinite(v) && bad++ == 0) first = i / 4;
  }
  if (bad) {
    std::cerr << "emc-run: warning: " << what << ": " << bad << " of " << bytes.size() / 4
              << " input values are NaN or infinite (first at index " << first
              << "); the outputs will not be meaningful\n";
  }
}

// Builds the input bytes the model expects from whichever option was given.
Result<std::vector<std::uint8_t>> make_input(const Options& opt, const interp::TensorInfo& info,
                                             EarlyImage& early) {
  const int given = !opt.input.empty() + !opt.input_raw.empty() + !opt.features.empty();
  if (given != 1) {
    return Error(Errc::kInvalidArgument,
                 "give exactly one of --input IMAGE, --input-raw FILE, --features LIST");
  }
  if (!opt.input_raw.empty()) {
    auto bytes = fmt::read_file_bounded(opt.input_raw, info.bytes, "--input-raw file");
    if (!bytes.ok()) {
      if (bytes.error().code() != Errc::kInvalidArgument) return bytes;
      return Error(Errc::kInvalidArgument,
                   "--input-raw has more than " + std::to_string(info.bytes) +
                       " bytes; the model takes " + std::to_string(info.bytes) +
                       (info.type == interp::ElementType::kFloat32 ? " (float32 LE)"
                                                                   : " (uint8 CHW)"))
          .in_file(opt.input_raw);
    }
    if (bytes->size() != info.bytes) {
      return Error(Errc::kInvalidArgument,
                   "--input-raw has " + std::to_string(bytes->size()) + " bytes; the model takes " +
                       std::to_string(info.bytes) +
                       (info.type == interp::ElementType::kFloat32 ? " (float32 LE)"
                                                                   : " (uint8 CHW)"))
          .in_file(opt.input_raw);
    }
    if (info.type == interp::ElementType::kFloat32) report_non_finite(*bytes, opt.input_raw);
    return bytes;
  }
  if (!opt.features.empty()) {
    if (info.type != interp::ElementType::kFloat32) {
      return Error(
          Errc::kInvalidArgument,
          "--features is for models whose first layer is FULLY_CONNECTED; this one takes a "
          "uint8 image (use --input)");
    }
    auto values = parse_features(opt.features);
    if (!values.ok()) return std::move(values).error();
    if (values->size() * 4 != info.bytes) {
      return Error(Errc::kInvalidArgument, "--features has " + std::to_string(values->size()) +
                                               " values; the model takes " +
                                               std::to_string(info.bytes / 4));
    }
    std::vector<std::uint8_t> bytes(info.bytes);
    std::memcpy(bytes.data(), values->data(), bytes.size());
    return bytes;
  }
  if (info.type != interp::ElementType::kUint8 || info.shape.size() != 3) {
    return Error(Errc::kInvalidArgument,
                 "--input IMAGE needs a model whose first layer is K210_CONV; this one takes " +
                     std::to_string(info.bytes / 4) +
                     " float32 values (use --features or --input-raw)");
  }
  const int c = static_cast<int>(info.shape[0]);
  if (c != 1 && c != 3) {
    return Error(Errc::kInvalidArgument, "the model takes " + std::to_string(c) +
                                             " input channels; images give 1 (gray) or 3 (RGB): "
                                             "use --input-raw with uint8 CHW bytes");
  }
  std::string note;
  auto chw = image_to_chw(opt.input, early, c, static_cast<int>(info.shape[2]),
                          static_cast<int>(info.shape[1]), &note);
  if (chw.ok() && !note.empty())
    std::cerr << "emc-run: note: " << opt.input << ": " << note << "\n";
  return chw;
}

// How output `o` is described by the sidecar map: "'map' [8, 8, 3] CHW" (and the map whose
// positions its values hold, for printing them as (y, x, c)); "" and no map when not recorded.
struct OutputShape {
  std::string text;
  std::vector<std::uint32_t> hwc;  // [H, W, C] of the map the values are
  bool nhwc = false;               // stored H, W, C (else CHW planes)
};

// "[8, 8, 3]" (the sidecar reader keeps sizes under 2^31).
std::string dims(const std::vector<std::uint32_t>& d) {
  return emc::converter::to_string(emc::converter::Shape{{d.begin(), d.end()}});
}

OutputShape describe_output(const interp::Interpreter& it, std::size_t o,
                            const emc::converter::KmodelMap* map, std::size_t values) {
  OutputShape out;
  const auto* w = map ? map->output_writer(it.model().outputs[o].address) : nullptr;
  if (!w) return out;
  out.text = "'" + w->float_tensor + "'";
  if (!w->out_shape.empty()) out.text += " " + dims(w->out_shape);
  if (w->map_shape.size() == 3) {
    out.hwc = w->map_shape;
    out.text += " (the CHW planes of the map " + dims(w->map_shape) + ")";
  } else if (w->out_shape.size() == 3) {  // a map: CHW planes unless stated otherwise
    out.hwc = w->out_shape;
    out.nhwc = w->layout == "NHWC";
    out.text += out.nhwc ? " NHWC" : " CHW";
  }
  if (!out.hwc.empty() &&
      std::size_t{out.hwc[0]} * out.hwc[1] * out.hwc[2] != values)  // (a map for another model)
    out.hwc.clear();
  return out;
}

void print_outputs(const interp::Interpreter& it, const Options& opt,
                   const std::vector<std::string>& labels, const emc::converter::KmodelMap* map) {
  for (std::size_t o = 0; o < it.output_count(); ++o) {
    const std::vector<float> v = it.output(o);
    const OutputShape shape = describe_output(it, o, map, v.size());
    std::printf("output %zu%s%s: %zu values\n", o, shape.text.empty() ? "" : " ",
                shape.text.c_str(), v.size());
    // A value of a map: its position (y, x, c) in the map.
    auto position = [&shape](std::size_t i) {
      if (shape.hwc.empty()) return std::string();
      const std::size_t H = shape.hwc[0], W = shape.hwc[1], C = shape.hwc[2];
      const std::size_t y = shape.nhwc ? i / C / W : i / W % H;
      const std::size_t x = shape.nhwc ? i / C % W : i % W;
      const std::size_t c = shape.nhwc ? i % C : i / W / H;
      return "  (y " + std::to_string(y) + ", x " + std::to_string(x) + ", c " + std::to_string(c) +
             ")";
    };
    const bool use_labels = o == 0 && !labels.empty();
    if (!use_labels && v.size() <= 20) {
      for (std::size_t i = 0; i < v.size(); ++i)
        std::printf("  [%zu] %.6f%s\n", i, v[i], position(i).c_str());
      continue;
    }
    std::vector<std::size_t> idx(v.size());
    std::iota(idx.begin(), idx.end(), 0);
    const std::size_t k = std::min(opt.top, v.size());
    std::partial_sort(
        idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k), idx.end(),
        [&v](std::size_t a, std::size_t b) { return v[a] > v[b] || (v[a] == v[b] && a < b); });
    for (std::size_t r = 0; r < k; ++r) {
      const std::size_t i = idx[r];
      std::printf("  %zu. [%zu] %.6f", r + 1, i, v[i]);
      if (use_labels && i < labels.size()) std::printf("  %s", labels[i].c_str());
      std::printf("%s\n", position(i).c_str());
    }
  }
}

// The bytes a layer produced, for --dump-layers: its main-memory output, or for a K210_CONV that
// keeps its output in KPU RAM, that map downloaded to dense CHW.
std::vector<std::uint8_t> layer_output_bytes(const interp::Interpreter& it,
                                             const interp::LayerEvent& ev) {
  if (!ev.output.empty() || ev.type != fmt::LayerType::kK210Conv) {
    return {ev.output.begin(), ev.output.end()};
  }
  const auto& conv = std::get<fmt::ConvBody>(it.model().layers[ev.index].body);
  const fmt::KpuLayerFields f = conv.fields();
  const auto w = static_cast<std::uint32_t>(f.out_width());
  const auto h = static_cast<std::uint32_t>(f.out_height());
  const auto c = static_cast<std::uint32_t>(f.out_channels());
  std::vector<std::uint8_t> chw(std::size_t{w} * h * c);
  if (!fmt::kpu_download(it.kpu_memory().all(), static_cast<std::uint32_t>(f.image_dst_addr), w, h,
                         c, chw)
           .ok()) {
    return {};
  }
  return chw;
}

struct ProfileRow {
  std::size_t index;
  fmt::LayerType type;
  std::string backend;
  std::uint64_t cycles;
  double host_us;
};

void print_profile(const std::vector<ProfileRow>& rows) {
  std::printf("\n%5s  %-34s %-9s %12s %12s %12s\n", "layer", "type", "backend", "K210 cycles",
              "K210 us", "host us");
  std::uint64_t total_cycles = 0;
  double total_host = 0;
  for (const ProfileRow& r : rows) {
    std::printf("%5zu  %-34s %-9s %12llu %12.1f %12.1f\n", r.index,
                std::string(fmt::to_string(r.type)).c_str(), r.backend.c_str(),
                static_cast<unsigned long long>(r.cycles),
                static_cast<double>(r.cycles) / kK210ClockMhz, r.host_us);
    total_cycles += r.cycles;
    total_host += r.host_us;
  }
  std::printf("%5s  %-34s %-9s %12llu %12.1f %12.1f\n", "total", "", "",
              static_cast<unsigned long long>(total_cycles),
              static_cast<double>(total_cycles) / kK210ClockMhz, total_host);
  std::printf(
      "(K210 time = simulated cycles at %.0f MHz; 0 cycles = no timing model for that layer)\n",
      kK210ClockMhz);
}

int run(const Options& opt) {
  interp::Registry registry;
  emc::accel_sim::KpuSimOptions kpu_options;
  kpu_options.threads = opt.threads;
  if (Status s = emc::accel_sim::register_kpu_sim_backend(registry, kpu_options); !s.ok())
    return fail(s.error());
  if (Status s = emc::cpu_backend::register_cpu_backend(registry); !s.ok()) return fail(s.error());

  interp::DispatchPolicy policy;
  auto sidecar = read_sidecar(opt);
  if (!sidecar.ok()) return fail(sidecar.error());
  const std::optional<emc::converter::KmodelMap> map = std::move(sidecar).value();
  const Preference pref = choose_backend(opt, map);
  if (pref.backend == emc::cpu_backend::kCpuBackendName) {
    policy.order = {emc::cpu_backend::kCpuBackendName,
                    std::string(emc::accel_sim::kKpuSimBackendName)};
  }
  for (const std::string& o : opt.overrides) {
    if (Status s = parse_override(o, policy); !s.ok()) return fail(s.error());
  }
  std::vector<std::string> labels;
  if (!opt.labels.empty()) {
    auto l = read_labels(opt.labels);
    if (!l.ok()) return fail(l.error());
    labels = std::move(l).value();
  }

  EarlyImage early;  // (errors are reported after the model's, as before)
  if (!opt.input.empty() && opt.input_raw.empty() && opt.features.empty())
    early = emc::converter::load_image(opt.input, 3);
  auto loaded = interp::Interpreter::load_file(opt.model, registry, policy);
  if (!loaded.ok()) return fail(loaded.error());
  interp::Interpreter& it = **loaded;
  for (const interp::Diagnostic& d : it.diagnostics()) {
    std::cerr << "emc-run: warning: " << opt.model << ": " << d.to_string() << "\n";
  }
  if (!labels.empty() && it.output_count() > 0 && labels.size() != it.output(0).size()) {
    std::cerr << "emc-run: warning: " << labels.size() << " labels for " << it.output(0).size()
              << " outputs\n";
  }

  auto input = make_input(opt, it.input_info(0), early);
  early.reset();
  if (!input.ok()) return fail(input.error());
  if (Status s = it.set_input(0, *input); !s.ok()) return fail(s.error());
#if defined(__GLIBC__)
  // Loading freed the file bytes, the map check's copy and the decoded image inside the heap;
  // hand those pages back before the runs so they are not counted on top of the run's memory.
  malloc_trim(0);
#endif

  if (opt.bench.runs > 0) {
    auto b = opt.bench;
    b.model_path = opt.model;
    if (Status s = emc::tools::run_bench(it, b); !s.ok()) return fail(s.error());
    return 0;
  }
  if (!opt.dump_dir.empty()) {
    std::error_code ec;
    fs::create_directories(opt.dump_dir, ec);
    if (ec)
      return fail(
          Error(Errc::kIo, "cannot create directory: " + ec.message()).in_file(opt.dump_dir));
  }
  std::vector<ProfileRow> rows;
  std::optional<Error> dump_error;
  it.set_observer([&](const interp::LayerEvent& ev) {
    rows.push_back({ev.index, ev.type, std::string(ev.backend), ev.simulated_cycles,
                    std::chrono::duration<double, std::micro>(ev.host_time).count()});
    if (opt.dump_dir.empty() || dump_error) return;
    char name[96];
    std::snprintf(name, sizeof name, "layer_%03zu_%s.bin", ev.index,
                  std::string(fmt::to_string(ev.type)).c_str());
    const std::vector<std::uint8_t> bytes = layer_output_bytes(it, ev);
    if (Status s = fmt::write_file_atomically((fs::path(opt.dump_dir) / name).string(), bytes);
        !s.ok()) {
      dump_error = s.error();
    }
  });
  if (Status s = it.run(); !s.ok()) return fail(s.error());
  if (dump_error) return fail(*dump_error);

  print_outputs(it, opt, labels, map ? &*map : nullptr);
  if (!opt.raw.empty()) {
    std::vector<std::uint8_t> bytes;
    for (std::size_t o = 0; o < it.output_count(); ++o) {
      const std::vector<float> v = it.output(o);
      const std::size_t at = bytes.size();
      bytes.resize(at + v.size() * 4);
      std::memcpy(bytes.data() + at, v.data(), v.size() * 4);  // host is little-endian (V3 is LE)
    }
    if (Status s = fmt::write_file_atomically(opt.raw, bytes); !s.ok()) return fail(s.error());
  }
  if (opt.profile) {
    std::printf("\nbackend preference: %s first (%s)\n", pref.backend.c_str(), pref.reason.c_str());
    print_profile(rows);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  static_assert(std::endian::native == std::endian::little,
                "float I/O assumes a little-endian host");
  CLI::App app{"Run a kmodel V3 on the simulated K210 (kpu-sim + cpu backends)"};
  Options opt;
  app.add_option("model", opt.model, "kmodel V3 file")->required();
  app.add_option("--input,-i", opt.input,
                 "image (PNG/BMP/PPM/JPEG) for a model whose first layer is K210_CONV; resized to "
                 "the model's input and fed as uint8 CHW (R,G,B planes, or gray for 1 channel)");
  app.add_option(
      "--input-raw", opt.input_raw,
      "raw input bytes: uint8 CHW for a KPU-first model, float32 LE for an FC-first one");
  app.add_option("--features", opt.features,
                 "comma-separated floats for an FC-first model (5.1,3.8,1.9,0.4)");
  app.add_option("--labels", opt.labels, "class names, one per line, for output 0");
  app.add_option("--top", opt.top, "how many classes to print (1..1000000)")
      ->check(CLI::Range(std::size_t{1}, kMaxTop));
  app.add_option("--raw", opt.raw, "write all outputs as float32 LE to this file");
  app.add_option("--dump-layers", opt.dump_dir,
                 "write each layer's output to DIR/layer_NNN_TYPE.bin");
  app.add_flag("--profile", opt.profile, "per-layer backend, simulated K210 time and host time");
  app.add_option("--backend", opt.backend,
                 "preferred backend: kpu-sim (default: K210 layers on the simulator) or cpu (every "
                 "layer on the cpu backend's kernels). Default: cpu if MODEL.map.json says target "
                 "\"cpu\", else kpu-sim")
      ->check(CLI::IsMember({"kpu-sim", "cpu"}));
  app.add_option("--backend-override", opt.overrides,
                 "IDX=NAME or TYPE=NAME: run that layer (or type) on that backend (kpu-sim, cpu)");
  app.add_option("--bench", opt.bench.runs,
                 "time N runs (after --warmup runs): median/min/max, per-layer medians, peak RSS")
      ->check(CLI::PositiveNumber);
  app.add_option("--warmup", opt.bench.warmup, "untimed runs before --bench (default 3)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--json", opt.bench.json, "--bench results as JSON on stdout");
  app.add_option("--threads", opt.threads,
                 "kpu-sim threads per conv layer, channel-parallel (default 1; the same bytes for "
                 "any N; --bench's cpu time counts the calling thread only)")
      ->check(CLI::Range(1u, 256u));
  try {
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      const int code = app.exit(e);
      return code == 0 ? 0 : 2;
    }
    if (opt.model.empty() || (app.count("--input") && opt.input.empty()) ||
        (app.count("--input-raw") && opt.input_raw.empty()) ||
        (app.count("--labels") && opt.labels.empty()) || (app.count("--raw") && opt.raw.empty()) ||
        (app.count("--dump-layers") && opt.dump_dir.empty())) {
      return fail(Error(Errc::kInvalidArgument, "a path argument is empty"));
    }
    return run(opt);
  } catch (...) {
    return fail(emc::error_from_current_exception("emc-run"));
  }
}
