// Internal: the lowered program between lowering (a target's LowerFn, target.h; the Lowerer of
// src/lower/) and emission (emit_kmodel.cpp). Layers hold complete bodies except for memory
// addresses, which are patched after planning through the fixups (buffer id + setter).
#pragma once

#include <algorithm>
#include <climits>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "emc/converter/calibrate.h"
#include "emc/converter/convert.h"
#include "emc/converter/graph.h"
#include "emc/format/kmodel_v3.h"

namespace emc::converter::detail {

enum class Mem { kKpu, kMain };

struct Buffer {
  Mem mem = Mem::kMain;
  std::uint64_t bytes = 0;  // main: bytes; KPU: bytes of the map (rows * 64)
  std::uint32_t rows = 0;   // KPU only (including any extra line read past the end)
  std::int32_t first = INT_MAX, last = -1;
  LayerRef owner;
  std::uint64_t address = 0;  // main: byte offset; KPU: row
};

using AddressSetter = std::function<void(format::Layer&, std::uint64_t)>;

struct Fixup {
  int buffer = -1;
  std::uint64_t add = 0;  // added to the buffer's address (e.g. the +row_len line shift)
  AddressSetter set;
};

// A fixup that writes the address of `buffer` (+ `add`) into `member` of the layer's Body.
template <class Body, class Field>
Fixup fix(int buffer, Field Body::*member, std::uint64_t add = 0) {
  return Fixup{buffer, add, [member](format::Layer& l, std::uint64_t a) {
                 std::get<Body>(l.body).*member = static_cast<Field>(a);
               }};
}

struct LoweredLayer {
  format::Layer layer;
  LayerInfo info;
  std::vector<Fixup> fixups;
  int kpu_in = -1, kpu_out = -1, main_in = -1, main_out = -1;  // for the report
};

struct LoweredOutput {
  int buffer = -1;
  std::uint32_t bytes = 0;
};

struct LoweredModel {
  std::vector<Buffer> buffers;
  std::vector<LoweredLayer> layers;
  std::vector<LoweredOutput> outputs;
  std::vector<std::string> warnings;
  bool input_is_uint8 = true;
  std::vector<std::int32_t> input_shape;
};

// Throws the error (caught by the target's LowerFn) naming the node's source layer.
[[noreturn]] void fail(Errc code, const std::string& msg, const Node& node);

// `t` is a model output and no layer reads it (a reshape of it is then only a view).
bool is_output_only(const Graph& g, TensorId t);

// x*scale[c] + offset[c] per channel (one entry: every channel), every scale > 0: a layer of this
// form on the model input folds into the input's pixel mapping, real' = (p - mean') / std' with
// mean' = mean - offset*std/scale and std' = std/scale (exact: the same affine map).
struct ChannelAffine {
  std::vector<double> scale, offset;  // empty when the node is not of this form
  bool foldable() const { return !scale.empty(); }
  // Channel c's scale and offset (entry 0 when one entry holds for every channel).
  double scale_at(std::size_t c) const { return scale[scale.size() == 1 ? 0 : c]; }
  double offset_at(std::size_t c) const { return offset[offset.size() == 1 ? 0 : c]; }
  // Folds this map into the pixel mapping real = (p - mean_c) / std_c of the layer's input;
  // false (nothing changed) when its channel count differs from the mapping's.
  bool fold_into(std::vector<double>& mean, std::vector<double>& stdv) const {
    if (scale.size() != 1 && scale.size() != mean.size()) return false;
    for (std::size_t c = 0; c < mean.size(); ++c) {
      mean[c] -= offset_at(c) * stdv[c] / scale_at(c);
      stdv[c] /= scale_at(c);
    }
    return true;
  }
};
// A Rescaling (kAffine activation, scale > 0) or a BatchNormalization with no activation whose
// per-channel scales gamma/sqrt(var + eps) are all > 0 (Keras Normalization imports as one);
// empty for any other node.
ChannelAffine input_affine(const Node& n);
// `second` applied after `first` (either may be empty: no map): scale s1*s2, offset o1*s2 + o2
// per channel; empty when their channel counts differ.
ChannelAffine then(const ChannelAffine& first, const ChannelAffine& second);

// The pixel a conv that folds real = (p - mean_c) / std_c into its weights pads with: the
// channels' mean mean, rounded, in 0..255. The padding is then off by at most half a pixel step
// in every channel, or by more, which a 3x3 conv must not fold (`far`).
std::int32_t padding_pixel(const std::vector<double>& mean, bool* far = nullptr);

// real = (p - mean_c) / std_c as a 1x1 depthwise layer's weights (1/std_c) and biases
// (-mean_c/std_c), and the range of its output over pixels 0..255, widened to contain 0.
struct PixelNormalization {
  std::vector<float> weights, bias;
  double lo = 0, hi = 0;
};
PixelNormalization pixel_normalization(const std::vector<double>& mean,
                                       const std::vector<double>& stdv);

// The warning for a first conv whose zero padding reads pixel `zx` although no integer pixel maps
// to 0.0 in every channel (real = (p - mean_c) / std_c): names the layer, zx and the largest
// real value a padded tap then reads, max_c |zx - mean_c| / std_c, instead of 0.
std::string border_pixel_warning(const Node& c, std::int32_t zx, const std::vector<double>& mean,
                                 const std::vector<double>& stdv);

// What every lowering appends to: the LoweredModel being built, its buffers and layers, and the
// lifetime of each buffer (the steps of its first and last use, from the layers' fixups).
class LoweredBuilder {
 protected:
  // A new buffer of `bytes` (KPU: `rows` rows of 64 bytes, with any extra row read past the end).
  int new_buffer(Mem mem, std::uint64_t bytes, std::uint32_t rows, const LayerRef& owner) {
    Buffer b;
    b.mem = mem;
    b.bytes = bytes;
    b.rows = rows;
    b.owner = owner;
    out_.buffers.push_back(b);
    return static_cast<int>(out_.buffers.size()) - 1;
  }
  int main_buffer(std::uint64_t bytes, const LayerRef& owner) {
    return new_buffer(Mem::kMain, bytes, 0, owner);
  }
  // The index the next layer gets.
  int step() const { return static_cast<int>(out_.layers.size()); }
  // Extends buffer `buf`'s lifetime to step `at`.
  void use(int buf, int at) {
    auto& b = out_.buffers[static_cast<std::size_t>(buf)];
    b.first = std::min(b.first, at);
    b.last = std::max(b.last, at);
  }
  // Appends a layer; the buffers its fixups name get their lifetimes extended to this step.
  int add_layer(format::LayerType type, format::LayerBody body, LayerInfo info,
                std::vector<Fixup> fix) {
    LoweredLayer l;
    l.layer.type = type;
    l.layer.body = std::move(body);
    info.index = out_.layers.size();
    info.type = type;
    info.on_kpu = format::is_k210_type(type);
    l.info = std::move(info);
    for (const Fixup& f : fix) use(f.buffer, step());
    l.fixups = std::move(fix);
    out_.layers.push_back(std::move(l));
    return static_cast<int>(out_.layers.size()) - 1;
  }
  // A main-memory layer reading buffer `in` and writing buffer `out` (the Body's
  // main_mem_in_address / main_mem_out_address), both recorded for the report.
  template <class Body>
  int add_main_layer(format::LayerType type, Body body, LayerInfo info, int in, int out) {
    const int idx =
        add_layer(type, std::move(body), std::move(info),
                  {fix(in, &Body::main_mem_in_address), fix(out, &Body::main_mem_out_address)});
    out_.layers.back().main_in = in;
    out_.layers.back().main_out = out;
    return idx;
  }

