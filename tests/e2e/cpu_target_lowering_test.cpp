// -p cpu lowers onto EMC's int8 CPU layer types with no KPU limit (docs/cpu_target.md):
//  * a model whose first layer is a 7x7 stride-2 conv (then a dilated 5x5 depthwise, 1x7 and 7x1
//    convs, a sigmoid, global pooling, Dense, softmax) converts, holds no K210 layer, starts with
//    an EMC_CONV2D reading the uint8 pixels, and runs on the cpu backend alone;
//  * that first conv's int8 output matches the float executor's tensor within the bound written
//    from the arithmetic (docs/cpu_target.md), computed here per output from the float weights and
//    the input: weight rounding sum|x|*s_w/2, bias rounding s*s_w/2, final rounding s_y/2;
//  * the model output keeps the float executor's top-1 where the float top-1 is not a near tie;
//  * the memory report figures: liveness plan <= first fit in order <= sum of all buffers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "emc/converter/convert.h"
#include "emc/converter/emc_conv_quant.h"
#include "emc/converter/float_executor.h"
#include "emc/cpu_backend/cpu_backend.h"
#include "emc/format/kmodel_codec.h"
#include "emc/interpreter/interpreter.h"

namespace emc {
namespace {

using namespace converter;

std::int32_t same_pad_total(std::int32_t in, std::int32_t k, std::int32_t s, std::int32_t d) {
  const std::int32_t out = (in + s - 1) / s;
  return std::max((out - 1) * s + (k - 1) * d + 1 - in, 0);
}

struct Builder {
  Graph g;
  std::mt19937 rng{12345};
  TensorId add(Node n, const std::string& name) {
    n.source.name = name;
    n.source.class_name = to_string(n.kind);
    n.source.index = static_cast<std::int64_t>(g.nodes.size()) + 1;
    n.output = g.add_tensor(name, Shape{});
    g.nodes.push_back(n);
    auto s = infer_shape(g, g.nodes.back());
    EXPECT_TRUE(s.ok()) << s.error().to_string();
    g.tensors[std::size_t(n.output)].shape = s.value();
    return n.output;
  }
  std::vector<float> rand(std::size_t n, float scale) {
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
  }
  TensorId conv(TensorId in, const std::string& name, std::int32_t kh, std::int32_t kw,
                std::int32_t filters, std::int32_t stride, std::int32_t dil, bool depthwise,
                Activation act) {
    const Shape& s = g.shape(in);
    Node n;
    n.kind = depthwise ? NodeKind::kDepthwiseConv2D : NodeKind::kConv2D;
    n.inputs = {in};
    n.kernel_h = kh;
    n.kernel_w = kw;
    n.stride_h = n.stride_w = stride;
    n.dilation_h = n.dilation_w = dil;
    const std::int32_t th = same_pad_total(s.h(), kh, stride, dil);
    const std::int32_t tw = same_pad_total(s.w(), kw, stride, dil);
    n.pad = {th / 2, th - th / 2, tw / 2, tw - tw / 2};
    const std::int32_t cout = depthwise ? s.c() : filters;
    n.filters = depthwise ? 0 : filters;
    const float fan_in = float(kh * kw * (depthwise ? 1 : s.c()));
    n.kernel =
        rand(std::size_t(kh) * kw * s.c() * (depthwise ? 1 : filters), 1.5f / std::sqrt(fan_in));
    n.bias = rand(std::size_t(cout), 0.1f);
    n.activation = act;
    return add(n, name);
  }
};

Activation act_of(ActivationKind k) {
  Activation a;
  a.kind = k;
  return a;
}

Graph seven_by_seven_model() {
  Builder b;
  const TensorId x = b.g.add_tensor("input", Shape{{40, 40, 3}});
  b.g.inputs = {x};
  TensorId t = b.conv(x, "conv7", 7, 7, 8, 2, 1, false, make_relu());
  t = b.conv(t, "dw5_dilated", 5, 5, 0, 1, 2, true, make_relu(6.0f));
  t = b.conv(t, "conv1x7", 1, 7, 12, 1, 1, false, Activation{});
  t = b.conv(t, "conv7x1", 7, 1, 12, 1, 1, false, act_of(ActivationKind::kSigmoid));
  Node gp;
  gp.kind = NodeKind::kGlobalAvgPool;
  gp.inputs = {t};
  t = b.add(gp, "gap");
  Node d;
  d.kind = NodeKind::kDense;
  d.inputs = {t};
  d.filters = 5;
  d.kernel = b.rand(12 * 5, 3.0f);
  d.bias = b.rand(5, 0.1f);
  t = b.add(d, "dense");
  Node sm;
  sm.kind = NodeKind::kSoftmax;
  sm.inputs = {t};
  sm.axis = 0;
  t = b.add(sm, "softmax");
  b.g.outputs = {t};
  EXPECT_TRUE(validate_graph(b.g).ok());
  return std::move(b.g);
}

// Smooth random images (a few gradients and blobs), pixels 0..255; tensor = pixel / 255.
std::vector<std::uint8_t> random_pixels(std::mt19937& rng, int h, int w, int c) {
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<std::uint8_t> p(std::size_t(h) * w * c);  // CHW
  for (int ch = 0; ch < c; ++ch) {
    const double a = u(rng) * 6, b = u(rng) * 6, ph = u(rng) * 6, amp = 60 + 60 * u(rng);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        const double v =
            128 + amp * std::sin(a * x / w * 3.14 + b * y / h * 3.14 + ph) + 30 * (u(rng) - 0.5);
        p[(std::size_t(ch) * h + y) * w + x] =
            static_cast<std::uint8_t>(std::clamp(std::lround(v), 0L, 255L));
      }
  }
  return p;
}

Tensor tensor_of(const std::vector<std::uint8_t>& chw, const Shape& s) {
  Tensor t{s, std::vector<float>(chw.size())};
  for (int c = 0; c < s.c(); ++c)
    for (int y = 0; y < s.h(); ++y)
      for (int x = 0; x < s.w(); ++x)
        t.data[(std::size_t(y) * s.w() + x) * s.c() + c] =
            float(chw[(std::size_t(c) * s.h() + y) * s.w() + x] / 255.0);
  return t;
}

TEST(CpuTargetLowering, SevenBySevenFirstConvConvertsAndMatchesTheFloatExecutor) {
  const Graph g = seven_by_seven_model();
  const Shape is = g.shape(g.inputs[0]);
  std::mt19937 rng(7);
  std::vector<std::vector<std::uint8_t>> pixels;
  std::vector<std::vector<Tensor>> calib;
  for (int i = 0; i < 12; ++i) {
    pixels.push_back(random_pixels(rng, is.h(), is.w(), is.c()));
    calib.push_back({tensor_of(pixels.back(), is)});
  }
  ConvertOptions opt;
  opt.target = Target::kCpu;
  opt.preprocess.scale = PixelScale::kZeroOne;
  auto r = convert(g, calib, opt);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_TRUE(r->input_is_uint8);
  auto parsed = format::parse_kmodel(r->bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.error().to_string();
  ASSERT_TRUE(parsed->has_emc_layers());
  for (const auto& l : parsed->layers)
    EXPECT_FALSE(format::is_k210_type(l.type)) << format::to_string(l.type);
  ASSERT_EQ(parsed->layers.front().type, format::LayerType::kEmcConv2d);
  const auto& first = std::get<format::EmcConv2dInt8Body>(parsed->layers.front().body);
  EXPECT_EQ(first.geo.kernel_height, 7u);
  EXPECT_EQ(first.geo.kernel_width, 7u);
  EXPECT_EQ(first.geo.stride_height, 2u);
  EXPECT_NE(r->sidecar_json.find("\"target\": \"cpu\""), std::string::npos);
  // Memory figures: sharing never costs more than not sharing.
  EXPECT_GT(r->main_mem_bytes, 0u);
  EXPECT_LE(r->main_mem_bytes, r->main_mem_sum_bytes);
  EXPECT_LE(r->main_mem_first_fit_bytes, r->main_mem_sum_bytes);

  // The conv7 output quantization, from its calibrated range (the spec: scale = range / 255).
  const TensorCalibration* cal = nullptr;
  for (const auto& c : r->calibration)
    if (c.tensor == "conv7") cal = &c;
  ASSERT_NE(cal, nullptr);
  const Int8Quant qy = int8_quant_from_range(cal->min, cal->max).value();
  ASSERT_EQ(first.output_zero_point, qy.zero_point);
  // Per-channel weight scales of the float weights (s_w = max|w| / 127), real units.
  const Node& conv7 = g.nodes[0];
  const int kk = 49, cin = 3, cout = 8;
  std::vector<double> sw(cout, 0.0);
  for (int t = 0; t < kk * cin; ++t)
    for (int o = 0; o < cout; ++o)
      sw[o] = std::max(sw[o], std::fabs(double(conv7.kernel[std::size_t(t) * cout + o])) / 127.0);

  interpreter::Registry cpu_only;
  ASSERT_TRUE(cpu_backend::register_cpu_backend(cpu_only).ok());
  auto it = interpreter::Interpreter::load(r->bytes, cpu_only);
  ASSERT_TRUE(it.ok()) << it.error().to_string();
  ASSERT_EQ((*it)->input_info(0).type, interpreter::ElementType::kUint8);
  std::vector<std::uint8_t> layer0;
  (*it)->set_observer([&](const interpreter::LayerEvent& e) {
    if (e.index == 0) layer0.assign(e.output.begin(), e.output.end());
  });
  auto ex = FloatExecutor::create(g);
  ASSERT_TRUE(ex.ok());
  const TensorId conv7_t = g.find_tensor("conv7");
  const Shape os = g.shape(conv7_t);
  int kept = 0, compared = 0;
  double worst_ratio = 0;
  std::mt19937 rng2(99);
  for (int i = 0; i < 8; ++i) {
    const auto px = random_pixels(rng2, is.h(), is.w(), is.c());
    const Tensor in = tensor_of(px, is);
    auto all = ex->run({in}, RunOptions{true});
    ASSERT_TRUE(all.ok());
    ASSERT_TRUE((*it)->set_input(0, px).ok());
    const Status st = (*it)->run();
    ASSERT_TRUE(st.ok()) << st.error().to_string();
    ASSERT_EQ(layer0.size(), std::size_t(os.num_elements()));
    const Tensor& y = (*all)[std::size_t(conv7_t)];
    for (int o = 0; o < cout; ++o)
      for (int oy = 0; oy < os.h(); ++oy)
        for (int ox = 0; ox < os.w(); ++ox) {
          double sum_abs = 0;  // sum |x| over the valid taps
          for (int ky = 0; ky < 7; ++ky)
            for (int kx = 0; kx < 7; ++kx) {
              const int iy = oy * 2 - conv7.pad.top + ky, ix = ox * 2 - conv7.pad.left + kx;
              if (iy < 0 || ix < 0 || iy >= is.h() || ix >= is.w()) continue;
              for (int c = 0; c < cin; ++c)
                sum_abs += std::fabs(in.data[(std::size_t(iy) * is.w() + ix) * cin + c]);
            }
          const double bound = sum_abs * sw[o] / 2 + sw[o] / 255.0 / 2 + qy.scale / 2 + 1e-6;
          const double want = std::clamp(double(y.data[(std::size_t(oy) * os.w() + ox) * cout + o]),
                                         qy.dequantize(-128), qy.dequantize(127));
          const auto code =
              static_cast<std::int8_t>(layer0[(std::size_t(o) * os.h() + oy) * os.w() + ox]);
          const double got = qy.dequantize(code);
          worst_ratio = std::max(worst_ratio, std::fabs(got - want) / bound);
          ASSERT_LE(std::fabs(got - want), bound)
              << "input " << i << " channel " << o << " at (" << oy << ", " << ox << ")";
        }
    // End to end: top-1 as the float executor unless the float top-2 is within 0.05.
    const std::vector<float> f = all->at(std::size_t(g.outputs[0])).data;
    const std::vector<float> q = (*it)->output(0);
    ASSERT_EQ(f.size(), q.size());
    std::vector<float> s = f;
    std::sort(s.rbegin(), s.rend());
    const auto am = [](const std::vector<float>& v) {
      return std::max_element(v.begin(), v.end()) - v.begin();
    };
    if (s[0] - s[1] > 0.05) {
      ++compared;
      kept += am(f) == am(q);
      EXPECT_EQ(am(f), am(q)) << "input " << i;
    }
  }
  std::printf(
      "  7x7 first conv: worst |int8 - float| / bound %.3f; top-1 kept %d/%d; main memory "
      "%u (first fit %llu, sum %llu) bytes\n",
      worst_ratio, kept, compared, r->main_mem_bytes,
      static_cast<unsigned long long>(r->main_mem_first_fit_bytes),
      static_cast<unsigned long long>(r->main_mem_sum_bytes));
  EXPECT_GT(compared, 0);
}

}  // namespace
}  // namespace emc
