// Every class of importer error: the code, and that the message names the layer (index, name,
// class) and what is supported instead.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>

#include "model_builder.h"

namespace emc::converter {
namespace {

using Json = nlohmann::json;
using testing::graph_from_memory;
using testing::ModelBuilder;
namespace fs = std::filesystem;

std::string err_of(const Result<Graph>& g) {
  return g.ok() ? "(ok)" : g.error().to_string();
}

ModelBuilder conv_model(Json extra) {
  Json cfg = {{"filters", 1}, {"kernel_size", {1, 1}}, {"use_bias", false}};
  for (auto it = extra.begin(); it != extra.end(); ++it) cfg[it.key()] = it.value();
  ModelBuilder b;
  b.input("x", {2, 2, 1})
      .layer("Conv2D", "my_conv", cfg)
      .weight("my_conv/kernel", {1, 1, 1, 1}, {1});
  return b;
}

TEST(ImportErrors, UnsupportedClassNamesLayerAndListsSupported) {
  ModelBuilder b;
  b.input("x", {4}).layer("LSTM", "rnn", {{"units", 4}});
  auto g = b.graph();
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().code(), Errc::kUnsupportedLayer);
  const std::string s = err_of(g);
  EXPECT_NE(s.find("layer 1 'rnn' (LSTM)"), std::string::npos) << s;
  EXPECT_NE(s.find("Conv2D"), std::string::npos) << s;  // lists what is supported
}

TEST(ImportErrors, DispatchIsOnClassNotName) {
  // A Dense layer named like a conv is still a Dense; a Conv2D named "dense" is still a conv.
  ModelBuilder b;
  b.input("x", {1, 1, 1})
      .layer("Conv2D", "dense", {{"filters", 1}, {"kernel_size", 1}, {"use_bias", false}})
      .weight("dense/kernel", {1, 1, 1, 1}, {2});
  auto g = b.graph();
  ASSERT_TRUE(g.ok()) << err_of(g);
  EXPECT_EQ(g->nodes[0].kind, NodeKind::kConv2D);
}

TEST(ImportErrors, UnsupportedAttributeValues) {
  struct Case {
    Json extra;
    std::string expect;
  } cases[] = {
      {{{"padding", "causal"}}, "padding 'causal' is not supported; supported: 'same', 'valid'"},
      {{{"data_format", "channels_first"}}, "supported: 'channels_last'"},
      {{{"groups", 2}}, "supported: groups = 1"},
      {{{"activation", "gelu"}}, "activation 'gelu' is not supported"},
      {{{"strides", {1, 0}}}, "'strides'"},
      {{{"kernel_size", "3"}}, "'kernel_size'"},
      {{{"some_new_option", 3}}, "attribute 'some_new_option'"},
      {{{"lora_rank", 4}}, "'lora_rank'"},
  };
  for (const auto& c : cases) {
    auto g = conv_model(c.extra).graph();
    ASSERT_FALSE(g.ok()) << c.extra;
    EXPECT_EQ(g.error().code(), Errc::kInvalidLayerConfig) << err_of(g);
    EXPECT_NE(err_of(g).find("layer 1 'my_conv' (Conv2D)"), std::string::npos) << err_of(g);
    EXPECT_NE(err_of(g).find(c.expect), std::string::npos) << err_of(g);
  }
  // Attributes that do not change results are accepted, null values too.
  auto ok =
      conv_model({{"kernel_regularizer", {{"class_name", "L2"}}}, {"lora_rank", nullptr}}).graph();
  EXPECT_TRUE(ok.ok()) << err_of(ok);
}

TEST(ImportErrors, OtherClassesRejectWhatTheyCannotDo) {
  ModelBuilder b1;
  b1.input("x", {2, 2, 3}).layer("Softmax", "sm", {{"axis", 1}});
  EXPECT_NE(err_of(b1.graph()).find("only the last axis"), std::string::npos) << err_of(b1.graph());
  ModelBuilder b2;
  b2.input("x", {2, 2, 3}).layer("Concatenate", "c", {{"axis", 0}}, {"x", "x"});
  EXPECT_NE(err_of(b2.graph()).find("batch axis"), std::string::npos) << err_of(b2.graph());
  ModelBuilder b3;
  b3.input("x", {2, 2, 3}).layer("BatchNormalization", "bn", {{"axis", 1}});
  EXPECT_NE(err_of(b3.graph()).find("only the channel (last) axis"), std::string::npos);
  ModelBuilder b4;
  b4.input("x", {2, 2, 3}).layer("Reshape", "r", {{"target_shape", {5}}});
  EXPECT_EQ(b4.graph().error().code(), Errc::kShapeMismatch);
}

TEST(ImportErrors, ShapesThatDoNotChain) {
  ModelBuilder b;
  b.input("a", {2, 2, 1}).input("b", {2, 2, 2}).layer("Add", "add", Json::object(), {"a", "b"});
  auto g = b.graph();
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().code(), Errc::kShapeMismatch);
  EXPECT_NE(err_of(g).find("'add' (Add)"), std::string::npos) << err_of(g);
  // Dense on an image without Flatten chains (Keras applies it to the last axis), but a conv on
  // a vector does not.
  ModelBuilder c;
  c.input("x", {4}).layer("Conv2D", "conv", {{"filters", 1}, {"kernel_size", 1}});
  EXPECT_EQ(c.graph().error().code(), Errc::kShapeMismatch);
  // Pool window larger than the input ('valid').
  ModelBuilder p;
  p.input("x", {2, 2, 1}).layer("MaxPooling2D", "pool", {{"pool_size", {3, 3}}});
  EXPECT_EQ(p.graph().error().code(), Errc::kShapeMismatch) << err_of(p.graph());
}

