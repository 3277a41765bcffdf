// Internal: one EMC int8 convolution layer (EMC_CONV2D / EMC_DEPTHWISE_CONV2D) as both lowerings
// emit it: -p cpu for every convolution, -p k210 for the convolutions the KPU cannot run exactly
// (its CPU fallback). The quantization itself is emc_conv_quant.h; this adds what a lowering
// needs around it: the Keras node -> FloatConv geometry and weights, the checks that name the
// layer, the bias correction of the weight rounding and the layer's report note.
#pragma once

#include <string>
#include <vector>

#include "emc/converter/calibrate.h"
#include "emc/converter/convert.h"
#include "emc/converter/emc_conv_quant.h"
#include "emc/converter/graph.h"
#include "emc/converter/quantize.h"
#include "lower/emc_conv_rounding.h"
#include "lower/lowered.h"

namespace emc::converter::detail {

// The accumulator bound the parser enforces (docs/cpu_target.md): taps * 255 * 128 + |bias|.
inline constexpr std::uint64_t kMaxInt8Taps = 65000;

// Weights of a Conv2D / DepthwiseConv2D node in the EMC layout: regular [oc][ic][kh][kw] from
// Keras [kh][kw][ic][oc]; depthwise [oc][kh][kw] from Keras [kh][kw][cin][m] (output channel
// ch*m + j reads input channel ch).
std::vector<float> emc_conv_weights(const Node& c, std::int32_t cin);

// A 1x1 stride-1 depthwise conv over an [H, W, C] map `s` (no weights yet).
FloatConv depthwise_1x1_geometry(const Shape& s);

// The geometry of conv node `c` reading an [H, W, C] `in` map and writing `out`, with `pad` (the
// node's own padding plus any merged ZeroPadding2D). Weights, bias and clamp stay empty.
FloatConv float_conv_geometry(const Node& c, const Shape& in, const Shape& out,
                              const Padding4& pad);

// A quantized EMC convolution ready to append: type, body (addresses 0) and report info.
struct EmcConvLayer {
  format::LayerType type = format::LayerType::kEmcConv2d;
  format::EmcConv2dInt8Body body;
  LayerInfo info;  // sources, shapes, weight bytes, note, rounding_error and output_range
  RoundingEstimate rounding;  // (its warning: for the lowering's warnings)
};

// Quantizes `fc` (input `in_q`, output `out_q`) naming node `n` in every error: padding not
// smaller than the kernel window, more taps than the accumulator bound, quantization failures.
// `in` (the input's calibrated moments): the rounding-error estimate of the layer (LayerInfo's
// rounding_error; `rounding`) and, with `bias_correct`, the bias correction of the weight
// rounding (the expected output error sum (w_q - w) * E[x], counting only the taps inside the
// input, is subtracted). `in_pad`: rows/columns of fc's input that are explicit zero padding (a
// conv whose padding became its own EMC_PAD_CROP_INT8), which are not inside the input either.
// `note` is prefixed to the note describing the kernel and quantization.
EmcConvLayer make_emc_conv(const FloatConv& fc, const Int8Quant& in_q, const Int8Quant& out_q,
                           const Node& n, std::vector<std::string> sources, const std::string& note,
                           const InputMoments& in, bool bias_correct, const Padding4& in_pad = {});

// Fails naming node `n` when a padding of `g` is as wide as the (dilated) kernel window: an output
// window of only padding, which EMC convolutions (int8 and float) do not have.
void check_emc_conv_window(const format::EmcConvGeometry& g, const Node& n);

// A first CPU conv reading the model input's pixels: real = (p - mean_c) / std_c is folded into
// the weights (w / std_c) and the bias (+ sum of w / std_c * (zx - mean_c)), and the conv reads
// p - 128 with zero point zx - 128 (zx: the mean rounded to a pixel). `w` is in the EMC layout of
// node `c` (`dw`: depthwise). Returns the input quantization; when no integer pixel is 0.0 and
// the conv is `padded`, a warning (its zero padding reads pixel zx) goes to `warnings`.
// `border_error` (when it warns): LayerInfo::border_error of the conv, else 0.
Int8Quant fold_input_normalization(const Node& c, bool dw, const std::vector<double>& mean,
                                   const std::vector<double>& stdv, bool padded,
                                   std::vector<float>& w, std::vector<float>& b,
                                   std::vector<std::string>& warnings, double& border_error);

// The fixup of an EMC convolution's input (in = true) or output main-memory address; the same
// for a float one (EMC_CONV2D_F32 / EMC_DEPTHWISE_CONV2D_F32).
Fixup fix_emc_conv(int buffer, bool in);
Fixup fix_emc_conv_f32(int buffer, bool in);

// The int8 form of a K210 uint8 grid (real = (q - z) * s): the same grid shifted by 128, codes
// q - 128 with zero point z - 128 (-p k210's CPU fallback; the uint8 / int8 forms convert exactly).
Int8Quant int8_form(const QuantParam& q);

// "int8 scale S zero point Z" for notes.
std::string int8_quant_note(const Int8Quant& q);

}  // namespace emc::converter::detail
