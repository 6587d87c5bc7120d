#pragma once
#include "deskpilot/registry.h"
namespace deskpilot {
// Registers the "llm" classifier under its config type name.
void RegisterLlmClassifier(Registry& r);
}  // namespace deskpilot
