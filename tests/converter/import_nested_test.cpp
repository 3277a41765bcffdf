// Nested models (a Sequential / Model used as a layer): flattening, scoped names, weights by the
// inner layer's own name (as TF.js writes and resolves them), node numbering of nested calls.
// Expected values are hand-computed; samples/models/teachable_nested checks TF.js's own output.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "model_builder.h"

namespace emc::converter {
namespace {

using Json = nlohmann::json;
using testing::f32_bytes;
using testing::graph_from_memory;
using testing::run1;

Json dense(const std::string& name, int units, Json extra = Json::object()) {
  Json c = {{"name", name}, {"units", units}, {"activation", "linear"}, {"use_bias", true}};
  c.update(extra);
  return {{"class_name", "Dense"}, {"config", c}};
}

Json manifest(const std::vector<std::pair<std::string, std::vector<int>>>& specs) {
  Json w = Json::array();
  for (const auto& [n, s] : specs) w.push_back({{"name", n}, {"shape", s}, {"dtype", "float32"}});
  return Json::array({{{"paths", {"w.bin"}}, {"weights", w}}});
}

// Teachable Machine's shape: Sequential[Sequential[Model(...), pool], Sequential[Dense, Dense]],
// here with the feature extractor reduced to one Dense inside a functional Model.
Json teachable(bool list_form) {
  Json base = {
      {"class_name", "Model"},
      {"config",
       {{"name", "model1"},
        {"layers",
         {{{"name", "input_1"},
           {"class_name", "InputLayer"},
           {"config", {{"batch_input_shape", {nullptr, 2}}, {"dtype", "float32"}, {"name", "input_1"}}},
           {"inbound_nodes", Json::array()}},
          {{"name", "feat"},
           {"class_name", "Dense"},
           {"config", {{"name", "feat"}, {"units", 2}, {"activation", "relu"}}},
           {"inbound_nodes", {{{"input_1", 0, 0, Json::object()}}}}}}},
        {"input_layers", {{"input_1", 0, 0}}},
        {"output_layers", {{"feat", 0, 0}}}}}};
  Json act = {{"class_name", "Activation"}, {"config", {{"name", "act"}, {"activation", "linear"}}}};
  Json head_layers = {dense("dense_Dense1", 2, {{"batch_input_shape", {nullptr, 2}}}),
                      dense("dense_Dense2", 1)};
  Json seq1 = {{"class_name", "Sequential"}};
  Json seq2 = {{"class_name", "Sequential"}};
  if (list_form) {
    seq1["config"] = Json::array({base, act});
    seq2["config"] = head_layers;
  } else {
    seq1["config"] = {{"name", "sequential_1"}, {"layers", {base, act}}};
    seq2["config"] = {{"name", "sequential_2"}, {"layers", head_layers}};
  }
  Json top = {{"class_name", "Sequential"},
              {"keras_version", "tfjs-layers 1.3.1"},
              {"config", list_form ? Json(Json::array({seq1, seq2}))
                                   : Json({{"name", "sequential_3"}, {"layers", {seq1, seq2}}})}};
  return {{"modelTopology", top},
          {"weightsManifest", manifest({{"feat/kernel", {2, 2}},
                                        {"feat/bias", {2}},
                                        {"dense_Dense1/kernel", {2, 2}},
                                        {"dense_Dense1/bias", {2}},
                                        {"dense_Dense2/kernel", {2, 1}},
                                        {"dense_Dense2/bias", {1}}})}};
}

const std::vector<float> kTeachableWeights = {
    1, 0, 0, -1,  // feat kernel: (x0, -x1)
    0, 0,         // feat bias
    1, 1, 2, 0,   // Dense1: (a + 2b, a)
    0.5f, 0,      // Dense1 bias
    1, 10,        // Dense2: u + 10 v
    0.25f};       // Dense2 bias

TEST(ImportNested, TeachableMachineShapeBothSequentialForms) {
  for (bool list_form : {false, true}) {
    SCOPED_TRACE(list_form ? "list form" : "{name, layers} form");
    auto m = load_tfjs_model_from_memory(teachable(list_form).dump(),
                                         make_memory_shard_reader({{"w.bin", f32_bytes(kTeachableWeights)}}));
    ASSERT_TRUE(m.ok()) << m.error().to_string();
    auto g = build_graph(*m);
    ASSERT_TRUE(g.ok()) << g.error().to_string();
    // x = (3, -2): feat = relu(3, 2) = (3, 2); Dense1 = (3 + 4 + 0.5, 3) = (7.5, 3);
    // Dense2 = 7.5 + 30 + 0.25 = 37.75.
    EXPECT_EQ(run1(*g, {3, -2}), (std::vector<float>{37.75f}));
    // x = (-1, 5): feat = relu(-1, -5) = (0, 0); Dense1 = (0.5, 0); Dense2 = 0.75.
    EXPECT_EQ(run1(*g, {-1, 5}), (std::vector<float>{0.75f}));
    if (!list_form) {
      // Scoped names; the nested models' outputs carry their own names.
      for (const char* t : {"sequential_1/model1/feat", "sequential_1/model1", "sequential_1",
                            "sequential_2/dense_Dense1", "sequential_2"})
        EXPECT_NE(g->find_tensor(t), kNoTensor) << t;
      EXPECT_EQ(g->tensor(g->outputs[0]).name, "sequential_2");
    }
    // batch_input_shape on the head's first Dense is that Sequential's input declaration (no
    // warning); none other is present.
    EXPECT_TRUE(m->warnings.empty()) << m->warnings.front();
  }
}

TEST(ImportNested, FunctionalParentCallsNestedSequentialTwiceWithSharedWeights) {
  // As tfjs-layers writes it: the nested Sequential was built with an input shape, so its own
  // node is 0 and the parent's calls are nodes 1 and 2.
  Json inner = {{"class_name", "Sequential"},
                {"name", "inner"},
                {"config", {{"name", "inner"}, {"layers", {dense("dd", 1, {{"batch_input_shape", {nullptr, 1}}})}}}},
                {"inbound_nodes", {{{"a", 0, 0, Json::object()}}, {{"b", 0, 0, Json::object()}}}}};
  auto input = [](const std::string& n) {
    return Json{{"name", n},
                {"class_name", "InputLayer"},
                {"config", {{"batch_input_shape", {nullptr, 1}}, {"name", n}}},
                {"inbound_nodes", Json::array()}};
  };
  Json add = {{"name", "sum"},
              {"class_name", "Add"},
              {"config", {{"name", "sum"}}},
              {"inbound_nodes", {{{"inner", 1, 0, Json::object()}, {"inner", 2, 0, Json::object()}}}}};
  Json root = {{"modelTopology",
                {{"class_name", "Model"},
                 {"config",
                  {{"name", "m"},
                   {"layers", {input("a"), input("b"), inner, add}},
                   {"input_layers", {{"a", 0, 0}, {"b", 0, 0}}},
                   {"output_layers", {{"sum", 0, 0}}}}}}},
               {"weightsManifest", manifest({{"dd/kernel", {1, 1}}, {"dd/bias", {1}}})}};
  auto g = graph_from_memory(root.dump(), {{"w.bin", f32_bytes({3, 1})}});
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  auto r = run_float(*g, {Tensor{{{1}}, {1}}, Tensor{{{1}}, {2}}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].data, (std::vector<float>{11}));  // (3*1+1) + (3*2+1)
  EXPECT_NE(g->find_tensor("inner/call_1/dd"), kNoTensor);
  EXPECT_NE(g->find_tensor("inner/call_1"), kNoTensor);
}

TEST(ImportNested, BatchInputShapeOnALaterLayerIsIgnoredWithAWarning) {
  Json l0 = dense("d0", 1, {{"batch_input_shape", {nullptr, 2}}});
  Json l1 = dense("d1", 1, {{"batch_input_shape", {nullptr, 7}}});
  Json root = {{"modelTopology", {{"class_name", "Sequential"}, {"config", {l0, l1}}}},
               {"weightsManifest", manifest({{"d0/kernel", {2, 1}},
                                             {"d0/bias", {1}},
                                             {"d1/kernel", {1, 1}},
                                             {"d1/bias", {1}}})}};
  auto m = load_tfjs_model_from_memory(root.dump(),
                                       make_memory_shard_reader({{"w.bin", f32_bytes({1, 2, 0, 3, 1})}}));
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  ASSERT_EQ(m->warnings.size(), 1u);
  EXPECT_NE(m->warnings[0].find("'d1'"), std::string::npos) << m->warnings[0];
  EXPECT_NE(m->warnings[0].find("ignored"), std::string::npos) << m->warnings[0];
  auto g = build_graph(*m);
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  EXPECT_EQ(run1(*g, {1, 1}), (std::vector<float>{10}));  // 3 * (1 + 2) + 1
}

TEST(ImportNested, TwoNestedLayersResolvingToOneWeightAreAnError) {
  // Two nested Sequentials each holding a Dense named "d": the manifest can hold "d/kernel" once,
  // so the second layer would silently reuse the first one's weights. TF.js refuses it too.
  Json s1 = {{"class_name", "Sequential"},
             {"config", {{"name", "s1"}, {"layers", {dense("d", 1, {{"batch_input_shape", {nullptr, 1}}})}}}}};
  Json s2 = {{"class_name", "Sequential"}, {"config", {{"name", "s2"}, {"layers", {dense("d", 1)}}}}};
  Json root = {{"modelTopology", {{"class_name", "Sequential"}, {"config", {{"name", "top"}, {"layers", {s1, s2}}}}}},
               {"weightsManifest", manifest({{"d/kernel", {1, 1}}, {"d/bias", {1}}})}};
  auto g = graph_from_memory(root.dump(), {{"w.bin", f32_bytes({1, 0})}});
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.error().to_string().find("duplicate weight name"), std::string::npos)
      << g.error().to_string();
  // With scoped manifest names the two are distinct and the model loads.
  root["weightsManifest"] = manifest({{"s1/d/kernel", {1, 1}}, {"s1/d/bias", {1}},
                                      {"s2/d/kernel", {1, 1}}, {"s2/d/bias", {1}}});
  auto g2 = graph_from_memory(root.dump(), {{"w.bin", f32_bytes({2, 1, 10, 0})}});
  ASSERT_TRUE(g2.ok()) << g2.error().to_string();
  EXPECT_EQ(run1(*g2, {1}), (std::vector<float>{30}));  // 10 * (2*1 + 1)
}

TEST(ImportNested, UnsupportedLayerInsideANestedModelIsNamedWithItsScope) {
  Json lstm = {{"class_name", "LSTM"}, {"config", {{"name", "lstm_1"}, {"units", 4}}}};
  Json s1 = {{"class_name", "Sequential"},
             {"config", {{"name", "s1"}, {"layers", {dense("d", 1, {{"batch_input_shape", {nullptr, 1}}}), lstm}}}}};
  Json root = {{"modelTopology", {{"class_name", "Sequential"}, {"config", {{"name", "top"}, {"layers", {s1}}}}}},
               {"weightsManifest", manifest({{"d/kernel", {1, 1}}, {"d/bias", {1}}})}};
  auto g = graph_from_memory(root.dump(), {{"w.bin", f32_bytes({1, 0})}});
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().code(), Errc::kUnsupportedLayer);
  const std::string e = g.error().to_string();
  EXPECT_NE(e.find("s1/lstm_1"), std::string::npos) << e;
  EXPECT_NE(e.find("LSTM"), std::string::npos) << e;
  EXPECT_NE(e.find("layer 1"), std::string::npos) << e;
}

