// End to end: samples/models/<name>/model.json -> convert (k210 and cpu targets) -> parse_kmodel
// -> interpreter with kpu-sim + cpu backends, against the float executor on the sample inputs.
// (The samples and their helpers are in sample_models.h.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "emc/accel_sim/kpu_backend.h"
#include "emc/converter/convert.h"
#include "emc/converter/float_executor.h"
#include "emc/converter/model_json.h"
#include "emc/cpu_backend/cpu_backend.h"
#include "emc/format/kmodel_codec.h"
#include "emc/interpreter/interpreter.h"
#include "sample_models.h"

namespace emc {
namespace {

namespace fs = std::filesystem;
using namespace converter;
using e2e::kmodel_input;
using e2e::load_inputs;
using e2e::model_dir;
using e2e::SampleSpec;

struct Accuracy {
  int cases = 0, top1_equal = 0;
  double max_dp = 0;
};

Accuracy run_and_compare(const SampleSpec& s, const ConvertOptions& opt, const Graph& graph,
                         const std::vector<Tensor>& inputs, const ConvertResult& r) {
  Accuracy acc;
  interpreter::Registry reg;
  EXPECT_TRUE(accel_sim::register_kpu_sim_backend(reg).ok());
  EXPECT_TRUE(cpu_backend::register_cpu_backend(reg).ok());
  auto interp = interpreter::Interpreter::load(r.bytes, reg);
  EXPECT_TRUE(interp.ok()) << interp.error().to_string();
  if (!interp.ok()) return acc;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    auto ref = run_float(graph, {inputs[i]});
    EXPECT_TRUE(ref.ok());
    if (!ref.ok()) continue;
    const auto& want = ref.value().at(0).data;
    auto in = kmodel_input(inputs[i], r, opt.preprocess.scale);
    auto st = (*interp)->set_input(0, in);
    EXPECT_TRUE(st.ok()) << st.error().to_string();
    st = (*interp)->run();
    EXPECT_TRUE(st.ok()) << st.error().to_string();
    if (!st.ok()) continue;
    const std::vector<float> got = (*interp)->output(0);
    EXPECT_EQ(got.size(), want.size());
    if (got.size() != want.size()) continue;
    double md = 0;
    for (std::size_t k = 0; k < got.size(); ++k)
      md = std::max(md, std::fabs(double(got[k]) - want[k]));
    const auto t_got = std::max_element(got.begin(), got.end()) - got.begin();
    const auto t_want = std::max_element(want.begin(), want.end()) - want.begin();
    ++acc.cases;
    // An exact tie in the kmodel's output between its argmax and the float top-1 (equal int8
    // logits give equal probabilities; argmax takes the lower index) keeps the top-1.
    acc.top1_equal += t_got == t_want || got[std::size_t(t_got)] == got[std::size_t(t_want)];
    acc.max_dp = std::max(acc.max_dp, md);
    std::printf("[ %s %s case %zu ] top-1 float %td (p=%.4f) kmodel %td (p=%.4f)  max|dp| %.5f\n",
                s.name, std::string(opt.target->name).c_str(), i, t_want,
                double(want[static_cast<std::size_t>(t_want)]), t_got,
                double(got[static_cast<std::size_t>(t_got)]), md);
  }
  return acc;
}

class ConvertSamples : public testing::TestWithParam<SampleSpec> {};

TEST_P(ConvertSamples, ConvertsParsesRunsAndKeepsTop1) {
  const SampleSpec& s = GetParam();
  const std::string dir = model_dir(s.name);
  if (!fs::exists(dir + "/model.json")) FAIL() << "sample missing: " << dir;
  auto model = load_tfjs_model(dir + "/model.json");
  ASSERT_TRUE(model.ok()) << model.error().to_string();
  auto graph = build_graph(model.value());
  ASSERT_TRUE(graph.ok()) << graph.error().to_string();
  const Shape in_shape = graph->shape(graph->inputs[0]);
  const auto inputs = load_inputs(dir, in_shape);
  ASSERT_FALSE(inputs.empty());
  std::vector<std::vector<Tensor>> calib;
  for (const auto& t : inputs) calib.push_back({t});

  for (const Target* target : {Target::kK210, Target::kCpu}) {
    ConvertOptions opt;
    opt.target = target;
    opt.preprocess.scale = s.scale;
    auto r = convert(graph.value(), calib, opt);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    for (const auto& w : r->warnings) std::printf("[ %s ] warning: %s\n", s.name, w.c_str());
    auto parsed = format::parse_kmodel(r->bytes);
    ASSERT_TRUE(parsed.ok()) << parsed.error().to_string();
    EXPECT_EQ(parsed->layers.size(), r->layers.size());
    const auto acc = run_and_compare(s, opt, graph.value(), inputs, r.value());
    std::printf(
        "[ %s %s ] top-1 agreement %d/%d, max |dp| %.5f, %zu bytes, %zu layers, KPU peak %llu B, "
        "main %u B\n",
        s.name, std::string(target->name).c_str(), acc.top1_equal, acc.cases, acc.max_dp,
        r->bytes.size(), r->layers.size(), static_cast<unsigned long long>(r->kpu_peak_bytes),
        r->main_mem_bytes);
    EXPECT_EQ(acc.cases, static_cast<int>(inputs.size()));
    if (s.keeps_top1) {
      EXPECT_EQ(acc.top1_equal, acc.cases);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Samples, ConvertSamples, testing::ValuesIn(e2e::sample_specs()),
                         [](const testing::TestParamInfo<SampleSpec>& i) {
                           return std::string(i.param.name);
                         });

TEST(ConvertSamplesDeterminism, ConvertingTwiceGivesIdenticalBytes) {
  const std::string dir = model_dir("functional_concat_add");
  auto model = load_tfjs_model(dir + "/model.json");
  ASSERT_TRUE(model.ok());
  auto graph = build_graph(model.value());
  ASSERT_TRUE(graph.ok());
  const auto inputs = load_inputs(dir, graph->shape(graph->inputs[0]));
  std::vector<std::vector<Tensor>> calib;
  for (const auto& t : inputs) calib.push_back({t});
  ConvertOptions opt;
  opt.calibration = CalibrationMethod::kKld;
  opt.per_channel = true;
  auto a = convert(graph.value(), calib, opt);
  auto b = convert(graph.value(), calib, opt);
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->bytes, b->bytes);
  EXPECT_EQ(a->sidecar_json, b->sidecar_json);
}

}  // namespace
}  // namespace emc
