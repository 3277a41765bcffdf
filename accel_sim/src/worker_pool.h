// A fixed set of worker threads that run the tasks of one parallel call at a time (the
// channel-parallel conv layers of KpuSimOptions::threads). The caller runs task 0 itself.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace emc::accel_sim::detail {

class WorkerPool {
 public:
  // `workers` threads besides the caller's.
  explicit WorkerPool(unsigned workers) {
    for (unsigned id = 1; id <= workers; ++id) threads_.emplace_back([this, id] { loop(id); });
  }
  ~WorkerPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Tasks one call can run at once (the workers and the caller).
  unsigned size() const { return static_cast<unsigned>(threads_.size()) + 1; }

  // fn(t) for every t in [0, n), n <= size(), task 0 on the calling thread; returns when all are
  // done. fn must not throw. Calls from different threads must not overlap.
  void run(unsigned n, const std::function<void(unsigned)>& fn) {
    if (n <= 1) {
      fn(0);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      fn_ = &fn;
      tasks_ = n;
      pending_ = n - 1;
      ++generation_;
    }
    wake_.notify_all();
    fn(0);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return pending_ == 0; });
  }

 private:
  void loop(unsigned id) {
    std::uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      if (id >= tasks_) continue;
      const std::function<void(unsigned)>* fn = fn_;
      lock.unlock();
      (*fn)(id);
      lock.lock();
      if (--pending_ == 0) done_.notify_one();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(unsigned)>* fn_ = nullptr;
  unsigned tasks_ = 0, pending_ = 0;
  std::uint64_t generation_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace emc::accel_sim::detail
