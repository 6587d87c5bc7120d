// LlmClient for Anthropic's Messages API: POST {base_url}/v1/messages. JSON output is
// obtained the way the API intends: one tool whose input_schema is the requested
// schema, forced with tool_choice; the tool call's input is returned as the JSON text.
// Anthropic has no embeddings API, so Embed() is refused.
#pragma once

#include <string>

#include "deskpilot/config.h"
#include "deskpilot/llm.h"
#include "llm/common/model_transport.h"

namespace deskpilot {

inline constexpr const char* kAnthropicVersion = "2023-06-01";  // the API version header

struct AnthropicOptions {
  LlmOptions common;
};

// Reads [llm] for type "anthropic"; problems are recorded on `section` with key paths.
AnthropicOptions AnthropicOptionsFromConfig(ConfigSection& section);

class AnthropicClient : public LlmClient {
 public:
  AnthropicClient(AnthropicOptions options, HttpClient* http, Store* store);

  // LlmClient
  Result<LlmResponse> Complete(const LlmRequest& request) override;
  Result<std::vector<std::vector<float>>> Embed(const std::vector<std::string>& inputs) override;
  std::string Name() const override { return "anthropic"; }
  std::string Model() const override { return options_.common.model; }

  // The JSON body Complete() sends (exposed for tests).
  nlohmann::json MessagesBody(const LlmRequest& request) const;
  ModelTransport& transport() { return transport_; }

 private:
  const AnthropicOptions options_;
  ModelTransport transport_;
};

}  // namespace deskpilot
