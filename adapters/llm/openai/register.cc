#include "llm/openai/register.h"

#include "llm/common/cached_llm_client.h"
#include "llm/openai/openai_client.h"

namespace deskpilot {

void RegisterOpenAiLlm(Registry& r) {
  r.AddLlm("openai", [](AdapterContext& c) -> Result<std::unique_ptr<LlmClient>> {
    if (c.section == nullptr || c.http == nullptr)
      return Status::Internal("openai llm: context needs a config section and an HTTP client");
    OpenAiOptions options = OpenAiOptionsFromConfig(*c.section);
    const bool cache = options.common.cache && c.store != nullptr;
    std::unique_ptr<LlmClient> client = std::make_unique<OpenAiClient>(std::move(options), c.http, c.store);
    if (cache) client = std::make_unique<CachedLlmClient>(std::move(client), c.store);
    return client;
  });
}

}  // namespace deskpilot
