#include "emc/converter/activation_fit.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "activations.h"

namespace emc::converter {

namespace {

constexpr std::int64_t kXMin = -(std::int64_t{1} << 35);
constexpr std::int64_t kXMax = (std::int64_t{1} << 35) - 1;
constexpr int kMaxShift = 48;
constexpr std::int64_t kExhaustiveLimit = std::int64_t{1} << 21;

// round half away from zero, as documented for nncase v0.1 / SDK kpu_carry_shift.
std::int64_t carry_shift_away(std::int64_t v, int s) {
  if (s <= 0) return v;
  v >>= (s - 1);
  if (v & 1) return v < 0 ? (v >> 1) - 1 : (v >> 1) + 1;
  return v >> 1;
}

// nncase v0.2 / v1.9 carry_shift<int64_t, true> as documented (§6.4).
std::int64_t carry_shift_bankers(std::int64_t v, int s) {
  if (s <= 0) return v;
  const std::int64_t integral = v >> s;
  const std::int64_t frac = v & ((std::int64_t{1} << s) - 1);
  const std::int64_t half = std::int64_t{1} << (s - 1);
  const std::int64_t sign = v < 0 ? -1 : 1;
  if (frac < half) return integral;
  if (frac > half) return integral + sign;
  return (integral & 1) ? integral + sign : integral;
}

struct Seg {
  std::int64_t x = 0;
  std::int32_t mul = 0;
  std::uint32_t shift = 0;
  std::int32_t bias = 0;
};

void quantize_slope(double m, std::int32_t& mul, std::uint32_t& shift) {
  mul = 0;
  shift = 0;
  if (m == 0 || !std::isfinite(m)) return;
  int s = 0;
  while (s < kMaxShift && std::fabs(std::ldexp(m, s + 1)) <= 32767.0) ++s;
  const double q = std::round(std::ldexp(m, s));
  mul = static_cast<std::int32_t>(std::clamp(q, -32768.0, 32767.0));
  shift = static_cast<std::uint32_t>(s);
}

std::int64_t seg_eval(const Seg& g, std::int64_t bn, bool bankers) {
  const std::int64_t v = (bn - g.x) * g.mul;
  const std::int64_t y =
      (bankers ? carry_shift_bankers(v, g.shift) : carry_shift_away(v, g.shift)) + g.bias;
  return std::clamp<std::int64_t>(y, 0, 255);
}

class Fitter {
 public:
  explicit Fitter(const ActivationFitSpec& s) : spec_(s) {}

  // Ideal real-valued output code.
  double g(std::int64_t bn) const {
    const double y = activation_value(spec_.activation, static_cast<double>(bn) * spec_.bn_scale);
    return y / spec_.output.scale + spec_.output.zero_point;
  }
  double gc(std::int64_t bn) const { return std::clamp(g(bn), 0.0, 255.0); }
  std::int64_t t(std::int64_t bn) const {
    return static_cast<std::int64_t>(std::clamp(std::round(g(bn)), 0.0, 255.0));
  }
  std::int32_t bias_at(std::int64_t bn) const { return static_cast<std::int32_t>(t(bn)); }

  // Line from `a` with slope m quantized; bias = the clamped rounded ideal code at a.
  Seg line(std::int64_t a, double m) const {
    Seg s;
    s.x = a;
    s.bias = bias_at(a);
    quantize_slope(m, s.mul, s.shift);
    return s;
  }
  // Line of slope m through the ideal code at `a` with no offset: its integer bias is the code
  // g(a) rounded towards the line's past (floor for m > 0, ceil for m < 0) and its start moves
  // back by the bn units that fraction takes on the line (not below `min_x`), so the line passes
  // g(a) within |m|/2 instead of up to 0.5 LSB off along the whole piece (which then adds to the
  // output rounding: up to 1 LSB). For a piece whose ideal code is not an integer where it
  // starts: the first linear piece at the bottom of the domain (a leaky ReLU's negative side
  // when the output range covers the lowest reachable bn) or where it enters [0, 255].
  Seg anchored_line(std::int64_t a, double m, std::int64_t min_x) const {
    Seg s = line(a, m);
    if (s.mul == 0) return s;
    const double slope = std::ldexp(double(s.mul), -static_cast<int>(s.shift));
    const double ga = g(a);
    const double bias = std::clamp(m > 0 ? std::floor(ga) : std::ceil(ga), 0.0, 255.0);
    const double back = std::round((ga - bias) / slope);
    if (!(back > 0) || back > double(a - min_x)) return s;
    s.x = a - static_cast<std::int64_t>(back);
    s.bias = static_cast<std::int32_t>(bias);
    return s;
  }
  Seg constant(std::int64_t a, std::int32_t value) const {
    Seg s;
    s.x = a;
    s.bias = value;
    return s;
  }

