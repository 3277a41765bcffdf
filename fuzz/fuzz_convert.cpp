// libFuzzer harness for the whole pipeline: bytes -> generated TF.js model (fuzz/gen/model_gen.h:
// valid by construction) -> load_tfjs_model_from_memory -> build_graph -> convert (calibrated on
// the generated image) for k210 and cpu -> parse_kmodel -> the interpreter on kpu-sim and on cpu.
//
// Oracles (any violation aborts, which libFuzzer records as a crash):
//  * the generated model imports and runs in the float executor (the generator only makes models
//    Keras accepts);
//  * a conversion either succeeds or fails with an error that has a message and names a layer
//    when it is about one (kUnsupportedLayer, kInvalidLayerConfig, KPU limits);
//  * a converted kmodel parses, has the layers convert() reported, loads, and runs;
//  * differential: kpu-sim and the cpu backend give the same output bytes (the cpu backend's
//    K210_CONV is the spec's reference arithmetic);
//  * accuracy: the kmodel's float output is within the bound of docs in fuzz/README.md
//    ("fuzz_convert oracle") of the float executor's, on the image the model was calibrated on,
//    unless a layer is declared unresolvable by int8, which a warning must then name.
// EMC_FUZZ_DEBUG=1 prints the generated model and each stage's outcome.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "emc/accel_sim/kpu_backend.h"
#include "emc/converter/convert.h"
#include "emc/converter/float_executor.h"
#include "emc/converter/model_json.h"
#include "emc/converter/sidecar_map.h"
#include "emc/cpu_backend/cpu_backend.h"
#include "emc/format/kmodel_codec.h"
#include "emc/interpreter/interpreter.h"
#include "gen/model_gen.h"