TEST(ImportErrors, WeightShapeAndMissingAndUnusedWeights) {
  ModelBuilder b;
  b.input("x", {2, 2, 1})
      .layer("Conv2D", "c", {{"filters", 2}, {"kernel_size", 1}, {"use_bias", false}})
      .weight("c/kernel", {1, 1, 1, 1}, {1});
  EXPECT_NE(err_of(b.graph()).find("has shape [1, 1, 1, 1], the layer needs [1, 1, 1, 2]"),
            std::string::npos)
      << err_of(b.graph());
  ModelBuilder m;
  m.input("x", {2, 2, 1})
      .layer("Conv2D", "c", {{"filters", 1}, {"kernel_size", 1}})
      .weight("c/kernel", {1, 1, 1, 1}, {1});  // use_bias defaults to true: bias missing
  EXPECT_NE(err_of(m.graph()).find("'c/bias'"), std::string::npos) << err_of(m.graph());
  ModelBuilder u = conv_model(Json::object());
  u.weight("stray/kernel", {1}, {1});
  EXPECT_NE(err_of(u.graph()).find("'stray/kernel'"), std::string::npos) << err_of(u.graph());
}

TEST(ImportErrors, BadJsonHasLineAndColumn) {
  auto m = load_tfjs_model_from_memory("{\n  \"modelTopology\": {\n    \"a\": tru\n}",
                                       make_memory_shard_reader({}));
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code(), Errc::kJson);
  EXPECT_NE(m.error().message().find("line 3, column"), std::string::npos) << m.error().to_string();
}

TEST(ImportErrors, NestingDepthIsBoundedWhileParsing) {
  std::string deep =
      "{\"modelTopology\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  auto m = load_tfjs_model_from_memory(deep, make_memory_shard_reader({}));
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code(), Errc::kJson);
  EXPECT_NE(m.error().message().find("depth"), std::string::npos);
  LoadOptions small;
  small.max_json_bytes = 10;
  auto big =
      load_tfjs_model_from_memory("{\"modelTopology\": {}}", make_memory_shard_reader({}), small);
  EXPECT_EQ(big.error().code(), Errc::kInvalidModel);
}

