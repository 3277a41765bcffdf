#include "parallel_run.h"

#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

namespace emc::compare {

std::size_t default_jobs() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

std::vector<InputOutcome> evaluate_parallel(
    const std::vector<Session*>& sessions, const std::vector<InputItem>& items,
    const std::function<bool(const InputItem&, const Error&)>& fatal,
    const std::function<void(std::size_t, const std::string&)>& progress) {
  std::vector<InputOutcome> out(items.size());
  std::atomic<std::size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex progress_mutex;
  std::size_t done = 0;
  auto worker = [&](Session* session) {
    for (;;) {
      if (stop.load()) return;
      const std::size_t i = next.fetch_add(1);
      if (i >= items.size()) return;
      InputOutcome& o = out[i];
      try {
        auto r = session->evaluate(items[i]);
        if (r.ok()) {
          o.image = std::move(r).value();
        } else {
          o.error = std::move(r).error();
        }
      } catch (const std::exception& e) {  // bad_alloc on a huge image: report, never abort
        o.error = Error(Errc::kInternal, std::string("evaluation failed: ") + e.what());
      }
      if (o.error && fatal(items[i], *o.error)) stop.store(true);
      std::lock_guard<std::mutex> lock(progress_mutex);
      if (progress) progress(++done, items[i].path);
    }
  };
  if (sessions.size() <= 1) {
    worker(sessions.at(0));
    return out;
  }
  std::vector<std::thread> threads;
  threads.reserve(sessions.size());
  for (Session* s : sessions) threads.emplace_back(worker, s);
  for (auto& t : threads) t.join();
  return out;
}

}  // namespace emc::compare
