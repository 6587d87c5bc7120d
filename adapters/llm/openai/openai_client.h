// LlmClient for any OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp server,
// LM Studio, gateways): POST {base_url}/chat/completions and {base_url}/embeddings.
#pragma once

#include <memory>
#include <string>

#include "deskpilot/config.h"
#include "deskpilot/llm.h"
#include "llm/common/model_transport.h"

namespace deskpilot {

struct OpenAiOptions {
  LlmOptions common;
  // Send the schema as response_format json_schema (strict). Servers without
  // structured output get it in the system text instead; callers validate either way.
  bool structured_output = true;
  // "max_tokens" (widest support) or "max_completion_tokens" (required by OpenAI's
  // reasoning models, which reject max_tokens).
  std::string token_limit_field = "max_tokens";
};

// Reads [llm] for type "openai"; problems are recorded on `section` with key paths.
OpenAiOptions OpenAiOptionsFromConfig(ConfigSection& section);

class OpenAiClient : public LlmClient {
 public:
  OpenAiClient(OpenAiOptions options, HttpClient* http, Store* store);

  // LlmClient
  Result<LlmResponse> Complete(const LlmRequest& request) override;
  Result<std::vector<std::vector<float>>> Embed(const std::vector<std::string>& inputs) override;
  std::string Name() const override { return "openai"; }
  std::string Model() const override { return options_.common.model; }
  std::string EmbeddingModel() const override { return options_.common.embedding_model; }

  // The JSON body Complete() sends (exposed for tests).
  nlohmann::json ChatBody(const LlmRequest& request) const;
  ModelTransport& transport() { return transport_; }

 private:
  ModelTransport::Headers AuthHeaders() const;

  const OpenAiOptions options_;
  ModelTransport transport_;
};

}  // namespace deskpilot
