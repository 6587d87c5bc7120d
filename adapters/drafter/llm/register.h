#pragma once
#include "deskpilot/registry.h"
namespace deskpilot {
// Registers the "llm" drafter under its config type name.
void RegisterLlmDrafter(Registry& r);
}  // namespace deskpilot
