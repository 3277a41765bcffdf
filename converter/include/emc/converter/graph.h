// The converter's graph IR: what a Keras / TF.js layers model computes, in float, with every
// attribute resolved to an explicit value. Produced by build_graph() (model_json.h), rewritten by
// the passes in passes.h, executed by run_float() (float_executor.h) and consumed by quantization
// and the platform lowerings.
//
// Conventions (hold for every Graph that validate_graph() accepts):
//  * Tensors are per-sample (no batch dimension), float32, row-major. Rank 3 is [H, W, C] (NHWC
//    without N); rank 1 is [features]; other ranks appear only around Reshape/Flatten/Dense.
//  * Nodes are stored in topological order: every input tensor of nodes[i] is a graph input or the
//    output of some nodes[j] with j < i. Each node has exactly one output tensor.
//  * Padding is always explicit (4 sides, in pixels): Keras 'same' is resolved at import with the
//    TF rule  total = max((ceil(in/s)-1)*s + (k-1)*d + 1 - in, 0), top/left = total/2,
//    bottom/right = total - top/left.
//  * Weights are float32 and owned by the node (std::vector, moved around freely):
//      Conv2D          kernel [kh][kw][cin][cout] (HWIO, as Keras), bias [cout]
//      DepthwiseConv2D kernel [kh][kw][cin][m] (HWC·M, as Keras); output channel = c*m + j; bias
//                      [cin*m]
//      Dense           kernel [in][units], bias [units]; applied to the last axis
//      BatchNorm       gamma, beta, mean, variance, each [C] (C = last axis); gamma = 1 / beta = 0
//                      already substituted when Keras had scale=false / center=false
//    An empty bias means "no bias" (use_bias=false).
//  * `activation` of a node is applied to its result (after bias / BN). Importers set it from a
//    layer's `activation` attribute; the fuse pass moves standalone activations into producers.
//    Softmax is never a fused activation: it is always its own kSoftmax node.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "emc/format/error.h"

namespace emc::converter {

using TensorId = std::int32_t;
constexpr TensorId kNoTensor = -1;

// A per-sample shape (no batch dimension). Dims are > 0.
struct Shape {
  std::vector<std::int32_t> dims;

  int rank() const { return static_cast<int>(dims.size()); }
  // Product of dims (1 for rank 0). Overflow is prevented by validate_graph (<= 2^31 elements).
  std::int64_t num_elements() const {
    std::int64_t n = 1;
    for (auto d : dims) n *= d;
    return n;
  }
  // Accessors for rank-3 [H, W, C] tensors; c() is the last axis for any rank >= 1.
  std::int32_t h() const { return dims.at(0); }
  std::int32_t w() const { return dims.at(1); }
  std::int32_t c() const { return dims.back(); }
  bool operator==(const Shape&) const = default;
};

// "[8, 8, 16]"
std::string to_string(const Shape& shape);

struct TensorInfo {
  // The Keras layer name whose output this is ("conv2d_1"), or the input layer's name for a graph
  // input. Tensors internal to one Keras layer (e.g. Dense before its softmax) are named
  // "<layer>/pre_softmax". Names are unique within a graph.
  std::string name;
  Shape shape;
};

// The node kinds, one row each in node_kinds.def (inputs and attributes of each are listed
// there).
enum class NodeKind {
#define EMC_NODE_KIND(id, name, inputs, infer, run, lower) id,
#include "emc/converter/node_kinds.def"
};

// "Conv2D", "DepthwiseConv2D", ...
const char* to_string(NodeKind kind);

// The elementwise activations, one row each in activations.def (the formula of each is there).
enum class ActivationKind {
#define EMC_ACTIVATION(id, name, impl) id,
#include "emc/converter/activations.def"
};

// "linear", "relu", ...
const char* to_string(ActivationKind kind);

// An elementwise activation. For kRelu (Keras ReLU / LeakyReLU / 'relu' / 'relu6'):
//   y = x >= max_value ? max_value : (x >= threshold ? x : alpha * (x - threshold))
// Plain relu: alpha 0, max_value +inf, threshold 0. relu6: max_value 6. LeakyReLU(a): alpha a.
// For kElu alpha is the ELU alpha; for kHardSigmoid the slope. Other kinds ignore the fields.
struct Activation {
  ActivationKind kind = ActivationKind::kLinear;
  double alpha = 0.0;  // double: TF.js multiplies by the JSON number (a JS double)
  float max_value = std::numeric_limits<float>::infinity();
  float threshold = 0.0f;
  double offset = 0.0;  // kAffine only

