#pragma once
#include "deskpilot/registry.h"
namespace deskpilot {
// Registers the "anthropic" model client (Messages API) under [llm] type.
void RegisterAnthropicLlm(Registry& r);
}  // namespace deskpilot
