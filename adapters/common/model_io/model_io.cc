#include "common/model_io/model_io.h"

#include <cctype>
#include <optional>

#include "common/model_io/json_schema.h"
#include "deskpilot/text.h"

namespace deskpilot {
namespace {

// Lower-case with every run of whitespace turned into one space: a copied sentence
// still matches when the model re-wraps it.
std::string Collapse(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

int CountWords(std::string_view s) {
  int n = 0;
  bool in = false;
  for (char c : s) {
    bool sp = std::isspace(static_cast<unsigned char>(c));
    if (!sp && !in) ++n;
    in = !sp;
  }
  return n;
}

}  // namespace

const std::vector<std::string>& DataBlockTags() {
  static const std::vector<std::string> tags = {"ticket", "message", "passages", "passage",
                                                "examples", "example", "data"};
  return tags;
}

std::string NeutraliseDelimiters(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '<') {
      size_t j = i + 1;
      if (j < text.size() && text[j] == '/') ++j;
      size_t k = j;
      while (k < text.size() && std::isalpha(static_cast<unsigned char>(text[k]))) ++k;
      const std::string name = AsciiLower(text.substr(j, k - j));
      bool reserved = false;
      for (const auto& t : DataBlockTags()) reserved = reserved || name == t;
      if (reserved) {
        out += "\u2039";
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

std::string DataBlock(std::string_view tag, std::string_view text, std::string_view attrs) {
  std::string out;
  out.append("<").append(tag);
  if (!attrs.empty()) out.append(" ").append(attrs);
  out.append(">\n").append(NeutraliseDelimiters(text)).append("\n</").append(tag).append(">");
  return out;
}

std::string TicketForModel(const Ticket& ticket, size_t max_chars) {
  const std::string head = "Subject: " + ticket.subject + "\n";
  std::vector<std::string> parts;
  if (!ticket.description.empty()) parts.push_back("[customer]\n" + ticket.description);
  for (const Comment& c : ticket.comments) {
    if (c.by_deskpilot || c.body.empty() || c.body == ticket.description) continue;
    std::string who = c.author_role == AuthorRole::kCustomer ? "customer"
                      : c.author_role == AuthorRole::kAgent  ? "agent"
                                                             : "system";
    if (!c.is_public) who += ", internal";
    parts.push_back("[" + who + "]\n" + c.body);
  }
  // Newest first until the budget is spent, then back in reading order.
  size_t budget = max_chars > head.size() ? max_chars - head.size() : 0;
  std::vector<std::string> kept;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    std::string part = *it;
    if (part.size() + 2 > budget) {
      if (kept.empty() && budget > 2) {
        kept.emplace_back(Utf8Prefix(part, budget - 2));
      }
      break;
    }
    budget -= part.size() + 2;
    kept.push_back(std::move(part));
  }
  std::string out = head;
  for (auto it = kept.rbegin(); it != kept.rend(); ++it) out += "\n" + *it + "\n";
  return out;
}

Result<nlohmann::json> ParseModelJson(std::string_view text) {
  auto parse = [](std::string_view s) -> std::optional<nlohmann::json> {
    nlohmann::json j = nlohmann::json::parse(s, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return std::nullopt;
    return j;
  };
  if (auto j = parse(text)) return *j;
  // Chat models often wrap JSON in a Markdown fence even when told not to.
  if (size_t open = text.find("```"); open != std::string_view::npos) {
    size_t body = text.find('\n', open);
    size_t close = body == std::string_view::npos ? body : text.find("```", body);
    if (close != std::string_view::npos) {
      if (auto j = parse(text.substr(body + 1, close - body - 1))) return *j;
    }
  }
  size_t first = text.find('{');
  size_t last = text.rfind('}');
  if (first != std::string_view::npos && last != std::string_view::npos && last > first) {
    if (auto j = parse(text.substr(first, last - first + 1))) return *j;
  }
  return Status::InvalidArgument("the answer is not one JSON value");
}

bool RepeatsInstructions(std::string_view output, std::string_view canary, std::string_view system_prompt) {
  const std::string out = Collapse(output);
  if (!canary.empty() && out.find(AsciiLower(canary)) != std::string::npos) return true;
  // Sentences end at '.', '!', '?' or a line break; short ones ("Be concise.") are
  // too common to prove anything.
  std::string sentence;
  auto check = [&]() {
    // List bullets and quotes around a sentence are not part of what a copy repeats.
    std::string core = Collapse(sentence);
    size_t start = 0;
    while (start < core.size() && !std::isalnum(static_cast<unsigned char>(core[start]))) ++start;
    core.erase(0, start);
    const bool hit = CountWords(core) >= 8 && out.find(core) != std::string::npos;
    sentence.clear();
    return hit;
  };
  for (char c : system_prompt) {
    if (c == '\n' || c == '.' || c == '!' || c == '?') {
      if (check()) return true;
    } else {
      sentence += c;
    }
  }
  return check();
}

Result<JsonAnswer> CompleteJson(LlmClient& llm, const LlmRequest& request, const std::string& canary,
                                const std::string& adapter) {
  if (!request.json_schema) return Status::Internal("CompleteJson needs a json_schema");
  JsonAnswer answer;
  LlmRequest current = request;
  std::string problem;
  for (int attempt = 0; attempt < 2; ++attempt) {
    DP_ASSIGN_OR_RETURN(LlmResponse response, llm.Complete(current));
    response.usage.adapter = adapter;
    if (response.usage.prompt.empty()) response.usage.prompt = request.prompt_id;
    answer.usage.push_back(response.usage);
    if (RepeatsInstructions(response.text, canary, request.system)) {
      return Status::PermissionDenied("model output repeats its instructions (canary or system prompt): refused");
    }
    auto parsed = ParseModelJson(response.text);
    Status valid = parsed.ok() ? ValidateJsonSchema(*request.json_schema, *parsed) : parsed.status();
    if (valid.code() == Code::kInternal) return valid;
    if (valid.ok()) {
      answer.value = std::move(parsed).value();
      answer.repaired = attempt > 0;
      return answer;
    }
    problem = valid.message();
    if (response.finish_reason == "length") problem += " (the answer was cut off at the output token limit)";
    // The repair turn: the model sees its own answer and what is wrong with it.
    current.messages.push_back({LlmMessage::Role::kAssistant, response.text});
    current.messages.push_back(
        {LlmMessage::Role::kUser, "Your answer was rejected: " + problem +
                                      ". Answer again with only one JSON value that matches the schema."});
  }
  return Status::InvalidArgument("model output invalid after one repair: " + problem);
}

}  // namespace deskpilot
