// normalize → redact → classify → retrieve → draft → decide → plan, on one ticket.
// Pure with respect to the help desk: it reads nothing from and writes nothing to the
// vendor, so `deskpilot triage` and the workers run exactly the same code.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "deskpilot/classifier.h"
#include "deskpilot/drafter.h"
#include "deskpilot/redact.h"
#include "deskpilot/retriever.h"
#include "deskpilot/types.h"
#include "service/metrics.h"
#include "service/policy.h"

namespace deskpilot {

struct PipelineResult {
  Ticket redacted;            // what every adapter saw
  RedactionMap redactions;    // placeholder → original; never logged or stored
  Triage triage;
  std::vector<Passage> passages;
  Draft draft;                // body restored locally: the customer's own details only
  Draft redacted_draft;       // as the drafter wrote it (safe for the audit)
  Decision decision;
  WritePlan plan;
  std::map<std::string, double> stage_seconds;
  // Non-retryable classifier/drafter failures ("classify: INVALID_ARGUMENT: ...") that
  // handed the ticket to a human instead of failing the job; recorded in the audit.
  std::vector<std::string> errors;
};

class Pipeline {
 public:
  Pipeline(const Policy* policy, Classifier* classifier, Retriever* retriever, Drafter* drafter,
           Metrics* metrics, int retrieve_k = 5);

  // Errors: only retryable ones (the job retries or is deferred). A classifier or
  // drafter that fails otherwise (a model's output invalid after its repair, refused
  // for repeating the canary, a spend limit) hands the ticket to a human: empty
  // predictions or no draft, flag classifier_error / drafter_error, decision capped at
  // assist with the error as a reason, and the error in PipelineResult::errors.
  // A final guard in plain code: if any action's text (note, reply, tags, fields)
  // contains the process canary (deskpilot/canary.h), the public reply and draft are
  // dropped, the canary is cut out, the flag canary_leak is added and the ticket is
  // escalated to a human.
  Result<PipelineResult> Run(const Ticket& ticket, const std::string& idempotency_key) const;

 private:
  const Policy* policy_;
  Classifier* classifier_;
  Retriever* retriever_;
  Drafter* drafter_;
  Metrics* metrics_;
  int retrieve_k_;
  Redactor redactor_;
};

// The redact stage on its own (subject, description, comments, requester email and name,
// the name also wherever it appears in the texts), so the
// approval path and audit replay rebuild exactly the placeholders the pipeline used.
// Values from the customer's public text are marked restorable (RedactionMap).
void RedactTicket(const Redactor& redactor, Ticket* ticket, RedactionMap* map);

// Drops the private comments from `x` (a copy of `original`, possibly normalized and
// redacted) and clears the description when it is one of them: what the adapters, and so
// the models, see unless policy.internal_notes_to_models.
void WithholdInternalNotes(const Ticket& original, Ticket* x);

// JSON for `deskpilot triage --json` and the audit: triage, passages, draft, decision,
// write_plan (architecture.md "Interfaces for people"), errors, and triage.usage /
// draft.usage: one {adapter, model, prompt, input_tokens, output_tokens, cost, cached}
// per model call, so the audit names the prompt version and model behind each output.
nlohmann::json PipelineResultJson(const PipelineResult& r, bool include_text);

}  // namespace deskpilot
