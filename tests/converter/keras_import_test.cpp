// Keras .h5 and .keras import (model_file.h).
//  * Real third-party files from ../shared/models_h5 (read at test time, not copied): the
//    tensorspace LeNet .h5 against its TF.js twin (same graph, bit-identical weights) and the
//    TF.js outputs; deepmech's crop detector against the output Keras computed; aXeleRate's
//    YOLOv2 structure; the TensorLayer .h5 of ../shared/kmodels refused naming why.
//  * Fixtures in tests/data/keras, written by tests/data/keras/make_keras_fixtures.py with h5py
//    and zipfile from the TF.js samples in samples/models (the script's docstring says which
//    Keras layout each file follows): every variant must give the graph and weights of the
//    sample's model.json, bit for bit, and each malformed file a kInvalidModel error naming the
//    file and the HDF5 object or zip member.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <sstream>

#include <nlohmann/json.hpp>

#include "emc/converter/model_file.h"
#include "frontend_test_util.h"

namespace emc::converter {
namespace {

namespace fs = std::filesystem;
using testing::read_f32;

std::string shared_dir() {
  return EMC_SHARED_DIR;
}
std::string fixture(const std::string& name) {
  return testing::source_dir() + "/tests/data/keras/" + name;
}
std::string sample(const std::string& name) {
  return testing::source_dir() + "/samples/models/" + name + "/model.json";
}

std::vector<std::uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

Graph graph_of(const std::string& path) {
  auto m = load_model(path);
  if (!m.ok()) ADD_FAILURE() << m.error().to_string();
  if (!m.ok()) return {};
  auto g = build_graph(*m);
  if (!g.ok()) ADD_FAILURE() << g.error().to_string();
  return g.ok() ? std::move(g).value() : Graph{};
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * 4) == 0);
}

// Everything a node computes with, except layer names.
std::string describe(const Graph& g, const Node& n) {
  std::ostringstream o;
  o << to_string(n.kind) << " " << n.source.class_name << " in";
  for (TensorId t : n.inputs) o << " " << to_string(g.shape(t));
  o << " out " << to_string(g.shape(n.output)) << " k" << n.kernel_h << "x" << n.kernel_w << " s"
    << n.stride_h << "x" << n.stride_w << " d" << n.dilation_h << "x" << n.dilation_w << " pad "
    << n.pad.top << "," << n.pad.bottom << "," << n.pad.left << "," << n.pad.right << " f"
    << n.filters << " dm" << n.depth_multiplier << " axis" << n.axis << " eps" << n.epsilon << " "
    << to_string(n.activation);
  return o.str();
}

// The two graphs compute the same thing with bit-identical weights (names may differ).
void expect_same_graph(const Graph& a, const Graph& b, bool same_names) {
  ASSERT_EQ(a.nodes.size(), b.nodes.size());
  ASSERT_EQ(a.inputs.size(), b.inputs.size());
  for (std::size_t i = 0; i < a.inputs.size(); ++i)
    EXPECT_EQ(to_string(a.shape(a.inputs[i])), to_string(b.shape(b.inputs[i])));
  for (std::size_t i = 0; i < a.nodes.size(); ++i) {
    const Node& x = a.nodes[i];
    const Node& y = b.nodes[i];
    SCOPED_TRACE("node " + std::to_string(i) + " '" + x.source.name + "'");
    EXPECT_EQ(describe(a, x), describe(b, y));
    if (same_names) {
      EXPECT_EQ(x.source.name, y.source.name);
    }
    EXPECT_TRUE(same_bits(x.kernel, y.kernel));
    EXPECT_TRUE(same_bits(x.bias, y.bias));
    EXPECT_TRUE(same_bits(x.gamma, y.gamma));
    EXPECT_TRUE(same_bits(x.beta, y.beta));
    EXPECT_TRUE(same_bits(x.mean, y.mean));
    EXPECT_TRUE(same_bits(x.variance, y.variance));
  }
}

