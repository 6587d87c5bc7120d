// What the model-backed adapters (llm classifier, llm drafter) share about talking to a
// model safely: untrusted text goes only inside delimited data blocks whose delimiters
// it cannot forge, an answer is one JSON value checked against the schema that was
// sent, an invalid answer gets exactly one repair attempt, and an answer that repeats
// the system prompt's canary or its distinctive sentences is refused.
//
// Stateless functions; thread-safe as long as the LlmClient is.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "deskpilot/llm.h"
#include "deskpilot/status.h"
#include "deskpilot/types.h"

namespace deskpilot {

// The tag names deskpilot's prompts use for data blocks. Any "<name" or "</name" of
// these (any case) inside untrusted text is defused, so a ticket cannot close its block
// and write outside it.
const std::vector<std::string>& DataBlockTags();

// Replaces the '<' of every reserved tag opening or closing in `text` with U+2039
// ("‹"), leaving everything else (including redaction placeholders like <EMAIL_1>).
std::string NeutraliseDelimiters(std::string_view text);

// "<tag attrs>\n" + NeutraliseDelimiters(text) + "\n</tag>". `attrs` is written as is:
// pass only values deskpilot made (numbers, ids), never ticket or KB text.
std::string DataBlock(std::string_view tag, std::string_view text, std::string_view attrs = "");

// The ticket as a model reads it: "Subject: ...", the description, then each public
// comment and each agent note as "[customer]" / "[agent]" / "[agent, internal]"
// paragraphs (deskpilot's own comments and exact repeats of the description are left
// out). Cut at `max_chars` bytes on a UTF-8 boundary, keeping the subject and the
// newest messages: the latest message says what the customer wants now.
std::string TicketForModel(const Ticket& ticket, size_t max_chars);

// One JSON value from a model's text: the whole text, or the body of a ``` / ```json
// fence, or the span from the first '{' to the last '}'. InvalidArgument otherwise.
Result<nlohmann::json> ParseModelJson(std::string_view text);

// True when `output` contains the canary (any case), or a sentence of at least eight
// words copied from `system_prompt` (compared lower-case with whitespace collapsed):
// the two ways a model shows that it is repeating its instructions.
bool RepeatsInstructions(std::string_view output, std::string_view canary, std::string_view system_prompt);

struct JsonAnswer {
  nlohmann::json value;
  std::vector<ModelUsage> usage;  // one per call made (two when repaired)
  bool repaired = false;
};

// Sends `request` (its json_schema must be set), then parses and validates the answer.
// An answer that is not JSON or does not match the schema gets exactly one repair
// call: the bad answer and the validation error are sent back with a request to
// answer again. Errors:
//   - the client's own status, unchanged (retryable ones stay retryable);
//   - PermissionDenied when an answer repeats the instructions (RepeatsInstructions
//     with `canary` and request.system); no repair is attempted;
//   - InvalidArgument "model output invalid after one repair: <problem>".
// `adapter` names the caller in each ModelUsage ("llm-classifier").
Result<JsonAnswer> CompleteJson(LlmClient& llm, const LlmRequest& request, const std::string& canary,
                                const std::string& adapter);

}  // namespace deskpilot
