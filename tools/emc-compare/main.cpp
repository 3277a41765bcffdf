// emc-compare: does the converted model still work? Runs the float model (the converter's float
// executor on the imported TF.js graph) and the kmodel (EMC interpreter, kpu-sim + cpu backends)
// on the same inputs and shows the top-k side by side, dataset agreement, every output's error,
// and (--layers) where along the network the quantized model drifts away. See
// docs/emc-compare.md.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "emc/format/file_io.h"
#include "emc/format/kmodel_codec.h"
#include "html_report.h"
#include "json_report.h"
#include "parallel_run.h"
#include "session.h"
#include "text_report.h"

namespace {

int fail(const emc::Error& e) {
  std::fprintf(stderr, "emc-compare: error: %s\n", e.to_string().c_str());
  return emc::exit_code_for(e.code());
}

bool parse_range(const std::string& s, std::pair<double, double>* out) {
  std::istringstream is(s);
  double a = 0, b = 0;
  char comma = 0;
  if (!(is >> a >> comma >> b) || comma != ',') return false;
  is >> std::ws;
  if (!is.eof()) return false;
  *out = {a, b};
  return true;
}

// "mean=R,G,B:std=R,G,B" (pixel units), as emc-convert --input-range takes it.
bool parse_mean_std(const std::string& s, std::array<float, 3>* mean, std::array<float, 3>* sd) {
  std::istringstream is(s);
  char c[5] = {};
  auto lit = [&](const char* word) {
    for (const char* w = word; *w; ++w) {
      if (is.get() != *w) return false;
    }
    return true;
  };
  if (!lit("mean=")) return false;
  if (!(is >> (*mean)[0] >> c[0] >> (*mean)[1] >> c[1] >> (*mean)[2])) return false;
  if (!lit(":std=")) return false;
  if (!(is >> (*sd)[0] >> c[2] >> (*sd)[1] >> c[3] >> (*sd)[2])) return false;
  is >> std::ws;
  if (!is.eof() || c[0] != ',' || c[1] != ',' || c[2] != ',' || c[3] != ',') return false;
  return (*sd)[0] > 0 && (*sd)[1] > 0 && (*sd)[2] > 0;
}

}  // namespace

