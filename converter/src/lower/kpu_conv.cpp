// The K210_CONV job: [pad] conv/depthwise [BN] [activation] [pool] as one KPU layer, with the
// exact stride-2 forms (left-top sampling, odd rows/columns sampled by the consumer, stride-2
// grouping when the full map does not fit KPU RAM), maps under the target's minimum map, channel
// splits beyond the KPU's 1024 per layer and the folding of the input preprocessing (lowerer.h).
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>
#include <tuple>

#include "emc/converter/activation_fit.h"
#include "emc/converter/k210_conv_args.h"
#include "emc/converter/k210_layer.h"
#include "emc/format/kpu_layout.h"
#include "lower/lowerer.h"

namespace emc::converter::detail {
namespace {

std::vector<std::uint8_t> weight_bytes_of(const WeightQuant& w) {
  std::vector<std::uint8_t> out;
  out.reserve(w.codes.size() * (w.bits == 16 ? 2 : 1));
  for (std::uint16_t c : w.codes) {
    out.push_back(static_cast<std::uint8_t>(c & 0xff));
    if (w.bits == 16) out.push_back(static_cast<std::uint8_t>(c >> 8));
  }
  return out;
}

}  // namespace

using format::LayerType;

void Lowerer::check_kpu_geometry(const ConvPlan& p) {
  const Node& n = *p.node;
  const int max_h = target_.max_map_h, max_w = target_.max_map_w, min_hw = target_.min_map;
  if (p.in_c > 1024 || p.out_c > 1024) {
    fail(Errc::kInvalidLayerConfig,
         std::to_string(p.in_c) + " input / " + std::to_string(p.out_c) +
             " output channels: a KPU layer sums at most 1024 input channels (more output "
             "channels are split over several layers) and kmodel V3 has no CPU convolution; "
             "reduce the input channels of this layer",
         n);
  }
  if (p.in_h < min_hw || p.in_h > max_h || p.in_w < min_hw || p.in_w > max_w) {
    fail(Errc::kInvalidLayerConfig,
         "input map " + std::to_string(p.in_h) + "x" + std::to_string(p.in_w) +
             " (HxW) is outside the KPU's range: H " + std::to_string(min_hw) + ".." +
             std::to_string(max_h) + ", W " + std::to_string(min_hw) + ".." + std::to_string(max_w),
         n);
  }
  if (p.out_h < min_hw || p.out_w < min_hw) {
    fail(Errc::kInvalidLayerConfig,
         "output map " + std::to_string(p.out_h) + "x" + std::to_string(p.out_w) +
             " is smaller than the KPU's minimum " + std::to_string(min_hw) + "x" +
             std::to_string(min_hw),
         n);
  }
}

Lowerer::ConvUnit Lowerer::conv_unit(const std::vector<int>& nodes) const {
  ConvUnit u;
  for (int i : nodes) {
    const Node& n = node(i);
    switch (n.kind) {
      case NodeKind::kZeroPad:
        u.pad = &n;
        break;
      case NodeKind::kConv2D:
      case NodeKind::kDepthwiseConv2D:
        u.conv = &n;
        break;
      case NodeKind::kBatchNorm:
        u.bn = &n;
        break;
      case NodeKind::kActivation:
        u.act = &n;
        break;
      default:
        u.pool = &n;
        break;
    }
  }
  return u;
}

QuantParam Lowerer::peek_quant(TensorId t) const {
  const Forms& f = forms_[static_cast<std::size_t>(t)];
  if (f.has_q) return f.q;
  const Range r = ranges_.at(static_cast<std::size_t>(t));
  auto p = quant_param_from_range(r.min, r.max);
  return p.ok() ? p.value() : QuantParam{};
}

std::optional<Lowerer::KpuRefusal> Lowerer::kpu_conv_refusal(const ConvUnit& u) const {
  const Node& c = *u.conv;
  const TensorId tin = u.pad ? u.pad->inputs[0] : c.inputs[0];
  const Shape& ins = g_.shape(tin);
  if (ins.rank() != 3) return std::nullopt;  // lower_kpu_conv's error
  auto refuse = [](Errc code, std::string why, std::string change) {
    return std::optional<KpuRefusal>(KpuRefusal{code, std::move(why), std::move(change)});
  };
  const auto dims = [](std::int32_t a, std::int32_t b) {
    return std::to_string(a) + "x" + std::to_string(b);
  };
  if (c.kernel_h != c.kernel_w || (c.kernel_h != 1 && c.kernel_h != 3)) {
    return refuse(Errc::kInvalidLayerConfig,
                  "kernel_size [" + std::to_string(c.kernel_h) + "," + std::to_string(c.kernel_w) +
                      "] is not supported: the KPU runs 1x1 and 3x3 kernels",
                  "use 1x1 or 3x3 kernels (a 5x5 is two stacked 3x3 convs, a 7x7 three)");
  }
  if (c.dilation_h != 1 || c.dilation_w != 1) {
    return refuse(Errc::kInvalidLayerConfig, "dilation_rate must be 1 on the KPU",
                  "use dilation_rate 1 (a larger kernel or stacked 3x3 convs)");
  }
  Padding4 pd = c.pad;
  if (u.pad) {
    pd += u.pad->pad;
  }
  const std::int32_t k = c.kernel_h, H = ins.h(), W = ins.w();
  const bool dw = c.kind == NodeKind::kDepthwiseConv2D && c.depth_multiplier == 1;
  // 1x1 on a 1x1 map: the dense form on the CPU (lower_kpu_conv).
  if (!dw && k == 1 && H == 1 && W == 1 && c.stride_h == 1 && c.stride_w == 1 && !u.pool &&
      pd.is_zero())
    return std::nullopt;
  const std::string pads = "(top " + std::to_string(pd.top) + ", bottom " +
                           std::to_string(pd.bottom) + ", left " + std::to_string(pd.left) +
                           ", right " + std::to_string(pd.right) + ")";
  if (c.stride_h != c.stride_w || (c.stride_h != 1 && c.stride_h != 2)) {
    return refuse(Errc::kInvalidLayerConfig,
                  "strides [" + std::to_string(c.stride_h) + "," + std::to_string(c.stride_w) +
                      "]: the KPU supports 1 and 2",
                  "use equal strides of 1 or 2");
  }
  const bool sym1 = pd.top == 1 && pd.bottom == 1 && pd.left == 1 && pd.right == 1;
  const bool after1 = pd.top == 0 && pd.bottom == 1 && pd.left == 0 && pd.right == 1;
  if (k == 1 && !pd.is_zero()) {
    return refuse(Errc::kInvalidLayerConfig,
                  "a 1x1 conv with zero padding is not supported on the KPU",
                  "remove the padding before the 1x1 conv");
  }
  if (c.stride_h == 1) {
    if (k == 3 && !sym1) {
      return refuse(Errc::kInvalidLayerConfig,
                    "3x3 stride-1 conv with padding " + pads +
                        ": the KPU always pads 1 pixel on every side; use padding='same'",
                    "use padding='same' (1 pixel on every side)");
    }
  } else {
    const bool even = H % 2 == 0 && W % 2 == 0;
    const bool valid_odd = k == 3 && pd.is_zero() && H % 2 == 1 && W % 2 == 1;
    if (k == 1 || sym1) {
      if (!even) {
        return refuse(Errc::kInvalidLayerConfig,
                      "stride 2 on an odd-sized map " + dims(H, W) +
                          ": Keras keeps ceil(n/2) rows, the KPU's 2x2 sampling floor(n/2)",
                      "give the stride-2 conv an even-sized input map");
      }
    } else if (!((after1 && even) || valid_odd)) {
      return refuse(Errc::kInvalidLayerConfig,
                    "stride-2 conv with padding " + pads + " on a " + dims(H, W) +
                        " map cannot be computed exactly on the KPU (supported: pad 1 on every "
                        "side, TF 'same' on even sizes, or 'valid' 3x3 on odd sizes)",
                    "use pad 1 on every side, TF 'same' on an even-sized map or 'valid' on an "
                    "odd-sized one");
    }
  }
  // The chip's limits (check_kpu_geometry) on what lower_kpu_conv would emit.
  const bool model_input = std::find(g_.inputs.begin(), g_.inputs.end(), tin) != g_.inputs.end();
  const std::int32_t cin = ins.c();
  if (!dw && cin > 1024) {
    return refuse(
        Errc::kInvalidLayerConfig,
        std::to_string(cin) + " input channels: a KPU layer sums at most 1024 input channels",
        "reduce the input channels of this layer to 1024");
  }
  const std::string range =
      "H " + std::to_string(target_.min_map) + ".." + std::to_string(target_.max_map_h) + ", W " +
      std::to_string(target_.min_map) + ".." + std::to_string(target_.max_map_w);
  if (H > target_.max_map_h || W > target_.max_map_w || (model_input && small(ins))) {
    return refuse(Errc::kInvalidLayerConfig,
                  "input map " + dims(H, W) + " (HxW) is outside the KPU's range: " + range,
                  "give the conv an input map within " + range);
  }
  if (small(ins) && !model_input) {
    if (c.stride_h != 1 || u.pool) {
      return refuse(Errc::kInvalidLayerConfig,
                    "stride 2 or a fused pooling on the " + dims(H, W) +
                        " map (under the KPU's 4x4) is not supported: the KPU computes at least "
                        "4x4 outputs; a stride-1 conv fits",
                    "use a stride-1 conv without pooling on maps under 4x4");
    }
    const Forms& fin = forms_[static_cast<std::size_t>(tin)];
    const bool keep_sub = k == 1 && fin.kpu >= 0 && fin.sub != Sub::kNone;
    const bool padded = fin.kpu >= 0 && fin.pad_h > 0 && (k == 1 || fin.pad_zero);
    if (!keep_sub && !padded && peek_quant(tin).zero_point != 0) {
      return refuse(Errc::kQuantization,
                    "a " + dims(k, k) + " conv on the " + dims(H, W) +
                        " map (under the KPU's 4x4) runs on the map zero-padded to 4x4, which "
                        "needs real 0 at code 0; this map has negative values (zero point " +
                        std::to_string(peek_quant(tin).zero_point) + ")",
                    "put a ReLU-family activation before it");
    }
  }
  return std::nullopt;
}

void Lowerer::input_normalization(std::int32_t cin, const Node& c, TensorId tin,
                                  std::vector<double>& mean, std::vector<double>& stdv) const {
  // Per-channel (mean, std) of real = (pixel - mean) / std. Uniform ranges apply to any channel
  // count; explicit per-channel mean/std needs 3 values for 3 channels (or equal values).
  const auto& pre = opt_.preprocess;
  mean.assign(static_cast<std::size_t>(cin), 0.0);
  stdv.assign(static_cast<std::size_t>(cin), 1.0);
  const bool uniform_mean_std = pre.mean[0] == pre.mean[1] && pre.mean[1] == pre.mean[2] &&
                                pre.std[0] == pre.std[1] && pre.std[1] == pre.std[2];
  if (pre.scale == PixelScale::kMeanStd && cin != 3 && !uniform_mean_std)
    fail(Errc::kInvalidLayerConfig,
         "the input has " + std::to_string(cin) +
             " channels but --input-range gives 3 different per-channel mean/std values: "
             "give one mean and one std for all channels",
         c);
  for (int i = 0; i < cin; ++i) {
    const PixelMapping pm = pixel_mapping(pre, cin, i);
    mean[static_cast<std::size_t>(i)] = pm.mean;
    stdv[static_cast<std::size_t>(i)] = pm.std;
  }
  // The leading affine layers folded into the preprocessing (run(): their channel count is
  // the input's, so the fold applies).
  if (tin == rescaled_input_) in_affine_.fold_into(mean, stdv);
}

std::pair<int, QuantParam> Lowerer::normalize_input(const Node& c, TensorId tin, int in_buf,
                                                    const std::vector<double>& mean,
                                                    const std::vector<double>& stdv) {
  if (auto it = normalized_.find(tin); it != normalized_.end()) return it->second;
  const Shape& s = g_.shape(tin);
  ConvPlan p;
  p.node = &c;
  p.in_h = p.out_h = s.h();
  p.in_w = p.out_w = s.w();
  p.in_c = p.out_c = s.c();
  p.kernel = 1;
  p.depthwise = true;
  p.in_buf = in_buf;
  p.in_q = QuantParam{1.0, 0, 255};  // real = p
  PixelNormalization pn = pixel_normalization(mean, stdv);
  p.weights = std::move(pn.weights);
  p.bias = std::move(pn.bias);
  auto q = quant_param_from_range(pn.lo, pn.hi);
  if (!q.ok()) throw ErrorException(std::move(q).error().with_layer(c.layer_ref()));
  p.out_q = *q;
  // The folded leading layers computed this map in the float model (emc-compare compares it).
  if (tin == rescaled_input_)
    p.sources = {g_.nodes[static_cast<std::size_t>(g_.producer(tin))].source.name};
  p.note =
      "input normalization (p - mean_c) / std_c as a layer of its own: no pixel maps to 0.0 "
      "in every channel, so the next conv pads this map's 0.0 instead";
  int out_buf = -1;
  emit_kpu_conv(p, out_buf);
  return normalized_[tin] = {out_buf, p.out_q};
}

int Lowerer::emit_kpu_conv(const ConvPlan& p, int& out_buf) {
  constexpr std::int32_t kMaxChannels = 1024;
  split_parts_.clear();
  conv_estimate_ = RoundingEstimate{};
  conv_origin_.clear();
  if (p.out_c <= kMaxChannels || (!p.depthwise && p.in_c > kMaxChannels))
    return emit_kpu_conv_layer(p, out_buf, 0, 0);
  // Output channels in slices of <= 1024, each a multiple of 4 so that every slice starts on a
  // 64-byte row of the map (4 channels share a row when W <= 16). A depthwise slice also reads
  // only its own input channels.
  const std::int32_t parts = (p.out_c + kMaxChannels - 1) / kMaxChannels;
  const std::int32_t slice = ((p.out_c + parts - 1) / parts + 3) / 4 * 4;
  out_buf = kpu_map_buffer(p.out_h, p.out_w, p.out_c, p.node->layer_ref(), p.out_extra_rows);
  const std::size_t per = p.weights.size() / static_cast<std::size_t>(p.out_c);
  std::vector<std::pair<int, std::int32_t>> done;
  int idx = -1;
  for (std::int32_t c0 = 0; c0 < p.out_c; c0 += slice) {
    const std::int32_t c1 = std::min(p.out_c, c0 + slice);
    ConvPlan q = p;
    if (c0 > 0) q.border_error = 0;  // stated once, by the first part
    q.out_c = c1 - c0;
    if (p.depthwise) q.in_c = q.out_c;
    if (p.depthwise && p.moments) q.moments = slice_moments(*p.moments, c0, c1);
    q.weights.assign(p.weights.begin() + static_cast<std::ptrdiff_t>(per * c0),
                     p.weights.begin() + static_cast<std::ptrdiff_t>(per * c1));
    q.bias.assign(p.bias.begin() + c0, p.bias.begin() + c1);
    if (p.depthwise && !p.in_mean.empty())
      q.in_mean.assign(p.in_mean.begin() + c0, p.in_mean.begin() + c1);
    q.note = p.note + (p.note.empty() ? "" : "; ") + "output channels " + std::to_string(c0) +
             ".." + std::to_string(c1 - 1) + " of " + std::to_string(p.out_c) +
             " (the KPU computes at most 1024 per layer)";
    const std::uint64_t in_rows = p.depthwise ? rows_before(p.in_w, p.in_h, c0) : 0;
    idx = emit_kpu_conv_layer(q, out_buf, in_rows, rows_before(p.out_w, p.out_h, c0));
    done.emplace_back(idx, c0);
  }
  split_parts_ = std::move(done);
  return idx;
}

int Lowerer::emit_kpu_conv_layer(const ConvPlan& p, int& out_buf, std::uint64_t in_rows,
                                 std::uint64_t out_rows) {
  const Node& n = *p.node;
  check_kpu_geometry(p);
  KpuConvSpec spec;
  spec.kernel = p.kernel;
  spec.depthwise = p.depthwise;
  spec.in_channels = p.in_c;
  spec.out_channels = p.out_c;
  spec.weights = p.weights;
  spec.bias = p.bias;
  spec.input = p.in_q;
  spec.output = p.out_q;
  spec.weight_bits = opt_.weight_bits;
  spec.per_channel = opt_.per_channel;
  spec.auto_granularity = opt_.auto_per_layer;
  spec.input_mean = p.in_mean;
  spec.in_h = p.in_h;
  spec.in_w = p.in_w;
  auto args = derive_kpu_conv_args(spec);
  if (!args.ok()) throw ErrorException(std::move(args).error().with_layer(n.layer_ref()));
  if (!opt_.per_channel && args->worst_weight_sqnr_db < kPerLayerWeightWarnDb) {
    std::ostringstream w;
    w << "layer '" << n.source.name << "' (" << n.source.class_name
      << "): one weight scale per layer represents output channel " << args->worst_weight_channel
      << " at only " << std::fixed << std::setprecision(1) << args->worst_weight_sqnr_db
      << " dB (its weights are much smaller than the layer's largest); --per-channel gives every "
         "channel its own scale";
    out_.warnings.push_back(w.str());
  }
  ActivationFitSpec fs;
  fs.activation = p.act;
  fs.bn_scale = args->bn_scale;
  fs.output = p.out_q;
  fs.bn_min = args->bn_min;
  fs.bn_max = args->bn_max;
  auto fit = fit_activation(fs);
  if (!fit.ok()) throw ErrorException(std::move(fit).error().with_layer(n.layer_ref()));
  if (fit->max_error_lsb > 1.0) {
    std::ostringstream w;
    w << "layer '" << n.source.name << "' (" << n.source.class_name << "): activation "
      << to_string(p.act) << " fitted to 16 segments with worst-case error " << fit->max_error_lsb
      << " LSB";
    out_.warnings.push_back(w.str());
  }
  auto load = kpu_weight_load(p.kernel, p.depthwise, p.in_c, p.out_c, opt_.weight_bits / 8);
  if (!load.ok()) throw ErrorException(std::move(load).error().with_layer(n.layer_ref()));

  format::KpuLayerFields f;
  KpuGeometry geo;
  geo.in_w = p.in_w;
  geo.in_h = p.in_h;
  geo.in_c = p.in_c;
  geo.out_w = p.out_w;
  geo.out_h = p.out_h;
  geo.out_c = p.out_c;
  geo.kernel = p.kernel;
  geo.depthwise = p.depthwise;
  geo.pool_type = p.pool_type;
  auto st = fill_kpu_geometry(geo, load.value(), f);
  if (!st.ok()) throw ErrorException(std::move(st).error().with_layer(n.layer_ref()));
  apply_conv_args(args.value(), f);

  format::ConvBody body;
  body.layer_words = format::pack_kpu_layer(f);
  body.weights = weight_bytes_of(args->weights);
  for (const auto& bn : args->bn) body.bn_words.push_back(format::pack_kpu_batchnorm(bn));
  body.act_words = format::pack_kpu_activation(fit->table);

  if (out_buf < 0)
    out_buf = kpu_map_buffer(p.out_h, p.out_w, p.out_c, n.layer_ref(), p.out_extra_rows);
  LayerInfo info;
  info.sources = p.sources;
  info.note = p.note;
  if (p.moments) {
    const RoundingEstimate e =
        estimate_kpu_rounding_error(p.weights, p.bias, p.depthwise, p.kernel, p.in_c, args->weights,
                                    args->bias_correction, p.in_q, p.out_q, *p.moments, n);
    info.rounding_error = e.worst;
    info.output_range = e.range;
    const std::string origin =
        add_precision_warning(e.warning, p.moments->unresolved_from, n.source.name);
    if (!origin.empty()) conv_origin_ = origin;
    auto& ce = conv_estimate_;
    ce.err_mean.insert(ce.err_mean.end(), e.err_mean.begin(), e.err_mean.end());
    ce.err_var.insert(ce.err_var.end(), e.err_var.begin(), e.err_var.end());
    ce.err_bound.insert(ce.err_bound.end(), e.err_bound.begin(), e.err_bound.end());
    // The border shift its input carries (a folded normalization's, through linear convs).
    for (double bound : e.err_bound)
      if (bound > info.border_error.value_or(0.0)) info.border_error = bound;
    ce.lo = e.lo;
    ce.hi = e.hi;
  }
  if (p.border_error > info.border_error.value_or(0.0)) info.border_error = p.border_error;
  info.in_shape = {p.in_h, p.in_w, p.in_c};
  info.out_shape = {p.out_h, p.out_w, p.out_c};
  info.out_scale = p.out_q.scale;
  info.out_bias = p.out_q.bias();
  info.weight_bytes = body.weights.size() + body.bn_words.size() * 8 + 144;
  info.act_fit_error_lsb = fit->max_error_lsb;
  info.activation = to_string(p.act);
  info.kpu_in_bytes = out_.buffers[static_cast<std::size_t>(p.in_buf)].bytes;
  info.kpu_out_bytes = out_.buffers[static_cast<std::size_t>(out_buf)].bytes;
  // Register patching: image_src_addr (+ the optional one-line shift) and image_dst_addr.
  auto set_field = [](bool src) {
    return [src](format::Layer& l, std::uint64_t a) {
      auto& b = std::get<format::ConvBody>(l.body);
      auto fl = b.fields();
      (src ? fl.image_src_addr : fl.image_dst_addr) = static_cast<std::int64_t>(a);
      b.layer_words = format::pack_kpu_layer(fl);
    };
  };
  const int idx = add_layer(LayerType::kK210Conv, std::move(body), info,
                            {{p.in_buf, p.src_shift_rows + in_rows, set_field(true)},
                             {out_buf, out_rows, set_field(false)}});
  out_.layers.back().kpu_in = p.in_buf;
  out_.layers.back().kpu_out = out_buf;
  return idx;
}

bool Lowerer::emit_sampled_in_groups(const ConvPlan& p, Sub sub, TensorId out) {
  const auto map_bytes = [](std::int32_t h, std::int32_t w, std::int32_t c) {
    return format::kpu_map_bytes(std::uint32_t(w), std::uint32_t(h), std::uint32_t(c));
  };
  const std::uint64_t extra = std::uint64_t{p.out_extra_rows} * 64;
  const std::uint64_t in_bytes = out_.buffers[static_cast<std::size_t>(p.in_buf)].bytes;
  const std::uint64_t sampled = map_bytes(p.out_h / 2, p.out_w / 2, p.out_c);
  const auto fits = [&](std::int32_t channels) {
    return in_bytes + map_bytes(p.out_h, p.out_w, channels) + extra + sampled <=
           format::kKpuRamBytes;
  };
  if (fits(p.out_c) && p.out_c <= 1024) return false;
  // Smallest group (a multiple of 4 channels, so slices start on a row) count that fits.
  std::int32_t groups = (p.out_c + 1023) / 1024;
  std::int32_t slice = 0;
  for (;; ++groups) {
    slice = ((p.out_c + groups - 1) / groups + 3) / 4 * 4;
    if (fits(slice) || slice <= 4) break;
  }
  const Node& n = *p.node;
  int out_buf = kpu_map_buffer(p.out_h / 2, p.out_w / 2, p.out_c, n.layer_ref());
  const std::size_t per = p.weights.size() / static_cast<std::size_t>(p.out_c);
  std::vector<std::pair<int, std::int32_t>> parts;
  int idx = -1;
  for (std::int32_t c0 = 0; c0 < p.out_c; c0 += slice) {
    const std::int32_t c1 = std::min(p.out_c, c0 + slice);
    const std::int32_t nc = c1 - c0;
    const std::string range = "output channels " + std::to_string(c0) + ".." +
                              std::to_string(c1 - 1) + " of " + std::to_string(p.out_c);
    ConvPlan q = p;
    if (c0 > 0) q.border_error = 0;  // stated once, by the first part
    q.out_c = nc;
    if (p.depthwise) q.in_c = nc;
    if (p.depthwise && p.moments) q.moments = slice_moments(*p.moments, c0, c1);
    q.weights.assign(p.weights.begin() + static_cast<std::ptrdiff_t>(per * c0),
                     p.weights.begin() + static_cast<std::ptrdiff_t>(per * c1));
    q.bias.assign(p.bias.begin() + c0, p.bias.begin() + c1);
    if (p.depthwise && !p.in_mean.empty())
      q.in_mean.assign(p.in_mean.begin() + c0, p.in_mean.begin() + c1);
    q.note = p.note + "; " + range + " at full resolution (the whole map does not fit in KPU RAM)";
    int full = -1;
    emit_kpu_conv_layer(q, full, p.depthwise ? rows_before(p.in_w, p.in_h, c0) : 0, 0);

    ConvPlan s;
    s.node = p.node;
    s.sources = p.sources;
    s.in_h = p.out_h;
    s.in_w = p.out_w;
    s.in_c = s.out_c = nc;
    s.out_h = p.out_h / 2;
    s.out_w = p.out_w / 2;
    s.kernel = 1;
    s.pool_type = sub == Sub::kLeftTop ? 5 : 6;
    s.src_shift_rows =
        sub == Sub::kRightTopShift ? format::kpu_row_layout(std::uint32_t(p.out_w)).row_len : 0;
    s.in_buf = full;
    s.weights.assign(static_cast<std::size_t>(nc) * nc, 0.0f);
    for (int c = 0; c < nc; ++c) s.weights[static_cast<std::size_t>(c) * nc + c] = 1.0f;
    s.bias.assign(static_cast<std::size_t>(nc), 0.0f);
    s.in_q = s.out_q = p.out_q;
    s.note = "stride-2 sampling of " + range + " (identity 1x1, pool " +
             std::to_string(s.pool_type) + (s.src_shift_rows ? ", input shifted one line" : "") +
             ")";
    idx = emit_kpu_conv_layer(s, out_buf, 0, rows_before(s.out_w, s.out_h, c0));
    parts.emplace_back(idx, c0);
  }
  Forms& fo = forms_[static_cast<std::size_t>(out)];
  fo.kpu = out_buf;
  fo.kpu_writer = idx;
  fo.writer_parts = std::move(parts);
  fo.q = p.out_q;
  fo.has_q = true;
  fo.sub = Sub::kNone;
  return true;
}

// An exact identity 1x1 KPU conv that applies a pending subsample of `t` (same quantization in
// and out: the linear table reproduces every code, see docs/converter_k210.md).
void Lowerer::materialize_subsample(TensorId t, const Node& ctx) {
  Forms& f = forms_[static_cast<std::size_t>(t)];
  const Shape& s = g_.shape(t);
  ConvPlan p;
  p.node = &ctx;
  p.in_h = f.full_h;
  p.in_w = f.full_w;
  p.in_c = p.out_c = s.c();
  p.out_h = s.h();
  p.out_w = s.w();
  p.kernel = 1;
  p.pool_type = f.sub == Sub::kLeftTop ? 5 : 6;
  p.src_shift_rows =
      f.sub == Sub::kRightTopShift ? format::kpu_row_layout(std::uint32_t(f.full_w)).row_len : 0;
  p.in_buf = f.kpu;
  p.weights.assign(static_cast<std::size_t>(s.c()) * s.c(), 0.0f);
  for (int c = 0; c < s.c(); ++c) p.weights[static_cast<std::size_t>(c) * s.c() + c] = 1.0f;
  p.in_q = p.out_q = quant_of(t);
  p.note = std::string("stride-2 sampling of '") + g_.tensor(t).name + "' (identity 1x1, pool " +
           std::to_string(p.pool_type) + (p.src_shift_rows ? ", input shifted one line" : "") + ")";
  int ob = -1;
  const int idx = emit_kpu_conv(p, ob);
  f.kpu = ob;
  f.kpu_writer = idx;
  f.writer_parts = split_parts_;
  f.sub = Sub::kNone;
}

InputMoments Lowerer::kpu_input_moments(TensorId t, const QuantParam& q) const {
  const Range& r = ranges_.at(static_cast<std::size_t>(t));
  InputMoments m = moments_of(r);
  const Forms& f = forms_[static_cast<std::size_t>(t)];
  m.unresolved_from = f.unresolved_from;
  if (f.has_q && f.q == q && f.err_mean.size() == r.channel_mean.size()) {
    m.err_mean = f.err_mean;
    m.err_var = f.err_var;
    m.err_bound = f.err_bound;
  } else {
    grid_rounding_error(r, q.scale, q.real_min(), q.real_max(), m.err_mean, m.err_var);
  }
  return m;
}

void Lowerer::lower_kpu_conv(const LayerMatch& unit) {
  const std::vector<int>& nodes = unit.nodes;
  const ConvUnit u = conv_unit(nodes);
  const Node* pad = u.pad;
  const Node* bn = u.bn;
  const Node* actn = u.act;
  const Node* pool = u.pool;
  const Node& c = *u.conv;
  if (bn && !c.activation.is_linear()) {
    // conv(activation) -> BatchNormalization: the KPU applies its BN stage before the activation,
    // so the BN cannot be fused. The conv runs alone; the BN (with any activation after it) is a
    // per-channel affine map on the CPU (CHANNELWISE_DEQUANTIZE, exact in float), then the pool.
    std::vector<int> conv_nodes, bn_nodes;
    int pool_node = -1;
    for (int i : nodes) {
      const NodeKind k = g_.nodes[static_cast<std::size_t>(i)].kind;
      if (k == NodeKind::kZeroPad || k == NodeKind::kConv2D || k == NodeKind::kDepthwiseConv2D)
        conv_nodes.push_back(i);
      else if (k == NodeKind::kBatchNorm || k == NodeKind::kActivation)
        bn_nodes.push_back(i);
      else
        pool_node = i;
    }
    lower_kpu_conv(LayerMatch{unit.rule, unit.name, conv_nodes});
    lower_batch_norm(LayerMatch{unit.rule, unit.name, bn_nodes});
    if (pool_node >= 0) emit_pool(node(pool_node));
    return;
  }
  if (const auto r = kpu_conv_refusal(u)) {
    if (target_.cpu_conv_fallback) return lower_conv_on_cpu(u, nodes, *r);
    fail(r->code, r->why + std::string(target_.conv_refusal_note), c);
  }
  std::vector<std::string> sources;
  for (int i : nodes) {
    const auto& sl = g_.nodes[static_cast<std::size_t>(i)].source_layers;
    if (sl.empty()) sources.push_back(g_.nodes[static_cast<std::size_t>(i)].source.name);
    sources.insert(sources.end(), sl.begin(), sl.end());
  }
  const TensorId tin = pad ? pad->inputs[0] : c.inputs[0];
  const Shape& ins = g_.shape(tin);
  // A depthwise conv with depth_multiplier m > 1 runs as a normal conv whose weights are zero
  // outside each output channel's own input channel (exact: zeros quantize to Zw).
  const bool dw_multi = c.kind == NodeKind::kDepthwiseConv2D && c.depth_multiplier > 1;
  const bool dw = c.kind == NodeKind::kDepthwiseConv2D && !dw_multi;
  if (ins.rank() != 3) fail(Errc::kShapeMismatch, "expects a [H, W, C] input", c);
  const std::int32_t cin = ins.c();
  const std::int32_t cout =
      c.kind == NodeKind::kDepthwiseConv2D ? cin * c.depth_multiplier : c.filters;
  Padding4 pd = c.pad;
  if (pad) {
    pd += pad->pad;
  }
  // Weights in KPU order, BN folded, activation composed.
  const std::int32_t k = c.kernel_h;
  std::vector<float> w;
  std::vector<float> b(static_cast<std::size_t>(cout), 0.0f);
  if (c.has_bias()) b = c.bias;
  if (dw) {
    w.resize(static_cast<std::size_t>(cout) * k * k);
    for (int ch = 0; ch < cout; ++ch)
      for (int t = 0; t < k * k; ++t)
        w[static_cast<std::size_t>(ch) * k * k + t] =
            c.kernel[static_cast<std::size_t>(t) * cin + ch];
  } else if (dw_multi) {
    const int m = c.depth_multiplier;
    w.assign(static_cast<std::size_t>(cout) * cin * k * k, 0.0f);
    for (int ch = 0; ch < cin; ++ch)
      for (int j = 0; j < m; ++j)
        for (int t = 0; t < k * k; ++t)
          w[(static_cast<std::size_t>(ch * m + j) * cin + ch) * k * k + t] =
              c.kernel[(static_cast<std::size_t>(t) * cin + ch) * m + j];
  } else {
    w.resize(static_cast<std::size_t>(cout) * cin * k * k);
    for (int o = 0; o < cout; ++o)
      for (int i = 0; i < cin; ++i)
        for (int t = 0; t < k * k; ++t)
          w[(static_cast<std::size_t>(o) * cin + i) * k * k + t] =
              c.kernel[(static_cast<std::size_t>(t) * cin + i) * cout + o];
  }
  Activation act = c.activation;
  if (bn) {
    if (!act.is_linear()) {
      fail(Errc::kUnsupportedLayer,
           "a BatchNormalization after a non-linear activation cannot run in the KPU's "
           "conv -> BN -> activation order",
           *bn);
    }
    const std::size_t per = w.size() / static_cast<std::size_t>(cout);
    for (int o = 0; o < cout; ++o) {
      const double s = bn->gamma[o] / std::sqrt(double(bn->variance[o]) + bn->epsilon);
      for (std::size_t i = 0; i < per; ++i) w[o * per + i] = static_cast<float>(w[o * per + i] * s);
      b[o] = static_cast<float>((b[o] - bn->mean[o]) * s + bn->beta[o]);
    }
    act = bn->activation;
  }
  if (actn) {
    if (!act.is_linear()) fail(Errc::kUnsupportedLayer, "two activations in a row", *actn);
    act = actn->activation;
  }
  if (act.kind == ActivationKind::kRelu && !std::isfinite(act.threshold)) {
    fail(Errc::kInvalidLayerConfig, "non-finite ReLU threshold", c);
  }

  // 1x1 conv on a 1x1 map (MobileNet's classifier after global pooling): a fully connected layer
  // on the CPU, exact in float (the KPU's minimum map is 4x4).
  const TensorId pre_pool_out = (actn ? actn : bn ? bn : &c)->output;
  if (!dw && k == 1 && ins.h() == 1 && ins.w() == 1 && c.stride_h == 1 && c.stride_w == 1 &&
      !pool && pd.is_zero()) {
    std::vector<float> kin(static_cast<std::size_t>(cin) * cout);
    for (int o = 0; o < cout; ++o)
      for (int i = 0; i < cin; ++i)
        kin[static_cast<std::size_t>(i) * cout + o] = w[static_cast<std::size_t>(o) * cin + i];
    lower_dense_like(c, kin, b, cout, act, tin, pre_pool_out, sources);
    return;
  }

  // Stride and padding -> the KPU's same-size conv + sampling.
  const std::int32_t H = ins.h(), W = ins.w();
  Sub sub = Sub::kNone;
  std::string note;
  const bool sym1 = pd.top == 1 && pd.bottom == 1 && pd.left == 1 && pd.right == 1;
  const bool after1 = pd.top == 0 && pd.bottom == 1 && pd.left == 0 && pd.right == 1;
  if (c.stride_h != 1) {  // the stride-2 forms kpu_conv_refusal admits
    const bool even = H % 2 == 0 && W % 2 == 0;
    const bool valid_odd = k == 3 && pd.is_zero() && H % 2 == 1 && W % 2 == 1;
    if (k == 1 || sym1) {
      sub = Sub::kLeftTop;
      note = "stride 2: full-resolution conv, left-top sampling";
    } else if ((after1 && even) || valid_odd) {
      // Both read rows/cols 2i..2i+2 of the input: the odd rows/cols of the KPU's pad-1 stride-1
      // map, floor(n/2) of them (TF: valid on odd n keeps (n-3)/2+1, pad-after on even n/2).
      if (opt_.approx_stride2 && !valid_odd) {
        sub = Sub::kLeftTop;
        note = "stride 2 APPROXIMATED: pad-after taken as symmetric pad (--approx-stride2)";
        out_.warnings.push_back("layer '" + c.source.name + "' (" + c.source.class_name +
                                "): --approx-stride2: TF 'same' stride-2 padding (0 before, 1 "
                                "after) computed with the KPU's pad 1 before: border outputs "
                                "differ from Keras");
      } else {
        sub = Sub::kRightTopShift;
        note = valid_odd ? "stride 2 (valid, odd size): full-resolution conv, odd rows/cols sampled"
                         : "stride 2 (pad after): full-resolution conv, odd rows/cols sampled";
      }
    }
  }

  // Input: consume a pending subsample when this is a plain 1x1 conv (sampling commutes with it).
  Forms& fin = forms_[static_cast<std::size_t>(tin)];
  ConvPlan p;
  p.node = &c;
  p.kernel = k;
  p.depthwise = dw;
  p.in_c = cin;
  p.out_c = cout;
  p.act = act;
  p.sources = sources;
  p.in_h = H;
  p.in_w = W;
  // A map under the KPU's 4x4 (k210): a 1x1 conv runs on the stored map as it is (at full
  // resolution with the stride 2 still pending, which commutes with it, or on the padded map);
  // a 3x3 'same' conv on the map zero-padded to 4x4 (its outputs in the top-left corner read
  // exactly Keras's zero padding). Either way its output stays padded / pending.
  enum class SmallMode { kNone, kKeepSub, kPadded } small_mode = SmallMode::kNone;
  const bool model_input = std::find(g_.inputs.begin(), g_.inputs.end(), tin) != g_.inputs.end();
  if (small(ins) && !model_input) {
    if (k == 1 && fin.kpu >= 0 && fin.sub != Sub::kNone) {
      p.in_h = fin.full_h;
      p.in_w = fin.full_w;
      small_mode = SmallMode::kKeepSub;
      note = "1x1 conv at full resolution " + std::to_string(p.in_h) + "x" +
             std::to_string(p.in_w) +
             " (the stride-2 sampling, which commutes with it, stays "
             "pending: the sampled map is under the KPU's 4x4)";
    } else {
      if (!(k == 1 && fin.kpu >= 0 && fin.pad_h > 0)) ensure_small_kpu(tin, c);
      p.in_h = fin.pad_h;
      p.in_w = fin.pad_w;
      small_mode = SmallMode::kPadded;
      note = std::to_string(H) + "x" + std::to_string(W) + " map computed on a " +
             std::to_string(p.in_h) + "x" + std::to_string(p.in_w) + " KPU map (top-left corner)" +
             (k == 3 ? ", the rest zero: Keras's zero padding" : "");
    }
    p.in_buf = fin.kpu;
  } else if (fin.sub != Sub::kNone) {
    if (!dw && k == 1 && sub == Sub::kNone && !pool) {
      p.in_h = fin.full_h;
      p.in_w = fin.full_w;
      p.pool_type = fin.sub == Sub::kLeftTop ? 5 : 6;
      p.src_shift_rows = fin.sub == Sub::kRightTopShift
                             ? format::kpu_row_layout(std::uint32_t(fin.full_w)).row_len
                             : 0;
      note = std::string("takes the previous layer's stride-2 sampling (pool ") +
             std::to_string(p.pool_type) +
             (p.src_shift_rows ? ", input read one line later)" : ")");
    } else {
      materialize_subsample(tin, c);
    }
  }
  if (small_mode == SmallMode::kNone) {
    ensure_kpu(tin, c);
    p.in_buf = fin.kpu;
  }
  // Input quantization; the model input arrives as raw pixels p: real = (p - mean_c) / std_c is
  // folded into the weights (w / std_c) and bias (Σ w/std_c · (Zx - mean_c)), with Zx = the
  // nearest integer to the mean as the code padded taps read.
  if (kpu_input_ && (tin == rescaled_input_ ||
                     std::find(g_.inputs.begin(), g_.inputs.end(), tin) != g_.inputs.end())) {
    std::vector<double> mean, stdv;
    input_normalization(cin, c, tin, mean, stdv);
    // Padding reads pixel zx: within half a pixel of every channel's mean the fold's border error
    // is that of the pixel grid itself (warned below); further off, the normalization is a layer
    // of its own and this conv reads its map like any other.
    bool far = false;
    p.in_q.scale = 1.0;
    p.in_q.zero_point = padding_pixel(mean, &far);
    const bool own_layer = k == 3 && far && !pd.is_zero();  // (valid odd stride 2: no pad read)
    if (own_layer) std::tie(p.in_buf, p.in_q) = normalize_input(c, tin, p.in_buf, mean, stdv);
    bool inexact = false;
    const std::size_t per = static_cast<std::size_t>(k) * k * (dw ? 1 : cin);
    double border = 0;
    for (int o = 0; o < cout && !own_layer; ++o) {
      double add = 0, off = 0;
      for (std::size_t t = 0; t < per; ++t) {
        const int ic = dw ? o : static_cast<int>(t / (static_cast<std::size_t>(k) * k));
        float& wv = w[o * per + t];
        wv = static_cast<float>(wv / stdv[ic]);
        add += double(wv) * (p.in_q.zero_point - mean[ic]);
        off += std::fabs(double(wv) * (p.in_q.zero_point - mean[ic]));
        if (k == 3 && !pd.is_zero() && std::fabs(p.in_q.zero_point - mean[ic]) > 1e-9)
          inexact = true;
      }
      b[o] = static_cast<float>(b[o] + add);
      border = std::max(border, off);
    }
    if (inexact) {
      p.border_error = border;
      out_.warnings.push_back(border_pixel_warning(c, p.in_q.zero_point, mean, stdv));
    }
    const Range& rin = ranges_.at(static_cast<std::size_t>(tin));
    if (own_layer) {
      p.moments = moments_of(rin);
      grid_rounding_error(rin, p.in_q.scale, p.in_q.real_min(), p.in_q.real_max(),
                          p.moments->err_mean, p.moments->err_var);
    } else {
      p.moments = pixel_moments(rin, mean, stdv, p.in_q.zero_point);
    }
  } else {
    p.in_q = quant_of(tin);
    p.moments = kpu_input_moments(tin, p.in_q);
    if (opt_.bias_correction) p.in_mean = ranges_.at(static_cast<std::size_t>(tin)).channel_mean;
    if (p.in_mean.size() != static_cast<std::size_t>(p.in_c)) p.in_mean.clear();
  }
  p.weights = std::move(w);
  p.bias = std::move(b);

  // Output quantization and the pooling stage.
  TensorId final_out = pre_pool_out;
  p.out_q = quant_of(pre_pool_out);
  p.out_h = p.pool_type ? p.in_h / 2 : small_mode != SmallMode::kNone ? p.in_h : H;
  p.out_w = p.pool_type ? p.in_w / 2 : small_mode != SmallMode::kNone ? p.in_w : W;
  // A stride-2 output under 4x4 stays at full resolution, its sampling pending.
  const bool small_sampled = sub != Sub::kNone && small(g_.shape(pre_pool_out));
  bool pool_fused = false;
  if (pool && sub == Sub::kNone && !dw && p.pool_type == 0) {
    const bool zero_pad = pool->pad.is_zero();
    int pt = -1;
    const bool is_max = pool->kind == NodeKind::kMaxPool;
    if (zero_pad && pool->kernel_h == 2 && pool->kernel_w == 2 && pool->stride_h == 2 &&
        pool->stride_w == 2)
      pt = is_max ? 1 : 2;
    if (zero_pad && pool->kernel_h == 4 && pool->kernel_w == 4 && pool->stride_h == 4 &&
        pool->stride_w == 4)
      pt = is_max ? 3 : 4;
    // (An output under the KPU's minimum map leaves the pool to the CPU.)
    if (pt > 0 && std::min(H, W) / (pt >= 3 ? 4 : 2) >= target_.min_map) {
      const int win = pt >= 3 ? 4 : 2;
      p.pool_type = pt;
      p.out_h = H / win;
      p.out_w = W / win;
      pool_fused = true;
      final_out = pool->output;
      forms_[static_cast<std::size_t>(final_out)].q = p.out_q;
      forms_[static_cast<std::size_t>(final_out)].has_q = true;
      note = std::string(is_max ? "max" : "mean") + " pool " + std::to_string(win) + "x" +
             std::to_string(win) + " on the KPU" + (is_max ? "" : " (floor division)");
    }
  }
  if (sub == Sub::kLeftTop && !dw && !small_sampled) {
    p.pool_type = 5;
    p.out_h = H / 2;
    p.out_w = W / 2;
  }
  const bool deferred =
      sub == Sub::kRightTopShift || (sub == Sub::kLeftTop && (dw || small_sampled));
  if (deferred) {
    if (sub == Sub::kRightTopShift) {
      p.out_extra_rows = format::kpu_row_layout(std::uint32_t(W)).row_len;  // read one line past
    }
    note += dw ? " (depthwise: sampling moved to the consumer)" : " (sampling by the consumer)";
  }
  p.note = note;
  if (deferred && emit_sampled_in_groups(p, sub, final_out)) {
    if (pool && !pool_fused) emit_pool(*pool);
    return;
  }
  int ob = -1;
  const int idx = emit_kpu_conv(p, ob);
  Forms& fo = forms_[static_cast<std::size_t>(final_out)];
  fo.kpu = ob;
  fo.kpu_writer = idx;
  fo.writer_parts = split_parts_;
  fo.q = p.out_q;
  fo.has_q = true;
  // The error the output carries on: the estimate (a pre-activation error) through a linear or
  // ReLU-family activation, whose clamp stops it; another activation reshapes it (its rounding
  // alone is then carried). A pool or sampling keeps a near-constant channel's value.
  bool relu6 = false;
  const bool relu = relu_family(p.act, relu6);
  RoundingEstimate& ce = conv_estimate_;
  const Range& rout = ranges_.at(static_cast<std::size_t>(final_out));
  if (ce.err_mean.size() == static_cast<std::size_t>(p.out_c) && (relu || p.act.is_linear())) {
    if (relu) ce.clamp_low = 0.0;
    if (relu6) ce.clamp_high = 6.0;
    // A folded normalization's border shift: its border outputs are off by up to that much.
    if (ce.err_bound.size() == ce.err_mean.size())
      for (double& bound : ce.err_bound) bound += p.border_error;
    carried_error(ce, rout, p.out_q.scale, fo.err_mean, fo.err_var, fo.err_bound);
    fo.unresolved_from = conv_origin_;
  } else {
    fo.err_bound.clear();
    grid_rounding_error(rout, p.out_q.scale, p.out_q.real_min(), p.out_q.real_max(), fo.err_mean,
                        fo.err_var);
  }
  if (small_mode == SmallMode::kKeepSub) {
    fo.sub = fin.sub;
    fo.full_h = p.out_h;
    fo.full_w = p.out_w;
    for (const auto& wp : fo.writer_parts.empty()
                              ? std::vector<std::pair<int, std::int32_t>>{{idx, 0}}
                              : fo.writer_parts) {
      LayerInfo& li = out_.layers[static_cast<std::size_t>(wp.first)].info;
      li.sample_step = 2;
      li.sample_offset = fin.sub == Sub::kLeftTop ? 0 : 1;
    }
  } else if (small_mode == SmallMode::kPadded) {
    fo.pad_h = p.out_h;
    fo.pad_w = p.out_w;
    fo.pad_zero = false;
    for (const auto& wp : fo.writer_parts.empty()
                              ? std::vector<std::pair<int, std::int32_t>>{{idx, 0}}
                              : fo.writer_parts)
      out_.layers[static_cast<std::size_t>(wp.first)].info.padded_map = true;
  }
  if (deferred) {
    fo.sub = sub;
    fo.full_h = H;
    fo.full_w = W;
    // Tell the map readers (emc-compare) which pixels of the stored map are the tensor's.
    std::vector<std::pair<int, std::int32_t>> writers = fo.writer_parts;
    if (writers.empty()) writers.emplace_back(idx, 0);
    for (const auto& wp : writers) {
      LayerInfo& li = out_.layers[static_cast<std::size_t>(wp.first)].info;
      li.sample_step = 2;
      li.sample_offset = sub == Sub::kLeftTop ? 0 : 1;
    }
  }
  if (pool && !pool_fused) emit_pool(*pool);
}
}  // namespace emc::converter::detail
