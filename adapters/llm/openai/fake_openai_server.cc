#include "llm/openai/fake_openai_server.h"

#include <cmath>
#include <sstream>

namespace deskpilot {
namespace {

nlohmann::json Error(const std::string& message, const std::string& type, const nlohmann::json& code) {
  return {{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", code}}}};
}

std::vector<float> HashEmbed(const std::string& text) {
  std::vector<float> v(8, 0.0f);
  std::istringstream words(text);
  std::string w;
  while (words >> w) v[std::hash<std::string>{}(w) % v.size()] += 1.0f;
  float norm = 0;
  for (float x : v) norm += x * x;
  if (norm > 0)
    for (float& x : v) x /= std::sqrt(norm);
  return v;
}

}  // namespace

FakeOpenAiServer::FakeOpenAiServer()
    : FakeModelServer("/v1", {"/v1/chat/completions", "/v1/embeddings"}), embed_(HashEmbed) {}

FakeOpenAiServer::~FakeOpenAiServer() { Stop(); }

void FakeOpenAiServer::SetEmbedder(std::function<std::vector<float>(const std::string&)> embed) {
  embed_ = std::move(embed);
}

void FakeOpenAiServer::Extract(FakeModelRequest& req) const {
  const nlohmann::json& b = req.body;
  req.model = b.value("model", "");
  if (auto msgs = b.find("messages"); msgs != b.end() && msgs->is_array()) {
    for (const auto& m : *msgs) {
      if (!m.is_object()) continue;
      const std::string role = m.value("role", "");
      const std::string content = m.contains("content") && m["content"].is_string() ? m["content"].get<std::string>() : "";
      if (role == "system")
        req.system += content;
      else
        req.messages.emplace_back(role, content);
    }
  }
  if (auto rf = b.find("response_format"); rf != b.end() && rf->is_object() && rf->contains("json_schema"))
    req.schema = (*rf)["json_schema"].value("schema", nlohmann::json());
  if (auto in = b.find("input"); in != b.end()) {
    if (in->is_string()) req.inputs.push_back(*in);
    if (in->is_array())
      for (const auto& x : *in)
        if (x.is_string()) req.inputs.push_back(x);
  }
}

FakeHttpAnswer FakeOpenAiServer::Render(const FakeModelRequest& req, const FakeStep& step,
                                        const std::string& text) const {
  FakeHttpAnswer a;
  switch (step.behavior) {
    case FakeBehavior::kRateLimited:
      a.status = 429;
      if (!step.retry_after.empty()) a.headers.emplace_back("Retry-After", step.retry_after);
      a.body = Error("Rate limit reached for requests", "requests", "rate_limit_exceeded").dump();
      return a;
    case FakeBehavior::kQuotaExhausted:
      a.status = 429;
      a.body = Error("You exceeded your current quota, please check your plan and billing details.",
                     "insufficient_quota", "insufficient_quota").dump();
      return a;
    case FakeBehavior::kServerError:
      a.status = 500;
      a.body = Error("The server had an error while processing your request.", "server_error", nullptr).dump();
      return a;
    case FakeBehavior::kOverloaded:
      a.status = 529;
      a.body = Error("The engine is currently overloaded.", "server_error", nullptr).dump();
      return a;
    case FakeBehavior::kUnauthorized:
      a.status = 401;
      a.body = Error("Incorrect API key provided.", "invalid_request_error", "invalid_api_key").dump();
      return a;
    default:
      break;
  }
  const std::string model = req.model.empty() ? "fake-model" : req.model;
  if (req.path == "/v1/embeddings") {
    nlohmann::json data = nlohmann::json::array();
    int64_t tokens = 0;
    for (size_t i = 0; i < req.inputs.size(); ++i) {
      data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", embed_(req.inputs[i])}});
      tokens += FakeTokens(req.inputs[i]);
    }
    a.body = nlohmann::json{{"object", "list"},
                            {"data", data},
                            {"model", model},
                            {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}}
                 .dump();
    return a;
  }
  std::string prompt = req.system;
  for (const auto& [role, content] : req.messages) prompt += content;
  const int64_t in = FakeTokens(prompt);
  const int64_t out = FakeTokens(text);
  a.body = nlohmann::json{{"id", "chatcmpl-fake"},
                          {"object", "chat.completion"},
                          {"created", 1700000000},
                          {"model", model},
                          {"choices",
                           {{{"index", 0},
                             {"message", {{"role", "assistant"}, {"content", text}, {"refusal", nullptr}}},
                             {"logprobs", nullptr},
                             {"finish_reason", "stop"}}}},
                          {"usage", {{"prompt_tokens", in}, {"completion_tokens", out}, {"total_tokens", in + out}}}}
               .dump();
  return a;
}

}  // namespace deskpilot
