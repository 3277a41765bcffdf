// Importers of the spatial layers: Conv2D, DepthwiseConv2D, ZeroPadding2D and the 2D poolings.
#include "layer_context.h"

namespace emc::converter::detail {
namespace {

constexpr std::int64_t kMaxWindow = std::int64_t{1} << 30;  // dilated kernel extent
const std::vector<std::int64_t> kUnitStrides{1, 1};

// kernel_size / filter_size, strides, dilation_rate, padding -> node fields (padding resolved).
void read_window(LayerContext& ctx, Node& n, const std::vector<std::int64_t>& default_kernel,
                 const std::vector<std::int64_t>* default_strides, bool default_same,
                 bool has_dilation) {
  const ConfigReader& c = ctx.config();
  const char* kernel_key = c.has("kernel_size") ? "kernel_size"
                           : c.has("pool_size") ? "pool_size"
                                                : "filter_size";
  auto k = c.opt_int_tuple(kernel_key, 2, 1, kMaxDim);
  if (!k) {
    if (default_kernel.empty())
      ctx.fail(Errc::kInvalidLayerConfig, "missing required attribute 'kernel_size'");
    k = default_kernel;
  }
  auto s = c.opt_int_tuple("strides", 2, 1, kMaxDim);
  if (!s) s = default_strides ? *default_strides : *k;
  std::vector<std::int64_t> d{1, 1};
  if (has_dilation) {
    auto dr = c.opt_int_tuple("dilation_rate", 2, 1, kMaxDim);
    if (dr) d = *dr;
  }
  // A dilated window wider than 2^30 pixels would give 'same' paddings near 2^31 that overflow
  // int32 once a ZeroPadding2D is merged into them (a 64 KiB uint8 kernel is enough).
  for (int a = 0; a < 2; ++a)
    if (((*k)[a] - 1) * d[a] + 1 > kMaxWindow)
      ctx.fail(Errc::kInvalidLayerConfig, std::string(a == 0 ? "height" : "width") + ": kernel " +
                                              std::to_string((*k)[a]) + " with dilation " +
                                              std::to_string(d[a]) + " spans " +
                                              std::to_string(((*k)[a] - 1) * d[a] + 1) +
                                              " pixels; at most 2^30 are supported");
  n.kernel_h = static_cast<std::int32_t>((*k)[0]);
  n.kernel_w = static_cast<std::int32_t>((*k)[1]);
  n.stride_h = static_cast<std::int32_t>((*s)[0]);
  n.stride_w = static_cast<std::int32_t>((*s)[1]);
  n.dilation_h = static_cast<std::int32_t>(d[0]);
  n.dilation_w = static_cast<std::int32_t>(d[1]);
  if (parse_padding_mode(ctx, "padding", default_same)) {
    const Shape& in = ctx.input_shape();
    same_padding(in.h(), n.kernel_h, n.stride_h, n.dilation_h, n.pad.top, n.pad.bottom);
    same_padding(in.w(), n.kernel_w, n.stride_w, n.dilation_w, n.pad.left, n.pad.right);
  }
}

// activation (Keras) or act (TensorLayer); returns the name for emit().
std::string read_activation(LayerContext& ctx, Node& n) {
  return ctx.read_activation({"activation", "act"}, n.activation);
}

bool read_use_bias(LayerContext& ctx, int bias_index) {
  if (ctx.is_tensorlayer()) return ctx.has_weight({"biases", "bias", "b"}, bias_index);
  return ctx.config().opt_bool("use_bias").value_or(true);
}

}  // namespace

void import_conv2d(LayerContext& ctx) {
  const ConfigReader& c = ctx.config();
  c.check_known_keys({"filters", "kernel_size", "strides", "padding", "data_format",
                      "dilation_rate", "groups", "activation", "use_bias", "n_filter",
                      "filter_size", "act"});
  ctx.expect_inputs(1);
  require_rank3(ctx);
  require_channels_last(ctx);
  if (auto g = c.opt_int("groups", 1, kMaxDim); g && *g != 1)
    ctx.fail(Errc::kInvalidLayerConfig,
             "groups = " + std::to_string(*g) + " is not supported; supported: groups = 1");
  Node n = ctx.new_node(NodeKind::kConv2D);
  n.filters = static_cast<std::int32_t>(c.has("filters") ? c.get_int("filters", 1, kMaxDim)
                                                         : c.get_int("n_filter", 1, kMaxDim));
  read_window(ctx, n, {}, &kUnitStrides, ctx.is_tensorlayer(), true);
  const std::string act = read_activation(ctx, n);
  const std::int64_t cin = ctx.input_shape().c();
  n.kernel = ctx.weight({"kernel", "filters", "W"}, 0, {n.kernel_h, n.kernel_w, cin, n.filters});
  if (read_use_bias(ctx, 1)) n.bias = ctx.weight({"bias", "biases", "b"}, 1, {n.filters});
  ctx.emit(std::move(n), act);
}

void import_depthwise_conv2d(LayerContext& ctx) {
  const ConfigReader& c = ctx.config();
  c.check_known_keys({"kernel_size", "strides", "padding", "depth_multiplier", "data_format",
                      "dilation_rate", "activation", "use_bias", "filter_size", "act"});
  ctx.expect_inputs(1);
  require_rank3(ctx);
  require_channels_last(ctx);
  Node n = ctx.new_node(NodeKind::kDepthwiseConv2D);
  n.depth_multiplier =
      static_cast<std::int32_t>(c.opt_int("depth_multiplier", 1, 4096).value_or(1));
  read_window(ctx, n,
              ctx.is_tensorlayer() ? std::vector<std::int64_t>{3, 3} : std::vector<std::int64_t>{},
              &kUnitStrides, ctx.is_tensorlayer(), true);
  const std::string act = read_activation(ctx, n);
  const std::int64_t cin = ctx.input_shape().c();
  n.kernel = ctx.weight({"depthwise_kernel", "filters", "W"}, 0,
                        {n.kernel_h, n.kernel_w, cin, n.depth_multiplier});
  if (read_use_bias(ctx, 1))
    n.bias = ctx.weight({"bias", "biases", "b"}, 1, {cin * n.depth_multiplier});
  ctx.emit(std::move(n), act);
}

void import_zero_padding(LayerContext& ctx) {
  const ConfigReader& c = ctx.config();
  c.check_known_keys({"padding", "data_format"});
  ctx.expect_inputs(1);
  require_rank3(ctx);
  require_channels_last(ctx);
  Node n = ctx.new_node(NodeKind::kZeroPad);
  auto p = c.opt_padding4("padding", kMaxDim).value_or(std::array<std::int64_t, 4>{1, 1, 1, 1});
  n.pad = Padding4{static_cast<std::int32_t>(p[0]), static_cast<std::int32_t>(p[1]),
                   static_cast<std::int32_t>(p[2]), static_cast<std::int32_t>(p[3])};
  ctx.emit(std::move(n));
}

namespace {
void import_pool(LayerContext& ctx, NodeKind kind) {
  const ConfigReader& c = ctx.config();
  c.check_known_keys({"pool_size", "strides", "padding", "data_format", "filter_size"});
  ctx.expect_inputs(1);
  require_rank3(ctx);
  require_channels_last(ctx);
  Node n = ctx.new_node(kind);
  n.pool_pad_mode = PoolPadMode::kExcluded;
  if (ctx.is_tensorlayer()) {  // TensorLayer defaults: filter_size (3, 3), strides (2, 2), SAME
    const std::vector<std::int64_t> s{2, 2};
    read_window(ctx, n, {3, 3}, &s, true, false);
  } else {  // Keras defaults: pool_size (2, 2), strides = pool_size, 'valid'
    read_window(ctx, n, {2, 2}, nullptr, false, false);
  }
  ctx.emit(std::move(n));
}

void import_global_pool(LayerContext& ctx, NodeKind kind) {
  const ConfigReader& c = ctx.config();
  c.check_known_keys({"data_format", "keepdims"});
  ctx.expect_inputs(1);
  require_rank3(ctx);
  require_channels_last(ctx);
  Node n = ctx.new_node(kind);
  n.keepdims = c.opt_bool("keepdims").value_or(false);
  ctx.emit(std::move(n));
}
}  // namespace

void import_max_pool(LayerContext& ctx) {
  import_pool(ctx, NodeKind::kMaxPool);
}
void import_avg_pool(LayerContext& ctx) {
  import_pool(ctx, NodeKind::kAvgPool);
}
void import_global_avg_pool(LayerContext& ctx) {
  import_global_pool(ctx, NodeKind::kGlobalAvgPool);
}
void import_global_max_pool(LayerContext& ctx) {
  import_global_pool(ctx, NodeKind::kGlobalMaxPool);
}

}  // namespace emc::converter::detail