  // A conv's precision warning `warning` ("": none) for layer `layer` whose input carries the error
  // of the unresolved layer `from` ("": none): a layer that only carries on an earlier one's
  // error is named in that layer's warning ("later layers carry it on: ...") instead of a warning
  // of its own. Returns the layer whose unresolved error the conv's output carries ("": none).
  std::string add_precision_warning(const std::string& warning, const std::string& from,
                                    const std::string& layer) {
    if (warning.empty()) return "";
    const auto it = unresolved_warning_.find(from);
    if (it == unresolved_warning_.end()) {
      unresolved_warning_[layer] = out_.warnings.size();
      out_.warnings.push_back(warning);
      return layer;
    }
    std::string& w = out_.warnings[it->second];
    const bool first = w.find("; later layers carry it on: ") == std::string::npos;
    w += (first ? "; later layers carry it on: '" : ", '") + layer + "'";
    return it->first;
  }

  LoweredModel out_;

 private:
  std::map<std::string, std::size_t> unresolved_warning_;  // origin layer -> its warning's index
};

// Lowers an optimized, calibrated graph for options.target (its LowerFn). `ranges` is indexed by
// TensorId.
Result<LoweredModel> lower_graph(const Graph& graph, const std::vector<Range>& ranges,
                                 const ConvertOptions& options);

// The LowerFn of the targets whose layer table binds Lowerer jobs (k210, cpu): matches the graph
// with options.target->layers and runs each match's job (src/lower/lowerer.h).
Result<LoweredModel> lower_with_table(const Graph& graph, const std::vector<Range>& ranges,
                                      const ConvertOptions& options);

}  // namespace emc::converter::detail
