// Runs a shell command line and collects what it printed, for the tests that drive the
// real binary from the outside.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace deskpilot::testing_shell {

struct Outcome {
  int code = -1;    // exit code; -1 when the command could not run or was killed
  std::string out;  // stdout, and stderr unless the caller keeps it apart
};

inline Outcome RunShell(const std::string& command, bool merge_stderr = true) {
  Outcome r;
  FILE* p = popen((merge_stderr ? command + " 2>&1" : command).c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace deskpilot::testing_shell
