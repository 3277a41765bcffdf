#include "bench.h"

#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace emc::tools {
namespace {

struct Stats {
  double median = 0, min = 0, max = 0;
};

Stats stats_of(std::vector<double> v) {
  Stats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  s.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  s.min = v.front();
  s.max = v.back();
  return s;
}

struct LayerTimes {
  format::LayerType type = format::LayerType::kInvalid;
  std::string backend;
  std::vector<double> us;
};

}  // namespace

Status run_bench(interpreter::Interpreter& it, const BenchOptions& o) {
  if (o.runs <= 0) return Error(Errc::kInvalidArgument, "--bench needs N > 0");
  std::vector<LayerTimes> layers;
  bool timed = false;
  it.set_observer([&](const interpreter::LayerEvent& ev) {
    if (!timed) return;
    if (layers.size() <= ev.index) layers.resize(ev.index + 1);
    LayerTimes& l = layers[ev.index];
    l.type = ev.type;
    l.backend = std::string(ev.backend);
    l.us.push_back(std::chrono::duration<double, std::micro>(ev.host_time).count());
  });
  for (int i = 0; i < o.warmup; ++i)
    if (Status s = it.run(); !s.ok()) return s;
  timed = true;
  // CPU time of this thread per run (the interpreter runs on the calling thread): unlike the wall
  // time it does not grow while the scheduler runs other processes on a loaded machine.
  auto thread_cpu_ms = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
  };
  std::vector<double> total_ms, cpu_ms;
  for (int i = 0; i < o.runs; ++i) {
    const double c0 = thread_cpu_ms();
    const auto t0 = std::chrono::steady_clock::now();
    if (Status s = it.run(); !s.ok()) return s;
    total_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    cpu_ms.push_back(thread_cpu_ms() - c0);
  }
  it.set_observer({});

  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const double peak_rss_mib = static_cast<double>(ru.ru_maxrss) / 1024.0;  // Linux: KiB
  std::error_code ec;
  const auto file_bytes = std::filesystem::file_size(o.model_path, ec);
  const double file_mib = ec ? 0.0 : static_cast<double>(file_bytes) / (1 << 20);
  const double main_mib = static_cast<double>(it.main_memory().size()) / (1 << 20);
  const double budget_mib = file_mib + main_mib + 2.0 + 8.0;
  const Stats t = stats_of(total_ms);
  const Stats c = stats_of(cpu_ms);

  if (o.json) {
    nlohmann::json j;
    j["model"] = o.model_path;
    j["runs"] = o.runs;
    j["warmup"] = o.warmup;
    j["total_ms"] = {{"median", t.median}, {"min", t.min}, {"max", t.max}};
    j["cpu_ms"] = {{"median", c.median}, {"min", c.min}, {"max", c.max}};
    j["simulated_k210_us"] = static_cast<double>(it.total_simulated_cycles()) / 400.0;
    j["peak_rss_mib"] = peak_rss_mib;
    j["kmodel_mib"] = file_mib;
    j["main_mem_mib"] = main_mib;
    j["rss_budget_mib"] = budget_mib;
    nlohmann::json arr = nlohmann::json::array();
    for (std::size_t i = 0; i < layers.size(); ++i) {
      const Stats s = stats_of(layers[i].us);
      arr.push_back({{"index", i},
                     {"type", std::string(format::to_string(layers[i].type))},
                     {"backend", layers[i].backend},
                     {"median_us", s.median},
                     {"min_us", s.min},
                     {"max_us", s.max}});
    }
    j["layers"] = std::move(arr);
    std::printf("%s\n", j.dump(1).c_str());
    return {};
  }
  std::printf("%5s  %-34s %-9s %12s %12s\n", "layer", "type", "backend", "median us", "min us");
  double sum_median = 0;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const Stats s = stats_of(layers[i].us);
    sum_median += s.median;
    std::printf("%5zu  %-34s %-9s %12.1f %12.1f\n", i,
                std::string(format::to_string(layers[i].type)).c_str(), layers[i].backend.c_str(),
                s.median, s.min);
  }
  std::printf("%5s  %-34s %-9s %12.1f\n", "sum", "", "", sum_median);
  std::printf("total: median %.3f ms, min %.3f ms, max %.3f ms over %d runs (%d warm-up)\n",
              t.median, t.min, t.max, o.runs, o.warmup);
  std::printf("cpu (this thread): median %.3f ms, min %.3f ms, max %.3f ms\n", c.median, c.min,
              c.max);
  std::printf(
      "peak RSS: %.1f MiB (kmodel %.1f + main memory %.1f + KPU RAM 2 + 8 MiB = %.1f MiB)\n",
      peak_rss_mib, file_mib, main_mib, budget_mib);
  return {};
}

}  // namespace emc::tools
