#include "service/policy.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <optional>

#include "service/reply_check.h"

namespace deskpilot {
namespace {

// The ladder's order for the global ceiling; escalate is handled separately.
int RungLevel(Rung r) {
  switch (r) {
    case Rung::kShadow: return 0;
    case Rung::kAssist: return 1;
    case Rung::kApprove: return 2;
    case Rung::kAutoReply: return 3;
    case Rung::kEscalate: return 1;
  }
  return 1;
}

std::string Pct(double c) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.0f%%", c * 100.0);
  return buf;
}

bool Contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "(none)" : out;
}

// Why a prediction an automatic reply depends on does not allow one, if it does not:
// it must exist, be an answer (not an abstention), be a calibrated probability (a
// model's own confidence can be steered by the ticket text) and reach `bar` when there
// is one. Comparisons are written so that NaN fails.
std::optional<std::string> NeededPredictionProblem(const Triage& triage, const std::string& dim,
                                                   std::optional<double> bar) {
  const Prediction* p = triage.Get(dim);
  if (p == nullptr) return "no " + dim + " prediction";
  if (p->abstained) return dim + " abstained";
  if (!p->calibrated) return dim + " confidence is model-reported, not calibrated";
  if (bar && !(p->confidence >= *bar))
    return dim + " confidence " + Pct(p->confidence) + " < threshold " + Pct(*bar);
  return std::nullopt;
}

// Whether the passages the draft cites are all resolved tickets (and there is one).
bool CitesOnlyResolvedTickets(const std::vector<Passage>& passages, const Draft& draft) {
  bool resolved = false;
  for (const Passage& p : passages) {
    if (!Contains(draft.citations, p.doc_id)) continue;
    if (p.kind == PassageKind::kKbArticle) return false;
    resolved = true;
  }
  return resolved;
}

}  // namespace

Status ValidatePolicyNames(const PolicyConfig& config,
                           const std::optional<std::map<std::string, std::vector<std::string>>>& labels) {
  // A classifier that cannot list its labels gives nothing to check against; refusing
  // every name instead would make such a classifier unusable with any policy.
  if (!labels) return Status::Ok();
  std::vector<std::string> errors;
  const auto cat = labels->find("category");
  const std::vector<std::string> categories = cat == labels->end() ? std::vector<std::string>{} : cat->second;
  const std::string known_categories =
      cat == labels->end() ? "the classifier has no category dimension" : "known categories: " + JoinNames(categories);
  auto check_category = [&](const std::string& path, const std::string& name) {
    if (!Contains(categories, name))
      errors.push_back(path + ": unknown category \"" + name + "\"; " + known_categories);
  };
  for (size_t i = 0; i < config.sensitive_categories.size(); ++i)
    check_category("policy.sensitive_categories[" + std::to_string(i) + "]", config.sensitive_categories[i]);
  for (const auto& [name, rung] : config.categories) check_category("policy.categories." + name, name);
  for (const auto& [name, group] : config.routing) check_category("policy.routing." + name, name);

  std::vector<std::string> dimensions;
  for (const auto& [dim, unused] : *labels) dimensions.push_back(dim);
  // The pipeline detects the language itself when the classifier does not.
  if (!labels->contains("language")) dimensions.push_back("language");
  for (const auto& [dim, bar] : config.thresholds) {
    if (!Contains(dimensions, dim))
      errors.push_back("policy.thresholds." + dim + ": unknown dimension \"" + dim + "\"; known dimensions: " +
                       JoinNames(dimensions));
  }
  if (errors.empty()) return Status::Ok();
  std::string message;
  for (const auto& e : errors) message += (message.empty() ? "" : "\n") + e;
  return Status::InvalidArgument(message);
}

std::string TagSafe(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c))
      out += static_cast<char>(std::tolower(c));
    else if (!out.empty() && out.back() != '_')
      out += '_';
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out;
}