std::vector<float> run_one(const Graph& g, const std::vector<float>& input) {
  auto ex = FloatExecutor::create(g);
  EXPECT_TRUE(ex.ok());
  if (!ex.ok()) return {};
  Tensor in{g.shape(g.inputs[0]), input};
  auto out = ex->run({in});
  EXPECT_TRUE(out.ok()) << (out.ok() ? "" : out.error().to_string());
  return out.ok() ? (*out)[0].data : std::vector<float>{};
}

// ---------------------------------------------------------------- real third-party files

TEST(KerasRealH5, TensorspaceLenetEqualsItsTfjsTwinAndReproducesTfjsOutputs) {
  const std::string dir = shared_dir() + "/models_h5/tensorspace_keras_lenet";
  ASSERT_TRUE(fs::exists(dir + "/model.h5")) << dir;
  const Graph h5 = graph_of(dir + "/model.h5");
  const Graph tfjs = graph_of(dir + "/tfjs/model.json");
  // The twin was saved with every layer's output as a model output; the .h5 with one.
  EXPECT_EQ(h5.outputs.size(), 1u);
  // Its InputLayer is [28, 28]; the Reshape to [28, 28, 1] that reads it makes it that map.
  EXPECT_EQ(to_string(h5.shape(h5.inputs[0])), to_string(Shape{{28, 28, 1}}));
  expect_same_graph(h5, tfjs, /*same_names=*/true);
  int cases = 0;
  for (const auto& e : fs::directory_iterator(dir + "/inputs")) {
    SCOPED_TRACE(e.path().filename().string());
    const auto got = run_one(h5, read_f32(e.path().string()));
    const auto want = read_f32(dir + "/outputs/" + e.path().filename().string());
    ASSERT_EQ(got.size(), want.size());
    ASSERT_EQ(want.size(), 10u);
    for (std::size_t i = 0; i < want.size(); ++i)
      EXPECT_NEAR(got[i], want[i], 1e-5 * std::max(1.0f, std::abs(want[i]))) << "class " << i;
    ++cases;
  }
  EXPECT_EQ(cases, 5);
}

TEST(KerasRealH5, DeepmechCropDetectorReproducesKerasOutput) {
  const std::string dir = shared_dir() + "/models_h5/deepmech_crop_detector";
  const Graph g = graph_of(dir + "/model.h5");
  ASSERT_EQ(g.inputs.size(), 1u);
  EXPECT_EQ(to_string(g.shape(g.inputs[0])), to_string(Shape{{96, 96, 1}}));
  const auto got = run_one(g, read_f32(dir + "/inputs/fdeep_test0.f32"));
  const auto want = read_f32(dir + "/outputs/fdeep_test0.f32");
  ASSERT_EQ(got.size(), 3u);
  ASSERT_EQ(want.size(), 3u);
  // Near one-hot (Keras: 1, 1.4e-16, 9.1e-16). The probabilities match on their own scale
  // (1e-5 relative to the largest); the tiny ones carry the information, and they are
  // exp(logit_i - logit_max): their logs, the logit gaps (about -36 and -35 here, each from an
  // 18432-term float32 dot product), must agree to 1e-5 relative. Comparing the 1e-16
  // probabilities themselves at 1e-5 would ask for a 1e-5 absolute error in logits of size 36,
  // past float32 accumulation (measured: 1.1e-5).
  for (std::size_t i = 0; i < 3; ++i) {
    std::printf("  class %zu: Keras %.9g, EMC %.9g\n", i, want[i], got[i]);
    EXPECT_NEAR(got[i], want[i], 1e-5) << "class " << i;
    ASSERT_GT(got[i], 0.0f);
    const double lw = std::log(static_cast<double>(want[i]));
    const double lg = std::log(static_cast<double>(got[i]));
    EXPECT_NEAR(lg, lw, 1e-5 * std::max(1.0, std::abs(lw))) << "log p, class " << i;
  }
  EXPECT_EQ(std::max_element(got.begin(), got.end()) - got.begin(),
            std::max_element(want.begin(), want.end()) - want.begin());
}

