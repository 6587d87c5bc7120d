// LD_PRELOAD'ed into the real `deskpilot serve` by tests/powerloss_test.cc: when
// DESKPILOT_POWERLOSS_LOG names an undo log, every database the process opens goes through
// the power-loss shim (powerloss_vfs.h); DESKPILOT_POWERLOSS_CUT_AT_SYNC=N cuts the power at
// the Nth sync. The binary itself carries no test code.
#include <cstdio>
#include <cstdlib>

#include "powerloss_vfs.h"

namespace {

__attribute__((constructor)) void RegisterPowerLossVfs() {
  const char* log = std::getenv("DESKPILOT_POWERLOSS_LOG");
  if (log == nullptr || *log == '\0') return;
  const char* cut = std::getenv("DESKPILOT_POWERLOSS_CUT_AT_SYNC");
  const long long cut_at = cut != nullptr ? std::atoll(cut) : 0;
  if (!deskpilot::powerloss::Register(log, /*make_default=*/true, cut_at)) {
    std::fprintf(stderr, "powerloss shim: cannot register with undo log %s\n", log);
    std::abort();
  }
}

}  // namespace
