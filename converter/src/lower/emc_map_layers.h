// Internal: the EMC int8 elementwise (EMC_ELEMENTWISE_INT8) and pad/crop (EMC_PAD_CROP_INT8) layers
// as both lowerings emit them: -p cpu for every Subtract / Multiply / Maximum / Minimum / Average,
// Cropping2D and unmerged ZeroPadding2D, -p k210 for those without an exact stock-SDK form (its
// CPU fallback, through the int8 form of each uint8 tensor). The layer's body (addresses 0) and
// report info are made here; allocating buffers and recording tensor forms stay with the lowering.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "emc/converter/emc_conv_quant.h"
#include "emc/converter/graph.h"
#include "emc/format/emc_layers.h"
#include "lower/lowered.h"

namespace emc::converter::detail {

// The EMC elementwise op of a Subtract / Multiply / Maximum / Minimum / Average node (Average: an
// add with the output multiplier divided by average_of, Node::average_of or 2). Fails naming `n`
// when it is another kind or does not have two inputs (`target`: the -p name for the message).
struct EmcElementwiseOp {
  format::EmcElementwiseOp op = format::EmcElementwiseOp::kAdd;
  int average_of = 0;  // 0: not an average
};
EmcElementwiseOp emc_elementwise_op(const Node& n, std::string_view target);

// The output quantization of an elementwise layer with a clamp activation `act` (linear, ReLU,
// ReLU with a max value): `out_q` when linear, else a grid from real 0 to the calibrated max of
// `out_range` (capped at the max value).
Int8Quant emc_elementwise_out_quant(const Int8Quant& out_q, const Activation& act,
                                    const Range& out_range);

// An EMC_ELEMENTWISE_INT8 of two int8 inputs of `count` elements (quantizations qa, qb) into the
// grid qo (emc_elementwise_out_quant), with `act` as the clamp. Nothing when the requantization
// does not fit the type (input and output scales too far apart).
struct EmcElementwiseLayer {
  format::EmcElementwiseInt8Body body;
  LayerInfo info;  // sources, out_shape, note
};
std::optional<EmcElementwiseLayer> make_emc_elementwise(EmcElementwiseOp op, const Int8Quant& qa,
                                                        const Int8Quant& qb, const Int8Quant& qo,
                                                        const Activation& act, const Shape& out,
                                                        std::vector<std::string> sources);
// Its fixups: inputs a, b and the output.
std::vector<Fixup> fix_emc_elementwise(int a, int b, int out);

// An EMC_PAD_CROP_INT8 of an int8 CHW map of shape `s` [H, W, C] by `p` (positive: pads with
// `fill`, the zero point, i.e. real 0; negative: crops). Fails naming `ctx` when it crops the
// whole map. out_bytes: the output map's size.
struct EmcPadCropLayer {
  format::EmcPadCropInt8Body body;
  LayerInfo info;  // sources, shapes, note
  std::uint64_t out_bytes = 0;
};
EmcPadCropLayer make_emc_pad_crop(const Shape& s, std::int32_t fill, const Padding4& p,
                                  const Node& ctx, std::vector<std::string> sources,
                                  const std::string& note);
// Its fixups: input and output.
std::vector<Fixup> fix_emc_pad_crop(int in, int out);

}  // namespace emc::converter::detail
