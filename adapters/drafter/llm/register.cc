#include "drafter/llm/register.h"

#include "drafter/llm/llm_drafter.h"

namespace deskpilot {

void RegisterLlmDrafter(Registry& r) {
  r.AddDrafter("llm", [](AdapterContext& ctx) -> Result<std::unique_ptr<Drafter>> {
    DP_ASSIGN_OR_RETURN(auto drafter, MakeLlmDrafter(ctx));
    return std::unique_ptr<Drafter>(std::move(drafter));
  });
}

}  // namespace deskpilot
