// The shipped systemd unit: hardened (exposure ≤ 2.0 by systemd's own analyzer) and
// carrying the directives deskpilot's start-up and secret handling rely on.
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace {

const std::string kUnit = std::string(DESKPILOT_TEST_SAMPLE_DIR) + "/../deskpilot.service";

std::string RunShell(const std::string& cmd, int* rc) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  for (size_t n; p && (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  *rc = p ? pclose(p) : -1;
  return out;
}

TEST(SystemdUnit, HasTheDirectivesDeskpilotReliesOn) {
  std::ifstream in(kUnit);
  ASSERT_TRUE(in) << kUnit;
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string unit = ss.str();
  for (const char* d : {"Type=notify", "WatchdogSec=", "DynamicUser=yes", "StateDirectory=deskpilot", "LoadCredential=",
                        "ProtectSystem=strict", "NoNewPrivileges=yes", "CapabilityBoundingSet=\n",
                        "SystemCallFilter=@system-service", "MemoryDenyWriteExecute=yes"})
    EXPECT_NE(unit.find(d), std::string::npos) << "missing " << d;
}

TEST(SystemdUnit, ExposureAtMostTwo) {
  int rc = 0;
  RunShell("command -v systemd-analyze", &rc);
  if (rc != 0) GTEST_SKIP() << "systemd-analyze is not installed (Debian package systemd)";
  std::string out = RunShell("systemd-analyze security --offline=yes " + kUnit, &rc);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex(R"(Overall exposure level for deskpilot\.service: ([0-9.]+))"))) << out;
  EXPECT_LE(std::stod(m[1].str()), 2.0) << out;
}

}  // namespace
