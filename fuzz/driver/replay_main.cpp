// A main() for the fuzz harnesses in ordinary (g++) builds, so every harness runs in the test
// suite without libFuzzer: it feeds each file named on the command line (directories: every
// regular file in them, sorted) to LLVMFuzzerTestOneInput once, and with `-random=N` also N
// pseudo-random inputs (xorshift64 from `-seed=S`, lengths 1..`-max_len=L`, default 1024), which
// is how the structure-aware fuzz_convert runs a differential campaign without clang. A harness
// finding aborts the process (non-zero exit); a missing path is an error (exit 2), never a skip.
// With `-keep=FILE` each random input is written to FILE before it runs, so the input of a finding
// is left there to replay.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

bool run_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return false;
  const std::vector<char> bytes((std::istreambuf_iterator<char>(f)),
                                std::istreambuf_iterator<char>());
  std::vector<std::uint8_t> exact(bytes.begin(), bytes.end());
  LLVMFuzzerTestOneInput(exact.data(), exact.size());
  return true;
}

bool flag(const std::string& arg, const char* name, std::uint64_t& value) {
  const std::string prefix = std::string("-") + name + "=";
  if (arg.rfind(prefix, 0) != 0) return false;
  value = std::strtoull(arg.c_str() + prefix.size(), nullptr, 10);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t random = 0, seed = 1, max_len = 1024;
  std::string keep;
  std::size_t files = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("-keep=", 0) == 0) {
      keep = arg.substr(6);
      continue;
    }
    if (flag(arg, "random", random) || flag(arg, "seed", seed) || flag(arg, "max_len", max_len))
      continue;
    namespace fs = std::filesystem;
    std::error_code ec;
    std::vector<fs::path> paths;
    if (fs::is_directory(arg, ec)) {
      for (const auto& e : fs::directory_iterator(arg, ec))
        if (e.is_regular_file()) paths.push_back(e.path());
      std::sort(paths.begin(), paths.end());
    } else {
      paths.push_back(arg);
    }
    if (paths.empty()) {
      std::fprintf(stderr, "replay: %s: no such file or empty folder\n", arg.c_str());
      return 2;
    }
    for (const auto& p : paths) {
      if (!run_file(p)) {
        std::fprintf(stderr, "replay: cannot read %s\n", p.string().c_str());
        return 2;
      }
      ++files;
    }
  }
  std::uint64_t s = seed ? seed : 1;
  auto next = [&] {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  };
  std::vector<std::uint8_t> buf;
  for (std::uint64_t i = 0; i < random; ++i) {
    buf.resize(1 + next() % std::max<std::uint64_t>(max_len, 1));
    for (auto& b : buf) b = static_cast<std::uint8_t>(next() >> 24);
    if (!keep.empty()) {
      std::ofstream(keep, std::ios::binary | std::ios::trunc)
          .write(reinterpret_cast<const char*>(buf.data()),
                 static_cast<std::streamsize>(buf.size()));
    }
    LLVMFuzzerTestOneInput(buf.data(), buf.size());
  }
  std::printf("replay: %zu files, %llu random inputs, no finding\n", files,
              static_cast<unsigned long long>(random));
  return 0;
}
