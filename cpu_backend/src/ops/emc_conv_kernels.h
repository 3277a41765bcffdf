// The int8 EMC_CONV2D / EMC_DEPTHWISE_CONV2D geometry and parameters shared by the scalar
// definition (emc_conv.cpp) and the AVX-512 VNNI kernels (emc_conv_vnni.cpp).
#pragma once

#include <cstdint>
#include <vector>

namespace emc::cpu_backend::detail {

// One spatial axis: output o, tap k reads input o*stride - pad + k*dilation.
struct ConvAxis {
  std::int64_t in, out, kernel, stride, dilation, pad;
  std::int64_t at(std::int64_t o, std::int64_t k) const { return o * stride - pad + k * dilation; }
};

// Maps are CHW; weights [out_c][taps] with taps (ic, ky, kx) (depthwise: (ky, kx)).
struct ConvShape {
  ConvAxis x, y;
  std::int64_t in_c, out_c, mult;  // mult: depth multiplier (depthwise) or 0 (regular)
  bool depthwise() const { return mult != 0; }
  std::int64_t taps() const { return x.kernel * y.kernel * (depthwise() ? 1 : in_c); }
};

struct Int8Params {
  std::int32_t in_zp, out_zp, lo, hi;
  std::vector<std::int8_t> weights;
  std::vector<std::int32_t> bias, multiplier, shift;
};

// True when this build and CPU can run the AVX-512 VNNI kernels (AVX-512 F/BW/VL/VNNI/VBMI).
bool emc_vnni_available();

// Whether the VNNI kernels cover this shape (the depthwise kernel gathers each row's 16 outputs
// of four taps from one 64-byte window: 15 * stride_x + 3 * dilation_x <= 63).
bool vnni_conv_fits(const ConvShape& v);

// Whether the AVX2 packed depthwise kernel covers this shape (horizontal stride 1, or 2 with
// dilation 1: its tap pairs are two shifted loads or adjacent bytes).
bool avx2_depthwise_fits(const ConvShape& v);

// The packed int8 convolution: weights packed once here as int8 quads, input as uint8 quads
// (x + 128), scratch shared per thread (grown at construction, so run() allocates nothing unless
// it runs on another thread than prepare). `vnni`: the AVX-512 VNNI kernels (any shape that
// vnni_conv_fits); otherwise AVX2 (regular convs, depthwise where
// avx2_depthwise_fits). Same bytes as the scalar definition (see
// emc_conv_vnni.cpp for why).
class PackedConv {
 public:
  PackedConv(const ConvShape& v, const Int8Params& p, bool vnni);
  void run(const std::uint8_t* in, std::uint8_t* out) const;

 private:
  ConvShape v_;
  Int8Params p_;                    // without the weights (packed in wq_)
  std::int64_t kgroups_ = 0;        // regular: ceil(taps / 4); depthwise: ceil(kernel_x / 4)
  std::int64_t chunk_ = 0;          // regular: output pixels per pack + GEMM pass (of 32s)
  std::int64_t pw_ = 0, ph_ = 0;    // depthwise: padded plane
  std::vector<std::int32_t> wq_;    // packed weight quads (layout in the .cpp)
  std::vector<std::int32_t> corr_;  // bias - (in_zp + 128) * sum(w), per output channel (mod 2^32)
  std::size_t scratch_bytes_ = 0;
  bool vnni_ = true;
  // How a regular conv gathers its input quads: straight from the CHW planes (1x1, stride 1,
  // unpadded), by row windows of padded planes (output width a multiple of 16), or by im2col.
  enum class Pack { kPlanes, kRows, kIm2col } pack_ = Pack::kIm2col;
  std::size_t planes_bytes_ = 0;  // kRows: the padded planes before the quads in scratch
};

}  // namespace emc::cpu_backend::detail
