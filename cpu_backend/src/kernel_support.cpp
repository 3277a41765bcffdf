#include "kernel_support.h"

#include <cstdio>
#include <limits>

#include "emc/format/hex.h"

namespace emc::cpu_backend::detail {
using format::hex;

std::optional<std::uint64_t> checked_product(std::initializer_list<std::uint64_t> factors) {
  std::uint64_t p = 1;
  for (std::uint64_t f : factors) {
    if (f != 0 && p > std::numeric_limits<std::uint64_t>::max() / f) return std::nullopt;
    p *= f;
  }
  return p;
}

Error LayerChecker::error(const std::string& message) const {
  return attach(Error(Errc::kInvalidModel, message));
}

Result<ByteRange> LayerChecker::range(std::string_view field, std::uint64_t address,
                                      std::optional<std::uint64_t> elements,
                                      std::uint64_t element_bytes, std::string_view what) const {
  const std::string prefix = std::string(field) + " " + hex(address) + ": ";
  if (!elements) return error(prefix + std::string(what) + " overflows 64 bits");
  auto bytes = checked_product({*elements, element_bytes});
  if (!bytes)
    return error(prefix + std::string(what) + " x " + std::to_string(element_bytes) +
                 " bytes overflows 64 bits");
  const std::uint64_t mem = info_.main_mem_bytes;
  if (*bytes > mem || address > mem - *bytes) {
    return error(prefix + std::to_string(*bytes) + " bytes (" + std::string(what) + " x " +
                 std::to_string(element_bytes) + " bytes) exceed main memory of " +
                 std::to_string(mem) + " bytes (main_mem_usage)");
  }
  return ByteRange{address, *bytes};
}

Result<ByteRange> LayerChecker::kpu_range(std::string_view field, std::uint64_t offset,
                                          std::uint64_t bytes, std::string_view what) const {
  const std::uint64_t mem = info_.kpu_mem_bytes;
  if (bytes > mem || offset > mem - bytes) {
    return attach(Error(Errc::kKpuOutOfMemory,
                        std::string(field) + " row " + std::to_string(offset / 64) + ": " +
                            std::string(what) + " needs KPU RAM bytes [" + std::to_string(offset) +
                            ", " + std::to_string(offset + bytes) + "), beyond KPU RAM of " +
                            std::to_string(mem) + " bytes"));
  }
  return ByteRange{offset, bytes};
}

Result<format::LayerFootprint> LayerChecker::footprint() const {
  auto f = format::layer_footprint(*info_.layer);
  if (!f.ok()) return attach(f.error());
  return f;
}

Error LayerChecker::attach(Error e) const {
  LayerRef ref;
  ref.index = static_cast<std::int64_t>(info_.index);
  ref.type = std::string(format::to_string(info_.layer->type));
  return std::move(e).with_layer(std::move(ref)).on_backend(kCpuBackendName);
}

Status LayerChecker::positive(std::string_view field, std::uint64_t value) const {
  if (value == 0) return error(std::string(field) + " is 0; it must be at least 1");
  return ok_status();
}

Status LayerChecker::shift(std::string_view field, std::int64_t value) const {
  if (value < 0 || value > 63) {
    return error(std::string(field) + " " + std::to_string(value) +
                 " is outside the valid shift range [0, 63]");
  }
  return ok_status();
}

}  // namespace emc::cpu_backend::detail
