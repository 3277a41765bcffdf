// The fast float32 kernels (FloatMode::kFast, float_executor.h): Conv2D and Dense as a packed
// GEMM (im2col per block of output pixels, 1x1 stride-1 convs read the input in place),
// DepthwiseConv2D vectorized over channels. float32 accumulation with FMA where the CPU has it, so
// results differ from the TF.js-exact kernels by accumulation rounding only (bounded by
// ~K·2^-24·Σ|x·w|; tests/converter/exec_fast_test.cpp checks it against the exact mode).
// Variants: AVX-512 (16 lanes, 12x32 register tile), AVX2+FMA (8 lanes, 6x16), portable C++
// (4x16); chosen at runtime by what the CPU supports.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "emc/converter/float_executor.h"

namespace emc::converter::detail {

// 64-byte aligned float storage (a packed weight panel is read with aligned vector loads).
class AlignedFloats {
 public:
  AlignedFloats() = default;
  explicit AlignedFloats(std::size_t n);  // zero-filled
  float* data() { return p_.get(); }
  const float* data() const { return p_.get(); }
  std::size_t size() const { return n_; }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float[], Free> p_;
  std::size_t n_ = 0;
};

// The best variant not above `max` that this CPU runs.
FloatIsa supported_float_isa(FloatIsa max);

// A [k][n] weight matrix packed once for one ISA: panels of nr columns, each [k][nr] (zeros past
// n), and the bias padded to panels*nr (zeros when there is none).
struct PackedGemm {
  FloatIsa isa = FloatIsa::kPortable;
  int k = 0, n = 0, nr = 0;
  AlignedFloats b;
  AlignedFloats bias;
};
PackedGemm pack_gemm(FloatIsa isa, const float* w, int k, int n, const float* bias);

// c[i][j] = bias[j] + Σ_k a[i][k]·w[k][j] for i < m, j < n (row strides lda, ldc in floats).
void gemm_f32(const PackedGemm& p, const float* a, std::int64_t lda, std::int64_t m, float* c,
              std::int64_t ldc);

// The node kernels; `out` is sized and shaped. Activation applied as the exact kernels do.
void conv2d_fast(const Node& n, const PackedGemm& p, const Tensor& in, Tensor& out);
void dense_fast(const Node& n, const PackedGemm& p, const Tensor& in, Tensor& out);
void depthwise_fast(FloatIsa isa, const Node& n, const Tensor& in, Tensor& out);

}  // namespace emc::converter::detail