TEST(KerasRealH5, AxelerateYoloImportsWithItsStructure) {
  const std::string path = shared_dir() + "/models_h5/axelerate_yolov2_mbnet/model.h5";
  auto m = load_model(path);
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  EXPECT_EQ(m->keras_version, "2.3.1");
  EXPECT_EQ(m->layers.size(), 89u);  // = the 89 entries of model_weights' layer_names
  // conv1 (no bias), conv1_bn (4 weights), ... every weight in Keras order.
  EXPECT_EQ(m->weights.at("conv1/0").shape,
            (std::vector<std::int64_t>{3, 3, 3, 8}));  // h5py: (3, 3, 3, 8)
  EXPECT_EQ(m->weights.at("conv1_bn/3").name, "/model_weights/conv1_bn/conv1_bn/moving_variance:0");
  auto g = build_graph(*m);
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  EXPECT_EQ(to_string(g->shape(g->inputs[0])), to_string(Shape{{224, 224, 3}}));
  EXPECT_EQ(to_string(g->shape(g->outputs[0])), to_string(Shape{{7, 7, 5, 6}}));
}

TEST(KerasRealH5, TensorLayerFileIsRefusedNamingWhy) {
  const std::string path = shared_dir() + "/kmodels/maixemc_cifar10.tl.h5";
  auto m = load_model(path);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code(), Errc::kInvalidModel);
  const std::string e = m.error().to_string();
  EXPECT_NE(e.find(path), std::string::npos) << e;
  EXPECT_NE(e.find("attribute 'model_config'"), std::string::npos) << e;
  EXPECT_NE(e.find("Python-literal"), std::string::npos) << e;
  EXPECT_NE(e.find("TensorLayer"), std::string::npos) << e;
}

// ---------------------------------------------------------------- fixtures from the samples

struct Variant {
  const char* file;
  const char* sample;
  bool same_names;
};

class KerasFixture : public ::testing::TestWithParam<Variant> {};

TEST_P(KerasFixture, SameGraphAndWeightsAsTheSampleModelJson) {
  const Variant v = GetParam();
  const Graph ours = graph_of(fixture(v.file));
  const Graph ref = graph_of(sample(v.sample));
  expect_same_graph(ours, ref, v.same_names);
  // And the TF.js outputs of the sample (reference.json), through the float executor.
  const std::string dir = testing::source_dir() + "/samples/models/" + v.sample;
  std::ifstream in(dir + "/reference.json");
  const auto refj = nlohmann::json::parse(in);
  for (const auto& c : refj.at("cases")) {
    const auto got = run_one(ours, read_f32(dir + "/" + c.at("input_tensor").get<std::string>()));
    const auto want = c.at("output").get<std::vector<float>>();
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i)
      EXPECT_NEAR(got[i], want[i], 1e-5 * std::max(1.0f, std::abs(want[i])));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Variants, KerasFixture,
    ::testing::Values(Variant{"shapes_cnn_k2.h5", "shapes_cnn", true},
                      Variant{"tiny_dense_k3legacy.h5", "tiny_dense", true},
                      Variant{"tiny_dense_f64.h5", "tiny_dense", true},
                      // 5-level B-tree under /model_weights (K = 1)
                      Variant{"shapes_cnn_deep_btree_k2.h5", "shapes_cnn", true},
                      Variant{"teachable_nested_k2.h5", "teachable_nested", true},
                      Variant{"shapes_cnn_k3.keras", "shapes_cnn", false},
                      Variant{"shapes_cnn_k213.keras", "shapes_cnn", false},
                      Variant{"tiny_dense_k213.keras", "tiny_dense", true}),
    [](const auto& param_info) {
      std::string n = param_info.param.file;
      for (char& c : n)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      return n;
    });

