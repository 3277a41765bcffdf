// Shared plumbing for the CPU kernels: prepare-time validation of main-memory ranges and
// parameters, and the byte-level float access every kernel uses.
//
// Validation happens once, in prepare(): a kernel records each main-memory range it will touch
// (recomputed from the layer's own fields with overflow-checked arithmetic) and each divisor or
// shift it depends on. run() re-fetches the recorded ranges once through MemoryRegion::at (so a
// context smaller than the one prepared for is an error, not an overrun) and then loops without
// checks.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "emc/cpu_backend/cpu_backend.h"
#include "emc/format/error.h"
#include "emc/format/kmodel_v3.h"
#include "emc/format/layer_footprint.h"
#include "emc/interpreter/backend.h"

namespace emc::cpu_backend::detail {

// Main memory holds float32 little-endian (kmodel_v3.md §1.7); values are copied byte-wise, so
// the host must be little-endian too.
static_assert(std::endian::native == std::endian::little, "the CPU backend assumes a LE host");

inline float load_f32(const std::uint8_t* p) {
  float v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store_f32(std::uint8_t* p, float v) {
  std::memcpy(p, &v, sizeof v);
}

// A validated [offset, offset + size) inside main memory.
struct ByteRange {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  format::MemRange mem_range() const {
    return {static_cast<std::uint32_t>(offset), static_cast<std::uint32_t>(size)};
  }
};

// a * b * ...; nullopt on uint64 overflow.
std::optional<std::uint64_t> checked_product(std::initializer_list<std::uint64_t> factors);

// Validation helper bound to one layer. Every error it produces is kInvalidModel, names the
// layer (index, type) and backend, the field, the value and the bound it broke.
class LayerChecker {
 public:
  explicit LayerChecker(const interpreter::LayerInfo& info) : info_(info) {}

  const format::Layer& layer() const { return *info_.layer; }
  const interpreter::LayerInfo& info() const { return info_; }

  // An error for this layer with `message`.
  Error error(const std::string& message) const;

  // The range [address, address + count * element_bytes) of `field`; error if the product
  // overflows or the range leaves main memory. `what` describes the count ("count 12",
  // "channels 3 x kernel_size 4") for the message.
  Result<ByteRange> range(std::string_view field, std::uint64_t address,
                          std::optional<std::uint64_t> elements, std::uint64_t element_bytes,
                          std::string_view what) const;

  // The range [offset, offset + bytes) of KPU RAM for `field` (offset in bytes; KPU row registers
  // are row * 64); kKpuOutOfMemory naming the field, the row and the end if it leaves KPU RAM
  // (LayerInfo::kpu_mem_bytes).
  Result<ByteRange> kpu_range(std::string_view field, std::uint64_t offset, std::uint64_t bytes,
                              std::string_view what) const;

  // What the layer reads and writes (format::layer_footprint, the description the parser and the
  // interpreter use); a kernel takes its range sizes from it and checks them with range() /
  // kpu_range() under its own field names.
  Result<format::LayerFootprint> footprint() const;

  // `e` with this layer and the backend attached (its code and message unchanged).
  Error attach(Error e) const;

  // Error unless value > 0.
  Status positive(std::string_view field, std::uint64_t value) const;
  // Error unless 0 <= value <= 63 (an int64 shift count).
  Status shift(std::string_view field, std::int64_t value) const;

  // The body as `Body`, or an error if the decoded body does not match the layer type.
  template <class Body>
  Result<const Body*> body() const {
    const Body* b = std::get_if<Body>(&info_.layer->body);
    if (b == nullptr) return error("decoded body does not match the layer type");
    return b;
  }

 private:
  const interpreter::LayerInfo& info_;
};

// Fetches a validated range from the live main memory (one bounds check per run).
inline Result<std::uint8_t*> fetch(const interpreter::MemoryRegion& main, const ByteRange& r) {
  auto span = main.at(r.offset, r.size);
  if (!span.ok()) return span.error();
  return span.value().data();
}

// What a kernel's prepare function receives.
struct PrepareContext {
  const interpreter::LayerInfo& info;
  const CpuBackendOptions& options;
};

using PreparedPtr = std::unique_ptr<interpreter::PreparedLayer>;
using PrepareFn = Result<PreparedPtr> (*)(const PrepareContext& ctx);

}  // namespace emc::cpu_backend::detail

// EMC_ASSIGN_OR_RETURN(lhs, result_expr): lhs = value of the Result, or return its error.
#define EMC_CPU_CONCAT_INNER(a, b) a##b
#define EMC_CPU_CONCAT(a, b) EMC_CPU_CONCAT_INNER(a, b)
#define EMC_CPU_ASSIGN_OR_RETURN(lhs, expr) \
  EMC_CPU_ASSIGN_OR_RETURN_IMPL(EMC_CPU_CONCAT(emc_cpu_result_, __LINE__), lhs, expr)
#define EMC_CPU_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return std::move(tmp).error();       \
  lhs = std::move(tmp).value()
