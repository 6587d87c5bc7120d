#include "service/systemd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

namespace deskpilot {
namespace {

TEST(SystemdNotify, SendsDatagramsToTheNotifySocket) {
  std::string path = "/tmp/deskpilot-notify-" + std::to_string(::getpid());
  ::unlink(path.c_str());
  int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  setenv("NOTIFY_SOCKET", path.c_str(), 1);
  EXPECT_TRUE(SystemdNotify("READY=1"));
  char buf[64] = {};
  ssize_t n = ::recv(fd, buf, sizeof buf - 1, 0);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0), "READY=1");
  unsetenv("NOTIFY_SOCKET");
  EXPECT_FALSE(SystemdNotify("READY=1"));  // not under systemd: a no-op
  ::close(fd);
  ::unlink(path.c_str());
}

TEST(SystemdNotify, WatchdogInterval) {
  unsetenv("WATCHDOG_PID");
  unsetenv("WATCHDOG_USEC");
  EXPECT_FALSE(SystemdWatchdogInterval().has_value());
  setenv("WATCHDOG_USEC", "30000000", 1);
  ASSERT_TRUE(SystemdWatchdogInterval().has_value());
  EXPECT_EQ(SystemdWatchdogInterval()->count(), 30000000);
  setenv("WATCHDOG_PID", "1", 1);  // meant for another process
  EXPECT_FALSE(SystemdWatchdogInterval().has_value());
  setenv("WATCHDOG_USEC", "junk", 1);
  unsetenv("WATCHDOG_PID");
  EXPECT_FALSE(SystemdWatchdogInterval().has_value());
  unsetenv("WATCHDOG_USEC");
}

}  // namespace
}  // namespace deskpilot
