// CONCAT / QUANTIZED_CONCAT (SDK kpu_concat; both types run the same code): the byte ranges
// inputs[i] = (start, size) are copied one after another to main_mem_out_address.
#include <cstring>
#include <vector>

#include "ops.h"

namespace emc::cpu_backend::detail {
namespace {

class ConcatLayer final : public interpreter::PreparedLayer {
 public:
  ConcatLayer(std::vector<ByteRange> inputs, ByteRange out)
      : inputs_(std::move(inputs)), out_(out) {}

  Status run(interpreter::ExecContext& ctx) override {
    EMC_CPU_ASSIGN_OR_RETURN(std::uint8_t * out, fetch(ctx.main, out_));
    for (const ByteRange& r : inputs_) {
      EMC_CPU_ASSIGN_OR_RETURN(const std::uint8_t* src, fetch(ctx.main, r));
      // memmove: the SDK's memcpy is undefined for overlapping ranges; for disjoint ranges both
      // give the same bytes, and an in-place first input (start == out) stays well defined.
      if (r.size != 0) std::memmove(out, src, r.size);
      out += r.size;
    }
    return ok_status();
  }
  format::MemRange output_range() const override { return out_.mem_range(); }

 private:
  std::vector<ByteRange> inputs_;
  ByteRange out_;
};

}  // namespace

Result<PreparedPtr> prepare_concat(const PrepareContext& ctx) {
  LayerChecker c(ctx.info);
  EMC_CPU_ASSIGN_OR_RETURN(const format::ConcatBody* body, c.body<format::ConcatBody>());
  std::vector<ByteRange> inputs;
  inputs.reserve(body->inputs.size());
  std::uint64_t total = 0;  // sum of uint32 sizes: cannot overflow 64 bits for < 2^32 inputs
  for (std::size_t i = 0; i < body->inputs.size(); ++i) {
    const format::MemRange& in = body->inputs[i];
    EMC_CPU_ASSIGN_OR_RETURN(
        ByteRange r, c.range("inputs_mem[" + std::to_string(i) + "].start", in.start, in.size, 1,
                             "size " + std::to_string(in.size)));
    inputs.push_back(r);
    total += in.size;
  }
  EMC_CPU_ASSIGN_OR_RETURN(ByteRange out,
                           c.range("main_mem_out_address", body->main_mem_out_address, total, 1,
                                   "total input size " + std::to_string(total)));
  return PreparedPtr(std::make_unique<ConcatLayer>(std::move(inputs), out));
}

}  // namespace emc::cpu_backend::detail
