#include "service/pipeline.h"

#include <cctype>
#include <algorithm>
#include <chrono>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "deskpilot/canary.h"
#include "deskpilot/text.h"
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
  if (!t.subject.empty()) {
    // Cut at a character boundary: half a UTF-8 sequence makes the note and the audit
    // row invalid JSON text (nlohmann throws on dump).
    s += " — \"" + std::string(Utf8Prefix(t.subject, 120)) + "\"";
  }
  s += ".";
  if (const Prediction* sent = triage.Get("sentiment"); sent && !sent->abstained)
    s += " Mood: " + sent->label + ".";
  int customer_msgs = 0;
  for (const auto& c : t.comments)
    if (c.author_role == AuthorRole::kCustomer) ++customer_msgs;
  if (customer_msgs > 1) s += " " + std::to_string(customer_msgs) + " customer messages so far.";
  return s;
}

bool HasCanary(const std::string& text, const std::string& canary) {
  return AsciiLower(text).find(AsciiLower(canary)) != std::string::npos;
}

// Cuts every occurrence (any case) of the canary out of `text`.
std::string CutCanary(const std::string& text, const std::string& canary) {
  const std::string lower = AsciiLower(text);
  const std::string needle = AsciiLower(canary);
  std::string out;
  size_t from = 0;
  for (size_t at = lower.find(needle); at != std::string::npos; at = lower.find(needle, from)) {
    out.append(text, from, at - from).append("[removed]");
    from = at + needle.size();
  }
  return out.append(text, from, std::string::npos);
}

bool PlanLeaks(const WritePlan& plan, const std::string& canary) {
  for (const auto& a : plan.actions) {
    if (HasCanary(a.value, canary) || HasCanary(a.field, canary)) return true;
    for (const auto& t : a.tags)
      if (HasCanary(t, canary)) return true;
  }
  return false;
}

nlohmann::json UsageJson(const std::vector<ModelUsage>& usage) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& u : usage) {
    out.push_back({{"adapter", u.adapter},
                   {"model", u.model},
                   {"prompt", u.prompt},
                   {"input_tokens", u.input_tokens},
                   {"output_tokens", u.output_tokens},
                   {"cost", u.cost},
                   {"cached", u.cached}});
  }
  return out;
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
  std::vector<std::string> flags;
  {
    StageTimer t("normalize", &r, metrics_);
    r.redacted = ticket;
    NormalizeTicket(&r.redacted);
    // Rule flags are read before the signature cut (a P.S. can carry a threat); they are
    // names only, so reading the unredacted text here sends nothing anywhere.
    flags = DetectTicketFlags(ticket);
  }
  {
    // Nothing below this line sees unredacted text.
    StageTimer t("redact", &r, metrics_);
    // Redacted with the notes still there, so the placeholders are numbered as the
    // approval path and audit replay (which redact the whole ticket) number them.
    RedactTicket(redactor_, &r.redacted, &r.redactions);
    if (!policy_->config().internal_notes_to_models) WithholdInternalNotes(ticket, &r.redacted);
  }
  {
    StageTimer t("classify", &r, metrics_);
    auto triage = classifier_->Classify(r.redacted);
    if (triage.ok()) {
      r.triage = std::move(triage).value();
    } else if (triage.status().retryable()) {
      return triage.status().WithContext("classify");
    } else {
      // Retrying cannot fix it (output invalid after its repair, a refused answer, a
      // spend limit): a person triages this ticket instead of it being dead-lettered.
      r.errors.push_back("classify: " + triage.status().ToString());
      r.triage.flags.emplace_back(kFlagClassifierError);
    }
    std::string text = CustomerText(r.redacted);
    for (auto& f : flags)
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
    // Passages made from solved tickets may carry that ticket's placeholders (KBs synced
    // before kb sync anonymized them): as plain words they can never be restored with
    // this ticket's values.
    for (Passage& p : r.passages) {
      p.title = NeutralizePlaceholders(p.title);
      p.text = NeutralizePlaceholders(p.text);
    }
  }
  {
    StageTimer t("draft", &r, metrics_);
    auto draft = drafter_->Write(r.redacted, r.triage, r.passages);
    if (draft.ok()) {
      r.redacted_draft = std::move(draft).value();
    } else if (draft.status().retryable()) {
      return draft.status().WithContext("draft");
    } else {
      r.errors.push_back("draft: " + draft.status().ToString());
      r.triage.flags.emplace_back(kFlagDrafterError);
      r.redacted_draft = Draft();
    }
    if (!r.redacted_draft.summary.empty()) r.triage.summary = r.redacted_draft.summary;
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
    // The body may go to the customer (auto_reply, or an agent's approval): only the
    // customer's own details come back (Redactor::Restore). A draft that needed any
    // other redacted value is not fit to go out unseen.
    int withheld = 0;
    r.draft.body = Redactor::Restore(r.redacted_draft.body, r.redactions, &withheld);
    if (withheld > 0)
      r.errors.push_back("draft: it names " + std::to_string(withheld) +
                         " redacted detail(s) a reply to the customer may not show (shown as [redacted])");
  }
  {
    StageTimer t("decide", &r, metrics_);
    // Decide on the ticket as fetched (comment authorship), triage and draft.
    r.decision = policy_->Decide(ticket, r.triage, r.passages, r.draft);
    auto above_assist = [](Rung x) { return x == Rung::kApprove || x == Rung::kAutoReply; };
    if (!r.errors.empty() && above_assist(r.decision.rung)) r.decision.rung = Rung::kAssist;
    if (!r.errors.empty() && above_assist(r.decision.ladder)) r.decision.ladder = Rung::kAssist;
    for (const auto& e : r.errors) r.decision.reasons.push_back("handed to a human: " + e);
    r.plan = policy_->Plan(ticket, r.triage, r.passages, r.draft, r.decision, key);
  }
  {
    StageTimer t("guard", &r, metrics_);
    // The last check before anything leaves, in plain code that no model output can
    // steer: the canary in any action, the draft or the summary means a model was
    // made to repeat its instructions, so nothing it wrote goes to the customer.
    const std::string& canary = ProcessCanary();
    bool leak = PlanLeaks(r.plan, canary) || HasCanary(r.redacted_draft.body, canary) ||
                HasCanary(r.triage.summary, canary);
    for (const auto& [dim, p] : r.triage.predictions) leak = leak || HasCanary(p.label, canary);
    if (leak) {
      spdlog::warn("ticket {}: the prompt canary appeared in model output: reply dropped, escalated", ticket.id);
      if (metrics_) metrics_->Inc("deskpilot_canary_leaks_total", {});
      r.triage.flags.push_back("canary_leak");
      r.triage.summary = CutCanary(r.triage.summary, canary);
      for (auto& [dim, p] : r.triage.predictions) {
        if (HasCanary(p.label, canary)) p = Prediction{"", 0.0, {}, true};
      }
      const std::vector<ModelUsage> usage = r.redacted_draft.usage;
      r.redacted_draft = Draft();
      r.redacted_draft.usage = usage;
      r.redacted_draft.generator = "dropped: canary leak";
      r.draft = r.redacted_draft;
      const std::string reason = "canary_leak: a model output repeated the prompt canary: draft dropped, escalated";
      if (r.decision.rung != Rung::kShadow) r.decision.rung = Rung::kEscalate;
      r.decision.ladder = Rung::kEscalate;
      r.decision.reasons.push_back(reason);
      r.plan = policy_->Plan(ticket, r.triage, r.passages, r.draft, r.decision, key);
      // Belt and braces: whatever still carries it (an error text in a reason, a
      // passage title) is cut, and no public reply survives.
      std::erase_if(r.plan.actions, [](const WriteAction& a) { return a.type == ActionType::kAddPublicReply; });
      for (auto& a : r.plan.actions) {
        a.value = CutCanary(a.value, canary);
        a.field = CutCanary(a.field, canary);
        for (auto& tag : a.tags) tag = CutCanary(tag, canary);
      }
      for (auto& reason_text : r.decision.reasons) reason_text = CutCanary(reason_text, canary);
      for (auto& e : r.errors) e = CutCanary(e, canary);
    }
  }
  return r;
}