int PriorityRank(const std::string& p) {
  if (p == "low") return 1;
  if (p == "normal") return 2;
  if (p == "high") return 3;
  if (p == "urgent") return 4;
  return 0;
}

Policy::Policy(PolicyConfig config, ThresholdFn model_thresholds)
    : config_(std::move(config)), model_thresholds_(std::move(model_thresholds)) {}

double Policy::Threshold(const std::string& dim) const {
  if (auto it = config_.thresholds.find(dim); it != config_.thresholds.end()) return it->second;
  // A model's stored auto-threshold may raise the bar, never lower it below the
  // operator's min_confidence: the threshold was chosen on training folds, and live
  // tickets can look nothing like the training data.
  if (model_thresholds_) {
    if (auto t = model_thresholds_(dim)) return std::max(*t, config_.min_confidence);
  }
  return config_.min_confidence;
}

std::string Policy::MarkerLine(const std::string& key) { return "deskpilot-ref: " + key; }

Decision Policy::Decide(const Ticket& ticket, const Triage& triage, const std::vector<Passage>& passages,
                        const Draft& draft) const {
  Decision d = Ladder(ticket, triage, passages, draft);
  d.ladder = d.rung;
  // The global mode is a ceiling on the ladder. Shadow mode still climbs it, so a shadow
  // trial records what every ticket would have got, for comparison with what the agents did.
  if (config_.mode == "shadow") {
    d.reasons.insert(d.reasons.begin(), "policy mode is shadow: record only (the ladder chose " +
                                            std::string(RungName(d.rung)) + ")");
    d.rung = Rung::kShadow;
  } else if (config_.mode == "assist" && RungLevel(d.rung) > RungLevel(Rung::kAssist)) {
    d.reasons.push_back("policy mode assist caps " + std::string(RungName(d.rung)) + " at assist");
    d.rung = Rung::kAssist;
  }
  return d;
}

