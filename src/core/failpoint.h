// Named crash points, a test facility for the crash-safety tests (tests/crash_test.cc).
//
// DESKPILOT_FAILPOINTS="name[@N][,name[@N]...]", read once by LoadFailPoints() at start,
// makes the process raise(SIGKILL) the N-th time (default: the first) it passes the
// named point, so a test can kill it at exactly the moments where a promise could break.
// SIGKILL, not abort(): nothing may run on the way out (no destructors, no atexit), just
// as when the kernel or an operator kills the process.
//
// Unset (production), a fail point costs one relaxed atomic load and a predictable branch.
// Thread-safe.
#pragma once

#include <atomic>
#include <string>

#include "deskpilot/status.h"

namespace deskpilot {

enum class FailPoint : int {
  kAfterEnqueueCommit = 0,  // the webhook's job is committed, the 2xx not yet sent
  kAfterLease,              // a worker holds the lease, nothing done yet
  kAfterPipeline,           // the plan is decided and stored, the write-back not sent
  kAfterWriteBack,          // the help desk applied the plan, the job not marked done
};
inline constexpr int kFailPointCount = 4;

// The names used in DESKPILOT_FAILPOINTS.
const char* FailPointName(FailPoint p);

namespace failpoint_internal {
extern std::atomic<bool> armed;  // true only when some point is configured
void Hit(FailPoint p);
}  // namespace failpoint_internal

// Parses `spec` (the DESKPILOT_FAILPOINTS syntax) and arms those points, replacing any
// earlier set. kInvalidArgument names an unknown point or a bad count, so a typo in a
// crash test fails loudly instead of silently testing nothing.
Status ArmFailPoints(const std::string& spec);
// Reads DESKPILOT_FAILPOINTS (when set) once per process; later calls do nothing.
Status LoadFailPoints();

inline void MaybeFail(FailPoint p) {
  if (failpoint_internal::armed.load(std::memory_order_relaxed)) failpoint_internal::Hit(p);
}

}  // namespace deskpilot