TEST(KerasFixtureDetails, StoredDtypesAndKerasVersions) {
  auto f16 = load_model(fixture("tiny_dense_k3legacy.h5"));
  ASSERT_TRUE(f16.ok()) << f16.error().to_string();
  EXPECT_EQ(f16->keras_version, "3.3.3");
  EXPECT_EQ(f16->weights.at("dense_1/0").stored_dtype, "float16");
  // Keras 3 legacy paths: the variable path, nested groups, no ':0'.
  EXPECT_EQ(f16->weights.at("dense_1/0").name, "/model_weights/dense_1/tiny_dense/dense_1/kernel");
  auto f64 = load_model(fixture("tiny_dense_f64.h5"));
  ASSERT_TRUE(f64.ok());
  EXPECT_EQ(f64->weights.at("dense_2/1").stored_dtype, "float64");
  auto k2 = load_model(fixture("shapes_cnn_k2.h5"));
  ASSERT_TRUE(k2.ok());
  EXPECT_EQ(k2->weights.at("conv1/0").name, "/model_weights/conv1/conv1_1/kernel:0");
  auto k3 = load_model(fixture("shapes_cnn_k3.keras"));
  ASSERT_TRUE(k3.ok());
  EXPECT_EQ(k3->keras_version, "3.3.3");
  // Names and order disagree: the layer named conv2d_1 is the FIRST Conv2D, stored as
  // layers/conv2d (3 input channels), the layer named conv2d the second (16 channels).
  EXPECT_EQ(k3->weights.at("conv2d_1/0").name, "/layers/conv2d/vars/0");
  EXPECT_EQ(k3->weights.at("conv2d_1/0").shape, (std::vector<std::int64_t>{3, 3, 3, 16}));
  EXPECT_EQ(k3->weights.at("conv2d/0").name, "/layers/conv2d_1/vars/0");
  auto k213 = load_model(fixture("shapes_cnn_k213.keras"));
  ASSERT_TRUE(k213.ok());
  EXPECT_EQ(k213->keras_version, "2.13.1");
  EXPECT_EQ(k213->weights.at("conv2d/0").name, "/_layer_checkpoint_dependencies/conv2d_2/vars/0");
}

// Two adapted Normalization layers as Keras 2.13 (.h5) and Keras 3 (.keras) save them, with the
// int64 `count` beside mean and variance (make_keras_fixtures.py, NORM_LAYERS). By hand, for
// [0, 7, 4]: (x - [1, 8, 5]) / sqrt([4, 0.25, 1]) = [-0.5, -2, -1]; then the inverted axis-None
// layer 2 + x * sqrt(9) = [0.5, -4, -1].
TEST(KerasFixtureDetails, NormalizationWithItsInt64CountImportsFromH5AndKeras) {
  for (const char* name : {"normalization_k2.h5", "normalization_k3.keras"}) {
    SCOPED_TRACE(name);
    auto m = load_model(fixture(name));
    ASSERT_TRUE(m.ok()) << m.error().to_string();
    const std::string count_key = "normalization/2";  // layer/index, as both formats key it
    EXPECT_EQ(m->weights.at(count_key).stored_dtype, "int64");
    EXPECT_EQ(m->weights.at(count_key).values, (std::vector<float>{4}));
    auto g = build_graph(*m);
    ASSERT_TRUE(g.ok()) << g.error().to_string();
    Tensor x{g->shape(g->inputs[0]), {0, 7, 4}};
    auto y = run_float(*g, {x});
    ASSERT_TRUE(y.ok()) << y.error().to_string();
    EXPECT_EQ((*y)[0].data, (std::vector<float>{0.5f, -4.0f, -1.0f}));
  }
}

