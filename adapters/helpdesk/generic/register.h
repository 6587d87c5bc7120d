#pragma once
#include "deskpilot/registry.h"
namespace deskpilot {
// Registers the "generic" helpdesk under its config type name.
void RegisterGenericHelpdesk(Registry& r);
}  // namespace deskpilot
