#include "drafter/llm/llm_drafter.h"

#include <algorithm>
#include <cctype>
#include <set>

#include <spdlog/spdlog.h>

#include "common/model_io/model_io.h"
#include "deskpilot/canary.h"
#include "deskpilot/text.h"

namespace deskpilot {
namespace {

// Below this the triage's language guess is too weak to overrule the model's.
constexpr double kLanguageConfidence = 0.5;

// Every [n] marker in the reply, whatever its length: a marker the reader sees as a
// citation must count as one, or "[12345]" would sit in a grounded reply pointing
// nowhere. A number with a leading zero ("[01]" is not how sources are numbered) or
// too long for int64 is returned as -1, which no passage has.
std::vector<int64_t> Markers(const std::string& text) {
  std::vector<int64_t> out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '[') continue;
    size_t j = i + 1;
    while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
    if (j == i + 1 || j >= text.size() || text[j] != ']') continue;
    const std::string digits = text.substr(i + 1, j - i - 1);
    out.push_back(digits[0] == '0' || digits.size() > 18 ? -1 : std::stoll(digits));
    i = j;
  }
  return out;
}

nlohmann::json DraftSchema(int max_reply_chars) {
  return {{"type", "object"},
          {"additionalProperties", false},
          {"required", {"language", "reply", "citations"}},
          {"properties",
           {{"language", {{"type", "string"}, {"minLength", 2}, {"maxLength", 12}}},
            {"reply", {{"type", "string"}, {"minLength", 1}, {"maxLength", max_reply_chars}}},
            // Any integer: a number outside the passages makes the draft ungrounded
            // rather than invalid, so it is reported instead of repaired away.
            {"citations", {{"type", "array"}, {"items", {{"type", "integer"}}}, {"maxItems", 20}}}}}};
}

nlohmann::json SummarySchema(int max_chars) {
  nlohmann::json field = {{"type", "string"}, {"maxLength", max_chars}};
  return {{"type", "object"},
          {"additionalProperties", false},
          {"required", {"request", "tried", "open_questions", "mood"}},
          {"properties", {{"request", field}, {"tried", field}, {"open_questions", field}, {"mood", field}}}};
}

}  // namespace

LlmDrafter::LlmDrafter(LlmClient& llm, const PromptTemplate& draft_prompt, const PromptTemplate* summary_prompt,
                       LlmDrafterOptions options, std::string canary)
    : llm_(llm),
      draft_prompt_(draft_prompt),
      summary_prompt_(summary_prompt),
      options_(options),
      canary_(std::move(canary)) {
  // The factory renders both templates before constructing, so these cannot fail here.
  if (auto s = draft_prompt_.Render({{"max_chars", std::to_string(options_.max_reply_chars)}, {"canary", canary_}});
      s.ok())
    draft_system_ = std::move(s).value();
  if (summary_prompt_ != nullptr) {
    if (auto s = summary_prompt_->Render({{"max_chars", std::to_string(options_.summary_chars)}, {"canary", canary_}});
        s.ok())
      summary_system_ = std::move(s).value();
  }
}

Result<std::string> LlmDrafter::Summarize(const std::string& ticket_text, std::vector<ModelUsage>* usage) {
  LlmRequest request;
  request.system = summary_system_;
  request.messages.push_back({LlmMessage::Role::kUser, "Summarise this ticket:\n" + DataBlock("ticket", ticket_text)});
  request.json_schema = SummarySchema(options_.summary_chars);
  request.schema_name = "summary";
  request.max_output_tokens = options_.max_output_tokens;
  request.prompt_id = summary_prompt_->id;
  DP_ASSIGN_OR_RETURN(JsonAnswer answer, CompleteJson(llm_, request, canary_, "llm-summarizer"));
  usage->insert(usage->end(), answer.usage.begin(), answer.usage.end());
  const nlohmann::json& v = answer.value;
  std::string s = "Request: " + v["request"].get<std::string>();
  if (!v["tried"].get<std::string>().empty()) s += " Tried: " + v["tried"].get<std::string>();
  if (!v["open_questions"].get<std::string>().empty()) s += " Open questions: " + v["open_questions"].get<std::string>();
  s += " Mood: " + v["mood"].get<std::string>();
  return s;
}