  // Max error of the best line on [a, b] (sampled), and the line itself. The minimax search of
  // fit_activation asks for the same [a, b] again and again (each tolerance's cover repeats most
  // of the previous one's bisection steps), so results are kept.
  double fit(std::int64_t a, std::int64_t b, Seg& out) const {
    const auto [it, fresh] = fits_.try_emplace({a, b});
    if (fresh) it->second.error = fit_uncached(a, b, it->second.seg);
    out = it->second.seg;
    return it->second.error;
  }

  const ActivationFitSpec& spec() const { return spec_; }

 private:
  double fit_uncached(std::int64_t a, std::int64_t b, Seg& out) const {
    constexpr int kN = 48;
    const double bias = bias_at(a);
    std::array<std::int64_t, kN> xs;
    std::array<double, kN> ys;
    std::size_t n = 0;
    for (int j = 0; j < kN; ++j) {
      const auto x = a + static_cast<std::int64_t>(std::llround(double(b - a) * j / (kN - 1)));
      if (n > 0 && xs[n - 1] == x) continue;
      xs[n] = x;
      ys[n++] = gc(x);
    }
    double mlo = 0, mhi = 0;
    bool first = true;
    for (std::size_t j = 0; j < n; ++j) {
      if (xs[j] == a) continue;
      const double s = (ys[j] - bias) / double(xs[j] - a);
      mlo = first ? s : std::min(mlo, s);
      mhi = first ? s : std::max(mhi, s);
      first = false;
    }
    // The max deviation of the lines through (a, bias) with slopes m1 and m2, in one pass with
    // four partial maxima each (the max does not depend on the order): the points are padded to
    // a multiple of four with copies of the first.
    std::array<double, kN> dx, yp;
    const std::size_t n4 = (n + 3) / 4 * 4;
    for (std::size_t j = 0; j < n4; ++j) {
      dx[j] = double(xs[j < n ? j : 0] - a);
      yp[j] = ys[j < n ? j : 0];
    }
    auto err2 = [&](double m1, double m2, double& e1, double& e2) {
      double p1[4] = {0, 0, 0, 0}, p2[4] = {0, 0, 0, 0};
      for (std::size_t j = 0; j < n4; j += 4) {
        for (std::size_t k = 0; k < 4; ++k) {
          p1[k] = std::max(p1[k], std::fabs(bias + m1 * dx[j + k] - yp[j + k]));
          p2[k] = std::max(p2[k], std::fabs(bias + m2 * dx[j + k] - yp[j + k]));
        }
      }
      e1 = std::max(std::max(p1[0], p1[1]), std::max(p1[2], p1[3]));
      e2 = std::max(std::max(p2[0], p2[1]), std::max(p2[2], p2[3]));
    };
    for (int it = 0; it < 40 && !first; ++it) {
      const double m1 = mlo + (mhi - mlo) / 3, m2 = mhi - (mhi - mlo) / 3;
      double e1, e2;
      err2(m1, m2, e1, e2);
      if (e1 <= e2)
        mhi = m2;
      else
        mlo = m1;
    }
    out = line(a, first ? 0.0 : 0.5 * (mlo + mhi));
    double e = 0;
    for (std::size_t j = 0; j < n; ++j)
      for (bool bankers : {false, true})  // both documented rounding rules (§6.4)
        e = std::max(e, std::fabs(double(seg_eval(out, xs[j], bankers)) - ys[j]));
    return e;
  }

  struct PairHash {
    std::size_t operator()(const std::pair<std::int64_t, std::int64_t>& p) const {
      const auto a = static_cast<std::uint64_t>(p.first), b = static_cast<std::uint64_t>(p.second);
      return std::hash<std::uint64_t>()(a * 0x9E3779B97F4A7C15ULL ^ b);
    }
  };
  struct LineFit {
    double error = 0;
    Seg seg;
  };

