// K210 lowering rules on hand-built graphs, run through the interpreter (kpu-sim + cpu) and
// compared with the float executor: exact stride-2 forms, chip limits, ping-pong, buffers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "converter/k210_ref_model.h"
#include "emc/accel_sim/kpu_backend.h"
#include "emc/converter/convert.h"
#include "emc/converter/float_executor.h"
#include "emc/cpu_backend/cpu_backend.h"
#include "emc/format/kmodel_codec.h"
#include "emc/format/kpu_layout.h"
#include "emc/interpreter/interpreter.h"

namespace emc {
namespace {

using namespace converter;

struct Builder {
  Graph g;
  std::mt19937 rng{42};
  TensorId input(int h, int w, int c) {
    const TensorId t = g.add_tensor("input", Shape{{h, w, c}});
    g.inputs = {t};
    return t;
  }
  std::vector<float> randn(std::size_t n, float sd) {
    std::normal_distribution<float> d(0.0f, sd);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
  }
  TensorId conv(TensorId in, const std::string& name, int k, int stride, Padding4 pad, int filters,
                bool depthwise, Activation act = make_relu(6.0f)) {
    const Shape& s = g.shape(in);
    Node n;
    n.kind = depthwise ? NodeKind::kDepthwiseConv2D : NodeKind::kConv2D;
    n.inputs = {in};
    n.kernel_h = n.kernel_w = k;
    n.stride_h = n.stride_w = stride;
    n.pad = pad;
    const int cout = depthwise ? s.c() : filters;
    n.filters = depthwise ? 0 : filters;
    n.kernel = randn(static_cast<std::size_t>(k) * k * s.c() * (depthwise ? 1 : filters),
                     std::sqrt(2.0f / (k * k * (depthwise ? 1 : s.c()))));
    n.bias = randn(static_cast<std::size_t>(cout), 0.1f);
    n.activation = act;
    n.source = SourceLayer{static_cast<std::int64_t>(g.nodes.size() + 1), name,
                           depthwise ? "DepthwiseConv2D" : "Conv2D"};
    n.source_layers = {name};
    const int oh = (s.h() + pad.top + pad.bottom - k) / stride + 1;
    const int ow = (s.w() + pad.left + pad.right - k) / stride + 1;
    n.output = g.add_tensor(name, Shape{{oh, ow, cout}});
    g.nodes.push_back(n);
    return n.output;
  }
  TensorId add(TensorId x, TensorId y, const std::string& name, Activation act = {}) {
    Node n;
    n.kind = NodeKind::kAdd;
    n.inputs = {x, y};
    n.activation = act;
    n.source = SourceLayer{static_cast<std::int64_t>(g.nodes.size() + 1), name, "Add"};
    n.source_layers = {name};
    n.output = g.add_tensor(name, g.shape(x));
    g.nodes.push_back(n);
    return n.output;
  }
  TensorId flatten(TensorId in, const std::string& name) {
    Node n;
    n.kind = NodeKind::kFlatten;
    n.inputs = {in};
    n.source = SourceLayer{static_cast<std::int64_t>(g.nodes.size() + 1), name, "Flatten"};
    n.source_layers = {name};
    n.output = g.add_tensor(name, Shape{{static_cast<std::int32_t>(g.shape(in).num_elements())}});
    g.nodes.push_back(n);
    return n.output;
  }
  TensorId dense(TensorId in, const std::string& name, int units) {
    const int k = static_cast<int>(g.shape(in).num_elements());
    Node n;
    n.kind = NodeKind::kDense;
    n.inputs = {in};
    n.filters = units;
    n.kernel = randn(static_cast<std::size_t>(k) * units, std::sqrt(1.0f / k));
    n.bias = randn(static_cast<std::size_t>(units), 0.1f);
    n.source = SourceLayer{static_cast<std::int64_t>(g.nodes.size() + 1), name, "Dense"};
    n.source_layers = {name};
    n.output = g.add_tensor(name, Shape{{units}});
    g.nodes.push_back(n);
    return n.output;
  }
  TensorId batch_norm(TensorId in, const std::string& name) {
    const int c = g.shape(in).c();
    Node n;
    n.kind = NodeKind::kBatchNorm;
    n.inputs = {in};
    std::uniform_real_distribution<float> u(0.5f, 1.5f);
    for (int i = 0; i < c; ++i) {
      n.gamma.push_back(u(rng) * (i % 3 == 0 ? -1.0f : 1.0f));  // negative scales too
      n.beta.push_back(u(rng) - 1.0f);
      n.mean.push_back(u(rng) - 0.5f);
      n.variance.push_back(u(rng));
    }
    n.source =
        SourceLayer{static_cast<std::int64_t>(g.nodes.size() + 1), name, "BatchNormalization"};
    n.source_layers = {name};
    n.output = g.add_tensor(name, g.shape(in));
    g.nodes.push_back(n);
    return n.output;
  }
  TensorId max_pool(TensorId in, const std::string& name) {
    const Shape& s = g.shape(in);
    Node n;
    n.kind = NodeKind::kMaxPool;
    n.inputs = {in};
    n.kernel_h = n.kernel_w = n.stride_h = n.stride_w = 2;
    n.source = SourceLayer{static_cast<std::int64_t>(g.nodes.size() + 1), name, "MaxPooling2D"};
    n.source_layers = {name};
    n.output = g.add_tensor(name, Shape{{s.h() / 2, s.w() / 2, s.c()}});
    g.nodes.push_back(n);
    return n.output;
  }
  Graph finish(TensorId out) {
    g.outputs = {out};
    auto st = validate_graph(g);
    EXPECT_TRUE(st.ok()) << st.error().to_string();
    return g;
  }
};

constexpr Padding4 kSame{1, 1, 1, 1};
constexpr Padding4 kAfter{0, 1, 0, 1};
constexpr Padding4 kNone{0, 0, 0, 0};

// Random pixel images (x = p / 255) as calibration and test inputs.
std::vector<Tensor> pixel_inputs(const Shape& s, int n,
                                 std::vector<std::vector<std::uint8_t>>& px) {
  std::mt19937 rng(9);
  std::vector<Tensor> out;
  for (int i = 0; i < n; ++i) {
    Tensor t;
    t.shape = s;
    std::vector<std::uint8_t> p(static_cast<std::size_t>(s.num_elements()));
    for (auto& v : p) v = static_cast<std::uint8_t>(rng() & 255);
    for (auto v : p) t.data.push_back(static_cast<float>(v / 255.0));
    px.push_back(p);
    out.push_back(std::move(t));
  }
  return out;
}

struct RunStats {
  double max_err_lsb = 0;         // worst |kmodel - float| in output LSB
  double max_err_border_lsb = 0;  // same, over the last row/column only
};

// Converts, runs every input through the interpreter, compares with the float executor.
RunStats run_case(const Graph& g, const ConvertOptions& opt, ConvertResult* keep = nullptr) {
  RunStats st;
  std::vector<std::vector<std::uint8_t>> px;
  const Shape is = g.shape(g.inputs[0]);
  const auto inputs = pixel_inputs(is, 6, px);
  std::vector<std::vector<Tensor>> calib;
  for (const auto& t : inputs) calib.push_back({t});
  auto r = convert(g, calib, opt);
  EXPECT_TRUE(r.ok()) << r.error().to_string();
  if (!r.ok()) return st;
  EXPECT_TRUE(format::parse_kmodel(r->bytes).ok());
  interpreter::Registry reg;
  EXPECT_TRUE(accel_sim::register_kpu_sim_backend(reg).ok());
  EXPECT_TRUE(cpu_backend::register_cpu_backend(reg).ok());
  auto interp = interpreter::Interpreter::load(r->bytes, reg);
  EXPECT_TRUE(interp.ok()) << interp.error().to_string();
  if (!interp.ok()) return st;
  const Shape os = g.shape(g.outputs[0]);
  // Output LSB of the final (dequantized) tensor: from the sidecar's last quantized layer.
  double lsb = 0;
  for (const auto& l : r->layers)
    if (l.out_scale) lsb = *l.out_scale;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    auto ref = run_float(g, {inputs[i]});
    EXPECT_TRUE(ref.ok());
    const auto& want = ref->at(0).data;  // NHWC
    // uint8 CHW pixels
    std::vector<std::uint8_t> chw(px[i].size());
    for (int y = 0; y < is.h(); ++y)
      for (int x = 0; x < is.w(); ++x)
        for (int c = 0; c < is.c(); ++c)
          chw[(static_cast<std::size_t>(c) * is.h() + y) * is.w() + x] =
              px[i][(static_cast<std::size_t>(y) * is.w() + x) * is.c() + c];
    EXPECT_TRUE((*interp)->set_input(0, chw).ok());
    auto rs = (*interp)->run();
    EXPECT_TRUE(rs.ok()) << rs.error().to_string();
    const auto got = (*interp)->output(0);  // CHW
    EXPECT_EQ(got.size(), want.size());
    if (got.size() != want.size()) return st;
    if (os.rank() != 3) {  // a vector output: same order on both sides
      for (std::size_t k = 0; k < got.size(); ++k)
        st.max_err_lsb = std::max(st.max_err_lsb, std::fabs(got[k] - want[k]) / lsb);
      continue;
    }
    for (int c = 0; c < os.c(); ++c)
      for (int y = 0; y < os.h(); ++y)
        for (int x = 0; x < os.w(); ++x) {
          const double e =
              std::fabs(got[(static_cast<std::size_t>(c) * os.h() + y) * os.w() + x] -
                        want[(static_cast<std::size_t>(y) * os.w() + x) * os.c() + c]) /
              lsb;
          st.max_err_lsb = std::max(st.max_err_lsb, e);
          if (y == os.h() - 1 || x == os.w() - 1)
            st.max_err_border_lsb = std::max(st.max_err_border_lsb, e);
        }
  }
  if (keep) *keep = std::move(r).value();
  return st;
}

// Quantization noise of two chained uint8 layers stays within a few output LSB; a wrong sampling
// position (an approximated stride 2) is off by tens of LSB on the border.
constexpr double kExactTolLsb = 4.0;

TEST(ConvertK210Rules, DepthwiseStride2PadAfterIsExact) {
  Builder b;
  auto t = b.input(16, 16, 4);
  t = b.conv(t, "conv0", 3, 1, kSame, 8, false);
  t = b.conv(t, "dw_s2", 3, 2, kAfter, 0, true);
  t = b.conv(t, "pw", 1, 1, kNone, 8, false, Activation{});
  const Graph g = b.finish(t);
  ConvertOptions opt;
  ConvertResult r;
  const auto exact = run_case(g, opt, &r);
  EXPECT_LE(exact.max_err_lsb, kExactTolLsb);
  // The pointwise conv takes the sampling: pool 6 and its input read one line later.
  bool found = false;
  for (std::size_t i = 0; i < r.model.layers.size(); ++i) {
    if (r.model.layers[i].type != format::LayerType::kK210Conv) continue;
    const auto f = std::get<format::ConvBody>(r.model.layers[i].body).fields();
    if (f.pool_type == 6) {
      found = true;
      const auto& prev = std::get<format::ConvBody>(r.model.layers[i - 1].body).fields();
      EXPECT_EQ(f.image_src_addr, prev.image_dst_addr + format::kpu_row_layout(16).row_len);
      EXPECT_EQ(f.in_width(), 16);
      EXPECT_EQ(f.out_width(), 8);
    }
  }
  EXPECT_TRUE(found);
  ConvertOptions approx;
  approx.approx_stride2 = true;
  ConvertResult ra;
  const auto wrong = run_case(g, approx, &ra);
  EXPECT_GT(wrong.max_err_border_lsb, 4 * kExactTolLsb);  // the test can tell the difference
  EXPECT_FALSE(ra.warnings.empty());
}

TEST(ConvertK210Rules, ConvStride2PadAfterBeforeA3x3GetsAnIdentitySampler) {
  Builder b;
  auto t = b.input(16, 16, 3);
  t = b.conv(t, "conv_s2", 3, 2, kAfter, 8, false);
  t = b.conv(t, "dw", 3, 1, kSame, 0, true, Activation{});
  const Graph g = b.finish(t);
  ConvertResult r;
  const auto s = run_case(g, ConvertOptions{}, &r);
  EXPECT_LE(s.max_err_lsb, kExactTolLsb);
  int samplers = 0;
  for (const auto& l : r.layers) samplers += l.note.find("identity 1x1") != std::string::npos;
  EXPECT_EQ(samplers, 1);
}

TEST(ConvertK210Rules, ValidStride2OnAnOddMapIsExact) {
  // 15x15, 3x3 stride 2 'valid': Keras keeps (15-3)/2+1 = 7 outputs reading rows 2i..2i+2,
  // i.e. rows 1, 3, .., 13 of the pad-1 stride-1 map: the odd-row/odd-column sampling.
  Builder b;
  auto t = b.input(15, 15, 3);
  t = b.conv(t, "valid_s2", 3, 2, kNone, 8, false);
  EXPECT_EQ(b.g.shape(t).h(), 7);
  t = b.conv(t, "dw", 3, 1, kSame, 0, true, Activation{});
  const Graph g = b.finish(t);
  const auto s = run_case(g, ConvertOptions{});
  EXPECT_LE(s.max_err_lsb, kExactTolLsb);
}

TEST(ConvertK210Rules, SymmetricStride2AndPlainChainsAreExact) {
  Builder b;
  auto t = b.input(16, 16, 3);
  t = b.conv(t, "c_s2", 3, 2, kSame, 8, false);
  t = b.conv(t, "dw_s2", 3, 2, kSame, 0, true);
  t = b.conv(t, "pw", 1, 1, kNone, 6, false, Activation{});
  const Graph g = b.finish(t);
  const auto s = run_case(g, ConvertOptions{});
  EXPECT_LE(s.max_err_lsb, kExactTolLsb);
  ConvertOptions pc;
  pc.per_channel = true;
  pc.weight_bits = 16;
  const auto s16 = run_case(g, pc);
  EXPECT_LE(s16.max_err_lsb, kExactTolLsb);
}

TEST(ConvertK210Rules, MapsUnder4x4RunOnThePaddedKpuMapExactly) {
  // The tail of a small-input MobileNet (tupleblog_gender at 64x64): a stride-2 depthwise conv
  // from 4x4 to 2x2, a 1x1 conv on the 2x2 map (run at full resolution 4x4: it commutes with the
  // pending sampling), a 3x3 'same' depthwise conv on 2x2 (the map zero-padded to 4x4 on the CPU
  // and uploaded: its 2x2 corner reads Keras's zero padding) and a 1x1 conv on the padded map.
  // Against the float executor with 16-bit per-channel weights (only the form and the rounding
  // remain): the same bound as the exact stride-2 forms. The KPU never computes a map under 4x4.
  Builder b;
  auto t = b.input(8, 8, 4);
  t = b.conv(t, "c_s2", 3, 2, kSame, 8, false);      // 4x4
  t = b.conv(t, "dw_s2", 3, 2, kSame, 0, true);      // 2x2 (left-top sampling pending)
  t = b.conv(t, "pw_small", 1, 1, kNone, 8, false);  // 2x2
  t = b.conv(t, "dw_small", 3, 1, kSame, 0, true);   // 2x2
  t = b.conv(t, "pw_out", 1, 1, kNone, 6, false, Activation{});
  const Graph g = b.finish(t);
  ConvertOptions opt;
  opt.weight_bits = 16;
  opt.per_channel = true;
  // (-p cpu has no minimum map: convert_cpu_target_test.cpp ChipOnlyMapLimitsAreLiftedOnCpu.)
  for (const Target* target : {Target::kK210}) {
    opt.target = target;
    ConvertResult r;
    const auto s = run_case(g, opt, &r);
    EXPECT_LE(s.max_err_lsb, kExactTolLsb);
    std::printf("  maps under 4x4 (%s): max error %.2f output LSB\n",
                std::string(target->name).c_str(), s.max_err_lsb);
    for (const auto& l : r.model.layers) {
      if (l.type != format::LayerType::kK210Conv || target != Target::kK210) continue;
      const auto f = std::get<format::ConvBody>(l.body).fields();
      EXPECT_GE(f.out_width(), 4);
      EXPECT_GE(f.out_height(), 4);
    }
  }
}

TEST(ConvertK210Rules, BatchNormAfterTheActivationRunsAsAChannelAffineMap) {
  // Conv2D(relu) -> BatchNormalization -> MaxPooling2D -> Conv2D (neuralnetvis_cifar10's block):
  // the BN cannot enter the KPU's conv -> BN -> activation order; it converts and is exact
  // against the float executor (negative BN scales included).
  Builder b;
  auto t = b.input(8, 8, 3);
  t = b.conv(t, "c0", 3, 1, kSame, 8, false, make_relu());
  t = b.batch_norm(t, "bn0");
  t = b.max_pool(t, "pool0");
  t = b.conv(t, "c1", 3, 1, kSame, 4, false, Activation{});
  const Graph g = b.finish(t);
  ConvertOptions opt;
  opt.weight_bits = 16;
  opt.per_channel = true;
  ConvertResult r;
  const auto s = run_case(g, opt, &r);
  EXPECT_LE(s.max_err_lsb, kExactTolLsb);
  bool bn_layer = false;
  for (const auto& l : r.layers)
    bn_layer |= l.type == format::LayerType::kChannelwiseDequantize &&
                std::find(l.sources.begin(), l.sources.end(), "bn0") != l.sources.end();
  EXPECT_TRUE(bn_layer);
}

TEST(ConvertK210Rules, PingPongAndNoOverlappingMaps) {
  Builder b;
  auto t = b.input(8, 8, 4);
  for (int i = 0; i < 5; ++i)
    t = b.conv(t, "c" + std::to_string(i), i % 2 ? 1 : 3, 1, i % 2 ? kNone : kSame, 8, false);
  const Graph g = b.finish(t);
  ConvertResult r;
  const auto s = run_case(g, ConvertOptions{}, &r);
  // Sanity bound only (this test is about addresses): five chained requantizations of random
  // weights, each adding <= 0.5 LSB that the next layer's gain amplifies; measured 6.4 LSB.
  EXPECT_LE(s.max_err_lsb, 8.0);
  std::vector<format::KpuLayerFields> convs;
  for (const auto& l : r.model.layers)
    if (l.type == format::LayerType::kK210Conv)
      convs.push_back(std::get<format::ConvBody>(l.body).fields());
  ASSERT_EQ(convs.size(), 5u);
  for (std::size_t i = 0; i < convs.size(); ++i) {
    const auto& f = convs[i];
    const auto in_rows = format::kpu_map_rows(
        std::uint32_t(f.in_width()), std::uint32_t(f.in_height()), std::uint32_t(f.in_channels()));
    const auto out_rows =
        format::kpu_map_rows(std::uint32_t(f.out_width()), std::uint32_t(f.out_height()),
                             std::uint32_t(f.out_channels()));
    // input and output maps of one layer never overlap
    EXPECT_TRUE(f.image_src_addr + std::int64_t(in_rows) <= f.image_dst_addr ||
                f.image_dst_addr + std::int64_t(out_rows) <= f.image_src_addr)
        << i;
    // alternation: outputs switch between the bottom (row 0) and the top end
    const bool top = f.image_dst_addr + std::int64_t(out_rows) == format::kKpuRamRows;
    const bool bottom = f.image_dst_addr == 0;
    EXPECT_TRUE(top || bottom) << i;
    if (i > 0) {
      EXPECT_EQ(f.image_src_addr, convs[i - 1].image_dst_addr);
      const bool prev_top = convs[i - 1].image_dst_addr != 0;
      EXPECT_NE(top, prev_top) << i;
    }
  }
}

TEST(ConvertK210Rules, MoreThan1024OutputChannelsAreSplitOverLayers) {
  // 1x1 conv 8 -> 1100 channels, then a 3x3 depthwise on the 1100: each becomes two K210_CONV
  // layers over channels 0..551 and 552..1099 (1100 / 2 = 550, rounded up to a multiple of 4 so
  // that a slice starts on a row). On a 4x4 map 4 channels share a 64-byte row (W <= 16) and a
  // channel group takes H = 4 rows, so channel 552 starts 552 / 4 * 4 = 552 rows into the map.
  Builder b;
  auto t = b.input(4, 4, 8);
  t = b.conv(t, "wide_pw", 1, 1, kNone, 1100, false);
  t = b.conv(t, "wide_dw", 3, 1, kSame, 0, true, Activation{});
  const Graph g = b.finish(t);
  ConvertResult r;
  const auto s = run_case(g, ConvertOptions{}, &r);
  EXPECT_LE(s.max_err_lsb, kExactTolLsb);
  std::vector<format::KpuLayerFields> convs;
  for (const auto& l : r.model.layers)
    if (l.type == format::LayerType::kK210Conv)
      convs.push_back(std::get<format::ConvBody>(l.body).fields());
  ASSERT_EQ(convs.size(), 4u);
  EXPECT_EQ(convs[0].out_channels(), 552);
  EXPECT_EQ(convs[1].out_channels(), 548);
  EXPECT_EQ(convs[0].in_channels(), 8);
  EXPECT_EQ(convs[1].in_channels(), 8);
  EXPECT_EQ(convs[1].image_src_addr, convs[0].image_src_addr);
  EXPECT_EQ(convs[1].image_dst_addr, convs[0].image_dst_addr + 552);
  // depthwise parts read their own input channels
  EXPECT_EQ(convs[2].in_channels(), 552);
  EXPECT_EQ(convs[3].in_channels(), 548);
  EXPECT_EQ(convs[2].image_src_addr, convs[0].image_dst_addr);
  EXPECT_EQ(convs[3].image_src_addr, convs[0].image_dst_addr + 552);
  EXPECT_EQ(convs[3].image_dst_addr, convs[2].image_dst_addr + 552);
}

TEST(ConvertK210Rules, Stride2MapTooBigAtFullResolutionRunsInChannelGroups) {
  // A TF 'same' stride-2 conv on 256x256 computes its 256x256x24 map at full resolution before
  // sampling: 24 channels x 256 lines x 256 bytes (W = 256 takes 4 rows of 64 per line) =
  // 1572864 bytes, + the 196608-byte input + the 393216-byte sampled map = 2162688 > 2 MiB. So
  // it runs in channel groups, each sampled at once into its slice of the 128x128 map, and the
  // result is still exact.
  Builder b;
  auto t = b.input(256, 256, 3);
  t = b.conv(t, "stem_s2", 3, 2, kAfter, 24, false);
  t = b.conv(t, "dw", 3, 1, kSame, 0, true, Activation{});
  const Graph g = b.finish(t);
  ConvertResult r;
  const auto s = run_case(g, ConvertOptions{}, &r);
  EXPECT_LE(s.max_err_lsb, kExactTolLsb);
  int full_parts = 0, samplers = 0;
  for (const auto& l : r.layers) {
    full_parts += l.note.find("at full resolution") != std::string::npos;
    samplers += l.note.find("stride-2 sampling of output channels") != std::string::npos;
  }
  EXPECT_GE(full_parts, 2);
  EXPECT_EQ(samplers, full_parts);
}

TEST(ConvertK210Rules, DenseOnTheKpuIsPaddedTo4x4AndSplitPast1024Units) {
  // conv 3x3 -> Flatten (4x4x16 = 256, NHWC order) -> Dense 1100: with --dense kpu the dense
  // becomes K210_ADD_PADDING, two 1x1 K210_CONV parts (552 + 548 units, each DMA'ing its 4x4
  // channels to its slice: part 2 at +552 * 16 bytes) and K210_REMOVE_PADDING. The flatten
  // order is handled by permuting the weights (the conv's output arrives as CHW). Quantized
  // 8-bit weights: the sanity bound is a few output LSB, not the exact-layout bound.
  Builder b;
  auto t = b.input(4, 4, 8);
  t = b.conv(t, "c", 3, 1, kSame, 16, false);
  t = b.flatten(t, "flat");
  t = b.dense(t, "fc", 1100);
  const Graph g = b.finish(t);
  ConvertOptions opt;
  opt.dense = DensePlacement::kKpu;
  opt.per_channel = true;
  ConvertResult r;
  const auto s = run_case(g, opt, &r);
  EXPECT_LE(s.max_err_lsb, 6.0);
  std::printf("  dense on the KPU: max error %.2f output LSB\n", s.max_err_lsb);
  std::vector<format::LayerType> types;
  for (const auto& l : r.model.layers) types.push_back(l.type);
  using LT = format::LayerType;
  ASSERT_GE(types.size(), 5u);
  const std::vector<LT> tail(types.end() - 5, types.end());
  EXPECT_EQ(tail, (std::vector<LT>{LT::kK210AddPadding, LT::kK210Conv, LT::kK210Conv,
                                   LT::kK210RemovePadding, LT::kDequantize}));
  const auto& p1 = std::get<format::ConvBody>(r.model.layers[types.size() - 4].body);
  const auto& p2 = std::get<format::ConvBody>(r.model.layers[types.size() - 3].body);
  EXPECT_EQ(p1.fields().out_channels(), 552);
  EXPECT_EQ(p2.fields().in_channels(), 256);
  EXPECT_EQ(p2.main_mem_out_address, p1.main_mem_out_address + 552 * 16);
  // --dense cpu gives one exact float FULLY_CONNECTED instead.
  ConvertOptions cpu = opt;
  cpu.dense = DensePlacement::kCpu;
  ConvertResult rc;
  const auto sc = run_case(g, cpu, &rc);
  EXPECT_LE(sc.max_err_lsb, 6.0);
  std::printf("  dense on the CPU: max error %.2f output LSB\n", sc.max_err_lsb);
  int fc = 0;
  for (const auto& l : rc.model.layers) fc += l.type == LT::kFullyConnected;
  EXPECT_EQ(fc, 1);
}

TEST(ConvertK210Rules, KmodelTooBigForTheChipsSramIsWarnedAbout) {
  // Dense 256 -> 5500 as float FULLY_CONNECTED: 256 * 5500 * 4 = 5632000 weight bytes, more than
  // the 5 MiB (5242880) a K210 can give a kmodel and its buffers. On the KPU (auto) the same layer
  // stores 1408000 bytes of 8-bit weights: no warning.
  Builder b;
  auto t = b.input(4, 4, 8);
  t = b.conv(t, "c", 3, 1, kSame, 16, false);
  t = b.flatten(t, "flat");
  t = b.dense(t, "huge_fc", 5500);
  const Graph g = b.finish(t);
  std::vector<Range> ranges(g.tensors.size(), Range{-4.0, 4.0});
  ConvertOptions cpu;
  cpu.dense = DensePlacement::kCpu;
  auto r = convert_calibrated(g, ranges, cpu);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_GT(r->bytes.size(), 5632000u);
  bool warned = false;
  for (const auto& w : r->warnings)
    warned |= w.find("will most likely not fit") != std::string::npos;
  EXPECT_TRUE(warned);
  auto k = convert_calibrated(g, ranges, ConvertOptions{});
  ASSERT_TRUE(k.ok()) << k.error().to_string();
  EXPECT_LT(k->bytes.size(), 2000000u);
  for (const auto& w : k->warnings)
    EXPECT_EQ(w.find("will most likely not fit"), std::string::npos);
}

TEST(ConvertK210Rules, ResidualAddRunsAsQuantizedAdd) {
  // Two KPU branches of different ranges added (+ReLU), with --quantized-add: one QUANTIZED_ADD
  // on the uint8 maps (no DEQUANTIZE/ADD/QUANTIZE), within the quantization bound of the float
  // model; its integer rescaling (20-bit input multipliers, 31-bit output multiplier) adds at most
  // ~1 LSB.
  Builder b;
  auto x = b.input(8, 8, 4);
  auto a1 = b.conv(x, "branch_a", 3, 1, kSame, 8, false, Activation{});
  auto b1 = b.conv(x, "branch_b", 1, 1, kNone, 8, false, make_relu(6.0f));
  auto t = b.add(a1, b1, "res_add", make_relu());
  t = b.conv(t, "after", 1, 1, kNone, 8, false, Activation{});
  const Graph g = b.finish(t);
  ConvertOptions opt;
  opt.quantized_add = true;
  ConvertResult r;
  const auto s = run_case(g, opt, &r);
  EXPECT_LE(s.max_err_lsb, kExactTolLsb);
  const auto sf = run_case(g, ConvertOptions{});  // default: float ADD
  EXPECT_LE(sf.max_err_lsb, kExactTolLsb);
  std::printf("  residual add model: max error %.2f output LSB (QUANTIZED_ADD), %.2f (float ADD)\n",
              s.max_err_lsb, sf.max_err_lsb);
  int qadd = 0, fadd = 0;
  for (const auto& l : r.model.layers) {
    qadd += l.type == format::LayerType::kQuantizedAdd;
    fadd += l.type == format::LayerType::kAdd || l.type == format::LayerType::kDequantize;
  }
  EXPECT_EQ(qadd, 1);
  EXPECT_LE(fadd, 1);  // at most the final DEQUANTIZE of the model output
}

TEST(ConvertK210Rules, FiveByFiveConvRunsOnTheCpuOrFailsWithSdkCompatible) {
  Builder b;
  auto t = b.input(16, 16, 3);
  t = b.conv(t, "conv5x5", 5, 1, Padding4{2, 2, 2, 2}, 8, false);
  const Graph g = b.finish(t);
  std::vector<std::vector<std::uint8_t>> px;
  std::vector<std::vector<Tensor>> calib{{pixel_inputs(g.shape(g.inputs[0]), 1, px)[0]}};
  // Default: an EMC_CONV2D on the CPU, named in a warning.
  auto k = convert(g, calib, ConvertOptions{});
  ASSERT_TRUE(k.ok()) << k.error().to_string();
  EXPECT_EQ(k->model.layers.front().type, format::LayerType::kEmcConv2d);
  EXPECT_EQ(k->layers.front().off_kpu_layer->name, "conv5x5");
  std::string warnings;
  for (const auto& w : k->warnings) warnings += w + "\n";
  EXPECT_NE(warnings.find("'conv5x5' (Conv2D)"), std::string::npos) << warnings;
  EXPECT_NE(warnings.find("MaixPy"), std::string::npos) << warnings;
  // --sdk-compatible: an error naming the layer, why and what to change.
  ConvertOptions sdk;
  sdk.sdk_compatible = true;
  auto r = convert(g, calib, sdk);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kUnsupportedLayer);
  const std::string s = r.error().to_string();
  EXPECT_NE(s.find("use 1x1 or 3x3 kernels"), std::string::npos) << s;
  EXPECT_NE(s.find("conv5x5"), std::string::npos) << s;
  EXPECT_NE(s.find("Conv2D"), std::string::npos) << s;
  EXPECT_NE(s.find("[5,5]"), std::string::npos) << s;
}

