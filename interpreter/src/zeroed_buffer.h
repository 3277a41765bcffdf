// A zero-filled byte buffer from calloc. For the large memories (2 MiB of KPU RAM, main memory)
// this matters: the C library hands out fresh pages that are already zero, so a load costs only
// the pages a run touches, not a memset of the whole size (std::vector<uint8_t>(n) writes every
// byte).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>

namespace emc::interpreter::detail {

class ZeroedBuffer {
 public:
  // Replaces the contents with `size` zero bytes; false (and empty) when the allocation fails.
  bool allocate(std::size_t size) {
    data_.reset();
    size_ = 0;
    if (size == 0) return true;
    data_.reset(static_cast<std::uint8_t*>(std::calloc(size, 1)));
    if (!data_) return false;
    size_ = size;
    return true;
  }
  std::size_t size() const { return size_; }
  std::span<std::uint8_t> span() const { return {data_.get(), size_}; }

 private:
  struct Free {
    void operator()(std::uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<std::uint8_t, Free> data_;
  std::size_t size_ = 0;
};

}  // namespace emc::interpreter::detail
