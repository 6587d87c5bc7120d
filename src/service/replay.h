// `deskpilot audit replay`: re-runs the plain-code stages of a recorded job (normalize,
// redact, decide, plan) on what the audit recorded the help desk and the models answered,
// and names the first place the outcome differs. No adapter, vendor or model is called.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "deskpilot/store.h"
#include "deskpilot/types.h"
#include "service/policy.h"

namespace deskpilot {

// The ticket as the help desk answered, for the `fetch` audit row: text redacted (the
// same placeholders the pipeline would use), requester name dropped. Never raw PII.
nlohmann::json FetchedTicketRecord(const Ticket& ticket);

struct ReplayDivergence {
  std::string stage;  // normalize | classify | decide | plan
  std::string field;  // e.g. decision.rung, write_plan[2].value
  nlohmann::json recorded;
  nlohmann::json replayed;
};

struct ReplayReport {
  int64_t job_id = 0;
  std::string recorded_rung;
  std::string replayed_rung;
  std::optional<ReplayDivergence> divergence;  // nullopt: same decision and plan
};

// NotFound: no such job. FailedPrecondition: the job never reached a decision, or was
// recorded without its fetched ticket (before the `fetch` row existed).
Result<ReplayReport> ReplayJob(Store& store, int64_t job_id, const Policy& policy);

nlohmann::json ReplayReportJson(const ReplayReport& report);

}  // namespace deskpilot