  bool is_linear() const { return kind == ActivationKind::kLinear; }
  bool is_plain_relu() const {
    return kind == ActivationKind::kRelu && alpha == 0.0f && threshold == 0.0f &&
           max_value == std::numeric_limits<float>::infinity();
  }
  bool is_relu6() const {
    return kind == ActivationKind::kRelu && alpha == 0.0f && threshold == 0.0f && max_value == 6.0f;
  }
  bool is_leaky_relu() const {
    return kind == ActivationKind::kRelu && threshold == 0.0f &&
           max_value == std::numeric_limits<float>::infinity();
  }
  bool operator==(const Activation&) const = default;
};

Activation make_relu(float max_value = std::numeric_limits<float>::infinity(), double alpha = 0.0,
                     float threshold = 0.0f);

// "relu", "relu6", "leaky_relu(0.1)", "relu(max=4,alpha=0,threshold=1)", "sigmoid", ...
std::string to_string(const Activation& activation);

// Explicit padding in pixels (each >= 0).
struct Padding4 {
  std::int32_t top = 0, bottom = 0, left = 0, right = 0;
  bool is_zero() const { return top == 0 && bottom == 0 && left == 0 && right == 0; }
  bool operator==(const Padding4&) const = default;
  // Adds another padding side by side (a merged ZeroPadding2D on top of a conv's own padding).
  Padding4& operator+=(const Padding4& o) {
    top += o.top, bottom += o.bottom, left += o.left, right += o.right;
    return *this;
  }
};

// How the padded border takes part in a pooling window.
enum class PoolPadMode {
  kExcluded,  // Keras 'same': padded positions are ignored (max over / average of real pixels)
  kZeros,     // explicit zeros (a merged ZeroPadding2D): they count in the max and the average
};

// Where a node came from, for error messages and the kmodel sidecar map.
struct SourceLayer {
  std::int64_t index = -1;  // position of the Keras layer in the model's layer list
  std::string name;         // Keras layer name, e.g. "conv2d_3"
  std::string class_name;   // Keras / TensorLayer class, e.g. "Conv2D"
};

struct Node {
  NodeKind kind = NodeKind::kIdentity;
  std::vector<TensorId> inputs;
  TensorId output = kNoTensor;

  // The principal Keras layer this node was built from (after fusion: the conv / depthwise /
  // dense / pool that absorbed a ZeroPadding2D, BatchNormalization or activation) ...
  SourceLayer source;
  // ... and the names of all Keras layers fused into it, in data-flow order, e.g.
  // {"zero_padding2d", "conv_dw_1", "conv_dw_1_bn", "conv_dw_1_relu"}.
  std::vector<std::string> source_layers;

  // Spatial attributes: conv / depthwise kernel or pooling window, strides, dilation, padding.
  std::int32_t kernel_h = 1, kernel_w = 1;
  std::int32_t stride_h = 1, stride_w = 1;
  std::int32_t dilation_h = 1, dilation_w = 1;
  Padding4 pad;
  PoolPadMode pool_pad_mode = PoolPadMode::kExcluded;  // kMaxPool / kAvgPool only

  std::int32_t filters = 0;           // Conv2D: output channels; Dense: units
  std::int32_t depth_multiplier = 1;  // DepthwiseConv2D
  bool keepdims = false;              // global pools
  std::int32_t axis = -1;             // kConcat / kSoftmax: per-sample axis, >= 0
  double epsilon = 1e-3;              // kBatchNorm (double: TF.js adds the JSON number)
  // kAverage: the n the sum is divided by; 0 = inputs.size(). split_merges sets it when it turns
  // an Average of n > 2 inputs into an Add chain feeding a two-input Average of all n.
  std::int32_t average_of = 0;

  Activation activation;  // applied last (conv, depthwise, dense, batchnorm, add, activation)

  // Weights (see the file comment for layouts). Empty = absent.
  std::vector<float> kernel;
  std::vector<float> bias;
  std::vector<float> gamma, beta, mean, variance;  // kBatchNorm

  bool has_bias() const { return !bias.empty(); }
  // Error context naming the source Keras layer (index, name, class).
  LayerRef layer_ref() const { return LayerRef{source.index, source.name, source.class_name}; }
};

struct Graph {
  std::string name;                 // model name (may be empty)
  std::vector<TensorInfo> tensors;  // indexed by TensorId
  std::vector<Node> nodes;          // topological order
  std::vector<TensorId> inputs;     // graph inputs in model order
  std::vector<TensorId> outputs;    // graph outputs in model order

  const TensorInfo& tensor(TensorId id) const { return tensors.at(static_cast<std::size_t>(id)); }
  const Shape& shape(TensorId id) const { return tensor(id).shape; }
  // Index of the node producing `id`, or -1 for a graph input.
  int producer(TensorId id) const;
  // Indices of the nodes reading `id`, in node order.
  std::vector<int> consumers(TensorId id) const;
  // Tensor with this name, or kNoTensor.
  TensorId find_tensor(const std::string& name) const;
  // Appends a tensor and returns its id.
  TensorId add_tensor(std::string name, Shape shape);
};

// The output shape `node` produces from its input shapes in `graph`, or an Error (kShapeMismatch /
// kInvalidLayerConfig naming the node's source layer) when the inputs do not chain, weights have
// the wrong size, or an attribute is out of range. For kReshape the target is the node's current
// output tensor shape (checked for equal element count).
Result<Shape> infer_shape(const Graph& graph, const Node& node);

// Checks every invariant listed at the top of this file: ids in range, topological order, one
// producer per tensor, unique tensor names, shapes equal to infer_shape(), weight sizes, element
// counts < 2^31. Passes and build_graph() call it on their result.
Status validate_graph(const Graph& graph);

}  // namespace emc::converter
