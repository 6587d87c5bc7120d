// The "llm" drafter: a reply in the customer's language, written by a model from the
// retrieved passages and citing them, plus the internal note's summary for the agents.
//
// Grounding is checked here, not trusted: passages are shown as numbered <passage>
// blocks and the model answers {"language", "reply", "citations": [numbers]}. The
// citations are the numbers in that list and every [n] marker in the reply. A draft
// that cites nothing, or cites a number that was not shown, has grounded = false and so
// can never be sent automatically (the pipeline re-checks citations against the
// retrieved passages as well). Draft.citations holds the doc_ids of the valid numbers.
//
// The canary: an answer (draft or summary) that contains the process canary or copies a
// sentence of the system prompt is refused with PermissionDenied, and the pipeline
// hands the ticket to a human. Length: the reply is capped by the schema (maxLength)
// and by max_output_tokens; an over-long reply gets the one repair call.
//
// Thread-safe: immutable after construction; the LlmClient is shared and thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "deskpilot/drafter.h"
#include "deskpilot/llm.h"
#include "deskpilot/prompts.h"
#include "deskpilot/registry.h"

namespace deskpilot {

struct LlmDrafterOptions {
  int max_reply_chars = 1500;       // the reply's length cap (schema maxLength)
  int max_output_tokens = 700;      // per call
  size_t max_ticket_chars = 6000;   // ticket text sent (the newest messages are kept)
  size_t max_passage_chars = 2000;  // per passage
  int summary_chars = 300;          // per summary field; 0 turns the summary call off
};

class LlmDrafter : public Drafter {
 public:
  // `llm`, `draft_prompt` and (when set) `summary_prompt` must outlive this. The draft
  // template declares "max_chars" and "canary"; the summary template the same.
  LlmDrafter(LlmClient& llm, const PromptTemplate& draft_prompt, const PromptTemplate* summary_prompt,
             LlmDrafterOptions options, std::string canary);

  // Drafter:
  // One draft call (two with a repair) and, with a summary prompt, one summary call.
  // Draft.body is the reply followed by one "[n] title — url" line per cited passage;
  // generator is "llm:<model>/<prompt id>"; usage lists every call; summary is
  // "Request: ... Tried: ... Open questions: ... Mood: ...". Errors: the client's status
  // (retryable ones stay retryable), PermissionDenied when an answer repeats the
  // canary or the instructions, InvalidArgument for output invalid after one repair.
  // A summary that stays invalid after its repair is dropped (the pipeline writes its
  // own) rather than failing the draft.
  Result<Draft> Write(const Ticket& redacted_ticket, const Triage& triage,
                      const std::vector<Passage>& passages) override;

 private:
  Result<std::string> Summarize(const std::string& ticket_text, std::vector<ModelUsage>* usage);

  LlmClient& llm_;
  const PromptTemplate& draft_prompt_;
  const PromptTemplate* summary_prompt_;
  const LlmDrafterOptions options_;
  const std::string canary_;
  std::string draft_system_;
  std::string summary_system_;
};

// Registry factory: reads [drafter] (type, prompt_version, summary_prompt_version,
// max_reply_chars, max_output_tokens, max_ticket_chars, max_passage_chars,
// summary_chars; see README.md). Needs ctx.llm and ctx.prompts.
Result<std::unique_ptr<LlmDrafter>> MakeLlmDrafter(AdapterContext& ctx);

}  // namespace deskpilot
