// Per-layer isolated SQNR of a -p cpu kmodel against the float executor, as emc-compare
// --isolated measures it, in process (for tests that run many small models): every layer whose
// sidecar record (LayerInfo) states an int8 output of a graph tensor is compared with that tensor,
// and its output bytes are then replaced by the float tensor rounded to the layer's own int8 grid,
// so the next layer reads the reference. The rounding floor of a layer is that rounding alone.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "emc/converter/convert.h"
#include "emc/converter/float_executor.h"
#include "emc/cpu_backend/cpu_backend.h"
#include "emc/interpreter/interpreter.h"

namespace emc::testing {

struct IsoLayer {
  std::string tensor, type;
  double sig = 0, err = 0, round_err = 0;
  std::size_t n = 0;           // elements compared (over all inputs)
  double scale = 1, bias = 0;  // the output's int8 grid: real = code * scale + bias
  // `real` rounded to the grid (codes clamped to [-128, 127]).
  double on_grid(double real) const {
    return std::clamp(std::round((real - bias) / scale), -128.0, 127.0) * scale + bias;
  }
  double sqnr() const { return 10 * std::log10(sig / std::max(err, 1e-30)); }
  double floor() const { return 10 * std::log10(sig / std::max(round_err, 1e-30)); }
};

struct IsoResult {
  std::map<std::size_t, IsoLayer> layers;  // by kmodel layer index
  IsoLayer final_out;                      // the model output (not isolated) vs the float output
  std::vector<std::uint8_t> output;        // output bytes of every input, concatenated
  std::string error;
};

// `inputs`: NHWC float tensors; a uint8-input kmodel gets round(x * 255) (the default 0..1
// preprocessing), so inputs should lie on the pixel grid.
inline IsoResult run_cpu_isolated(const converter::ConvertResult& r, const converter::Graph& g,
                                  const std::vector<converter::Tensor>& inputs) {
  IsoResult out;
  interpreter::Registry reg;
  if (!cpu_backend::register_cpu_backend(reg).ok()) {
    out.error = "backend registration";
    return out;
  }
  auto interp = interpreter::Interpreter::load(r.bytes, reg, {});
  if (!interp.ok()) {
    out.error = interp.error().to_string();
    return out;
  }
  auto& in = **interp;
  // Which layers are compared, and how their stored order maps to the float tensor.
  struct Map {
    converter::TensorId tensor = converter::kNoTensor;
    double scale = 1, bias = 0;
    std::vector<std::size_t> at;  // stored index of float element k (HWC order)
  };
  std::map<std::size_t, Map> maps;
  for (std::size_t i = 0; i < r.layers.size(); ++i) {
    const auto& li = r.layers[i];
    if (li.dtype != "int8" || !li.float_tensor || li.float_tensor->empty() || !li.out_scale)
      continue;
    Map m;
    m.tensor = g.find_tensor(*li.float_tensor);
    if (m.tensor == converter::kNoTensor) continue;
    m.scale = *li.out_scale, m.bias = *li.out_bias;
    const auto& s = g.shape(m.tensor);
    const std::size_t n = std::size_t(s.num_elements());
    m.at.resize(n);
    std::vector<std::int32_t> hwc;
    if (s.rank() == 3 && li.layout.empty()) hwc = s.dims;
    if (li.layout == "CHW" && li.map_shape.size() == 3) hwc = li.map_shape;
    for (std::size_t k = 0; k < n; ++k) m.at[k] = k;
    if (hwc.size() == 3) {
      const std::size_t H = std::size_t(hwc[0]), W = std::size_t(hwc[1]), C = std::size_t(hwc[2]);
      for (std::size_t y = 0; y < H; ++y)
        for (std::size_t x = 0; x < W; ++x)
          for (std::size_t c = 0; c < C; ++c) m.at[(y * W + x) * C + c] = (c * H + y) * W + x;
    }
    out.layers[i].tensor = *li.float_tensor;
    out.layers[i].type = std::string(format::to_string(li.type));
    out.layers[i].scale = m.scale;
    out.layers[i].bias = m.bias;
    maps[i] = std::move(m);
  }
  std::vector<converter::Tensor> all;
  in.set_observer([&](const interpreter::LayerEvent& e) {
    auto it = maps.find(e.index);
    if (it == maps.end() || e.output.empty()) return;
    const Map& m = it->second;
    const auto& ft = all.at(std::size_t(m.tensor)).data;
    if (e.output.size() != ft.size()) {
      out.error = "layer " + std::to_string(e.index) + ": output size differs from its tensor's";
      return;
    }
    auto mem = in.main_memory().all();
    const auto off = std::size_t(e.output.data() - mem.data());
    IsoLayer& st = out.layers[e.index];
    for (std::size_t k = 0; k < ft.size(); ++k) {
      const double ref = ft[k];
      const std::size_t at = m.at[k];
      const double got = double(static_cast<std::int8_t>(e.output[at])) * m.scale + m.bias;
      const double code = std::clamp(std::round((ref - m.bias) / m.scale), -128.0, 127.0);
      const double rounded = code * m.scale + m.bias;
      st.sig += ref * ref;
      ++st.n;
      st.err += (got - ref) * (got - ref);
      st.round_err += (rounded - ref) * (rounded - ref);
      mem[off + at] = static_cast<std::uint8_t>(static_cast<std::int32_t>(code));
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
    Status st = ok_status();
    if (r.input_is_uint8) {
      std::vector<std::uint8_t> chw(t.data.size());
      for (int y = 0; y < is.h(); ++y)
        for (int x = 0; x < is.w(); ++x)
          for (int c = 0; c < is.c(); ++c)
            chw[(std::size_t(c) * is.h() + y) * is.w() + x] = static_cast<std::uint8_t>(
                std::lround(t.data[(std::size_t(y) * is.w() + x) * is.c() + c] * 255.0f));
      st = in.set_input(0, chw);
    } else {
      std::vector<std::uint8_t> bytes(t.data.size() * 4);
      std::memcpy(bytes.data(), t.data.data(), bytes.size());
      st = in.set_input(0, bytes);
    }
    if (!st.ok()) {
      out.error = st.error().to_string();
      return out;
    }
    if (auto rs = in.run(); !rs.ok()) {
      out.error = rs.error().to_string();
      return out;
    }
    if (!out.error.empty()) return out;
    const auto ob = in.output_bytes(0);
    out.output.insert(out.output.end(), ob.begin(), ob.end());
    const auto got = in.output(0);
    const auto& ft = all.at(std::size_t(g.outputs[0]));
    const auto& os = g.shape(g.outputs[0]);
    if (got.size() != ft.data.size()) {
      out.error = "output size differs from the float model's";
      return out;
    }
    const bool chw = os.rank() == 3 && r.layers.back().layout.empty();
    for (std::size_t k = 0; k < ft.data.size(); ++k) {
      std::size_t at = k;
      if (chw) {
        const std::size_t C = std::size_t(os.c()), HW = std::size_t(os.h()) * std::size_t(os.w());
        at = (k % C) * HW + k / C;
      }
      const double d = got[at] - ft.data[k];
      out.final_out.sig += double(ft.data[k]) * ft.data[k];
      out.final_out.err += d * d;
    }
  }
  return out;
}

}  // namespace emc::testing
