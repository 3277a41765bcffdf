// One emc-compare session: the float model (converter float executor on the imported graph), the
// kmodel (interpreter with kpu-sim + cpu backends), the sidecar map, and the running result.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "compare_result.h"
#include "emc/converter/float_executor.h"
#include "emc/converter/quantize.h"
#include "emc/interpreter/interpreter.h"
#include "emc/interpreter/registry.h"
#include "inputs.h"
#include "outputs.h"
#include "sidecar.h"

namespace emc::compare {

struct Options {
  std::string model_json;
  std::string kmodel;
  std::string map;  // sidecar path; "" = <kmodel>.map.json
  std::vector<std::string> images;
  std::vector<std::string> input_f32;
  std::string dataset;
  std::string labels;
  std::string class_map;        // --class-map: dataset subfolder name -> output index
  std::string backend = "kpu";  // "kpu" or "cpu"
  std::optional<std::pair<double, double>> input_range;
  // --input-range mean=R,G,B:std=R,G,B: x = (p - mean[c]) / std[c].
  std::optional<std::pair<std::array<float, 3>, std::array<float, 3>>> mean_std;
  bool bgr = false;
  std::size_t top = 5;
  // --output NAME|INDEX: the model output that top-k, top-1 agreement and dataset accuracy are
  // about (a float output tensor name or a 0-based index; "" = output 0). Every output is
  // compared element by element whatever this says.
  std::string output;
  bool layers = false;
  // Also measure each layer's own error: a second kmodel run in which every compared layer's
  // output is replaced, right after it runs, by the float reference quantized with that layer's
  // output parameters, so the next layer is fed the float model's exact input (implies layers).
  bool isolated = false;
  double sqnr_threshold_db = 20.0;
  // The float reference: the SIMD float32 executor by default, or with exact_float the one that
  // reproduces TF.js's arithmetic bit for bit (--exact-float; see float_executor.h).
  bool exact_float = false;
};

class Session {
 public:
  // Loads both models and the sidecar; decides the preprocessing and the kmodel input encoding,
  // and locates every model output in the kmodel. A model with several inputs, or an --output
  // that names none of the outputs, is kInvalidArgument.
  static Result<std::unique_ptr<Session>> open(const Options& options);

  // Runs one input through both models and adds it to result() (and the per-layer stats).
  Status run(const InputItem& item);

  // Runs one input through both models; only the per-layer stats of this session are updated,
  // the image result is returned (for a parallel run: add() it in input order).
  Result<ImageResult> evaluate(const InputItem& item);
  // Appends one image result to result(), its summary and the per-output statistics.
  Status add(ImageResult image);
  // Pools another session's per-layer statistics (same models and options) into this one's.
  void merge_layers(const Session& other);

  // The inputs named by the options (images, tensors, dataset), in order.
  Result<std::vector<InputItem>> collect_inputs();

  // Computes first_below etc.; call once after the last run().
  void finish();

  CompareResult& result() { return result_; }

 private:
  Session() = default;
  Result<std::vector<float>> load_input(const InputItem& item);
  Result<std::vector<std::uint8_t>> kmodel_input(const std::vector<float>& nhwc) const;
  struct Captured {
    std::vector<std::uint8_t> bytes;
    std::string where;  // "main" or "kpu"
    bool valid = false;
  };
  // How kmodel layer i's output corresponds to a float tensor (fixed per model).
  struct LayerMap {
    bool ok = false;
    std::string why;  // when !ok: why the layer has no comparable float counterpart
    converter::TensorId tensor = converter::kNoTensor;
    bool is_u8 = false;              // a quantized (one byte per value) output
    bool is_i8 = false;              // ... whose codes are int8 (-p cpu), not uint8
    std::vector<AffineQuant> quant;  // quantized outputs: 1 or one per channel
    // Feature maps: float HWC (h, w, c) vs kmodel CHW (kc, kh, kw); float pixel (y, x) is kmodel
    // pixel (y·step + off, x·step + off).
    bool spatial = false;
    std::size_t h = 0, w = 0, c = 0, kh = 0, kw = 0, kc = 0, step = 1, off = 0;
    std::string how;  // note on a non-trivial correspondence
  };
  LayerMap map_layer(std::size_t i) const;
  // The real value of byte b of a quantized output, and the byte of real v (rounded half away
  // from zero, clamped to the code range).
  static double dequant(const LayerMap& m, const AffineQuant& q, std::uint8_t b);
  static std::uint8_t quant_byte(const LayerMap& m, const AffineQuant& q, double v);
  // A layer's captured output as real values at the compared positions (CHW for maps).
  Result<std::vector<float>> kmodel_values(const LayerMap& m, const Captured& cap) const;
  // The float reference in the same order.
  std::vector<float> float_values(const LayerMap& m, const converter::Tensor& ft) const;
  // Isolated run: overwrite the layer's output (KPU RAM and/or main memory) with the float
  // reference in the layer's own encoding.
  void inject_reference(const interpreter::LayerEvent& e);
  void compare_layers(const std::vector<converter::Tensor>& all_float, bool isolated);

  Options options_;
  CompareResult result_;
  std::unique_ptr<converter::FloatExecutor> executor_;
  std::unique_ptr<interpreter::Registry> registry_;
  std::unique_ptr<interpreter::Interpreter> interp_;
  std::optional<Sidecar> sidecar_;
  std::optional<converter::Preprocess> preprocess_;
  std::optional<std::vector<AffineQuant>> input_quant_;  // uint8 kmodel input
  InputGeometry geometry_;
  std::vector<Captured> captured_;       // per kmodel layer, for the current input
  std::vector<LayerMap> layer_maps_;     // per kmodel layer
  std::vector<OutputLocation> outputs_;  // per float model output: its kmodel output and layout
  const std::vector<converter::Tensor>* current_float_ = nullptr;  // during an isolated run
  bool injecting_ = false;
};

}  // namespace emc::compare
