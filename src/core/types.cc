#include "deskpilot/types.h"

#include <nlohmann/json.hpp>

namespace deskpilot {

std::string_view AuthorRoleName(AuthorRole r) {
  switch (r) {
    case AuthorRole::kCustomer: return "customer";
    case AuthorRole::kAgent: return "agent";
    case AuthorRole::kSystem: return "system";
  }
  return "customer";
}

std::optional<AuthorRole> ParseAuthorRole(std::string_view s) {
  if (s == "customer") return AuthorRole::kCustomer;
  if (s == "agent") return AuthorRole::kAgent;
  if (s == "system") return AuthorRole::kSystem;
  return std::nullopt;
}

std::string_view PassageKindName(PassageKind k) {
  switch (k) {
    case PassageKind::kKbArticle: return "kb_article";
    case PassageKind::kResolvedTicket: return "resolved_ticket";
  }
  return "kb_article";
}

std::string_view RungName(Rung r) {
  switch (r) {
    case Rung::kShadow: return "shadow";
    case Rung::kAssist: return "assist";
    case Rung::kApprove: return "approve";
    case Rung::kAutoReply: return "auto_reply";
    case Rung::kEscalate: return "escalate";
  }
  return "assist";
}

std::optional<Rung> ParseRung(std::string_view s) {
  if (s == "shadow") return Rung::kShadow;
  if (s == "assist") return Rung::kAssist;
  if (s == "approve") return Rung::kApprove;
  if (s == "auto_reply") return Rung::kAutoReply;
  if (s == "escalate") return Rung::kEscalate;
  return std::nullopt;
}

std::string_view ActionTypeName(ActionType a) {
  switch (a) {
    case ActionType::kSetTags: return "set_tags";
    case ActionType::kSetPriority: return "set_priority";
    case ActionType::kSetGroup: return "set_group";
    case ActionType::kSetCustomField: return "set_custom_field";
    case ActionType::kAddInternalNote: return "add_internal_note";
    case ActionType::kAddPublicReply: return "add_public_reply";
  }
  return "set_tags";
}

void to_json(nlohmann::json& j, const Prediction& p) {
  nlohmann::json alternatives = nlohmann::json::array();
  for (const auto& [label, confidence] : p.alternatives)
    alternatives.push_back({{"label", label}, {"confidence", confidence}});
  j = {{"label", p.label},
       {"confidence", p.confidence},
       {"alternatives", std::move(alternatives)},
       {"abstained", p.abstained},
       {"calibrated", p.calibrated}};
}

void to_json(nlohmann::json& j, const Triage& t) {
  j = nlohmann::json::object();
  for (const auto& [dim, prediction] : t.predictions) j[dim] = prediction;
  j["summary"] = t.summary;
  j["flags"] = t.flags;
}

void to_json(nlohmann::json& j, const Passage& p) {
  j = {{"kind", PassageKindName(p.kind)},
       {"id", p.id},
       {"doc_id", p.doc_id},
       {"title", p.title},
       {"url", p.url},
       {"score", p.score},
       {"text", p.text}};
}

void to_json(nlohmann::json& j, const Draft& d) {
  j = {{"body", d.body},
       {"citations", d.citations},
       {"grounded", d.grounded},
       {"generator", d.generator}};
}

void to_json(nlohmann::json& j, const Decision& d) {
  j = {{"rung", RungName(d.rung)}, {"ladder", RungName(d.ladder)}, {"reasons", d.reasons}};
}

void to_json(nlohmann::json& j, const WriteAction& a) {
  j = {{"action", ActionTypeName(a.type)}};
  switch (a.type) {
    case ActionType::kSetTags:
      j["tags"] = a.tags;
      break;
    case ActionType::kSetPriority:
    case ActionType::kSetGroup:
      j["value"] = a.value;
      break;
    case ActionType::kSetCustomField:
      j["field"] = a.field;
      j["value"] = a.value;
      break;
    case ActionType::kAddInternalNote:
    case ActionType::kAddPublicReply:
      j["body"] = a.value;
      break;
  }
}

void to_json(nlohmann::json& j, const Comment& c) {
  j = {{"id", c.id},
       {"author_role", AuthorRoleName(c.author_role)},
       {"author_id", c.author_id},
       {"public", c.is_public},
       {"by_deskpilot", c.by_deskpilot},
       {"body", c.body},
       {"created_at", c.created_at}};
}

void to_json(nlohmann::json& j, const Ticket& t) {
  j = {{"id", t.id},
       {"source", t.source},
       {"subject", t.subject},
       {"description", t.description},
       {"comments", t.comments},
       {"requester", {{"email", t.requester.email},
                      {"name", t.requester.name},
                      {"tier", t.requester.tier}}},
       {"channel", t.channel},
       {"status", t.status},
       {"priority", t.priority},
       {"tags", t.tags},
       {"custom_fields", t.custom_fields},
       {"group", t.group},
       {"created_at", t.created_at},
       {"updated_at", t.updated_at},
       {"language", t.language}};
}

namespace {

// Field readers for TicketFromJson: a missing key or JSON null keeps the default,
// any other wrong type is an error naming the full field path.
Status ReadString(const nlohmann::json& obj, const char* key, const std::string& path,
                  std::string* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return Status::Ok();
  if (!it->is_string()) return Status::InvalidArgument(path + key + ": expected string");
  *out = it->get<std::string>();
  return Status::Ok();
}

// Vendors use numeric ids as often as string ones; both normalize to a string.
Status ReadId(const nlohmann::json& obj, const char* key, const std::string& path,
              std::string* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return Status::Ok();
  if (it->is_string()) {
    *out = it->get<std::string>();
  } else if (it->is_number_integer()) {
    *out = std::to_string(it->get<int64_t>());
  } else {
    return Status::InvalidArgument(path + key + ": expected string or integer");
  }
  return Status::Ok();
}

Status ReadBool(const nlohmann::json& obj, const char* key, const std::string& path,
                bool* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return Status::Ok();
  if (!it->is_boolean()) return Status::InvalidArgument(path + key + ": expected boolean");
  *out = it->get<bool>();
  return Status::Ok();
}

Status ReadStringList(const nlohmann::json& obj, const char* key, const std::string& path,
                      std::vector<std::string>* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return Status::Ok();
  if (!it->is_array()) return Status::InvalidArgument(path + key + ": expected array of strings");
  for (size_t i = 0; i < it->size(); ++i) {
    const auto& v = (*it)[i];
    if (!v.is_string())
      return Status::InvalidArgument(path + key + "[" + std::to_string(i) + "]: expected string");
    out->push_back(v.get<std::string>());
  }
  return Status::Ok();
}

Status ReadComment(const nlohmann::json& j, const std::string& path, Comment* c) {
  if (!j.is_object()) return Status::InvalidArgument(path + ": expected object");
  const std::string prefix = path + ".";
  DP_RETURN_IF_ERROR(ReadId(j, "id", prefix, &c->id));
  std::string role;
  DP_RETURN_IF_ERROR(ReadString(j, "author_role", prefix, &role));
  if (!role.empty()) {
    auto parsed = ParseAuthorRole(role);
    if (!parsed)
      return Status::InvalidArgument(prefix + "author_role: expected customer, agent or system, got \"" +
                                     role + "\"");
    c->author_role = *parsed;
  }
  DP_RETURN_IF_ERROR(ReadId(j, "author_id", prefix, &c->author_id));
  DP_RETURN_IF_ERROR(ReadBool(j, "public", prefix, &c->is_public));
  DP_RETURN_IF_ERROR(ReadBool(j, "by_deskpilot", prefix, &c->by_deskpilot));
  DP_RETURN_IF_ERROR(ReadString(j, "body", prefix, &c->body));
  DP_RETURN_IF_ERROR(ReadString(j, "created_at", prefix, &c->created_at));
  return Status::Ok();
}

}  // namespace

Status TicketFromJson(const nlohmann::json& j, Ticket* out) {
  if (!j.is_object()) return Status::InvalidArgument("ticket: expected a JSON object");
  Ticket t;
  DP_RETURN_IF_ERROR(ReadId(j, "id", "", &t.id));
  DP_RETURN_IF_ERROR(ReadString(j, "source", "", &t.source));
  DP_RETURN_IF_ERROR(ReadString(j, "subject", "", &t.subject));
  DP_RETURN_IF_ERROR(ReadString(j, "description", "", &t.description));
  DP_RETURN_IF_ERROR(ReadString(j, "channel", "", &t.channel));
  DP_RETURN_IF_ERROR(ReadString(j, "status", "", &t.status));
  DP_RETURN_IF_ERROR(ReadString(j, "priority", "", &t.priority));
  DP_RETURN_IF_ERROR(ReadString(j, "group", "", &t.group));
  DP_RETURN_IF_ERROR(ReadString(j, "created_at", "", &t.created_at));
  DP_RETURN_IF_ERROR(ReadString(j, "updated_at", "", &t.updated_at));
  DP_RETURN_IF_ERROR(ReadString(j, "language", "", &t.language));
  DP_RETURN_IF_ERROR(ReadStringList(j, "tags", "", &t.tags));

  if (auto it = j.find("requester"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return Status::InvalidArgument("requester: expected object");
    DP_RETURN_IF_ERROR(ReadString(*it, "email", "requester.", &t.requester.email));
    DP_RETURN_IF_ERROR(ReadString(*it, "name", "requester.", &t.requester.name));
    DP_RETURN_IF_ERROR(ReadString(*it, "tier", "requester.", &t.requester.tier));
  }

  if (auto it = j.find("custom_fields"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return Status::InvalidArgument("custom_fields: expected object");
    for (const auto& [key, value] : it->items()) {
      if (!value.is_string())
        return Status::InvalidArgument("custom_fields." + key + ": expected string");
      t.custom_fields[key] = value.get<std::string>();
    }
  }

  if (auto it = j.find("comments"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return Status::InvalidArgument("comments: expected array");
    for (size_t i = 0; i < it->size(); ++i) {
      Comment c;
      DP_RETURN_IF_ERROR(ReadComment((*it)[i], "comments[" + std::to_string(i) + "]", &c));
      t.comments.push_back(std::move(c));
    }
  }

  // Nothing to classify is a caller bug, not a ticket to triage as "other".
  if (t.subject.empty() && t.description.empty() && t.comments.empty())
    return Status::InvalidArgument("ticket has no subject, description or comments");
  *out = std::move(t);
  return Status::Ok();
}

}  // namespace deskpilot