namespace {

using namespace emc;
using namespace emc::converter;

const bool g_debug = std::getenv("EMC_FUZZ_DEBUG") != nullptr;

// EMC_FUZZ_CONTINUE=1 (triage): a finding is printed and the input abandoned instead of aborting.
const bool g_continue = std::getenv("EMC_FUZZ_CONTINUE") != nullptr;
struct Abandon {};

[[noreturn]] void finding(const std::string& what) {
  std::fprintf(stderr, "fuzz_convert finding: %s\n", what.c_str());
  if (g_continue) throw Abandon{};
  std::abort();
}

void debug(const std::string& s) {
  if (g_debug) std::fprintf(stderr, "%s\n", s.c_str());
}

// Errors about one layer must name it (the tools print the layer index, name and class).
void check_conversion_error(const Error& e, const char* target) {
  if (e.message().empty()) finding(std::string(target) + ": conversion error without a message");
  const bool about_layer =
      e.code() == Errc::kUnsupportedLayer || e.code() == Errc::kInvalidLayerConfig;
  if (about_layer && !e.layer())
    finding(std::string(target) + ": " + e.to_string() + " names no layer");
  debug(std::string(target) + " refused: " + e.to_string());
}

std::vector<std::uint8_t> kmodel_input(const emc::fuzz::GeneratedModel& g, const Tensor& input,
                                       const ConvertResult& r) {
  std::vector<std::uint8_t> out;
  if (r.input_is_uint8) {  // uint8 CHW pixels (preprocess zero_one: real = p / 255)
    out.resize(g.pixels.size());
    for (int y = 0; y < g.height; ++y)
      for (int x = 0; x < g.width; ++x)
        for (int c = 0; c < g.channels; ++c)
          out[(static_cast<std::size_t>(c) * g.height + y) * g.width + x] =
              g.pixels[(static_cast<std::size_t>(y) * g.width + x) * g.channels + c];
    return out;
  }
  out.resize(input.data.size() * 4);
  std::memcpy(out.data(), input.data.data(), out.size());
  return out;
}

struct RunOutput {
  std::vector<std::uint8_t> bytes;
  std::vector<float> values;
};

RunOutput run_kmodel(const ConvertResult& r, const std::vector<std::uint8_t>& input,
                     bool prefer_cpu, const char* target) {
  interpreter::Registry reg;
  if (!accel_sim::register_kpu_sim_backend(reg).ok() ||
      !cpu_backend::register_cpu_backend(reg).ok())
    finding("backend registration failed");
  interpreter::DispatchPolicy policy;
  if (prefer_cpu) policy.order = {cpu_backend::kCpuBackendName};
  const std::string where = std::string(target) + (prefer_cpu ? " on cpu" : " on kpu-sim");
  auto interp = interpreter::Interpreter::load(r.bytes, reg, policy);
  if (!interp.ok())
    finding(where + ": the converted kmodel does not load: " + interp.error().to_string());
  if (auto st = (*interp)->set_input(0, input); !st.ok())
    finding(where + ": set_input: " + st.error().to_string());
  if (auto st = (*interp)->run(); !st.ok()) finding(where + ": run: " + st.error().to_string());
  const auto bytes = (*interp)->output_bytes(0);
  return {std::vector<std::uint8_t>(bytes.begin(), bytes.end()), (*interp)->output(0)};
}

// How far the float model itself carries small errors to its output (its gain, which the fixed
// terms of the tolerance do not know: sums of large terms with small results, products): the model
// rerun with every node's output moved by half a step of a 256-level grid over that output's
// values on this input plus the error the conversion states for the kmodel layers made from the
// node, as uniform noise (three fixed seeds; moving every node the same way compounds far past
// what rounding does: finding 21's unit 27 for a measured 2.1, noise 0.6 to 2.6). The largest
// move of an output value.
// `tensors`: every tensor of the float run on `input` (RunOptions::keep_all_tensors).
double model_sensitivity(const Graph& g, const Tensor& input, const std::vector<Tensor>& tensors,
                         const std::vector<float>& want, const ConvertResult& r) {
  std::map<std::string, double> stated;  // per Keras layer
  for (const auto& l : r.layers)
    for (const auto& src : l.sources) {
      const double e = l.rounding_error.value_or(0.0) + l.border_error.value_or(0.0);
      stated[src] = std::max(stated[src], e);
    }
  std::vector<double> move(g.tensors.size(), 0.0);  // per node output
  for (const Node& n : g.nodes) {
    const auto& v = tensors.at(std::size_t(n.output)).data;
    double lo = 0, hi = 0;
    for (float x : v)
      if (std::isfinite(x)) lo = std::min(lo, double(x)), hi = std::max(hi, double(x));
    const auto it = stated.find(n.source.name);
    move[std::size_t(n.output)] = (hi - lo) / 255 / 2 + (it == stated.end() ? 0.0 : it->second);
  }
  double worst = 0;
  for (unsigned seed = 1; seed <= 3; ++seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    RunOptions opt;
    opt.after_node = [&](const Node& n, Tensor& y) {
      const double m = move[std::size_t(n.output)];
      for (float& x : y.data) x = static_cast<float>(x + m * u(rng));
    };
    auto out = run_float(g, {input}, opt);
    if (!out.ok()) finding("float executor failed: " + out.error().to_string());
    const auto& moved = out->at(0).data;
    for (std::size_t i = 0; i < want.size() && i < moved.size(); ++i)
      if (std::isfinite(moved[i])) worst = std::max(worst, std::fabs(double(moved[i]) - want[i]));
  }
  return worst;
}

// The accuracy oracle (fuzz/README.md): calibrated on this very input, every output is within a
// quarter of the float output's largest magnitude plus two quantization steps of every layer,
// plus twice what the model makes of small errors at every node (model_sensitivity).
void check_accuracy(const std::vector<float>& got, const std::vector<float>& want,
                    const ConvertResult& r, double sensitivity, const char* target) {
  if (got.size() != want.size())
    finding(std::string(target) + ": output has " + std::to_string(got.size()) + " values, float " +
            std::to_string(want.size()));
  double scale = 0, err = 0;
  std::size_t worst = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (!std::isfinite(got[i])) finding(std::string(target) + ": non-finite kmodel output");
    scale = std::max(scale, std::fabs(double(want[i])));
    const double e = std::fabs(double(got[i]) - want[i]);
    if (e > err) err = e, worst = i;
  }
  // Each quantized kmodel layer may add up to about one step of its output to the error (the
  // sidecar's out_scale); twice their sum covers rounding carried through the later layers.
  // An EMC int8 conv also states the error its int8 weights and input grid add (rounding_error,
  // an estimate of the largest), and a conv folding an inexact input normalization the most its
  // border moves (border_error, warned); both are carried as well.
  double steps = 0, declared_error = 0;
  for (const auto& l : r.layers) {
    steps += l.out_scale.value_or(0.0);
    declared_error += l.rounding_error.value_or(0.0) + l.border_error.value_or(0.0);
  }
  const double tol = 0.25 * std::max(scale, 1e-3) + 2 * steps + declared_error + 2 * sensitivity;
  debug(std::string(target) + ": max |kmodel - float| " + std::to_string(err) + " (scale " +
        std::to_string(scale) + ", steps " + std::to_string(steps) + ", stated " +
        std::to_string(declared_error) + ", model sensitivity " + std::to_string(sensitivity) +
        ", tolerance " + std::to_string(tol) + ")");
  // A layer the conversion declares unresolvable by int8 (its estimated rounding error reaches
  // its output's range) must be named by a warning (one of the Keras layers fused into it; a
  // layer carrying on an earlier one's error is named in that layer's warning); it
  // may put the output anywhere in its range and beyond, so it excuses an error over `tol`.
  std::string declared;
  for (const auto& l : r.layers) {
    if (!l.rounding_error || !l.output_range ||
        *l.rounding_error < kRoundingErrorWarnShare * *l.output_range)
      continue;
    bool warned = false;
    std::string name;
    for (const auto& src : l.sources) {
      name += (name.empty() ? "" : "+") + src;
      for (const auto& w : r.warnings)
        warned |= w.find("'" + src + "'") != std::string::npos &&
                  w.find("cannot resolve its output") != std::string::npos;
    }
    if (!warned)
      finding(std::string(target) + ": layer " + std::to_string(l.index) + " ('" + name +
              "') is declared unresolvable by int8 but no warning names it");
    declared = name;
  }
  if (err > tol && !declared.empty()) {
    debug(std::string(target) + ": error over the tolerance excused: int8 cannot resolve layer '" +
          declared + "'");
    return;
  }
  if (err > tol)
    finding(std::string(target) + ": output " + std::to_string(worst) + " is " +
            std::to_string(got[worst]) + ", float " + std::to_string(want[worst]) + " (|err| " +
            std::to_string(err) + " > " + std::to_string(tol) + "; " +
            std::to_string(r.layers.size()) + " kmodel layers)");
}

