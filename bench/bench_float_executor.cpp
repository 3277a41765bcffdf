// Float reference executor speed: Keras MobileNet v1 alpha 1.0 @ 224 built programmatically
// (same topology as keras.applications.MobileNet, random weights), unfused and after
// optimize_graph(); and the mobilenet_v1_025 sample model loaded from samples/models/.
// Figures are recorded in docs/performance.md. Fast/N: FloatMode::kFast at FloatIsa N
// (2 avx512, 1 avx2, 0 portable).
#include <benchmark/benchmark.h>

#include <random>

#include "emc/converter/float_executor.h"
#include "emc/converter/model_json.h"
#include "emc/converter/passes.h"

namespace {

using namespace emc::converter;

class MobileNetBuilder {
 public:
  explicit MobileNetBuilder(float alpha) : alpha_(alpha) {}

  Graph build() {
    cur_ = g_.add_tensor("input_1", Shape{{224, 224, 3}});
    g_.inputs = {cur_};
    pad("conv1_pad");
    conv("conv1", ch(32), 3, 2, false);
    bn_relu6("conv1");
    const int blocks[13][2] = {{64, 1},  {128, 2},  {128, 1}, {256, 2}, {256, 1},
                               {512, 2}, {512, 1},  {512, 1}, {512, 1}, {512, 1},
                               {512, 1}, {1024, 2}, {1024, 1}};
    for (int i = 0; i < 13; ++i) {
      const std::string id = std::to_string(i + 1);
      if (blocks[i][1] == 2) pad("conv_pad_" + id);
      depthwise("conv_dw_" + id, blocks[i][1]);
      bn_relu6("conv_dw_" + id);
      conv("conv_pw_" + id, ch(blocks[i][0]), 1, 1, false);
      bn_relu6("conv_pw_" + id);
    }
    Node gap = node(NodeKind::kGlobalAvgPool, "global_average_pooling2d");
    emit(gap, Shape{{c()}});
    emit(node(NodeKind::kReshape, "reshape_1"), Shape{{1, 1, c()}});
    emit(node(NodeKind::kIdentity, "dropout"), Shape{{1, 1, c()}});
    conv("conv_preds", 1000, 1, 1, true);
    emit(node(NodeKind::kReshape, "reshape_2"), Shape{{1000}});
    Node sm = node(NodeKind::kSoftmax, "act_softmax");
    sm.axis = 0;
    emit(sm, Shape{{1000}});
    g_.outputs = {cur_};
    return std::move(g_);
  }

 private:
  int ch(int f) const { return static_cast<int>(f * alpha_); }
  const Shape& s() const { return g_.shape(cur_); }
  int c() const { return s().c(); }
  std::vector<float> rnd(std::size_t n, float lo, float hi) {
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng_);
    return v;
  }
  Node node(NodeKind k, const std::string& name) {
    Node n;
    n.kind = k;
    n.inputs = {cur_};
    n.source = {static_cast<std::int64_t>(g_.nodes.size()), name, to_string(k)};
    n.source_layers = {name};
    return n;
  }
  void emit(Node n, Shape out) {
    n.output = g_.add_tensor(n.source.name, std::move(out));
    cur_ = n.output;
    g_.nodes.push_back(std::move(n));
  }
  static int out_len(int in, int k, int s, int p0, int p1) { return (in + p0 + p1 - k) / s + 1; }
  void pad(const std::string& name) {
    Node n = node(NodeKind::kZeroPad, name);
    n.pad = {0, 1, 0, 1};
    emit(n, Shape{{s().h() + 1, s().w() + 1, c()}});
  }
  void conv(const std::string& name, int filters, int k, int stride, bool bias) {
    Node n = node(NodeKind::kConv2D, name);
    n.kernel_h = n.kernel_w = k;
    n.stride_h = n.stride_w = stride;
    n.filters = filters;
    const float std_dev = std::sqrt(2.0f / static_cast<float>(k * k * c()));
    n.kernel = rnd(static_cast<std::size_t>(k * k * c() * filters), -std_dev, std_dev);
    if (bias) n.bias = rnd(static_cast<std::size_t>(filters), -0.1f, 0.1f);
    const int oh = out_len(s().h(), k, stride, 0, 0), ow = out_len(s().w(), k, stride, 0, 0);
    emit(n, Shape{{oh, ow, filters}});
  }
  void depthwise(const std::string& name, int stride) {
    Node n = node(NodeKind::kDepthwiseConv2D, name);
    n.kernel_h = n.kernel_w = 3;
    n.stride_h = n.stride_w = stride;
    if (stride == 1) n.pad = {1, 1, 1, 1};  // 'same'
    n.kernel = rnd(static_cast<std::size_t>(9 * c()), -0.5f, 0.5f);
    emit(n, Shape{{out_len(s().h(), 3, stride, n.pad.top, n.pad.bottom),
                   out_len(s().w(), 3, stride, n.pad.left, n.pad.right), c()}});
  }
  void bn_relu6(const std::string& prefix) {
    Node bn = node(NodeKind::kBatchNorm, prefix + "_bn");
    const auto n = static_cast<std::size_t>(c());
    bn.gamma = rnd(n, 0.5f, 1.5f);
    bn.beta = rnd(n, -0.1f, 0.1f);
    bn.mean = rnd(n, -0.2f, 0.2f);
    bn.variance = rnd(n, 0.5f, 2.0f);
    emit(bn, s());
    Node act = node(NodeKind::kActivation, prefix + "_relu");
    act.activation = make_relu(6.0f);
    emit(act, s());
  }