  ActivationFitSpec spec_;
  mutable std::unordered_map<std::pair<std::int64_t, std::int64_t>, LineFit, PairHash> fits_;
};

bool is_piecewise_linear(const Activation& a) {
  return detail::activation_info(a.kind).piecewise_linear;
}

// Real-valued breakpoints of the activation (kinks, discontinuities, the swish minimum).
std::vector<double> kinks_of(const Activation& a) {
  return detail::activation_info(a.kind).kinks(a);
}

// The points the error check visits: x(i) = lo + span·i / n (integer division), i = 0..n. With
// n == span these are all integers of [lo, lo + span]; with n < span, n + 1 evenly spaced ones.
struct SampledPoints {
  std::int64_t lo = 0, span = 0, n = 0;

  std::int64_t at(std::int64_t i) const { return n == 0 ? lo : lo + span * i / n; }
  // Index of the first point ≥ v (n + 1 if none): x(i) ≥ v ⇔ span·i ≥ (v − lo)·n.
  std::int64_t first_at_or_above(std::int64_t v) const {
    if (v <= lo) return 0;
    if (v > lo + span) return n + 1;
    return ((v - lo) * n + span - 1) / span;
  }
  // Index of the last point ≤ v (−1 if none): x(i) ≤ v ⇔ span·i < (v − lo + 1)·n.
  std::int64_t last_at_or_below(std::int64_t v) const {
    if (v < lo) return -1;
    if (v >= lo + span) return n;
    return ((v - lo + 1) * n - 1) / span;
  }
};

// Worst error of an activation table against the ideal code g over a set of points, under both
// segment-selection rules and both rounding rules (§6.4, §9.1, §9.2):
//   error      = max |out − clamp(g, 0, 255)|
//   code error = max |out − clamp(round(g), 0, 255)|, a difference of 1 at an exact .5 tie excused.
// check_points() returns exactly the maxima that check_point() at every point would, without
// visiting the points where that is provably redundant. On an interval where (a) no segment starts
// (both selection rules pick the same segment), (b) the segment's product (bn − x_start)·y_mul is
// ≥ 0 (both roundings are then non-decreasing in bn) and (c) the computed g is monotone in bn (one
// branch of a piecewise-linear activation: each floating-point step there — bn·scale, − const,
// ·const, /const, +const, clamp — is a monotone rounding of a monotone function), the points split
// into runs on which both outputs are constant; on a run |out − clamp(g)| and |out − t| are convex
// functions of a monotone sequence, so their maxima are at the run's first and last point (a code
// error of 1 is resolved by walking in from the ends while the points are ties). A smooth
// activation whose real function is monotone (sigmoid, tanh, selu, elu with alpha >= 0) gets the
// same run split, with (c) holding up to the libm error: the computed g differs from a monotone
// function by at most slack_ (smooth_slack), so an inner point of a run can exceed the error at
// the run's ends by at most slack_, and its code can leave the ends' range only within slack_ of
// a .5 boundary, where it counts as a tie. The runs whose end error comes within 2·slack_ of the
// final maximum, and the runs with an end near a .5 boundary, are evaluated at every point. Every
// other point (segment starts, negative slopes, swish, a slack too large for the tie tolerance) is
// evaluated one by one; off the segment starts the segment is known, so a point there costs two
// evaluations of it instead of four table searches.
class TableCheck {
 public:
  TableCheck(const Fitter& f, const format::KpuActivationTable& table, const Activation& act)
      : f_(f), table_(table) {
    sorted_ = true;
    for (std::size_t i = 1; i < table.size(); ++i)
      if (!(table[i - 1].x_start < table[i].x_start)) sorted_ = false;
    piecewise_linear_ = is_piecewise_linear(act);
    if (!piecewise_linear_ && detail::activation_info(act.kind).monotone(act)) {
      slack_ = smooth_slack(f.spec());
      smooth_runs_ = slack_ <= kMaxSmoothSlack;
    }
  }

