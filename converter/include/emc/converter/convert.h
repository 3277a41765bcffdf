// Float graph -> kmodel V3: quantization, K210 lowering, memory planning and emission.
//
//   auto model = load_tfjs_model("model.json");            // model_json.h
//   auto graph = build_graph(*model);
//   ConvertOptions opt;  opt.target = find_target("k210");   // target.h
//   auto result = convert(*graph, calibration_samples, opt);   // Result<ConvertResult>
//   write_file_atomically("out.kmodel", result->bytes);
//
// What runs where (docs/converter_k210.md has the full rules):
//  * KPU (K210_CONV): Conv2D / DepthwiseConv2D 1x1 and 3x3 with folded BN, fused activation (any
//    elementwise one, fitted to the 16-segment table) and a fused 2x2/4x4 max/mean pool. Stride 2
//    is computed exactly: symmetric pad -> left-top sample (pool 5); TF 'same' on even sizes
//    (pad 0 before / 1 after) -> full-resolution conv, then the consumer samples odd rows/columns
//    by reading the map one line later (image_src_addr + row_len) with right-top pooling (pool 6).
//    Depthwise convs never pool themselves; their subsampling moves into the next 1x1 conv, or an
//    exact identity 1x1 KPU conv when there is none.
//  * CPU: Dense (float FULLY_CONNECTED), Add (float ADD), Concat (uint8 QUANTIZED_CONCAT after
//    REQUANTIZE), global pools, max pool (uint8), average pool (float), softmax, flatten,
//    elementwise activations on uint8 (REQUANTIZE tables); QUANTIZE / DEQUANTIZE / K210_UPLOAD and
//    KPU->main DMA are inserted where a tensor changes representation.
//  * -p cpu (src/lower/cpu_target.cpp, docs/cpu_target.md): a generic MCU with no KPU limit.
//    Every tensor is int8 asymmetric CHW in main memory; Conv2D / DepthwiseConv2D (any kernel,
//    stride, dilation, padding; BN folded; ReLU/ReLU6 as the clamp), Dense, BatchNormalization
//    and average pools are EMC_CONV2D / EMC_DEPTHWISE_CONV2D (int8 per-channel weights); max and
//    'same' average pools EMC_MAX/AVERAGE_POOL2D_INT8, a two-input Add EMC_ELEMENTWISE_INT8;
//    other activations are 256-entry REQUANTIZE tables on the int8 codes; concat and nearest
//    upsampling copy int8 bytes; softmax and wider adds run as the V3 float layer between
//    EMC_DEQUANTIZE_INT8 and EMC_QUANTIZE_INT8. An image input is uint8 CHW raw pixels (the
//    runtime stores p - 128; the preprocessing is folded into the first conv), any other input
//    float32 (EMC_QUANTIZE_INT8 first). The sidecar map says target "cpu"; the stock K210 runtime
//    cannot run these files.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "emc/converter/calibrate.h"
#include "emc/converter/float_executor.h"
#include "emc/converter/graph.h"
#include "emc/converter/image.h"
#include "emc/converter/target.h"
#include "emc/format/error.h"
#include "emc/format/kmodel_v3.h"

