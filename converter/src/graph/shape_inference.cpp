// Output-shape rules of every NodeKind (the Keras rules, with padding already explicit).
#include <cstdint>

#include "emc/converter/graph.h"

namespace emc::converter {
namespace {

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

Status expect_size(const Node& node, const std::vector<float>& v, std::int64_t n, const char* what,
                   bool optional) {
  if (optional && v.empty()) return ok_status();
  if (static_cast<std::int64_t>(v.size()) != n)
    return node_error(node, Errc::kShapeMismatch,
                      std::string(what) + " has " + std::to_string(v.size()) +
                          " values, expected " + std::to_string(n));
  return ok_status();
}

Result<Shape> spatial(const Graph& g, const Node& node, std::int32_t out_c) {
  const Shape& in = g.shape(node.inputs[0]);
  auto oh = window_out(node, in.h(), node.pad.top, node.pad.bottom, node.kernel_h, node.stride_h,
                       node.dilation_h, "height");
  if (!oh.ok()) return oh.error();
  auto ow = window_out(node, in.w(), node.pad.left, node.pad.right, node.kernel_w, node.stride_w,
                       node.dilation_w, "width");
  if (!ow.ok()) return ow.error();
  return Shape{{*oh, *ow, out_c}};
}

}  // namespace

Result<Shape> infer_shape(const Graph& g, const Node& node) {
  if (node.inputs.empty()) return node_error(node, Errc::kInternal, "node has no inputs");
  for (TensorId id : node.inputs)
    if (id < 0 || static_cast<std::size_t>(id) >= g.tensors.size())
      return node_error(node, Errc::kInternal, "input tensor id out of range");
  const Shape& in = g.shape(node.inputs[0]);
  const bool merge = node.kind == NodeKind::kAdd || node.kind == NodeKind::kMultiply ||
                     node.kind == NodeKind::kSubtract || node.kind == NodeKind::kMaximum ||
                     node.kind == NodeKind::kMinimum || node.kind == NodeKind::kAverage;
  const bool single = node.kind != NodeKind::kConcat && !merge;
  if (single && node.inputs.size() != 1)
    return node_error(node, Errc::kShapeMismatch,
                      std::string(to_string(node.kind)) + " takes exactly one input, got " +
                          std::to_string(node.inputs.size()));

  switch (node.kind) {
    case NodeKind::kConv2D: {
      EMC_TRY(expect_rank(node, in, 3));
      if (node.filters < 1)
        return node_error(node, Errc::kInvalidLayerConfig, "filters must be >= 1");
      EMC_TRY(expect_size(node, node.kernel,
                          std::int64_t{node.kernel_h} * node.kernel_w * in.c() * node.filters,
                          "kernel [kh, kw, cin, cout]", false));
      EMC_TRY(expect_size(node, node.bias, node.filters, "bias", true));
      return spatial(g, node, node.filters);
    }
    case NodeKind::kDepthwiseConv2D: {
      EMC_TRY(expect_rank(node, in, 3));
      if (node.depth_multiplier < 1)
        return node_error(node, Errc::kInvalidLayerConfig, "depth_multiplier must be >= 1");
      const std::int64_t out_c = std::int64_t{in.c()} * node.depth_multiplier;
      if (out_c >= (std::int64_t{1} << 31))
        return node_error(node, Errc::kShapeMismatch, "too many output channels");
      EMC_TRY(expect_size(node, node.kernel, std::int64_t{node.kernel_h} * node.kernel_w * out_c,
                          "depthwise kernel [kh, kw, c, m]", false));
      EMC_TRY(expect_size(node, node.bias, out_c, "bias", true));
      return spatial(g, node, static_cast<std::int32_t>(out_c));
    }
    case NodeKind::kMaxPool:
    case NodeKind::kAvgPool: {
      EMC_TRY(expect_rank(node, in, 3));
      if (node.pool_pad_mode == PoolPadMode::kExcluded &&
          (node.pad.top >= node.kernel_h || node.pad.bottom >= node.kernel_h ||
           node.pad.left >= node.kernel_w || node.pad.right >= node.kernel_w))
        return node_error(node, Errc::kInvalidLayerConfig,
                          "excluded pooling padding must be smaller than the window");
      return spatial(g, node, in.c());
    }
    case NodeKind::kDense: {
      if (in.rank() < 1)
        return node_error(node, Errc::kShapeMismatch, "Dense needs an input of rank >= 1");
      if (node.filters < 1)
        return node_error(node, Errc::kInvalidLayerConfig, "units must be >= 1");
      EMC_TRY(expect_size(node, node.kernel, std::int64_t{in.c()} * node.filters,
                          "kernel [in, units]", false));
      EMC_TRY(expect_size(node, node.bias, node.filters, "bias", true));
      Shape out = in;
      out.dims.back() = node.filters;
      return out;
    }
    case NodeKind::kBatchNorm: {
      if (in.rank() < 1)
        return node_error(node, Errc::kShapeMismatch, "BatchNorm needs an input of rank >= 1");
      for (const auto* v : {&node.gamma, &node.beta, &node.mean, &node.variance})
        EMC_TRY(expect_size(node, *v, in.c(), "batch-norm parameter", false));
      if (!(node.epsilon >= 0.0f))
        return node_error(node, Errc::kInvalidLayerConfig, "epsilon must be >= 0");
      return in;
    }
    case NodeKind::kZeroPad: {
      EMC_TRY(expect_rank(node, in, 3));
      const Padding4& p = node.pad;
      if (p.top < 0 || p.bottom < 0 || p.left < 0 || p.right < 0)
        return node_error(node, Errc::kInvalidLayerConfig, "padding must be >= 0");
      const std::int64_t h = std::int64_t{in.h()} + p.top + p.bottom;
      const std::int64_t w = std::int64_t{in.w()} + p.left + p.right;
      if (h >= (std::int64_t{1} << 31) || w >= (std::int64_t{1} << 31))
        return node_error(node, Errc::kShapeMismatch, "padded size overflows");
      return Shape{{static_cast<std::int32_t>(h), static_cast<std::int32_t>(w), in.c()}};
    }
    case NodeKind::kGlobalAvgPool:
    case NodeKind::kGlobalMaxPool:
      EMC_TRY(expect_rank(node, in, 3));
      return node.keepdims ? Shape{{1, 1, in.c()}} : Shape{{in.c()}};
    case NodeKind::kConcat: {
      if (node.axis < 0 || node.axis >= in.rank())
        return node_error(node, Errc::kInvalidLayerConfig,
                          "concat axis " + std::to_string(node.axis) + " is outside rank " +
                              std::to_string(in.rank()));
      Shape out = in;
      std::int64_t total = 0;
      for (TensorId id : node.inputs) {
        const Shape& s = g.shape(id);
        bool same = s.rank() == in.rank();
        for (int a = 0; same && a < in.rank(); ++a)
          if (a != node.axis && s.dims[a] != in.dims[a]) same = false;
        if (!same)
          return node_error(node, Errc::kShapeMismatch,
                            "Concatenate inputs " + to_string(in) + " and " + to_string(s) +
                                " differ outside axis " + std::to_string(node.axis));
        total += s.dims[node.axis];
      }
      if (total >= (std::int64_t{1} << 31))
        return node_error(node, Errc::kShapeMismatch, "concatenated size overflows");
      out.dims[node.axis] = static_cast<std::int32_t>(total);
      return out;
    }
    case NodeKind::kAdd:
    case NodeKind::kMultiply:
    case NodeKind::kSubtract:
    case NodeKind::kMaximum:
    case NodeKind::kMinimum:
    case NodeKind::kAverage:
      if (node.inputs.size() < 2 || (node.kind == NodeKind::kSubtract && node.inputs.size() != 2))
        return node_error(node, Errc::kShapeMismatch,
                          std::string(to_string(node.kind)) +
                              (node.kind == NodeKind::kSubtract ? " needs exactly two inputs"
                                                                : " needs at least two inputs"));
      for (TensorId id : node.inputs)
        if (!(g.shape(id) == in))
          return node_error(node, Errc::kShapeMismatch,
                            std::string(to_string(node.kind)) +
                                " inputs must have equal shapes (no broadcasting): " +
                                to_string(in) + " vs " + to_string(g.shape(id)));
      return in;
    case NodeKind::kPRelu:
      EMC_TRY(expect_size(node, node.kernel, in.num_elements(), "PReLU alpha", false));
      return in;
    case NodeKind::kUpSample: {
      EMC_TRY(expect_rank(node, in, 3));
      if (node.stride_h < 1 || node.stride_w < 1)
        return node_error(node, Errc::kInvalidLayerConfig, "upsampling size must be >= 1");
      const std::int64_t h = std::int64_t{in.h()} * node.stride_h;
      const std::int64_t w = std::int64_t{in.w()} * node.stride_w;
      if (h >= (std::int64_t{1} << 31) || w >= (std::int64_t{1} << 31))
        return node_error(node, Errc::kShapeMismatch, "upsampled size overflows");
      return Shape{{static_cast<std::int32_t>(h), static_cast<std::int32_t>(w), in.c()}};
    }
    case NodeKind::kCrop: {
      EMC_TRY(expect_rank(node, in, 3));
      const Padding4& p = node.pad;
      if (p.top < 0 || p.bottom < 0 || p.left < 0 || p.right < 0)
        return node_error(node, Errc::kInvalidLayerConfig, "cropping must be >= 0");
      const std::int64_t h = std::int64_t{in.h()} - p.top - p.bottom;
      const std::int64_t w = std::int64_t{in.w()} - p.left - p.right;
      if (h < 1 || w < 1)
        return node_error(node, Errc::kShapeMismatch,
                          "cropping " + std::to_string(p.top) + "+" + std::to_string(p.bottom) +
                              " rows and " + std::to_string(p.left) + "+" +
                              std::to_string(p.right) + " columns leaves nothing of " +
                              to_string(in));
      return Shape{{static_cast<std::int32_t>(h), static_cast<std::int32_t>(w), in.c()}};
    }
    case NodeKind::kSoftmax:
      if (in.rank() < 1 || node.axis != in.rank() - 1)
        return node_error(node, Errc::kInvalidLayerConfig,
                          "softmax axis must be the last axis (" + std::to_string(in.rank() - 1) +
                              "), got " + std::to_string(node.axis));
      return in;
    case NodeKind::kActivation:
    case NodeKind::kIdentity:
      return in;
    case NodeKind::kFlatten:
      return Shape{{static_cast<std::int32_t>(in.num_elements())}};
    case NodeKind::kReshape: {
      if (node.output < 0 || static_cast<std::size_t>(node.output) >= g.tensors.size())
        return node_error(node, Errc::kInternal, "reshape output id out of range");
      const Shape& target = g.shape(node.output);
      if (target.num_elements() != in.num_elements())
        return node_error(node, Errc::kShapeMismatch,
                          "cannot reshape " + to_string(in) + " (" +
                              std::to_string(in.num_elements()) + " values) into " +
                              to_string(target));
      return target;
    }
  }
  return node_error(node, Errc::kInternal, "unknown node kind");
}

}  // namespace emc::converter
