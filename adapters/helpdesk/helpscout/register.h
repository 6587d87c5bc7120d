#pragma once
#include "deskpilot/registry.h"
namespace deskpilot {
// Registers the "helpscout" helpdesk under its config type name.
void RegisterHelpScoutHelpdesk(Registry& r);
}  // namespace deskpilot
