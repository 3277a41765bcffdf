#include "model_gen.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

namespace emc::fuzz {
namespace {

using nlohmann::json;

constexpr std::uint8_t kReshapedInputMarker = 0xA5;
constexpr std::uint8_t kOutputViewMarker = 0x5A;
constexpr std::uint8_t kInputAffineMarker = 0xC3;

// Reads choices from the fuzz input; 0 once it is exhausted.
class Choices {
 public:
  Choices(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  std::uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  int pick(int n) { return n <= 1 ? 0 : byte() % n; }
  bool flip() { return (byte() & 1) != 0; }
  // A weight in [-1, 1) * scale from two bytes (varied enough to make every channel different).
  float weight(float scale) {
    const int v = (byte() << 8 | byte()) - 32768;
    return static_cast<float>(v) / 32768.0f * scale;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

struct Tensor {
  std::string name;
  int h = 0, w = 0, c = 0;  // rank 1: h = w = 0, c = length
  bool rank1() const { return h == 0; }
};

class Builder {
 public:
  explicit Builder(Choices& ch) : ch_(ch) {}

  GeneratedModel build() {
    GeneratedModel g;
    // Half the models keep to forms the K210 lowering accepts (1x1/3x3, stride 2 only as 'same'
    // on even sizes, no dilation, no explicit padding, no activation after an activation), so
    // that the accuracy and differential oracles see many conversions, not only refusals.
    friendly_ = ch_.flip();
    g.height = 4 + ch_.pick(13);
    g.width = 4 + ch_.pick(13);
    g.channels = 1 + ch_.pick(4);
    layers_.push_back({{"name", "input"},
                       {"class_name", "InputLayer"},
                       {"config",
                        {{"batch_input_shape", {nullptr, g.height, g.width, g.channels}},
                         {"dtype", "float32"},
                         {"sparse", false},
                         {"name", "input"}}},
                       {"inbound_nodes", json::array()}});
    tensors_.push_back({"input", g.height, g.width, g.channels});
    const int steps = 1 + ch_.pick(8);
    // Most real models start with a convolution (and a K210 kmodel must): 3 in 4 do here.
    if (ch_.pick(4) != 0) conv(false);
    for (int i = 0; i < steps; ++i) step();
    if (tensors_.size() == 1) standalone_activation();  // at least one layer
    if (ch_.flip()) dense_head();

    json topology = {{"class_name", "Model"},
                     {"config",
                      {{"name", "fuzz_model"},
                       {"layers", layers_},
                       {"input_layers", {{"input", 0, 0}}},
                       {"output_layers", {{tensors_.back().name, 0, 0}}}}},
                     {"keras_version", "tfjs-layers 4.22.0"},
                     {"backend", "tensor_flow.js"}};
    json model = {
        {"format", "layers-model"},
        {"generatedBy", "emc fuzz_convert"},
        {"convertedBy", nullptr},
        {"modelTopology", topology},
        {"weightsManifest", {{{"paths", {"group1-shard1of1.bin"}}, {"weights", manifest_}}}}};
    g.shard.resize(weights_.size() * 4);
    for (std::size_t i = 0; i < weights_.size(); ++i) {
      std::uint32_t u;
      std::memcpy(&u, &weights_[i], 4);
      for (int b = 0; b < 4; ++b) g.shard[i * 4 + b] = static_cast<std::uint8_t>(u >> (8 * b));
    }
    g.pixels.resize(static_cast<std::size_t>(g.height) * g.width * g.channels);
    for (auto& p : g.pixels) p = ch_.byte();
    // Chosen after the pixels by one marker byte (libFuzzer's comparison tracing finds it), so
    // that earlier inputs decode as before: the input as a flat vector (or, with one channel, a
    // grey [H, W] plane) that a Reshape makes the map, as MNIST-style models do. Same values in
    // the same order, so the pixels stay as they are.
    if (ch_.byte() == kReshapedInputMarker) {
      reshape_input(model, g.channels == 1 && ch_.flip());
      ++g.layer_count;
    }
    // Likewise a second marker: the output map reshaped into the model output (a YOLO head's
    // [7, 7, 30] -> [7, 7, 5, 6]), which the kmodel holds as the map's CHW planes.
    if (ch_.byte() == kOutputViewMarker && reshape_output(model)) ++g.layer_count;
    // And a third: a leading Rescaling and/or Normalization, which the targets fold into the
    // pixel mapping.
    if (ch_.byte() == kInputAffineMarker) g.layer_count += affine_input(model);
    g.model_json = model.dump();
    g.layer_count += layers_.size() - 1;
    g.summary = summary_;
    return g;
  }

 private:
  // The InputLayer declares [H*W*C] (or [H, W] when `plane`); a Reshape 'input_map' to [H, W, C]
  // reads it and every layer that read 'input' reads 'input_map'.
  void reshape_input(json& model, bool plane) {
    json& layers = model["modelTopology"]["config"]["layers"];
    const Tensor& in = tensors_.front();
    for (json& l : layers)
      for (json& node : l["inbound_nodes"])
        for (json& ref : node)
          if (ref[0] == "input") ref[0] = "input_map";
    json& shape = layers[0]["config"]["batch_input_shape"];
    shape = plane ? json{nullptr, in.h, in.w} : json{nullptr, in.h * in.w * in.c};
    json reshape = {
        {"name", "input_map"},
        {"class_name", "Reshape"},
        {"config",
         {{"name", "input_map"}, {"trainable", true}, {"target_shape", {in.h, in.w, in.c}}}},
        {"inbound_nodes", {{{"input", 0, 0, json::object()}}}}};
    layers.insert(layers.begin() + 1, reshape);
    summary_ = std::string("input as ") + (plane ? "[H, W]" : "[H*W*C]") +
               ", Reshape input_map -> [H, W, C]\n" + summary_;
  }

  // Rescaling, Normalization (axis -1, a mean and a variance per channel) or both after the
  // input (or its Reshape), read by every layer that read the input. Either the chain maps one
  // input value in [0, 1] to 0 in every channel (the fold is exact), or the channel means differ
  // (a padded first conv then reads a normalized copy). Returns the number of layers added.
  int affine_input(json& model) {
    json& layers = model["modelTopology"]["config"]["layers"];
    const std::string from = layers[1]["name"] == "input_map" ? "input_map" : "input";
    const int c = tensors_.front().c;
    const int kind = ch_.pick(3);            // 0: Rescaling, 1: Normalization, 2: both
    const double zero = ch_.byte() / 255.0;  // the input value mapped to 0
    static const double kScales[] = {0.5, 1.0, 2.0, 4.0, -1.0};
    const double scale = kScales[ch_.pick(5)];
    const double offset = kind == 2 ? -0.5 * ch_.pick(3) : -scale * zero;
    json chain = json::array();
    if (kind != 1)
      chain.push_back(
          {{"name", "input_rescale"},
           {"class_name", "Rescaling"},
           {"config", {{"name", "input_rescale"}, {"scale", scale}, {"offset", offset}}}});
    if (kind != 0) {
      const double mean = kind == 2 ? scale * zero + offset : zero;
      const bool per_channel = ch_.flip();
      json means = json::array(), variances = json::array();
      for (int i = 0; i < c; ++i) {
        const double sd = (0.05 + ch_.byte() / 255.0) * (kind == 2 ? std::abs(scale) : 1.0);
        means.push_back(per_channel ? mean + (ch_.byte() - 128) / 255.0 : mean);
        variances.push_back(sd * sd);
      }
      chain.push_back(
          {{"name", "input_norm"},
           {"class_name", "Normalization"},
           {"config",
            {{"name", "input_norm"}, {"axis", -1}, {"mean", means}, {"variance", variances}}}});
    }
    std::string prev = from, text;
    for (json& l : chain) {
      l["config"]["trainable"] = true;
      l["inbound_nodes"] = {{{prev, 0, 0, json::object()}}};
      text += std::string(l["class_name"]) + " " + l["config"].dump() + "\n";
      prev = l["name"];
    }
    // After the input's Reshape line when there is one.
    const std::size_t line = from == "input" ? 0 : summary_.find('\n') + 1;
    summary_.insert(line, text);
    for (json& l : layers)
      for (json& node : l["inbound_nodes"])
        for (json& ref : node)
          if (ref[0] == from) ref[0] = prev;
    const auto at = from == "input" ? 1 : 2;
    layers.insert(layers.begin() + at, chain.begin(), chain.end());
    return static_cast<int>(chain.size());
  }

  // A Reshape 'output_view' of the output map to [H, W, a, C/a] (a the smallest divisor of C
  // above 1) or, for a prime C, [H*W, C], made the model output. False for a vector output.
  bool reshape_output(json& model) {
    const Tensor& out = tensors_.back();
    if (out.rank1()) return false;
    int a = 2;
    while (a < out.c && out.c % a != 0) ++a;
    const json shape = a < out.c ? json{out.h, out.w, a, out.c / a} : json{out.h * out.w, out.c};
    json& cfg = model["modelTopology"]["config"];
    cfg["layers"].push_back(
        {{"name", "output_view"},
         {"class_name", "Reshape"},
         {"config", {{"name", "output_view"}, {"trainable", true}, {"target_shape", shape}}},
         {"inbound_nodes", {{{out.name, 0, 0, json::object()}}}}});
    cfg["output_layers"] = {{"output_view", 0, 0}};
    summary_ += "Reshape output_view -> " + shape.dump() + "\n";
    return true;
  }

  const Tensor& cur() const { return tensors_.back(); }

  std::string fresh(const char* kind) { return std::string(kind) + "_" + std::to_string(next_++); }

  void add_weights(const std::string& layer, const char* field, std::vector<int> shape, float scale,
                   float offset = 0.0f) {
    std::size_t n = 1;
    for (int d : shape) n *= static_cast<std::size_t>(d);
    manifest_.push_back({{"name", layer + "/" + field}, {"shape", shape}, {"dtype", "float32"}});
    for (std::size_t i = 0; i < n; ++i) weights_.push_back(offset + ch_.weight(scale));
  }

  void emit(const std::string& name, const char* cls, json config,
            const std::vector<std::string>& inputs, Tensor out) {
    config["name"] = name;
    config["trainable"] = true;
    json inbound = json::array();
    for (const auto& in : inputs) inbound.push_back({in, 0, 0, json::object()});
    layers_.push_back(
        {{"name", name}, {"class_name", cls}, {"config", config}, {"inbound_nodes", {inbound}}});
    out.name = name;
    summary_ += std::string(cls) + " " + name + " -> [" + std::to_string(out.h) + "," +
                std::to_string(out.w) + "," + std::to_string(out.c) + "] " + config.dump() + "\n";
    tensors_.push_back(out);
  }

  const char* activation() {
    static const char* kActs[] = {"linear", "relu", "relu6", "linear", "relu", "sigmoid", "tanh"};
    return kActs[ch_.pick(7)];
  }

  // Output size of a 'same' or 'valid' window; 0 when 'valid' does not fit.
  static int out_size(int in, int k, int stride, int dil, bool same) {
    const int span = dil * (k - 1) + 1;
    if (same) return (in + stride - 1) / stride;
    return in >= span ? (in - span) / stride + 1 : 0;
  }

  enum class ConvKind { kConv, kDepthwise, kSeparable };

  void conv(bool depthwise) { conv_of(depthwise ? ConvKind::kDepthwise : ConvKind::kConv); }

  // The byte reads of kConv and kDepthwise are those of the first generator (old seeds decode
  // the same); kSeparable reads its depth multiplier and filters after them.
  void conv_of(ConvKind kind) {
    const bool depthwise = kind == ConvKind::kDepthwise;
    const Tensor in = cur();
    static const int kKernels[] = {1, 3, 3, 3, 1, 3, 1, 3, 5, 7, 2};
    int kh = kKernels[ch_.pick(11)];
    int kw = ch_.pick(6) == 0 ? kKernels[ch_.pick(11)] : kh;
    int stride = 1 + ch_.pick(2);
    int dil = stride == 1 && ch_.pick(6) == 0 ? 2 : 1;
    bool same = ch_.pick(3) != 0;
    if (friendly_) {
      kh = kw = kh == 1 ? 1 : 3;
      dil = 1;
      if (stride == 2 && (in.h % 2 != 0 || in.w % 2 != 0)) stride = 1;
      if (stride == 2) same = true;
    }
    const int oh = out_size(in.h, kh, stride, dil, same),
              ow = out_size(in.w, kw, stride, dil, same);
    if (oh <= 0 || ow <= 0) return;
    const std::string name = fresh(kind == ConvKind::kSeparable ? "sep"
                                   : depthwise                  ? "dw"
                                                                : "conv");
    const bool bias = ch_.pick(4) != 0;
    json cfg = {{"kernel_size", {kh, kw}},
                {"strides", {stride, stride}},
                {"padding", same ? "same" : "valid"},
                {"data_format", "channels_last"},
                {"dilation_rate", {dil, dil}},
                {"activation", activation()},
                {"use_bias", bias}};
    const float scale = 1.5f / std::sqrt(static_cast<float>(kh * kw * (depthwise ? 1 : in.c)));
    int oc;
    if (kind == ConvKind::kSeparable) {
      // SeparableConv2D: depthwise (no bias) then a 1x1 conv over C * depth_multiplier channels.
      const int mult = 1 + ch_.pick(3);
      oc = 1 + ch_.pick(8);
      cfg["depth_multiplier"] = mult;
      cfg["filters"] = oc;
      add_weights(name, "depthwise_kernel", {kh, kw, in.c, mult},
                  1.5f / std::sqrt(static_cast<float>(kh * kw)));
      add_weights(name, "pointwise_kernel", {1, 1, in.c * mult, oc},
                  1.5f / std::sqrt(static_cast<float>(in.c * mult)));
    } else if (depthwise) {
      const int mult = 1 + ch_.pick(2);
      cfg["depth_multiplier"] = mult;
      oc = in.c * mult;
      add_weights(name, "depthwise_kernel", {kh, kw, in.c, mult}, scale);
    } else {
      oc = 1 + ch_.pick(8);
      cfg["filters"] = oc;
      add_weights(name, "kernel", {kh, kw, in.c, oc}, scale);
    }
    if (bias) add_weights(name, "bias", {oc}, 0.3f);
    emit(name,
         kind == ConvKind::kSeparable ? "SeparableConv2D"
         : depthwise                  ? "DepthwiseConv2D"
                                      : "Conv2D",
         cfg, {in.name}, {"", oh, ow, oc});
  }

  void batch_norm() {
    const Tensor in = cur();
    const std::string name = fresh("bn");
    add_weights(name, "gamma", {in.c}, 0.5f, 1.0f);
    add_weights(name, "beta", {in.c}, 0.5f);
    add_weights(name, "moving_mean", {in.c}, 0.5f);
    add_weights(name, "moving_variance", {in.c}, 0.5f, 1.0f);  // 0.5..1.5
    emit(name, "BatchNormalization",
         {{"axis", -1}, {"epsilon", 0.001}, {"center", true}, {"scale", true}, {"momentum", 0.99}},
         {in.name}, in);
  }

  void pool() {
    const Tensor in = cur();
    const int k = 2 + ch_.pick(2);
    const int stride = 1 + ch_.pick(2);
    const bool same = ch_.flip();
    const int oh = out_size(in.h, k, stride, 1, same), ow = out_size(in.w, k, stride, 1, same);
    if (oh <= 0 || ow <= 0) return;
    const bool max = ch_.flip();
    emit(fresh(max ? "maxpool" : "avgpool"), max ? "MaxPooling2D" : "AveragePooling2D",
         {{"pool_size", {k, k}},
          {"strides", {stride, stride}},
          {"padding", same ? "same" : "valid"},
          {"data_format", "channels_last"}},
         {in.name}, {"", oh, ow, in.c});
  }

  void standalone_activation() {
    const Tensor in = cur();
    if (friendly_ && tensors_.size() > 1) return;
    if (ch_.pick(3) == 0) {
      emit(fresh("lrelu"), "LeakyReLU", {{"alpha", 0.05 * (1 + ch_.pick(6))}}, {in.name}, in);
      return;
    }
    static const char* kActs[] = {"relu", "relu6", "sigmoid",      "tanh",
                                  "elu",  "swish", "hard_sigmoid", "selu"};
    emit(fresh("act"), "Activation", {{"activation", kActs[ch_.pick(8)]}}, {in.name}, in);
  }

  // An earlier rank-3 tensor (not the current one) satisfying `ok`, or nullptr.
  template <typename Ok>
  const Tensor* earlier(Ok ok) {
    std::vector<const Tensor*> c;
    for (std::size_t i = 0; i + 1 < tensors_.size(); ++i)
      if (!tensors_[i].rank1() && ok(tensors_[i])) c.push_back(&tensors_[i]);
    return c.empty() ? nullptr : c[static_cast<std::size_t>(ch_.pick(static_cast<int>(c.size())))];
  }

  void merge() {
    const Tensor in = cur();
    if (ch_.flip()) {
      const Tensor* other =
          earlier([&](const Tensor& t) { return t.h == in.h && t.w == in.w && t.c == in.c; });
      if (!other) return;
      emit(fresh("add"), "Add", json::object(), {in.name, other->name}, in);
    } else {
      const Tensor* other = earlier([&](const Tensor& t) { return t.h == in.h && t.w == in.w; });
      if (!other) return;
      emit(fresh("concat"), "Concatenate", {{"axis", -1}}, {other->name, in.name},
           {"", in.h, in.w, in.c + other->c});
    }
  }

  void zero_pad() {
    const Tensor in = cur();
    if (friendly_) return;
    const int t = ch_.pick(3), b = ch_.pick(3), l = ch_.pick(3), r = ch_.pick(3);
    emit(fresh("pad"), "ZeroPadding2D",
         {{"padding", {{t, b}, {l, r}}}, {"data_format", "channels_last"}}, {in.name},
         {"", in.h + t + b, in.w + l + r, in.c});
  }

  void upsample() {
    const Tensor in = cur();
    if (in.h > 16 || in.w > 16) return;
    emit(fresh("up"), "UpSampling2D",
         {{"size", {2, 2}}, {"interpolation", "nearest"}, {"data_format", "channels_last"}},
         {in.name}, {"", in.h * 2, in.w * 2, in.c});
  }

  // Subtract / Multiply / Maximum / Minimum / Average of the current tensor and an earlier one
  // of the same shape, in either order.
  void elementwise_merge() {
    const Tensor in = cur();
    static const char* kClasses[] = {"Subtract", "Multiply", "Maximum", "Minimum", "Average"};
    static const char* kNames[] = {"sub", "mul", "max", "min", "avg"};
    const int which = ch_.pick(5);
    const bool first = ch_.flip();
    const Tensor* other =
        earlier([&](const Tensor& t) { return t.h == in.h && t.w == in.w && t.c == in.c; });
    // Without one, a residual branch: a 'same' 1x1 or 3x3 conv of the current tensor, merged
    // with it (most merges in real models join such a branch).
    const Tensor prior = other ? *other : in;
    if (!other) branch_conv();
    const Tensor now = cur();
    std::vector<std::string> inputs = {now.name, prior.name};
    if (first) std::swap(inputs[0], inputs[1]);
    emit(fresh(kNames[which]), kClasses[which], json::object(), inputs, now);
  }

  void branch_conv() { branch_conv_of(cur()); }

  void branch_conv_of(const Tensor in) {
    const int k = ch_.flip() ? 3 : 1;
    const bool bias = ch_.flip();
    const std::string name = fresh("conv");
    json cfg = {{"kernel_size", {k, k}},   {"strides", {1, 1}},
                {"padding", "same"},       {"data_format", "channels_last"},
                {"dilation_rate", {1, 1}}, {"activation", activation()},
                {"use_bias", bias},        {"filters", in.c}};
    add_weights(name, "kernel", {k, k, in.c, in.c},
                1.5f / std::sqrt(static_cast<float>(k * k * in.c)));
    if (bias) add_weights(name, "bias", {in.c}, 0.3f);
    emit(name, "Conv2D", cfg, {in.name}, {"", in.h, in.w, in.c});
  }

  // Add / Multiply / Maximum / Minimum / Average of 3 or 4 tensors of the current one's shape:
  // earlier ones where there are, else 'same' conv branches of the current tensor.
  void n_merge() {
    const Tensor base = cur();
    static const char* kClasses[] = {"Add", "Multiply", "Maximum", "Minimum", "Average"};
    static const char* kNames[] = {"add", "mul", "max", "min", "avg"};
    const int which = ch_.pick(5);
    const int n = 3 + ch_.pick(2);
    std::vector<std::string> inputs = {base.name};
    while (static_cast<int>(inputs.size()) < n) {
      const Tensor* other = earlier([&](const Tensor& t) {
        return t.h == base.h && t.w == base.w && t.c == base.c &&
               std::find(inputs.begin(), inputs.end(), t.name) == inputs.end();
      });
      if (other && ch_.flip()) {
        inputs.push_back(other->name);
      } else {
        branch_conv_of(base);
        inputs.push_back(cur().name);
      }
    }
    std::rotate(inputs.begin(), inputs.begin() + ch_.pick(n), inputs.end());
    emit(fresh(kNames[which]), kClasses[which], json::object(), inputs, base);
  }

  void crop() {
    const Tensor in = cur();
    int t = ch_.pick(3), b = ch_.pick(3), l = ch_.pick(3), r = ch_.pick(3);
    if (in.h - t - b < 1) t = b = 0;
    if (in.w - l - r < 1) l = r = 0;
    emit(fresh("crop"), "Cropping2D",
         {{"cropping", {{t, b}, {l, r}}}, {"data_format", "channels_last"}}, {in.name},
         {"", in.h - t - b, in.w - l - r, in.c});
  }

  // PReLU with a per-element alpha, or shared over H and W (per channel) as most models use it.
  void prelu() {
    const Tensor in = cur();
    const bool shared = ch_.pick(3) != 0;
    const std::string name = fresh("prelu");
    json cfg = json::object();
    if (shared) cfg["shared_axes"] = {1, 2};
    add_weights(name, "alpha",
                shared ? std::vector<int>{1, 1, in.c} : std::vector<int>{in.h, in.w, in.c}, 0.3f,
                0.15f);  // -0.15..0.45
    emit(name, "PReLU", cfg, {in.name}, in);
  }

  // The layer classes added after the first generator, chosen by a step byte of 200..255 (the
  // old choices keep bytes 0..199, so an old seed whose step bytes are all under 200 decodes the
  // same).
  void newer_layer(int b) {
    switch (b % 8) {
      case 0:
      case 1:
        return elementwise_merge();
      case 2:
        return crop();
      case 3:
      case 4:
        return conv_of(ConvKind::kSeparable);
      case 5:
        return prelu();
      case 6:
        return elementwise_merge();
      default:
        return n_merge();
    }
  }

  void step() {
    if (cur().rank1()) return;
    const int b = ch_.byte();
    if (b >= 200) return newer_layer(b - 200);
    switch (b % 10) {
      case 0:
      case 1:
      case 2:
        return conv(false);
      case 3:
        return conv(true);
      case 4:
        return batch_norm();
      case 5:
        return pool();
      case 6:
        return standalone_activation();
      case 7:
        return merge();
      case 8:
        return zero_pad();
      default:
        return upsample();
    }
  }

  void dense_head() {
    Tensor in = cur();
    if (!in.rank1()) {
      const int how = ch_.pick(3);
      if (how == 2 && in.h * in.w * in.c <= 1024) {
        emit(fresh("flatten"), "Flatten", {{"data_format", "channels_last"}}, {in.name},
             {"", 0, 0, in.h * in.w * in.c});
      } else {
        const bool max = how == 1;
        emit(fresh(max ? "gmp" : "gap"), max ? "GlobalMaxPooling2D" : "GlobalAveragePooling2D",
             {{"data_format", "channels_last"}}, {in.name}, {"", 0, 0, in.c});
      }
      in = cur();
    }
    const int units = 1 + ch_.pick(10);
    const std::string name = fresh("dense");
    static const char* kActs[] = {"softmax", "linear", "relu", "softmax"};
    add_weights(name, "kernel", {in.c, units}, 1.5f / std::sqrt(static_cast<float>(in.c)));
    add_weights(name, "bias", {units}, 0.3f);
    emit(name, "Dense", {{"units", units}, {"activation", kActs[ch_.pick(4)]}, {"use_bias", true}},
         {in.name}, {"", 0, 0, units});
  }

  Choices& ch_;
  json layers_ = json::array();
  json manifest_ = json::array();
  std::vector<float> weights_;
  std::vector<Tensor> tensors_;
  std::string summary_;
  int next_ = 0;
  bool friendly_ = false;
};

}  // namespace

GeneratedModel generate_model(const std::uint8_t* data, std::size_t size) {
  Choices ch(data, size);
  return Builder(ch).build();
}

}  // namespace emc::fuzz
