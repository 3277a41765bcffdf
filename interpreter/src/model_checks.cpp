#include "model_checks.h"

#include <algorithm>
#include <cstdio>
#include <string>

#include "emc/format/hex.h"
#include "emc/format/kpu_layout.h"

namespace emc::interpreter::detail {
namespace {

using format::hex;
using format::LayerType;

std::string show(const ByteRange& r) {
  return "[" + hex(r.start) + ", " + hex(r.end()) + ") (" + std::to_string(r.size) + " bytes)";
}

bool overlaps(const ByteRange& a, const ByteRange& b) {
  return a.size != 0 && b.size != 0 && a.start < b.end() && b.start < a.end();
}

// A set of written byte ranges, kept sorted and merged.
class IntervalSet {
 public:
  void add(const ByteRange& r) {
    if (r.size == 0) return;
    ranges_.push_back(r);
    std::sort(ranges_.begin(), ranges_.end(),
              [](const ByteRange& a, const ByteRange& b) { return a.start < b.start; });
    std::vector<ByteRange> merged;
    for (const ByteRange& x : ranges_) {
      if (!merged.empty() && x.start <= merged.back().end()) {
        const std::uint64_t end = std::max(merged.back().end(), x.end());
        merged.back().size = end - merged.back().start;
      } else {
        merged.push_back(x);
      }
    }
    ranges_ = std::move(merged);
  }
  bool covers(const ByteRange& r) const {
    if (r.size == 0) return true;
    for (const ByteRange& x : ranges_) {
      if (x.start <= r.start && r.end() <= x.end()) return true;
    }
    return false;
  }

