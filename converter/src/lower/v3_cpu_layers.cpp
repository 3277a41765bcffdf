// The shared V3 CPU layer checks and bodies (v3_cpu_layers.h).
#include "lower/v3_cpu_layers.h"

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