// EMC_FUZZ_SAVE=<dir> (triage): the generated model.json, its shard, the input as float32
// (input.f32) and, for 1 or 3 channels, as a PGM/PPM image go to <dir>, to be converted and
// compared with the tools.
void save(const emc::fuzz::GeneratedModel& g, const std::string& dir) {
  std::ofstream(dir + "/model.json") << g.model_json;
  std::ofstream(dir + "/group1-shard1of1.bin", std::ios::binary)
      .write(reinterpret_cast<const char*>(g.shard.data()),
             static_cast<std::streamsize>(g.shard.size()));
  // The float input (HWC, p / 255) for any channel count, as a dataset tensor for the tools.
  std::vector<float> x;
  for (auto p : g.pixels) x.push_back(static_cast<float>(p / 255.0));
  std::ofstream(dir + "/input.f32", std::ios::binary)
      .write(reinterpret_cast<const char*>(x.data()), static_cast<std::streamsize>(x.size() * 4));
  if (g.channels == 1 || g.channels == 3) {
    std::ofstream img(dir + (g.channels == 1 ? "/input.pgm" : "/input.ppm"), std::ios::binary);
    img << (g.channels == 1 ? "P5\n" : "P6\n") << g.width << " " << g.height << "\n255\n";
    img.write(reinterpret_cast<const char*>(g.pixels.data()),
              static_cast<std::streamsize>(g.pixels.size()));
  }
}