TEST(ConvertK210Rules, StructuralErrorsComeBeforeCalibration) {
  // The 5x5 kernel under --sdk-compatible is reported without running a single calibration
  // sample.
  Builder b;
  auto t = b.input(16, 16, 3);
  t = b.conv(t, "conv5x5", 5, 1, Padding4{2, 2, 2, 2}, 8, false);
  const Graph g = b.finish(t);
  std::vector<std::vector<std::uint8_t>> px;
  std::vector<std::vector<Tensor>> calib;
  for (auto& in : pixel_inputs(g.shape(g.inputs[0]), 3, px)) calib.push_back({in});
  int calibrated = 0;
  ConvertOptions opt;
  opt.sdk_compatible = true;
  opt.progress = [&](std::size_t, std::size_t, int) {
    ++calibrated;
    return true;
  };
  auto r = convert(g, calib, opt);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kUnsupportedLayer);
  EXPECT_EQ(calibrated, 0);
  // Control: the same model with a 3x3 kernel calibrates (the counter does count).
  Builder b3;
  auto t3 = b3.conv(b3.input(16, 16, 3), "conv3x3", 3, 1, kSame, 8, false);
  const Graph g3 = b3.finish(t3);
  EXPECT_TRUE(convert(g3, calib, opt).ok());
  EXPECT_GE(calibrated, 3);
}

