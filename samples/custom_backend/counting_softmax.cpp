#include "counting_softmax.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <variant>
#include <vector>

namespace demo {
namespace {

using emc::Errc;
using emc::Error;
using emc::Status;
namespace format = emc::format;
namespace interpreter = emc::interpreter;

class PreparedSoftmax : public interpreter::PreparedLayer {
 public:
  PreparedSoftmax(const format::ChannelsBody& body,
                  std::shared_ptr<std::atomic<std::uint64_t>> calls)
      : body_(body), calls_(std::move(calls)), values_(body.channels) {}

  Status run(interpreter::ExecContext& ctx) override {
    const std::size_t bytes = std::size_t{body_.channels} * 4;
    auto in = ctx.main.at(body_.main_mem_in_address, bytes);
    if (!in.ok()) return std::move(in).error();
    auto out = ctx.main.at(body_.main_mem_out_address, bytes);
    if (!out.ok()) return std::move(out).error();
    std::memcpy(values_.data(), in->data(), bytes);  // a copy: input and output may coincide

    // Subtract the true maximum (not FLT_MIN as the SDK does), so exp() never overflows, and sum
    // in double so that thousands of small terms do not lose precision.
    float max = -std::numeric_limits<float>::infinity();
    for (float v : values_) max = std::fmax(max, v);
    double sum = 0.0;
    for (float& v : values_) {
      v = std::exp(v - max);
      sum += v;
    }
    for (float& v : values_) v = static_cast<float>(v / sum);
    std::memcpy(out->data(), values_.data(), bytes);
    calls_->fetch_add(1);
    return emc::ok_status();
  }

  format::MemRange output_range() const override {
    return {body_.main_mem_out_address, body_.channels * 4};
  }

 private:
  format::ChannelsBody body_;
  std::shared_ptr<std::atomic<std::uint64_t>> calls_;
  std::vector<float> values_;  // scratch, allocated once at prepare
};

}  // namespace

bool CountingSoftmaxBackend::supports(const interpreter::LayerInfo& info) const {
  return info.layer->type == format::LayerType::kSoftmax &&
         std::holds_alternative<format::ChannelsBody>(info.layer->body);
}

emc::Result<std::unique_ptr<interpreter::PreparedLayer>> CountingSoftmaxBackend::prepare(
    const interpreter::LayerInfo& info) {
  const auto& body = std::get<format::ChannelsBody>(info.layer->body);
  if (body.channels == 0) return Error(Errc::kInvalidLayerConfig, "softmax over 0 channels");
  const std::uint64_t bytes = std::uint64_t{body.channels} * 4;
  for (std::uint64_t addr :
       {std::uint64_t{body.main_mem_in_address}, std::uint64_t{body.main_mem_out_address}}) {
    if (addr + bytes > info.main_mem_bytes) {
      return Error(Errc::kInvalidLayerConfig, "softmax range at " + std::to_string(addr) + " + " +
                                                  std::to_string(bytes) +
                                                  " bytes exceeds main memory (" +
                                                  std::to_string(info.main_mem_bytes) + " bytes)");
    }
  }
  return std::unique_ptr<interpreter::PreparedLayer>(
      std::make_unique<PreparedSoftmax>(body, calls_));
}

}  // namespace demo