TEST(KerasFixtureDetails, MemoryReadersAndDetection) {
  const auto h5 = read_bytes(fixture("tiny_dense_f64.h5"));
  const auto zip = read_bytes(fixture("tiny_dense_k213.keras"));
  EXPECT_EQ(detect_model_file(h5.data(), h5.size()), ModelFileKind::kKerasH5);
  EXPECT_EQ(detect_model_file(zip.data(), zip.size()), ModelFileKind::kKerasArchive);
  const std::string json = "{\"modelTopology\": {}}";
  EXPECT_EQ(detect_model_file(reinterpret_cast<const std::uint8_t*>(json.data()), json.size()),
            ModelFileKind::kTfjsJson);
  EXPECT_TRUE(load_keras_h5_from_memory(h5, "mem.h5").ok());
  EXPECT_TRUE(load_keras_archive_from_memory(zip, "mem.keras").ok());
  // The model.json bounds apply: config text size and total weight bytes.
  LoadOptions small;
  small.max_json_bytes = 100;
  auto big_config = load_keras_h5_from_memory(h5, "mem.h5", small);
  ASSERT_FALSE(big_config.ok());
  EXPECT_NE(big_config.error().to_string().find("the limit is 100"), std::string::npos)
      << big_config.error().to_string();
  LoadOptions few;
  few.max_total_weight_bytes = 1000;
  auto heavy = load_keras_h5_from_memory(h5, "mem.h5", few);
  ASSERT_FALSE(heavy.ok());
  EXPECT_EQ(heavy.error().code(), Errc::kInvalidModel);
  EXPECT_NE(heavy.error().to_string().find("/model_weights/dense_1"), std::string::npos)
      << heavy.error().to_string();
  auto heavy_zip = load_keras_archive_from_memory(zip, "mem.keras", few);
  ASSERT_FALSE(heavy_zip.ok());
  EXPECT_EQ(heavy_zip.error().code(), Errc::kInvalidModel);
  // Every prefix of a valid file is an error, never a crash.
  for (std::size_t n :
       {std::size_t{0}, std::size_t{7}, std::size_t{100}, h5.size() / 2, h5.size() - 1}) {
    std::vector<std::uint8_t> cut(h5.begin(), h5.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_FALSE(load_keras_h5_from_memory(cut, "cut.h5").ok()) << n;
  }
  for (std::size_t n : {std::size_t{0}, std::size_t{30}, zip.size() / 2, zip.size() - 1}) {
    std::vector<std::uint8_t> cut(zip.begin(), zip.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_FALSE(load_keras_archive_from_memory(cut, "cut.keras").ok()) << n;
  }
}

// ---------------------------------------------------------------- malformed files

// The error of loading fixture `name`, which must be refused as kInvalidModel naming the file.
std::string refusal(const std::string& name) {
  const std::string path = fixture(name);
  auto m = load_model(path);
  if (m.ok()) {
    ADD_FAILURE() << name << " was accepted";
    return {};
  }
  EXPECT_EQ(m.error().code(), Errc::kInvalidModel);
  const std::string text = m.error().to_string();
  EXPECT_NE(text.find(path), std::string::npos) << text;
  return text;
}

struct Bad {
  const char* file;
  const char* object;   // the HDF5 object / zip member the message must name
  const char* message;  // and what it must say
};

class KerasMalformed : public ::testing::TestWithParam<Bad> {};

TEST_P(KerasMalformed, ClearErrorNamingFileAndObject) {
  const Bad b = GetParam();
  const std::string path = fixture(b.file);
  ASSERT_TRUE(fs::exists(path)) << path;
  Result<Model> m = load_model(path);
  Error e;
  if (m.ok()) {
    auto g = build_graph(*m);
    ASSERT_FALSE(g.ok()) << b.file << " was accepted";
    e = g.error();
  } else {
    e = m.error();
  }
  EXPECT_EQ(e.code(), Errc::kInvalidModel) << e.to_string();
  const std::string text = e.to_string();
  EXPECT_NE(text.find(path), std::string::npos) << text;
  EXPECT_NE(text.find(b.object), std::string::npos) << text;
  EXPECT_NE(text.find(b.message), std::string::npos) << text;
}

INSTANTIATE_TEST_SUITE_P(
    Files, KerasMalformed,
    ::testing::Values(
        Bad{"bad_missing_group.h5", "'/model_weights/dense_2'", "is missing"},
        Bad{"bad_missing_dataset.h5", "'/model_weights/dense_2/dense_2/bias:0'", "does not exist"},
        Bad{"bad_wrong_shape.h5", "'/model_weights/dense_1/dense_1/kernel:0'",
            "has shape [32, 48], the layer needs [48, 32]"},
        Bad{"bad_truncated.h5", "'/'", "past the end of the file"},
        Bad{"bad_not_hdf5.h5", "not an HDF5 file", "no HDF5 signature"},
        Bad{"weights_only.h5", "'/'", "weights-only"},
        Bad{"bad_zip_bomb.keras", "'model.weights.h5'", "a ratio deflate cannot reach"},
        Bad{"bad_zip_overflow.keras", "'model.weights.h5'", "inflates to more than the declared"},
        Bad{"bad_dotdot.keras", "'../config.json'", "'..'"},
        Bad{"bad_member_names.keras", "'config.json'", "is missing"},
        Bad{"bad_truncated.keras", "zip archive", "truncated"},
        Bad{"bad_orphan_group.keras", "'dense_7'", "match no layer"},
        // fuzz_keras_h5 finding 6: a compact 'variance:0' whose layout message holds no data
        // (h5py reads its layout 0 = compact, storage size 0, shape (3,)); libhdf5 1.10.8's
        // H5Dread copies from a null buffer (SEGV at address 4).
        Bad{"fuzz_compact_without_data.h5",
            "'/model_weights/normalization/normalization/variance:0'",
            "is a compact dataset of 3 values of 4 bytes whose layout message holds 0 bytes"},
        // fuzz_keras_h5 finding 7: the local heap of '/model_weights' (a symbol-table group)
        // has a free list that loops; libhdf5 1.10.8 allocated a node per step until the
        // machine ran out of memory (23 GB) on H5Lexists.
        Bad{"fuzz_local_heap_free_list_loop.h5", "'/model_weights'",
            "names a local heap at address 2144 whose free list loops"},
        // fuzz_keras_h5 finding 8: the root group's symbol table message names the undefined
        // address as its B-tree; libhdf5 1.10.8 (h5dump too) reads a node there and segfaults.
        Bad{"fuzz_btree_undefined_address.h5", "'/'",
            "(type 17) in chunk 1 at offset 800 names an undefined group B-tree address"},
        Bad{"bad_btree_sibling_loop.h5", "'/model_weights'",
            "that do not link its level left to right"},
        Bad{"bad_symbol_node_overfull.h5", "'/model_weights'",
            "with 3 entries, more than the 2 a node of this file holds"},
        Bad{"bad_float_bits.h5", "'/model_weights/dense_1/dense_1/kernel:0'",
            "a floating-point datatype whose bit fields do not fit its 4-byte element"},
        // libhdf5 1.10.8 opening it: heap-buffer-overflow (memcpy of 65535 bytes, H5Fopen ->
        // H5F__super_read -> H5O_msg_read), seen with a plain ASan program; h5py opens it.
        Bad{"bad_superblock_extension.h5",
            "HDF5 superblock: the superblock extension's object "
            "header at address 48 is damaged",
            "(type 20) in chunk 0 at offset 71 is a driver info message whose data runs past "
            "the message"}),
    [](const auto& param_info) {
      std::string n = param_info.param.file;
      for (char& c : n)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      return n;
    });

// fuzz_keras_h5 finding (fuzz/README.md): tiny_dense_k3legacy.h5 mutated so that its global heap
// collection holds a free-space object of size 0, on which libhdf5 1.10.8 loops forever while
// reading the variable-length model_config (h5py hangs on it too). Refused before HDF5 reads it.
TEST(KerasMalformed, GlobalHeapThatHangsLibhdf5IsRefused) {
  const std::string path = fixture("fuzz_hang_global_heap.h5");
  auto m = load_model(path);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code(), Errc::kInvalidModel);
  EXPECT_NE(m.error().to_string().find("HDF5 global heap collection at offset 2048 is damaged"),
            std::string::npos)
      << m.error().to_string();
}

// fuzz_keras_h5 finding 2 (fuzz/README.md): a mutated Keras 3 legacy .h5 whose root attribute
// 'keras_version' (attribute message, version 1, 72 bytes, at offset 904: chunk 1 of the root
// object header, address 96, continued at 800) declares a dataspace field of 4104 bytes instead
// of 8. libhdf5 1.10.8 decodes the message without bounds and reads the attribute's data from
// past the chunk (ASan: heap overflow / use-after-free in H5O__msg_iterate_real under
// H5Aexists_by_name). Per the HDF5 format spec the fields take 8 (header) + 16 (name
// "keras_version\0" padded to 8) + 24 (vlen string datatype, 20 bytes, padded) + 4104 = 4152
// bytes of a 72-byte message (values read with h5debug). Refused before libhdf5 decodes it.
TEST(KerasMalformed, AttributeRunningPastItsMessageIsRefusedBeforeLibhdf5DecodesIt) {
  const std::string text = refusal("fuzz_attr_overflow.h5");
  EXPECT_NE(text.find("HDF5 object '/'"), std::string::npos) << text;
  EXPECT_NE(text.find("object header at address 96 is damaged: message 2 (type 12) in chunk 1 "
                      "at offset 904 declares name, datatype and dataspace fields of 4152 bytes "
                      "in a message of 72"),
            std::string::npos)
      << text;
}

// fuzz_keras_h5 finding 4 (fuzz/README.md): a mutated Keras file whose global heap collection
// (offset 2048, 4096 bytes, so ending at 6144) holds, after objects 1..6, a second object 1 at
// offset 2808 declaring 3336 bytes: 2808 + 16 (object header) + 3336 = 6160, 16 bytes past the
// collection (offsets and sizes read by hand with the GCOL layout of the HDF5 spec, IV.B).
// libhdf5 1.10.8 keeps the later object 1 and, reading the variable-length model_config,
// memcpys its 3336 bytes from past the heap block (ASan heap-buffer-overflow in H5HG_read).
TEST(KerasMalformed, GlobalHeapObjectRunningPastItsCollectionIsRefused) {
  const std::string path = fixture("fuzz_heap_object_overflow.h5");
  auto m = load_model(path);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code(), Errc::kInvalidModel);
  EXPECT_NE(m.error().to_string().find("HDF5 global heap collection at offset 2048 is damaged: "
                                       "object 1 of 3336 bytes at offset 2808 runs past the "
                                       "collection"),
            std::string::npos)
      << m.error().to_string();
}