void run_one(const std::uint8_t* data, std::size_t size) {
  const auto g = emc::fuzz::generate_model(data, size);
  debug(g.summary);
  if (const char* dir = std::getenv("EMC_FUZZ_SAVE")) save(g, dir);
  ShardReader reader = [&](const std::string& path) -> Result<std::vector<std::uint8_t>> {
    if (path != "group1-shard1of1.bin") finding("unexpected shard path " + path);
    return g.shard;
  };
  auto model = load_tfjs_model_from_memory(g.model_json, reader);
  if (!model.ok())
    finding("generated model rejected by the importer: " + model.error().to_string());
  auto graph = build_graph(*model);
  if (!graph.ok()) finding("generated model rejected by build_graph: " + graph.error().to_string());

  Tensor input{graph->shape(graph->inputs[0]), {}};
  for (auto p : g.pixels) input.data.push_back(static_cast<float>(p / 255.0));
  RunOptions all;
  all.keep_all_tensors = true;
  auto ref = run_float(*graph, {input}, all);
  if (!ref.ok()) finding("float executor failed: " + ref.error().to_string());
  const std::vector<float>& want = ref->at(std::size_t(graph->outputs[0])).data;

  for (const Target* target : targets()) {
    const std::string target_name(target->name);
    const char* name = target_name.c_str();
    ConvertOptions opt;
    opt.target = target;
    opt.threads = 1;
    auto r = convert(*graph, {{input}}, opt);
    if (!r.ok()) {
      check_conversion_error(r.error(), name);
      continue;
    }
    auto parsed = format::parse_kmodel(r->bytes);
    if (!parsed.ok())
      finding(std::string(name) + ": emitted kmodel does not parse: " + parsed.error().to_string());
    if (parsed->layers.size() != r->layers.size())
      finding(std::string(name) + ": layer count differs from the report");
    const auto in = kmodel_input(g, input, *r);
    const RunOutput sim = run_kmodel(*r, in, false, name);
    const RunOutput cpu = run_kmodel(*r, in, true, name);
    if (sim.bytes != cpu.bytes) finding(std::string(name) + ": kpu-sim and cpu outputs differ");
    // A map output is CHW in main memory (docs/format.md), the float executor's HWC.
    std::vector<float> got = sim.values;
    const Shape& os = ref->at(std::size_t(graph->outputs[0])).shape;
    // -p cpu keeps a float NHWC input's order through elementwise layers; the sidecar says so.
    auto map = parse_map(r->sidecar_json, "<sidecar>");
    if (!map.ok())
      finding(std::string(name) + ": sidecar does not parse: " + map.error().to_string());
    // The layer writing the output: the one the map names for it (an earlier layer when the
    // output is a view of a map another layer wrote), else the last one.
    const MapLayer* last = nullptr;
    for (const MapLayer& l : map->layers)
      if (l.float_tensor_stated && l.float_tensor == graph->tensor(graph->outputs[0]).name)
        last = &l;
    if (!last) last = map->layer(r->layers.size() - 1);
    const bool nhwc = last && last->layout == "NHWC";
    // The [H, W, C] map whose CHW planes the output holds: the output's own shape, or the map it
    // is a flatten or reshape of (the sidecar's map_shape).
    std::vector<int> planes;
    if (last && last->map_shape.size() == 3)
      planes.assign(last->map_shape.begin(), last->map_shape.end());
    else if (os.rank() == 3)
      planes.assign(os.dims.begin(), os.dims.end());
    if (planes.size() == 3 && !nhwc && got.size() == want.size() &&
        std::size_t(planes[0]) * planes[1] * planes[2] == want.size()) {
      const int H = planes[0], W = planes[1], C = planes[2];
      for (int c = 0; c < C; ++c)
        for (int p = 0; p < H * W; ++p)
          got[static_cast<std::size_t>(p) * C + c] =
              sim.values[static_cast<std::size_t>(c) * H * W + p];
    }
    check_accuracy(got, want, *r, model_sensitivity(*graph, input, *ref, want, *r), name);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    run_one(data, size);
  } catch (const Abandon&) {
  }
  return 0;
}