 private:
  std::vector<ByteRange> ranges_;
};

Status check_inside(const ByteRange& r, std::uint64_t limit, const char* verb, const char* space,
                    const std::string& limit_name) {
  if (r.size <= limit && r.start <= limit - r.size) return ok_status();
  return Error(Errc::kInvalidModel, std::string(verb) + " " + space + " " + show(r) + ", beyond " +
                                        limit_name + " " + hex(limit) + " (" +
                                        std::to_string(limit) + " bytes)");
}

Status check_overlap(const format::Layer& layer, const LayerAccess& a) {
  if (a.main_writes.empty()) return ok_status();
  const ByteRange& out = a.main_writes.front();
  std::uint64_t slot = out.start;
  for (const ByteRange& in : a.main_reads) {
    const ByteRange this_slot{slot, in.size};
    slot += in.size;
    if (!overlaps(in, out)) continue;
    switch (a.overlap) {
      case OverlapRule::kForwardElementwise:
        if (out.start <= in.start && a.out_elem_bytes <= a.in_elem_bytes) continue;
        break;
      case OverlapRule::kConcat:
        if (in.start == this_slot.start) continue;
        break;
      case OverlapRule::kNone:
        break;
    }
    return Error(Errc::kInvalidModel,
                 "output " + show(out) + " overlaps input " + show(in) +
                     " in main memory: " + std::string(format::to_string(layer.type)) +
                     " would overwrite input it has not read yet (only an in-place-safe layout is "
                     "allowed: an element-wise layer whose output starts at or before its input)");
  }
  return ok_status();
}

std::string input_rule_message(LayerType first) {
  return "the model input cannot be fed to a first layer of type " +
         std::string(format::to_string(first)) +
         ": the K210 SDK (kpu_run_kmodel) accepts only K210_CONV (uint8 CHW into KPU RAM) or "
         "FULLY_CONNECTED (float32 into main memory) as the first layer and returns -1 otherwise "
         "(EMC's runtime also takes EMC_CONV2D / EMC_DEPTHWISE_CONV2D: uint8 CHW pixels, and "
         "EMC_QUANTIZE_INT8: float32)";
}

}  // namespace

LayerRef layer_ref(const format::Kmodel& model, std::size_t index) {
  LayerRef ref;
  ref.index = static_cast<std::int64_t>(index);
  if (index < model.layers.size())
    ref.type = std::string(format::to_string(model.layers[index].type));
  return ref;
}

Result<std::vector<Diagnostic>> check_model(const format::Kmodel& model,
                                            const std::vector<LayerAccess>& access) {
  std::vector<Diagnostic> diags;
  const std::uint64_t main_size = model.header.main_mem_usage;
  const std::string main_name = "main_mem_usage";
  if (model.layers.empty()) return Error(Errc::kInvalidModel, "the model has no layers");
  if (model.outputs.empty()) return Error(Errc::kInvalidModel, "the model has no outputs");

  // Model input (kmodel_v3.md §1.7).
  IntervalSet main_written;
  IntervalSet kpu_written;
  const format::Layer& first = model.layers.front();
  if (first.type == LayerType::kK210Conv) {
    kpu_written.add(access.front().kpu_reads.front());
  } else if (first.type == LayerType::kFullyConnected || first.type == LayerType::kEmcConv2d ||
             first.type == LayerType::kEmcDepthwiseConv2d ||
             first.type == LayerType::kEmcQuantizeInt8) {
    main_written.add(access.front().main_reads.front());
  } else {
    return Error(Errc::kInvalidModel, input_rule_message(first.type))
        .with_layer(layer_ref(model, 0));
  }

  std::uint64_t work = 0;
  for (std::size_t i = 0; i < model.layers.size(); ++i) {
    const format::Layer& layer = model.layers[i];
    const LayerAccess& a = access[i];
    auto fail = [&](Status s) { return std::move(s).error().with_layer(layer_ref(model, i)); };
    auto warn = [&](std::string msg) { diags.push_back({i, layer.type, std::move(msg)}); };

    for (const ByteRange& r : a.main_reads) {
      if (Status s = check_inside(r, main_size, "reads", "main memory", main_name); !s.ok())
        return fail(s);
    }
    for (const ByteRange& r : a.main_writes) {
      if (Status s = check_inside(r, main_size, "writes", "main memory", main_name); !s.ok())
        return fail(s);
    }
    for (const ByteRange& r : a.kpu_reads) {
      if (Status s =
              check_inside(r, format::kKpuRamBytes, "reads", "KPU RAM", "the 2 MiB KPU RAM end");
          !s.ok()) {
        return fail(s);
      }
    }
    for (const ByteRange& r : a.kpu_writes) {
      if (Status s =
              check_inside(r, format::kKpuRamBytes, "writes", "KPU RAM", "the 2 MiB KPU RAM end");
          !s.ok()) {
        return fail(s);
      }
    }
    if (Status s = check_overlap(layer, a); !s.ok()) return fail(s);

    work += a.work;
    if (work > kMaxModelWork) {
      return Error(Errc::kInvalidModel, "the model's work estimate exceeds " +
                                            std::to_string(kMaxModelWork) +
                                            " operations by this layer (limit against "
                                            "valid-but-unbounded files)")
          .with_layer(layer_ref(model, i));
    }

    for (const ByteRange& r : a.main_reads) {
      if (!main_written.covers(r)) {
        warn("reads main memory " + show(r) +
             " that neither the model input nor an earlier layer fully wrote (reads zeros)");
      }
    }
    for (std::size_t k = 0; k < a.kpu_reads.size(); ++k) {
      ByteRange r = a.kpu_reads[k];
      if (k == 0 && a.kpu_read_unused_tail < r.size) r.size -= a.kpu_read_unused_tail;
      if (!kpu_written.covers(r)) {
        warn("reads KPU RAM " + show(r) +
             " that neither the model input nor an earlier layer fully wrote (reads zeros)");
      }
    }
    if (!a.kpu_reads.empty() && !a.kpu_writes.empty() &&
        overlaps(a.kpu_reads.front(), a.kpu_writes.front())) {
      warn("KPU output map " + show(a.kpu_writes.front()) + " overlaps its input map " +
           show(a.kpu_reads.front()));
    }
    for (const ByteRange& r : a.main_writes) main_written.add(r);
    for (const ByteRange& r : a.kpu_writes) kpu_written.add(r);
  }

  for (std::size_t o = 0; o < model.outputs.size(); ++o) {
    const ByteRange r{model.outputs[o].address, model.outputs[o].size};
    if (Status s = check_inside(r, main_size, "output descriptor", "main memory", main_name);
        !s.ok()) {
      return std::move(s).error().prefix("output " + std::to_string(o) + ": ");
    }
    if (r.size == 0) return Error(Errc::kInvalidModel, "output " + std::to_string(o) + " is empty");
    if (!main_written.covers(r)) {
      const std::size_t last = model.layers.size() - 1;
      diags.push_back(
          {last, model.layers[last].type,
           "output " + std::to_string(o) + " " + show(r) + " is not fully written by any layer"});
    }
  }
  return diags;
}

}  // namespace emc::interpreter::detail
