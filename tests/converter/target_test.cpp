// The target registry (target.h): lookup by name, the descriptions' limits against the spec
// (kmodel_v3.md: the K210's maps are 4x4..256x512; the KPU's register fields allow H <= 512,
// W <= 1024), and that every registered target is complete.
#include <gtest/gtest.h>

#include <set>

#include "emc/converter/convert.h"
#include "emc/converter/layer_table.h"

namespace emc::converter {
namespace {

TEST(Targets, FoundByNameAndUnknownNamesAreNull) {
  EXPECT_EQ(find_target("k210"), Target::kK210);
  EXPECT_EQ(find_target("cpu"), Target::kCpu);
  EXPECT_EQ(find_target("K210"), nullptr);
  EXPECT_EQ(find_target(""), nullptr);
  EXPECT_EQ(target_names(), "k210 | cpu");
  EXPECT_EQ(target_name_list(), (std::vector<std::string>{"k210", "cpu"}));
  EXPECT_EQ(ConvertOptions{}.target, Target::kK210);
}

TEST(Targets, K210LimitsAreTheChipsAndCpuHasNone) {
  const Target& k = *Target::kK210;
  EXPECT_EQ(k.min_map, 4);
  EXPECT_EQ(k.max_map_h, 256);
  EXPECT_EQ(k.max_map_w, 512);
  EXPECT_EQ(k.limit_bytes, 6u << 20);
  EXPECT_TRUE(k.limit_includes_main_memory);
  EXPECT_TRUE(k.dense_on_kpu);
  EXPECT_EQ(k.default_backend, "kpu-sim");
  const Target& c = *Target::kCpu;
  // No KPU: EMC's own CPU layer types, any map size (docs/cpu_target.md).
  EXPECT_EQ(c.max_map_h, 0);
  EXPECT_EQ(c.max_map_w, 0);
  EXPECT_FALSE(c.dense_on_kpu);
  EXPECT_FALSE(c.emc_types_need_emc_runtime);
  EXPECT_NE(c.prepare_graph, nullptr);
  EXPECT_EQ(c.default_backend, "cpu");
}

TEST(Targets, EveryTargetIsCompleteAndUniquelyNamed) {
  std::set<std::string_view> names;
  for (const Target* t : targets()) {
    ASSERT_NE(t, nullptr);
    EXPECT_TRUE(names.insert(t->name).second) << t->name;
    EXPECT_FALSE(t->title.empty()) << t->name;
    EXPECT_FALSE(t->default_backend.empty()) << t->name;
    EXPECT_TRUE(t->lower != nullptr) << t->name;
    ASSERT_NE(t->layers, nullptr) << t->name;
    EXPECT_FALSE(t->layers->rules.empty()) << t->name;
    EXPECT_GT(t->limit_bytes, 0u) << t->name;
    EXPECT_GE(t->min_map, 1) << t->name;
  }
}

TEST(Targets, ANullTargetIsAnErrorNotACrash) {
  ConvertOptions opt;
  opt.target = nullptr;
  Graph g;
  auto r = convert_calibrated(g, {}, opt);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kInvalidArgument);
}

}  // namespace
}  // namespace emc::converter
