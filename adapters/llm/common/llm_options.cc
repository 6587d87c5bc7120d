#include "llm/common/llm_options.h"

namespace deskpilot {

LlmOptions ReadLlmOptions(ConfigSection& s, const LlmOptionDefaults& d) {
  LlmOptions o;
  o.adapter = d.adapter;
  o.base_url = s.String("base_url", d.base_url);
  while (!o.base_url.empty() && o.base_url.back() == '/') o.base_url.pop_back();
  if (o.base_url.rfind("http://", 0) != 0 && o.base_url.rfind("https://", 0) != 0)
    s.AddError("base_url", "must start with http:// or https://");
  o.model = s.String("model");
  if (s.Has("model") && o.model.empty()) s.AddError("model", "must not be empty");
  if (d.embeddings) o.embedding_model = s.String("embedding_model", "");
  o.api_key = s.Secret("api_key", d.api_key_required);
  o.connect_timeout = std::chrono::milliseconds(s.Int("connect_timeout_ms", 5000, 1, 600000));
  o.timeout = std::chrono::milliseconds(s.Int("timeout_ms", 60000, 1, 3600000));
  o.max_concurrency = static_cast<int>(s.Int("max_concurrency", 4, 1, 1024));
  o.max_output_tokens = static_cast<int>(s.Int("max_output_tokens", 1024, 1, 1000000));
  o.temperature = s.Double("temperature", 0.0);
  if (o.temperature < 0.0 || o.temperature > d.max_temperature)
    s.AddError("temperature", "must be between 0 and " + std::to_string(d.max_temperature).substr(0, 3));
  o.daily_token_budget = s.Int("daily_token_budget", 0, 0, INT64_MAX);
  o.price_per_1k_input = s.Double("price_per_1k_input", 0.0);
  o.price_per_1k_output = s.Double("price_per_1k_output", 0.0);
  if (o.price_per_1k_input < 0) s.AddError("price_per_1k_input", "must not be negative");
  if (o.price_per_1k_output < 0) s.AddError("price_per_1k_output", "must not be negative");
  o.retry.max_attempts = static_cast<int>(s.Int("max_attempts", 3, 1, 10));
  o.retry.base_delay = std::chrono::milliseconds(s.Int("retry_base_delay_ms", 500, 0, 600000));
  o.retry.max_delay = std::chrono::milliseconds(s.Int("retry_max_delay_ms", 8000, 0, 600000));
  o.retry.max_retry_after = std::chrono::milliseconds(s.Int("max_retry_after_ms", 20000, 0, 3600000));
  o.circuit_failure_threshold = static_cast<int>(s.Int("circuit_failure_threshold", 5, 1, 1000));
  o.circuit_open_for = std::chrono::milliseconds(s.Int("circuit_open_ms", 30000, 1, 3600000));
  o.cache = s.Bool("cache", true);
  return o;
}

double EstimateCost(const LlmOptions& o, int64_t input_tokens, int64_t output_tokens) {
  return static_cast<double>(input_tokens) / 1000.0 * o.price_per_1k_input +
         static_cast<double>(output_tokens) / 1000.0 * o.price_per_1k_output;
}

int EffectiveMaxTokens(const LlmOptions& o, int requested) {
  return requested > 0 && requested < o.max_output_tokens ? requested : o.max_output_tokens;
}

}  // namespace deskpilot
