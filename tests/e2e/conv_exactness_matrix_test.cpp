// Exactness matrix of the conv lowering forms (issue 11): {Conv2D, DepthwiseConv2D} x kernel
// {1, 3, 5, 7, 1x3, 3x1, 3x3 dilation 2} x stride {1, 2} x padding {'same', 'valid',
// ZeroPadding2D (1,1), (0,1), (1,0), (2,2)} x map sizes around the KPU row-layout (16/32/64) and
// parity edges x consumer {none, 1x1 conv} x target k210. The forms the KPU cannot run exactly
// (kernels other than 1x1/3x3, dilation, the padding/stride forms and maps beyond the chip) run on
// the CPU as EMC int8 convolutions: they must convert with a warning naming the layer and the
// stock SDK/MaixPy, be refused naming the layer with --sdk-compatible, and their isolated SQNR
// must be within 3 dB of their floor, which for an int8-weight layer is the float model with the
// weights rounded per output channel to int8 (max|w|/127, docs/cpu_target.md) and the output
// rounded to the layer's grid. Each case is a tiny TF.js model built here, imported, converted
// (16-bit per-channel weights: the weight rounding is negligible, what remains is the form and the
// output rounding) and run on the interpreter with kpu-sim and with the cpu backend. Every
// compared layer's isolated SQNR (its input = the float model's tensor quantized with the
// kmodel's own parameters, injected into KPU RAM as emc-compare --isolated does) must be within
// 3 dB of its rounding floor (the float tensor rounded to the layer's own uint8 grid; for the 1x1
// consumer, its float output from the rounded input the run fed it, rounded), and both
// backends must give byte-identical outputs. A form the target cannot run exactly must be an
// error naming the Keras layer (or a warning naming it); the forms docs/converter_k210.md lists
// as exact must convert. The default run takes a deterministic sample of the product;
// EMC_CONV_MATRIX_FULL=1 runs all of it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "converter/model_builder.h"
#include "emc/accel_sim/kpu_backend.h"
#include "emc/converter/convert.h"
#include "emc/converter/float_executor.h"
#include "emc/cpu_backend/cpu_backend.h"
#include "emc/format/kpu_layout.h"
#include "emc/interpreter/interpreter.h"

