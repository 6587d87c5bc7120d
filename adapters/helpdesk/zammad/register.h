#pragma once
#include "deskpilot/registry.h"
namespace deskpilot {
// Registers the "zammad" helpdesk under its config type name.
void RegisterZammadHelpdesk(Registry& r);
}  // namespace deskpilot
