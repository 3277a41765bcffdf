// Importer: topology forms, weight manifests and decoding, per-class attribute handling.
#include <gtest/gtest.h>

#include <cmath>

#include "model_builder.h"

namespace emc::converter {
namespace {

using Json = nlohmann::json;
using testing::f32_bytes;
using testing::graph_from_memory;
using testing::ModelBuilder;
using testing::run1;

Json dense_layer(const std::string& name, int units) {
  return {
      {"class_name", "Dense"},
      {"config", {{"name", name}, {"units", units}, {"activation", "linear"}, {"use_bias", true}}}};
}

TEST(ImportTopology, OldSequentialConfigIsAListAndInputIsSynthesized) {
  // Keras 2.1-style: config is the layer list, the first layer carries batch_input_shape.
  Json l0 = dense_layer("d", 1);
  l0["config"]["batch_input_shape"] = {nullptr, 2};
  Json root = {{"modelTopology",
                {{"class_name", "Sequential"}, {"keras_version", "2.1.6"}, {"config", {l0}}}},
               {"weightsManifest",
                {{{"paths", {"a.bin"}},
                  {"weights",
                   {{{"name", "d/kernel"}, {"shape", {2, 1}}, {"dtype", "float32"}},
                    {{"name", "d/bias"}, {"shape", {1}}, {"dtype", "float32"}}}}}}}};
  auto g = graph_from_memory(root.dump(), {{"a.bin", f32_bytes({2, 3, 1})}});
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  EXPECT_EQ(g->tensor(g->inputs[0]).name, "d_input");
  EXPECT_EQ(run1(*g, {1, 1}), (std::vector<float>{6}));  // 2 + 3 + 1
}

TEST(ImportTopology, ModelConfigWrapperAndWeightsAcrossShardsInAnyOrder) {
  // modelTopology.model_config (tfjs converter output), two groups; group 1's kernel spans two
  // shards (6 bytes + 6 bytes), and the manifest lists bias before kernel.
  Json l0 = dense_layer("d", 1);
  l0["config"]["batch_input_shape"] = {nullptr, 3};
  Json topo = {{"class_name", "Sequential"}, {"config", {{"name", "s"}, {"layers", {l0}}}}};
  auto k = f32_bytes({1, 10, 100});
  Json root = {
      {"modelTopology", {{"model_config", topo}, {"keras_version", "2.4.0"}}},
      {"weightsManifest",
       {{{"paths", {"b.bin"}},
         {"weights", {{{"name", "d/bias:0"}, {"shape", {1}}, {"dtype", "float32"}}}}},
        {{"paths", {"k1.bin", "k2.bin"}},
         {"weights", {{{"name", "d/kernel"}, {"shape", {3, 1}}, {"dtype", "float32"}}}}}}}};
  auto g = graph_from_memory(root.dump(), {{"b.bin", f32_bytes({0.5f})},
                                           {"k1.bin", {k.begin(), k.begin() + 6}},
                                           {"k2.bin", {k.begin() + 6, k.end()}}});
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  EXPECT_EQ(run1(*g, {1, 2, 3}), (std::vector<float>{321.5f}));
}

TEST(ImportTopology, FunctionalKeras3DictNodesAndIndexWeightNames) {
  // Keras 3 style inbound_nodes {"args": [keras tensors], "kwargs": {}} and weights named
  // "<layer>/<index>" (tfjs-layers' Keras 3 convention).
  auto kt = [](const std::string& layer) {
    return Json{
        {"class_name", "__keras_tensor__"},
        {"config",
         {{"shape", {nullptr, 2}}, {"dtype", "float32"}, {"keras_history", {layer, 0, 0}}}}};
  };
  Json layers = Json::array();
  layers.push_back(
      {{"class_name", "InputLayer"},
       {"name", "in"},
       {"config", {{"batch_shape", {nullptr, 2}}, {"dtype", "float32"}, {"name", "in"}}},
       {"inbound_nodes", Json::array()}});
  Json d = dense_layer("d", 2);
  d["name"] = "d";
  d["inbound_nodes"] = {{{"args", {kt("in")}}, {"kwargs", Json::object()}}};
  layers.push_back(d);
  Json add = {{"class_name", "Add"},
              {"name", "add"},
              {"config", {{"name", "add"}}},
              {"inbound_nodes", {{{"args", {{kt("d"), kt("in")}}}, {"kwargs", Json::object()}}}}};
  layers.push_back(add);
  Json root = {{"modelTopology",
                {{"class_name", "Functional"},
                 {"keras_version", "3.3.3"},
                 {"config",
                  {{"name", "f"},
                   {"layers", layers},
                   {"input_layers", {"in", 0, 0}},
                   {"output_layers", {"add", 0, 0}}}}}},
               {"weightsManifest",
                {{{"paths", {"w.bin"}},
                  {"weights",
                   {{{"name", "d/0"}, {"shape", {2, 2}}, {"dtype", "float32"}},
                    {{"name", "d/1"}, {"shape", {2}}, {"dtype", "float32"}}}}}}}};
  auto g = graph_from_memory(root.dump(), {{"w.bin", f32_bytes({1, 2, 3, 4, 10, 20})}});
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  // d([1,1]) = [1+3+10, 2+4+20] = [14, 26]; + [1, 1] = [15, 27]
  EXPECT_EQ(run1(*g, {1, 1}), (std::vector<float>{15, 27}));
}

TEST(ImportWeights, QuantizedAndHalfAndInt32Decoding) {
  // uint8 q=[0,255] scale 0.1 min -1 -> [-1, 24.5]; uint16 q=[1000] scale 0.001 min 0 -> [1];
  // float16 0x3C00 = 1, 0xC000 = -2; int32 7 -> 7.
  Json root = {
      {"modelTopology",
       {{"class_name", "Sequential"},
        {"config",
         {{"name", "s"},
          {"layers",
           Json::array({{{"class_name", "InputLayer"},
                         {"config", {{"name", "in"}, {"batch_input_shape", {nullptr, 1}}}}}})}}}}},
      {"weightsManifest",
       {{{"paths", {"q.bin"}},
         {"weights",
          {{{"name", "a"},
            {"shape", {2}},
            {"dtype", "float32"},
            {"quantization", {{"dtype", "uint8"}, {"scale", 0.1}, {"min", -1.0}}}},
           {{"name", "b"},
            {"shape", {1}},
            {"dtype", "float32"},
            {"quantization", {{"dtype", "uint16"}, {"scale", 0.001}, {"min", 0.0}}}},
           {{"name", "c"},
            {"shape", {2}},
            {"dtype", "float32"},
            {"quantization", {{"dtype", "float16"}}}},
           {{"name", "d"}, {"shape", {1}}, {"dtype", "int32"}}}}}}}};
  std::vector<std::uint8_t> blob = {0, 255, 0xE8, 0x03, 0x00, 0x3C, 0x00, 0xC0, 7, 0, 0, 0};
  auto m = load_tfjs_model_from_memory(root.dump(), make_memory_shard_reader({{"q.bin", blob}}));
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  EXPECT_FLOAT_EQ(m->weights.at("a").values[0], -1.0f);
  EXPECT_FLOAT_EQ(m->weights.at("a").values[1], static_cast<float>(255 * 0.1 - 1.0));
  EXPECT_FLOAT_EQ(m->weights.at("b").values[0], 1.0f);
  EXPECT_EQ(m->weights.at("c").values, (std::vector<float>{1.0f, -2.0f}));
  EXPECT_EQ(m->weights.at("d").values, (std::vector<float>{7.0f}));
  EXPECT_EQ(m->weights.at("c").stored_dtype, "float16");
}

TEST(ImportWeights, HalfToFloatEdgeCases) {
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(half_to_float(0x7BFF), 65504.0f);               // largest finite
  EXPECT_EQ(half_to_float(0x3555), 0.333251953125f);        // 1/3 rounded to half
  EXPECT_TRUE(std::isinf(half_to_float(0xFC00)) && half_to_float(0xFC00) < 0);
  EXPECT_TRUE(std::isnan(half_to_float(0x7E00)));
  EXPECT_EQ(std::signbit(half_to_float(0x8000)), true);
}

TEST(ImportClasses, TensorLayerAliasesUseTensorLayerArguments) {
  // Conv2d(n_filter, filter_size, strides, act, padding 'SAME') with TL weight names
  // filters/biases; BatchNorm (TL default epsilon 1e-5, weights beta/gamma/moving_mean/moving_var);
  // MaxPool2d defaults (3x3, stride 2, SAME); Dense(n_units) with weights/biases.
  ModelBuilder b;
  b.input("x", {4, 4, 1})
      .layer("Conv2d", "c",
             {{"n_filter", 1},
              {"filter_size", {1, 1}},
              {"strides", {1, 1}},
              {"act", "relu"},
              {"padding", "SAME"},
              {"data_format", "channels_last"}})
      .weight("c/filters", {1, 1, 1, 1}, {-1})
      .weight("c/biases", {1}, {20})
      .layer("BatchNorm", "bn", {{"decay", 0.9}, {"is_train", false}})
      .weight("bn/beta", {1}, {0})
      .weight("bn/gamma", {1}, {1})
      .weight("bn/moving_mean", {1}, {0})
      .weight("bn/moving_var", {1}, {1 - 1e-5f})
      .layer("MaxPool2d", "p", Json::object())
      .layer("Flatten", "f", Json::object())
      .layer("Dense", "d", {{"n_units", 1}})
      .weight("d/weights", {4, 1}, {1, 0, 0, 0});
  auto g = b.graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  // relu(20 - x) for x = 1..16, BN ~identity; 3x3/2 SAME max pool on 4x4: out 2x2, pad total
  // (2-1)*2+3-4 = 1 -> window (0,0) rows 0..2 cols 0..2 -> max = 20-1 = 19.
  EXPECT_EQ(g->shape(g->nodes[2].output), (Shape{{2, 2, 1}}));
  std::vector<float> x(16);
  for (int i = 0; i < 16; ++i) x[i] = static_cast<float>(i + 1);
  auto y = run1(*g, x);
  ASSERT_EQ(y.size(), 1u);
  EXPECT_NEAR(y[0], 19.0f, 1e-4);
}

TEST(ImportClasses, SharedLayerCalledTwice) {
  // The same Dense applied to two inputs: two nodes, outputs "d" and "d/call_1".
  ModelBuilder b;
  b.input("a", {1}).input("b", {1});
  b.weight("d/kernel", {1, 1}, {3}).weight("d/bias", {1}, {1});
  auto j = b.layer("Add", "sum", Json::object(), {"a", "b"}).json();
  Json d = {{"class_name", "Dense"},
            {"name", "d"},
            {"config", {{"name", "d"}, {"units", 1}}},
            {"inbound_nodes", {{{"a", 0, 0, Json::object()}}, {{"b", 0, 0, Json::object()}}}}};
  auto& layers = j["modelTopology"]["config"]["layers"];
  layers.push_back(d);
  layers.push_back(
      {{"class_name", "Add"},
       {"name", "out"},
       {"config", {{"name", "out"}}},
       {"inbound_nodes", {{{"d", 0, 0, Json::object()}, {"d", 1, 0, Json::object()}}}}});
  j["modelTopology"]["config"]["output_layers"] = {{"out", 0, 0}};
  auto g = graph_from_memory(j.dump(), b.shards());
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  auto r = run_float(*g, {Tensor{{{1}}, {1}}, Tensor{{{1}}, {2}}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].data, (std::vector<float>{11}));  // (3+1) + (6+1)
  EXPECT_NE(g->find_tensor("d/call_1"), kNoTensor);
}

// An input that is not yet a map, read only by a Reshape to one (MNIST-style [28, 28] -> [28, 28,
// 1], or a flat vector -> [H, W, C]), is taken as that map: its values are already in HWC order.
// The Reshape is then a no-op and the float result is unchanged.
Graph reshaped_input_model(std::vector<int> in, std::vector<int> target, bool also_read = false) {
  ModelBuilder b;
  b.input("x", in).layer("Reshape", "r", {{"target_shape", target}}, {"x"});
  if (also_read) {
    b.layer("Flatten", "f", ModelBuilder::Json::object(), {"x"});
    b.outputs({"r", "f"});
  }
  auto g = b.graph();
  EXPECT_TRUE(g.ok()) << g.error().to_string();
  return g.ok() ? std::move(*g) : Graph{};
}

TEST(ImportTopology, GreyPlaneOrFlatInputReshapedToAMapIsTakenAsThatMap) {
  const Graph grey = reshaped_input_model({2, 3}, {2, 3, 1});
  EXPECT_EQ(to_string(grey.shape(grey.inputs[0])), "[2, 3, 1]");
  EXPECT_EQ(run1(grey, {1, 2, 3, 4, 5, 6}), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  const Graph flat = reshaped_input_model({12}, {2, 3, 2});
  EXPECT_EQ(to_string(flat.shape(flat.inputs[0])), "[2, 3, 2]");
  // Not a map of the input's values, or the input is also read as it is: left as declared.
  const Graph features = reshaped_input_model({5}, {1, 1, 5});
  EXPECT_EQ(to_string(features.shape(features.inputs[0])), "[5]");
  const Graph transposed = reshaped_input_model({2, 3}, {3, 2, 1});
  EXPECT_EQ(to_string(transposed.shape(transposed.inputs[0])), "[2, 3]");
  const Graph two_channel = reshaped_input_model({2, 6}, {2, 3, 2});
  EXPECT_EQ(to_string(two_channel.shape(two_channel.inputs[0])), "[2, 6]");
  const Graph shared = reshaped_input_model({6}, {2, 3, 1}, /*also_read=*/true);
  EXPECT_EQ(to_string(shared.shape(shared.inputs[0])), "[6]");
}

// Keras's augmentation layers pass the input through at inference (Keras docs: "During inference
// time, the output will be identical to input"), whatever their training attributes; Keras 3
// writes them in a nested 'data_augmentation' Sequential as in its image-classification example.
TEST(ImportClasses, AugmentationLayersAreIdentitiesAtInference) {
  ModelBuilder b;
  b.input("x", {2, 2, 1})
      .layer("RandomFlip", "flip", {{"mode", "horizontal"}, {"seed", nullptr}}, {"x"})
      .layer("RandomRotation", "rot",
             {{"factor", 0.1},
              {"fill_mode", "reflect"},
              {"interpolation", "bilinear"},
              {"fill_value", 0.0},
              {"data_format", "channels_last"}},
             {"flip"})
      .layer("RandomZoom", "zoom", {{"height_factor", 0.1}, {"width_factor", nullptr}}, {"rot"})
      .layer("RandomContrast", "contrast", {{"factor", 0.2}, {"value_range", {0, 255}}}, {"zoom"});
  auto g = b.graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  EXPECT_EQ(run1(*g, {1, 2, 3, 4}), (std::vector<float>{1, 2, 3, 4}));
  ModelBuilder crop;
  crop.input("x", {4, 4, 1}).layer("RandomCrop", "crop", {{"height", 2}, {"width", 2}}, {"x"});
  auto r = crop.graph();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().to_string().find("RandomCrop"), std::string::npos) << r.error().to_string();
}

TEST(ImportClasses, SupportedClassListIsComplete) {
  auto classes = supported_layer_classes();
  for (const char* c : {"InputLayer",
                        "Conv2D",
                        "DepthwiseConv2D",
                        "BatchNormalization",
                        "ZeroPadding2D",
                        "Dense",
                        "MaxPooling2D",
                        "AveragePooling2D",
                        "GlobalAveragePooling2D",
                        "GlobalMaxPooling2D",
                        "Concatenate",
                        "Add",
                        "Activation",
                        "ReLU",
                        "LeakyReLU",
                        "Softmax",
                        "Flatten",
                        "Reshape",
                        "Dropout",
                        "Conv2d",
                        "DepthwiseConv2d",
                        "BatchNorm",
                        "ZeroPad2d",
                        "MaxPool2d",
                        "MeanPool2d",
                        "GlobalMaxPool2d",
                        "GlobalMeanPool2d",
                        "Concat",
                        "SoftMax"})
    EXPECT_NE(std::find(classes.begin(), classes.end(), c), classes.end()) << c;
}

}  // namespace
}  // namespace emc::converter
