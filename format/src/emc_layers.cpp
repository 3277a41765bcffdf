#include "emc/format/emc_layers.h"

namespace emc::format {

std::uint64_t emc_conv_weight_count(const EmcConvGeometry& g, bool depthwise) {
  // Saturates at 2^62 so that an absurd geometry still fails every size check without overflow.
  constexpr std::uint64_t kCap = std::uint64_t{1} << 62;
  std::uint64_t n = 1;
  auto times = [&](std::uint64_t f) {
    if (f != 0 && n > kCap / f) {
      n = kCap;
    } else {
      n *= f;
    }
  };
  times(g.out_channels);
  if (!depthwise) times(g.in_channels);
  times(g.kernel_height);
  times(g.kernel_width);
  return n < kCap ? n : kCap;
}

}  // namespace emc::format
