// Runs a command line (a built tool, the custom-backend demo) through the shell and captures what
// it prints, for the end-to-end tests of the executables.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace emc::test {

struct CommandOutput {
  int status = -1;   // exit code; -1 if the command did not exit normally or could not start
  std::string text;  // stdout, and stderr too unless it was discarded
};

// `cmd` is a shell command line; its stderr is captured with stdout, or discarded (for output
// that must parse, e.g. JSON) when `stderr_too` is false.
inline CommandOutput run_command(const std::string& cmd, bool stderr_too = true) {
  const std::string full = cmd + (stderr_too ? " 2>&1" : " 2>/dev/null");
  CommandOutput out;
  FILE* pipe = popen(full.c_str(), "r");
  if (!pipe) return out;
  char buf[4096];
  std::size_t n = 0;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.text.append(buf, n);
  const int rc = pclose(pipe);
  out.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

// One of the built tools (emc-convert, emc-run, ...) from EMC_TOOLS_DIR with `args`.
inline CommandOutput run_tool(const std::string& tool, const std::string& args,
                              bool stderr_too = true) {
  return run_command("'" + (std::filesystem::path(EMC_TOOLS_DIR) / tool).string() + "' " + args,
                     stderr_too);
}

// The bytes of the file at `path` ("" if it cannot be read).
inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A raw float32 little-endian file (a tensor, emc-run --raw output).
inline std::vector<float> read_f32(const std::string& path) {
  const std::string bytes = read_text(path);
  std::vector<float> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), v.size() * 4);
  return v;
}

// `s` as one shell word.
inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

struct ToolRun {
  int exit_code = -1;  // -1 if the tool did not exit normally
  std::string out, err;
};

// One of the built tools with `args` (each one word), stdout and stderr captured apart through
// files in the folder `tmp` (stdout.txt, stderr.txt).
inline ToolRun run_tool_apart(const std::string& tool, const std::vector<std::string>& args,
                              const std::filesystem::path& tmp) {
  std::string cmd = shell_quote((std::filesystem::path(EMC_TOOLS_DIR) / tool).string());
  for (const auto& a : args) cmd += " " + shell_quote(a);
  const std::string out = (tmp / "stdout.txt").string(), err = (tmp / "stderr.txt").string();
  cmd += " >" + shell_quote(out) + " 2>" + shell_quote(err);
  const int status = std::system(cmd.c_str());
  ToolRun r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_text(out);
  r.err = read_text(err);
  return r;
}

}  // namespace emc::test