void RedactTicket(const Redactor& redactor, Ticket* x, RedactionMap* map) {
  // Who wrote each text decides which values a public reply may restore. The subject and
  // description are the customer's, unless the description is the body of an agent's or
  // a private comment (a ticket an agent opened with a note).
  bool description_by_customer = true;
  for (const auto& c : x->comments)
    if ((c.author_role != AuthorRole::kCustomer || !c.is_public) && c.body == x->description)
      description_by_customer = false;
  constexpr TextOrigin kCustomer = TextOrigin::kCustomerPublic;
  // The desk tells us who wrote in: that name is found without a cue in every text
  // ("please ask Ann", a bare signature), and the name field itself becomes its
  // placeholders ("<NAME_1> <NAME_2>"), so no adapter sees it and a reply can greet
  // the customer by "<NAME_1>" (restorable: it is the customer's own name).
  const KnownNames known(x->requester.name);
  x->subject = redactor.Redact(x->subject, map, kCustomer, known);
  x->description =
      redactor.Redact(x->description, map, description_by_customer ? kCustomer : TextOrigin::kOther, known);
  for (auto& c : x->comments)
    c.body = redactor.Redact(c.body, map,
                             c.author_role == AuthorRole::kCustomer && c.is_public ? kCustomer : TextOrigin::kOther,
                             known);
  x->requester.email = x->requester.email.empty() ? "" : redactor.Redact(x->requester.email, map, kCustomer);
  x->requester.name = x->requester.name.empty() ? "" : redactor.Redact(x->requester.name, map, kCustomer, known);
}

void WithholdInternalNotes(const Ticket& original, Ticket* x) {
  // A ticket an agent opened with a private note has that note as its description.
  // Compared on the original text: `x` may already be redacted.
  for (const auto& c : original.comments)
    if (!c.is_public && !c.body.empty() && c.body == original.description) x->description.clear();
  std::erase_if(x->comments, [](const Comment& c) { return !c.is_public; });
}

nlohmann::json PipelineResultJson(const PipelineResult& r, bool include_text) {
  nlohmann::json j;
  nlohmann::json triage = r.triage;
  j["triage"] = triage;
  nlohmann::json passages = nlohmann::json::array();
  for (const auto& p : r.passages) {
    nlohmann::json pj = {{"doc_id", p.doc_id}, {"id", p.id}, {"title", p.title}, {"url", p.url},
                         {"score", p.score}, {"kind", PassageKindName(p.kind)}};
    // Always recorded: the decision checks the reply against its cited passages' text,
    // so `audit replay` needs it. It is knowledge-base text (resolved tickets are
    // redacted when ingested), never this ticket's.
    pj["text"] = p.text;
    passages.push_back(pj);
  }
  j["passages"] = passages;
  const Draft& d = include_text ? r.draft : r.redacted_draft;
  j["triage"]["usage"] = UsageJson(r.triage.usage);
  j["draft"] = {{"body", d.body},           {"citations", d.citations}, {"grounded", d.grounded},
                {"generator", d.generator}, {"usage", UsageJson(d.usage)}};
  j["errors"] = r.errors;
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
