// The float reference: runs a Graph (graph.h) on float32 per-sample NHWC tensors with Keras /
// TF.js semantics. This is what every other path (quantized KPU, CPU backend) is measured
// against, and what calibration runs over image folders.
//
// Semantics: convolutions and pools use the node's explicit padding (zeros for convs; pools use
// PoolPadMode: kExcluded ignores padded positions, as Keras 'same' does, including in the
// average's divisor); BatchNorm y = gamma*(x-mean)/sqrt(var+eps)+beta; Flatten/Reshape keep
// row-major NHWC order; Softmax subtracts the maximum. Accumulation is float32.
// Single-threaded, no external BLAS; conv/dense are blocked over output pixels and channels.
#pragma once

#include <cstdint>
#include <vector>

#include "emc/converter/graph.h"
#include "emc/format/error.h"

namespace emc::converter {

// A per-sample float32 tensor, row-major (NHWC without N). data.size() == shape.num_elements().
struct Tensor {
  Shape shape;
  std::vector<float> data;
};

struct RunOptions {
  // false: return only the graph outputs (intermediate tensors are freed after their last use).
  // true: return every tensor of the graph, indexed by TensorId (per-layer comparison).
  bool keep_all_tensors = false;
};

// Runs graphs repeatedly (calibration). Validates once at creation; keeps its own copy of the graph
// (weights included), so the Graph passed in may be destroyed afterwards.
class FloatExecutor {
 public:
  static Result<FloatExecutor> create(Graph graph);

  const Graph& graph() const { return graph_; }

  // `inputs` in graph.inputs order, each with exactly the input's shape (kShapeMismatch otherwise).
  // Returns the outputs in graph.outputs order, or all tensors (see RunOptions).
  Result<std::vector<Tensor>> run(const std::vector<Tensor>& inputs,
                                  const RunOptions& options = {}) const;

 private:
  explicit FloatExecutor(Graph graph);
  Graph graph_;
  std::vector<int> last_use_;  // per tensor: index of the last node reading it (-1: none)
};

// One-shot convenience: FloatExecutor::create(graph) then run().
Result<std::vector<Tensor>> run_float(const Graph& graph, const std::vector<Tensor>& inputs,
                                      const RunOptions& options = {});

// Applies `activation` to one value (the executor's definition, shared with tests and passes).
float apply_activation(const Activation& activation, float x);

}  // namespace emc::converter
