#include "service/replay.h"

#include "deskpilot/redact.h"
#include "service/normalize.h"
#include "service/pipeline.h"
#include "service/worker.h"

namespace deskpilot {
namespace {

using nlohmann::json;

json Parse(const AuditRow& row) { return json::parse(row.entry.data, nullptr, /*allow_exceptions=*/false); }

// Every member read defensively: the audit is data from disk, not a trusted struct.
std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}
double Num(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}

Triage TriageFromRecord(const json& j) {
  Triage t;
  if (!j.is_object()) return t;
  for (const auto& [dim, p] : j.items()) {
    if (dim == "summary" || dim == "flags" || !p.is_object()) continue;
    Prediction pred;
    pred.label = Str(p, "label");
    pred.confidence = Num(p, "confidence");
    pred.abstained = p.value("abstained", false);
    pred.calibrated = p.value("calibrated", true);
    if (auto alts = p.find("alternatives"); alts != p.end() && alts->is_array())
      for (const auto& a : *alts)
        if (a.is_object()) pred.alternatives.emplace_back(Str(a, "label"), Num(a, "confidence"));
    t.predictions[dim] = pred;
  }
  t.summary = Str(j, "summary");
  if (auto f = j.find("flags"); f != j.end() && f->is_array())
    for (const auto& x : *f)
      if (x.is_string()) t.flags.push_back(x.get<std::string>());
  return t;
}

std::vector<Passage> PassagesFromRecord(const json& j) {
  std::vector<Passage> out;
  if (!j.is_array()) return out;
  for (const auto& p : j) {
    if (!p.is_object()) continue;
    Passage x;
    x.kind = Str(p, "kind") == PassageKindName(PassageKind::kResolvedTicket) ? PassageKind::kResolvedTicket
                                                                              : PassageKind::kKbArticle;
    x.id = Str(p, "id");
    x.doc_id = Str(p, "doc_id");
    x.title = Str(p, "title");
    x.url = Str(p, "url");
    x.text = Str(p, "text");
    x.score = Num(p, "score");
    out.push_back(std::move(x));
  }
  return out;
}

Draft DraftFromRecord(const json& j) {
  Draft d;
  if (!j.is_object()) return d;
  d.body = Str(j, "body");
  d.grounded = j.value("grounded", false);
  d.generator = Str(j, "generator");
  if (auto c = j.find("citations"); c != j.end() && c->is_array())
    for (const auto& x : *c)
      if (x.is_string()) d.citations.push_back(x.get<std::string>());
  return d;
}

}  // namespace

json FetchedTicketRecord(const Ticket& ticket) {
  Ticket t = ticket;
  RedactionMap map;
  Redactor redactor;
  RedactTicket(redactor, &t, &map);
  t.requester.name.clear();
  // Some desks identify authors by email address (the sandbox does).
  for (auto& c : t.comments) c.author_id = redactor.Redact(c.author_id, &map);
  // The audit cannot be erased, and desks keep phone numbers, addresses and emails in
  // custom fields and tags. Replay and approval need only the field names and the tags
  // deskpilot itself reads, which redaction leaves as they are.
  for (auto& [name, value] : t.custom_fields) value = redactor.Redact(value, &map);
  for (auto& tag : t.tags) tag = redactor.Redact(tag, &map);
  json j = t;
  return j;
}

