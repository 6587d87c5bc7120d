#include "service/pipeline.h"

#include <chrono>

#include <nlohmann/json.hpp>

#include "service/normalize.h"

namespace deskpilot {
namespace {

using Clock = std::chrono::steady_clock;

class StageTimer {
 public:
  StageTimer(const char* stage, PipelineResult* r, Metrics* m) : stage_(stage), r_(r), m_(m) {}
  ~StageTimer() {
    double s = std::chrono::duration<double>(Clock::now() - start_).count();
    r_->stage_seconds[stage_] = s;
    if (m_) m_->Observe("deskpilot_stage_duration_seconds", {{"stage", stage_}}, s);
  }

 private:
  const char* stage_;
  PipelineResult* r_;
  Metrics* m_;
  Clock::time_point start_ = Clock::now();
};

// Team: the routing table maps a category to a group; its confidence is the category's.
void AddTeam(const PolicyConfig& policy, Triage* triage) {
  const Prediction* cat = triage->Get("category");
  if (!cat || cat->abstained) return;
  auto it = policy.routing.find(cat->label);
  if (it == policy.routing.end()) return;
  Prediction team;
  team.label = it->second;
  team.confidence = cat->confidence;
  triage->predictions["team"] = team;
}

// Puts placeholders back over restored values, so what goes to the audit stays redacted.
std::string Rehide(std::string text, const RedactionMap& map) {
  for (const auto& [placeholder, original] : map.values) {
    if (original.empty()) continue;
    for (size_t pos = text.find(original); pos != std::string::npos;
         pos = text.find(original, pos + placeholder.size()))
      text.replace(pos, original.size(), placeholder);
  }
  return text;
}

std::string Summarize(const Ticket& t, const Triage& triage) {
  std::string s;
  const Prediction* intent = triage.Get("intent");
  const Prediction* cat = triage.Get("category");
  if (intent && !intent->abstained)
    s = "Customer request: " + intent->label;
  else if (cat && !cat->abstained)
    s = "Customer request about " + cat->label;
  else
    s = "Customer request";
  if (!t.subject.empty()) s += " — \"" + t.subject.substr(0, 120) + "\"";
  s += ".";
  if (const Prediction* sent = triage.Get("sentiment"); sent && !sent->abstained)
    s += " Mood: " + sent->label + ".";
  int customer_msgs = 0;
  for (const auto& c : t.comments)
    if (c.author_role == AuthorRole::kCustomer) ++customer_msgs;
  if (customer_msgs > 1) s += " " + std::to_string(customer_msgs) + " customer messages so far.";
  return s;
}

}  // namespace

Pipeline::Pipeline(const Policy* policy, Classifier* classifier, Retriever* retriever, Drafter* drafter,
                   Metrics* metrics, int retrieve_k)
    : policy_(policy),
      classifier_(classifier),
      retriever_(retriever),
      drafter_(drafter),
      metrics_(metrics),
      retrieve_k_(retrieve_k) {}

Result<PipelineResult> Pipeline::Run(const Ticket& ticket, const std::string& key) const {
  PipelineResult r;
  {
    StageTimer t("normalize", &r, metrics_);
    r.redacted = ticket;
    NormalizeTicket(&r.redacted);
  }
  {
    // Nothing below this line sees unredacted text.
    StageTimer t("redact", &r, metrics_);
    Ticket& x = r.redacted;
    x.subject = redactor_.Redact(x.subject, &r.redactions);
    x.description = redactor_.Redact(x.description, &r.redactions);
    for (auto& c : x.comments) c.body = redactor_.Redact(c.body, &r.redactions);
    x.requester.email = x.requester.email.empty() ? "" : redactor_.Redact(x.requester.email, &r.redactions);
  }
  {
    StageTimer t("classify", &r, metrics_);
    auto triage = classifier_->Classify(r.redacted);
    if (!triage.ok()) return triage.status().WithContext("classify");
    r.triage = std::move(triage).value();
    std::string text = CustomerText(r.redacted);
    for (auto& f : DetectFlags(text))
      if (!r.triage.HasFlag(f)) r.triage.flags.push_back(f);
    if (!r.triage.Get("language")) r.triage.predictions["language"] = DetectLanguage(text);
    AddTeam(policy_->config(), &r.triage);
    if (r.triage.summary.empty()) r.triage.summary = Summarize(r.redacted, r.triage);
  }
  {
    StageTimer t("retrieve", &r, metrics_);
    // The subject and the newest customer message say what is wanted now.
    std::string query = r.redacted.subject + "\n" + LatestCustomerMessage(r.redacted);
    auto passages = retriever_->Retrieve(query, retrieve_k_);
    if (!passages.ok()) return passages.status().WithContext("retrieve");
    r.passages = std::move(passages).value();
  }
  {
    StageTimer t("draft", &r, metrics_);
    auto draft = drafter_->Write(r.redacted, r.triage, r.passages);
    if (!draft.ok()) return draft.status().WithContext("draft");
    r.redacted_draft = std::move(draft).value();
    // Grounded means: cites something, and only what was retrieved. Checked here, not
    // trusted from the drafter.
    bool grounded = !r.redacted_draft.citations.empty();
    for (const auto& c : r.redacted_draft.citations) {
      bool found = false;
      for (const auto& p : r.passages) found = found || p.doc_id == c;
      grounded = grounded && found;
    }
    r.redacted_draft.grounded = r.redacted_draft.grounded && grounded;
    r.draft = r.redacted_draft;
    r.draft.body = Redactor::Restore(r.redacted_draft.body, r.redactions);
  }
  {
    StageTimer t("decide", &r, metrics_);
    // Decide on the ticket as fetched (comment authorship), triage and draft.
    r.decision = policy_->Decide(ticket, r.triage, r.draft);
    r.plan = policy_->Plan(ticket, r.triage, r.passages, r.draft, r.decision, key);
  }
  return r;
}

nlohmann::json PipelineResultJson(const PipelineResult& r, bool include_text) {
  nlohmann::json j;
  nlohmann::json triage = r.triage;
  j["triage"] = triage;
  nlohmann::json passages = nlohmann::json::array();
  for (const auto& p : r.passages) {
    nlohmann::json pj = {{"doc_id", p.doc_id}, {"id", p.id}, {"title", p.title}, {"url", p.url},
                         {"score", p.score}, {"kind", PassageKindName(p.kind)}};
    if (include_text) pj["text"] = p.text;
    passages.push_back(pj);
  }
  j["passages"] = passages;
  const Draft& d = include_text ? r.draft : r.redacted_draft;
  j["draft"] = {{"body", d.body}, {"citations", d.citations}, {"grounded", d.grounded},
                {"generator", d.generator}};
  j["decision"] = r.decision;
  nlohmann::json plan = nlohmann::json::array();
  for (const auto& a : r.plan.actions) {
    WriteAction shown = a;
    // The audit keeps redacted text: the restored bodies exist only on the way out.
    if (!include_text) shown.value = Rehide(shown.value, r.redactions);
    nlohmann::json aj = shown;
    plan.push_back(aj);
  }
  j["write_plan"] = plan;
  nlohmann::json stages;
  for (const auto& [k, v] : r.stage_seconds) stages[k] = v * 1000.0;
  j["stage_ms"] = stages;
  return j;
}

}  // namespace deskpilot
