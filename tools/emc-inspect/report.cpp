#include "report.h"

#include <algorithm>
#include <iomanip>
#include <vector>

#include "emc/format/kpu_layout.h"
#include "layer_info.h"

namespace emc::inspect {

using nlohmann::ordered_json;

ordered_json model_json(const format::Kmodel& m, const std::string& path, std::uint64_t file_size) {
  ordered_json j;
  j["file"] = path;
  j["file_size"] = file_size;
  const auto& h = m.header;
  j["header"] = {{"version", h.version},
                 {"flags", h.flags},
                 {"weights_bits", m.eight_bit_weights() ? 8 : 16},
                 {"arch", h.arch},
                 {"layers_length", h.layers_length},
                 {"max_start_address", h.max_start_address},
                 {"main_mem_usage", h.main_mem_usage},
                 {"output_count", h.output_count},
                 {"missing_tail_bytes", m.missing_tail_bytes},
                 {"emc_layer_types", m.has_emc_layers()}};
  ordered_json outs = ordered_json::array();
  for (std::size_t i = 0; i < m.outputs.size(); ++i) {
    outs.push_back({{"index", i}, {"address", m.outputs[i].address}, {"size", m.outputs[i].size}});
  }
  j["outputs"] = outs;
  ordered_json layers = ordered_json::array();
  std::vector<MainAccess> main;
  std::vector<KpuAccess> kpu;
  for (std::size_t i = 0; i < m.layers.size(); ++i) {
    LayerInfo li = describe_layer(m, i);
    layers.push_back({{"index", li.index},
                      {"type", li.type},
                      {"body_offset", li.body_offset},
                      {"body_size", li.body_size},
                      {"params", li.params}});
    main.insert(main.end(), li.main.begin(), li.main.end());
    kpu.insert(kpu.end(), li.kpu.begin(), li.kpu.end());
  }
  j["layers"] = layers;
  std::stable_sort(main.begin(), main.end(),
                   [](const MainAccess& a, const MainAccess& b) { return a.begin < b.begin; });
  std::stable_sort(kpu.begin(), kpu.end(), [](const KpuAccess& a, const KpuAccess& b) {
    return a.row_begin < b.row_begin;
  });
  ordered_json mm = ordered_json::array();
  for (const MainAccess& a : main) {
    mm.push_back({{"begin", a.begin},
                  {"end", a.end},
                  {"layer", a.layer},
                  {"type", std::string(to_string(m.layers[a.layer].type))},
                  {"access", a.write ? "write" : "read"},
                  {"field", a.what}});
  }
  j["main_memory_map"] = mm;
  ordered_json km = ordered_json::array();
  for (const KpuAccess& a : kpu) {
    km.push_back({{"row_begin", a.row_begin},
                  {"row_end", a.row_end},
                  {"layer", a.layer},
                  {"type", std::string(to_string(m.layers[a.layer].type))},
                  {"access", a.write ? "write" : "read"},
                  {"field", a.what}});
  }
  j["kpu_ram_map"] = km;
  return j;
}

namespace {

// Scalars print bare; a [begin, end] pair prints as a half-open range.
std::string value_text(const ordered_json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array() && v.size() == 2 && v[0].is_number_integer()) {
    return "[" + v[0].dump() + ", " + v[1].dump() + ")";
  }
  return v.dump();
}

std::string params_text(const ordered_json& params) {
  std::string s;
  for (const auto& [k, v] : params.items()) {
    if (!s.empty()) s += "  ";
    s += k + "=" + value_text(v);
  }
  return s;
}

}  // namespace

