// A shadow trial's review: what deskpilot would have done with each ticket (the triage
// audit row of its first shadow decision: the ladder's rung and the predictions) set
// against what the agents did with it (the ticket as the help desk has it now: the
// category they tagged or filled in, the priority they left, whether they replied).
// It answers the admin's question before switching to auto: how many tickets would have
// been answered without an agent, and how often the agents agreed with the category that
// answer rested on. Vendor-free: the caller fetches the tickets.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>
#include <utility>

#include <nlohmann/json.hpp>

#include "deskpilot/stats.h"
#include "deskpilot/types.h"

namespace deskpilot {

// Where the agents' category is read from: the ticket's tag starting with `tag_prefix`
// (prefix removed: cat_refund → refund) or, without a prefix, the custom field `field`.
struct AgentLabelSource {
  std::string tag_prefix;
  std::string field;
};

// The agents' labels on `ticket` by `source` (none, one, or several when the tags disagree).
std::set<std::string> AgentLabels(const Ticket& ticket, const AgentLabelSource& source);

class ShadowReport {
 public:
  // `target_precision`: the share of automatic replies whose category the agents must agree
  // with; categories that fall short of it beyond chance are named (TestShortfall).
  explicit ShadowReport(AgentLabelSource labels, double target_precision = kDefaultTargetPrecision)
      : labels_(std::move(labels)), target_precision_(target_precision) {}

  // One ticket: the data of its triage audit row (PipelineResultJson), and the ticket as
  // the help desk has it now, or nullptr when it could not be read (deleted, an error).
  void Add(const nlohmann::json& triage_record, const Ticket* now);

  // {tickets, unavailable, ladder: {rung: {tickets, labelled, agreed, agent_replied}},
  //  category: {labelled, agreed, accuracy, ambiguous}, priority: {set, agreed, accuracy},
  //  by_category: [{category, tickets, auto_reply, labelled, agreed, auto_reply_labelled,
  //  auto_reply_agreed}], target_precision,
  //  auto_reply_short_categories: [{category, labelled, disagreed, agreement, p_value}] (the
  //  categories whose automatic replies the agents contradicted more often than the target
  //  allows, beyond chance; least likely first),
  //  confusions: [{predicted, agents, count}] (most frequent first, at most 10),
  //  auto_reply_disagreements: [{ticket_id, predicted, agents}] (every ticket that would have
  //  been answered automatically on a category the agents did not give it, in the order added)}.
  // accuracy is null when nothing was compared.
  nlohmann::json Json() const;
  // The same as tables for a person.
  std::string Text() const;

 private:
  struct Tally {
    int tickets = 0;
    int labelled = 0;  // the agents' category is known
    int agreed = 0;    // ... and equals the predicted one
    int agent_replied = 0;
    int auto_reply = 0;  // would have been answered automatically
    int auto_labelled = 0;  // ... and the agents' category is known
    int auto_agreed = 0;    // ... and equals the predicted one
  };
  AgentLabelSource labels_;
  double target_precision_;
  int tickets_ = 0;
  int unavailable_ = 0;
  int ambiguous_ = 0;  // more than one label tag: not compared
  int priority_set_ = 0;
  int priority_agreed_ = 0;
  std::map<std::string, Tally> by_rung_;
  std::map<std::string, Tally> by_category_;  // predicted category ("" abstained)
  std::map<std::pair<std::string, std::string>, int> confusions_;
  // Would have been answered automatically, and the agents' category differs: the tickets an
  // admin must read before turning auto-reply on.
  struct Disagreement {
    std::string ticket_id, predicted, agents;
  };
  std::vector<Disagreement> auto_reply_disagreements_;
};

}  // namespace deskpilot
