// load_kmodel_file and write_file_atomically.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>

#include "emc/format/file_io.h"
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

// ---- file_io.h -------------------------------------------------------------------------------

TEST(Fnv1a64, MatchesThePublishedTestVectors) {
  // Vectors from the FNV reference (Fowler/Noll/Vo, "FNV-1a 64-bit" test suite).
  auto h = [](const std::string& s) {
    return fnv1a64_hex({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
  };
  EXPECT_EQ(h(""), "cbf29ce484222325");
  EXPECT_EQ(h("a"), "af63dc4c8601ec8c");
  EXPECT_EQ(h("foobar"), "85944171f73967e8");
}

TEST(ReadFileBounded, StreamsWithACapAndNamesDirectories) {
  const fs::path d = fresh_dir("bounded");
  const std::string f = (d / "f.bin").string();
  ASSERT_TRUE(write_file_atomically(f, std::vector<std::uint8_t>(100, 7)).ok());
  auto ok = read_file_bounded(f, 100, "thing");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->size(), 100u);
  auto big = read_file_bounded(f, 99, "thing");
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(big.error().to_string().find("thing is 100 bytes, more than the limit of 99"),
            std::string::npos)
      << big.error().to_string();
  // A character device that never ends: stopped at the cap.
  auto zero = read_file_bounded("/dev/zero", 1 << 20, "stream");
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.error().message().find("larger than the limit"), std::string::npos);
  auto dir = read_file_bounded(d.string(), 100, "labels file");
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.error().code(), Errc::kIo);
  EXPECT_NE(dir.error().message().find("labels file is a directory"), std::string::npos);
  auto missing = read_text_bounded((d / "nope").string(), 100, "x");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), Errc::kIo);
  fs::remove_all(d);
}

TEST(SameFile, FollowsSymlinksAndHardLinks) {
  const fs::path d = fresh_dir("same");
  const std::string a = (d / "a").string(), b = (d / "b").string();
  ASSERT_TRUE(write_file_atomically(a, std::vector<std::uint8_t>{1}).ok());
  ASSERT_TRUE(write_file_atomically(b, std::vector<std::uint8_t>{1}).ok());
  fs::create_symlink("a", d / "link");
  fs::create_hard_link(d / "a", d / "hard");
  EXPECT_TRUE(same_file(a, (d / "link").string()));
  EXPECT_TRUE(same_file(a, (d / "hard").string()));
  EXPECT_TRUE(same_file(a, (d / "." / "a").string()));
  EXPECT_FALSE(same_file(a, b));  // same bytes, different files
  EXPECT_FALSE(same_file(a, (d / "missing").string()));
  EXPECT_FALSE(same_file("", a));
  fs::remove_all(d);
}

TEST(PendingFile, NothingIsReplacedBeforeCommitAndDiscardLeavesNoTrace) {
  const fs::path d = fresh_dir("pending");
  const std::string t = (d / "out").string();
  ASSERT_TRUE(write_file_atomically(t, std::vector<std::uint8_t>{1, 2}).ok());
  {
    auto p = write_pending(t, std::vector<std::uint8_t>{9, 9, 9});
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(test::read_bytes(t), (std::vector<std::uint8_t>{1, 2}));
  }  // destroyed uncommitted: discarded
  EXPECT_EQ(test::read_bytes(t), (std::vector<std::uint8_t>{1, 2}));
  auto p = write_pending(t, std::vector<std::uint8_t>{9, 9, 9});
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p->commit().ok());
  EXPECT_EQ(test::read_bytes(t), (std::vector<std::uint8_t>{9, 9, 9}));
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(d)) files += e.is_regular_file();
  EXPECT_EQ(files, 1u);
  auto empty = write_pending("", std::vector<std::uint8_t>{1});
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code(), Errc::kInvalidArgument);
  auto dir = write_pending(d.string(), std::vector<std::uint8_t>{1});
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.error().code(), Errc::kIo);
  fs::remove_all(d);
}

TEST(ErrorFromException, EveryExceptionBecomesAnInternalError) {
  auto r = no_throw("test", []() -> Status { throw std::runtime_error("boom"); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kInternal);
  EXPECT_EQ(exit_code_for(r.error().code()), 70);
  EXPECT_EQ(r.error().message(), "internal error in test: boom");
  auto e = no_throw("test", []() -> Status { throw ErrorException(Error(Errc::kIo, "kept")); });
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code(), Errc::kIo);
  auto n = no_throw("test", []() -> Status { throw 3; });
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().message(), "internal error in test: unknown exception");
  // A synthesized layer (negative index) prints without the index.
  EXPECT_EQ(Error(Errc::kShapeMismatch, "m").with_layer({-1, "in", "InputLayer"}).to_string(),
            "layer 'in' (InputLayer): m");
}

}  // namespace
}  // namespace emc::format