TEST(ImportErrors, UnsupportedDtypeAndQuantization) {
  for (const Json& spec : {Json{{"name", "w"}, {"shape", {1}}, {"dtype", "string"}},
                           Json{{"name", "w"},
                                {"shape", {1}},
                                {"dtype", "float32"},
                                {"quantization", {{"dtype", "int4"}}}},
                           Json{{"name", "w"},
                                {"shape", {1}},
                                {"dtype", "float32"},
                                {"quantization", {{"dtype", "uint8"}, {"scale", 1}}}}}) {
    Json input = {{"class_name", "InputLayer"},
                  {"config", {{"name", "in"}, {"batch_input_shape", {nullptr, 1}}}}};
    Json root = {
        {"modelTopology", {{"class_name", "Sequential"}, {"config", Json::array({input})}}},
        {"weightsManifest", {{{"paths", {"w.bin"}}, {"weights", {spec}}}}}};
    auto m = load_tfjs_model_from_memory(root.dump(),
                                         make_memory_shard_reader({{"w.bin", {0, 0, 0, 0}}}));
    ASSERT_FALSE(m.ok()) << spec;
    EXPECT_EQ(m.error().code(), Errc::kInvalidModel);
    EXPECT_NE(m.error().message().find("'w'"), std::string::npos) << m.error().to_string();
    EXPECT_TRUE(m.error().message().find("supported") != std::string::npos ||
                m.error().message().find("'min'") != std::string::npos)
        << m.error().to_string();
  }
}

TEST(ImportErrors, MissingOrShortShardNamesWeightBytesAndShard) {
  ModelBuilder b = conv_model(Json::object());
  b.weight("my_conv/extra", {2}, {1, 2});  // blob is 12 bytes
  auto shards = b.shards();
  shards["w.bin"].resize(6);
  auto m = load_tfjs_model_from_memory(b.text(), make_memory_shard_reader(shards));
  ASSERT_FALSE(m.ok());
  const std::string s = m.error().to_string();
  EXPECT_NE(s.find("'my_conv/extra'"), std::string::npos) << s;
  EXPECT_NE(s.find("[4, 12)"), std::string::npos) << s;
  EXPECT_NE(s.find("'w.bin'"), std::string::npos) << s;
  auto missing = load_tfjs_model_from_memory(b.text(), make_memory_shard_reader({}));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().to_string().find("'my_conv/kernel'"), std::string::npos)
      << missing.error().to_string();
  EXPECT_NE(missing.error().to_string().find("w.bin"), std::string::npos);
  // Trailing bytes are an error too.
  shards["w.bin"].resize(16);
  auto trailing = load_tfjs_model_from_memory(b.text(), make_memory_shard_reader(shards));
  EXPECT_FALSE(trailing.ok());
}

TEST(ImportErrors, ShardPathsMayNotLeaveTheModelFolder) {
  const fs::path root =
      fs::temp_directory_path() / ("emc_import_paths_" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "model");
  { std::ofstream(root / "secret.bin") << "1234"; }
  { std::ofstream(root / "model" / "ok.bin") << "1234"; }
  fs::create_symlink(root / "secret.bin", root / "model" / "link.bin");
  auto reader = make_directory_shard_reader((root / "model").string(), 1 << 20);
  EXPECT_TRUE(reader("ok.bin").ok());
  for (const char* bad :
       {"../secret.bin", "/etc/passwd", "a/../../secret.bin", "link.bin", "C:\\x.bin", ""}) {
    auto r = reader(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), Errc::kInvalidModel) << bad << ": " << r.error().to_string();
  }
  auto small = make_directory_shard_reader((root / "model").string(), 2);
  EXPECT_EQ(small("ok.bin").error().code(), Errc::kInvalidModel);
  fs::remove_all(root);
}

