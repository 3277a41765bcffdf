// One EMC int8 convolution layer as the lowerings emit it (emc_conv_layer.h).
#include "lower/emc_conv_layer.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "emc/format/emc_layers.h"
#include "lower/lowered.h"

namespace emc::converter::detail {
namespace {

[[noreturn]] void fail_at(const std::string& msg, const Node& node) {
  throw ErrorException(Error(Errc::kUnsupportedLayer, msg).with_layer(node.layer_ref()));
}

}  // namespace

Int8Quant int8_form(const QuantParam& q) {
  return Int8Quant{q.scale, q.zero_point - 128};
}

std::vector<float> emc_conv_weights(const Node& c, std::int32_t cin) {
  const std::int32_t kh = c.kernel_h, kw = c.kernel_w, kk = kh * kw;
  std::vector<float> w;
  if (c.kind == NodeKind::kDepthwiseConv2D) {
    const std::int32_t m = c.depth_multiplier, oc = cin * m;
    w.resize(static_cast<std::size_t>(oc) * kk);
    for (std::int32_t ch = 0; ch < cin; ++ch)
      for (std::int32_t j = 0; j < m; ++j)
        for (std::int32_t t = 0; t < kk; ++t)
          w[std::size_t(ch * m + j) * kk + t] = c.kernel[(std::size_t(t) * cin + ch) * m + j];
  } else {
    const std::int32_t oc = c.filters;
    w.resize(static_cast<std::size_t>(oc) * cin * kk);
    for (std::int32_t o = 0; o < oc; ++o)
      for (std::int32_t i = 0; i < cin; ++i)
        for (std::int32_t t = 0; t < kk; ++t)
          w[(std::size_t(o) * cin + i) * kk + t] = c.kernel[(std::size_t(t) * cin + i) * oc + o];
  }
  return w;
}

FloatConv depthwise_1x1_geometry(const Shape& s) {
  FloatConv fc;
  fc.geo.in_height = fc.geo.out_height = std::uint32_t(s.h());
  fc.geo.in_width = fc.geo.out_width = std::uint32_t(s.w());
  fc.geo.in_channels = fc.geo.out_channels = std::uint32_t(s.c());
  fc.geo.kernel_width = fc.geo.kernel_height = 1;
  fc.geo.stride_width = fc.geo.stride_height = 1;
  fc.geo.dilation_width = fc.geo.dilation_height = 1;
  fc.depthwise = true;
  return fc;
}

FloatConv float_conv_geometry(const Node& c, const Shape& in, const Shape& out,
                              const Padding4& pd) {
  const bool dw = c.kind == NodeKind::kDepthwiseConv2D;
  FloatConv fc;
  auto& g = fc.geo;
  g.in_height = std::uint32_t(in.h());
  g.in_width = std::uint32_t(in.w());
  g.in_channels = std::uint32_t(in.c());
  g.out_height = std::uint32_t(out.h());
  g.out_width = std::uint32_t(out.w());
  g.out_channels = std::uint32_t(dw ? in.c() * c.depth_multiplier : c.filters);
  g.kernel_height = std::uint32_t(c.kernel_h);
  g.kernel_width = std::uint32_t(c.kernel_w);
  g.stride_height = std::uint32_t(c.stride_h);
  g.stride_width = std::uint32_t(c.stride_w);
  g.dilation_height = std::uint32_t(c.dilation_h);
  g.dilation_width = std::uint32_t(c.dilation_w);
  g.pad_top = std::uint32_t(pd.top);
  g.pad_bottom = std::uint32_t(pd.bottom);
  g.pad_left = std::uint32_t(pd.left);
  g.pad_right = std::uint32_t(pd.right);
  g.depth_multiplier = dw ? std::uint32_t(c.depth_multiplier) : 1u;
  fc.depthwise = dw;
  return fc;
}

std::string int8_quant_note(const Int8Quant& q) {
  std::ostringstream s;
  s << "int8 scale " << q.scale << " zero point " << q.zero_point;
  return s.str();
}

Fixup fix_emc_conv(int buffer, bool in) {
  return Fixup{buffer, 0, [in](format::Layer& l, std::uint64_t a) {
                 auto& g = std::get<format::EmcConv2dInt8Body>(l.body).geo;
                 (in ? g.main_mem_in_address : g.main_mem_out_address) = std::uint32_t(a);
               }};
}

Fixup fix_emc_conv_f32(int buffer, bool in) {
  return Fixup{buffer, 0, [in](format::Layer& l, std::uint64_t a) {
                 auto& g = std::get<format::EmcConv2dF32Body>(l.body).geo;
                 (in ? g.main_mem_in_address : g.main_mem_out_address) = std::uint32_t(a);
               }};
}

void check_emc_conv_window(const format::EmcConvGeometry& g, const Node& n) {
  const auto dil_h = g.dilation_height * (g.kernel_height - 1) + 1;
  const auto dil_w = g.dilation_width * (g.kernel_width - 1) + 1;
  if (g.pad_top >= dil_h || g.pad_bottom >= dil_h || g.pad_left >= dil_w || g.pad_right >= dil_w) {
    fail_at("padding (top " + std::to_string(g.pad_top) + ", bottom " +
                std::to_string(g.pad_bottom) + ", left " + std::to_string(g.pad_left) + ", right " +
                std::to_string(g.pad_right) + ") not smaller than the " + std::to_string(dil_h) +
                "x" + std::to_string(dil_w) +
                " kernel window: EMC convolutions have no window of only padding",
            n);
  }
}

EmcConvLayer make_emc_conv(const FloatConv& fc, const Int8Quant& in_q, const Int8Quant& out_q,
                           const Node& n, std::vector<std::string> sources, const std::string& note,
                           const InputMoments& in, bool bias_correct, const Padding4& in_pad) {
  const auto& g = fc.geo;
  check_emc_conv_window(g, n);
  const std::uint64_t taps = format::emc_conv_weight_count(g, fc.depthwise) / g.out_channels;
  if (taps > kMaxInt8Taps) {
    fail_at(std::to_string(taps) + " taps per output: more than the int8 accumulator bound (" +
                std::to_string(kMaxInt8Taps) + ")",
            n);
  }
  auto r = quantize_conv_int8(fc, in_q, out_q);
  if (!r.ok()) throw ErrorException(std::move(r).error().with_layer(n.layer_ref()));
  EmcConvLayer out;
  out.type = fc.depthwise ? format::LayerType::kEmcDepthwiseConv2d : format::LayerType::kEmcConv2d;
  out.body = std::move(r->body);
  format::EmcConv2dInt8Body& body = out.body;
  const std::vector<double>& in_mean = in.mean;
  if (bias_correct && in_mean.size() == g.in_channels) {
    // Share of the outputs at which tap t of an axis reads inside the input (not padding, nor
    // the explicit padding rows/columns [0, lo) and [in_n - hi, in_n)).
    auto inside = [](std::uint32_t out_n, std::uint32_t in_n, std::uint32_t stride,
                     std::uint32_t pad, std::uint32_t dil, std::uint32_t tap, std::int64_t lo,
                     std::int64_t hi) {
      std::uint32_t k = 0;
      for (std::uint32_t o = 0; o < out_n; ++o) {
        const std::int64_t at = std::int64_t(o) * stride - pad + std::int64_t(tap) * dil;
        k += at >= lo && at < std::int64_t(in_n) - hi;
      }
      return double(k) / double(out_n);
    };
    const std::uint32_t kh = g.kernel_height, kw = g.kernel_width;
    std::vector<double> fy(kh), fx(kw);
    for (std::uint32_t t = 0; t < kh; ++t)
      fy[t] = inside(g.out_height, g.in_height, g.stride_height, g.pad_top, g.dilation_height, t,
                     in_pad.top, in_pad.bottom);
    for (std::uint32_t t = 0; t < kw; ++t)
      fx[t] = inside(g.out_width, g.in_width, g.stride_width, g.pad_left, g.dilation_width, t,
                     in_pad.left, in_pad.right);
    const std::uint64_t oc = g.out_channels, per = fc.weights.size() / oc, kk = kh * kw;
    for (std::uint64_t o = 0; o < oc; ++o) {
      double corr = 0;
      for (std::uint64_t t = 0; t < per; ++t) {
        const std::uint64_t ic = fc.depthwise ? o / g.depth_multiplier : t / kk;
        const std::uint64_t tap = t % kk;
        const double w_hat = r->weight_scale[o] * double(body.weights[o * per + t]);
        corr +=
            (w_hat - double(fc.weights[o * per + t])) * in_mean[ic] * fy[tap / kw] * fx[tap % kw];
      }
      const double q = std::round(corr / (in_q.scale * r->weight_scale[o]));
      const double nb = double(body.bias[o]) - q;
      if (std::fabs(nb) + double(per) * 32640.0 <= 2147483647.0)
        body.bias[o] = static_cast<std::int32_t>(nb);
    }
  }
  const std::uint64_t oc = body.geo.out_channels;
  LayerInfo& info = out.info;
  out.rounding = estimate_rounding_error(fc, body, r->weight_scale, in_q, out_q, in, n);
  info.rounding_error = out.rounding.worst;
  info.output_range = out.rounding.range;
  info.sources = std::move(sources);
  info.in_shape = {std::int32_t(g.in_height), std::int32_t(g.in_width),
                   std::int32_t(g.in_channels)};
  info.out_shape = {std::int32_t(body.geo.out_height), std::int32_t(body.geo.out_width),
                    std::int32_t(oc)};
  info.weight_bytes = (body.weights.size() + 3) / 4 * 4 + oc * 12;
  std::ostringstream s;
  s << (note.empty() ? "" : note + "; ") << g.kernel_height << "x" << g.kernel_width;
  if (g.stride_height != 1 || g.stride_width != 1)
    s << " stride " << g.stride_height << "x" << g.stride_width;
  if (g.dilation_height != 1 || g.dilation_width != 1)
    s << " dilation " << g.dilation_height << "x" << g.dilation_width;
  s << ", " << int8_quant_note(out_q);
  if (r->worst_weight_sqnr_db < 1e8)
    s << ", worst weight SQNR " << std::fixed << std::setprecision(1) << r->worst_weight_sqnr_db
      << " dB";
  info.note = s.str();
  return out;
}

Int8Quant fold_input_normalization(const Node& c, bool dw, const std::vector<double>& mean,
                                   const std::vector<double>& stdv, bool padded,
                                   std::vector<float>& w, std::vector<float>& b,
                                   std::vector<std::string>& warnings, double& border_error) {
  const std::int32_t zx = padding_pixel(mean);
  border_error = 0;
  double border = 0;
  const std::size_t cout = b.size();
  const std::size_t per = w.size() / cout;
  const std::size_t kk = std::size_t(c.kernel_h) * std::size_t(c.kernel_w);
  bool inexact = false;
  for (std::size_t o = 0; o < cout; ++o) {
    double add = 0, off = 0;
    for (std::size_t t = 0; t < per; ++t) {
      const std::size_t ic = dw ? o / std::size_t(c.depth_multiplier) : t / kk;
      float& wv = w[o * per + t];
      wv = float(wv / stdv[ic]);
      add += double(wv) * (zx - mean[ic]);
      off += std::fabs(double(wv) * (zx - mean[ic]));
      if (std::fabs(zx - mean[ic]) > 1e-9) inexact = true;
    }
    b[o] = float(b[o] + add);
    border = std::max(border, off);
  }
  if (inexact && padded) {
    warnings.push_back(border_pixel_warning(c, zx, mean, stdv));
    border_error = border;
  }
  Int8Quant q;
  q.scale = 1.0;
  q.zero_point = zx - 128;
  return q;
}

}  // namespace emc::converter::detail
