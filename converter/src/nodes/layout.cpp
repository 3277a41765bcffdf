// Nodes that only move values: ZeroPad, Crop, Concat, Flatten, Reshape, Identity.
#include <algorithm>
#include <cstring>

#include "nodes/node_kind.h"

namespace emc::converter::detail {

Result<Shape> infer_zero_pad(const Graph& g, const Node& node) {
  const Shape& in = g.shape(node.inputs[0]);
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

Result<Shape> infer_crop(const Graph& g, const Node& node) {
  const Shape& in = g.shape(node.inputs[0]);
  EMC_TRY(expect_rank(node, in, 3));
  const Padding4& p = node.pad;
  if (p.top < 0 || p.bottom < 0 || p.left < 0 || p.right < 0)
    return node_error(node, Errc::kInvalidLayerConfig, "cropping must be >= 0");
  const std::int64_t h = std::int64_t{in.h()} - p.top - p.bottom;
  const std::int64_t w = std::int64_t{in.w()} - p.left - p.right;
  if (h < 1 || w < 1)
    return node_error(node, Errc::kShapeMismatch,
                      "cropping " + std::to_string(p.top) + "+" + std::to_string(p.bottom) +
                          " rows and " + std::to_string(p.left) + "+" + std::to_string(p.right) +
                          " columns leaves nothing of " + to_string(in));
  return Shape{{static_cast<std::int32_t>(h), static_cast<std::int32_t>(w), in.c()}};
}

Result<Shape> infer_concat(const Graph& g, const Node& node) {
  const Shape& in = g.shape(node.inputs[0]);
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

Result<Shape> infer_flatten(const Graph& g, const Node& node) {
  return Shape{{static_cast<std::int32_t>(g.shape(node.inputs[0]).num_elements())}};
}

Result<Shape> infer_reshape(const Graph& g, const Node& node) {
  const Shape& in = g.shape(node.inputs[0]);
  if (node.output < 0 || static_cast<std::size_t>(node.output) >= g.tensors.size())
    return node_error(node, Errc::kInternal, "reshape output id out of range");
  const Shape& target = g.shape(node.output);
  if (target.num_elements() != in.num_elements())
    return node_error(node, Errc::kShapeMismatch,
                      "cannot reshape " + to_string(in) + " (" + std::to_string(in.num_elements()) +
                          " values) into " + to_string(target));
  return target;
}

void zero_pad_f32(const KernelArgs& args) {
  const auto [n, in_shape, in, out_shape, out] = unary(args);
  const int c = in_shape.c();
  std::fill(out, out + out_shape.num_elements(), 0.0f);
  for (int y = 0; y < in_shape.h(); ++y) {
    const float* src = in + static_cast<std::int64_t>(y) * in_shape.w() * c;
    float* dst =
        out + ((static_cast<std::int64_t>(y) + n.pad.top) * out_shape.w() + n.pad.left) * c;
    std::memcpy(dst, src, sizeof(float) * static_cast<std::size_t>(in_shape.w()) * c);
  }
}

void crop_f32(const KernelArgs& args) {
  const auto [n, in_shape, in, out_shape, out] = unary(args);
  const int c = in_shape.c();
  for (int y = 0; y < out_shape.h(); ++y)
    std::memcpy(out + static_cast<std::int64_t>(y) * out_shape.w() * c,
                in + ((static_cast<std::int64_t>(y) + n.pad.top) * in_shape.w() + n.pad.left) * c,
                sizeof(float) * static_cast<std::size_t>(out_shape.w()) * c);
}

void concat_f32(const KernelArgs& args) {
  const Node& n = args.node;
  const Shape& out_shape = args.output.shape;
  float* out = args.output.data.data();
  std::vector<const float*> ins;
  std::vector<const Shape*> in_shapes;
  for (const Tensor* t : args.inputs) {
    ins.push_back(t->data.data());
    in_shapes.push_back(&t->shape);
  }
  std::int64_t outer = 1;
  for (int a = 0; a < n.axis; ++a) outer *= out_shape.dims[a];
  std::int64_t inner = 1;
  for (int a = n.axis + 1; a < out_shape.rank(); ++a) inner *= out_shape.dims[a];
  const std::int64_t out_row = out_shape.dims[n.axis] * inner;
  std::int64_t offset = 0;
  for (std::size_t i = 0; i < ins.size(); ++i) {
    const std::int64_t row = in_shapes[i]->dims[n.axis] * inner;
    for (std::int64_t o = 0; o < outer; ++o)
      std::memcpy(out + o * out_row + offset, ins[i] + o * row,
                  sizeof(float) * static_cast<std::size_t>(row));
    offset += row;
  }
}

// Flatten, Reshape and Identity: the values unchanged (row-major order is kept).
void copy_f32(const KernelArgs& args) {
  args.output.data = args.in().data;
}

}  // namespace emc::converter::detail
