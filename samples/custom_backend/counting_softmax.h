// A user-defined backend: takes over SOFTMAX with its own numerically careful softmax and counts
// how many times it ran. See README.md and docs/interpreter.md.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>

#include "emc/interpreter/backend.h"

namespace demo {

inline constexpr std::string_view kCountingSoftmaxName = "counting-softmax";

class CountingSoftmaxBackend : public emc::interpreter::Backend {
 public:
  std::string_view name() const override { return kCountingSoftmaxName; }
  // SOFTMAX layers only (with the body the format gives them).
  bool supports(const emc::interpreter::LayerInfo& info) const override;
  // Checks the ranges once; the prepared layer then runs without re-validating the layout.
  emc::Result<std::unique_ptr<emc::interpreter::PreparedLayer>> prepare(
      const emc::interpreter::LayerInfo& info) override;

  // Total run() calls over all layers prepared by this backend.
  std::uint64_t calls() const { return calls_->load(); }

 private:
  // Shared with the prepared layers, which may outlive a moved-from backend pointer.
  std::shared_ptr<std::atomic<std::uint64_t>> calls_ =
      std::make_shared<std::atomic<std::uint64_t>>(0);
};

}  // namespace demo
