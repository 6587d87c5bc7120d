#include "service/approval.h"

#include <algorithm>
#include <mutex>
#include <optional>
#include <regex>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "deskpilot/json_text.h"
#include "deskpilot/redact.h"
#include "deskpilot/text.h"
#include "service/normalize.h"
#include "service/pipeline.h"
#include "service/worker.h"

namespace deskpilot {
namespace {

using nlohmann::json;

// One approval at a time in this process: the admin API and the tag path may race on the
// same ticket, and the audit check below must see the other's `approval` row. Across
// processes (or a crash between the write and its audit row) the write's idempotency key
// keeps the reply single at the help desk.
std::mutex& ApprovalMutex() {
  static std::mutex mu;
  return mu;
}

json ParseData(const AuditRow& row) { return json::parse(row.entry.data, nullptr, /*allow_exceptions=*/false); }

}  // namespace

bool HasApprovalTag(const Ticket& ticket, const PolicyConfig& policy) {
  // Without case: Zendesk, for one, stores tags in lower case, so a configured
  // "Deskpilot_Approved" would otherwise never be seen on a ticket.
  return !policy.approval_tag.empty() && HasTagIgnoringCase(ticket.tags, policy.approval_tag);
}

Result<PendingDraft> FindPendingDraft(Components& c, const std::string& source, const Ticket& current,
                                      ApprovalVia via) {
  if (c.helpdesks.find(source) == c.helpdesks.end()) return Status::NotFound("no configured helpdesk named " + source);
  // The mode is the admin's ceiling, and switching to shadow is how they stop deskpilot
  // writing: a draft decided before the switch is not posted on an approval after it.
  if (c.config.policy.mode == "shadow" || c.config.policy.mode == "assist")
    return Status::FailedPrecondition("policy.mode is " + c.config.policy.mode +
                                      ": approved drafts are not posted (only mode auto posts them)");
  DP_ASSIGN_OR_RETURN(std::vector<AuditRow> rows, c.store->AuditForTicket(source, current.id));

  // The newest decision is the one an agent can approve: an older draft may answer a
  // question the customer has since replaced.
  const AuditRow* triage = nullptr;
  json triage_data;
  for (auto it = rows.rbegin(); it != rows.rend() && !triage; ++it) {
    if (it->entry.stage != "triage" || it->entry.outcome != "ok") continue;
    triage = &*it;
    triage_data = ParseData(*it);
  }
  if (!triage) return Status::NotFound("no triage recorded for ticket " + source + ":" + current.id);
  if (!triage_data.is_object()) return Status::DataLoss("triage audit row " + std::to_string(triage->seq) + " is not JSON");

  PendingDraft pending;
  ApprovalOutcome& out = pending.outcome;
  pending.job_id = triage->entry.job_id;
  out.triage_seq = triage->seq;
  out.idempotency_key = IdempotencyKey("approve:" + source + ":" + current.id + ":" + std::to_string(triage->seq));
  for (const AuditRow& row : rows) {
    if (row.seq <= triage->seq || row.entry.stage != "approval" || row.entry.outcome != "ok") continue;
    json d = ParseData(row);
    if (d.is_object() && d.value("triage_seq", int64_t{0}) == triage->seq) {
      out.already_approved = true;
      return pending;
    }
  }
  const json decision = triage_data.value("decision", json::object());
  const std::string rung = decision.is_object() ? decision.value("rung", "") : "";
  if (rung != RungName(Rung::kApprove))
    return Status::FailedPrecondition("the latest triage of ticket " + source + ":" + current.id + " decided '" + rung +
                                      "', not approve: no draft is waiting for approval");
  // The ticket as the deciding attempt fetched it: its fetch row (redacted, but with every
  // comment and tag) comes before the triage row, in the same job.
  std::optional<Ticket> then;
  for (auto it = rows.rbegin(); it != rows.rend(); ++it) {
    if (it->seq >= triage->seq || it->entry.job_id != triage->entry.job_id || it->entry.stage != "fetch") continue;
    json fetched = ParseData(*it);
    Ticket t;
    if (fetched.is_object() && fetched.contains("ticket") && TicketFromJson(fetched["ticket"], &t).ok()) then = t;
    break;
  }
  if (!then)
    return Status::FailedPrecondition("no record of the ticket as it was when this draft was decided: not posted");
  // The draft answers the conversation as it was. A public comment since then — the
  // customer's next message, or an agent's own reply — means it may answer the wrong
  // question or answer twice. The new message's webhook triages the ticket again.
  auto human_public = [](const Ticket& t) {
    return std::count_if(t.comments.begin(), t.comments.end(),
                         [](const Comment& c) { return c.is_public && !c.by_deskpilot; });
  };
  if (human_public(current) > human_public(*then))
    return Status::FailedPrecondition("ticket " + source + ":" + current.id +
                                      " has a new public comment since this draft was decided: not posted");
  if (via == ApprovalVia::kTag && HasApprovalTag(*then, c.config.policy))
    return Status::FailedPrecondition("the approval tag was already on the ticket when this draft was decided");
  const json draft = triage_data.value("draft", json::object());
  std::string body = draft.is_object() && draft.contains("body") && draft["body"].is_string()
                         ? draft["body"].get<std::string>()
                         : "";
  if (body.empty()) return Status::FailedPrecondition("the pending triage has no draft to post");

  // The audit holds the draft as the drafter wrote it, with placeholders. Normalizing and
  // redacting the ticket as it is now rebuilds the same placeholder → value map (the
  // redactor numbers values in order of appearance, and comments are only appended).
  Ticket redacted = current;
  NormalizeTicket(&redacted);
  RedactionMap map;
  RedactTicket(Redactor{}, &redacted, &map);
  // Only the customer's own details come back (Redactor::Restore). The pipeline sent no
  // draft that needed more to approval, so a withheld value means the ticket changed.
  int withheld = 0;
  pending.reply = Redactor::Restore(body, map, &withheld);
  static const std::regex kPlaceholder(R"(<(EMAIL|PHONE|CARD|IBAN|SSN|IP|SECRET)_[0-9]+>)");
  if (withheld > 0 || std::regex_search(pending.reply, kPlaceholder))
    return Status::FailedPrecondition("the draft refers to details no longer on the ticket; it cannot be posted as is");
  return pending;
}

Result<ApprovalOutcome> ApprovePendingDraft(Components& c, const std::string& source, const Ticket& current,
                                            const std::string& actor, ApprovalVia via) {
  std::lock_guard lock(ApprovalMutex());
  DP_ASSIGN_OR_RETURN(PendingDraft pending, FindPendingDraft(c, source, current, via));
  const ApprovalOutcome& out = pending.outcome;
  if (out.already_approved) return out;
  const std::string& reply = pending.reply;

  WritePlan plan;
  plan.idempotency_key = out.idempotency_key;
  plan.actions.push_back({ActionType::kAddPublicReply, {}, reply, ""});
  Status applied = c.helpdesks.at(source)->Apply(current, plan);

  AuditEntry e;
  e.job_id = pending.job_id;
  e.ticket_id = current.id;
  e.source = source;
  e.stage = "approval";
  e.actor = actor;
  e.outcome = applied.ok() ? "ok" : "error";
  // The reply's text is already in the triage row (redacted); this row says who, when, what.
  json data = {{"triage_seq", out.triage_seq},
               {"via", via == ApprovalVia::kTag ? "tag" : "admin_api"},
               {"idempotency_key", out.idempotency_key},
               {"reply_chars", reply.size()}};
  if (!applied.ok()) data["error"] = applied.ToString();
  e.data = JsonText(data);
  if (auto r = c.store->AppendAudit(e, NowMs()); !r.ok()) {
    spdlog::error("ticket {}:{}: approval audit append failed: {}", source, current.id, r.status().ToString());
    if (applied.ok()) return r.status();
  }
  if (!applied.ok()) return applied;
  spdlog::info("ticket {}:{}: draft approved by {} and posted", source, current.id, actor);
  return out;
}

}  // namespace deskpilot