// bad_vlen_length.h5 (patch_keras_fixtures.py): the weight_names value 'tiny_dense/dense_1/bias'
// of model_weights/dense_1 declares 20 characters while its global heap object 4 holds 23.
// libhdf5 1.10 copies the object's own size into a buffer sized from the declared length, so a
// mismatch is refused before libhdf5 reads the value.
// fuzz_keras_h5 finding 5 (fuzz/README.md): a mutated Keras .h5 whose version-0 superblock
// names a driver information block at address 73 (bytes 48..55; Keras files have none) whose
// 32-bit size field (bytes 77..80 of the file) reads 0x88000000. libhdf5 1.10.8 reallocates its
// read buffer to 16 + 2,281,701,376 bytes inside H5Fopen (H5F__super_read -> H5C_protect) before
// the read fails: a 2.2 GB allocation from an 8 KB file (libFuzzer out-of-memory). Offsets read
// with the superblock (II.A) and driver information block (II.B) layouts of the HDF5 spec.
TEST(KerasMalformed, DriverInfoBlockLargerThanTheFileIsRefusedBeforeLibhdf5AllocatesIt) {
  const std::string text = refusal("fuzz_huge_driver_info.h5");
  EXPECT_NE(text.find("HDF5 superblock: the driver information block at address 73 declares "
                      "2281701376 bytes, past the end of the file"),
            std::string::npos)
      << text;
}

TEST(KerasMalformed, VariableLengthValueWhoseHeapObjectDiffersIsRefused) {
  const std::string path = fixture("bad_vlen_length.h5");
  auto m = load_model(path);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code(), Errc::kInvalidModel);
  const std::string text = m.error().to_string();
  EXPECT_NE(text.find("HDF5 object '/model_weights/dense_1'"), std::string::npos) << text;
  EXPECT_NE(text.find("(global heap object 4 at address 2048), whose 23 bytes are not the "
                      "declared 20 values of 1 bytes"),
            std::string::npos)
      << text;
}

TEST(KerasMalformed, WeightsOnlyMessageSuggestsTheArchitectureFile) {
  auto m = load_model(fixture("weights_only.h5"));
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message().find("model_config"), std::string::npos);
  EXPECT_NE(m.error().message().find("model.json"), std::string::npos);
}

}  // namespace
}  // namespace emc::converter
