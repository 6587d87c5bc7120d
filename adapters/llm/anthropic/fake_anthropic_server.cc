#include "llm/anthropic/fake_anthropic_server.h"

namespace deskpilot {
namespace {

std::string Error(const std::string& type, const std::string& message) {
  return nlohmann::json{{"type", "error"},
                        {"error", {{"type", type}, {"message", message}}},
                        {"request_id", "req_fake"}}
      .dump();
}

}  // namespace

FakeAnthropicServer::FakeAnthropicServer() : FakeModelServer("", {"/v1/messages"}) {}

FakeAnthropicServer::~FakeAnthropicServer() { Stop(); }

void FakeAnthropicServer::Extract(FakeModelRequest& req) const {
  const nlohmann::json& b = req.body;
  req.model = b.value("model", "");
  if (auto s = b.find("system"); s != b.end()) {
    if (s->is_string()) req.system = *s;
    if (s->is_array())  // system may also be a list of text blocks
      for (const auto& block : *s)
        if (block.is_object() && block.contains("text") && block["text"].is_string()) req.system += block["text"].get<std::string>();
  }
  if (auto msgs = b.find("messages"); msgs != b.end() && msgs->is_array())
    for (const auto& m : *msgs)
      if (m.is_object() && m.contains("content") && m["content"].is_string())
        req.messages.emplace_back(m.value("role", ""), m["content"].get<std::string>());
  auto choice = b.find("tool_choice");
  auto tools = b.find("tools");
  if (choice != b.end() && choice->is_object() && choice->value("type", "") == "tool" && tools != b.end() &&
      tools->is_array()) {
    const std::string name = choice->value("name", "");
    for (const auto& t : *tools)
      if (t.is_object() && t.value("name", "") == name && t.contains("input_schema")) req.schema = t["input_schema"];
  }
}

FakeHttpAnswer FakeAnthropicServer::Render(const FakeModelRequest& req, const FakeStep& step,
                                           const std::string& text) const {
  FakeHttpAnswer a;
  switch (step.behavior) {
    case FakeBehavior::kRateLimited:
      a.status = 429;
      if (!step.retry_after.empty()) a.headers.emplace_back("retry-after", step.retry_after);
      a.body = Error("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit");
      return a;
    case FakeBehavior::kQuotaExhausted:
      a.status = 400;
      a.body = Error("invalid_request_error",
                     "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing.");
      return a;
    case FakeBehavior::kServerError:
      a.status = 500;
      a.body = Error("api_error", "Internal server error");
      return a;
    case FakeBehavior::kOverloaded:
      a.status = 529;
      a.body = Error("overloaded_error", "Overloaded");
      return a;
    case FakeBehavior::kUnauthorized:
      a.status = 401;
      a.body = Error("authentication_error", "invalid x-api-key");
      return a;
    default:
      break;
  }
  std::string prompt = req.system;
  for (const auto& [role, content] : req.messages) prompt += content;
  nlohmann::json content = nlohmann::json::array();
  std::string stop = "end_turn";
  auto as_json = nlohmann::json::parse(text, nullptr, false);
  if (req.schema && as_json.is_object()) {
    content.push_back({{"type", "tool_use"},
                       {"id", "toolu_fake"},
                       {"name", req.body["tool_choice"].value("name", "")},
                       {"input", as_json}});
    stop = "tool_use";
  } else {
    content.push_back({{"type", "text"}, {"text", text}});
  }
  a.body = nlohmann::json{{"id", "msg_fake"},
                          {"type", "message"},
                          {"role", "assistant"},
                          {"model", req.model.empty() ? "fake-model" : req.model},
                          {"content", content},
                          {"stop_reason", stop},
                          {"stop_sequence", nullptr},
                          {"usage", {{"input_tokens", FakeTokens(prompt)}, {"output_tokens", FakeTokens(text)}}}}
               .dump();
  return a;
}

}  // namespace deskpilot