Result<ReplayReport> ReplayJob(Store& store, int64_t job_id, const Policy& policy) {
  DP_ASSIGN_OR_RETURN(std::optional<Job> job, store.GetJob(job_id));
  if (!job) return Status::NotFound("job " + std::to_string(job_id) + " does not exist");
  DP_ASSIGN_OR_RETURN(std::vector<AuditRow> rows, store.AuditForJob(job_id));

  // The newest attempt that reached a decision, and the ticket that attempt fetched.
  json triage_rec, fetch_rec;
  for (auto it = rows.rbegin(); it != rows.rend(); ++it) {
    if (triage_rec.is_null() && it->entry.stage == "triage" && it->entry.outcome == "ok") {
      triage_rec = Parse(*it);
    } else if (!triage_rec.is_null() && it->entry.stage == "fetch" && it->entry.outcome == "ok") {
      fetch_rec = Parse(*it);
      break;
    }
  }
  if (!triage_rec.is_object())
    return Status::FailedPrecondition("job " + std::to_string(job_id) + " has no recorded decision to replay");
  if (!fetch_rec.is_object() || !fetch_rec.contains("ticket"))
    return Status::FailedPrecondition("job " + std::to_string(job_id) +
                                      " was recorded without the fetched ticket; it cannot be replayed");
  Ticket fetched;
  DP_RETURN_IF_ERROR(TicketFromJson(fetch_rec["ticket"], &fetched).WithContext("recorded ticket"));

  ReplayReport report;
  report.job_id = job_id;
  const json rec_decision = triage_rec.value("decision", json::object());
  report.recorded_rung = rec_decision.is_object() ? Str(rec_decision, "rung") : "";
  auto diverge = [&](std::string stage, std::string field, json recorded, json replayed) {
    report.divergence = ReplayDivergence{std::move(stage), std::move(field), std::move(recorded), std::move(replayed)};
  };

  // normalize + redact: the rule-based flags must come out of the text again.
  Ticket redacted = fetched;
  NormalizeTicket(&redacted);
  RedactionMap map;
  RedactTicket(Redactor{}, &redacted, &map);
  Triage triage = TriageFromRecord(triage_rec.value("triage", json::object()));
  for (const auto& f : DetectTicketFlags(fetched)) {
    if (!triage.HasFlag(f) && !report.divergence)
      diverge("normalize", "triage.flags", triage_rec["triage"].value("flags", json::array()), f);
  }
  // The team is the routing table's answer to the recorded category (policy config).
  const json recorded_team = triage.Get("team") ? json(triage.Get("team")->label) : json(nullptr);
  triage.predictions.erase("team");
  if (const Prediction* cat = triage.Get("category"); cat && !cat->abstained) {
    if (auto it = policy.config().routing.find(cat->label); it != policy.config().routing.end())
      triage.predictions["team"] = Prediction{it->second, cat->confidence, {}, false};
  }
  const json replayed_team = triage.Get("team") ? json(triage.Get("team")->label) : json(nullptr);
  if (!report.divergence && recorded_team != replayed_team)
    diverge("classify", "triage.team", recorded_team, replayed_team);

  // decide + plan on the recorded retriever and drafter answers.
  const std::vector<Passage> passages = PassagesFromRecord(triage_rec.value("passages", json::array()));
  const Draft draft = DraftFromRecord(triage_rec.value("draft", json::object()));
  const Decision decision = policy.Decide(fetched, triage, passages, draft);
  report.replayed_rung = std::string(RungName(decision.rung));
  if (!report.divergence && report.recorded_rung != report.replayed_rung)
    diverge("decide", "decision.rung", report.recorded_rung, report.replayed_rung);
  const json rec_reasons = rec_decision.is_object() ? rec_decision.value("reasons", json::array()) : json::array();
  const json new_reasons = decision.reasons;
  if (!report.divergence && rec_reasons != new_reasons) {
    size_t i = 0;
    while (i < rec_reasons.size() && i < new_reasons.size() && rec_reasons[i] == new_reasons[i]) ++i;
    diverge("decide", "decision.reasons[" + std::to_string(i) + "]",
            i < rec_reasons.size() ? rec_reasons[i] : json(nullptr),
            i < new_reasons.size() ? new_reasons[i] : json(nullptr));
  }
  const WritePlan plan = policy.Plan(fetched, triage, passages, draft, decision, IdempotencyKey(job->dedupe_key));
  const json rec_plan = triage_rec.value("write_plan", json::array());
  json new_plan = json::array();
  for (const auto& a : plan.actions) new_plan.push_back(a);
  if (!report.divergence && rec_plan != new_plan) {
    size_t i = 0;
    while (i < rec_plan.size() && i < new_plan.size() && rec_plan[i] == new_plan[i]) ++i;
    std::string field = "write_plan[" + std::to_string(i) + "]";
    json a = i < rec_plan.size() ? rec_plan[i] : json(nullptr);
    json b = i < new_plan.size() ? new_plan[i] : json(nullptr);
    if (a.is_object() && b.is_object()) {
      for (const auto& [k, v] : a.items()) {
        if (b.value(k, json()) != v) {
          field += "." + k;
          b = b.value(k, json());
          a = v;
          break;
        }
      }
    }
    diverge("plan", field, a, b);
  }
  return report;
}

json ReplayReportJson(const ReplayReport& r) {
  json j = {{"job_id", r.job_id},
            {"same", !r.divergence.has_value()},
            {"recorded", {{"rung", r.recorded_rung}}},
            {"replayed", {{"rung", r.replayed_rung}}},
            {"divergence", nullptr}};
  if (r.divergence)
    j["divergence"] = {{"stage", r.divergence->stage},
                       {"field", r.divergence->field},
                       {"recorded", r.divergence->recorded},
                       {"replayed", r.divergence->replayed}};
  return j;
}

}  // namespace deskpilot
