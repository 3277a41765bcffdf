// custom_backend_demo: embed the EMC interpreter and plug in a backend of your own.
//
//   custom_backend_demo MODEL.kmodel [--runs N] [--input-raw FILE]
//
// Registers "counting-softmax" FIRST, then the built-in kpu-sim and cpu backends. Dispatch takes
// the first backend whose supports() says yes, so every SOFTMAX layer goes to the custom backend
// and everything else falls through to the built-ins. (Alternative without relying on order:
// register it last and set DispatchPolicy::by_type[LayerType::kSoftmax] = "counting-softmax".)
// It prints the plan, runs the model, and compares the outputs with a built-ins-only run.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "counting_softmax.h"
#include "emc/accel_sim/kpu_backend.h"
#include "emc/cpu_backend/cpu_backend.h"
#include "emc/interpreter/interpreter.h"

namespace {

using emc::interpreter::Interpreter;
using emc::interpreter::Registry;

int fail(const emc::Error& e) {
  std::fprintf(stderr, "custom_backend_demo: %s\n", e.to_string().c_str());
  return emc::exit_code_for(e.code());
}

emc::Status add_builtins(Registry& registry) {
  EMC_TRY(emc::accel_sim::register_kpu_sim_backend(registry));
  return emc::cpu_backend::register_cpu_backend(registry);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL.kmodel [--runs N] [--input-raw FILE]\n", argv[0]);
    return 2;
  }
  const std::string model_path = argv[1];
  int runs = 1;
  std::string input_path;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--runs") {
      runs = std::max(1, std::atoi(argv[i + 1]));
    } else if (flag == "--input-raw") {
      input_path = argv[i + 1];
    } else {
      std::fprintf(stderr, "unknown option %s\n", flag.c_str());
      return 2;
    }
  }

  // 1. Registry: our backend first (highest priority), then the built-ins.
  Registry registry;
  auto custom = std::make_unique<demo::CountingSoftmaxBackend>();
  const demo::CountingSoftmaxBackend* softmax = custom.get();  // the Registry owns it from here on
  if (auto s = registry.add(std::move(custom)); !s.ok()) return fail(s.error());
  if (auto s = add_builtins(registry); !s.ok()) return fail(s.error());

  // 2. Load: every layer is bound once and prepared once.
  auto loaded = Interpreter::load_file(model_path, registry);
  if (!loaded.ok()) return fail(loaded.error());
  Interpreter& it = **loaded;
  std::printf("backends: %s\nplan:\n", registry.names().c_str());
  for (const auto& e : it.plan()) {
    std::printf("  layer %2zu %-30s -> %s\n", e.index,
                std::string(emc::format::to_string(e.type)).c_str(), e.backend.c_str());
  }

  // 3. Input: a raw file, or a mid-grey image / ones.
  const auto info = it.input_info(0);
  std::vector<std::uint8_t> input(info.bytes, 128);
  if (!input_path.empty()) {
    std::ifstream f(input_path, std::ios::binary);
    input.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  } else if (info.type == emc::interpreter::ElementType::kFloat32) {
    const float one = 1.0f;
    for (std::size_t i = 0; i + 4 <= input.size(); i += 4) std::memcpy(&input[i], &one, 4);
  }
  if (auto s = it.set_input(0, input); !s.ok()) return fail(s.error());
  for (int r = 0; r < runs; ++r) {
    if (auto s = it.run(); !s.ok()) return fail(s.error());
  }
  std::printf("counting-softmax calls: %llu\n", static_cast<unsigned long long>(softmax->calls()));

  // 4. The same model on the built-ins alone, for comparison.
  Registry builtins;
  if (auto s = add_builtins(builtins); !s.ok()) return fail(s.error());
  auto reference = Interpreter::load_file(model_path, builtins);
  if (!reference.ok()) return fail(reference.error());
  if (auto s = (*reference)->set_input(0, input); !s.ok()) return fail(s.error());
  if (auto s = (*reference)->run(); !s.ok()) return fail(s.error());
  for (std::size_t o = 0; o < it.output_count(); ++o) {
    const std::vector<float> ours = it.output(o);
    const std::vector<float> theirs = (*reference)->output(o);
    double max_diff = 0.0, sum = 0.0;
    for (std::size_t i = 0; i < ours.size(); ++i) {
      max_diff = std::max(max_diff, std::fabs(double(ours[i]) - theirs[i]));
      sum += ours[i];
    }
    std::printf("output %zu: %zu values, sum %.6f, max |diff| vs built-in cpu softmax %.3g\n", o,
                ours.size(), sum, max_diff);
    for (std::size_t i = 0; i < std::min<std::size_t>(ours.size(), 10); ++i) {
      std::printf("  [%zu] %.6f\n", i, ours[i]);
    }
  }
  return 0;
}
