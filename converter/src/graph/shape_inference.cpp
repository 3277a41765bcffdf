// infer_shape(): the checks every node kind shares, then the kind's own rule (node_kinds.def; the
// rules live beside their float kernels in nodes/). Also the helpers those rules use.
#include <cstdint>
#include <iterator>

#include "emc/converter/graph.h"
#include "nodes/node_kind.h"

namespace emc::converter {
namespace detail {

Error node_error(const Node& node, Errc code, std::string message) {
  return Error(code, std::move(message)).with_layer(node.layer_ref());
}

Status expect_rank(const Node& node, const Shape& s, int rank) {
  if (s.rank() != rank)
    return node_error(node, Errc::kShapeMismatch,
                      std::string(to_string(node.kind)) + " needs a rank-" + std::to_string(rank) +
                          " per-sample input ([H, W, C] for rank 3), got " + to_string(s));
  return ok_status();
}

Status expect_size(const Node& node, const std::vector<float>& v, std::int64_t n, const char* what,
                   bool optional) {
  if (optional && v.empty()) return ok_status();
  if (static_cast<std::int64_t>(v.size()) != n)
    return node_error(node, Errc::kShapeMismatch,
                      std::string(what) + " has " + std::to_string(v.size()) +
                          " values, expected " + std::to_string(n));
  return ok_status();
}

namespace {

// Output length of a window op along one axis: floor((in + pads - effective_k) / s) + 1.
Result<std::int32_t> window_out(const Node& node, std::int32_t in, std::int32_t pad0,
                                std::int32_t pad1, std::int32_t k, std::int32_t s, std::int32_t d,
                                const char* axis) {
  if (k < 1 || s < 1 || d < 1 || pad0 < 0 || pad1 < 0)
    return node_error(
        node, Errc::kInvalidLayerConfig,
        std::string("kernel, stride and dilation must be >= 1 and padding >= 0 (") + axis + ")");
  const std::int64_t eff = static_cast<std::int64_t>(k - 1) * d + 1;
  const std::int64_t padded = static_cast<std::int64_t>(in) + pad0 + pad1;
  if (padded < eff)
    return node_error(node, Errc::kShapeMismatch,
                      std::string("window of ") + std::to_string(eff) + " does not fit the " +
                          axis + " extent " + std::to_string(in) + " (+" +
                          std::to_string(pad0 + pad1) + " padding)");
  return static_cast<std::int32_t>((padded - eff) / s + 1);
}

const NodeKindInfo kKinds[] = {
#define EMC_NODE_KIND(id, name, inputs, infer, run, lower) {NodeInputs::inputs, infer, run},
#include "emc/converter/node_kinds.def"
};

}  // namespace

Result<Shape> window_shape(const Graph& g, const Node& node, std::int32_t out_c) {
  const Shape& in = g.shape(node.inputs[0]);
  auto oh = window_out(node, in.h(), node.pad.top, node.pad.bottom, node.kernel_h, node.stride_h,
                       node.dilation_h, "height");
  if (!oh.ok()) return oh.error();
  auto ow = window_out(node, in.w(), node.pad.left, node.pad.right, node.kernel_w, node.stride_w,
                       node.dilation_w, "width");
  if (!ow.ok()) return ow.error();
  return Shape{{*oh, *ow, out_c}};
}

const NodeKindInfo& node_kind_info(NodeKind kind) {
  return kKinds[static_cast<std::size_t>(kind)];
}

}  // namespace detail

Result<Shape> infer_shape(const Graph& g, const Node& node) {
  using detail::node_error;
  if (node.inputs.empty()) return node_error(node, Errc::kInternal, "node has no inputs");
  for (TensorId id : node.inputs)
    if (id < 0 || static_cast<std::size_t>(id) >= g.tensors.size())
      return node_error(node, Errc::kInternal, "input tensor id out of range");
  const auto k = static_cast<std::size_t>(node.kind);
  if (k >= std::size(detail::kKinds)) return node_error(node, Errc::kInternal, "unknown node kind");
  const detail::NodeKindInfo& info = detail::kKinds[k];
  if (info.inputs == detail::NodeInputs::kOne && node.inputs.size() != 1)
    return node_error(node, Errc::kShapeMismatch,
                      std::string(to_string(node.kind)) + " takes exactly one input, got " +
                          std::to_string(node.inputs.size()));
  return info.infer(g, node);
}

}  // namespace emc::converter
