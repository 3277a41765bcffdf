// Float kernels of the reference executor (private). Each writes a fully-sized `out`.
#pragma once

#include <vector>

#include "emc/converter/graph.h"

namespace emc::converter::detail {

void conv2d_f32(const Node& n, const Shape& in_shape, const float* in, const Shape& out_shape,
                float* out);
void depthwise_conv2d_f32(const Node& n, const Shape& in_shape, const float* in,
                          const Shape& out_shape, float* out);
void dense_f32(const Node& n, const Shape& in_shape, const float* in, float* out);
void pool2d_f32(const Node& n, const Shape& in_shape, const float* in, const Shape& out_shape,
                float* out);
void global_pool_f32(const Node& n, const Shape& in_shape, const float* in, float* out);
void batch_norm_f32(const Node& n, const Shape& in_shape, const float* in, float* out);
void zero_pad_f32(const Node& n, const Shape& in_shape, const float* in, const Shape& out_shape,
                  float* out);
void softmax_f32(const Shape& shape, const float* in, float* out);
void concat_f32(const Node& n, const std::vector<const float*>& ins,
                const std::vector<const Shape*>& in_shapes, const Shape& out_shape, float* out);
// Add / Multiply / Subtract / Maximum / Minimum / Average of equal-shaped inputs, then the
// node's activation.
void merge_f32(const Node& n, const std::vector<const float*>& ins, std::int64_t count, float* out);
void prelu_f32(const Node& n, const float* in, std::int64_t count, float* out);
void upsample_f32(const Node& n, const Shape& in_shape, const float* in, const Shape& out_shape,
                  float* out);
void crop_f32(const Node& n, const Shape& in_shape, const float* in, const Shape& out_shape,
              float* out);
// out = activation(out) in place, for `count` values.
void activate_inplace(const Activation& a, float* data, std::int64_t count);

}  // namespace emc::converter::detail
