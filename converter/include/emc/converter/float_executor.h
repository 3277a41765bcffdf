// The float reference: runs a Graph (graph.h) on float32 per-sample NHWC tensors with Keras /
// TF.js semantics. This is what every other path (quantized KPU, CPU backend) is measured
// against, and what calibration runs over image folders.
//
// Two modes (FloatMode): kExact reproduces TF.js's CPU backend bit for bit (its summation order
// and double-rounded accumulation; the reference, checked against TF.js outputs in the tests);
// kFast runs Conv2D, DepthwiseConv2D and Dense as SIMD float32 kernels with weights packed once at
// create() (AVX-512 / AVX2+FMA / portable, picked at runtime), for calibration and emc-compare.
// kFast differs from kExact by float32 accumulation rounding only (tests/converter/
// exec_fast_test.cpp bounds it per op); every other node kind runs the exact kernel in both modes.
//
// Semantics: convolutions and pools use the node's explicit padding (zeros for convs; pools use
// PoolPadMode: kExcluded ignores padded positions, as Keras 'same' does, including in the
// average's divisor); BatchNorm y = gamma*(x-mean)/sqrt(var+eps)+beta; Flatten/Reshape keep
// row-major NHWC order; Softmax subtracts the maximum. Accumulation is float32.
// Single-threaded (run() is const and may be called from several threads at once), no external
// BLAS.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
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
  // Called after each node with that node and its output, which it may change (fault injection:
  // the fuzz oracle measures how far the model carries a small error). The output is the
  // executor's own tensor, valid during the call. Empty: not called.
  std::function<void(const Node&, Tensor&)> after_node = nullptr;
};

enum class FloatMode {
  kExact,  // TF.js CPU backend bit for bit (reference)
  kFast,   // SIMD float32, packed weights
};

// The instruction set of the kFast kernels; create() uses the best one not above the requested
// maximum that the CPU supports (tests ask for each in turn).
enum class FloatIsa { kPortable, kAvx2, kAvx512 };
const char* to_string(FloatIsa isa);  // "portable", "avx2", "avx512"

namespace detail {
struct FastPlan;
}

// Runs graphs repeatedly (calibration). Validates once at creation; keeps its own copy of the graph
// (weights included), so the Graph passed in may be destroyed afterwards.
class FloatExecutor {
 public:
  static Result<FloatExecutor> create(Graph graph, FloatMode mode = FloatMode::kExact,
                                      FloatIsa max_isa = FloatIsa::kAvx512);

  const Graph& graph() const { return graph_; }
  FloatMode mode() const { return fast_ ? FloatMode::kFast : FloatMode::kExact; }
  // The kFast kernels' instruction set (kPortable in kExact mode).
  FloatIsa isa() const;

  // `inputs` in graph.inputs order, each with exactly the input's shape (kShapeMismatch otherwise).
  // Returns the outputs in graph.outputs order, or all tensors (see RunOptions).
  Result<std::vector<Tensor>> run(const std::vector<Tensor>& inputs,
                                  const RunOptions& options = {}) const;

 private:
  explicit FloatExecutor(Graph graph);
  Graph graph_;
  std::vector<int> last_use_;  // per tensor: index of the last node reading it (-1: none)
  std::shared_ptr<const detail::FastPlan> fast_;  // kFast: packed weights (immutable, shared)
};

// One-shot convenience: FloatExecutor::create(graph) (kExact) then run().
Result<std::vector<Tensor>> run_float(const Graph& graph, const std::vector<Tensor>& inputs,
                                      const RunOptions& options = {});

// Applies `activation` to one value (the executor's definition, shared with tests and passes).
float apply_activation(const Activation& activation, float x);

}  // namespace emc::converter
