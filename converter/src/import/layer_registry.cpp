// The one table of layer classes build_graph() understands. Keras and TF.js names first, then
// the TensorLayer 2.x spellings (whose configs use TensorLayer argument names: n_filter,
// filter_size, act, ... see docs/converter_frontend.md).
#include <algorithm>
#include <string_view>

#include "emc/converter/model_json.h"
#include "layer_context.h"

namespace emc::converter {
namespace detail {
namespace {

struct ClassEntry {
  std::string_view class_name;
  Importer importer;
  bool tensorlayer;
};

constexpr ClassEntry kClasses[] = {
    {"Conv2D", import_conv2d, false},
    {"Convolution2D", import_conv2d, false},
    {"DepthwiseConv2D", import_depthwise_conv2d, false},
    {"Dense", import_dense, false},
    {"BatchNormalization", import_batch_norm, false},
    {"ZeroPadding2D", import_zero_padding, false},
    {"MaxPooling2D", import_max_pool, false},
    {"MaxPool2D", import_max_pool, false},
    {"AveragePooling2D", import_avg_pool, false},
    {"AvgPool2D", import_avg_pool, false},
    {"GlobalAveragePooling2D", import_global_avg_pool, false},
    {"GlobalAvgPool2D", import_global_avg_pool, false},
    {"GlobalMaxPooling2D", import_global_max_pool, false},
    {"GlobalMaxPool2D", import_global_max_pool, false},
    {"Concatenate", import_concat, false},
    {"Add", import_add, false},
    {"Activation", import_activation, false},
    {"ReLU", import_relu, false},
    {"LeakyReLU", import_leaky_relu, false},
    {"Softmax", import_softmax, false},
    {"Flatten", import_flatten, false},
    {"Reshape", import_reshape, false},
    {"Dropout", import_dropout, false},
    {"SeparableConv2D", import_separable_conv2d, false},
    {"SeparableConvolution2D", import_separable_conv2d, false},
    {"UpSampling2D", import_upsampling2d, false},
    {"Cropping2D", import_cropping2d, false},
    {"Multiply", import_multiply, false},
    {"Subtract", import_subtract, false},
    {"Maximum", import_maximum, false},
    {"Minimum", import_minimum, false},
    {"Average", import_average, false},
    {"PReLU", import_prelu, false},
    {"ELU", import_elu, false},
    {"Rescaling", import_rescaling, false},
    {"GaussianNoise", import_inference_identity, false},
    {"GaussianDropout", import_inference_identity, false},
    {"AlphaDropout", import_inference_identity, false},
    {"SpatialDropout1D", import_inference_identity, false},
    {"SpatialDropout2D", import_inference_identity, false},
    // TensorLayer 2.x
    {"Conv2d", import_conv2d, true},
    {"DepthwiseConv2d", import_depthwise_conv2d, true},
    {"BatchNorm", import_batch_norm, true},
    {"BatchNorm1d", import_batch_norm, true},
    {"BatchNorm2d", import_batch_norm, true},
    {"ZeroPad2d", import_zero_padding, true},
    {"MaxPool2d", import_max_pool, true},
    {"MeanPool2d", import_avg_pool, true},
    {"GlobalMaxPool2d", import_global_max_pool, true},
    {"GlobalMeanPool2d", import_global_avg_pool, true},
    {"Concat", import_concat, true},
    {"SoftMax", import_softmax, true},
};
// "Dense", "Flatten", "Reshape" are spelled the same in TensorLayer; their importers accept both
// attribute sets (units / n_units, target_shape / shape).

}  // namespace

Importer find_importer(const std::string& class_name) {
  for (const auto& e : kClasses)
    if (e.class_name == class_name) return e.importer;
  return nullptr;
}

bool is_tensorlayer_class(const std::string& class_name) {
  for (const auto& e : kClasses)
    if (e.class_name == class_name) return e.tensorlayer;
  return false;
}

}  // namespace detail

std::vector<std::string> supported_layer_classes() {
  std::vector<std::string> out{"InputLayer"};
  for (const auto& e : detail::kClasses) out.emplace_back(e.class_name);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace emc::converter
