// emc-convert as a process: output + sidecar on success, non-zero exit and no files on errors.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "emc/format/error.h"
#include "emc/format/kmodel_codec.h"

namespace emc {
namespace {

namespace fs = std::filesystem;

struct ToolRun {
  int code = -1;
  std::string err;
};

ToolRun run_tool(const std::string& args) {
  const fs::path tmp =
      fs::temp_directory_path() / ("emc_convert_tool_" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  const std::string errf = (tmp / "stderr.txt").string();
  const std::string cmd =
      std::string(EMC_TOOLS_DIR) + "/emc-convert " + args + " 2> " + errf + " > /dev/null";
  const int rc = std::system(cmd.c_str());
  ToolRun r;
  r.code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  std::ifstream in(errf);
  r.err.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return r;
}

std::string sample(const char* name) {
  return std::string(EMC_SOURCE_DIR) + "/samples/models/" + name;
}

TEST(ConvertTool, ConvertsWithDatasetAndWritesSidecar) {
  const fs::path out = fs::temp_directory_path() / "emc_convert_tool_fca.kmodel";
  fs::remove(out);
  fs::remove(out.string() + ".map.json");
  const ToolRun r =
      run_tool(sample("functional_concat_add") + "/model.json -p k210 --dataset " +
               sample("functional_concat_add") + "/inputs -o " + out.string() + " --report");
  ASSERT_EQ(r.code, 0) << r.err;
  auto m = format::load_kmodel_file(out.string());
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  std::ifstream side(out.string() + ".map.json");
  const auto j = nlohmann::json::parse(side);
  EXPECT_EQ(j["format"], "emc-kmodel-map");
  EXPECT_EQ(j["layers"].size(), m->layers.size());
  bool named = false;
  for (const auto& l : j["layers"])
    for (const auto& s : l["sources"]) named |= s == "stem_conv";
  EXPECT_TRUE(named);
}

TEST(ConvertTool, MissingDatasetIsAClearErrorAndWritesNothing) {
  const fs::path out = fs::temp_directory_path() / "emc_convert_tool_nodata.kmodel";
  fs::remove(out);
  const ToolRun r =
      run_tool(sample("functional_concat_add") + "/model.json -p k210 -o " + out.string());
  EXPECT_NE(r.code, 0);
  EXPECT_EQ(r.code, exit_code_for(Errc::kInvalidArgument));
  EXPECT_NE(r.err.find("--dataset"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out.string() + ".map.json"));
}

TEST(ConvertTool, UnwritableOutputLeavesNoFile) {
  const std::string out = "/nonexistent_dir_emc/x.kmodel";
  const ToolRun r = run_tool(sample("tiny_dense") + "/model.json -p cpu --dataset " +
                         sample("tiny_dense") + "/inputs --input-range 0,255 -o " + out);
  EXPECT_NE(r.code, 0) << r.err;
  EXPECT_FALSE(fs::exists(out));
}

TEST(ConvertTool, BadOptionValueFails) {
  const ToolRun r = run_tool(sample("tiny_dense") + "/model.json -p gpu");
  EXPECT_NE(r.code, 0);
}

}  // namespace
}  // namespace emc