TEST(ImportNested, TfjsTeachableSampleInKeras21ListFormGivesTfjsOutputs) {
  // samples/models/teachable_nested/model_list_form.json: TF.js's own model.json with every
  // Sequential config rewritten to the list form (make_samples.js checks TF.js loads it and gives
  // identical outputs). Our outputs must equal TF.js's references (exec_samples_test checks
  // model.json layer by layer).
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(testing::source_dir()) / "samples/models/teachable_nested";
  auto model = load_tfjs_model((dir / "model_list_form.json").string());
  ASSERT_TRUE(model.ok()) << model.error().to_string();
  EXPECT_EQ(model->model_class, "Sequential");
  auto graph = build_graph(*model);
  ASSERT_TRUE(graph.ok()) << graph.error().to_string();
  std::ifstream in(dir / "reference.json");
  ASSERT_TRUE(in) << "missing " << (dir / "reference.json");
  const auto ref = Json::parse(in);
  int cases = 0;
  for (const auto& c : ref.at("cases")) {
    Tensor x{graph->shape(graph->inputs[0]),
             testing::read_f32((dir / c.at("input_tensor").get<std::string>()).string())};
    auto y = run_float(*graph, {x});
    ASSERT_TRUE(y.ok()) << y.error().to_string();
    EXPECT_LE(testing::max_abs_diff((*y)[0].data, c.at("output").get<std::vector<float>>()),
              ref.value("tolerance", 1e-4));
    ++cases;
  }
  EXPECT_EQ(cases, 3);
}

}  // namespace
}  // namespace emc::converter
