#include "llm/anthropic/register.h"

#include "llm/anthropic/anthropic_client.h"
#include "llm/common/cached_llm_client.h"

namespace deskpilot {

void RegisterAnthropicLlm(Registry& r) {
  r.AddLlm("anthropic", [](AdapterContext& c) -> Result<std::unique_ptr<LlmClient>> {
    if (c.section == nullptr || c.http == nullptr)
      return Status::Internal("anthropic llm: context needs a config section and an HTTP client");
    AnthropicOptions options = AnthropicOptionsFromConfig(*c.section);
    const bool cache = options.common.cache && c.store != nullptr;
    std::unique_ptr<LlmClient> client = std::make_unique<AnthropicClient>(std::move(options), c.http, c.store);
    if (cache) client = std::make_unique<CachedLlmClient>(std::move(client), c.store);
    return client;
  });
}

}  // namespace deskpilot