static int run(int argc, char** argv) {
  emc::compare::Options opt;
  bool json = false, quiet = false;
  std::size_t jobs = emc::compare::default_jobs();
  std::string report, range;
  CLI::App app{
      "emc-compare: run the float model and the kmodel on the same inputs and compare them\n"
      "(top-k side by side, agreement over a dataset, per-layer SQNR)."};
  app.add_option("model_json", opt.model_json,
                 "the float model: TF.js model.json, Keras .h5 or .keras")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("kmodel", opt.kmodel, "kmodel V3 converted from it (emc-convert)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--image", opt.images, "image file (PNG/JPEG/BMP/...); repeatable")
      ->check(CLI::ExistingFile);
  app.add_option("--input-f32", opt.input_f32,
                 "preprocessed input: raw float32 little-endian NHWC tensor of exactly the model "
                 "input size; repeatable")
      ->check(CLI::ExistingFile);
  app.add_option("--dataset", opt.dataset,
                 "folder of images; images in a subfolder are labelled by the subfolder name "
                 "(ImageFolder layout: one subfolder per class)")
      ->check(CLI::ExistingDirectory);
  app.add_option("--class-map", opt.class_map,
                 "dataset subfolder name -> output index: lines 'NAME INDEX' (or NAME,INDEX), or "
                 "a JSON object {\"NAME\": INDEX} (torchvision's class_to_idx)")
      ->check(CLI::ExistingFile);
  app.add_option("-j,--jobs", jobs, "inputs evaluated in parallel (default: all cores)")
      ->check(CLI::Range(std::size_t(1), std::size_t(256)));
  app.add_option("--labels", opt.labels,
                 "class names, one per line (default: labels.txt next to model.json)")
      ->check(CLI::ExistingFile);
  app.add_option("--map", opt.map, "sidecar map (default: <kmodel>.map.json)");
  app.add_option("--backend", opt.backend,
                 "kpu: default dispatch (K210 layers on kpu-sim, the rest on cpu); cpu: every "
                 "layer on the cpu backend (K210 layers through its reference kernels, "
                 "bit-identical to kpu-sim)")
      ->check(CLI::IsMember({"kpu", "cpu"}));
  app.add_option("--input-range", range,
                 "pixel preprocessing as for emc-convert: MIN,MAX (pixel 0..255 maps linearly to "
                 "MIN..MAX, e.g. 0,1 or -1,1) or mean=R,G,B:std=R,G,B (pixel units); overrides "
                 "the sidecar");
  app.add_flag("--bgr", opt.bgr, "feed images in BGR channel order (with --input-range)");
  app.add_option("--top", opt.top, "how many classes to show and overlap (default 5)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--output", opt.output,
                 "the model output that top-k, top-1 agreement and dataset accuracy use: its "
                 "name (the float model's output layer) or 0-based index (default 0); every "
                 "output is compared whatever this says");
  app.add_flag("--layers", opt.layers, "compare every kmodel layer output with the float tensor");
  app.add_flag("--isolated", opt.isolated,
               "with --layers: also each layer's own SQNR, feeding it the float model's exact "
               "input (quantized with the kmodel's parameters) in a second kmodel run");
  app.add_option("--sqnr-threshold", opt.sqnr_threshold_db,
                 "SQNR in dB under which a layer is flagged (default 20)");
  app.add_flag("--exact-float", opt.exact_float,
               "float reference with TF.js's exact arithmetic (bit for bit; slower; default: the "
               "SIMD float32 executor, which differs from it by float rounding only)");
  app.add_flag("--json", json, "print JSON on stdout instead of tables");
  app.add_option("--report", report, "write a self-contained HTML report to this file");
  app.add_flag("-q,--quiet", quiet, "no progress on stderr");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : emc::exit_code_for(emc::Errc::kInvalidArgument);
  }
  if (opt.model_json.empty() || opt.kmodel.empty() ||
      (app.count("--dataset") && opt.dataset.empty()) ||
      (app.count("--labels") && opt.labels.empty()) || (app.count("--map") && opt.map.empty()) ||
      (app.count("--report") && report.empty())) {
    return fail(emc::Error(emc::Errc::kInvalidArgument, "a path argument is empty"));
  }
  if (app.count("--output") && opt.output.empty()) {
    return fail(emc::Error(emc::Errc::kInvalidArgument,
                           "--output is empty: give an output name or a 0-based index"));
  }
  if (!report.empty()) {
    std::vector<std::string> inputs = {opt.model_json, opt.kmodel, opt.labels,
                                       opt.map.empty() ? opt.kmodel + ".map.json" : opt.map};
    inputs.insert(inputs.end(), opt.images.begin(), opt.images.end());
    inputs.insert(inputs.end(), opt.input_f32.begin(), opt.input_f32.end());
    for (const auto& in : inputs) {
      if (emc::format::same_file(report, in)) {
        return fail(
            emc::Error(emc::Errc::kInvalidArgument, "--report would overwrite the input " + in)
                .in_file(report));
      }
    }
  }

  if (!range.empty()) {
    std::pair<double, double> r;
    std::array<float, 3> mean{}, sd{};
    if (parse_range(range, &r)) {
      opt.input_range = r;
    } else if (parse_mean_std(range, &mean, &sd)) {
      opt.mean_std = std::make_pair(mean, sd);
    } else {
      return fail(emc::Error(emc::Errc::kInvalidArgument,
                             "--input-range expects MIN,MAX (e.g. -1,1) or mean=R,G,B:std=R,G,B, "
                             "got '" +
                                 range + "'"));
    }
  }
  if (opt.images.empty() && opt.input_f32.empty() && opt.dataset.empty()) {
    return fail(emc::Error(emc::Errc::kInvalidArgument,
                           "nothing to compare: give --image, --input-f32 or --dataset"));
  }

  auto session = emc::compare::Session::open(opt);
  if (!session.ok()) return fail(session.error());
  auto& s = **session;
  auto inputs = s.collect_inputs();
  if (!inputs.ok()) return fail(inputs.error());

  const bool dataset_mode = !opt.dataset.empty();
  // One session per worker: each has its own executor and interpreter (nothing shared).
  std::vector<std::unique_ptr<emc::compare::Session>> extra;
  std::vector<emc::compare::Session*> workers{&s};
  const std::size_t n_jobs = std::min(jobs, inputs->size());
  for (std::size_t w = 1; w < n_jobs; ++w) {
    auto more = emc::compare::Session::open(opt);
    if (!more.ok()) return fail(more.error());
    extra.push_back(std::move(more).value());
    workers.push_back(extra.back().get());
  }
  // A dataset may hold a few broken files: they are skipped, with a warning. Named inputs must
  // work.
  auto is_fatal = [](const emc::compare::InputItem& item, const emc::Error& e) {
    return !item.from_dataset ||
           (e.code() != emc::Errc::kInvalidArgument && e.code() != emc::Errc::kIo);
  };
  emc::compare::Progress progress(inputs->size(), stderr);
  const bool show_progress = !quiet && inputs->size() > 1;
  auto outcomes = emc::compare::evaluate_parallel(workers, *inputs, is_fatal,
                                                  [&](std::size_t done, const std::string& item) {
                                                    if (show_progress) progress.update(done, item);
                                                  });
  if (show_progress) progress.finish();
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    auto& o = outcomes[i];
    if (o.error) {
      if (is_fatal((*inputs)[i], *o.error)) return fail(*o.error);
      s.result().warnings.push_back("skipped: " + o.error->to_string());
    } else if (o.image) {
      emc::Status st = s.add(std::move(*o.image));
      if (!st.ok()) return fail(st.error());
    }
  }
  for (const auto& e : extra) s.merge_layers(*e);
  s.finish();
  const auto& result = s.result();
  if (result.images.empty()) {
    return fail(emc::Error(emc::Errc::kInvalidArgument, "no input could be compared"));
  }

  if (json) {
    std::cout << emc::compare::to_json(result).dump(2, ' ', false,
                                                    nlohmann::json::error_handler_t::replace)
              << "\n";
  } else {
    for (const auto& w : result.warnings)
      std::fprintf(stderr, "emc-compare: warning: %s\n", w.c_str());
    // Per-input tables; a dataset shows only its summary (the report and --json have them all).
    if (!dataset_mode || result.images.size() <= 10) {
      for (const auto& img : result.images) {
        std::cout << emc::compare::format_image_table(result, img) << "\n";
      }
    }
    std::cout << emc::compare::format_summary(result);
    if (result.outputs.size() > 1) std::cout << "\n" << emc::compare::format_output_table(result);
    if (result.layers_requested) std::cout << "\n" << emc::compare::format_layer_table(result);
  }

  if (!report.empty()) {
    const std::string html = emc::compare::render_html(result);
    const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(html.data()),
                                              html.size());
    emc::Status st = emc::format::write_file_atomically(report, bytes);
    if (!st.ok()) return fail(st.error());
    if (!json) std::fprintf(stderr, "emc-compare: wrote %s\n", report.c_str());
  }
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (...) {
    return fail(emc::error_from_current_exception("emc-compare"));
  }
}
