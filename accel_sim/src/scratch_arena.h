// One scratch buffer shared by every K210_CONV layer of a model (they run one at a time): each
// layer asks for its size at prepare, the arena holds the largest, so the working set of a whole
// model is that of its biggest layer and a run allocates nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <new>

#include "worker_pool.h"

namespace emc::accel_sim::detail {

class ScratchArena {
 public:
  static constexpr std::size_t kAlign = 64;

  // Makes the arena at least `bytes` long (at prepare; the contents are not kept).
  void reserve(std::size_t bytes) {
    if (bytes <= size_) return;
    buffer_.reset(static_cast<std::uint8_t*>(::operator new (bytes, std::align_val_t{kAlign})));
    size_ = bytes;
  }
  // Start of the arena (64-byte aligned); uninitialised, callers write before they read.
  std::uint8_t* data() const { return buffer_.get(); }
  std::size_t size() const { return size_; }

  // The worker threads of the model's layers (KpuSimOptions::threads), made at the first prepare
  // that asks for more than one; null for 1.
  WorkerPool* workers(unsigned threads) {
    if (threads > 1 && !workers_) workers_ = std::make_unique<WorkerPool>(threads - 1);
    return workers_.get();
  }

 private:
  std::unique_ptr<WorkerPool> workers_;
  struct Free {
    void operator()(std::uint8_t* p) const { ::operator delete (p, std::align_val_t{kAlign}); }
  };
  std::unique_ptr<std::uint8_t, Free> buffer_;
  std::size_t size_ = 0;
};

// Byte layout of a layer's buffers inside the arena: add() returns each buffer's offset, 64-byte
// aligned.
class ArenaLayout {
 public:
  template <typename T>
  std::size_t add(std::size_t count) {
    const std::size_t at = bytes_;
    bytes_ += (count * sizeof(T) + ScratchArena::kAlign - 1) / ScratchArena::kAlign *
              ScratchArena::kAlign;
    return at;
  }
  std::size_t bytes() const { return bytes_; }

 private:
  std::size_t bytes_ = 0;
};

// The arena of each model a backend prepares layers for (keyed by the decoded model, so two
// interpreters never share one and may run in parallel); it lives as long as a layer holds it.
class ArenaPool {
 public:
  std::shared_ptr<ScratchArena> for_model(const void* model) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = arenas_.begin(); it != arenas_.end();) {  // forget released models
      it = it->second.expired() ? arenas_.erase(it) : std::next(it);
    }
    std::weak_ptr<ScratchArena>& slot = arenas_[model];
    std::shared_ptr<ScratchArena> arena = slot.lock();
    if (!arena) {
      arena = std::make_shared<ScratchArena>();
      slot = arena;
    }
    return arena;
  }

 private:
  std::mutex mutex_;
  std::map<const void*, std::weak_ptr<ScratchArena>> arenas_;
};

}  // namespace emc::accel_sim::detail