namespace emc::converter {

// Where a Dense layer (or a 1x1 conv on a 1x1 map) runs on k210: kCpu = float
// FULLY_CONNECTED (exact); kKpu = the vendor's 4x4-padded 1x1 KPU conv (quantized weights, a
// quarter of the bytes); kAuto = the KPU when the float weights would exceed 1 MiB and the layer
// has at most 1024 inputs. The cpu target ignores it (Dense is an int8 EMC_CONV2D there).
enum class DensePlacement { kAuto, kCpu, kKpu };

struct ConvertOptions {
  const Target* target = Target::kK210;  // never null (find_target, target.h)
  CalibrationMethod calibration = CalibrationMethod::kMinMax;
  // Per-output-channel weight scales, folded into the BN stage (free on the K210). Default: a
  // trained MobileNetV2's depthwise convs have channels at 0 dB with one scale per layer
  // (docs/accuracy.md).
  bool per_channel = true;
  // With per_channel, -p k210: a layer whose weights one per-layer scale quantizes with less
  // relative noise keeps it (quantize_weights_auto; weights stored on one per-tensor grid).
  // emc-convert --per-channel turns this off (every layer per channel).
  bool auto_per_layer = true;
  // Bias correction of KPU convs: subtract the mean output error of the quantized weights,
  // estimated with the calibration data's input means (k210_conv_args.h).
  bool bias_correction = true;
  // Cross-layer equalization (passes.h equalize_cross_layer) before calibration: exact pairs
  // only (linear / ReLU / LeakyReLU between them; ReLU6 pairs are left alone). Off by default
  // (docs/accuracy.md: measured per model).
  bool equalize = false;
  std::int32_t weight_bits = 8;  // 8 or 16
  bool approx_stride2 = false;   // allow inexact stride-2 forms (warning names the layer)
  DensePlacement dense = DensePlacement::kAuto;
  // Add of two tensors as QUANTIZED_ADD (uint8 in and out: less main memory and CPU time on the
  // chip) instead of a float ADD between DEQUANTIZE/QUANTIZE. Off by default: a float ADD keeps
  // a residual stream (MobileNetV2) in float between adds, the integer add requantizes it at
  // every add (measured on a trained MobileNetV2: max |dp| 0.024 float vs 0.077 integer).
  bool quantized_add = false;
  // -p k210: a layer the KPU cannot run exactly may fall back to an EMC CPU layer type
  // (format/emc_layers.h), which the stock K210 SDK loader and MaixPy cannot run: each such layer
  // is a warning naming it, or with sdk_compatible an error (for users who flash with the vendor
  // runtime).
  bool sdk_compatible = false;
  // How a pixel p (0..255) becomes the model's input value; used for the raw uint8 kmodel input
  // of a KPU-first model (real = (p - mean_c) / std_c).
  Preprocess preprocess;
  // Optional, one per calibration sample: where it came from (a file name), for error messages.
  std::vector<std::string> sample_names;
  CalibrationProgress progress;  // optional
  int threads = 0;               // calibration threads (0: one per hardware thread)
  // The float executor calibration runs (float_executor.h): kFast (SIMD float32) by default;
  // kExact reproduces TF.js's arithmetic bit for bit (emc-convert --exact-float). The ranges
  // differ by float32 accumulation rounding only.
  FloatMode float_mode = FloatMode::kFast;
};

// One kmodel layer, for the report and the sidecar map.
struct LayerInfo {
  std::size_t index = 0;
  format::LayerType type = format::LayerType::kInvalid;
  bool on_kpu = false;               // K210 types
  std::vector<std::string> sources;  // Keras layers fused into it (empty: inserted)
  std::string note;                  // e.g. "quantize conv1_relu", "stride-2 via pool 6"
  std::vector<std::int32_t> in_shape, out_shape;  // [H, W, C] or [N]
  std::optional<double> out_scale, out_bias;      // output quantization (real = q*scale + bias)
  std::optional<std::uint32_t> kpu_in_row, kpu_out_row;  // K210_CONV / UPLOAD addresses (rows)
  std::uint64_t kpu_in_bytes = 0, kpu_out_bytes = 0;
  std::optional<std::uint32_t> main_in, main_out;  // main-memory byte offsets
  std::uint64_t weight_bytes = 0;
  std::optional<double> act_fit_error_lsb;  // K210_CONV: worst-case activation table error
  // EMC int8 convolutions: an estimate of how far int8 weights, bias and input grid move an
  // output (real units, before the output's own rounding; |mean| + 3 spreads from the calibrated
  // input moments, the largest over the channels). Where it reaches kRoundingErrorWarnShare of the
  // output's range, a warning names the layer: the output is a small residue of larger terms.
  std::optional<double> rounding_error;
  std::optional<double> output_range;  // with rounding_error: the output codes' real span (clamped)
  // A conv that folds the input normalization and pads with a pixel that is not exactly 0.0 in
  // every channel (warned): the most that moves an output at the border (real units, before the
  // activation: sum |w| * |pad pixel - 0.0 pixel| / std over the taps, the largest channel).
  std::optional<double> border_error;
  std::string activation;  // K210_CONV: the fitted activation
  // A stride-2 conv whose sampling is done by its consumer stores its map at full resolution:
  // the tensor's pixel (y, x) is the stored map's (y·sample_step + sample_offset, x·sample_step +
  // sample_offset) — offset 0 for left-top sampling (symmetric padding), 1 for the odd rows and
  // columns (TF 'same' on even sizes, 'valid' on odd sizes). Step 1: the map is the tensor.
  std::int32_t sample_step = 1;
  std::int32_t sample_offset = 0;
  // The tensor (a map under the KPU's 4x4) is the top-left corner of the larger stored map.
  bool padded_map = false;
  // Element order of a map output in main memory when it is not the usual CHW: "NHWC" (-p cpu,
  // elementwise layers on a float NHWC input). Empty: CHW for a map (or not a map).
  std::string layout;
  // -p k210: a Keras layer the KPU cannot run exactly, placed on the CPU as an EMC layer type
  // (empty reason: not such a layer): the Keras layer, why it left the KPU and what would put it
  // back (emc_types_need_emc_runtime names it in a warning, or an error with sdk_compatible).
  std::optional<LayerRef> off_kpu_layer;
  std::string off_kpu_reason, off_kpu_change;
  // The output is int8 codes (real = q8 * out_scale + out_bias, q8 the byte as a signed value),
  // not uint8: EMC int8 layers of the -p k210 CPU fallback.
  bool out_int8 = false;
  // -p cpu states what each layer writes: "int8" (out_scale/out_bias then map the signed code q
  // to real = q*scale + bias), "float32", or empty (the reader infers it from the type: uint8 for
  // the K210/V3 quantized types). float_tensor: the graph tensor the output holds (an empty
  // string: none, e.g. a float value before its clamp); nullopt: not stated (readers take the
  // last source layer's tensor). map_shape: [H, W, C] of a vector stored as the CHW planes of
  // that map (a Flatten of a map and the layers after it); layout is "CHW" then.
  std::string dtype;
  std::optional<std::string> float_tensor;
  std::vector<std::int32_t> map_shape;
};

// What calibration did to one tensor of the optimized graph (one per Keras layer output that
// survives fusion): the range chosen, the extremes seen and the fraction of the calibration
// values outside the range (clipped).
struct TensorCalibration {
  std::string tensor;
  double min = 0.0, max = 0.0;
  double observed_min = 0.0, observed_max = 0.0;
  double clipped_fraction = 0.0;
  std::uint64_t values = 0;  // calibration values seen (all samples)
};

struct ConvertResult {
  format::Kmodel model;
  std::vector<std::uint8_t> bytes;  // encode_kmodel(model), canonical layout
  std::vector<LayerInfo> layers;
  std::vector<std::string> warnings;
  std::string sidecar_json;  // <out>.map.json contents
  std::uint64_t kpu_peak_bytes = 0;
  std::uint32_t main_mem_bytes = 0;
  // The same buffers without sharing (sum of their sizes) and placed first-fit in creation order:
  // baselines for main_mem_bytes (liveness + greedy-by-size plan) in the report.
  std::uint64_t main_mem_sum_bytes = 0;
  std::uint64_t main_mem_first_fit_bytes = 0;
  // Input contract of the kmodel: uint8 CHW [C,H,W] for a KPU-first model, float32 otherwise.
  bool input_is_uint8 = true;
  std::vector<std::int32_t> input_shape;  // graph input shape [H, W, C] or [N]
  // Per calibrated tensor (empty from convert_calibrated with hand-made ranges).
  std::vector<TensorCalibration> calibration;
};

// Warnings about a calibration set that cannot give sound ranges: a single sample, constant
// samples, all samples identical, fewer samples than the model has output classes. `outputs` =
// the number of classes of the model's output (convert() passes the size of a [C] or [1, 1, C]
// output, 0 for a map or a detector head). convert() adds them to its warnings.
std::vector<std::string> calibration_set_warnings(const std::vector<std::vector<Tensor>>& samples,
                                                  std::int64_t outputs);

// An EMC int8 convolution whose rounding_error (LayerInfo) reaches this share of its output's
// range gets a warning naming it.
inline constexpr double kRoundingErrorWarnShare = 1.0;

// Limits convert() enforces before it computes anything.
inline constexpr std::int64_t kMaxTensorElements = std::int64_t{1} << 24;  // per tensor, per sample
inline constexpr std::uint64_t kK210SramBytes = 6ull << 20;   // kmodel + main memory, K210
inline constexpr std::uint64_t kCpuModelBytes = 64ull << 20;  // kmodel, cpu (the loader's cap)
// The largest magnitude a calibrated activation may reach. The chip's float layers sum in float32
// (global pooling, Dense, L2 normalization's sum of squares): kMaxTensorElements squares of 1e15
// sum to 1.7e37, within float32's 3.4e38, so no such sum overflows.
inline constexpr double kMaxActivation = 1e15;

// Every weight finite and every BN variance >= 0 (kInvalidLayerConfig naming the layer, the
// weight and the first bad index).
Status check_weight_values(const Graph& graph);
// Every tensor at most kMaxTensorElements elements (kInvalidArgument naming the tensor, layer).
Status check_tensor_budget(const Graph& graph);
// The weights fit the target (a lower bound: one byte per element at 8 bits): kMainOutOfMemory
// naming the three biggest layers.
Status check_weight_budget(const Graph& graph, const ConvertOptions& options);
// Every calibrated activation finite and within +-kMaxActivation (kQuantization naming the first
// layer, in graph order, whose output is not). Ranges that calibrate() did not fill (values == 0)
// are checked only for their extremes.
Status check_calibrated_ranges(const Graph& graph, const std::vector<Range>& ranges);
// Every calibration value finite (kInvalidArgument naming sample, input and index).
Status check_samples(const Graph& graph, const std::vector<std::vector<Tensor>>& samples);
// For a kmodel whose input is uint8 pixels: every calibration value must be one that a pixel
// 0..255 can stand for under `options.preprocess` (to half a pixel step). Values outside mean the
// samples were made another way (raw 0..255 tensors against the default 0..1, say): the kmodel
// would clip them at run time and compute something else than the float model, silently, so it
// is kInvalidArgument naming the sample, the value and where it is, and the --input-range to use.
Status check_samples_are_pixels(const Graph& graph, const std::vector<std::vector<Tensor>>& samples,
                                const ConvertOptions& options);
// The preprocessing to assume when the user gives none: raw pixels 0..255 when the model's input
// is read only by a leading Rescaling (a Keras model that normalizes its own input takes raw
// pixels) or by a Keras Normalization whose statistics values in [0, 1] cannot have (a channel
// mean above 1 or variance above 1/4), else 0..1.
// `reason` (optional) is set to a sentence saying which and why.
Preprocess default_preprocess(const Graph& graph, std::string* reason = nullptr);

// Optimizes `graph` (passes.h), calibrates on `samples` (each: the graph inputs as float tensors,
// already preprocessed), lowers and encodes. Errors name the Keras layer (index, name, class).
Result<ConvertResult> convert(const Graph& graph, const std::vector<std::vector<Tensor>>& samples,
                              const ConvertOptions& options);

// The same with ranges already known (per TensorId of the OPTIMIZED graph `graph`; no
// optimization or calibration is done). Used by tests to control quantization exactly.
Result<ConvertResult> convert_calibrated(const Graph& optimized_graph,
                                         const std::vector<Range>& ranges,
                                         const ConvertOptions& options);

}  // namespace emc::converter
