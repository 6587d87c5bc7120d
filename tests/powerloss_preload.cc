// LD_PRELOAD'ed into the real `deskpilot serve` by tests/powerloss_test.cc: when
// DESKPILOT_POWERLOSS_LOG names an undo log, every database the process opens goes through
// the power-loss shim (powerloss_vfs.h); DESKPILOT_POWERLOSS_CUT_AT_SYNC=N cuts the power at
// the Nth sync, DESKPILOT_POWERLOSS_CUT_AT_DB_SYNC=N at the Nth sync of the database file
// (a checkpoint's). The binary itself carries no test code.
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "powerloss_vfs.h"

namespace {

__attribute__((constructor)) void RegisterPowerLossVfs() {
  const char* log = std::getenv("DESKPILOT_POWERLOSS_LOG");
  if (log == nullptr || *log == '\0') return;
  auto number = [](const char* name) -> int64_t {
    const char* v = std::getenv(name);
    return v != nullptr ? std::atoll(v) : 0;
  };
  deskpilot::powerloss::Cut cut;
  cut.at_sync = number("DESKPILOT_POWERLOSS_CUT_AT_SYNC");
  cut.at_db_sync = number("DESKPILOT_POWERLOSS_CUT_AT_DB_SYNC");
  if (!deskpilot::powerloss::Register(log, /*make_default=*/true, cut)) {
    std::fprintf(stderr, "powerloss shim: cannot register with undo log %s\n", log);
    std::abort();
  }
}

}  // namespace