TEST(ImportErrors, TopologyProblems) {
  // Unknown inbound layer, cycle, graph models, nested models, duplicate names.
  ModelBuilder b;
  b.input("x", {1}).layer("Activation", "a", {{"activation", "relu"}}, {"nope"});
  EXPECT_NE(err_of(b.graph()).find("'nope'"), std::string::npos);
  ModelBuilder c;
  c.input("x", {1})
      .layer("Add", "p", Json::object(), {"x", "q"})
      .layer("Activation", "q", {{"activation", "relu"}}, {"p"});
  EXPECT_NE(err_of(c.graph()).find("never computed"), std::string::npos) << err_of(c.graph());
  auto graph_model = load_tfjs_model_from_memory(
      R"({"format": "graph-model", "modelTopology": {}})", make_memory_shard_reader({}));
  EXPECT_NE(graph_model.error().message().find("only TF.js layers models"), std::string::npos);
  ModelBuilder d;
  d.input("x", {1}).layer("Activation", "x", {{"activation", "relu"}});
  EXPECT_NE(err_of(d.graph()).find("used twice"), std::string::npos) << err_of(d.graph());
  ModelBuilder n;
  n.input("x", {1}).layer("Sequential", "inner", Json::object());
  EXPECT_NE(err_of(n.graph()).find("nested model 'inner' config has no 'layers' list"),
            std::string::npos)
      << err_of(n.graph());
}

// ---- Regressions found by fuzz/fuzz_model_json (fuzz/README.md lists each finding) ----

TEST(ImportFuzzRegressions, InputElementCountIsCheckedPerDimensionWithoutOverflow) {
  // 5 dims of 2^20 = 2^100 elements: the product used to be formed in int64 first (signed
  // overflow, UBSan "signed integer overflow" in Shape::num_elements) and only then compared.
  ModelBuilder b;
  b.input("x", {1 << 20, 1 << 20, 1 << 20, 1 << 20, 2});
  auto g = b.graph();
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().code(), Errc::kInvalidModel) << err_of(g);
  EXPECT_NE(err_of(g).find("layer 0 'x' (InputLayer)"), std::string::npos) << err_of(g);
  EXPECT_NE(err_of(g).find("batch_input_shape"), std::string::npos) << err_of(g);
  EXPECT_NE(err_of(g).find("2^31 or more elements"), std::string::npos) << err_of(g);
  // 2^30 elements is still accepted (the bound is 2^31).
  ModelBuilder ok;
  ok.input("x", {1 << 10, 1 << 10, 1 << 10});
  EXPECT_TRUE(ok.graph().ok()) << err_of(ok.graph());
}

long peak_rss_kib() {
  struct rusage u {};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

TEST(ImportFuzzRegressions, BatchNormWithoutStoredWeightsAllocatesNothingFromDeclaredShapes) {
  // A 300-byte model.json: 2^28 channels (declared, no data) into a BatchNormalization with
  // scale=false / center=false and no weights. The default gamma / beta (2 x 1 GiB of floats) used
  // to be allocated and filled before the missing moving_mean was noticed (libFuzzer:
  // out-of-memory (malloc(4294967296)) with 2^30 channels).
  ModelBuilder b;
  b.input("x", {1024, 1024, 256})
      .layer("Flatten", "f", Json::object())
      .layer("BatchNormalization", "bn", {{"scale", false}, {"center", false}});
  const long before = peak_rss_kib();
  auto g = b.graph();
  const long grown_mib = (peak_rss_kib() - before) / 1024;
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().code(), Errc::kInvalidModel) << err_of(g);
  EXPECT_NE(err_of(g).find("layer 2 'bn' (BatchNormalization)"), std::string::npos) << err_of(g);
  EXPECT_NE(err_of(g).find("'bn/moving_mean' (shape [268435456]) is missing"), std::string::npos)
      << err_of(g);
  EXPECT_LT(grown_mib, 256) << "peak RSS grew by " << grown_mib << " MiB";
  // With stored statistics the defaults are still filled in: gamma 1, beta 0.
  ModelBuilder ok;
  ok.input("x", {2})
      .layer("BatchNormalization", "bn", {{"scale", false}, {"center", false}})
      .weight("bn/moving_mean", {2}, {1, 2})
      .weight("bn/moving_variance", {2}, {3, 4});
  auto g2 = ok.graph();
  ASSERT_TRUE(g2.ok()) << err_of(g2);
  EXPECT_EQ(g2->nodes[0].gamma, (std::vector<float>{1, 1}));
  EXPECT_EQ(g2->nodes[0].beta, (std::vector<float>{0, 0}));
  EXPECT_EQ(g2->nodes[0].mean, (std::vector<float>{1, 2}));
  EXPECT_EQ(g2->nodes[0].variance, (std::vector<float>{3, 4}));
}

