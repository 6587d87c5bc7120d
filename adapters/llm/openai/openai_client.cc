#include "llm/openai/openai_client.h"

#include "deskpilot/json_text.h"

namespace deskpilot {

OpenAiOptions OpenAiOptionsFromConfig(ConfigSection& section) {
  OpenAiOptions o;
  o.common = ReadLlmOptions(section, {.adapter = "openai",
                                      .base_url = "https://api.openai.com/v1",
                                      .api_key_required = false,
                                      .max_temperature = 2.0,
                                      .embeddings = true});
  o.structured_output = section.Bool("structured_output", true);
  o.token_limit_field =
      section.Enum("token_limit_field", {"max_tokens", "max_completion_tokens"}, "max_tokens");
  return o;
}

OpenAiClient::OpenAiClient(OpenAiOptions options, HttpClient* http, Store* store)
    : options_(options), transport_(options.common, http, store) {}

ModelTransport::Headers OpenAiClient::AuthHeaders() const {
  ModelTransport::Headers h;
  // Local servers (Ollama, llama.cpp) need no key; sending an empty Bearer would be noise.
  if (!options_.common.api_key.empty()) h.emplace_back("Authorization", "Bearer " + options_.common.api_key);
  return h;
}

nlohmann::json OpenAiClient::ChatBody(const LlmRequest& request) const {
  std::string system = request.system;
  nlohmann::json body = {{"model", options_.common.model},
                         {"temperature", options_.common.temperature},
                         {options_.token_limit_field,
                          EffectiveMaxTokens(options_.common, request.max_output_tokens)}};
  if (request.json_schema) {
    if (options_.structured_output) {
      body["response_format"] = {{"type", "json_schema"},
                                 {"json_schema",
                                  {{"name", request.schema_name},
                                   {"schema", *request.json_schema},
                                   {"strict", true}}}};
    } else {
      system += "\n\nAnswer with a single JSON value and nothing else. It must match this JSON schema:\n" +
                request.json_schema->dump();
    }
  }
  nlohmann::json messages = nlohmann::json::array();
  messages.push_back({{"role", "system"}, {"content", system}});
  for (const auto& m : request.messages)
    messages.push_back({{"role", m.role == LlmMessage::Role::kUser ? "user" : "assistant"}, {"content", m.content}});
  body["messages"] = std::move(messages);
  return body;
}

Result<LlmResponse> OpenAiClient::Complete(const LlmRequest& request) {
  DP_ASSIGN_OR_RETURN(nlohmann::json answer,
                      transport_.PostJson("/chat/completions", AuthHeaders(), JsonText(ChatBody(request))));
  LlmResponse r;
  r.usage.adapter = Name();
  r.usage.prompt = request.prompt_id;
  r.usage.model = AnswerString(answer, "model", options_.common.model);
  if (auto u = answer.find("usage"); u != answer.end()) {
    r.usage.input_tokens = AnswerTokens(*u, "prompt_tokens");
    r.usage.output_tokens = AnswerTokens(*u, "completion_tokens");
  }
  // Charged before the answer is judged: the tokens were spent either way.
  transport_.Charge(r.usage.input_tokens + r.usage.output_tokens);
  r.usage.cost = EstimateCost(options_.common, r.usage.input_tokens, r.usage.output_tokens);
  auto choices = answer.find("choices");
  if (choices == answer.end() || !choices->is_array() || choices->empty() || !(*choices)[0].is_object())
    return Status::Unavailable("openai: answer has no choices");
  const nlohmann::json& choice = (*choices)[0];
  if (auto fr = choice.find("finish_reason"); fr != choice.end() && fr->is_string()) r.finish_reason = *fr;
  auto message = choice.find("message");
  if (message == choice.end() || !message->is_object())
    return Status::Unavailable("openai: choice has no message");
  if (auto content = message->find("content"); content != message->end() && content->is_string()) {
    r.text = *content;
  } else if (auto refusal = message->find("refusal"); refusal != message->end() && refusal->is_string()) {
    // Structured-output refusals come back here instead of content.
    r.finish_reason = "refusal";
  }
  return r;
}

Result<std::vector<std::vector<float>>> OpenAiClient::Embed(const std::vector<std::string>& inputs) {
  if (options_.common.embedding_model.empty())
    return Status::FailedPrecondition("openai: no embedding_model configured in [llm]");
  if (inputs.empty()) return std::vector<std::vector<float>>{};
  const nlohmann::json body = {{"model", options_.common.embedding_model}, {"input", inputs}};
  DP_ASSIGN_OR_RETURN(nlohmann::json answer, transport_.PostJson("/embeddings", AuthHeaders(), JsonText(body)));
  if (auto u = answer.find("usage"); u != answer.end()) {
    const int64_t total = AnswerTokens(*u, "total_tokens");
    transport_.Charge(total > 0 ? total : AnswerTokens(*u, "prompt_tokens"));
  }
  auto data = answer.find("data");
  if (data == answer.end() || !data->is_array() || data->size() != inputs.size())
    return Status::Unavailable("openai: embeddings answer has " +
                               std::to_string(data != answer.end() && data->is_array() ? data->size() : 0) +
                               " vectors for " + std::to_string(inputs.size()) + " inputs");
  std::vector<std::vector<float>> out(inputs.size());
  for (size_t i = 0; i < data->size(); ++i) {
    const auto& item = (*data)[i];
    // Results carry their input's index; servers are not obliged to keep the order.
    size_t index = i;
    if (auto at = item.find("index"); at != item.end()) {
      if (!at->is_number_unsigned())
        return Status::Unavailable("openai: malformed embedding index at position " + std::to_string(i));
      index = at->get<size_t>();
    }
    auto emb = item.find("embedding");
    if (index >= out.size() || emb == item.end() || !emb->is_array() || emb->empty())
      return Status::Unavailable("openai: malformed embedding at position " + std::to_string(i));
    out[index].reserve(emb->size());
    for (const auto& v : *emb) {
      if (!v.is_number()) return Status::Unavailable("openai: embedding holds a non-number (encoding_format?)");
      out[index].push_back(v.get<float>());
    }
  }
  for (size_t i = 0; i < out.size(); ++i)
    if (out[i].empty()) return Status::Unavailable("openai: no embedding for input " + std::to_string(i));
  return out;
}

}  // namespace deskpilot
