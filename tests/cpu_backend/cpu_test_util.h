// Helpers for the CPU backend tests: a main-memory buffer with typed put/get at arbitrary
// (also unaligned) offsets, layer construction, and prepare+run through the "cpu" backend
// without an Interpreter.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "emc/cpu_backend/cpu_backend.h"
#include "emc/format/kmodel_v3.h"
#include "emc/interpreter/backend.h"

namespace emc::cpu_backend::testing {

inline constexpr std::uint8_t kFill = 0xCD;  // sentinel for bytes a layer must not write

class Mem {
 public:
  explicit Mem(std::size_t bytes) : bytes_(bytes, kFill), kpu_(64, 0) {}

  std::size_t size() const { return bytes_.size(); }

  void put_f32(std::size_t off, const std::vector<float>& v) {
    std::memcpy(bytes_.data() + off, v.data(), 4 * v.size());
  }
  std::vector<float> f32(std::size_t off, std::size_t n) const {
    std::vector<float> v(n);
    std::memcpy(v.data(), bytes_.data() + off, 4 * n);
    return v;
  }
  void put_u8(std::size_t off, const std::vector<std::uint8_t>& v) {
    std::memcpy(bytes_.data() + off, v.data(), v.size());
  }
  std::vector<std::uint8_t> u8(std::size_t off, std::size_t n) const {
    return {bytes_.begin() + static_cast<std::ptrdiff_t>(off),
            bytes_.begin() + static_cast<std::ptrdiff_t>(off + n)};
  }
  interpreter::ExecContext ctx() {
    return {interpreter::MemoryRegion("main", bytes_), interpreter::MemoryRegion("kpu", kpu_)};
  }

 private:
  std::vector<std::uint8_t> bytes_;
  std::vector<std::uint8_t> kpu_;
};

template <class Body>
format::Layer make_layer(format::LayerType type, Body body) {
  format::Layer layer;
  layer.type = type;
  layer.body = std::move(body);
  return layer;
}

inline interpreter::LayerInfo info_for(const format::Layer& layer, std::size_t main_bytes) {
  interpreter::LayerInfo info;
  info.index = 4;
  info.layer = &layer;
  info.main_mem_bytes = main_bytes;
  info.kpu_mem_bytes = 2u << 20;
  return info;
}

// prepare() against `mem.size()` bytes of main memory.
inline Result<std::unique_ptr<interpreter::PreparedLayer>> prepare(
    const format::Layer& layer, std::size_t main_bytes, const CpuBackendOptions& options = {}) {
  auto backend = make_cpu_backend(options);
  return backend->prepare(info_for(layer, main_bytes));
}

// prepare() then run() once on `mem`.
inline Status prepare_and_run(const format::Layer& layer, Mem& mem,
                              const CpuBackendOptions& options = {}) {
  auto backend = make_cpu_backend(options);
  if (!backend->supports(info_for(layer, mem.size())))
    return Error(Errc::kUnsupportedLayer, "not supported");
  auto prepared = backend->prepare(info_for(layer, mem.size()));
  if (!prepared.ok()) return prepared.error();
  auto ctx = mem.ctx();
  return prepared.value()->run(ctx);
}

}  // namespace emc::cpu_backend::testing

#define EMC_ASSERT_OK(expr)                                           \
  do {                                                                \
    auto&& emc_status_ = (expr);                                      \
    ASSERT_TRUE(emc_status_.ok()) << emc_status_.error().to_string(); \
  } while (0)
