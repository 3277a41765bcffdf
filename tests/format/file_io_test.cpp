// load_kmodel_file and write_file_atomically.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "emc/format/kmodel_codec.h"
#include "format_test_util.h"

namespace emc::format {
namespace {

namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& tag) {
  const fs::path d =
      fs::temp_directory_path() / ("emc_format_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

TEST(LoadKmodelFile, MissingFileIsIoErrorWithPath) {
  auto r = load_kmodel_file("/nonexistent/dir/model.kmodel");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kIo);
  EXPECT_EQ(r.error().file(), "/nonexistent/dir/model.kmodel");
  EXPECT_EQ(r.error().to_string().rfind("/nonexistent/dir/model.kmodel: ", 0), 0u);
}

TEST(LoadKmodelFile, DirectoryIsIoError) {
  auto r = load_kmodel_file(std::string(EMC_SHARED_DIR) + "/kmodels");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kIo);
  EXPECT_NE(r.error().message().find("not a regular file"), std::string::npos);
}

TEST(LoadKmodelFile, ParseErrorsCarryThePath) {
  const fs::path d = fresh_dir("load");
  auto bytes = test::read_bytes(test::real_kmodel_path("nncase01_iris.kmodel"));
  bytes.resize(20);
  ASSERT_TRUE(write_file_atomically((d / "short.kmodel").string(), bytes).ok());
  auto r = load_kmodel_file((d / "short.kmodel").string());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kTruncatedModel);
  EXPECT_EQ(r.error().file(), (d / "short.kmodel").string());
  fs::remove_all(d);
}

TEST(WriteFileAtomically, WritesReplacesAndLeavesNoTemporaryFiles) {
  const fs::path d = fresh_dir("atomic");
  const std::string target = (d / "out.kmodel").string();
  const std::vector<std::uint8_t> a = {1, 2, 3}, b = {9, 8, 7, 6};
  ASSERT_TRUE(write_file_atomically(target, a).ok());
  EXPECT_EQ(test::read_bytes(target), a);
  ASSERT_TRUE(write_file_atomically(target, b).ok());  // replaces
  EXPECT_EQ(test::read_bytes(target), b);
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(d)) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1u);
  fs::remove_all(d);
}

TEST(WriteFileAtomically, FailureIsIoErrorAndLeavesNothing) {
  const fs::path d = fresh_dir("atomic_fail");
  // Target folder does not exist: the temporary file cannot be created.
  auto st =
      write_file_atomically((d / "missing" / "x.kmodel").string(), std::vector<std::uint8_t>{1});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), Errc::kIo);
  // Target is an existing directory: rename fails, the temporary file is removed.
  fs::create_directories(d / "adir" / "inner");
  auto st2 = write_file_atomically((d / "adir").string(), std::vector<std::uint8_t>{1, 2});
  ASSERT_FALSE(st2.ok());
  EXPECT_EQ(st2.error().code(), Errc::kIo);
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(d)) {
    EXPECT_TRUE(e.is_directory()) << e.path();
    ++files;
  }
  EXPECT_EQ(files, 1u);  // only "adir"
  fs::remove_all(d);
}

TEST(WriteFileAtomically, RealFileRoundTripThroughDisk) {
  const fs::path d = fresh_dir("rt");
  auto m = load_kmodel_file(test::real_kmodel_path("maixpy_mnist.kmodel"));
  ASSERT_TRUE(m.ok());
  auto bytes = encode_kmodel(*m, {EncodeLayout::kPreserve});
  ASSERT_TRUE(bytes.ok());
  ASSERT_TRUE(write_file_atomically((d / "m.kmodel").string(), *bytes).ok());
  EXPECT_EQ(test::read_bytes((d / "m.kmodel").string()),
            test::read_bytes(test::real_kmodel_path("maixpy_mnist.kmodel")));
  fs::remove_all(d);
}

}  // namespace
}  // namespace emc::format