void print_model_text(std::ostream& out, const ordered_json& r) {
  const auto& h = r["header"];
  out << "file: " << r["file"].get<std::string>() << " (" << r["file_size"] << " bytes)\n";
  out << "header:\n";
  out << "  version            " << h["version"] << " (kmodel V3)\n";
  out << "  flags              " << hex(h["flags"].get<std::uint64_t>()) << " ("
      << (h["weights_bits"] == 8 ? "8-bit weights" : "16-bit weights") << ")\n";
  out << "  arch               " << h["arch"] << "\n";
  out << "  layers             " << h["layers_length"] << "\n";
  out << "  max_start_address  " << hex(h["max_start_address"].get<std::uint64_t>())
      << " (KPU row; informational, the SDK ignores it)\n";
  out << "  main_mem_usage     " << h["main_mem_usage"] << " bytes ("
      << hex(h["main_mem_usage"].get<std::uint64_t>()) << ")\n";
  out << "  outputs            " << h["output_count"] << "\n";
  if (h["missing_tail_bytes"].get<std::uint32_t>() > 0) {
    out << "  note               the file ends " << h["missing_tail_bytes"]
        << " bytes before the last body's declared end (unwritten alignment pad, nncase v0.1)\n";
  }
  if (h["emc_layer_types"].get<bool>()) {
    out << "  note               contains EMC layer types (0x454Dxxxx): runs on EMC's runtime; the "
           "stock K210 SDK loader, nncase's V3 runtime and MaixPy cannot run this file\n";
  }
  out << "outputs:\n";
  for (const auto& o : r["outputs"]) {
    out << "  #" << o["index"] << "  address " << hex(o["address"].get<std::uint64_t>())
        << "  size " << o["size"] << " bytes\n";
  }
  out << "layers:\n";
  out << "  " << std::left << std::setw(5) << "idx" << std::setw(36) << "type" << std::setw(11)
      << "body_off" << std::setw(11) << "body_size"
      << "parameters\n";
  for (const auto& l : r["layers"]) {
    out << "  " << std::left << std::setw(5) << l["index"].dump() << std::setw(36)
        << l["type"].get<std::string>() << std::setw(11)
        << hex(l["body_offset"].get<std::uint64_t>()) << std::setw(11) << l["body_size"].dump()
        << params_text(l["params"]) << "\n";
  }
  out << "main memory map (bytes [begin, end) of the " << h["main_mem_usage"] << "-byte buffer):\n";
  for (const auto& a : r["main_memory_map"]) {
    out << "  [" << std::setw(9) << hex(a["begin"].get<std::uint64_t>()) << ", " << std::setw(9)
        << hex(a["end"].get<std::uint64_t>()) << ")  layer " << std::setw(3) << a["layer"].dump()
        << " " << std::setw(34) << a["type"].get<std::string>() << std::setw(6)
        << a["access"].get<std::string>() << a["field"].get<std::string>() << "\n";
  }
  out << "KPU RAM map (64-byte rows [begin, end) of " << format::kKpuRamRows << "):\n";
  for (const auto& a : r["kpu_ram_map"]) {
    out << "  rows [" << std::setw(6) << a["row_begin"].dump() << ", " << std::setw(6)
        << a["row_end"].dump() << ")  layer " << std::setw(3) << a["layer"].dump() << " "
        << std::setw(22) << a["type"].get<std::string>() << std::setw(6)
        << a["access"].get<std::string>() << a["field"].get<std::string>() << "\n";
  }
}

void print_layer_text(std::ostream& out, const ordered_json& d) {
  out << "layer " << d["index"] << ": " << d["type"].get<std::string>() << " (type "
      << d["type_value"] << ")  body_offset " << hex(d["body_offset"].get<std::uint64_t>())
      << "  body_size " << d["body_size"] << "\n";
  for (const auto& [k, v] : d["body"].items()) {
    if (k == "kpu_fields") {
      out << "  KPU register fields (register encodings, kpu_layer_argument_t):\n";
      for (const auto& [fk, fv] : v.items()) {
        out << "    " << std::left << std::setw(24) << fk << fv.dump() << "\n";
      }
    } else if (k == "batch_norm") {
      out << "  batch-norm words (per output channel):\n";
      for (const auto& bn : v) {
        out << "    ch " << std::setw(5) << bn["channel"].dump() << std::setw(20)
            << bn["word"].get<std::string>() << "mul " << std::setw(10) << bn["norm_mul"].dump()
            << "shift " << std::setw(4) << bn["norm_shift"].dump() << "add "
            << bn["norm_add"].dump() << "\n";
      }
    } else if (k == "activation") {
      out << "  activation segments:\n";
      for (const auto& s : v) {
        out << "    seg " << std::setw(3) << s["segment"].dump() << "x_start " << std::setw(14)
            << s["x_start"].dump() << "y_mul " << std::setw(8) << s["y_mul"].dump() << "shift "
            << std::setw(4) << s["shift_number"].dump() << "bias " << s["result_bias"].dump()
            << "\n";
      }
    } else if (k == "layer_words") {
      out << "  register words:";
      for (const auto& w : v) out << " " << w.get<std::string>();
      out << "\n";
    } else {
      out << "  " << std::left << std::setw(28) << k << value_text(v) << "\n";
    }
  }
}

}  // namespace emc::inspect
