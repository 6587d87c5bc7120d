#pragma once
#include "deskpilot/registry.h"
namespace deskpilot {
// Registers the "embedded" classifier under its config type name.
void RegisterEmbeddedClassifier(Registry& r);
}  // namespace deskpilot
