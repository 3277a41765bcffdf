// What each NodeKind does (private): the table built from node_kinds.def, the signatures of its
// shape rule and float kernel, and the helpers the shape rules share. One file per family under
// nodes/ holds a kind's shape rule next to its kernel.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "emc/converter/float_executor.h"
#include "emc/converter/graph.h"

namespace emc::converter::detail {

// What a float kernel reads and writes. `output` has its shape set and its data sized (zeros).
struct KernelArgs {
  const Node& node;
  const std::vector<const Tensor*>& inputs;  // node.inputs, in order
  Tensor& output;

  const Tensor& in(std::size_t i = 0) const { return *inputs[i]; }
};

// A one-input kernel's view: `const auto [n, in_shape, in, out_shape, out] = unary(args);`
struct UnaryView {
  const Node& n;
  const Shape& in_shape;
  const float* in;
  const Shape& out_shape;
  float* out;
};
inline UnaryView unary(const KernelArgs& a) {
  return {a.node, a.in().shape, a.in().data.data(), a.output.shape, a.output.data.data()};
}

// Calls fn(ky, kx, iy, ix) for each tap (ky, kx) of output pixel (oy, ox) of conv node `n`
// (its kernel, strides, top/left padding and dilation) that lies inside an ih x iw input, in
// row-major tap order: the order the float kernels accumulate in.
template <class Fn>
inline void for_each_conv_tap(const Node& n, int oy, int ox, int ih, int iw, Fn&& fn) {
  for (int ky = 0; ky < n.kernel_h; ++ky) {
    const int iy = oy * n.stride_h - n.pad.top + ky * n.dilation_h;
    if (iy < 0 || iy >= ih) continue;
    for (int kx = 0; kx < n.kernel_w; ++kx) {
      const int ix = ox * n.stride_w - n.pad.left + kx * n.dilation_w;
      if (ix < 0 || ix >= iw) continue;
      fn(ky, kx, iy, ix);
    }
  }
}

enum class NodeInputs { kOne, kMany };
using ShapeRule = Result<Shape> (*)(const Graph&, const Node&);
using FloatKernel = void (*)(const KernelArgs&);

struct NodeKindInfo {
  NodeInputs inputs;
  ShapeRule infer;  // called by infer_shape() once the inputs are in range and counted
  FloatKernel run;
};

const NodeKindInfo& node_kind_info(NodeKind kind);

// Every shape rule and kernel named in node_kinds.def (a function serving several kinds is
// simply declared again).
#define EMC_NODE_KIND(id, name, inputs, infer, run, lower) \
  Result<Shape> infer(const Graph& g, const Node& node);   \
  void run(const KernelArgs& args);
#include "emc/converter/node_kinds.def"

// ---- helpers of the shape rules (graph/shape_inference.cpp) ----
Error node_error(const Node& node, Errc code, std::string message);
Status expect_rank(const Node& node, const Shape& s, int rank);
// `v` holds n values (or is empty when `optional`).
Status expect_size(const Node& node, const std::vector<float>& v, std::int64_t n, const char* what,
                   bool optional);
// [out_h, out_w, out_c] of a window op (conv / pool) on the node's first input, from its kernel,
// stride, dilation and padding.
Result<Shape> window_shape(const Graph& g, const Node& node, std::int32_t out_c);

// out = activation(out) in place, for `count` values (activations.cpp).
void activate_inplace(const Activation& a, float* data, std::int64_t count);

}  // namespace emc::converter::detail
