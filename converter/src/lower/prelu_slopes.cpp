#include "lower/prelu_slopes.h"

namespace emc::converter::detail {

std::vector<double> prelu_slopes(const std::vector<float>& alpha, const Shape& s,
                                 const std::vector<std::int32_t>& chw_of, bool hwc) {
  const std::size_t n = alpha.size();
  if (s.rank() == 3 && chw_of.empty() && !hwc) {
    const std::size_t c = std::size_t(s.c());
    bool per_channel = c > 0 && n % c == 0;
    for (std::size_t i = 0; per_channel && i < n; ++i) per_channel = alpha[i] == alpha[i % c];
    if (per_channel) return std::vector<double>(alpha.begin(), alpha.begin() + std::ptrdiff_t(c));
    // Per element, stored CHW: element (c, y, x) of the store is HWC element (y*W + x)*C + c.
    std::vector<double> out(n);
    const std::size_t hw = n / c;
    for (std::size_t ch = 0; ch < c; ++ch)
      for (std::size_t p = 0; p < hw; ++p) out[ch * hw + p] = alpha[p * c + ch];
    return out;
  }
  std::vector<double> out(n);
  for (std::size_t j = 0; j < n; ++j) {
    std::size_t logical = j;
    if (chw_of.size() == 3) {
      const std::size_t hw = std::size_t(chw_of[0]) * std::size_t(chw_of[1]);
      logical = (j % hw) * std::size_t(chw_of[2]) + j / hw;
    }
    out[j] = alpha[logical];
  }
  return out;
}

}  // namespace emc::converter::detail
