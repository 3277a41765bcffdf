// Builds small TF.js layers model.json texts + one weight shard in memory, for hand-computed
// importer / executor tests. Values are written exactly as given (float32 little-endian).
#pragma once

#include <random>

#include <nlohmann/json.hpp>

#include "frontend_test_util.h"

namespace emc::converter::testing {

class ModelBuilder {
 public:
  using Json = nlohmann::json;

  // A functional model when any layer is given inbound names; otherwise Sequential (chain).
  ModelBuilder& input(const std::string& name, std::vector<int> shape) {
    Json bis = Json::array({nullptr});
    for (int d : shape) bis.push_back(d);
    layers_.push_back(
        {{"class_name", "InputLayer"},
         {"name", name},
         {"config", {{"batch_input_shape", bis}, {"dtype", "float32"}, {"name", name}}},
         {"inbound_nodes", Json::array()}});
    inputs_.push_back(name);
    return *this;
  }
  ModelBuilder& layer(const std::string& cls, const std::string& name, Json config,
                      std::vector<std::string> inbound = {}) {
    config["name"] = name;
    Json l = {{"class_name", cls}, {"name", name}, {"config", config}};
    Json node = Json::array();
    for (const auto& in : inbound) node.push_back(Json::array({in, 0, 0, Json::object()}));
    if (!inbound.empty()) functional_ = true;
    l["inbound_nodes"] = inbound.empty() ? Json::array() : Json::array({node});
    layers_.push_back(l);
    last_ = name;
    return *this;
  }
  ModelBuilder& weight(const std::string& name, std::vector<int> shape, std::vector<float> values) {
    specs_.push_back({{"name", name}, {"shape", shape}, {"dtype", "float32"}});
    auto b = f32_bytes(values);
    blob_.insert(blob_.end(), b.begin(), b.end());
    return *this;
  }
  ModelBuilder& outputs(std::vector<std::string> names) {
    outputs_ = std::move(names);
    return *this;
  }

  Json json() const {
    Json cfg;
    if (functional_) {
      cfg = {{"name", "m"}, {"layers", layers_}};
      Json ins = Json::array(), outs = Json::array();
      for (const auto& i : inputs_) ins.push_back(Json::array({i, 0, 0}));
      for (const auto& o : (outputs_.empty() ? std::vector<std::string>{last_} : outputs_))
        outs.push_back(Json::array({o, 0, 0}));
      cfg["input_layers"] = ins;
      cfg["output_layers"] = outs;
    } else {
      cfg = {{"name", "m"}, {"layers", layers_}};
    }
    Json root = {{"format", "layers-model"},
                 {"modelTopology",
                  {{"class_name", functional_ ? "Functional" : "Sequential"},
                   {"keras_version", "tfjs-layers 4.22.0"},
                   {"config", cfg}}}};
    if (!specs_.empty())
      root["weightsManifest"] = Json::array({{{"paths", {"w.bin"}}, {"weights", specs_}}});
    return root;
  }
  std::string text() const { return json().dump(); }
  std::map<std::string, std::vector<std::uint8_t>> shards() const { return {{"w.bin", blob_}}; }
  Result<Graph> graph() const { return graph_from_memory(text(), shards()); }

 private:
  Json layers_ = Json::array();
  Json specs_ = Json::array();
  std::vector<std::uint8_t> blob_;
  std::vector<std::string> inputs_, outputs_;
  std::string last_;
  bool functional_ = false;
};

// n values uniform in [lo, hi) from mt19937(seed).
inline std::vector<float> randv(std::size_t n, std::uint32_t seed, float lo = -1, float hi = 1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// n values drawn from N(0, sd) by `rng`.
inline std::vector<float> randn(std::mt19937& rng, std::size_t n, float sd) {
  std::normal_distribution<float> d(0.0f, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Adds Conv2D `name` (k x k, stride 1, 'same', bias, activation `act`) reading `from`, with
// kernel ~ N(0, 0.5) and bias ~ N(0, 0.2) drawn from `rng`.
inline void same_conv(ModelBuilder& mb, std::mt19937& rng, const std::string& name, int k, int cin,
                      int filters, const std::string& from, const std::string& act = "linear") {
  mb.layer("Conv2D", name,
           {{"filters", filters},
            {"kernel_size", {k, k}},
            {"strides", {1, 1}},
            {"padding", "same"},
            {"use_bias", true},
            {"activation", act}},
           {from});
  mb.weight(name + "/kernel", {k, k, cin, filters},
            randn(rng, std::size_t(k * k * cin * filters), 0.5f));
  mb.weight(name + "/bias", {filters}, randn(rng, std::size_t(filters), 0.2f));
}

// Runs a single-input graph on `values` and returns the (first) output's data.
inline std::vector<float> run1(const Graph& g, std::vector<float> values) {
  Tensor t{g.shape(g.inputs[0]), std::move(values)};
  auto r = run_float(g, {t});
  if (!r.ok()) return {};
  return (*r)[0].data;
}

}  // namespace emc::converter::testing
