#include "llm/common/cached_llm_client.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "deskpilot/crypto.h"
#include "deskpilot/json_text.h"

namespace deskpilot {

std::string LlmCacheKey(const std::string& adapter, const std::string& model, const LlmRequest& request) {
  nlohmann::json messages = nlohmann::json::array();
  for (const auto& m : request.messages)
    messages.push_back({m.role == LlmMessage::Role::kUser ? "user" : "assistant", m.content});
  const nlohmann::json canonical = {
      {"adapter", adapter},
      {"model", model},
      {"prompt", request.prompt_id},
      {"system", request.system},
      {"messages", messages},
      {"schema", request.json_schema ? *request.json_schema : nlohmann::json()},
      {"schema_name", request.schema_name},
      {"max_output_tokens", request.max_output_tokens},
  };
  // nlohmann::json objects are key-sorted, so the dump is canonical.
  return "llm:" + Sha256Hex(JsonText(canonical));
}

CachedLlmClient::CachedLlmClient(std::unique_ptr<LlmClient> inner, Store* store)
    : inner_(std::move(inner)), store_(store) {}

Result<LlmResponse> CachedLlmClient::Complete(const LlmRequest& request) {
  const std::string key = LlmCacheKey(inner_->Name(), inner_->Model(), request);
  auto cached = store_->CacheGet(key);
  if (cached.ok() && cached->has_value()) {
    auto j = nlohmann::json::parse(**cached, nullptr, false);
    if (j.is_object()) {
      LlmResponse r;
      r.text = j.value("text", "");
      r.finish_reason = j.value("finish_reason", "");
      r.usage.adapter = j.value("adapter", "");
      r.usage.model = j.value("model", "");
      r.usage.prompt = request.prompt_id;
      r.usage.input_tokens = j.value("input_tokens", int64_t{0});
      r.usage.output_tokens = j.value("output_tokens", int64_t{0});
      r.usage.cost = 0.0;  // nothing was paid for this answer
      r.usage.cached = true;
      return r;
    }
    spdlog::warn("llm cache: unreadable entry {}; calling the model", key);
  } else if (!cached.ok()) {
    spdlog::warn("llm cache: lookup failed ({}); calling the model", cached.status().ToString());
  }
  DP_ASSIGN_OR_RETURN(LlmResponse response, inner_->Complete(request));
  const nlohmann::json entry = {{"text", response.text},
                                {"finish_reason", response.finish_reason},
                                {"adapter", response.usage.adapter},
                                {"model", response.usage.model},
                                {"input_tokens", response.usage.input_tokens},
                                {"output_tokens", response.usage.output_tokens}};
  // Deferrable: inside a worker's job the entry is committed with the job's write plan
  // rather than costing an fsync of its own; lost in a crash, it costs one repeated call.
  if (Status put = store_->CachePutDeferrable(key, JsonText(entry), NowMs()); !put.ok())
    spdlog::warn("llm cache: cannot store {}: {}", key, put.ToString());
  return response;
}

}  // namespace deskpilot
