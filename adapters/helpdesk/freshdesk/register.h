#pragma once
#include "deskpilot/registry.h"
namespace deskpilot {
// Registers the "freshdesk" helpdesk under its config type name.
void RegisterFreshdeskHelpdesk(Registry& r);
}  // namespace deskpilot