TEST(ConvertK210Rules, ModelTooBigForKpuRamFailsNamingTheLayer) {
  Builder b;
  auto t = b.input(256, 256, 3);
  t = b.conv(t, "big_conv", 3, 1, kSame, 64, false);  // 256*256*64 = 4 MiB output map
  const Graph g = b.finish(t);
  std::vector<Range> ranges(g.tensors.size(), Range{0.0, 1.0});
  auto r = convert_calibrated(g, ranges, ConvertOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kKpuOutOfMemory);
  const std::string s = r.error().to_string();
  EXPECT_NE(s.find("big_conv"), std::string::npos) << s;
  EXPECT_NE(s.find("4194304 bytes"), std::string::npos) << s;
}

TEST(ConvertK210Rules, KpuSimulatorMatchesTheIndependentReferenceModel) {
  // One 3x3 conv whose output is DMA'd: the simulator's bytes must equal the §6 integer model
  // (tests/converter/k210_ref_model.h) evaluated on the emitted registers.
  Builder b;
  auto t = b.input(8, 12, 3);
  t = b.conv(t, "c", 3, 1, kSame, 5, false, make_relu(INFINITY, 0.1f));
  const Graph g = b.finish(t);
  std::vector<std::vector<std::uint8_t>> px;
  const auto inputs = pixel_inputs(g.shape(g.inputs[0]), 2, px);
  std::vector<std::vector<Tensor>> calib;
  for (const auto& in : inputs) calib.push_back({in});
  auto r = convert(g, calib, ConvertOptions{});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->model.layers[0].type, format::LayerType::kK210Conv);
  const auto& body = std::get<format::ConvBody>(r->model.layers[0].body);
  ASSERT_TRUE(body.main_mem_out());
  const auto f = body.fields();
  test::RefConv c;
  c.in_c = 3;
  c.out_c = 5;
  c.h = 8;
  c.w = 12;
  c.k = 3;
  c.arg_x = f.arg_x;
  c.shr_x = f.shr_x;
  c.arg_w = f.arg_w;
  c.shr_w = f.shr_w;
  c.arg_add = f.arg_add;
  c.pad_value = static_cast<int>(f.pad_value);
  for (auto w : body.weights) c.weights.push_back(w);
  for (auto w : body.bn_words) c.bn.push_back(format::unpack_kpu_batchnorm(w));
  c.act = format::unpack_kpu_activation(body.act_words);
  interpreter::Registry reg;
  ASSERT_TRUE(accel_sim::register_kpu_sim_backend(reg).ok());
  ASSERT_TRUE(cpu_backend::register_cpu_backend(reg).ok());
  auto interp = interpreter::Interpreter::load(r->bytes, reg);
  ASSERT_TRUE(interp.ok()) << interp.error().to_string();
  std::vector<std::uint8_t> sim_out;
  (*interp)->set_observer([&](const interpreter::LayerEvent& e) {
    if (e.index == 0) sim_out.assign(e.output.begin(), e.output.end());
  });
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    std::vector<std::uint8_t> chw(px[i].size());
    for (int y = 0; y < 8; ++y)
      for (int x = 0; x < 12; ++x)
        for (int ch = 0; ch < 3; ++ch) chw[(ch * 8 + y) * 12 + x] = px[i][(y * 12 + x) * 3 + ch];
    ASSERT_TRUE((*interp)->set_input(0, chw).ok());
    ASSERT_TRUE((*interp)->run().ok());
    const auto ref = test::ref_kpu_layer(c, chw);
    ASSERT_GE(sim_out.size(), ref.size());
    EXPECT_TRUE(std::equal(ref.begin(), ref.end(), sim_out.begin())) << "input " << i;
  }
}

}  // namespace
}  // namespace emc
