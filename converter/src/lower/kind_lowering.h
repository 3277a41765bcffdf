// Internal: a node kind's lowering, described with the kind. Its row in node_kinds.def names a
// function returning the kind's KindLowering, defined in lower/<kind>.cpp next to the jobs it
// binds: the rules (pattern + job) for each lowering style. A style is a lowerer and the layer
// types it emits:
//   kmodel_v3  the Lowerer (lowerer.h): K210_CONV on the KPU, the stock SDK's CPU layers, EMC int8
//              layers only as the named CPU fallback (-p k210 takes it)
//   emc_int8   the CpuLowerer (cpu_lowerer.h): EMC's own int8 CPU layer types (-p cpu takes it)
// A target takes a style by appending every kind's rules of that style to its layer table
// (with_kind_rules, in the target's file); it does not list the kinds. Kinds written before this
// file still have their rows in each target's table (lowered_in_target_tables).
#pragma once

#include <span>
#include <vector>

#include "emc/converter/layer_table.h"

namespace emc::converter::detail {

class CpuLowerer;
// The job that lowers one match of the emc_int8 style.
using CpuJob = void (*)(CpuLowerer& lowerer, const LayerMatch& match);
struct CpuRule {
  LayerRule rule;  // rule.lower is nullptr: the job is `job`
  CpuJob job;
};

// A rule bound to a member job of a lowerer, `&member_job<&Lowerer::lower_kpu_conv>` (the jobs
// of the target tables' rows; a kind's own lowering binds free functions).
template <class>
struct JobClass;
template <class L>
struct JobClass<void (L::*)(const LayerMatch&)> {
  using type = L;
};
template <auto Job>
void member_job(typename JobClass<decltype(Job)>::type& lowerer, const LayerMatch& match) {
  (lowerer.*Job)(match);
}

struct KindLowering {
  std::vector<LayerRule> kmodel_v3;  // rules whose `lower` is a Lowerer job
  std::vector<CpuRule> emc_int8;
};
using KindLoweringFn = const KindLowering& (*)();

// The function each node_kinds.def row names (a function serving several kinds is simply declared
// again).
#define EMC_NODE_KIND(id, name, inputs, infer, run, lower) const KindLowering& lower();
#include "emc/converter/node_kinds.def"

// The lowering functions of node_kinds.def, in its order, each once.
std::span<const KindLoweringFn> kind_lowerings();

// `rules` followed by every kind's rules of one style (&KindLowering::kmodel_v3 or ::emc_int8),
// in node_kinds.def order. Safe during static initialization (each KindLowering is a
// function-local static).
template <class Rule>
std::vector<Rule> with_kind_rules(std::vector<Rule> rules, std::vector<Rule> KindLowering::*style) {
  for (KindLoweringFn f : kind_lowerings()) {
    const auto& more = f().*style;
    rules.insert(rules.end(), more.begin(), more.end());
  }
  return rules;
}

}  // namespace emc::converter::detail
