#include "retriever/hybrid/register.h"

#include "retriever/hybrid/hybrid_retriever.h"

namespace deskpilot {

void RegisterHybridRetriever(Registry& r) {
  r.AddRetriever("hybrid", [](AdapterContext& ctx) -> Result<std::unique_ptr<Retriever>> {
    DP_ASSIGN_OR_RETURN(auto retriever, MakeHybridRetriever(ctx));
    return std::unique_ptr<Retriever>(std::move(retriever));
  });
}

}  // namespace deskpilot
