#pragma once
#include "deskpilot/registry.h"
namespace deskpilot {
// Registers the "cascade" classifier under its config type name.
void RegisterCascadeClassifier(Registry& r);
}  // namespace deskpilot