Decision Policy::Ladder(const Ticket& ticket, const Triage& triage, const std::vector<Passage>& passages,
                        const Draft& draft) const {
  Decision d;
  // Escalation signals come first: they route to people whatever the category.
  for (const auto& flag : triage.flags) {
    if (Contains(config_.escalate_flags, flag)) {
      d.rung = Rung::kEscalate;
      d.reasons.push_back("flag " + flag + " escalates");
    }
  }
  if (d.rung == Rung::kEscalate) return d;

  const Prediction* cat = triage.Get("category");
  std::string category = (cat && !cat->abstained) ? cat->label : "";
  std::string rung_name = config_.default_rung;
  if (auto it = config_.categories.find(category); !category.empty() && it != config_.categories.end()) {
    rung_name = it->second;
    d.reasons.push_back("category " + category + " is configured as " + rung_name);
  } else {
    d.reasons.push_back(category.empty() ? "no confident category; default rung " + rung_name
                                         : "category " + category + " uses the default rung " + rung_name);
  }
  d.rung = ParseRung(rung_name).value_or(Rung::kAssist);
  if (d.rung == Rung::kEscalate || d.rung == Rung::kShadow || d.rung == Rung::kAssist) return d;

  // Money, access and legal standing never get an automatic reply.
  if (d.rung == Rung::kAutoReply && Contains(config_.sensitive_categories, category)) {
    d.rung = Rung::kApprove;
    d.reasons.push_back("category " + category + " is sensitive: an agent must approve");
  }

  // A human reply on the ticket stops automation on it.
  bool human_replied = false;
  int auto_turns = 0;
  for (const auto& c : ticket.comments) {
    if (c.author_role == AuthorRole::kAgent && !c.by_deskpilot && c.is_public) human_replied = true;
    if (c.by_deskpilot && c.is_public) ++auto_turns;
  }
  if (human_replied) {
    d.rung = Rung::kAssist;
    d.reasons.push_back("an agent already replied on this ticket: automation stops");
    return d;
  }

  // Below the category threshold the category's own rung does not apply at all: a
  // draft for a guessed category is not worth an agent's approval click. Written so
  // that a NaN confidence or threshold fails.
  const double category_bar = Threshold("category");
  if (!cat || cat->abstained || !(cat->confidence >= category_bar)) {
    d.reasons.push_back(!cat            ? "no category prediction: assist only"
                        : cat->abstained ? "category abstained: assist only"
                                         : "category confidence " + Pct(cat->confidence) + " < threshold " +
                                               Pct(category_bar) + ": assist only");
    d.rung = Rung::kAssist;
    return d;
  }

  if (d.rung == Rung::kAutoReply) {
    std::vector<std::string> blockers;
    // The customer's mood must be known to be fine, not merely not known to be bad: a
    // missing, abstaining or model-reported sentiment (the cascade's llm answer, which
    // the ticket text can steer) says nothing about an upset customer. Labels other than
    // neutral and positive (a custom model's "angry") block like "negative".
    auto threshold_of = [this](const std::string& dim) -> std::optional<double> {
      auto it = config_.thresholds.find(dim);
      return it == config_.thresholds.end() ? std::nullopt : std::optional<double>(it->second);
    };
    if (const Prediction* s = triage.Get("sentiment"); s && !s->abstained && s->label != "neutral" &&
                                                       s->label != "positive") {
      blockers.push_back("sentiment is " + s->label);
    } else if (auto problem = NeededPredictionProblem(triage, "sentiment", threshold_of("sentiment"))) {
      blockers.push_back(*problem);
    }
    // Every other dimension the operator set a bar for is needed too. The category was
    // checked above; priority's bar is the one for writing the priority (Plan), not a
    // condition of the reply.
    for (const auto& [dim, bar] : config_.thresholds) {
      if (dim == "category" || dim == "sentiment" || dim == "priority") continue;
      if (auto problem = NeededPredictionProblem(triage, dim, bar)) blockers.push_back(*problem);
    }
    if (!draft.grounded) blockers.push_back("draft is not grounded in retrieved sources");
    if (triage.HasFlag(kFlagAskedForHuman)) blockers.push_back("customer asked for a human");
    // A confidence the model reported about itself is not a probability: 0.99 from an
    // LLM (or from text written to steer one) proves nothing, so only calibrated
    // predictions may send a reply without an agent.
    if (!cat->calibrated) blockers.push_back("category confidence is model-reported, not calibrated");
    if (auto_turns >= config_.max_auto_turns)
      blockers.push_back(std::to_string(auto_turns) + " automatic replies already sent (max " +
                         std::to_string(config_.max_auto_turns) + ")");
    // A resolved ticket is one customer's case ("I've refunded your order"), not a
    // policy: a reply resting on such passages alone may tell this customer something
    // that was true only for that one, so an agent reads it first.
    if (draft.grounded && CitesOnlyResolvedTickets(passages, draft))
      blockers.push_back("the draft cites only resolved tickets, no knowledge-base article");
    // Citing a source does not make the rest of the reply true: links, addresses, phone
    // numbers and money the sources and the customer never mentioned go to an agent.
    if (draft.grounded) {
      for (auto& problem : UnsupportedReplyContent(ticket, passages, draft)) blockers.push_back(std::move(problem));
    }
    if (!blockers.empty()) {
      d.rung = draft.grounded ? Rung::kApprove : Rung::kAssist;
      for (auto& b : blockers) d.reasons.push_back("auto reply blocked: " + b);
    } else {
      d.reasons.push_back("all auto-reply conditions met");
    }
  }
  if (d.rung == Rung::kApprove && !draft.grounded) {
    d.rung = Rung::kAssist;
    d.reasons.push_back("nothing grounded to approve: assist only");
  }
  return d;
}

