// emc-inspect end to end: runs the built binary on real and corrupted kmodels and checks exit
// codes (emc::exit_code_for) and key output.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "emc/format/error.h"

namespace {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

RunResult run_inspect(const std::string& args) {
  const std::string tool = std::string(EMC_TOOLS_DIR) + "/emc-inspect";
  const auto tmp = std::filesystem::temp_directory_path() /
                   ("emc_inspect_err_" + std::to_string(::getpid()) + ".txt");
  const std::string cmd = "'" + tool + "' " + args + " 2>'" + tmp.string() + "'";
  RunResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = slurp(tmp.string());
  std::filesystem::remove(tmp);
  return r;
}

std::string kmodel(const std::string& name) {
  return "'" + std::string(EMC_SHARED_DIR) + "/kmodels/" + name + "'";
}

// A copy of a real file with a mutation, in the temp folder.
std::string corrupt_copy(const std::string& name, std::size_t keep_bytes, const std::string& tag) {
  const std::string src = std::string(EMC_SHARED_DIR) + "/kmodels/" + name;
  std::string bytes = slurp(src);
  bytes.resize(std::min(bytes.size(), keep_bytes));
  const auto dst = std::filesystem::temp_directory_path() /
                   ("emc_inspect_" + tag + "_" + std::to_string(::getpid()) + ".kmodel");
  std::ofstream(dst, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return dst.string();
}

TEST(EmcInspect, PrintsHeaderLayersAndMapsOfRealFile) {
  const RunResult r = run_inspect(kmodel("maixemc_cifar10.kmodel"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("8-bit weights"), std::string::npos);
  EXPECT_NE(r.out.find("main_mem_usage     40960"), std::string::npos);  // SOURCES.md
  EXPECT_NE(r.out.find("address 0x9fd8  size 40"), std::string::npos);   // output 0
  EXPECT_NE(r.out.find("K210_CONV"), std::string::npos);
  EXPECT_NE(r.out.find("in=32x32x3"), std::string::npos);  // 32x32 RGB input
  EXPECT_NE(r.out.find("kernel=3x3"), std::string::npos);
  EXPECT_NE(r.out.find("QUANTIZED_TENSORFLOW_FLATTEN"), std::string::npos);
  EXPECT_NE(r.out.find("main memory map"), std::string::npos);
  EXPECT_NE(r.out.find("KPU RAM map"), std::string::npos);
  EXPECT_NE(r.out.find("main_mem_out_address (DMA)"), std::string::npos);
  EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST(EmcInspect, JsonIsParseableAndMatchesSources) {
  const RunResult r = run_inspect(kmodel("maixemc_mbnetv1_a075.kmodel") + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["header"]["layers_length"], 36);       // SOURCES.md: 36 layers
  EXPECT_EQ(j["header"]["main_mem_usage"], 602112);  // SOURCES.md
  EXPECT_EQ(j["outputs"][0]["address"], 598112);
  EXPECT_EQ(j["outputs"][0]["size"], 4000);
  EXPECT_EQ(j["layers"][0]["type"], "K210_CONV");
  EXPECT_EQ(j["layers"][35]["type"], "SOFTMAX");
  EXPECT_EQ(j["layers"][0]["params"]["in"], "224x224x3");
  // kmodel_v3.md §5.4: mbnetv1 layer 0 writes its output at KPU row 27392.
  EXPECT_EQ(j["layers"][0]["params"]["dst_rows"][0], 27392);
  EXPECT_FALSE(j["kpu_ram_map"].empty());
  EXPECT_FALSE(j["main_memory_map"].empty());
}

TEST(EmcInspect, LayerDetailPrintsRegistersBatchNormAndActivation) {
  const RunResult r = run_inspect(kmodel("nncase01_yolo20.kmodel") + " --layer 0");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* key : {"image_src_addr", "dma_total_byte", "arg_add", "batch-norm words",
                          "activation segments", "x_start", "seg 15"}) {
    EXPECT_NE(r.out.find(key), std::string::npos) << key;
  }
  const RunResult j = run_inspect(kmodel("nncase01_yolo20.kmodel") + " --layer 0 --json");
  ASSERT_EQ(j.exit_code, 0);
  const auto d = nlohmann::json::parse(j.out);
  EXPECT_EQ(d["body"]["activation"].size(), 16u);
  EXPECT_EQ(d["body"]["kpu_fields"]["i_row_wid"], 319);  // 320x240 input (SOURCES.md)
  EXPECT_EQ(d["body"]["kpu_fields"]["i_col_high"], 239);
}

TEST(EmcInspect, CorruptFileGivesErrorAndExitCode) {
  const std::string path = corrupt_copy("maixemc_cifar10.kmodel", 1000, "trunc");
  const RunResult r = run_inspect("'" + path + "'");
  std::filesystem::remove(path);
  EXPECT_EQ(r.exit_code, emc::exit_code_for(emc::Errc::kTruncatedModel));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(path), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("offset 0x"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("layer 0 (K210_CONV)"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST(EmcInspect, MissingFileDirectoryAndBadArguments) {
  const RunResult missing = run_inspect("/nonexistent/model.kmodel");
  EXPECT_EQ(missing.exit_code, emc::exit_code_for(emc::Errc::kIo));
  EXPECT_NE(missing.err.find("/nonexistent/model.kmodel"), std::string::npos);
  const RunResult dir = run_inspect("'" + std::string(EMC_SHARED_DIR) + "/kmodels'");
  EXPECT_EQ(dir.exit_code, emc::exit_code_for(emc::Errc::kIo));
  const RunResult bad_layer = run_inspect(kmodel("nncase01_iris.kmodel") + " --layer 2");
  EXPECT_EQ(bad_layer.exit_code, emc::exit_code_for(emc::Errc::kInvalidArgument));
  EXPECT_NE(bad_layer.err.find("outside 0..1"), std::string::npos);
  const RunResult no_args = run_inspect("");
  EXPECT_EQ(no_args.exit_code, emc::exit_code_for(emc::Errc::kInvalidArgument));
}

TEST(EmcInspect, KmodelV4IsNamed) {
  const std::string path = corrupt_copy("nncase01_iris.kmodel", 436, "v4");
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    const char kmdl[8] = {'L', 'D', 'M', 'K', 4, 0, 0, 0};
    f.write(kmdl, 8);
  }
  const RunResult r = run_inspect("'" + path + "'");
  std::filesystem::remove(path);
  EXPECT_EQ(r.exit_code, emc::exit_code_for(emc::Errc::kUnsupportedVersion));
  EXPECT_NE(r.err.find("kmodel V4 ('KMDL' identifier, nncase >= 0.2)"), std::string::npos) << r.err;
}

}  // namespace

namespace {

// The EMC int8 chain seed (fuzz/seeds/make_kmodel_seeds.py, laid out by hand from
// docs/format.md): every new type is shown with its parameters and main-memory accesses.
TEST(EmcInspect, ShowsEmcInt8Types) {
  const std::string seed =
      "'" + std::string(EMC_SOURCE_DIR) + "/fuzz/seeds/kmodel/emc_int8_ops_chain.kmodel'";
  const RunResult r = run_inspect(seed + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["layers"].size(), 8u);
  EXPECT_EQ(j["layers"][1]["type"], "EMC_MAX_POOL2D_INT8");
  EXPECT_EQ(j["layers"][1]["params"]["kernel"], "3x3");
  EXPECT_EQ(j["layers"][1]["params"]["padding_ltrb"], "0,0,1,1");
  EXPECT_EQ(j["layers"][2]["params"]["multiplier"], 0x60000000);
  EXPECT_EQ(j["layers"][3]["params"]["op"], "add");
  EXPECT_EQ(j["layers"][3]["params"]["broadcast"], "per_channel");
  EXPECT_EQ(j["layers"][3]["params"]["out_q"]["shift"], -18);
  EXPECT_EQ(j["layers"][4]["type"], "EMC_LUT_INT8");
  EXPECT_EQ(j["layers"][5]["params"]["padding_ltrb"], "1,0,-1,0");
  EXPECT_EQ(j["layers"][6]["params"]["mode"], "half_pixel");
  EXPECT_EQ(j["layers"][7]["params"]["inputs"][1]["multiplier"], 1431655765);
  const RunResult d = run_inspect(seed + " --layer 4 --json");
  ASSERT_EQ(d.exit_code, 0) << d.err;
  const auto l = nlohmann::json::parse(d.out);
  ASSERT_EQ(l["body"]["table"].size(), 256u);
  EXPECT_EQ(l["body"]["table"][0], 127);  // table[i] = 127 - i
  const RunResult t = run_inspect(seed);
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.out.find("EMC_CONCAT_INT8"), std::string::npos);
  EXPECT_NE(t.out.find("cannot run this file"), std::string::npos);
}

}  // namespace