  void check_point(std::int64_t bn) {
    const double ir = f_.g(bn);
    const double ideal = std::clamp(ir, 0.0, 255.0);
    const std::int64_t t = code_of(ir);
    const bool tie = is_tie(ir);
    for (int rule = 0; rule < 4; ++rule) {
      const std::int64_t out = eval_activation_table(table_, bn, rule & 1, rule & 2);
      max_error_ = std::max(max_error_, std::fabs(double(out) - ideal));
      std::int64_t ce = std::llabs(out - t);
      if (tie && ce == 1) ce = 0;
      max_code_error_ = std::max(max_code_error_, ce);
    }
  }

  void check_points(const SampledPoints& pts) {
    const std::int64_t lo = pts.lo, hi = pts.lo + pts.span;
    if (!(piecewise_linear_ || smooth_runs_) || !sorted_) {
      for (std::int64_t i = 0; i <= pts.n; ++i) check_point(pts.at(i));
      return;
    }
    // Interval starts: every segment start is an interval of its own; a branch change of the
    // activation (relu: x ≥ threshold, x ≥ max_value) starts a new one.
    std::vector<std::int64_t> starts{lo};
    for (const auto& seg : table_) {
      if (seg.x_start >= lo && seg.x_start <= hi) {
        starts.push_back(seg.x_start);
        starts.push_back(seg.x_start + 1);
      }
    }
    const Activation& act = f_.spec().activation;
    if (act.kind == ActivationKind::kRelu) {
      const double scale = f_.spec().bn_scale;
      for (double edge : {double(act.max_value), double(act.threshold)}) {
        // First bn with bn·scale ≥ edge (the same product activation_value compares).
        auto reached = [&](std::int64_t bn) { return static_cast<double>(bn) * scale >= edge; };
        if (reached(lo) || !reached(hi)) continue;
        std::int64_t a = lo, b = hi;  // reached(a) false, reached(b) true
        while (b - a > 1) {
          const std::int64_t m = a + (b - a) / 2;
          (reached(m) ? b : a) = m;
        }
        starts.push_back(b);
      }
    }
    std::sort(starts.begin(), starts.end());
    starts.erase(std::unique(starts.begin(), starts.end()), starts.end());
    for (std::size_t k = 0; k < starts.size(); ++k) {
      const std::int64_t a = starts[k];
      const std::int64_t b = k + 1 < starts.size() ? starts[k + 1] - 1 : hi;
      if (a > b) continue;
      if (is_start(a)) {  // [a, a]: the two selection rules differ here
        const std::int64_t i1 = pts.first_at_or_above(a), i2 = pts.last_at_or_below(b);
        for (std::int64_t i = i1; i <= i2; ++i) check_point(pts.at(i));
      } else {
        check_interval(a, b, pts);
      }
    }
    // Inner points of the smooth runs that could hold the maximum error.
    for (const DeferredRun& run : deferred_) {
      if (run.end_error + 2 * slack_ < max_error_) continue;
      for (std::int64_t i = run.i1 + 1; i < run.i2; ++i) check_point_on(pts.at(i), run.seg);
    }
    deferred_.clear();
  }

  double max_error_lsb() const { return max_error_; }
  std::int64_t max_code_error() const { return max_code_error_; }

 private:
  static std::int64_t code_of(double ir) {
    return static_cast<std::int64_t>(std::clamp(std::round(ir), 0.0, 255.0));
  }
  bool is_start(std::int64_t bn) const {
    return std::any_of(table_.begin(), table_.end(),
                       [bn](const auto& seg) { return seg.x_start == bn; });
  }
  static bool is_tie(double ir) { return std::fabs(ir - std::floor(ir) - 0.5) < kTieTolerance; }

  // A point off every segment start: both selection rules pick `seg`.
  void check_point_on(std::int64_t bn, const Seg& seg) {
    const double ir = f_.g(bn);
    const double ideal = std::clamp(ir, 0.0, 255.0);
    const std::int64_t t = code_of(ir);
    const bool tie = is_tie(ir);
    for (bool bankers : {false, true}) {
      const std::int64_t out = seg_eval(seg, bn, bankers);
      max_error_ = std::max(max_error_, std::fabs(double(out) - ideal));
      std::int64_t ce = std::llabs(out - t);
      if (tie && ce == 1) ce = 0;
      max_code_error_ = std::max(max_code_error_, ce);
    }
  }

