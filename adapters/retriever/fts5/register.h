#pragma once
#include "deskpilot/registry.h"
namespace deskpilot {
// Registers the "fts5" retriever under its config type name.
void RegisterFts5Retriever(Registry& r);
}  // namespace deskpilot
