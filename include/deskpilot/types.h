// Vendor-neutral value types that flow between pipeline stages.
// No stage ever sees vendor JSON: helpdesk adapters translate to and from these.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "deskpilot/status.h"

namespace deskpilot {

enum class AuthorRole { kCustomer, kAgent, kSystem };
std::string_view AuthorRoleName(AuthorRole r);
std::optional<AuthorRole> ParseAuthorRole(std::string_view s);

struct Comment {
  std::string id;
  AuthorRole author_role = AuthorRole::kCustomer;
  std::string author_id;
  bool is_public = true;
  // Set by the helpdesk adapter when deskpilot itself wrote this comment
  // (its API user, or the marker it leaves); the core uses it for the loop guard.
  bool by_deskpilot = false;
  std::string body;  // plain text, quoted replies and signatures stripped where possible
  std::string created_at;  // RFC 3339, as the vendor reports it
};

struct Requester {
  std::string email;
  std::string name;
  std::string tier;  // plan / tier when the vendor knows it
};

struct Ticket {
  std::string id;
  std::string source;  // configured helpdesk name
  std::string subject;
  std::string description;
  std::vector<Comment> comments;
  Requester requester;
  std::string channel;  // email, chat, web, api, ...
  std::string status;
  std::string priority;  // low | normal | high | urgent | "" (unset)
  std::vector<std::string> tags;
  std::map<std::string, std::string> custom_fields;
  std::string group;
  std::string created_at;
  std::string updated_at;
  std::string language;  // when the vendor knows it
};

// One classification dimension's answer.
struct Prediction {
  std::string label;        // "" when the model abstains
  double confidence = 0.0;  // calibrated probability in [0,1]
  std::vector<std::pair<std::string, double>> alternatives;  // next best, descending
  bool abstained = false;   // an abstaining prediction never drives automation
  // False when the confidence is a model's own estimate rather than a probability
  // calibrated on held-out data (an LLM's self-reported confidence). An uncalibrated
  // prediction may route and tag, but never unlocks an automatic reply.
  bool calibrated = true;
};

// What one model-backed step cost; recorded in the audit and exported as metrics.
// Built-in (offline) adapters leave it empty.
struct ModelUsage {
  std::string adapter;  // "llm-classifier", "llm-drafter", ...
  std::string model;    // as the server reported it
  std::string prompt;   // prompt id and version, e.g. "classify.v1"
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  double cost = 0.0;    // estimated, from the configured prices per 1k tokens
  bool cached = false;  // answered from the cache: no call was made
};

// The flags a Triage can carry when the policy decides: the rule-detected ones
// (service/normalize.cc DetectFlags) and the pipeline's own hand-over flags. One list,
// so policy.escalate_flags is checked against exactly what deskpilot can raise: a
// misspelt flag there would silently switch an escalation off. (canary_leak is raised
// after the decision and always escalates, so it is not a flag the policy can act on.)
inline constexpr std::string_view kFlagAskedForHuman = "asked_for_human";
inline constexpr std::string_view kFlagLegalThreat = "legal_threat";
inline constexpr std::string_view kFlagSecurityIncident = "security_incident";
inline constexpr std::string_view kFlagChurnRisk = "churn_risk";
inline constexpr std::string_view kFlagClassifierError = "classifier_error";
inline constexpr std::string_view kFlagDrafterError = "drafter_error";
inline constexpr std::array<std::string_view, 6> kTriageFlags = {
    kFlagAskedForHuman, kFlagLegalThreat,      kFlagSecurityIncident,
    kFlagChurnRisk,     kFlagClassifierError, kFlagDrafterError};

struct Triage {
  // Keyed by dimension: category, intent, priority, sentiment, language, team.
  std::map<std::string, Prediction> predictions;
  std::string summary;
  // Rule-detected signals: asked_for_human, legal_threat, security_incident, ...
  std::vector<std::string> flags;
  std::vector<ModelUsage> usage;  // model calls behind these predictions (if any)

  const Prediction* Get(const std::string& dim) const {
    auto it = predictions.find(dim);
    return it == predictions.end() ? nullptr : &it->second;
  }
  bool HasFlag(std::string_view f) const {
    for (const auto& x : flags)
      if (x == f) return true;
    return false;
  }
};

enum class PassageKind { kKbArticle, kResolvedTicket };
std::string_view PassageKindName(PassageKind k);

struct Passage {
  PassageKind kind = PassageKind::kKbArticle;
  std::string id;      // chunk id, unique in the KB ("<doc_id>#<n>")
  std::string doc_id;  // the article / ticket it comes from
  std::string title;
  std::string url;
  std::string text;
  double score = 0.0;  // higher is better; comparable within one retriever only
};

struct Draft {
  std::string body;  // plain text
  std::vector<std::string> citations;  // doc_ids of passages the body relies on
  bool grounded = false;  // cites at least one retrieved passage and only retrieved ones
  std::string generator;  // adapter (and model/prompt version) that produced it
  std::vector<ModelUsage> usage;  // model calls behind this draft (if any)
  // The internal note's summary when the drafter wrote one (the llm drafter: request,
  // what was tried, open questions, mood); the pipeline moves it into Triage.summary.
  std::string summary;
};

enum class Rung { kShadow, kAssist, kApprove, kAutoReply, kEscalate };
std::string_view RungName(Rung r);
std::optional<Rung> ParseRung(std::string_view s);

struct Decision {
  Rung rung = Rung::kAssist;
  // The rung the ladder chose before policy.mode's ceiling: what mode "auto" would have
  // done. Differs from `rung` in shadow and assist mode, so a trial run shows what
  // turning automation on would change.
  Rung ladder = Rung::kAssist;
  std::vector<std::string> reasons;
};

enum class ActionType {
  kSetTags,          // adds tags; never removes agents' tags
  kSetPriority,
  kSetGroup,
  kSetCustomField,
  kAddInternalNote,
  kAddPublicReply,
};
std::string_view ActionTypeName(ActionType a);

struct WriteAction {
  ActionType type;
  std::vector<std::string> tags;  // kSetTags
  std::string value;              // priority, group, field value, or note/reply body
  std::string field;              // kSetCustomField: field name/id
};

struct WritePlan {
  std::vector<WriteAction> actions;
  // Unique per ticket event; adapters make the write idempotent with it (a marker in
  // the note, an Idempotency-Key header) so a retried write-back lands once.
  std::string idempotency_key;
  bool empty() const { return actions.empty(); }
};

// JSON shapes (see architecture.md "Interfaces for people").
void to_json(nlohmann::json& j, const Prediction& p);
void to_json(nlohmann::json& j, const Triage& t);
void to_json(nlohmann::json& j, const Passage& p);
void to_json(nlohmann::json& j, const Draft& d);
void to_json(nlohmann::json& j, const Decision& d);
void to_json(nlohmann::json& j, const WriteAction& a);
void to_json(nlohmann::json& j, const Ticket& t);
void to_json(nlohmann::json& j, const Comment& c);
// Parses the normalized ticket shape {"subject","description","requester":{...},"channel",
// "comments":[{"author_role","public","body"}], ...}. InvalidArgument names the bad field.
Status TicketFromJson(const nlohmann::json& j, Ticket* out);

}  // namespace deskpilot
