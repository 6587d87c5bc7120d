#include "llm/anthropic/anthropic_client.h"

#include "deskpilot/json_text.h"

namespace deskpilot {

AnthropicOptions AnthropicOptionsFromConfig(ConfigSection& section) {
  AnthropicOptions o;
  o.common = ReadLlmOptions(section, {.adapter = "anthropic",
                                      .base_url = "https://api.anthropic.com",
                                      .api_key_required = true,
                                      .max_temperature = 1.0,
                                      .embeddings = false});
  return o;
}

AnthropicClient::AnthropicClient(AnthropicOptions options, HttpClient* http, Store* store)
    : options_(options), transport_(options.common, http, store) {}

nlohmann::json AnthropicClient::MessagesBody(const LlmRequest& request) const {
  nlohmann::json messages = nlohmann::json::array();
  for (const auto& m : request.messages)
    messages.push_back({{"role", m.role == LlmMessage::Role::kUser ? "user" : "assistant"}, {"content", m.content}});
  nlohmann::json body = {{"model", options_.common.model},
                         {"max_tokens", EffectiveMaxTokens(options_.common, request.max_output_tokens)},
                         {"temperature", options_.common.temperature},
                         {"system", request.system},
                         {"messages", std::move(messages)}};
  if (request.json_schema) {
    body["tools"] = nlohmann::json::array(
        {{{"name", request.schema_name},
          {"description", "Record the answer. Its input is the complete answer in the required structure."},
          {"input_schema", *request.json_schema}}});
    body["tool_choice"] = {{"type", "tool"}, {"name", request.schema_name}};
  }
  return body;
}

Result<LlmResponse> AnthropicClient::Complete(const LlmRequest& request) {
  const ModelTransport::Headers headers = {{"x-api-key", options_.common.api_key},
                                           {"anthropic-version", kAnthropicVersion}};
  DP_ASSIGN_OR_RETURN(nlohmann::json answer,
                      transport_.PostJson("/v1/messages", headers, JsonText(MessagesBody(request))));
  LlmResponse r;
  r.usage.adapter = Name();
  r.usage.prompt = request.prompt_id;
  r.usage.model = AnswerString(answer, "model", options_.common.model);
  if (auto u = answer.find("usage"); u != answer.end()) {
    // Prompt-cache reads and writes are input tokens too (billed at other rates).
    r.usage.input_tokens = AnswerTokens(*u, "input_tokens") + AnswerTokens(*u, "cache_creation_input_tokens") +
                           AnswerTokens(*u, "cache_read_input_tokens");
    r.usage.output_tokens = AnswerTokens(*u, "output_tokens");
  }
  transport_.Charge(r.usage.input_tokens + r.usage.output_tokens);
  r.usage.cost = EstimateCost(options_.common, r.usage.input_tokens, r.usage.output_tokens);
  const std::string stop = AnswerString(answer, "stop_reason", "");
  // Normalised to the OpenAI words callers check: a forced tool call is a normal stop.
  if (stop == "end_turn" || stop == "stop_sequence" || stop == "tool_use")
    r.finish_reason = "stop";
  else if (stop == "max_tokens")
    r.finish_reason = "length";
  else
    r.finish_reason = stop;
  auto content = answer.find("content");
  if (content == answer.end() || !content->is_array())
    return Status::Unavailable("anthropic: answer has no content array");
  if (request.json_schema) {
    for (const auto& block : *content) {
      if (AnswerString(block, "type", "") == "tool_use" && AnswerString(block, "name", "") == request.schema_name &&
          block.contains("input")) {
        r.text = block["input"].dump();
        return r;
      }
    }
  }
  // No tool call: the text (if any) goes back for the caller to validate; with a
  // schema it will usually fail validation and take the caller's repair path.
  for (const auto& block : *content)
    if (AnswerString(block, "type", "") == "text") r.text += AnswerString(block, "text", "");
  return r;
}

Result<std::vector<std::vector<float>>> AnthropicClient::Embed(const std::vector<std::string>&) {
  return Status::FailedPrecondition("anthropic: the Messages API has no embeddings; use an openai-type [llm] for the hybrid retriever");
}

}  // namespace deskpilot