Result<Draft> LlmDrafter::Write(const Ticket& ticket, const Triage& triage, const std::vector<Passage>& passages) {
  if (draft_system_.empty()) return Status::Internal("llm drafter: prompt " + draft_prompt_.id + " did not render");
  const std::string ticket_text = TicketForModel(ticket, options_.max_ticket_chars);

  // Passages are KB text: untrusted too, so each sits in its own block. Numbers and
  // titles are shown; the model cites numbers, and we map them back to doc_ids.
  std::string blocks;
  for (size_t i = 0; i < passages.size(); ++i) {
    const Passage& p = passages[i];
    blocks += DataBlock("passage", "Title: " + p.title + "\n" + std::string(Utf8Prefix(p.text, options_.max_passage_chars)),
                        "number=\"" + std::to_string(i + 1) + "\"") +
              "\n";
  }
  std::string user = "<passages>\n" + (blocks.empty() ? std::string("(no passages were found)\n") : blocks) +
                     "</passages>\n\nWrite the reply to this ticket:\n" + DataBlock("ticket", ticket_text);

  LlmRequest request;
  request.system = draft_system_;
  request.messages.push_back({LlmMessage::Role::kUser, user});
  request.json_schema = DraftSchema(options_.max_reply_chars);
  request.schema_name = "draft";
  request.max_output_tokens = options_.max_output_tokens;
  request.prompt_id = draft_prompt_.id;
  DP_ASSIGN_OR_RETURN(JsonAnswer answer, CompleteJson(llm_, request, canary_, "llm-drafter"));

  Draft draft;
  draft.usage = answer.usage;
  const std::string reply = answer.value["reply"].get<std::string>();
  const std::string language = answer.value["language"].get<std::string>();
  // 64 bits: the schema lets any integer through, and one cast to int could wrap onto a
  // passage number that was shown (4294967297 is 1 as an int).
  std::set<int64_t> cited;
  for (const auto& c : answer.value["citations"]) cited.insert(c.get<int64_t>());
  for (int64_t m : Markers(reply)) cited.insert(m);

  bool all_known = true;
  std::string sources;
  for (int64_t n : cited) {
    if (n < 1 || n > static_cast<int64_t>(passages.size())) {
      all_known = false;
      continue;
    }
    const Passage& p = passages[static_cast<size_t>(n - 1)];
    if (std::find(draft.citations.begin(), draft.citations.end(), p.doc_id) == draft.citations.end())
      draft.citations.push_back(p.doc_id);
    // The reply goes to the customer: a resolved ticket's title is another customer's
    // subject line, and there is nothing to link to.
    if (p.kind == PassageKind::kResolvedTicket) continue;
    sources += "[" + std::to_string(n) + "] " + p.title + (p.url.empty() ? "" : " \u2014 " + p.url) + "\n";
  }
  bool same_language = true;
  if (const Prediction* lang = triage.Get("language");
      lang && !lang->abstained && lang->label != "und" && lang->confidence >= kLanguageConfidence) {
    std::string code = language.substr(0, 2);
    for (char& c : code) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    same_language = code == lang->label;
  }
  draft.grounded = !cited.empty() && all_known && same_language;
  draft.body = reply;
  if (!sources.empty()) draft.body += "\n\n" + sources;
  while (!draft.body.empty() && draft.body.back() == '\n') draft.body.pop_back();
  draft.generator = "llm:" + (draft.usage.empty() ? llm_.Model() : draft.usage.back().model) + "/" + draft_prompt_.id;
  if (!all_known) spdlog::info("llm drafter: the draft cites a passage number that was not shown: not grounded");
  if (!same_language) spdlog::info("llm drafter: reply language {} differs from the ticket's: not grounded", language);

  if (summary_prompt_ != nullptr && options_.summary_chars > 0) {
    auto summary = Summarize(ticket_text, &draft.usage);
    if (summary.ok()) {
      draft.summary = std::move(summary).value();
    } else if (summary.status().code() == Code::kInvalidArgument) {
      spdlog::warn("llm drafter: summary dropped: {}", summary.status().message());
    } else {
      return summary.status().WithContext("summary");
    }
  }
  return draft;
}

Result<std::unique_ptr<LlmDrafter>> MakeLlmDrafter(AdapterContext& ctx) {
  if (ctx.section == nullptr) return Status::InvalidArgument("drafter: the llm drafter needs a [drafter] section");
  ConfigSection& section = *ctx.section;
  section.String("type", "llm");
  const int version = static_cast<int>(section.Int("prompt_version", 0, 0, 1000000));
  const int summary_version = static_cast<int>(section.Int("summary_prompt_version", 0, 0, 1000000));
  LlmDrafterOptions o;
  o.max_reply_chars = static_cast<int>(section.Int("max_reply_chars", o.max_reply_chars, 100, 20000));
  o.max_output_tokens = static_cast<int>(section.Int("max_output_tokens", o.max_output_tokens, 50, 16384));
  o.max_ticket_chars =
      static_cast<size_t>(section.Int("max_ticket_chars", static_cast<int64_t>(o.max_ticket_chars), 200, 200000));
  o.max_passage_chars =
      static_cast<size_t>(section.Int("max_passage_chars", static_cast<int64_t>(o.max_passage_chars), 100, 50000));
  o.summary_chars = static_cast<int>(section.Int("summary_chars", o.summary_chars, 0, 5000));
  if (ctx.llm == nullptr || ctx.prompts == nullptr) return LlmUnavailable(ctx, section.path() + ": the llm drafter");
  auto draft = ctx.prompts->Get("draft", version);
  if (!draft.ok()) return draft.status().WithContext(section.path() + ".prompt_version");
  if (auto probe = (*draft)->Render({{"max_chars", ""}, {"canary", ""}}); !probe.ok())
    return probe.status().WithContext(section.path());
  const PromptTemplate* summary = nullptr;
  if (o.summary_chars > 0) {
    auto s = ctx.prompts->Get("summarize", summary_version);
    if (!s.ok()) return s.status().WithContext(section.path() + ".summary_prompt_version");
    if (auto probe = (*s)->Render({{"max_chars", ""}, {"canary", ""}}); !probe.ok())
      return probe.status().WithContext(section.path());
    summary = *s;
  }
  return std::make_unique<LlmDrafter>(*ctx.llm, **draft, summary, o, ProcessCanary());
}

}  // namespace deskpilot
