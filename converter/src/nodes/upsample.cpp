// UpSample (Keras UpSampling2D, interpolation 'nearest'): the importer of the class, the shape
// rule and the float kernel.
#include <cstring>

#include "import/layer_context.h"
#include "nodes/node_kind.h"

namespace emc::converter::detail {

void import_upsampling2d(LayerContext& ctx) {
  const ConfigReader& c = ctx.config();
  c.check_known_keys({"size", "data_format", "interpolation"});
  ctx.expect_inputs(1);
  require_rank3(ctx);
  require_channels_last(ctx);
  if (auto i = c.opt_string("interpolation"); i && *i != "nearest")
    ctx.fail(Errc::kInvalidLayerConfig,
             "interpolation '" + *i + "' is not supported; supported: 'nearest'");
  Node n = ctx.new_node(NodeKind::kUpSample);
  auto size = c.opt_int_tuple("size", 2, 1, kMaxDim).value_or(std::vector<std::int64_t>{2, 2});
  n.stride_h = static_cast<std::int32_t>(size[0]);
  n.stride_w = static_cast<std::int32_t>(size[1]);
  ctx.emit(std::move(n));
}

Result<Shape> infer_upsample(const Graph& g, const Node& node) {
  const Shape& in = g.shape(node.inputs[0]);
  EMC_TRY(expect_rank(node, in, 3));
  if (node.stride_h < 1 || node.stride_w < 1)
    return node_error(node, Errc::kInvalidLayerConfig, "upsampling size must be >= 1");
  const std::int64_t h = std::int64_t{in.h()} * node.stride_h;
  const std::int64_t w = std::int64_t{in.w()} * node.stride_w;
  if (h >= (std::int64_t{1} << 31) || w >= (std::int64_t{1} << 31))
    return node_error(node, Errc::kShapeMismatch, "upsampled size overflows");
  return Shape{{static_cast<std::int32_t>(h), static_cast<std::int32_t>(w), in.c()}};
}

void upsample_f32(const KernelArgs& args) {
  const auto [n, in_shape, in, out_shape, out] = unary(args);
  // resizeNearestNeighbor to an integer multiple (align_corners and half_pixel_centers false):
  // source = floor(dst / size), i.e. each pixel repeated.
  const int c = in_shape.c();
  for (int y = 0; y < out_shape.h(); ++y)
    for (int x = 0; x < out_shape.w(); ++x) {
      const float* src =
          in + (static_cast<std::int64_t>(y / n.stride_h) * in_shape.w() + x / n.stride_w) * c;
      std::memcpy(out + (static_cast<std::int64_t>(y) * out_shape.w() + x) * c, src,
                  sizeof(float) * static_cast<std::size_t>(c));
    }
}

}  // namespace emc::converter::detail