  // [a, b] holds no segment start (so both selection rules pick the same segment) and one branch
  // of the activation.
  void check_interval(std::int64_t a, std::int64_t b, const SampledPoints& pts) {
    const std::int64_t i1 = pts.first_at_or_above(a), i2 = pts.last_at_or_below(b);
    if (i1 > i2) return;
    const format::KpuActivationSegment* seg = nullptr;
    for (const auto& s : table_)
      if (s.x_start < a) seg = &s;
    if (seg == nullptr) {
      for (std::int64_t i = i1; i <= i2; ++i) check_point(pts.at(i));
      return;
    }
    Seg g;
    g.x = seg->x_start;
    g.mul = seg->y_mul;
    g.shift = seg->shift_number;
    g.bias = seg->result_bias;
    if (g.mul < 0) {  // outputs not provably monotone: every point
      for (std::int64_t i = i1; i <= i2; ++i) check_point_on(pts.at(i), g);
      return;
    }
    std::int64_t r = a;
    while (r <= b) {
      const std::int64_t ca = seg_eval(g, r, false), cb = seg_eval(g, r, true);
      auto same = [&](std::int64_t bn) {
        return seg_eval(g, bn, false) <= ca && seg_eval(g, bn, true) <= cb;
      };
      std::int64_t e = b;
      if (!same(b)) {
        std::int64_t x = r;  // same(x) true, same(e) false
        while (e - x > 1) {
          const std::int64_t m = x + (e - x) / 2;
          (same(m) ? x : e) = m;
        }
        e = x;
      }
      check_run(r, e, ca, cb, g, pts);
      r = e + 1;
    }
  }

  // Both outputs constant (ca: half away from zero, cb: banker's) and g monotone on [r, e].
  void check_run(std::int64_t r, std::int64_t e, std::int64_t ca, std::int64_t cb, const Seg& seg,
                 const SampledPoints& pts) {
    const std::int64_t i1 = pts.first_at_or_above(r), i2 = pts.last_at_or_below(e);
    if (i1 > i2) return;
    const double ir1 = f_.g(pts.at(i1)), ir2 = f_.g(pts.at(i2));
    if (smooth_runs_ && (is_tie(ir1) || is_tie(ir2))) {  // an end near a .5 boundary
      for (std::int64_t i = i1; i <= i2; ++i) check_point_on(pts.at(i), seg);
      return;
    }
    double end_error = 0;
    for (std::int64_t c : {ca, cb})
      for (double ir : {ir1, ir2})
        end_error = std::max(end_error, std::fabs(double(c) - std::clamp(ir, 0.0, 255.0)));
    max_error_ = std::max(max_error_, end_error);
    if (smooth_runs_ && i2 - i1 > 1) deferred_.push_back({i1, i2, seg, end_error});
    for (std::int64_t c : {ca, cb}) {
      const std::int64_t m = std::max(std::llabs(c - code_of(ir1)), std::llabs(c - code_of(ir2)));
      if (m != 1) {
        max_code_error_ = std::max(max_code_error_, m);
        continue;
      }
      // Every point is within 1 code; those at 1 form a prefix and/or a suffix. They count unless
      // all of them are .5 ties.
      bool counted = false;
      for (std::int64_t dir : {std::int64_t{1}, std::int64_t{-1}}) {
        for (std::int64_t i = dir > 0 ? i1 : i2; !counted && i >= i1 && i <= i2; i += dir) {
          const double ir = i == i1 ? ir1 : i == i2 ? ir2 : f_.g(pts.at(i));
          if (std::llabs(c - code_of(ir)) != 1) break;
          if (!is_tie(ir)) counted = true;
        }
      }
      if (counted) max_code_error_ = std::max<std::int64_t>(max_code_error_, 1);
    }
  }

  // How far the computed g of a monotone smooth activation can be from a monotone sequence, in
  // output LSB: the libm functions (exp, tanh) are within a few ulp of the real value (glibc
  // documents <= 2); kLibmError allows ~45 ulp of 1 per unit of the function's constants, divided
  // by the output scale, and kCodeError ~100 ulp of |g| <= 512 for the scaling to codes.
  static double smooth_slack(const ActivationFitSpec& s) {
    constexpr double kLibmError = 1e-14, kCodeError = 1e-11;
    return kLibmError * (2.0 + std::fabs(s.activation.alpha)) / s.output.scale + kCodeError;
  }
  // The run argument needs 2·slack_ below the tie tolerance; a larger slack (an output scale
  // under ~1.5e-4) makes the check evaluate every point.
  static constexpr double kTieTolerance = 1e-9;
  static constexpr double kMaxSmoothSlack = 2e-10;

