#include "emc/cpu_backend/cpu_backend.h"

#include <array>
#include <utility>

#include "kernel_support.h"
#include "ops/ops.h"

namespace emc::cpu_backend {
namespace {

using detail::PrepareFn;
using format::LayerType;

struct KernelEntry {
  LayerType type;
  PrepareFn prepare;
};

// The explicit dispatch table: every layer type this backend runs. Types absent here (INVALID,
// QUANTIZED_FULLY_CONNECTED) are declined by supports().
constexpr std::array kKernels{
    KernelEntry{LayerType::kAdd, &detail::prepare_add},
    KernelEntry{LayerType::kQuantizedAdd, &detail::prepare_quantized_add},
    KernelEntry{LayerType::kGlobalMaxPool2d, &detail::prepare_global_max_pool2d},
    KernelEntry{LayerType::kQuantizedGlobalMaxPool2d, &detail::prepare_quantized_global_max_pool2d},
    KernelEntry{LayerType::kGlobalAveragePool2d, &detail::prepare_global_average_pool2d},
    KernelEntry{LayerType::kQuantizedGlobalAveragePool2d,
                &detail::prepare_quantized_global_average_pool2d},
    KernelEntry{LayerType::kMaxPool2d, &detail::prepare_max_pool2d},
    KernelEntry{LayerType::kQuantizedMaxPool2d, &detail::prepare_quantized_max_pool2d},
    KernelEntry{LayerType::kAveragePool2d, &detail::prepare_average_pool2d},
    KernelEntry{LayerType::kQuantizedAveragePool2d, &detail::prepare_quantized_average_pool2d},
    KernelEntry{LayerType::kQuantize, &detail::prepare_quantize},
    KernelEntry{LayerType::kDequantize, &detail::prepare_dequantize},
    KernelEntry{LayerType::kRequantize, &detail::prepare_requantize},
    KernelEntry{LayerType::kL2Normalization, &detail::prepare_l2_normalization},
    KernelEntry{LayerType::kSoftmax, &detail::prepare_softmax},
    KernelEntry{LayerType::kConcat, &detail::prepare_concat},
    KernelEntry{LayerType::kQuantizedConcat, &detail::prepare_concat},
    KernelEntry{LayerType::kFullyConnected, &detail::prepare_fully_connected},
    KernelEntry{LayerType::kTensorflowFlatten, &detail::prepare_tensorflow_flatten},
    KernelEntry{LayerType::kQuantizedTensorflowFlatten,
                &detail::prepare_quantized_tensorflow_flatten},
    KernelEntry{LayerType::kResizeNearestNeighbor, &detail::prepare_resize_nearest_neighbor},
    KernelEntry{LayerType::kQuantizedResizeNearestNeighbor,
                &detail::prepare_quantized_resize_nearest_neighbor},
    KernelEntry{LayerType::kChannelwiseDequantize, &detail::prepare_channelwise_dequantize},
    KernelEntry{LayerType::kLogistic, &detail::prepare_logistic},
    KernelEntry{LayerType::kK210Conv, &detail::prepare_k210_conv},
    KernelEntry{LayerType::kK210Upload, &detail::prepare_k210_upload},
    KernelEntry{LayerType::kK210AddPadding, &detail::prepare_k210_add_padding},
    KernelEntry{LayerType::kK210RemovePadding, &detail::prepare_k210_remove_padding},
    KernelEntry{LayerType::kEmcConv2d, &detail::prepare_emc_conv2d},
    KernelEntry{LayerType::kEmcDepthwiseConv2d, &detail::prepare_emc_depthwise_conv2d},
    KernelEntry{LayerType::kEmcConv2dF32, &detail::prepare_emc_conv2d_f32},
    KernelEntry{LayerType::kEmcDepthwiseConv2dF32, &detail::prepare_emc_depthwise_conv2d_f32},
    KernelEntry{LayerType::kEmcQuantizeInt8, &detail::prepare_emc_quantize_int8},
    KernelEntry{LayerType::kEmcDequantizeInt8, &detail::prepare_emc_dequantize_int8},
    KernelEntry{LayerType::kEmcMaxPool2dInt8, &detail::prepare_emc_max_pool2d_int8},
    KernelEntry{LayerType::kEmcAveragePool2dInt8, &detail::prepare_emc_average_pool2d_int8},
    KernelEntry{LayerType::kEmcElementwiseInt8, &detail::prepare_emc_elementwise_int8},
    KernelEntry{LayerType::kEmcConcatInt8, &detail::prepare_emc_concat_int8},
    KernelEntry{LayerType::kEmcLutInt8, &detail::prepare_emc_lut_int8},
    KernelEntry{LayerType::kEmcPadCropInt8, &detail::prepare_emc_pad_crop_int8},
    KernelEntry{LayerType::kEmcResizeNearestInt8, &detail::prepare_emc_resize_nearest_int8},
    KernelEntry{LayerType::kEmcPreluInt8, &detail::prepare_emc_prelu_int8},
};

PrepareFn find_kernel(LayerType type) {
  for (const KernelEntry& e : kKernels) {
    if (e.type == type) return e.prepare;
  }
  return nullptr;
}

class CpuBackend final : public interpreter::Backend {
 public:
  explicit CpuBackend(const CpuBackendOptions& options) : options_(options) {}

  std::string_view name() const override { return kCpuBackendName; }

  bool supports(const interpreter::LayerInfo& info) const override {
    return find_kernel(info.layer->type) != nullptr;
  }

  Result<std::unique_ptr<interpreter::PreparedLayer>> prepare(
      const interpreter::LayerInfo& info) override {
    if (info.layer == nullptr) {
      return Error(Errc::kInvalidArgument, "prepare: LayerInfo::layer is null")
          .on_backend(kCpuBackendName);
    }
    PrepareFn fn = find_kernel(info.layer->type);
    if (fn == nullptr) {
      detail::LayerChecker checker(info);
      Error e = checker.error("layer type is not supported by the cpu backend");
      return Error(Errc::kUnsupportedLayer, e.message())
          .with_layer(*e.layer())
          .on_backend(kCpuBackendName);
    }
    return fn(detail::PrepareContext{info, options_});
  }

 private:
  CpuBackendOptions options_;
};

}  // namespace

std::unique_ptr<interpreter::Backend> make_cpu_backend(const CpuBackendOptions& options) {
  return std::make_unique<CpuBackend>(options);
}

Status register_cpu_backend(interpreter::Registry& registry, const CpuBackendOptions& options) {
  return registry.add(make_cpu_backend(options));
}

}  // namespace emc::cpu_backend
