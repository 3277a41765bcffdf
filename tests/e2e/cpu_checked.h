// A small TF.js model built in a test, converted for -p cpu (calibrated on its own three random
// pixel inputs) and run isolated on the cpu backend (cpu_isolated.h); and the int8 grid the kmodel
// gives a tensor. Shared by the -p cpu layer tests (cpu_int8_forms_test, cpu_prelu_test).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "converter/model_builder.h"
#include "cpu_isolated.h"
#include "emc/converter/convert.h"
#include "emc/format/kmodel_codec.h"

namespace emc::testing {

struct CpuChecked {
  converter::Graph g;
  std::vector<converter::Tensor> inputs;  // 3 random h x w x c inputs in [0, 1] (seed 77)
  converter::ConvertResult r;
  IsoResult iso;
};

// Converts `mb` (input h x w x c) for -p cpu and runs it isolated; a failure is a test failure
// and leaves the result empty.
inline CpuChecked convert_cpu_isolated(const converter::testing::ModelBuilder& mb, int h, int w,
                                       int c) {
  using namespace converter;
  CpuChecked out;
  auto g = mb.graph();
  EXPECT_TRUE(g.ok()) << g.error().to_string();
  if (!g.ok()) return out;
  std::mt19937 rng(77);
  std::vector<Tensor> inputs;
  std::vector<std::vector<Tensor>> samples;
  for (int i = 0; i < 3; ++i) {
    Tensor t{Shape{{h, w, c}}, {}};
    for (int k = 0; k < h * w * c; ++k) t.data.push_back(float(rng() % 256) / 255.0f);
    inputs.push_back(t);
    samples.push_back({t});
  }
  ConvertOptions opt;
  opt.target = Target::kCpu;
  auto r = convert(*g, samples, opt);
  EXPECT_TRUE(r.ok()) << r.error().to_string();
  if (!r.ok()) return out;
  EXPECT_TRUE(format::parse_kmodel(r->bytes).ok());
  out.r = std::move(r).value();
  out.iso = run_cpu_isolated(out.r, *g, inputs);
  out.g = *g;
  out.inputs = inputs;
  EXPECT_TRUE(out.iso.error.empty()) << out.iso.error;
  return out;
}

// The int8 grid (scale, bias) the kmodel gives tensor `name` (the layer writing it).
inline std::pair<double, double> int8_grid_of(const converter::ConvertResult& r,
                                              const std::string& name) {
  for (const auto& l : r.layers)
    if (l.dtype == "int8" && l.float_tensor && *l.float_tensor == name && l.out_scale)
      return {*l.out_scale, *l.out_bias};
  ADD_FAILURE() << "no int8 layer writes '" << name << "'";
  return {1, 0};
}
// `v` rounded to the int8 grid q (codes clamped to [-128, 127]).
inline double on_int8_grid(double v, std::pair<double, double> q) {
  return std::clamp(std::round((v - q.second) / q.first), -128.0, 127.0) * q.first + q.second;
}

}  // namespace emc::testing
