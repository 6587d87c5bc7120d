// The decide stage: plain code over the Triage chooses how far automation may go.
// The model never chooses actions; ticket text can only influence predictions,
// and every rung above `assist` needs conditions the text alone cannot satisfy.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "deskpilot/config.h"
#include "deskpilot/status.h"
#include "deskpilot/types.h"

namespace deskpilot {

// Per-dimension threshold lookup: policy override, else the larger of the model's
// stored auto-threshold and policy.min_confidence.
using ThresholdFn = std::function<std::optional<double>(const std::string& dimension)>;

class Policy {
 public:
  Policy(PolicyConfig config, ThresholdFn model_thresholds);

  // `passages` are the retrieved ones the draft may cite: an automatic reply must not say
  // more than its cited sources and the customer did (service/reply_check.h).
  Decision Decide(const Ticket& ticket, const Triage& triage, const std::vector<Passage>& passages,
                  const Draft& draft) const;

  // The vendor-neutral actions for a decision. The internal note carries the summary,
  // predictions, decision, sources and draft; the public reply only for auto_reply.
  WritePlan Plan(const Ticket& ticket, const Triage& triage, const std::vector<Passage>& passages,
                 const Draft& draft, const Decision& decision,
                 const std::string& idempotency_key) const;

  double Threshold(const std::string& dimension) const;
  const PolicyConfig& config() const { return config_; }

  // The marker line every deskpilot note carries; its presence on the ticket means
  // this event's write-back already landed (idempotent write-backs across crashes).
  static std::string MarkerLine(const std::string& idempotency_key);

 private:
  // The ladder as policy.mode "auto" would climb it; Decide applies the mode's ceiling.
  Decision Ladder(const Ticket& ticket, const Triage& triage, const std::vector<Passage>& passages,
                  const Draft& draft) const;

  PolicyConfig config_;
  ThresholdFn model_thresholds_;
};

// Checks the names a policy uses against what the classifier can produce (its
// Classifier::Labels()): sensitive_categories, [policy.categories] and [policy.routing]
// must name labels of the "category" dimension, [policy.thresholds] keys must be
// dimensions the classifier labels (or "language", which the pipeline always adds). A
// misspelt name would silently drop a rule ("refunds" would leave "refund" unprotected).
// InvalidArgument listing every unknown name with its key path and the known ones.
// With nullopt (a classifier that cannot enumerate its labels) nothing can be checked.
Status ValidatePolicyNames(const PolicyConfig& config,
                           const std::optional<std::map<std::string, std::vector<std::string>>>& labels);

// Lower-case, [a-z0-9_] only: a safe tag from a label.
std::string TagSafe(const std::string& s);
int PriorityRank(const std::string& p);  // low 1, normal 2, high 3, urgent 4, else 0

}  // namespace deskpilot
