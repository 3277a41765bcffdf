// Prepare functions of the CPU kernels, one per layer type (grouped by family, one .cpp each).
// The backend's dispatch table (cpu_backend.cpp) maps LayerType to these.
#pragma once

#include "kernel_support.h"

namespace emc::cpu_backend::detail {

// elementwise_add.cpp
Result<PreparedPtr> prepare_add(const PrepareContext& ctx);
Result<PreparedPtr> prepare_quantized_add(const PrepareContext& ctx);
// global_pool.cpp
Result<PreparedPtr> prepare_global_max_pool2d(const PrepareContext& ctx);
Result<PreparedPtr> prepare_quantized_global_max_pool2d(const PrepareContext& ctx);
Result<PreparedPtr> prepare_global_average_pool2d(const PrepareContext& ctx);
Result<PreparedPtr> prepare_quantized_global_average_pool2d(const PrepareContext& ctx);
// pool2d.cpp
Result<PreparedPtr> prepare_max_pool2d(const PrepareContext& ctx);
Result<PreparedPtr> prepare_quantized_max_pool2d(const PrepareContext& ctx);
Result<PreparedPtr> prepare_average_pool2d(const PrepareContext& ctx);
Result<PreparedPtr> prepare_quantized_average_pool2d(const PrepareContext& ctx);
// quantization.cpp
Result<PreparedPtr> prepare_quantize(const PrepareContext& ctx);
Result<PreparedPtr> prepare_dequantize(const PrepareContext& ctx);
Result<PreparedPtr> prepare_channelwise_dequantize(const PrepareContext& ctx);
Result<PreparedPtr> prepare_requantize(const PrepareContext& ctx);
// vector_ops.cpp
Result<PreparedPtr> prepare_l2_normalization(const PrepareContext& ctx);
Result<PreparedPtr> prepare_softmax(const PrepareContext& ctx);
Result<PreparedPtr> prepare_logistic(const PrepareContext& ctx);
// concat.cpp (CONCAT and QUANTIZED_CONCAT: the same byte copy)
Result<PreparedPtr> prepare_concat(const PrepareContext& ctx);
// fully_connected.cpp
Result<PreparedPtr> prepare_fully_connected(const PrepareContext& ctx);
// flatten.cpp
Result<PreparedPtr> prepare_tensorflow_flatten(const PrepareContext& ctx);
Result<PreparedPtr> prepare_quantized_tensorflow_flatten(const PrepareContext& ctx);
// resize.cpp
Result<PreparedPtr> prepare_resize_nearest_neighbor(const PrepareContext& ctx);
Result<PreparedPtr> prepare_quantized_resize_nearest_neighbor(const PrepareContext& ctx);
// k210_conv.cpp (the KPU arithmetic as a reference kernel on KPU RAM)
Result<PreparedPtr> prepare_k210_conv(const PrepareContext& ctx);
// k210_transfer.cpp
Result<PreparedPtr> prepare_k210_upload(const PrepareContext& ctx);
Result<PreparedPtr> prepare_k210_add_padding(const PrepareContext& ctx);
Result<PreparedPtr> prepare_k210_remove_padding(const PrepareContext& ctx);
// emc_conv.cpp (EMC types: int8 and float convolutions)
Result<PreparedPtr> prepare_emc_conv2d(const PrepareContext& ctx);
Result<PreparedPtr> prepare_emc_depthwise_conv2d(const PrepareContext& ctx);
Result<PreparedPtr> prepare_emc_conv2d_f32(const PrepareContext& ctx);
Result<PreparedPtr> prepare_emc_depthwise_conv2d_f32(const PrepareContext& ctx);
// emc_quantize.cpp
Result<PreparedPtr> prepare_emc_quantize_int8(const PrepareContext& ctx);
Result<PreparedPtr> prepare_emc_dequantize_int8(const PrepareContext& ctx);
// emc_pool.cpp
Result<PreparedPtr> prepare_emc_max_pool2d_int8(const PrepareContext& ctx);
Result<PreparedPtr> prepare_emc_average_pool2d_int8(const PrepareContext& ctx);
// emc_elementwise.cpp
Result<PreparedPtr> prepare_emc_elementwise_int8(const PrepareContext& ctx);
Result<PreparedPtr> prepare_emc_lut_int8(const PrepareContext& ctx);
// emc_prelu.cpp
Result<PreparedPtr> prepare_emc_prelu_int8(const PrepareContext& ctx);
// emc_movement.cpp
Result<PreparedPtr> prepare_emc_concat_int8(const PrepareContext& ctx);
Result<PreparedPtr> prepare_emc_pad_crop_int8(const PrepareContext& ctx);
Result<PreparedPtr> prepare_emc_resize_nearest_int8(const PrepareContext& ctx);

}  // namespace emc::cpu_backend::detail
