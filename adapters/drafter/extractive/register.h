#pragma once
#include "deskpilot/registry.h"
namespace deskpilot {
// Registers the "extractive" drafter under its config type name.
void RegisterExtractiveDrafter(Registry& r);
}  // namespace deskpilot
