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

#include "converter/model_builder.h"
#include "emc/format/error.h"
#include "emc/format/kmodel_codec.h"

namespace emc {
namespace {

namespace fs = std::filesystem;

struct ToolRun {
  int code = -1;
  std::string err, out;
};

ToolRun run_tool(const std::string& args) {
  const fs::path tmp =
      fs::temp_directory_path() / ("emc_convert_tool_" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  const std::string errf = (tmp / "stderr.txt").string(), outf = (tmp / "stdout.txt").string();
  const std::string cmd =
      std::string(EMC_TOOLS_DIR) + "/emc-convert " + args + " 2> " + errf + " > " + outf;
  const int rc = std::system(cmd.c_str());
  ToolRun r;
  r.code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  std::ifstream in(errf);
  r.err.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  std::ifstream out(outf);
  r.out.assign(std::istreambuf_iterator<char>(out), std::istreambuf_iterator<char>());
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

// -p cpu --report gives each EMC int8 conv's estimated rounding error against its range, as the
// sidecar records it (docs/cpu_target.md, "Outputs int8 cannot resolve").
TEST(ConvertTool, CpuReportStatesTheInt8RoundingEstimate) {
  const fs::path out = fs::temp_directory_path() / "emc_convert_tool_cpu_report.kmodel";
  const ToolRun r = run_tool(sample("shapes_cnn") + "/model.json -p cpu --dataset " +
                             sample("shapes_cnn") + "/inputs -o " + out.string() + " --report");
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream side(out.string() + ".map.json");
  const auto j = nlohmann::json::parse(side);
  int convs = 0;
  for (const auto& l : j["layers"]) {
    if (!l.contains("rounding_error")) continue;
    ++convs;
    char pct[32];
    std::snprintf(pct, sizeof pct, "~%.1f%% of range",
                  100.0 * l["rounding_error"].get<double>() / l["output_range"].get<double>());
    EXPECT_NE(r.out.find(std::string("  rounding ") + pct), std::string::npos) << pct;
  }
  EXPECT_GE(convs, 2) << "shapes_cnn has two convs";
  fs::remove(out);
  fs::remove(out.string() + ".map.json");
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

// -p k210 with a 5x5 conv between two 3x3 convs (a TF.js model written here): converts with a
// warning naming the layer and the stock SDK/MaixPy, --report marks the layer CPU* with the
// reason; --sdk-compatible exits as for any unsupported layer, names it and writes nothing.
TEST(ConvertTool, ConvTheKpuCannotRunIsACpuLayerOrAnSdkCompatibleError) {
  const fs::path dir =
      fs::temp_directory_path() / ("emc_convert_tool_5x5_" + std::to_string(::getpid()));
  fs::create_directories(dir / "data");
  converter::testing::ModelBuilder mb;
  mb.input("in", {16, 16, 3});
  auto conv = [&](const std::string& name, int k, int cin) {
    mb.layer("Conv2D", name,
             {{"filters", 4},
              {"kernel_size", {k, k}},
              {"strides", {1, 1}},
              {"padding", "same"},
              {"use_bias", true},
              {"activation", "relu"}});
    std::vector<float> w(std::size_t(k * k * cin * 4));
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = float((i * 37) % 19) / 19.0f - 0.45f;
    mb.weight(name + "/kernel", {k, k, cin, 4}, w);
    mb.weight(name + "/bias", {4}, {0.1f, -0.1f, 0.05f, 0.0f});
  };
  conv("c1", 3, 3);
  conv("c5", 5, 4);
  conv("c3", 3, 4);
  {
    std::ofstream(dir / "model.json") << mb.text();
    const auto blob = mb.shards().at("w.bin");
    std::ofstream(dir / "w.bin", std::ios::binary)
        .write(reinterpret_cast<const char*>(blob.data()), std::streamsize(blob.size()));
    std::vector<float> x(16 * 16 * 3);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = float((i * 7) % 256) / 255.0f;
    std::ofstream(dir / "data" / "x.f32", std::ios::binary)
        .write(reinterpret_cast<const char*>(x.data()), std::streamsize(x.size() * 4));
  }
  const std::string base = (dir / "model.json").string() + " -p k210 --dataset " +
                           (dir / "data").string() + " -o " + (dir / "m.kmodel").string();
  const ToolRun r = run_tool(base + " --report");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("'c5' (Conv2D)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("MaixPy"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("CPU*"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("kernel_size [5,5] is not supported"), std::string::npos) << r.out;
  fs::remove(dir / "m.kmodel");
  fs::remove(dir / "m.kmodel.map.json");
  const ToolRun s = run_tool(base + " --sdk-compatible");
  EXPECT_EQ(s.code, exit_code_for(Errc::kUnsupportedLayer)) << s.err;
  EXPECT_NE(s.err.find("'c5' (Conv2D)"), std::string::npos) << s.err;
  EXPECT_NE(s.err.find("--sdk-compatible"), std::string::npos) << s.err;
  EXPECT_FALSE(fs::exists(dir / "m.kmodel"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace emc