  struct DeferredRun {
    std::int64_t i1 = 0, i2 = 0;
    Seg seg;
    double end_error = 0;
  };

  const Fitter& f_;
  const format::KpuActivationTable& table_;
  bool sorted_ = false;
  bool piecewise_linear_ = false;
  bool smooth_runs_ = false;  // a monotone smooth activation with a small enough slack_
  double slack_ = 0;
  std::vector<DeferredRun> deferred_;
  double max_error_ = 0;
  std::int64_t max_code_error_ = 0;
};

}  // namespace

std::int64_t eval_activation_table(const format::KpuActivationTable& table, std::int64_t bn,
                                   bool strict_selection, bool bankers_rounding) {
  std::size_t idx = 0;
  if (strict_selection) {
    for (std::size_t i = table.size(); i-- > 0;) {
      if (bn > table[i].x_start) {
        idx = i;
        break;
      }
    }
  } else {
    for (std::size_t i = 0; i < table.size(); ++i)
      if (table[i].x_start <= bn) idx = i;
  }
  Seg s;
  s.x = table[idx].x_start;
  s.mul = table[idx].y_mul;
  s.shift = table[idx].shift_number;
  s.bias = table[idx].result_bias;
  return seg_eval(s, bn, bankers_rounding);
}

ActivationTableError activation_table_error(const ActivationFitSpec& spec,
                                            const format::KpuActivationTable& table,
                                            std::int64_t lo, std::int64_t hi,
                                            std::int64_t samples) {
  ActivationTableError out;
  if (hi < lo) return out;
  const std::int64_t span = hi - lo;
  Fitter f(spec);
  TableCheck check(f, table, spec.activation);
  check.check_points(SampledPoints{lo, span, samples > 0 && samples < span ? samples : span});
  out.max_error_lsb = check.max_error_lsb();
  out.max_code_error = check.max_code_error();
  return out;
}

Result<ActivationFit> fit_activation(const ActivationFitSpec& spec) {
  if (!(spec.bn_scale > 0) || !std::isfinite(spec.bn_scale) || !(spec.output.scale > 0) ||
      spec.bn_min > spec.bn_max) {
    return Error(Errc::kQuantization, "activation fit: invalid scales or bn range");
  }
  Fitter f(spec);
  // bn units per output LSB. The table covers the reachable bn range (within the table's own
  // domain); the active domain is searched on a grid over it and on a denser one over ±64 output
  // ranges around bn = 0, where the features of a non-monotone activation (swish's dip) lie. (The
  // window alone missed the active domain of a sigmoid whose output range is small: [0, 0.045]
  // is reached for x in [-9.3, -3.05], beyond ±64 · 0.045.)
  const double k_lsb = spec.output.scale / spec.bn_scale;
  constexpr std::int64_t kLimit = kXMax - 64;
  const double r = std::min(64.0 * 256.0 * k_lsb + 1.0, double(kLimit));
  const std::int64_t d_lo = std::max<std::int64_t>(spec.bn_min, -kLimit);
  const std::int64_t d_hi = std::min<std::int64_t>(spec.bn_max, kLimit);
  const std::int32_t t_lo = f.bias_at(d_lo), t_hi = f.bias_at(d_hi);

  // Active domain [L, H]: outside it the ideal code equals the tail values. On a grid over
  // [lo, hi], refined by bisection between grid neighbours (false: constant over the grid).
  constexpr std::int64_t kGrid = 1 << 16;
  auto active = [&](std::int64_t lo, std::int64_t hi, std::int64_t& a_lo, std::int64_t& a_hi) {
    if (hi < lo) return false;
    auto grid_x = [&](std::int64_t i) { return lo + (hi - lo) * i / kGrid; };
    std::int64_t lo_i = -1, hi_i = -1;
    for (std::int64_t i = 0; i <= kGrid; ++i)
      if (f.bias_at(grid_x(i)) != t_lo) {
        lo_i = i;
        break;
      }
    for (std::int64_t i = kGrid; i >= 0; --i)
      if (f.bias_at(grid_x(i)) != t_hi) {
        hi_i = i;
        break;
      }
    if (lo_i < 0 || hi_i < 0) return false;
    std::int64_t a = lo_i == 0 ? lo : grid_x(lo_i - 1), b = grid_x(lo_i);
    while (b - a > 1) {
      const std::int64_t m = a + (b - a) / 2;
      (f.bias_at(m) != t_lo ? b : a) = m;
    }
    a_lo = b;
    a = grid_x(hi_i);
    b = hi_i == kGrid ? hi : grid_x(hi_i + 1);
    while (b - a > 1) {
      const std::int64_t m = a + (b - a) / 2;
      (f.bias_at(m) != t_hi ? a : b) = m;
    }
    a_hi = a;
    return true;
  };
  std::int64_t act_lo = d_lo, act_hi = d_hi;
  std::int64_t w_lo = 0, w_hi = 0;
  const bool in_range = active(d_lo, d_hi, act_lo, act_hi);
  const bool in_window =
      active(std::max<std::int64_t>(d_lo, -static_cast<std::int64_t>(r)),
             std::min<std::int64_t>(d_hi, static_cast<std::int64_t>(r)), w_lo, w_hi);
  if (in_window) {
    act_lo = in_range ? std::min(act_lo, w_lo) : w_lo;
    act_hi = in_range ? std::max(act_hi, w_hi) : w_hi;
  }

  std::vector<Seg> segs;
  segs.push_back(f.constant(kXMin, t_lo));
  if (in_range || in_window) {
    // Breakpoints (bn) from the activation's kinks.
    std::vector<std::int64_t> kinks;
    for (double kx : kinks_of(spec.activation)) {
      const double kb = std::ceil(kx / spec.bn_scale);
      if (kb > double(d_lo) && kb <= double(d_hi)) kinks.push_back(static_cast<std::int64_t>(kb));
    }
    std::sort(kinks.begin(), kinks.end());
    kinks.erase(std::unique(kinks.begin(), kinks.end()), kinks.end());

    if (is_piecewise_linear(spec.activation)) {
      // One line per linear piece [p0, p1], started where the ideal code enters [0, 255].
      std::vector<std::int64_t> starts{d_lo};
      starts.insert(starts.end(), kinks.begin(), kinks.end());
      for (std::size_t i = 0; i < starts.size(); ++i) {
        const std::int64_t p0 = starts[i];
        const std::int64_t p1 = i + 1 < starts.size() ? starts[i + 1] - 1 : d_hi;
        if (p1 < p0) continue;
        const double g0 = f.g(p0), g1 = f.g(p1);
        const double m = p1 > p0 ? (g1 - g0) / double(p1 - p0) : 0.0;
        if (std::fabs(m) * double(p1 - p0) < 0.25) {  // constant piece
          segs.push_back(f.constant(p0, f.bias_at(p0 + (p1 - p0) / 2)));
          continue;
        }
        std::int64_t a0 = p0;
        if (m > 0 && g0 < 0) a0 = static_cast<std::int64_t>(std::ceil(double(p0) + (0 - g0) / m));
        if (m < 0 && g0 > 255)
          a0 = static_cast<std::int64_t>(std::ceil(double(p0) + (255 - g0) / m));
        if ((m > 0 && g0 > 255) || (m < 0 && g0 < 0) || a0 > p1) {
          segs.push_back(f.constant(p0, f.bias_at(p0)));
          continue;
        }
        if (a0 > p0) segs.push_back(f.constant(p0, f.bias_at(p0)));
        if (a0 > p0 || i == 0)  // (a kink start has an integer code: relu's, leaky's 0)
          segs.push_back(f.anchored_line(a0, m, a0 > p0 ? p0 + 1 : kXMin + 1));
        else
          segs.push_back(f.line(a0, m));
      }
    } else {
      // Minimax: the smallest tolerance whose greedy cover fits the segment budget.
      const int budget = 16 - 2;  // minus the two constant tails
      auto cover = [&](double tol, std::vector<Seg>& out) {
        out.clear();
        std::int64_t x0 = act_lo;
        while (x0 <= act_hi) {
          std::int64_t limit = act_hi;
          for (std::int64_t kb : kinks)
            if (kb > x0) {
              limit = std::min(limit, kb - 1);
              break;
            }
          Seg best_seg;
          f.fit(x0, x0, best_seg);
          std::int64_t lo = x0, hi = limit;
          Seg s;
          if (f.fit(x0, hi, s) <= tol) {
            lo = hi;
            best_seg = s;
          } else {
            while (hi - lo > 1) {  // invariant: fit(a, lo) <= tol < fit(a, hi)
              const std::int64_t mid = lo + (hi - lo) / 2;
              if (f.fit(x0, mid, s) <= tol) {
                lo = mid;
                best_seg = s;
              } else {
                hi = mid;
              }
            }
          }
          out.push_back(best_seg);
          if (static_cast<int>(out.size()) > budget) return false;
          x0 = lo + 1;
        }
        return true;
      };
      double tlo = 0.5, thi = 256.0;
      std::vector<Seg> best, tmp;
      if (!cover(thi, best)) return Error(Errc::kInternal, "activation fit: no cover found");
      for (int it = 0; it < 20; ++it) {
        const double mid = 0.5 * (tlo + thi);
        if (cover(mid, tmp)) {
          thi = mid;
          best = tmp;
        } else {
          tlo = mid;
        }
      }
      segs.insert(segs.end(), best.begin(), best.end());
    }
    if (act_hi < d_hi) segs.push_back(f.constant(act_hi + 1, t_hi));
  }
  // Merge runs of equal constants; the first segment keeps x_start = -2^35.
  std::vector<Seg> merged;
  for (const Seg& s : segs) {
    if (!merged.empty() && merged.back().mul == 0 && s.mul == 0 && merged.back().bias == s.bias)
      continue;
    if (!merged.empty() && s.x <= merged.back().x)
      merged.back() = s;  // same start: later wins
    else
      merged.push_back(s);
  }
  merged.front().x = kXMin;
  if (merged.size() > format::kKpuActivationSegments) {
    return Error(Errc::kInternal, "activation fit produced more than 16 segments");
  }
  ActivationFit fit;
  fit.segments_used = static_cast<int>(merged.size());
  fit.domain_lo = act_lo;
  fit.domain_hi = act_hi;
  for (std::size_t i = 0; i < format::kKpuActivationSegments; ++i) {
    auto& out = fit.table[i];
    if (i < merged.size()) {
      out.x_start = merged[i].x;
      out.y_mul = merged[i].mul;
      out.shift_number = merged[i].shift;
      out.result_bias = static_cast<std::uint8_t>(merged[i].bias);
    } else {
      // Unused: unreachable starts just below 2^35 (ascending), repeating the right tail.
      out.x_start = kXMax - static_cast<std::int64_t>(format::kKpuActivationSegments - i);
      out.result_bias =
          static_cast<std::uint8_t>(merged.back().mul == 0 ? merged.back().bias : t_hi);
    }
  }

  // Error over the active domain widened by two output LSBs each side, plus the breakpoints.
  const std::int64_t margin = static_cast<std::int64_t>(2 * k_lsb) + 2;
  const std::int64_t e_lo = std::max(d_lo, act_lo - margin);
  const std::int64_t e_hi = std::min(d_hi, act_hi + margin);
  TableCheck check(f, fit.table, spec.activation);
  const std::int64_t span = e_hi - e_lo;
  if (span <= kExhaustiveLimit) {
    fit.exhaustive = true;
    if (span >= 0) {
      check.check_points(SampledPoints{e_lo, span, span});
      fit.evaluated_points += span + 1;
    }
  } else {
    check.check_points(SampledPoints{e_lo, span, kExhaustiveLimit});
    fit.evaluated_points += kExhaustiveLimit + 1;
    for (const auto& s : merged)
      for (std::int64_t d = -1; d <= 1; ++d)
        if (s.x + d >= d_lo && s.x + d <= d_hi) {
          check.check_point(s.x + d);
          ++fit.evaluated_points;
        }
  }
  for (std::int64_t i = 0; i <= 4096; ++i) check.check_point(d_lo + (d_hi - d_lo) * i / 4096);
  fit.evaluated_points += 4097;
  fit.max_error_lsb = check.max_error_lsb();
  fit.max_code_error = check.max_code_error();
  return fit;
}

}  // namespace emc::converter
