// Importers of SeparableConv2D, Cropping2D, the elementwise merges (Multiply,
// Subtract, Maximum, Minimum, Average), PReLU, ELU, Rescaling and Normalization.
#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "layer_context.h"

namespace emc::converter::detail {
namespace {

void import_merge(LayerContext& ctx, NodeKind kind) {
  ctx.config().check_known_keys({});
  if (ctx.inputs().size() < 2)
    ctx.fail(Errc::kShapeMismatch, std::string(to_string(kind)) + " needs at least two inputs");
  ctx.emit(ctx.new_node(kind));
}

}  // namespace

// tfjs-core separableConv2d = depthwiseConv2d(x, depthwise_kernel, strides, padding, dilation)
// then conv2d(., pointwise_kernel, 1, 'valid'); tfjs-layers adds the bias and the activation
// after. Imported as exactly those two nodes (DepthwiseConv2D without bias, 1x1 Conv2D with the
// bias and activation), so the float result is TF.js's and the existing lowerings apply.
void import_separable_conv2d(LayerContext& ctx) {
  const ConfigReader& c = ctx.config();
  c.check_known_keys({"filters", "kernel_size", "strides", "padding", "data_format",
                      "dilation_rate", "depth_multiplier", "activation", "use_bias",
                      "depthwise_initializer", "pointwise_initializer", "depthwise_regularizer",
                      "pointwise_regularizer", "depthwise_constraint", "pointwise_constraint"});
  ctx.expect_inputs(1);
  require_rank3(ctx);
  require_channels_last(ctx);
  const auto filters = static_cast<std::int32_t>(c.get_int("filters", 1, kMaxDim));
  const auto m = static_cast<std::int32_t>(c.opt_int("depth_multiplier", 1, 4096).value_or(1));
  Node dw = ctx.new_node(NodeKind::kDepthwiseConv2D);
  dw.depth_multiplier = m;
  auto k = c.opt_int_tuple("kernel_size", 2, 1, kMaxDim);
  if (!k) ctx.fail(Errc::kInvalidLayerConfig, "missing required attribute 'kernel_size'");
  auto s = c.opt_int_tuple("strides", 2, 1, kMaxDim).value_or(std::vector<std::int64_t>{1, 1});
  auto d =
      c.opt_int_tuple("dilation_rate", 2, 1, kMaxDim).value_or(std::vector<std::int64_t>{1, 1});
  for (int a = 0; a < 2; ++a)
    if (((*k)[a] - 1) * d[a] + 1 > (std::int64_t{1} << 30))
      ctx.fail(Errc::kInvalidLayerConfig, "the dilated kernel spans more than 2^30 pixels");
  dw.kernel_h = static_cast<std::int32_t>((*k)[0]);
  dw.kernel_w = static_cast<std::int32_t>((*k)[1]);
  dw.stride_h = static_cast<std::int32_t>(s[0]);
  dw.stride_w = static_cast<std::int32_t>(s[1]);
  dw.dilation_h = static_cast<std::int32_t>(d[0]);
  dw.dilation_w = static_cast<std::int32_t>(d[1]);
  const Shape& in = ctx.input_shape();
  if (parse_padding_mode(ctx, "padding", false)) {
    same_padding(in.h(), dw.kernel_h, dw.stride_h, dw.dilation_h, dw.pad.top, dw.pad.bottom);
    same_padding(in.w(), dw.kernel_w, dw.stride_w, dw.dilation_w, dw.pad.left, dw.pad.right);
  }
  Node pw = ctx.new_node(NodeKind::kConv2D);
  pw.filters = filters;
  const std::string act = ctx.read_activation({"activation"}, pw.activation);
  const std::int64_t cin = in.c();
  // Keras weight order: depthwise_kernel, pointwise_kernel, bias.
  dw.kernel = ctx.weight({"depthwise_kernel"}, 0, {dw.kernel_h, dw.kernel_w, cin, m});
  pw.kernel = ctx.weight({"pointwise_kernel"}, 1, {1, 1, cin * m, filters});
  if (c.opt_bool("use_bias").value_or(true)) pw.bias = ctx.weight({"bias"}, 2, {filters});
  pw.inputs = {ctx.emit_internal(std::move(dw), "depthwise")};
  ctx.emit(std::move(pw), act);
}

void import_cropping2d(LayerContext& ctx) {
  const ConfigReader& c = ctx.config();
  c.check_known_keys({"cropping", "data_format"});
  ctx.expect_inputs(1);
  require_rank3(ctx);
  require_channels_last(ctx);
  Node n = ctx.new_node(NodeKind::kCrop);
  auto p = c.opt_padding4("cropping", kMaxDim).value_or(std::array<std::int64_t, 4>{0, 0, 0, 0});
  n.pad = Padding4{static_cast<std::int32_t>(p[0]), static_cast<std::int32_t>(p[1]),
                   static_cast<std::int32_t>(p[2]), static_cast<std::int32_t>(p[3])};
  ctx.emit(std::move(n));
}

void import_multiply(LayerContext& ctx) {
  import_merge(ctx, NodeKind::kMultiply);
}
void import_subtract(LayerContext& ctx) {
  ctx.expect_inputs(2);
  import_merge(ctx, NodeKind::kSubtract);
}
void import_maximum(LayerContext& ctx) {
  import_merge(ctx, NodeKind::kMaximum);
}
void import_minimum(LayerContext& ctx) {
  import_merge(ctx, NodeKind::kMinimum);
}
void import_average(LayerContext& ctx) {
  import_merge(ctx, NodeKind::kAverage);
}

void import_prelu(LayerContext& ctx) {
  const ConfigReader& c = ctx.config();
  c.check_known_keys({"shared_axes", "alpha_initializer", "alpha_regularizer", "alpha_constraint"});
  ctx.expect_inputs(1);
  const Shape& in = ctx.input_shape();
  // alpha has the input's per-sample shape with 1 on every shared axis (Keras axes count the
  // batch: shared_axes [1, 2] shares over H and W).
  std::vector<std::int64_t> ashape(in.dims.begin(), in.dims.end());
  if (c.has("shared_axes")) {
    const Json& sa = ctx.layer().config->at("shared_axes");
    std::vector<std::int64_t> axes;
    if (sa.is_array()) {
      axes = *c.opt_int_list("shared_axes", -9, 9, 9);
    } else {
      axes = {*c.opt_axis("shared_axes")};
    }
    for (auto a : axes) ashape[static_cast<std::size_t>(per_sample_axis(ctx, a, in.rank()))] = 1;
  }
  std::vector<float> alpha = ctx.weight({"alpha"}, 0, ashape);
  Node n = ctx.new_node(NodeKind::kPRelu);
  // Expand to the input's shape (row-major broadcast).
  n.kernel.resize(static_cast<std::size_t>(in.num_elements()));
  const int r = in.rank();
  std::vector<std::int64_t> idx(static_cast<std::size_t>(r), 0);
  for (std::int64_t i = 0; i < in.num_elements(); ++i) {
    std::int64_t src = 0;
    for (int a = 0; a < r; ++a) src = src * ashape[a] + (ashape[a] == 1 ? 0 : idx[a]);
    n.kernel[static_cast<std::size_t>(i)] = alpha[static_cast<std::size_t>(src)];
    for (int a = r - 1; a >= 0; --a) {
      if (++idx[a] < in.dims[a]) break;
      idx[a] = 0;
    }
  }
  ctx.emit(std::move(n));
}

void import_elu(LayerContext& ctx) {
  const ConfigReader& c = ctx.config();
  c.check_known_keys({"alpha"});
  ctx.expect_inputs(1);
  Node n = ctx.new_node(NodeKind::kActivation);
  n.activation.kind = ActivationKind::kElu;
  n.activation.alpha = c.opt_number("alpha").value_or(1.0);
  ctx.emit(std::move(n));
}

// GaussianNoise, GaussianDropout, AlphaDropout, SpatialDropout*: noise only while training; the
// input unchanged at inference (tfjs-layers: K.inTrainPhase(noisy, () => input)).
void import_inference_identity(LayerContext& ctx) {
  ctx.config().check_known_keys({"rate", "stddev", "noise_shape", "seed", "data_format"});
  ctx.expect_inputs(1);
  ctx.emit(ctx.new_node(NodeKind::kIdentity));
}

// Keras's random augmentation layers (RandomFlip, RandomRotation, RandomZoom, RandomTranslation,
// RandomContrast, RandomBrightness, RandomHeight, RandomWidth): they transform only while
// training; at inference the output is the input (Keras: "During inference time, the output will
// be identical to input"). RandomCrop is not among them: at inference it crops and resizes.
void import_augmentation_identity(LayerContext& ctx) {
  ctx.config().check_known_keys({"mode", "factor", "height_factor", "width_factor", "fill_mode",
                                 "fill_value", "interpolation", "seed", "value_range",
                                 "data_format"});
  ctx.expect_inputs(1);
  ctx.emit(ctx.new_node(NodeKind::kIdentity));
}

void import_rescaling(LayerContext& ctx) {
  const ConfigReader& c = ctx.config();
  c.check_known_keys({"scale", "offset"});
  ctx.expect_inputs(1);
  if (!c.has("scale")) ctx.fail(Errc::kInvalidLayerConfig, "missing 'scale'");
  Node n = ctx.new_node(NodeKind::kActivation);
  n.activation.kind = ActivationKind::kAffine;
  n.activation.alpha = c.get_number("scale");
  n.activation.offset = c.opt_number("offset").value_or(0.0);
  if (!std::isfinite(n.activation.alpha) || !std::isfinite(n.activation.offset))
    ctx.fail(Errc::kInvalidLayerConfig, "scale and offset must be finite numbers");
  ctx.emit(std::move(n));
}

// Keras Normalization: (x - mean) / max(sqrt(variance), epsilon), or with invert=True
// mean + x * max(sqrt(variance), epsilon), where epsilon is Keras's backend epsilon 1e-7. The
// statistics are the layer's weights mean, variance, count (after adapt(); count is not used at
// inference) or the config's `mean` / `variance` (passed to the constructor). Imported as a
// BatchNormalization node with epsilon 0, which computes the same expression in double.
void import_normalization(LayerContext& ctx) {
  constexpr double kKerasEpsilon = 1e-7;
  const ConfigReader& c = ctx.config();
  c.check_known_keys({"axis", "mean", "variance", "invert"});
  ctx.expect_inputs(1);
  const Shape& in = ctx.input_shape();
  if (in.rank() < 1) ctx.fail(Errc::kShapeMismatch, "needs an input of rank >= 1");
  // axis None (null, or an empty list: Keras 3 writes the tuple) is one mean / variance for
  // every value; one axis must be the last one, a mean / variance per channel.
  const std::vector<std::int64_t> axes = c.opt_axes("axis").value_or(std::vector<std::int64_t>{-1});
  const bool per_channel = !axes.empty();
  if (axes.size() > 1 ||
      (per_channel && per_sample_axis(ctx, axes.front(), in.rank()) != in.rank() - 1))
    ctx.fail(Errc::kInvalidLayerConfig,
             "axis " + c.describe_key("axis") +
                 " is not supported: EMC normalizes with one mean / variance per channel "
                 "(axis -1) or one for all values (axis None), not per position");
  const std::int64_t ch = in.c();
  const std::int64_t stats = per_channel ? ch : 1;
  std::vector<double> mean, variance;
  if (c.has("mean") || c.has("variance")) {
    auto m = c.opt_numbers("mean", static_cast<std::size_t>(stats));
    auto v = c.opt_numbers("variance", static_cast<std::size_t>(stats));
    if (!m || !v) ctx.fail(Errc::kInvalidLayerConfig, "'mean' and 'variance' must both be given");
    // Each is one value (broadcast, as Keras does) or one per channel.
    auto check_count = [&](const char* key, std::size_t count) {
      if (count != 1 && static_cast<std::int64_t>(count) != stats)
        ctx.fail(Errc::kInvalidLayerConfig,
                 std::string("'") + key + "' has " + std::to_string(count) + " values for " +
                     std::to_string(stats) + " channels (expected 1 or " + std::to_string(stats) +
                     ")");
    };
    check_count("mean", m->size());
    check_count("variance", v->size());
    mean = std::move(*m);
    variance = std::move(*v);
  } else {
    // Keras weight order: mean, variance, count. Their shape is the kept axes': [C] or [].
    const std::vector<std::int64_t> shape =
        per_channel ? std::vector<std::int64_t>{ch} : std::vector<std::int64_t>{};
    for (float x : ctx.weight({"mean"}, 0, shape)) mean.push_back(x);
    for (float x : ctx.weight({"variance"}, 1, shape)) variance.push_back(x);
    // The sample count adapt() saw (an int64 scalar): read so that it counts as the layer's.
    if (ctx.has_weight({"count"}, 2)) ctx.weight({"count"}, 2, {});
  }
  const bool invert = c.opt_bool("invert").value_or(false);
  // One value broadcasts to every channel, as in Keras. C comes from declared shapes (not
  // backed by file data), so it is bounded before the per-channel vectors are allocated.
  if ((mean.size() == 1 || variance.size() == 1) && ch > kMaxDim)
    ctx.fail(Errc::kShapeMismatch, "has " + std::to_string(ch) + " channels; at most " +
                                       std::to_string(kMaxDim) + " are supported");
  Node n = ctx.new_node(NodeKind::kBatchNorm);
  n.epsilon = 0.0;
  const std::size_t nc = static_cast<std::size_t>(ch);
  for (std::size_t i = 0; i < nc; ++i) {
    const double m = mean[mean.size() == 1 ? 0 : i];
    const double var = variance[variance.size() == 1 ? 0 : i];
    const double sd = std::max(std::sqrt(var), kKerasEpsilon);
    // The node holds float32 values (as Keras computes): each must stay finite as one.
    const bool finite = std::isfinite(static_cast<float>(m)) && var >= 0 &&
                        std::isfinite(static_cast<float>(sd * sd));
    if (!finite)
      ctx.fail(Errc::kInvalidModel, "mean " + std::to_string(m) + " / variance " +
                                        std::to_string(var) + " of channel " + std::to_string(i) +
                                        " is not a finite float32 mean with a variance >= 0");
    if (invert) {  // beta + (x - 0) * gamma / sqrt(1 + 0)
      n.mean.push_back(0.0f);
      n.variance.push_back(1.0f);
      n.gamma.push_back(static_cast<float>(sd));
      n.beta.push_back(static_cast<float>(m));
    } else {  // 0 + (x - mean) * 1 / sqrt(sd^2 + 0)
      n.mean.push_back(static_cast<float>(m));
      n.variance.push_back(static_cast<float>(sd * sd));
      n.gamma.push_back(1.0f);
      n.beta.push_back(0.0f);
    }
  }
  ctx.emit(std::move(n));
}

}  // namespace emc::converter::detail
