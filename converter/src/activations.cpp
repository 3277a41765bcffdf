// The activations of activations.def: one struct each with its float function in TF.js's own
// arithmetic, its real-valued function and its breakpoints; the tables and the public entry
// points (apply_activation, activation_value) built from the rows.
#include "activations.h"

#include <algorithm>
#include <cmath>
#include <iterator>

#include "emc/converter/activation_fit.h"
#include "emc/converter/float_executor.h"
#include "nodes/node_kind.h"

namespace emc::converter {
namespace detail {
namespace {

// tfjs: as tfjs-backend-cpu evaluates it: in double (JS numbers), rounded to float once.
struct LinearFn {
  static constexpr bool kPiecewiseLinear = true;
  static float tfjs(const Activation&, float x) { return x; }
  static double real(const Activation&, double x) { return x; }
  static std::vector<double> kinks(const Activation&) { return {}; }
  static bool monotone(const Activation&) { return true; }
};

struct ReluFn {
  static constexpr bool kPiecewiseLinear = true;
  static float tfjs(const Activation& a, float x) {
    const double xd = x;
    if (x >= a.max_value) return a.max_value;
    if (x >= a.threshold) return x;
    return static_cast<float>(a.alpha * (xd - a.threshold));
  }
  static double real(const Activation& a, double x) {
    if (x >= a.max_value) return a.max_value;
    if (x >= a.threshold) return x;
    return a.alpha * (x - a.threshold);
  }
  static std::vector<double> kinks(const Activation& a) {
    std::vector<double> k{a.threshold};
    if (std::isfinite(a.max_value)) k.push_back(a.max_value);
    return k;
  }
  static bool monotone(const Activation& a) { return a.alpha >= 0; }
};

struct SigmoidFn {
  static constexpr bool kPiecewiseLinear = false;
  static float tfjs(const Activation&, float x) {
    const double xd = x;
    return static_cast<float>(1.0 / (1.0 + std::exp(-xd)));
  }
  static double real(const Activation&, double x) { return 1.0 / (1.0 + std::exp(-x)); }
  static std::vector<double> kinks(const Activation&) { return {}; }
  static bool monotone(const Activation&) { return true; }
};

struct HardSigmoidFn {
  static constexpr bool kPiecewiseLinear = true;
  // tfjs-layers: add(0.5, mul(alpha, x)), two float32 ops, then clip.
  static float tfjs(const Activation& a, float x) {
    return std::clamp(static_cast<float>(a.alpha) * x + 0.5f, 0.0f, 1.0f);
  }
  static double real(const Activation& a, double x) {
    return std::clamp(a.alpha * x + 0.5, 0.0, 1.0);
  }
  static std::vector<double> kinks(const Activation& a) {
    if (a.alpha > 0) return {-0.5 / a.alpha, 0.5 / a.alpha};
    return {};
  }
  static bool monotone(const Activation&) { return true; }
};

struct TanhFn {
  static constexpr bool kPiecewiseLinear = false;
  static float tfjs(const Activation&, float x) {
    const double xd = x;
    return static_cast<float>(std::tanh(xd));
  }
  static double real(const Activation&, double x) { return std::tanh(x); }
  static std::vector<double> kinks(const Activation&) { return {}; }
  static bool monotone(const Activation&) { return true; }
};

struct EluFn {
  static constexpr bool kPiecewiseLinear = false;
  static float tfjs(const Activation& a, float x) {
    const double xd = x;
    return x >= 0.0f ? x : static_cast<float>(a.alpha * (std::exp(xd) - 1.0));
  }
  static double real(const Activation& a, double x) {
    return x > 0 ? x : a.alpha * (std::exp(x) - 1.0);
  }
  static std::vector<double> kinks(const Activation&) { return {0.0}; }
  static bool monotone(const Activation& a) { return a.alpha >= 0; }
};

struct SeluFn {
  static constexpr bool kPiecewiseLinear = false;
  static float tfjs(const Activation&, float x) {
    const double xd = x;
    // tfjs-core's SELU_SCALE and SELU_SCALEALPHA (= scale * alpha, as one constant).
    constexpr double kScale = 1.0507009873554804934, kScaleAlpha = 1.7580993408473768599;
    return static_cast<float>(x >= 0.0f ? kScale * xd : kScaleAlpha * (std::exp(xd) - 1.0));
  }
  static double real(const Activation&, double x) {
    return 1.0507009873554805 * (x > 0 ? x : 1.6732632423543772 * (std::exp(x) - 1.0));
  }
  static std::vector<double> kinks(const Activation&) { return {0.0}; }
  static bool monotone(const Activation&) { return true; }
};

struct SwishFn {
  static constexpr bool kPiecewiseLinear = false;
  static float tfjs(const Activation&, float x) {
    const double xd = x;
    // tfjs-layers: mul(sigmoid(x), x), the sigmoid rounded to float first.
    const float s = static_cast<float>(1.0 / (1.0 + std::exp(-xd)));
    return s * x;
  }
  static double real(const Activation&, double x) { return x / (1.0 + std::exp(-x)); }
  static std::vector<double> kinks(const Activation&) { return {-1.2784645427610738}; }  // minimum
  static bool monotone(const Activation&) { return false; }
};

struct AffineFn {
  static constexpr bool kPiecewiseLinear = true;
  // tfjs-layers Rescaling: add(mul(x, scale), offset); the JS numbers become float32 scalars.
  static float tfjs(const Activation& a, float x) {
    return x * static_cast<float>(a.alpha) + static_cast<float>(a.offset);
  }
  static double real(const Activation& a, double x) { return a.alpha * x + a.offset; }
  static std::vector<double> kinks(const Activation&) { return {}; }
  static bool monotone(const Activation&) { return true; }
};

template <class F>
constexpr ActivationInfo info_of() {
  return ActivationInfo{&F::tfjs, &F::real, &F::kinks, F::kPiecewiseLinear, &F::monotone};
}

constexpr ActivationInfo kInfos[] = {
#define EMC_ACTIVATION(id, name, impl) info_of<impl>(),
#include "emc/converter/activations.def"
};

constexpr Activation spelled(ActivationKind kind, double alpha, float max_value) {
  Activation a;
  a.kind = kind;
  a.alpha = alpha;
  a.max_value = max_value;
  return a;
}

const ActivationSpelling kSpellings[] = {
#define EMC_ACTIVATION_NAME(spelling, id, alpha, max_value) \
  {spelling, spelled(ActivationKind::id, alpha, max_value)},
#include "emc/converter/activations.def"
};

}  // namespace

const ActivationInfo& activation_info(ActivationKind kind) {
  return kInfos[static_cast<std::size_t>(kind)];
}

std::span<const ActivationSpelling> activation_spellings() {
  return kSpellings;
}

void activate_inplace(const Activation& a, float* data, std::int64_t count) {
  if (a.kind == ActivationKind::kLinear) return;
  if (a.is_plain_relu()) {
    for (std::int64_t i = 0; i < count; ++i) data[i] = data[i] > 0.0f ? data[i] : 0.0f;
    return;
  }
  if (a.is_relu6()) {
    for (std::int64_t i = 0; i < count; ++i) data[i] = std::min(std::max(data[i], 0.0f), 6.0f);
    return;
  }
  const auto f = activation_info(a.kind).tfjs;
  for (std::int64_t i = 0; i < count; ++i) data[i] = f(a, data[i]);
}

}  // namespace detail

float apply_activation(const Activation& a, float x) {
  return detail::activation_info(a.kind).tfjs(a, x);
}

double activation_value(const Activation& act, double x) {
  return detail::activation_info(act.kind).real(act, x);
}

}  // namespace emc::converter
