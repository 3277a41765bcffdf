// The shared V3 CPU layer checks and bodies (v3_cpu_layers.h).
#include "lower/v3_cpu_layers.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "lower/lowered.h"

namespace emc::converter::detail {

format::Pool2dBody pool2d_body(const Node& n, const Shape& s, const Shape& os) {
  format::Pool2dBody b;
  b.in_shape = {std::uint32_t(s.w()), std::uint32_t(s.h()), std::uint32_t(s.c())};
  b.out_shape = {std::uint32_t(os.w()), std::uint32_t(os.h()), std::uint32_t(os.c())};
  b.kernel_width = std::uint32_t(n.kernel_w);
  b.kernel_height = std::uint32_t(n.kernel_h);
  b.stride_width = std::uint32_t(n.stride_w);
  b.stride_height = std::uint32_t(n.stride_h);
  b.padding_width = std::uint32_t(n.pad.left);
  b.padding_height = std::uint32_t(n.pad.top);
  return b;
}

format::ChannelsBody softmax_body(const Node& n, const Shape& s) {
  if (!(s.rank() == 1 || (s.rank() == 3 && s.h() == 1 && s.w() == 1)) || n.axis != s.rank() - 1) {
    fail(Errc::kUnsupportedLayer,
         "softmax over " + to_string(s) + ": the CPU SOFTMAX layer works on a vector", n);
  }
  format::ChannelsBody b;
  b.channels = static_cast<std::uint32_t>(s.c());
  return b;
}

double logit_shift(double max, double lowest_sample_max, double error) {
  error = std::max(error, -lowest_sample_max);
  const double shift = max < 0 ? -max : 0.0;
  if (lowest_sample_max + shift - error >= kSoftmaxUnderflow) return shift;
  return error - lowest_sample_max;
}

double softmax_logit_error(const std::vector<float>& weights, std::uint32_t in_channels,
                           double input_abs_max) {
  if (in_channels == 0) return 0.0;
  double largest = 0.0;
  for (std::size_t row = 0; row + in_channels <= weights.size(); row += in_channels) {
    double sum = 0.0;
    for (std::size_t i = 0; i < in_channels; ++i) sum += std::fabs(double(weights[row + i]));
    largest = std::max(largest, sum);
  }
  return largest * 8.0 * (input_abs_max / 255.0 / 2.0);
}

std::string softmax_underflow_warning(const Node& n, double lowest_sample_max_after_shift) {
  if (!(lowest_sample_max_after_shift < kSoftmaxUnderflow)) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4g", lowest_sample_max_after_shift);
  return "layer '" + n.source.name + "' (" + n.source.class_name +
         "): a calibration sample's logits are all below " + buf +
         ": the SDK's SOFTMAX (max starting at FLT_MIN) underflows every expf and writes NaN for "
         "such inputs; add a constant to the bias of the layer before the softmax (softmax is "
         "shift-invariant), or end the model at the logits";
}

void check_softmax_input(const Node& n, double max_after_shift) {
  if (max_after_shift < kSoftmaxUnderflow) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.4g", max_after_shift);
    fail(Errc::kUnsupportedLayer,
         std::string("every calibrated input of this softmax is below ") + buf +
             ": the SDK's SOFTMAX (max starting at FLT_MIN) underflows every expf and writes NaN; "
             "its input could not be shifted here (softmax is shift-invariant: add a constant to "
             "the bias of the layer before it)",
         n);
  }
}

void check_concat_axis(const Node& n, const Shape& os) {
  if (n.axis != os.rank() - 1) {
    fail(Errc::kUnsupportedLayer,
         "concatenation on axis " + std::to_string(n.axis) +
             ": only the channel (last) axis maps to consecutive CHW blocks",
         n);
  }
}

}  // namespace emc::converter::detail
