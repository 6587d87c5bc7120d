#pragma once
#include "deskpilot/registry.h"
namespace deskpilot {
// Registers the "sandbox" helpdesk under its config type name.
void RegisterSandboxHelpdesk(Registry& r);
}  // namespace deskpilot
