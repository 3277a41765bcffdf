// Runs a command line (a built tool, the custom-backend demo) through the shell and captures what
// it prints, for the end-to-end tests of the executables.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>

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

}  // namespace emc::test
