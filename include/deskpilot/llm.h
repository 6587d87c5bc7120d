// A model-backed text service: chat completion (optionally constrained to a JSON
// schema) and embeddings. Implementations live in adapters/llm/<name>/ (openai,
// anthropic) and own the wire format, timeouts, retries honouring Retry-After, the
// per-upstream circuit breaker, the concurrency bound and the daily token budget.
// Callers (the llm classifier and drafter) own prompts, validation and grounding;
// nothing a model returns ever chooses an action (the policy engine does).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "deskpilot/status.h"
#include "deskpilot/types.h"

namespace deskpilot {

struct LlmMessage {
  enum class Role { kUser, kAssistant };
  Role role = Role::kUser;
  std::string content;
};

struct LlmRequest {
  // Instructions: a rendered prompt template. Never ticket or KB text — those go into
  // delimited data blocks inside `messages`.
  std::string system;
  std::vector<LlmMessage> messages;
  // When set, the answer must be one JSON value matching this schema. Sent as
  // structured output where the upstream supports it; callers validate it either way.
  std::optional<nlohmann::json> json_schema;
  std::string schema_name = "output";
  int max_output_tokens = 0;  // 0: the adapter's configured cap (a lower value wins)
  std::string prompt_id;      // "classify.v1": recorded in usage and part of the cache key
};

struct LlmResponse {
  std::string text;
  std::string finish_reason;  // "stop", "length", ... as normalised by the adapter
  ModelUsage usage;           // adapter, model, prompt, tokens, cost, cached
};

class LlmClient {
 public:
  virtual ~LlmClient() = default;
  // Errors: kResourceExhausted (429, with retry_after) and kUnavailable /
  // kDeadlineExceeded are retryable; an open circuit returns kUnavailable with
  // deferred() set; quota/spend-limit and daily-budget exhaustion are
  // kFailedPrecondition (never retried); bad credentials kUnauthenticated.
  virtual Result<LlmResponse> Complete(const LlmRequest& request) = 0;
  // One vector per input, in order. kFailedPrecondition when no embedding model is
  // configured or the upstream has no embeddings API.
  virtual Result<std::vector<std::vector<float>>> Embed(const std::vector<std::string>& inputs) = 0;
  virtual std::string Name() const = 0;            // "openai", "anthropic"
  virtual std::string Model() const = 0;           // configured chat model
  virtual std::string EmbeddingModel() const { return ""; }
};

}  // namespace deskpilot
