// sd_notify without libsystemd: one datagram to $NOTIFY_SOCKET. A no-op when deskpilot
// does not run under systemd (the variable is unset).
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace deskpilot {

// Sends `state` (e.g. "READY=1", "WATCHDOG=1", "STOPPING=1"). Returns false when there is
// no notify socket or the send failed.
bool SystemdNotify(const std::string& state);

// The watchdog interval systemd expects pings at ($WATCHDOG_USEC, honouring
// $WATCHDOG_PID), or nullopt when the watchdog is off.
std::optional<std::chrono::microseconds> SystemdWatchdogInterval();

}  // namespace deskpilot