WritePlan Policy::Plan(const Ticket& ticket, const Triage& triage, const std::vector<Passage>& passages,
                       const Draft& draft, const Decision& decision, const std::string& key) const {
  WritePlan plan;
  plan.idempotency_key = key;
  if (decision.rung == Rung::kShadow) return plan;

  const Prediction* cat = triage.Get("category");
  const Prediction* pri = triage.Get("priority");
  std::string category = (cat && !cat->abstained) ? cat->label : "";

  WriteAction tags{ActionType::kSetTags, {}, "", ""};
  tags.tags.push_back(config_.marker_tag);
  if (!category.empty()) tags.tags.push_back(config_.marker_tag + "_cat_" + TagSafe(category));
  tags.tags.push_back(config_.marker_tag + "_" + std::string(RungName(decision.rung)));
  for (const auto& f : triage.flags) tags.tags.push_back(config_.marker_tag + "_" + TagSafe(f));
  plan.actions.push_back(tags);

  // Priority only ever goes up: an agent's or customer's higher priority stands. It is
  // an assist-level field an agent sees and can change, so its bar is lower (0.5 unless
  // policy.thresholds.priority says otherwise) than the bar for replying to a customer.
  auto pt = config_.thresholds.find("priority");
  const double priority_bar = pt != config_.thresholds.end() ? pt->second : 0.5;
  if (pri && !pri->abstained && pri->confidence >= priority_bar &&
      PriorityRank(pri->label) > PriorityRank(ticket.priority)) {
    plan.actions.push_back({ActionType::kSetPriority, {}, pri->label, ""});
  }
  std::string group;
  if (decision.rung == Rung::kEscalate) {
    group = config_.escalation_group;
  } else if (auto it = config_.routing.find(category); !category.empty() && it != config_.routing.end()) {
    group = it->second;
  }
  if (!group.empty() && group != ticket.group) plan.actions.push_back({ActionType::kSetGroup, {}, group, ""});
  if (!config_.custom_field.empty() && !category.empty())
    plan.actions.push_back({ActionType::kSetCustomField, {}, category, config_.custom_field});

  // The internal note: what an agent needs to trust or overrule the triage.
  std::string note = "deskpilot triage — " + std::string(RungName(decision.rung)) + "\n";
  if (!triage.summary.empty()) note += "Summary: " + triage.summary + "\n";
  note += "\nPredictions:\n";
  for (const auto& [dim, p] : triage.predictions) {
    note += "- " + dim + ": " + (p.abstained ? "(unsure)" : p.label) + " (" + Pct(p.confidence) + ")\n";
  }
  if (!triage.flags.empty()) {
    note += "Flags:";
    for (const auto& f : triage.flags) note += " " + f;
    note += "\n";
  }
  note += "\nDecision: " + std::string(RungName(decision.rung)) + "\n";
  for (const auto& r : decision.reasons) note += "- " + r + "\n";
  if (!passages.empty()) {
    note += "\nSources:\n";
    for (const auto& p : passages) {
      note += "- [" + p.doc_id + "] " + p.title;
      if (!p.url.empty()) note += " — " + p.url;
      note += "\n";
    }
  }
  if (!draft.body.empty()) {
    note += std::string("\nDraft reply") + (draft.grounded ? "" : " (not grounded: needs an agent)") + ":\n";
    note += draft.body + "\n";
  }
  if (decision.rung == Rung::kApprove) {
    // Both ways run service/approval.cc, which posts this draft once.
    note += "\nThis category needs an agent's approval: if the draft is right, add the tag \"" + config_.approval_tag +
            "\" (or approve it through the admin API) and deskpilot posts it as the reply.\n";
  }
  note += '\n';
  note += MarkerLine(key);
  plan.actions.push_back({ActionType::kAddInternalNote, {}, note, ""});

  if (decision.rung == Rung::kAutoReply) plan.actions.push_back({ActionType::kAddPublicReply, {}, draft.body, ""});
  return plan;
}

}  // namespace deskpilot