namespace emc {
namespace {

using converter::testing::ModelBuilder;
using converter::testing::randn;
using Json = nlohmann::json;

enum class Pad { kSame, kValid, kZp11, kZp01, kZp10, kZp22 };
const char* pad_name(Pad p) {
  switch (p) {
    case Pad::kSame:
      return "same";
    case Pad::kValid:
      return "valid";
    case Pad::kZp11:
      return "zeropad(1,1)";
    case Pad::kZp01:
      return "zeropad(0,1)";
    case Pad::kZp10:
      return "zeropad(1,0)";
    case Pad::kZp22:
      return "zeropad(2,2)";
  }
  return "?";
}

struct Case {
  bool dw = false;
  int kh = 3, kw = 3, dil = 1, stride = 1;
  Pad pad = Pad::kSame;
  int n = 16;
  bool consumer = false;
  bool producer = false;  // a 3x3 'same' KPU conv 'pre' before the conv under test
  double leaky = 0;       // > 0: a LeakyReLU with this alpha, 'lr', after it instead of its ReLU
  std::string act;        // non-empty: the conv's own (fused) activation instead of its ReLU
  const converter::Target* target = converter::Target::kK210;
  bool minus_one_one = false;  // -1,1 preprocessing (x = p / 127.5 - 1) instead of 0,1
  std::string name() const {
    return std::string(producer ? "3x3+" : "") + (dw ? "DepthwiseConv2D" : "Conv2D") + " " +
           std::to_string(kh) + "x" + std::to_string(kw) +
           (dil > 1 ? " d" + std::to_string(dil) : "") + " s" + std::to_string(stride) + " " +
           pad_name(pad) + " " + std::to_string(n) + "x" + std::to_string(n) +
           (leaky > 0 ? " +leaky" + std::to_string(leaky).substr(0, 3) : "") +
           (act.empty() ? "" : " " + act) + (consumer ? " +1x1" : "") +
           (minus_one_one ? " -1,1" : "") + " " + std::string(target->name);
  }
  // A kernel the KPU has (1x1, 3x3, no dilation).
  bool kpu_kernel() const { return kh == kw && (kh == 1 || kh == 3) && dil == 1; }
};

// Padding (before, after) of one axis with an effective (dilated) kernel extent `ke`, as Keras.
std::pair<int, int> axis_pad(const Case& c, int ke) {
  switch (c.pad) {
    case Pad::kSame: {
      const int out = (c.n + c.stride - 1) / c.stride;
      const int total = std::max((out - 1) * c.stride + ke - c.n, 0);
      return {total / 2, total - total / 2};
    }
    case Pad::kValid:
      return {0, 0};
    case Pad::kZp11:
      return {1, 1};
    case Pad::kZp01:
      return {0, 1};
    case Pad::kZp10:
      return {1, 0};
    case Pad::kZp22:
      return {2, 2};
  }
  return {0, 0};
}
int extent(int k, int dil) {
  return dil * (k - 1) + 1;
}
int axis_out(const Case& c, int k) {
  const int ke = extent(k, c.dil);
  const auto [a, b] = axis_pad(c, ke);
  return c.n + a + b < ke ? 0 : (c.n + a + b - ke) / c.stride + 1;
}
// The model can be built (Keras: an output of at least 1x1; no dilation with stride 2).
bool buildable(const Case& c) {
  return axis_out(c, c.kh) >= 1 && axis_out(c, c.kw) >= 1 && (c.dil == 1 || c.stride == 1);
}
// The EMC convolution runs the form (docs/cpu_target.md): no padding as wide as the kernel
// window, so no output window lies in the padding only.
bool cpu_form_exists(const Case& c) {
  for (int k : {c.kh, c.kw}) {
    const int ke = extent(k, c.dil);
    const auto [a, b] = axis_pad(c, ke);
    if (a >= ke || b >= ke) return false;
  }
  return true;
}

// The forms docs/converter_k210.md states as exact (must convert): stride 1 'same'/'valid' for
// 1x1, 'same' (= pad 1) for 3x3; stride 2 for 1x1 on even sizes, for 3x3 with pad 1 on every
// side or TF 'same' on even sizes (pad 0 before / 1 after), and 'valid' 3x3 on odd sizes. Map
// sizes within the chip's 4..256 (k210); outputs >= 4x4 on k210.
bool documented_exact(const Case& c) {
  if (!c.kpu_kernel()) return false;
  const int k = c.kh;
  const int n = c.n;
  int total = 0, before = 0;  // TF padding of one axis
  if (c.pad == Pad::kSame) {
    const int out = (n + c.stride - 1) / c.stride;
    total = std::max((out - 1) * c.stride + k - n, 0);
    before = total / 2;
  } else if (c.pad == Pad::kZp11) {
    total = 2, before = 1;
  } else if (c.pad == Pad::kZp01) {
    total = 1, before = 0;
  } else if (c.pad == Pad::kZp10) {
    total = 1, before = 1;
  } else if (c.pad == Pad::kZp22) {
    total = 4, before = 2;
  }
  const int out = (n + total - k) / c.stride + 1;
  if (out < c.target->min_map) return false;
  if (k == 1) {
    if (total != 0) return false;
    return c.stride == 1 || n % 2 == 0;
  }
  if (c.stride == 1) return total == 2 && before == 1;
  if (total == 2 && before == 1) return n % 2 == 0;
  if (total == 1 && before == 0) return n % 2 == 0;
  if (total == 0) return n % 2 == 1;
  return false;
}

ModelBuilder build(const Case& c, std::mt19937& rng) {
  constexpr int kC = 3, kF = 4;
  ModelBuilder mb;
  mb.input("in", {c.n, c.n, kC});
  if (c.producer) {
    mb.layer("Conv2D", "pre",
             {{"filters", kC},
              {"kernel_size", {3, 3}},
              {"strides", {1, 1}},
              {"padding", "same"},
              {"use_bias", true},
              {"activation", "relu"}});
    mb.weight("pre/kernel", {3, 3, kC, kC}, randn(rng, std::size_t(9 * kC * kC), 0.4f));
    mb.weight("pre/bias", {kC}, randn(rng, kC, 0.1f));
  }
  std::string padding = c.pad == Pad::kSame ? "same" : "valid";
  if (c.pad != Pad::kSame && c.pad != Pad::kValid) {
    const int a = c.pad == Pad::kZp11 ? 1 : c.pad == Pad::kZp01 ? 0 : c.pad == Pad::kZp10 ? 1 : 2;
    const int b = c.pad == Pad::kZp11 ? 1 : c.pad == Pad::kZp01 ? 1 : c.pad == Pad::kZp10 ? 0 : 2;
    mb.layer("ZeroPadding2D", "pad", {{"padding", Json::array({{a, b}, {a, b}})}});
  }
  const int cout = c.dw ? kC : kF;
  Json cfg = {{"kernel_size", {c.kh, c.kw}},
              {"strides", {c.stride, c.stride}},
              {"padding", padding},
              {"dilation_rate", {c.dil, c.dil}},
              {"use_bias", true},
              {"activation", !c.act.empty() ? c.act
                             : c.leaky > 0  ? "linear"
                                            : "relu"}};
  const int kk = c.kh * c.kw;
  // (Larger kernels: weights scaled to keep the output spread of a 3x3.)
  const float ws = c.kpu_kernel() ? 1.0f : 3.0f / std::sqrt(float(kk));
  if (c.dw) {
    cfg["depth_multiplier"] = 1;
    mb.layer("DepthwiseConv2D", "t", cfg);
    mb.weight("t/depthwise_kernel", {c.kh, c.kw, kC, 1},
              randn(rng, std::size_t(kk * kC), 0.6f * ws));
  } else {
    cfg["filters"] = kF;
    mb.layer("Conv2D", "t", cfg);
    mb.weight("t/kernel", {c.kh, c.kw, kC, kF}, randn(rng, std::size_t(kk * kC * kF), 0.4f * ws));
  }
  mb.weight("t/bias", {cout}, randn(rng, std::size_t(cout), 0.1f));
  if (c.leaky > 0) mb.layer("LeakyReLU", "lr", {{"alpha", c.leaky}});
  if (c.consumer) {
    mb.layer("Conv2D", "pw",
             {{"filters", kF},
              {"kernel_size", {1, 1}},
              {"strides", {1, 1}},
              {"padding", "valid"},
              {"use_bias", true},
              {"activation", "linear"}});
    mb.weight("pw/kernel", {1, 1, cout, kF}, randn(rng, std::size_t(cout * kF), 0.5f));
    mb.weight("pw/bias", {kF}, randn(rng, kF, 0.1f));
  }
  return mb;
}

// Pooled SQNR accumulators of one kmodel layer.
struct LayerStats {
  std::string name;
  double sig = 0, err = 0, round_err = 0;
  double sqnr() const { return 10 * std::log10(sig / std::max(err, 1e-30)); }
  double floor() const { return 10 * std::log10(sig / std::max(round_err, 1e-30)); }
};

// A compared K210_CONV layer (or an EMC int8 conv of the CPU fallback: int8 CHW in main memory):
// the float tensor it stands for and where its pixels are.
struct Mapped {
  bool main = false, int8 = false;  // a CHW map in main memory (int8 or uint8 codes)
  std::size_t layer = 0;
  converter::TensorId tensor = converter::kNoTensor;
  std::uint32_t kh = 0, kw = 0, kc = 0, step = 1, off = 0, dst_row = 0;
  double scale = 1, bias = 0;
};

struct RunOut {
  std::map<std::size_t, LayerStats> stats;
  LayerStats final_out;  // the kmodel's (float, CHW) output against the float model's output
  std::vector<std::uint8_t> output;
  std::string error;
};

// Runs `inputs` through the kmodel with every mapped layer's output replaced by the float
// tensor quantized with that layer's parameters (isolated run), pooling each layer's SQNR. The
// floor of an int8 layer comes from `gw`, the model with int8-rounded weights.
RunOut run_isolated(const converter::ConvertResult& r, const converter::Graph& g,
                    const converter::Graph& gw, const std::vector<converter::Tensor>& inputs,
                    bool all_cpu, bool minus_one_one = false) {
  RunOut out;
  interpreter::Registry reg;
  if (!accel_sim::register_kpu_sim_backend(reg).ok() ||
      !cpu_backend::register_cpu_backend(reg).ok()) {
    out.error = "backend registration";
    return out;
  }
  interpreter::DispatchPolicy policy;
  if (all_cpu)
    policy.order = {cpu_backend::kCpuBackendName, std::string(accel_sim::kKpuSimBackendName)};
  auto interp = interpreter::Interpreter::load(r.bytes, reg, policy);
  if (!interp.ok()) {
    out.error = interp.error().to_string();
    return out;
  }
  auto& in = **interp;
  std::vector<Mapped> maps;
  for (std::size_t i = 0; i < r.layers.size(); ++i) {
    const auto& li = r.layers[i];
    // A CPU conv's own output (int8), or the table applying its activation (uint8).
    if (!li.sources.empty() && li.out_scale &&
        (li.type == format::LayerType::kEmcConv2d ||
         li.type == format::LayerType::kEmcDepthwiseConv2d ||
         li.type == format::LayerType::kRequantize || li.type == format::LayerType::kQuantize)) {
      Mapped m;
      m.main = true;
      m.int8 = li.out_int8;
      m.layer = i;
      m.tensor = g.find_tensor(li.sources.back());
      if (m.tensor == converter::kNoTensor) continue;
      m.scale = *li.out_scale, m.bias = *li.out_bias;
      maps.push_back(m);
      out.stats[i].name = li.sources.back();
      continue;
    }
    if (li.type != format::LayerType::kK210Conv || li.sources.empty() || !li.out_scale) continue;
    Mapped m;
    m.layer = i;
    m.tensor = g.find_tensor(li.sources.back());
    if (m.tensor == converter::kNoTensor) continue;
    const auto f = std::get<format::ConvBody>(in.model().layers[i].body).fields();
    m.kh = std::uint32_t(f.out_height()), m.kw = std::uint32_t(f.out_width());
    m.kc = std::uint32_t(f.out_channels());
    m.dst_row = std::uint32_t(f.image_dst_addr);
    m.step = std::uint32_t(li.sample_step), m.off = std::uint32_t(li.sample_offset);
    m.scale = *li.out_scale, m.bias = *li.out_bias;
    const auto& s = g.shape(m.tensor);
    if (s.rank() != 3 || std::uint32_t(s.c()) != m.kc) continue;  // e.g. a channel slice
    if ((std::uint32_t(s.h()) - 1) * m.step + m.off >= m.kh ||
        (std::uint32_t(s.w()) - 1) * m.step + m.off >= m.kw) {
      out.error = "layer " + std::to_string(i) + ": sampling does not fit its map";
      return out;
    }
    maps.push_back(m);
    out.stats[i].name = li.sources.back();
  }
  std::vector<converter::Tensor> all, all_w;
  // What the isolated run fed the consumer 'pw' (the conv under test's output, dequantized, HWC):
  // pw's floor is its float output from that input, rounded to its grid (the input's own
  // rounding is part of an isolated layer's error). pw is computed here by hand from its
  // weights: a linear 1x1 conv.
  std::vector<double> fed;
  const converter::Node* pw = nullptr;
  for (const auto& n : g.nodes)
    if (n.source.name == "pw") pw = &n;
  auto feeds_pw = [&](converter::TensorId t) {
    const std::string& nm = g.tensor(t).name;
    return nm == "t" || nm == "lr";
  };
  in.set_observer([&](const interpreter::LayerEvent& e) {
    for (const Mapped& m : maps) {
      if (m.layer != e.index) continue;
      const auto& ft = all.at(std::size_t(m.tensor));
      const auto& s = g.shape(m.tensor);
      if (m.main) {
        const auto& fw = all_w.at(std::size_t(m.tensor));
        auto mem = in.main_memory().all();
        const auto off = std::size_t(e.output.data() - mem.data());
        if (e.output.size() != std::size_t(s.num_elements()) || off + e.output.size() > mem.size())
          return;
        LayerStats& st = out.stats[m.layer];
        auto code_of = [&](double v) {
          return std::clamp(std::round((v - m.bias) / m.scale), m.int8 ? -128.0 : 0.0,
                            m.int8 ? 127.0 : 255.0);
        };
        auto byte_of = [&](double code) {
          return m.int8 ? static_cast<std::uint8_t>(static_cast<std::int8_t>(code))
                        : static_cast<std::uint8_t>(code);
        };
        for (int c = 0; c < s.c(); ++c)
          for (int y = 0; y < s.h(); ++y)
            for (int x = 0; x < s.w(); ++x) {
              const std::size_t fi = (std::size_t(y) * s.w() + x) * s.c() + c;
              const double ref = ft.data[fi];
              const std::size_t at = (std::size_t(c) * s.h() + y) * s.w() + x;
              const double got = (m.int8 ? double(static_cast<std::int8_t>(mem[off + at]))
                                         : double(mem[off + at])) *
                                     m.scale +
                                 m.bias;
              const double best = code_of(fw.data[fi]) * m.scale + m.bias;
              st.sig += ref * ref;
              st.err += (got - ref) * (got - ref);
              st.round_err += (best - ref) * (best - ref);
              mem[off + at] = byte_of(code_of(ref));
              if (feeds_pw(m.tensor)) fed[fi] = code_of(ref) * m.scale + m.bias;
            }
        continue;
      }
      std::vector<std::uint8_t> bytes(std::size_t(m.kc) * m.kh * m.kw);
      if (!format::kpu_download(in.kpu_memory().all(), m.dst_row, m.kw, m.kh, m.kc, bytes).ok())
        return;
      LayerStats& st = out.stats[m.layer];
      const bool is_pw = pw != nullptr && pw->output == m.tensor &&
                         fed.size() == std::size_t(s.h()) * s.w() * pw->kernel.size() / s.c();
      for (int c = 0; c < s.c(); ++c)
        for (int y = 0; y < s.h(); ++y)
          for (int x = 0; x < s.w(); ++x) {
            const std::size_t fi = (std::size_t(y) * s.w() + x) * s.c() + c;
            const double ref = ft.data[fi];
            const std::size_t at = (std::size_t(c) * m.kh + y * m.step + m.off) * m.kw +
                                   std::size_t(x) * m.step + m.off;
            const double got = bytes[at] * m.scale + m.bias;
            const double code = std::clamp(std::round((ref - m.bias) / m.scale), 0.0, 255.0);
            double best = code * m.scale + m.bias;
            if (is_pw) {  // from the rounded input
              const std::size_t cin = pw->kernel.size() / std::size_t(s.c());
              double v = pw->has_bias() ? pw->bias[std::size_t(c)] : 0.0;
              for (std::size_t i = 0; i < cin; ++i)
                v += double(pw->kernel[i * std::size_t(s.c()) + std::size_t(c)]) *
                     fed[(std::size_t(y) * s.w() + x) * cin + i];
              best = std::clamp(std::round((v - m.bias) / m.scale), 0.0, 255.0) * m.scale + m.bias;
            }
            st.sig += ref * ref;
            st.err += (got - ref) * (got - ref);
            st.round_err += (best - ref) * (best - ref);
            bytes[at] = static_cast<std::uint8_t>(code);  // the next layer reads the reference
            if (feeds_pw(m.tensor) && fi < fed.size()) fed[fi] = code * m.scale + m.bias;
          }
      (void)format::kpu_upload(bytes, m.kw, m.kh, m.kc, in.kpu_memory().all(), m.dst_row);
      if (!e.output.empty() && e.output.size() == bytes.size()) {
        auto mem = in.main_memory().all();
        const auto off = std::size_t(e.output.data() - mem.data());
        if (off + bytes.size() <= mem.size())
          std::copy(bytes.begin(), bytes.end(), mem.begin() + off);
      }
    }
  });
  const auto& is = g.shape(g.inputs[0]);
  for (const auto& t : inputs) {
    auto f = converter::run_float(g, {t}, converter::RunOptions{true});
    if (!f.ok()) {
      out.error = f.error().to_string();
      return out;
    }
    all = std::move(f).value();
    fed.assign(all.size() > 0 && g.find_tensor("lr") != converter::kNoTensor
                   ? all.at(std::size_t(g.find_tensor("lr"))).data.size()
               : g.find_tensor("t") != converter::kNoTensor
                   ? all.at(std::size_t(g.find_tensor("t"))).data.size()
                   : 0,
               0.0);
    auto fw = converter::run_float(gw, {t}, converter::RunOptions{true});
    if (!fw.ok()) {
      out.error = fw.error().to_string();
      return out;
    }
    all_w = std::move(fw).value();
    std::vector<std::uint8_t> chw(t.data.size());
    for (int y = 0; y < is.h(); ++y)
      for (int x = 0; x < is.w(); ++x)
        for (int c = 0; c < is.c(); ++c)
          chw[(std::size_t(c) * is.h() + y) * is.w() + x] = static_cast<std::uint8_t>(std::lround(
              minus_one_one ? (t.data[(std::size_t(y) * is.w() + x) * is.c() + c] + 1.0) * 127.5
                            : t.data[(std::size_t(y) * is.w() + x) * is.c() + c] * 255.0f));
    if (auto st = in.set_input(0, chw); !st.ok()) {
      out.error = st.error().to_string();
      return out;
    }
    if (auto st = in.run(); !st.ok()) {
      out.error = st.error().to_string();
      return out;
    }
    const auto ob = in.output_bytes(0);
    out.output.insert(out.output.end(), ob.begin(), ob.end());
    const auto got = in.output(0);
    const auto& ft = all.at(std::size_t(g.outputs[0]));
    const auto& os = g.shape(g.outputs[0]);
    if (got.size() != ft.data.size() || os.rank() != 3) {
      out.error = "output size/rank differs from the float model's";
      return out;
    }
    for (int c = 0; c < os.c(); ++c)
      for (int y = 0; y < os.h(); ++y)
        for (int x = 0; x < os.w(); ++x) {
          const double ref = ft.data[(std::size_t(y) * os.w() + x) * os.c() + c];
          const double d = got[(std::size_t(c) * os.h() + y) * os.w() + x] - ref;
          out.final_out.sig += ref * ref;
          out.final_out.err += d * d;
        }
  }
  return out;
}

// The weights of conv 't' rounded per output channel to int8 (symmetric, max|w|/127), as the
// EMC int8 convolution stores them (docs/cpu_target.md "Arithmetic").
converter::Graph int8_weights(converter::Graph g) {
  for (auto& n : g.nodes) {
    if (n.source.name != "t") continue;
    const bool dw = n.kind == converter::NodeKind::kDepthwiseConv2D;
    const std::size_t oc =
        dw ? n.kernel.size() / std::size_t(n.kernel_h * n.kernel_w) : std::size_t(n.filters);
    std::vector<float> mx(oc, 0.0f);
    for (std::size_t i = 0; i < n.kernel.size(); ++i)
      mx[i % oc] = std::max(mx[i % oc], std::fabs(n.kernel[i]));
    for (std::size_t i = 0; i < n.kernel.size(); ++i) {
      const double s = mx[i % oc] > 0 ? mx[i % oc] / 127.0 : 1.0;
      n.kernel[i] = static_cast<float>(std::round(n.kernel[i] / s) * s);
    }
  }
  return g;
}

std::vector<Case> all_cases() {
  std::vector<Case> v;
  // K210 only: -p cpu has no K210_CONV (its EMC convolutions are checked against the float
  // executor in cpu_target_lowering_test.cpp and emc_conv_quant_test.cpp). The KPU's kernels
  // first, then the kernels that run on the CPU fallback.
  struct Kernel {
    int kh, kw, dil;
  };
  for (const auto& ks :
       {std::vector<Kernel>{{1, 1, 1}, {3, 3, 1}},
        std::vector<Kernel>{{5, 5, 1}, {7, 7, 1}, {1, 3, 1}, {3, 1, 1}, {3, 3, 2}}})
    for (bool dw : {false, true})
      for (const Kernel& k : ks)
        for (int s : {1, 2})
          for (Pad p : {Pad::kSame, Pad::kValid, Pad::kZp11, Pad::kZp01, Pad::kZp10, Pad::kZp22})
            for (int n : {4, 5, 8, 15, 16, 17, 31, 32, 33, 64, 65})
              for (bool consumer : {false, true}) {
                Case c;
                c.dw = dw, c.kh = k.kh, c.kw = k.kw, c.dil = k.dil, c.stride = s, c.pad = p;
                c.n = n, c.consumer = consumer;
                c.target = converter::Target::kK210;
                if (buildable(c)) v.push_back(c);
              }
  return v;
}

struct Tally {
  int converted = 0, refused = 0, on_cpu = 0;
  std::vector<std::string> refused_forms;
};

// The nodes of `g` from the one reading tensor `from` to the one writing `to`, as a graph of their
// own with input `from` and output `to`.
converter::Graph tail_of(const converter::Graph& g, converter::TensorId from,
                         converter::TensorId to) {
  converter::Graph t = g;
  t.nodes.clear();
  bool on = false;
  for (const auto& n : g.nodes) {
    on |= !n.inputs.empty() && n.inputs[0] == from;
    if (on) t.nodes.push_back(n);
    if (n.output == to) break;
  }
  t.inputs = {from};
  t.outputs = {to};
  return t;
}

// Every tensor of the float model for each input (empty on an error).
std::vector<std::vector<converter::Tensor>> all_tensors(const converter::Graph& g,
                                                        const std::vector<converter::Tensor>& in) {
  std::vector<std::vector<converter::Tensor>> ref;
  for (const auto& t : in) {
    auto f = converter::run_float(g, {t}, converter::RunOptions{true});
    if (!f.ok()) return {};
    ref.push_back(std::move(f).value());
  }
  return ref;
}

// The uint8 grid (scale, bias) the kmodel stores the graph tensor `name` on: the last layer
// standing for it with a uint8 output.
std::optional<std::pair<double, double>> uint8_grid(const converter::ConvertResult& r,
                                                    const std::string& name) {
  std::optional<std::pair<double, double>> q;
  for (const auto& li : r.layers)
    if (!li.sources.empty() && li.sources.back() == name && li.out_scale && !li.out_int8)
      q = std::make_pair(*li.out_scale, *li.out_bias);
  return q;
}

// The ideal floor of the kmodel layers computing `tail` (tail_of): its float nodes run on their
// input rounded to the grid the kmodel stores it on (none: the pixel input, exact), the result
// rounded to the output's grid; the summed squared error against the float model's tensors `ref`
// (one vector of all tensors per input), or -1 when a grid is missing.
double ideal_err(const converter::ConvertResult& r, const converter::Graph& g,
                 const converter::Graph& tail,
                 const std::vector<std::vector<converter::Tensor>>& ref) {
  const converter::TensorId tin = tail.inputs[0], tout = tail.outputs[0];
  const auto in_grid = uint8_grid(r, g.tensor(tin).name);
  const auto out_grid = uint8_grid(r, g.tensor(tout).name);
  if (!out_grid || (!in_grid && tin != g.inputs[0])) return -1;
  auto on_grid = [](double v, const std::pair<double, double>& q) {
    return std::clamp(std::round((v - q.second) / q.first), 0.0, 255.0) * q.first + q.second;
  };
  double err = 0;
  for (const auto& s : ref) {
    converter::Tensor x = s.at(std::size_t(tin));
    if (in_grid)
      for (auto& v : x.data) v = float(on_grid(v, *in_grid));
    auto y = converter::run_float(tail, {x});
    if (!y.ok()) return -1;
    const auto& want = s.at(std::size_t(tout)).data;
    const auto& got = y->at(0).data;
    if (got.size() != want.size()) return -1;
    for (std::size_t i = 0; i < got.size(); ++i) {
      const double d = on_grid(got[i], *out_grid) - want[i];
      err += d * d;
    }
  }
  return err;
}

// Two random inputs on the pixel grid (p / 255), as test inputs and as calibration samples.
void pixel_inputs(const converter::Graph& g, std::mt19937& rng,
                  std::vector<converter::Tensor>& inputs,
                  std::vector<std::vector<converter::Tensor>>& samples,
                  bool minus_one_one = false) {
  for (int i = 0; i < 2; ++i) {
    converter::Tensor t;
    t.shape = g.shape(g.inputs[0]);
    t.data.resize(std::size_t(t.shape.num_elements()));
    for (auto& x : t.data)
      x = minus_one_one ? static_cast<float>(double(rng() % 256) / 127.5 - 1.0)
                        : static_cast<float>(rng() % 256) / 255.0f;
    inputs.push_back(t);
    samples.push_back({t});
  }
}

// Builds, converts and checks one case (see the file comment).
void check_case(const Case& c, Tally& tally) {
  SCOPED_TRACE(c.name());
  std::mt19937 rng(1234);
  const ModelBuilder mb = build(c, rng);
  auto g = mb.graph();
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  std::vector<converter::Tensor> inputs;
  std::vector<std::vector<converter::Tensor>> samples;
  pixel_inputs(*g, rng, inputs, samples, c.minus_one_one);
  converter::ConvertOptions opt;
  opt.target = c.target;
  if (c.minus_one_one) opt.preprocess.scale = converter::PixelScale::kMinusOneOne;
  opt.weight_bits = 16;
  opt.per_channel = true;
  auto r = converter::convert(*g, samples, opt);
  if (!r.ok()) {
    ++tally.refused;
    const Error& e = r.error();
    // A refusal names the Keras layer (the conv or its padding) and is never a crash.
    ASSERT_TRUE(e.layer().has_value()) << e.to_string();
    EXPECT_TRUE(e.layer()->name == "t" || e.layer()->name == "pad" || e.layer()->name == "pw")
        << e.to_string();
    EXPECT_FALSE(documented_exact(c)) << "a documented exact form was refused: " << e.to_string();
    // What the KPU cannot run goes to the CPU: only forms EMC's convolution has no window for
    // remain refused.
    EXPECT_FALSE(cpu_form_exists(c))
        << "a form the CPU fallback runs was refused: " << e.to_string();
    tally.refused_forms.push_back(c.name() + ": " + e.message());
    return;
  }
  ++tally.converted;
  // A conv the KPU cannot run is an EMC layer of its own, named in a warning (the stock SDK and
  // MaixPy cannot run it), and --sdk-compatible refuses it naming the layer.
  bool fallback = false;
  for (const auto& l : r->layers) fallback |= !l.off_kpu_reason.empty();
  if (!c.kpu_kernel()) {
    EXPECT_TRUE(fallback) << "a kernel the KPU lacks did not go to the CPU";
  }
  if (fallback) {
    ++tally.on_cpu;
    bool named = false;
    for (const auto& w : r->warnings)
      named |= w.find("'t' (" + std::string(c.dw ? "DepthwiseConv2D" : "Conv2D") + ")") !=
                   std::string::npos &&
               w.find("MaixPy") != std::string::npos;
    EXPECT_TRUE(named) << "no warning names the CPU layer 't'";
    converter::ConvertOptions sdk = opt;
    sdk.sdk_compatible = true;
    auto rs = converter::convert(*g, samples, sdk);
    ASSERT_FALSE(rs.ok()) << "--sdk-compatible accepted an EMC layer";
    EXPECT_EQ(rs.error().code(), Errc::kUnsupportedLayer);
    ASSERT_TRUE(rs.error().layer().has_value()) << rs.error().to_string();
    EXPECT_EQ(rs.error().layer()->name, "t") << rs.error().to_string();
    EXPECT_NE(rs.error().message().find("--sdk-compatible"), std::string::npos);
  }
  // Converted: nothing approximated unless a warning names the layer (the CPU-fallback
  // warning is not one: that layer is checked like any other).
  bool approx_warned = false;
  for (const auto& w : r->warnings)
    approx_warned |= (w.find("'t'") != std::string::npos || w.find("'pad'") != std::string::npos) &&
                     w.find("an EMC layer type") == std::string::npos;
  // A float CPU conv (a fused sigmoid/tanh) keeps its weights: its floor is the output rounding.
  bool float_conv = false;
  for (const auto& l : r->layers)
    float_conv |= l.type == format::LayerType::kEmcConv2dF32 ||
                  l.type == format::LayerType::kEmcDepthwiseConv2dF32;
  const converter::Graph gw = float_conv ? *g : int8_weights(*g);
  const RunOut kpu = run_isolated(*r, *g, gw, inputs, false, c.minus_one_one);
  const RunOut cpu = run_isolated(*r, *g, gw, inputs, true, c.minus_one_one);
  ASSERT_TRUE(kpu.error.empty()) << kpu.error;
  ASSERT_TRUE(cpu.error.empty()) << cpu.error;
  EXPECT_EQ(kpu.output, cpu.output) << "kpu-sim and cpu outputs differ";
  ASSERT_FALSE(kpu.stats.empty());
  // A float CPU conv rounds nothing but its output: its floor is the ideal one, the float layer on
  // its input as the kmodel stores it (the input's rounding passes through tanh's slope 1 and
  // costs up to 4.5 dB of the output rounding alone).
  std::optional<double> t_floor;
  if (float_conv) {
    const auto ref = all_tensors(*g, inputs);
    ASSERT_EQ(ref.size(), inputs.size());
    const converter::TensorId tin = g->find_tensor(c.producer ? "pre" : "in");
    const double e = ideal_err(*r, *g, tail_of(*g, tin, g->find_tensor("t")), ref);
    ASSERT_GE(e, 0.0) << "no ideal floor for 't'";
    double sig = 0;
    for (const auto& s : ref)
      for (float v : s.at(std::size_t(g->find_tensor("t"))).data) sig += double(v) * v;
    t_floor = 10 * std::log10(sig / std::max(e, 1e-30));
  }
  bool saw_t = false;
  for (const auto& [idx, st] : kpu.stats) {
    saw_t |= st.name == "t" || st.name == "lr";
    if (st.sig == 0) continue;
    const double sq = st.sqnr(), fl = st.name == "t" && t_floor ? *t_floor : st.floor();
    if (!approx_warned) {
      EXPECT_GE(sq, fl - 3.0) << "layer " << idx << " '" << st.name << "': isolated " << sq
                              << " dB, rounding floor " << fl << " dB";
    }
    EXPECT_NEAR(cpu.stats.at(idx).sqnr(), sq, 1e-9);
    if (st.name == "t" && t_floor) {  // float arithmetic: nothing beyond the two roundings
      EXPECT_GE(sq, fl - 0.5) << "float CPU conv: isolated " << sq << " dB, ideal floor " << fl;
    }
  }
  EXPECT_TRUE(saw_t) << "the conv under test was not compared";
  // Without a consumer the model output is the conv's own (after any sampler): the same error.
  if (!c.consumer && !approx_warned) {
    for (const auto& [idx, st] : kpu.stats)
      if (st.name == "t" || st.name == "lr") {
        EXPECT_GE(kpu.final_out.sqnr(), st.floor() - 3.0) << "model output vs float output";
      }
  }
}

TEST(ConvExactnessMatrix, EveryFormIsExactOrRefusedNamingTheLayer) {
  const bool full = std::getenv("EMC_CONV_MATRIX_FULL") != nullptr;
  const auto cases = all_cases();
  // Default: every 53rd case (53 is prime to every dimension's size, so each value of each
  // dimension is visited), plus the 3x3 stride-2 MobileNet forms (symmetric ZeroPadding2D, TF
  // 'same', ZeroPadding2D (0,1)) on 16x16, and every CPU-fallback kernel with 'same' padding at
  // stride 1 on 16x16 (with a KPU consumer) and stride 2 on 17x17.
  std::vector<Case> run;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const bool mobilenet = c.kh == 3 && c.kw == 3 && c.dil == 1 && c.stride == 2 && c.n == 16 &&
                           (c.pad == Pad::kZp11 || c.pad == Pad::kSame || c.pad == Pad::kZp01);
    const bool fallback =
        !c.kpu_kernel() && c.pad == Pad::kSame &&
        ((c.stride == 1 && c.n == 16 && c.consumer) || (c.stride == 2 && c.n == 17 && !c.consumer));
    if (full || i % 53 == 0 || mobilenet || fallback) run.push_back(c);
  }
  Tally t;
  for (const Case& c : run) check_case(c, t);
  std::printf(
      "  conv exactness matrix: %zu of %zu cases run%s: %d converted (all within 3 dB of "
      "their floor; %d with the conv on the CPU), %d refused naming the layer\n",
      run.size(), cases.size(), full ? "" : " (EMC_CONV_MATRIX_FULL=1 for all)", t.converted,
      t.on_cpu, t.refused);
  std::map<std::string, int> why;
  for (const auto& f : t.refused_forms) ++why[f.substr(f.find(": ") + 2, 90)];
  for (const auto& [w, n] : why) std::printf("    refused x%d: %s\n", n, w.c_str());
}

// A conv the KPU cannot run between two KPU convs (uint8 KPU map -> int8 on the CPU -> uint8
// KPU map): each CPU kernel form, a stride-2 5x5 and a 5x5 with a LeakyReLU (applied by the
// int8 -> uint8 table), each layer within 3 dB of its floor against the float executor.
TEST(ConvExactnessMatrix, CpuConvBetweenKpuConvs) {
  struct Kernel {
    int kh, kw, dil, stride;
    bool leaky;
  };
  Tally t;
  for (bool dw : {false, true})
    for (const Kernel& k :
         {Kernel{5, 5, 1, 1, false}, Kernel{7, 7, 1, 1, false}, Kernel{1, 3, 1, 1, false},
          Kernel{3, 1, 1, 1, false}, Kernel{3, 3, 2, 1, false}, Kernel{5, 5, 1, 2, false},
          Kernel{5, 5, 1, 1, true}}) {
      Case c;
      c.dw = dw, c.kh = k.kh, c.kw = k.kw, c.dil = k.dil, c.stride = k.stride,
      c.leaky = k.leaky ? 0.1 : 0.0;
      c.pad = Pad::kSame, c.n = 16, c.producer = true, c.consumer = true;
      check_case(c, t);
    }
  EXPECT_EQ(t.refused, 0);
  EXPECT_EQ(t.on_cpu, 14);
  std::printf("  CPU conv between KPU convs: %d cases converted, %d with the conv on the CPU\n",
              t.converted, t.on_cpu);
}

// A conv the KPU cannot run with a fused sigmoid or tanh (an int8 output cannot carry the
// pre-activation exactly: a 256-entry table from it would cost ~10 dB): a float EMC conv between
// the stock DEQUANTIZE and LOGISTIC + QUANTIZE layers, between two KPU convs. Every kernel form of
// the CPU fallback, both activations, Conv2D and DepthwiseConv2D, within 3 dB of the rounding floor
// against the float executor (check_case: also kpu-sim == cpu, the warning naming the layer, the
// --sdk-compatible refusal); and as the first layer, on the raw pixels, also with a nonzero input
// mean (-1,1), where its zero padding reads a normalized float map of its own.
TEST(ConvExactnessMatrix, CpuConvWithFusedSigmoidOrTanhIsExact) {
  struct Kernel {
    int kh, kw, dil, stride;
  };
  Tally t;
  for (const char* act : {"sigmoid", "tanh"})
    for (bool dw : {false, true})
      for (const Kernel& k : {Kernel{5, 5, 1, 1}, Kernel{7, 7, 1, 1}, Kernel{1, 3, 1, 1},
                              Kernel{3, 3, 2, 1}, Kernel{5, 5, 1, 2}}) {
        Case c;
        c.dw = dw, c.kh = k.kh, c.kw = k.kw, c.dil = k.dil, c.stride = k.stride, c.act = act;
        c.pad = Pad::kSame, c.n = 16, c.producer = true, c.consumer = true;
        check_case(c, t);
      }
  // As the first layer it reads the raw pixels (as float, the 0..1 normalization folded into its
  // weights: exact, zero padding reads pixel 0 = real 0).
  for (const char* act : {"sigmoid", "tanh"})
    for (bool dw : {false, true}) {
      Case c;
      c.dw = dw, c.kh = c.kw = 5, c.act = act, c.n = 16, c.consumer = true;
      check_case(c, t);
    }
  EXPECT_EQ(t.refused, 0);
  EXPECT_EQ(t.on_cpu, 24);
  std::printf("  CPU conv + sigmoid/tanh: %d cases converted\n", t.converted);
  // With a nonzero input mean (-1..1) the padding of a float conv on the pixels is not real 0:
  // the conv reads the normalized float map of its own layer instead, as exact.
  for (const char* act : {"sigmoid", "tanh"})
    for (bool dw : {false, true}) {
      Case c;
      c.dw = dw, c.kh = c.kw = 5, c.act = act, c.n = 16, c.consumer = true;
      c.minus_one_one = true;
      check_case(c, t);
    }
  EXPECT_EQ(t.refused, 0);
  EXPECT_EQ(t.on_cpu, 28);
}

// A KPU conv with a fused LeakyReLU (alpha 0.1 and 0.3; the form of every darknet/YOLO-tiny
// layer and of a shared-slope PReLU), Conv2D and DepthwiseConv2D, 1x1 and 3x3, on maps of 4 to
// 32, reading the pixel input or a 3x3 ReLU conv's uint8 map. Its floor is the ideal int8 layer
// of the k210 lowering: the float conv + LeakyReLU run on its own (tail_of) on the input rounded
// to the grid the kmodel stores it on, with the weights as the kmodel rounds them (16-bit: the
// float weights; 8-bit: per output channel max|w|/127, with the bias corrected for the rounding
// on the calibration mean as docs/converter_k210.md defines it, except for the first conv, which
// the converter does not correct), its output rounded to the layer's grid. The output rounding
// alone (run_isolated's floor) is no floor for a layer whose input grid is coarse: the input's
// rounding passes through the conv (up to 2.9 dB here, 8.4 dB on ml5_darknet_tiny's conv2d_9,
// docs/accuracy.md). Measured: with 16-bit weights every layer is within 0.01 dB of that floor
// (the BN mul/shift and the 16-segment table cost nothing), with 8-bit ones within 0.84 dB (their
// asymmetric uint8 codes with one zero point per layer vs the floor's symmetric int8). Before the
// table's negative piece was anchored (activation_fit.cpp, anchored_line) a depthwise 1x1 on the
// pixel input, whose calibrated range reaches the lowest reachable bn, lost 1.7-2.5 dB to a line
// offset by up to 0.5 LSB (table error 0.78-0.99 LSB).
TEST(ConvExactnessMatrix, KpuLeakyReluIsAtTheIdealInt8Floor) {
  Tally tally;
  int layers = 0;
  std::map<int, std::pair<double, std::string>> worst;  // by weight bits: closest margin, case
  for (int bits : {16, 8})
    for (bool producer : {false, true})
      for (bool dw : {false, true})
        for (int k : {1, 3})
          for (double alpha : {0.1, 0.3})
            for (int n : {4, 8, 17, 32}) {
              Case c;
              c.dw = dw, c.kh = c.kw = k, c.leaky = alpha, c.n = n, c.producer = producer;
              SCOPED_TRACE(c.name() + " weights " + std::to_string(bits) + " bit");
              std::mt19937 rng(1234);
              auto g = build(c, rng).graph();
              ASSERT_TRUE(g.ok()) << g.error().to_string();
              std::vector<converter::Tensor> inputs;
              std::vector<std::vector<converter::Tensor>> samples;
              pixel_inputs(*g, rng, inputs, samples);
              converter::ConvertOptions opt;
              opt.target = converter::Target::kK210;
              opt.weight_bits = bits;
              opt.per_channel = true;
              auto r = converter::convert(*g, samples, opt);
              ASSERT_TRUE(r.ok()) << r.error().to_string();
              ++tally.converted;
              for (const auto& w : r->warnings)
                EXPECT_EQ(w.find("'lr'"), std::string::npos)
                    << "a warning on the leaky layer: " << w;
              const RunOut kpu = run_isolated(*r, *g, *g, inputs, false);
              const RunOut cpu = run_isolated(*r, *g, *g, inputs, true);
              ASSERT_TRUE(kpu.error.empty()) << kpu.error;
              ASSERT_TRUE(cpu.error.empty()) << cpu.error;
              EXPECT_EQ(kpu.output, cpu.output) << "kpu-sim and cpu outputs differ";
              // The conv's input tensor and the grid the kmodel stores it on (the pixel input is
              // exact: a uint8 input with the 0..1 preprocessing).
              const converter::TensorId tin = g->find_tensor(producer ? "pre" : "in");
              ASSERT_NE(tin, converter::kNoTensor);
              const converter::LayerInfo* lr = nullptr;
              std::size_t lr_idx = 0;
              for (std::size_t i = 0; i < r->layers.size(); ++i)
                if (!r->layers[i].sources.empty() && r->layers[i].sources.back() == "lr")
                  lr = &r->layers[i], lr_idx = i;
              ASSERT_TRUE(lr != nullptr && lr->type == format::LayerType::kK210Conv)
                  << "the conv + LeakyReLU is not one K210_CONV";
              ASSERT_TRUE(kpu.stats.count(lr_idx));
              const auto ref = all_tensors(*g, inputs);
              ASSERT_EQ(ref.size(), inputs.size());
              converter::Graph tail = tail_of(*g, tin, g->outputs[0]);
              if (bits == 8) {
                const converter::Graph rounded = int8_weights(tail);
                if (producer) {  // bias correction on the calibration mean of the input
                  converter::Tensor mean;
                  mean.shape = g->shape(tin);
                  const std::size_t ch = std::size_t(mean.shape.c()),
                                    cnt = std::size_t(mean.shape.num_elements());
                  std::vector<double> m(ch, 0.0);
                  for (const auto& sm : ref)
                    for (std::size_t i = 0; i < cnt; ++i)
                      m[i % ch] += sm.at(std::size_t(tin)).data[i];
                  for (std::size_t i = 0; i < cnt; ++i)
                    mean.data.push_back(float(m[i % ch] / double(ref.size() * (cnt / ch))));
                  converter::Graph diff = tail;
                  diff.nodes.resize(1);
                  diff.outputs = {diff.nodes[0].output};
                  auto& dn = diff.nodes[0];
                  for (std::size_t i = 0; i < dn.kernel.size(); ++i)
                    dn.kernel[i] = rounded.nodes[0].kernel[i] - tail.nodes[0].kernel[i];
                  for (auto& bv : dn.bias) bv = 0.0f;
                  auto e = converter::run_float(diff, {mean});
                  ASSERT_TRUE(e.ok()) << e.error().to_string();
                  const auto& ed = e->at(0).data;
                  const std::size_t oc = dn.bias.size();
                  tail = rounded;
                  for (std::size_t i = 0; i < ed.size(); ++i)
                    tail.nodes[0].bias[i % oc] -= float(ed[i] / double(ed.size() / oc));
                } else {
                  tail = rounded;
                }
              }
              const double ideal = ideal_err(*r, *g, tail, ref);
              ASSERT_GE(ideal, 0.0) << "no ideal floor";
              const LayerStats& st = kpu.stats.at(lr_idx);
              const double fl = 10 * std::log10(st.sig / std::max(ideal, 1e-30));
              ++layers;
              if (!worst.count(bits) || st.sqnr() - fl < worst[bits].first)
                worst[bits] = {st.sqnr() - fl, c.name()};
              // The table itself: within 0.5 LSB + the slope's 15-bit rounding (no offset).
              EXPECT_LT(lr->act_fit_error_lsb.value_or(9), 0.502) << "activation table error";
              EXPECT_GE(st.sqnr(), fl - 3.0)
                  << "isolated " << st.sqnr() << " dB, ideal int8 floor " << fl
                  << " dB (output rounding alone " << st.floor() << " dB)";
              if (bits == 16) {  // the arithmetic itself: nothing but float rounding
                EXPECT_GE(st.sqnr(), fl - 0.5) << "16-bit weights: isolated " << st.sqnr()
                                               << " dB, ideal floor " << fl << " dB";
              }
            }
  for (const auto& [bits, w] : worst)
    std::printf(
        "  k210 conv + LeakyReLU, %d-bit weights: %d layers, isolated SQNR minus the ideal "
        "int8 floor >= %+.2f dB (%s)\n",
        bits, layers / 2, w.first, w.second.c_str());
}

}  // namespace
}  // namespace emc
