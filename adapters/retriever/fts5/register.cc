#include "retriever/fts5/register.h"

#include "retriever/fts5/fts5_retriever.h"

namespace deskpilot {

void RegisterFts5Retriever(Registry& r) { r.AddRetriever("fts5", MakeFts5Retriever); }

}  // namespace deskpilot
