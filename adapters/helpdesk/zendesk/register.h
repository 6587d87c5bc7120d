#pragma once
#include "deskpilot/registry.h"
namespace deskpilot {
// Registers the "zendesk" helpdesk under its config type name.
void RegisterZendeskHelpdesk(Registry& r);
}  // namespace deskpilot
