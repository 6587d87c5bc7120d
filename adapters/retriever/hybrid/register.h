#pragma once
#include "deskpilot/registry.h"
namespace deskpilot {
// Registers the "hybrid" retriever under its config type name.
void RegisterHybridRetriever(Registry& r);
}  // namespace deskpilot
