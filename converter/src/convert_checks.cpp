// Input checks convert() runs before anything is computed: weight values, tensor sizes, the
// target's weight budget and the calibration samples (convert.h).
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "emc/converter/convert.h"
#include "emc/converter/passes.h"

namespace emc::converter {
namespace {

Status finite_values(const Node& node, const std::vector<float>& values, const char* what) {
  std::size_t bad = 0, first = 0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i]) && bad++ == 0) first = i;
  }
  if (bad == 0) return ok_status();
  char buf[48];
  std::snprintf(buf, sizeof buf, "%g", static_cast<double>(values[first]));
  return Error(Errc::kInvalidLayerConfig,
               std::string("weight '") + node.source.name + "/" + what + "' holds " + buf +
                   " at index " + std::to_string(first) + " (" + std::to_string(bad) + " of " +
                   std::to_string(values.size()) +
                   " values are not finite): the model file is damaged or was saved after a "
                   "diverged training run")
      .with_layer(node.layer_ref());
}

std::string mib(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

}  // namespace

Status check_weight_values(const Graph& graph) {
  for (const Node& n : graph.nodes) {
    EMC_TRY(finite_values(n, n.kernel, "kernel"));
    EMC_TRY(finite_values(n, n.bias, "bias"));
    EMC_TRY(finite_values(n, n.gamma, "gamma"));
    EMC_TRY(finite_values(n, n.beta, "beta"));
    EMC_TRY(finite_values(n, n.mean, "moving_mean"));
    EMC_TRY(finite_values(n, n.variance, "moving_variance"));
    for (std::size_t i = 0; i < n.variance.size(); ++i) {
      if (n.variance[i] < 0) {
        return Error(Errc::kInvalidLayerConfig, "weight '" + n.source.name +
                                                    "/moving_variance' is negative at index " +
                                                    std::to_string(i))
            .with_layer(n.layer_ref());
      }
    }
  }
  return ok_status();
}

Status check_calibrated_ranges(const Graph& graph, const std::vector<Range>& ranges) {
  for (const Node& n : graph.nodes) {
    const auto t = static_cast<std::size_t>(n.output);
    if (n.output < 0 || t >= ranges.size()) continue;
    const Range& r = ranges[t];
    // A layer split into steps (an n-ary merge's partial results) names the step's tensor.
    const std::string& tensor = graph.tensors[t].name;
    const std::string value =
        tensor == n.source.name ? std::string("its output") : "its value '" + tensor + "'";
    const char* what =
        "check that the weights are those of a trained network (not a diverged "
        "run) and that the calibration inputs are scaled as the model expects "
        "(--input-range)";
    if (r.non_finite > 0) {
      return Error(Errc::kQuantization,
                   value + " is not finite (inf or NaN) in " + std::to_string(r.non_finite) +
                       " of " + std::to_string(r.non_finite + r.values) +
                       " calibration values: the float32 model overflows; " + what)
          .with_layer(n.layer_ref());
    }
    const double peak = std::max(std::fabs(r.min), std::fabs(r.max));
    if (!(peak <= kMaxActivation)) {
      char buf[96];
      std::snprintf(buf, sizeof buf, " reaches %.3g on the calibration data, beyond the +-%.0e ",
                    peak, kMaxActivation);
      return Error(Errc::kQuantization,
                   value + buf +
                       "EMC converts: the chip's float32 sums over it (pooling, Dense, L2 "
                       "normalization) could overflow; " +
                       what)
          .with_layer(n.layer_ref());
    }
  }
  return ok_status();
}

