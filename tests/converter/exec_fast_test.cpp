// The fast float32 executor (FloatMode::kFast) against the TF.js-exact one, differentially
// (ggml/ncnn style): random single-op graphs at the edges of the kernels' blocking (kernel sizes,
// strides, asymmetric paddings, dilation, channel counts 1..>64 around the 8/16/32-lane panels,
// depth multipliers, k past the 256 block, pixels past the 240 block), at every instruction set.
// Both executors round float32 sums at every step in their own order, so for an output
// y = b + Σ_i x_i·w_i of K terms each is within γ_{K+1}·(|b| + Σ|x_i·w_i|) of the real value
// (γ_n ≈ n·2^-24); the test allows twice that (both errors), with Σ|x_i·w_i| computed here in
// double from the inputs. An indexing or padding error costs a whole term: far above the bound.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

#include "emc/converter/float_executor.h"
#include "emc/converter/graph.h"

namespace emc::converter {
namespace {

constexpr FloatIsa kIsas[] = {FloatIsa::kPortable, FloatIsa::kAvx2, FloatIsa::kAvx512};

struct Case {
  Graph graph;
  Tensor input;
  std::string what;
};

std::vector<float> uniform(std::mt19937& rng, std::size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

Activation pick_activation(std::mt19937& rng) {
  switch (rng() % 4) {
    case 0:
      return Activation{};
    case 1:
      return make_relu();
    case 2:
      return make_relu(6.0f);
    default: {
      Activation a;
      a.kind = ActivationKind::kSigmoid;
      return a;
    }
  }
}

// One node on one input; the output shape from the shape rule. Returns false if the random
// geometry has no output (window larger than the padded input).
bool finish(Case& c, Node n, const Shape& in, std::mt19937& rng) {
  c.graph = Graph{};
  const TensorId x = c.graph.add_tensor("x", in);
  c.graph.inputs = {x};
  n.inputs = {x};
  n.source = {0, "op", to_string(n.kind)};
  auto out = infer_shape(c.graph, n);
  if (!out.ok()) return false;
  n.output = c.graph.add_tensor("y", *out);
  c.graph.outputs = {n.output};
  c.graph.nodes.push_back(std::move(n));
  c.input = Tensor{in, uniform(rng, static_cast<std::size_t>(in.num_elements()), -2.0f, 2.0f)};
  return true;
}

bool random_conv(Case& c, std::mt19937& rng, bool depthwise) {
  auto r = [&](int lo, int hi) { return lo + static_cast<int>(rng() % (hi - lo + 1)); };
  Node n;
  n.kind = depthwise ? NodeKind::kDepthwiseConv2D : NodeKind::kConv2D;
  n.kernel_h = r(1, 5);
  n.kernel_w = rng() % 3 == 0 ? n.kernel_h : r(1, 5);
  n.stride_h = r(1, 3);
  n.stride_w = r(1, 3);
  if (rng() % 3 == 0) {
    n.dilation_h = r(1, 3);
    n.dilation_w = r(1, 3);
  }
  if (rng() % 2) n.pad = {r(0, 3), r(0, 3), r(0, 3), r(0, 3)};
  const int cin = rng() % 4 == 0 ? r(1, 4) : r(1, 80);
  const Shape in{{r(1, 18), r(1, 18), cin}};
  int cout = 0;
  if (depthwise) {
    n.depth_multiplier = rng() % 3 == 0 ? r(2, 3) : 1;
    cout = cin * n.depth_multiplier;
  } else {
    n.filters = rng() % 4 == 0 ? r(1, 8) : r(1, 72);
    cout = n.filters;
  }
  n.kernel = uniform(
      rng, static_cast<std::size_t>(n.kernel_h * n.kernel_w) * (depthwise ? cout : cin * cout),
      -1.0f, 1.0f);
  if (rng() % 2) n.bias = uniform(rng, static_cast<std::size_t>(cout), -1.0f, 1.0f);
  n.activation = pick_activation(rng);
  c.what = std::string(to_string(n.kind)) + " in " + to_string(in) + " k" +
           std::to_string(n.kernel_h) + "x" + std::to_string(n.kernel_w) + " s" +
           std::to_string(n.stride_h) + "," + std::to_string(n.stride_w) + " d" +
           std::to_string(n.dilation_h) + "," + std::to_string(n.dilation_w) + " pad " +
           std::to_string(n.pad.top) + "," + std::to_string(n.pad.bottom) + "," +
           std::to_string(n.pad.left) + "," + std::to_string(n.pad.right) + " out_c " +
           std::to_string(cout) + " m " + std::to_string(n.depth_multiplier) + " act " +
           to_string(n.activation) + (n.has_bias() ? " bias" : "");
  return finish(c, std::move(n), in, rng);
}

Case dense_case(std::mt19937& rng, int rows, int k, int units) {
  Case c;
  Node n;
  n.kind = NodeKind::kDense;
  n.filters = units;
  n.kernel = uniform(rng, static_cast<std::size_t>(k) * units, -1.0f, 1.0f);
  n.bias = uniform(rng, static_cast<std::size_t>(units), -1.0f, 1.0f);
  n.activation = pick_activation(rng);
  c.what =
      "Dense [" + std::to_string(rows) + ", " + std::to_string(k) + "] -> " + std::to_string(units);
  const Shape in = rows == 1 ? Shape{{k}} : Shape{{rows, k}};
  EXPECT_TRUE(finish(c, std::move(n), in, rng));
  return c;
}

// |b| + Σ|x_i·w_i| and the term count for each output element of the case's one node.
void magnitudes(const Case& c, std::vector<double>& mag, std::vector<int>& terms) {
  const Node& n = c.graph.nodes[0];
  const Shape& is = c.input.shape;
  const Shape& os = c.graph.shape(n.output);
  const std::vector<float>& x = c.input.data;
  mag.assign(static_cast<std::size_t>(os.num_elements()), 0.0);
  terms.assign(mag.size(), 0);
  const auto bias = [&](int o) { return n.has_bias() ? std::fabs(double{n.bias[o]}) : 0.0; };
  if (n.kind == NodeKind::kDense) {
    const int k = is.c(), u = n.filters;
    for (std::size_t r = 0; r < mag.size() / u; ++r)
      for (int o = 0; o < u; ++o) {
        double s = bias(o);
        for (int i = 0; i < k; ++i)
          s += std::fabs(double{x[r * k + i]} * n.kernel[static_cast<std::size_t>(i) * u + o]);
        mag[r * u + o] = s;
        terms[r * u + o] = k;
      }
    return;
  }
  const bool dw = n.kind == NodeKind::kDepthwiseConv2D;
  const int cin = is.c(), cout = os.c(), m = n.depth_multiplier;
  for (int oy = 0; oy < os.h(); ++oy)
    for (int ox = 0; ox < os.w(); ++ox)
      for (int o = 0; o < cout; ++o) {
        double s = bias(o);
        int t = 0;
        for (int ky = 0; ky < n.kernel_h; ++ky)
          for (int kx = 0; kx < n.kernel_w; ++kx) {
            const int iy = oy * n.stride_h - n.pad.top + ky * n.dilation_h;
            const int ix = ox * n.stride_w - n.pad.left + kx * n.dilation_w;
            if (iy < 0 || iy >= is.h() || ix < 0 || ix >= is.w()) continue;
            const std::size_t px = (static_cast<std::size_t>(iy) * is.w() + ix) * cin;
            const std::size_t tap = static_cast<std::size_t>(ky) * n.kernel_w + kx;
            if (dw) {
              s += std::fabs(double{x[px + o / m]} * n.kernel[tap * cout + o]);
              ++t;
            } else {
              for (int ci = 0; ci < cin; ++ci, ++t)
                s += std::fabs(double{x[px + ci]} * n.kernel[(tap * cin + ci) * cout + o]);
            }
          }
        const std::size_t at = (static_cast<std::size_t>(oy) * os.w() + ox) * cout + o;
        mag[at] = s;
        terms[at] = t;
      }
}

// Runs the case in both modes at every ISA; returns the number of elements compared.
std::size_t check_case(const Case& c) {
  SCOPED_TRACE(c.what);
  auto exact = FloatExecutor::create(c.graph);
  EXPECT_TRUE(exact.ok()) << exact.error().to_string();
  if (!exact.ok()) return 0;
  auto ref = exact->run({c.input});
  EXPECT_TRUE(ref.ok());
  std::vector<double> mag;
  std::vector<int> terms;
  magnitudes(c, mag, terms);
  std::size_t compared = 0;
  for (FloatIsa isa : kIsas) {
    auto fast = FloatExecutor::create(c.graph, FloatMode::kFast, isa);
    EXPECT_TRUE(fast.ok());
    if (!fast.ok()) continue;
    EXPECT_EQ(fast->mode(), FloatMode::kFast);
    SCOPED_TRACE(std::string("isa ") + to_string(fast->isa()));
    auto got = fast->run({c.input});
    EXPECT_TRUE(got.ok());
    const std::vector<float>& e = (*ref)[0].data;
    const std::vector<float>& f = (*got)[0].data;
    EXPECT_EQ((*got)[0].shape, (*ref)[0].shape);
    EXPECT_EQ(f.size(), e.size());
    if (f.size() != e.size()) continue;
    int failures = 0;
    for (std::size_t i = 0; i < e.size(); ++i) {
      // Both results within γ_{K+1}·mag of the real sum; an activation (ReLU, ReLU6,
      // sigmoid) is 1-Lipschitz, plus one rounding of its own.
      const double bound = 2.0 * (terms[i] + 2) * std::ldexp(mag[i], -24) +
                           std::ldexp(std::fabs(double{e[i]}), -22) + 1e-30;
      if (!(std::fabs(double{f[i]} - double{e[i]}) <= bound) && ++failures <= 5)
        ADD_FAILURE() << "element " << i << ": fast " << f[i] << ", exact " << e[i] << ", bound "
                      << bound << " (Σ|x·w| " << mag[i] << ", " << terms[i] << " terms)";
    }
    compared += e.size();
  }
  return compared;
}

TEST(ExecFast, RandomConv2DMatchesExactWithinAccumulationBound) {
  std::mt19937 rng(20261205);
  int cases = 0;
  std::size_t compared = 0;
  while (cases < 250) {
    Case c;
    if (!random_conv(c, rng, false)) continue;
    ++cases;
    compared += check_case(c);
  }
  EXPECT_GT(compared, 100000u);
}

TEST(ExecFast, RandomDepthwiseMatchesExactWithinAccumulationBound) {
  std::mt19937 rng(7);
  int cases = 0;
  std::size_t compared = 0;
  while (cases < 250) {
    Case c;
    if (!random_conv(c, rng, true)) continue;
    ++cases;
    compared += check_case(c);
  }
  EXPECT_GT(compared, 50000u);
}

TEST(ExecFast, BlockEdges) {
  // k past the 256 block (300, 576), pixels past the 240 block, 1x1 read in place vs im2col,
  // Dense with several rows and a single one (a GEMV), outputs not a multiple of any panel.
  std::mt19937 rng(99);
  auto conv = [&](Shape in, int k, int stride, int filters, Padding4 pad) {
    Case c;
    Node n;
    n.kind = NodeKind::kConv2D;
    n.kernel_h = n.kernel_w = k;
    n.stride_h = n.stride_w = stride;
    n.pad = pad;
    n.filters = filters;
    n.kernel = uniform(rng, static_cast<std::size_t>(k * k * in.c() * filters), -1.0f, 1.0f);
    n.bias = uniform(rng, static_cast<std::size_t>(filters), -1.0f, 1.0f);
    n.activation = make_relu(6.0f);
    c.what =
        "Conv2D " + to_string(in) + " k" + std::to_string(k) + " -> " + std::to_string(filters);
    EXPECT_TRUE(finish(c, std::move(n), in, rng));
    return c;
  };
  check_case(conv(Shape{{20, 20, 300}}, 1, 1, 40, {}));           // in place, k 300, 400 pixels
  check_case(conv(Shape{{17, 15, 300}}, 1, 2, 33, {}));           // 1x1 stride 2: im2col
  check_case(conv(Shape{{16, 16, 64}}, 3, 1, 65, {1, 1, 1, 1}));  // k 576
  check_case(conv(Shape{{31, 9, 3}}, 3, 2, 32, {0, 1, 0, 1}));    // MobileNet's first layer form
  check_case(dense_case(rng, 1, 1024, 1000));
  check_case(dense_case(rng, 250, 300, 17));
  check_case(dense_case(rng, 3, 1, 1));
}

TEST(ExecFast, ExactIsTheDefaultAndNamesItsMode) {
  std::mt19937 rng(1);
  Case c = dense_case(rng, 1, 4, 3);
  auto ex = FloatExecutor::create(c.graph);
  ASSERT_TRUE(ex.ok());
  EXPECT_EQ(ex->mode(), FloatMode::kExact);
  auto fast = FloatExecutor::create(c.graph, FloatMode::kFast, FloatIsa::kPortable);
  ASSERT_TRUE(fast.ok());
  EXPECT_EQ(fast->isa(), FloatIsa::kPortable);
  EXPECT_STREQ(to_string(FloatIsa::kAvx512), "avx512");
}

}  // namespace
}  // namespace emc::converter