  float alpha_;
  Graph g_;
  TensorId cur_ = kNoTensor;
  std::mt19937 rng_{42};
};

std::vector<Tensor> image_input(const Graph& g) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> d(-1, 1);
  Tensor t{g.shape(g.inputs[0]), {}};
  t.data.resize(static_cast<std::size_t>(t.shape.num_elements()));
  for (auto& x : t.data) x = d(rng);
  return {t};
}

void run_bench(benchmark::State& state, Graph graph, FloatMode mode = FloatMode::kExact,
               FloatIsa isa = FloatIsa::kAvx512) {
  auto ex = FloatExecutor::create(std::move(graph), mode, isa);
  if (!ex.ok()) {
    state.SkipWithError(ex.error().to_string().c_str());
    return;
  }
  const auto inputs = image_input(ex->graph());
  for (auto _ : state) {
    auto out = ex->run(inputs);
    benchmark::DoNotOptimize(out);
  }
}

void BM_MobileNetV1_a100_224(benchmark::State& state) {
  run_bench(state, MobileNetBuilder(1.0f).build());
}
void BM_MobileNetV1_a100_224_Optimized(benchmark::State& state) {
  auto g = optimize_graph(MobileNetBuilder(1.0f).build());
  if (!g.ok()) return state.SkipWithError(g.error().to_string().c_str());
  run_bench(state, std::move(*g));
}
// The fast float32 path (what calibration and emc-compare use), at each instruction set.
void BM_MobileNetV1_a100_224_Fast(benchmark::State& state) {
  auto g = optimize_graph(MobileNetBuilder(1.0f).build());
  if (!g.ok()) return state.SkipWithError(g.error().to_string().c_str());
  run_bench(state, std::move(*g), FloatMode::kFast, static_cast<FloatIsa>(state.range(0)));
}
void BM_SampleMobileNetV1_a025(benchmark::State& state) {
  auto m =
      load_tfjs_model(std::string(EMC_SOURCE_DIR) + "/samples/models/mobilenet_v1_025/model.json");
  if (!m.ok()) return state.SkipWithError(m.error().to_string().c_str());
  auto g = build_graph(*m);
  if (!g.ok()) return state.SkipWithError(g.error().to_string().c_str());
  run_bench(state, std::move(*g));
}

BENCHMARK(BM_MobileNetV1_a100_224)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MobileNetV1_a100_224_Optimized)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MobileNetV1_a100_224_Fast)
    ->Arg(static_cast<int>(FloatIsa::kAvx512))
    ->Arg(static_cast<int>(FloatIsa::kAvx2))
    ->Arg(static_cast<int>(FloatIsa::kPortable))
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SampleMobileNetV1_a025)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