TEST(ImportFuzzRegressions, DilatedWindowExtentIsBounded) {
  // kernel 65536 x dilation 65536 with 'same': paddings of 2^31 - 32768 each; merging the
  // preceding ZeroPadding2D (65536 rows) into the conv then overflowed int32 (UBSan in
  // merge_zero_padding). The importer now rejects windows spanning more than 2^30 pixels.
  ModelBuilder b;
  b.input("x", {1, 1, 1})
      .layer("ZeroPadding2D", "zp", {{"padding", {{65536, 0}, {0, 0}}}})
      .layer("Conv2D", "c",
             {{"filters", 1},
              {"kernel_size", {65536, 1}},
              {"dilation_rate", {65536, 1}},
              {"padding", "same"},
              {"use_bias", false}})
      .weight("c/kernel", {65536, 1, 1, 1}, std::vector<float>(65536, 0.0f));
  auto g = b.graph();
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().code(), Errc::kInvalidLayerConfig) << err_of(g);
  EXPECT_NE(err_of(g).find("layer 2 'c' (Conv2D)"), std::string::npos) << err_of(g);
  EXPECT_NE(err_of(g).find("height: kernel 65536 with dilation 65536 spans 4294901761 pixels"),
            std::string::npos)
      << err_of(g);
  // An extent just under the bound still imports: kernel 16384 x dilation 65536 spans
  // 16383 * 65536 + 1 = 2^30 - 65535 pixels.
  ModelBuilder ok;
  ok.input("x", {1, 1, 1})
      .layer("Conv2D", "c",
             {{"filters", 1},
              {"kernel_size", {16384, 1}},
              {"dilation_rate", {65536, 1}},
              {"padding", "same"},
              {"use_bias", false}})
      .weight("c/kernel", {16384, 1, 1, 1}, std::vector<float>(16384, 0.0f));
  auto g2 = ok.graph();
  ASSERT_TRUE(g2.ok()) << err_of(g2);
  EXPECT_EQ(g2->shape(g2->nodes[0].output), (Shape{{1, 1, 1}}));
}

TEST(ImportFuzzRegressions, LayerListOrderIsResolvedInSweepsWithoutQuadraticCost) {
  // Layers listed out of dependency order are visited in sweeps over the list; a call whose input
  // is produced later in the same sweep runs in that sweep, otherwise in the next one. List
  // [c(b), b(a), a(in), d(in)]: sweep 1 runs a, then d; sweep 2 runs b; sweep 3 runs c.
  ModelBuilder b;
  b.input("in", {1})
      .layer("Activation", "c", {{"activation", "relu"}}, {"b"})
      .layer("Activation", "b", {{"activation", "tanh"}}, {"a"})
      .layer("Activation", "a", {{"activation", "sigmoid"}}, {"in"})
      .layer("Activation", "d", {{"activation", "elu"}}, {"in"})
      .outputs({"c", "d"});
  auto g = b.graph();
  ASSERT_TRUE(g.ok()) << err_of(g);
  std::vector<std::string> order;
  for (const Node& n : g->nodes) order.push_back(n.source.name);
  EXPECT_EQ(order, (std::vector<std::string>{"a", "d", "b", "c"}));
  // 4095 layers listed in reverse dependency order (one sweep each before) still build: every
  // layer appears once, in dependency order.
  ModelBuilder r;
  r.input("in", {1});
  constexpr int kLayers = 4095;
  for (int i = 0; i < kLayers; ++i)
    r.layer("Activation", "a" + std::to_string(i), {{"activation", "relu"}},
            {i == kLayers - 1 ? std::string("in") : "a" + std::to_string(i + 1)});
  r.outputs({"a0"});
  auto big = r.graph();
  ASSERT_TRUE(big.ok()) << err_of(big);
  ASSERT_EQ(big->nodes.size(), static_cast<std::size_t>(kLayers));
  EXPECT_EQ(big->nodes.front().source.name, "a" + std::to_string(kLayers - 1));
  EXPECT_EQ(big->nodes.back().source.name, "a0");
}

}  // namespace
}  // namespace emc::converter
