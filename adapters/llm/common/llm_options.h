// Settings every model client shares (adapters/llm/openai, adapters/llm/anthropic),
// read from the [llm] table. Each adapter reads its own extra keys after these.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "deskpilot/config.h"
#include "deskpilot/http_client.h"

namespace deskpilot {

struct LlmOptions {
  std::string adapter;          // "openai" | "anthropic": metrics, cache key, budget key
  std::string base_url;         // without a trailing slash
  std::string model;            // chat model; never a built-in default
  std::string embedding_model;  // empty: Embed() is refused
  std::string api_key;          // from api_key_env / api_key_file; never logged
  std::chrono::milliseconds connect_timeout{5000};
  // Budget for one Complete/Embed call from first byte sent to answer, retries and
  // backoff included, so a hanging server costs a worker at most this long.
  std::chrono::milliseconds timeout{60000};
  int max_concurrency = 4;       // in-flight calls per client
  int max_output_tokens = 1024;  // cap; a request may ask for less, never more
  double temperature = 0.0;
  int64_t daily_token_budget = 0;  // input+output tokens per UTC day; 0 = unlimited
  double price_per_1k_input = 0.0;
  double price_per_1k_output = 0.0;
  RetryPolicy retry;
  int circuit_failure_threshold = 5;
  std::chrono::milliseconds circuit_open_for{30000};
  bool cache = true;  // answer unchanged requests from the store's cache table
};

struct LlmOptionDefaults {
  std::string adapter;
  std::string base_url;
  bool api_key_required = false;
  double max_temperature = 2.0;
  bool embeddings = true;  // whether the adapter accepts `embedding_model`
};

// Reads and validates the shared keys; errors are recorded on `s` with their key path.
LlmOptions ReadLlmOptions(ConfigSection& s, const LlmOptionDefaults& defaults);

// Estimated cost of one call from the configured per-1k-token prices.
double EstimateCost(const LlmOptions& o, int64_t input_tokens, int64_t output_tokens);

// The output token limit for one request: the request's own when lower than the cap.
int EffectiveMaxTokens(const LlmOptions& o, int requested);

}  // namespace deskpilot
