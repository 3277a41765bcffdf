// emc-inspect: prints the structure of a kmodel V3 file (header, outputs, layers, memory maps) as
// text or JSON. A malformed file prints the parser's error and exits with emc::exit_code_for().
#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "emc/format/error.h"
#include "emc/format/kmodel_codec.h"
#include "layer_info.h"
#include "report.h"

static int run(int argc, char** argv) {
  CLI::App app{"emc-inspect: print the structure of a kmodel V3 file"};
  std::string path;
  std::int64_t layer = -1;
  bool json = false;
  app.add_option("model", path, "kmodel V3 file")->required();
  app.add_option("--layer", layer, "print every field of layer N (KPU registers, BN, activation)");
  app.add_flag("--json", json, "machine-readable JSON on stdout");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : emc::exit_code_for(emc::Errc::kInvalidArgument);
  }

  if (path.empty()) {
    std::cerr << "emc-inspect: error: the model path is empty\n";
    return emc::exit_code_for(emc::Errc::kInvalidArgument);
  }
  auto model = emc::format::load_kmodel_file(path);
  if (!model.ok()) {
    std::cerr << model.error().to_string() << "\n";
    return emc::exit_code_for(model.error().code());
  }
  std::error_code ec;
  const auto file_size = std::filesystem::file_size(path, ec);

  if (app.count("--layer") > 0) {
    if (layer < 0 || static_cast<std::uint64_t>(layer) >= model->layers.size()) {
      const emc::Error e = emc::Error(emc::Errc::kInvalidArgument,
                                      "--layer " + std::to_string(layer) + " is outside 0.." +
                                          std::to_string(model->layers.size() - 1))
                               .in_file(path);
      std::cerr << e.to_string() << "\n";
      return emc::exit_code_for(e.code());
    }
    const auto detail = emc::inspect::layer_detail(*model, static_cast<std::size_t>(layer));
    if (json) {
      std::cout << detail.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    } else {
      emc::inspect::print_layer_text(std::cout, detail);
    }
    return 0;
  }
  const auto report = emc::inspect::model_json(*model, path, ec ? 0 : file_size);
  if (json) {
    std::cout << report.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    emc::inspect::print_model_text(std::cout, report);
  }
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (...) {
    const emc::Error e = emc::error_from_current_exception("emc-inspect");
    std::cerr << e.to_string() << "\n";
    return emc::exit_code_for(e.code());
  }
}
