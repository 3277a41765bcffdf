// The list of the kinds' lowerings (kind_lowering.h), from node_kinds.def.
#include "lower/kind_lowering.h"

#include <algorithm>

namespace emc::converter::detail {

const KindLowering& lowered_in_target_tables() {
  static const KindLowering none;
  return none;
}

std::span<const KindLoweringFn> kind_lowerings() {
  static const std::vector<KindLoweringFn> list = [] {
    std::vector<KindLoweringFn> fns;
#define EMC_NODE_KIND(id, name, inputs, infer, run, lower) \
  if (std::find(fns.begin(), fns.end(), &lower) == fns.end()) fns.push_back(&lower);
#include "emc/converter/node_kinds.def"
    return fns;
  }();
  return list;
}

}  // namespace emc::converter::detail