Status check_tensor_budget(const Graph& graph) {
  for (std::size_t t = 0; t < graph.tensors.size(); ++t) {
    const std::int64_t n = graph.tensors[t].shape.num_elements();
    if (n <= kMaxTensorElements) continue;
    Error e(Errc::kInvalidArgument,
            "tensor '" + graph.tensors[t].name + "' " + to_string(graph.tensors[t].shape) +
                " has " + std::to_string(n) + " elements per sample, more than the limit of " +
                std::to_string(kMaxTensorElements) +
                " (no K210 or microcontroller target holds it)");
    const int p = graph.producer(static_cast<TensorId>(t));
    if (p >= 0) e.with_layer(graph.nodes[static_cast<std::size_t>(p)].layer_ref());
    return e;
  }
  return ok_status();
}

Status check_weight_budget(const Graph& graph, const ConvertOptions& options) {
  if (options.target == nullptr) return Error(Errc::kInvalidArgument, "no conversion target given");
  // A lower bound of the kmodel's weight bytes: every kernel element stored once with the
  // narrowest encoding the options allow. When even that does not fit, no lowering can.
  const std::uint64_t per = options.weight_bits == 16 ? 2 : 1;
  std::uint64_t total = 0;
  std::vector<std::pair<std::uint64_t, const Node*>> by_size;
  for (const Node& n : graph.nodes) {
    const std::uint64_t b = n.kernel.size() * per;
    total += b;
    if (b) by_size.push_back({b, &n});
  }
  const std::uint64_t budget = options.target->limit_bytes;
  if (total <= budget) return ok_status();
  std::sort(by_size.begin(), by_size.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  std::string biggest;
  for (std::size_t i = 0; i < std::min<std::size_t>(3, by_size.size()); ++i) {
    const Node& n = *by_size[i].second;
    biggest += (i ? ", " : "") + std::string("'") + n.source.name + "' (" + n.source.class_name +
               ", " + mib(by_size[i].first) + ")";
  }
  return Error(Errc::kMainOutOfMemory, "the model's weights need at least " + mib(total) + " at " +
                                           std::to_string(options.weight_bits) +
                                           " bits, more than the " +
                                           std::string(options.target->weight_budget_text) +
                                           "; the biggest layers: " + biggest);
}

Status check_samples(const Graph& graph, const std::vector<std::vector<Tensor>>& samples) {
  for (std::size_t s = 0; s < samples.size(); ++s) {
    for (std::size_t i = 0; i < samples[s].size(); ++i) {
      const auto& d = samples[s][i].data;
      for (std::size_t k = 0; k < d.size(); ++k) {
        if (!std::isfinite(d[k])) {
          const std::string name =
              i < graph.inputs.size() ? graph.tensor(graph.inputs[i]).name : std::to_string(i);
          return Error(Errc::kInvalidArgument, "calibration sample " + std::to_string(s) +
                                                   ", input '" + name + "': value at index " +
                                                   std::to_string(k) + " is not finite");
        }
      }
    }
  }
  return ok_status();
}

Status check_samples_are_pixels(const Graph& graph, const std::vector<std::vector<Tensor>>& samples,
                                const ConvertOptions& options) {
  if (graph.inputs.size() != 1) return ok_status();
  const Shape& shape = graph.shape(graph.inputs[0]);
  const int channels = shape.rank() == 3 ? static_cast<int>(shape.c()) : 1;
  const Preprocess& pre = options.preprocess;
  for (std::size_t s = 0; s < samples.size(); ++s) {
    if (samples[s].empty()) continue;
    const std::vector<float>& d = samples[s][0].data;
    for (std::size_t k = 0; k < d.size(); ++k) {
      const int c = static_cast<int>(k % static_cast<std::size_t>(channels));
      const PixelMapping m = pixel_mapping(pre, channels, c);
      // The value as a pixel: inside [-0.5, 255.5] rounds to a pixel the kmodel can hold.
      const double p = double(d[k]) * m.std + m.mean;
      if (p >= -0.5 && p <= 255.5) continue;
      char buf[160];
      std::snprintf(buf, sizeof buf, "value %g at index %zu (channel %d) is outside [%g, %g]",
                    double(d[k]), k, c, (0.0 - m.mean) / m.std, (255.0 - m.mean) / m.std);
      Error e(Errc::kInvalidArgument,
              "calibration sample " + std::to_string(s) + ": " + buf +
                  ", the values the kmodel's uint8 input pixels stand for with input range " +
                  to_string(pre) +
                  ": the samples are not pixels mapped that way and the kmodel would clip them. "
                  "Give the range the model's inputs are made with (--input-range 0,255 for raw "
                  "pixel values, -1,1, or mean=...:std=...)");
      if (s < options.sample_names.size()) e.in_file(options.sample_names[s]);
      return e;
    }
  }
  return ok_status();
}

Preprocess default_preprocess(const Graph& graph, std::string* reason) {
  Preprocess pre;
  if (graph.inputs.size() == 1) {
    // The input's one reader, past the nodes that pass it through unchanged (identities such as
    // Keras's augmentation layers, a same-shape Reshape or Flatten), as the passes will see it.
    TensorId t = graph.inputs[0];
    auto readers = graph.consumers(t);
    while (readers.size() == 1) {
      const Node& n = graph.nodes[static_cast<std::size_t>(readers[0])];
      if (!is_pass_through(graph, n) ||
          std::find(graph.outputs.begin(), graph.outputs.end(), t) != graph.outputs.end())
        break;
      t = n.output;
      readers = graph.consumers(t);
    }
    if (readers.size() == 1) {
      const Node& n = graph.nodes[static_cast<std::size_t>(readers[0])];
      if (n.kind == NodeKind::kActivation && n.activation.kind == ActivationKind::kAffine) {
        pre.scale = PixelScale::kRaw;
        if (reason) {
          *reason = "input range 0,255 (raw pixels): the model's first layer '" + n.source.name +
                    "' is a Rescaling, so the model normalizes its own input; --input-range "
                    "overrides";
        }
        return pre;
      }
      // A leading Keras Normalization holds the statistics of the data the model takes. Values
      // in [0, 1] (pixel / 255) have a mean <= 1 and a variance <= 1/4: a channel beyond either
      // means the inputs are raw pixels. (Inverted, its statistics are the output's and say
      // nothing about the input. The importer stores (x - mean) / sd as gamma 1, beta 0, mean,
      // variance sd^2, and mean + x * sd as gamma sd, beta mean, mean 0, variance 1.)
      // A plain one has gamma 1 and beta 0 in every channel; an inverted one with sd 1 and mean
      // 0 is the identity, about which nothing can be said either.
      const bool inverted =
          std::any_of(n.gamma.begin(), n.gamma.end(), [](float g) { return g != 1.0f; }) ||
          std::any_of(n.beta.begin(), n.beta.end(), [](float b) { return b != 0.0f; }) ||
          (std::all_of(n.mean.begin(), n.mean.end(), [](float m) { return m == 0.0f; }) &&
           std::all_of(n.variance.begin(), n.variance.end(), [](float v) { return v == 1.0f; }));
      if (n.kind == NodeKind::kBatchNorm && n.source.class_name == "Normalization" && !inverted) {
        for (std::size_t c = 0; c < n.mean.size(); ++c) {
          if (n.mean[c] <= 1.0f && n.variance[c] <= 0.25f) continue;
          pre.scale = PixelScale::kRaw;
          if (reason) {
            char buf[96];
            std::snprintf(buf, sizeof buf, "channel %zu has mean %.4g and standard deviation %.4g",
                          c, double{n.mean[c]}, std::sqrt(double{n.variance[c]}));
            *reason = "input range 0,255 (raw pixels): the model's first layer '" + n.source.name +
                      "' is a Normalization whose " + buf +
                      ", which values in [0, 1] (pixel / 255) cannot have; --input-range overrides";
          }
          return pre;
        }
      }
    }
  }
  if (reason) *reason = "input range 0,1 (pixel / 255), the default; --input-range overrides";
  return pre;
}

}  // namespace emc::converter
