#pragma once
#include "deskpilot/registry.h"
namespace deskpilot {
// Registers the "openai" model client (any OpenAI-compatible server) under [llm] type.
void RegisterOpenAiLlm(Registry& r);
}  // namespace deskpilot
