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
  Draft draft;                // body restored locally (placeholders → originals)
  Draft redacted_draft;       // as the drafter wrote it (safe for the audit)
  Decision decision;
  WritePlan plan;
  std::map<std::string, double> stage_seconds;
};

class Pipeline {
 public:
  Pipeline(const Policy* policy, Classifier* classifier, Retriever* retriever, Drafter* drafter,
           Metrics* metrics, int retrieve_k = 5);

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

// JSON for `deskpilot triage --json` and the audit: triage, passages, draft, decision,
// write_plan (architecture.md "Interfaces for people").
nlohmann::json PipelineResultJson(const PipelineResult& r, bool include_text);

}  // namespace deskpilot
