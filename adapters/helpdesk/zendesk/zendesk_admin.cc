#include "helpdesk/zendesk/zendesk_admin.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>

#include "deskpilot/helpdesk.h"
#include "deskpilot/text.h"
#include "common/json_fields/json_fields.h"

namespace deskpilot {
namespace {

using nlohmann::json;

constexpr char kWebhooksPath[] = "/api/v2/webhooks?page%5Bsize%5D=100";
constexpr char kTriggersPath[] = "/api/v2/triggers.json?page%5Bsize%5D=100";

// Zendesk echoes condition values as strings or scalars: they are compared as text
// (JsonScalarText).

struct TriggerSpec {
  std::string title;
  json conditions;
  std::string event;
};

std::vector<TriggerSpec> TriggerSpecs(const std::string& source, const std::string& approval_tag) {
  const std::string prefix = ZendeskWebhookName(source) + ": ";
  std::vector<TriggerSpec> specs = {
      {prefix + "ticket created",
       {{"all", json::array({{{"field", "update_type"}, {"operator", "is"}, {"value", "Create"}}})},
        {"any", json::array()}},
       "ticket.created"},
      // A public comment by an end user: deskpilot's notes (private, by an agent) and
      // replies (by an agent) never match, so its own updates cannot fire this trigger.
      {prefix + "customer comment added",
       {{"all", json::array({{{"field", "update_type"}, {"operator", "is"}, {"value", "Change"}},
                             {{"field", "comment_is_public"}, {"operator", "is"}, {"value", "true"}},
                             {{"field", "role"}, {"operator", "is"}, {"value", "end_user"}}})},
        {"any", json::array()}},
       "ticket.comment_added"},
  };
  // An agent approving a draft adds the approval tag, an update neither trigger above
  // sees. Zendesk has no "tag was added" condition, so this fires on every update while
  // the tag is on the ticket: deskpilot's own are dropped as self-caused, and the worker
  // treats the rest as approvals only (posts a pending draft, never triages). Zendesk
  // keeps tags in lower case, so the condition names it so.
  if (!approval_tag.empty())
    specs.push_back({prefix + "approval tag on an updated ticket",
                     {{"all", json::array({{{"field", "update_type"}, {"operator", "is"}, {"value", "Change"}},
                                           {{"field", "current_tags"}, {"operator", "includes"},
                                            {"value", AsciiLower(approval_tag)}}})},
                      {"any", json::array()}},
                     kApprovalTagEvent});
  return specs;
}

json DesiredTrigger(const TriggerSpec& spec, const std::string& webhook_id) {
  return {{"title", spec.title},
          {"active", true},
          {"conditions", spec.conditions},
          {"actions", json::array({{{"field", "notification_webhook"},
                                    {"value", json::array({webhook_id, ZendeskTriggerBody(spec.event)})}}})}};
}

std::vector<std::tuple<std::string, std::string, std::string>> ConditionSet(const json& list) {
  std::vector<std::tuple<std::string, std::string, std::string>> out;
  if (list.is_array())
    for (const auto& c : list)
      if (c.is_object()) out.emplace_back(JsonString(c, "field"), JsonString(c, "operator"), JsonScalarText(c.value("value", json())));
  std::sort(out.begin(), out.end());
  return out;
}

// The webhook id a trigger's notification_webhook action points at ("" if none).
std::string NotifiedWebhook(const json& trigger) {
  for (const auto& a : trigger.value("actions", json::array())) {
    if (!a.is_object() || JsonString(a, "field") != "notification_webhook") continue;
    const json& v = a.value("value", json());
    if (v.is_array() && !v.empty()) return JsonScalarText(v[0]);
  }
  return "";
}

bool TriggerMatches(const json& have, const json& want) {
  if (!have.value("active", false)) return false;
  const json& hc = have.value("conditions", json::object());
  const json& wc = want["conditions"];
  if (ConditionSet(hc.value("all", json::array())) != ConditionSet(wc["all"]) ||
      ConditionSet(hc.value("any", json::array())) != ConditionSet(wc["any"]))
    return false;
  const json& actions = have.value("actions", json::array());
  if (!actions.is_array() || actions.size() != 1) return false;
  const json& value = actions[0].value("value", json());
  const json& want_value = want["actions"][0]["value"];
  if (JsonString(actions[0], "field") != "notification_webhook" || !value.is_array() || value.size() != 2) return false;
  if (JsonScalarText(value[0]) != want_value[0].get<std::string>() || !value[1].is_string()) return false;
  // Compared as JSON: Zendesk may re-serialise the body template.
  json body = json::parse(value[1].get<std::string>(), nullptr, false);
  return !body.is_discarded() && body == json::parse(want_value[1].get<std::string>());
}

}  // namespace

std::string ZendeskWebhookName(const std::string& source) { return "deskpilot-" + source; }

std::string ZendeskTriggerBody(const std::string& event) {
  // Only placeholders whose values cannot break the JSON (ids and a timestamp).
  return json{{"ticket_id", "{{ticket.id}}"},
              {"event", event},
              {"updated_at", "{{ticket.updated_at_with_timestamp}}"},
              {"actor_id", "{{current_user.id}}"}}
      .dump();
}

Result<ZendeskRegistration> RegisterZendeskWebhook(ZendeskApi& api, const std::string& endpoint) {
  const std::string name = ZendeskWebhookName(api.options().name);
  ZendeskRegistration reg;
  reg.endpoint = endpoint;
  const json desired = {{"name", name},
                        {"endpoint", endpoint},
                        {"http_method", "POST"},
                        {"request_format", "json"},
                        {"status", "active"},
                        {"subscriptions", json::array({"conditional_ticket_events"})}};
  DP_ASSIGN_OR_RETURN(std::vector<json> webhooks, api.GetAll(kWebhooksPath, "webhooks", "zendesk list webhooks"));
  const json* existing = nullptr;
  for (const auto& w : webhooks)
    if (w.is_object() && JsonString(w, "name") == name) existing = &w;
  if (existing == nullptr) {
    DP_ASSIGN_OR_RETURN(json created, api.SendJson("POST", "/api/v2/webhooks", {{"webhook", desired}},
                                                   "zendesk create webhook"));
    reg.webhook_id = created.is_object() && created.contains("webhook") ? ZendeskIdString(created["webhook"], "id") : "";
    if (reg.webhook_id.empty()) return Status::InvalidArgument("zendesk create webhook: response has no webhook.id");
    reg.changes.push_back({"webhook", reg.webhook_id, name, "created"});
  } else {
    reg.webhook_id = ZendeskIdString(*existing, "id");
    const bool same = JsonString(*existing, "endpoint") == endpoint && JsonString(*existing, "http_method") == "POST" &&
                      JsonString(*existing, "request_format") == "json" && JsonString(*existing, "status") == "active";
    if (!same) {
      DP_RETURN_IF_ERROR(api.SendJson("PUT", "/api/v2/webhooks/" + reg.webhook_id, {{"webhook", desired}},
                                      "zendesk update webhook")
                             .status());
    }
    reg.changes.push_back({"webhook", reg.webhook_id, name, same ? "unchanged" : "updated"});
  }

  DP_ASSIGN_OR_RETURN(std::vector<json> triggers, api.GetAll(kTriggersPath, "triggers", "zendesk list triggers"));
  for (const TriggerSpec& spec : TriggerSpecs(api.options().name, api.options().approval_tag)) {
    const json want = DesiredTrigger(spec, reg.webhook_id);
    const json* have = nullptr;
    for (const auto& t : triggers)
      if (t.is_object() && JsonString(t, "title") == spec.title) have = &t;
    if (have == nullptr) {
      DP_ASSIGN_OR_RETURN(json created, api.SendJson("POST", "/api/v2/triggers.json", {{"trigger", want}},
                                                     "zendesk create trigger"));
      std::string id = created.is_object() && created.contains("trigger") ? ZendeskIdString(created["trigger"], "id") : "";
      reg.changes.push_back({"trigger", id, spec.title, "created"});
    } else if (TriggerMatches(*have, want)) {
      reg.changes.push_back({"trigger", ZendeskIdString(*have, "id"), spec.title, "unchanged"});
    } else {
      const std::string id = ZendeskIdString(*have, "id");
      DP_RETURN_IF_ERROR(
          api.SendJson("PUT", "/api/v2/triggers/" + id + ".json", {{"trigger", want}}, "zendesk update trigger")
              .status());
      reg.changes.push_back({"trigger", id, spec.title, "updated"});
    }
  }

  DP_ASSIGN_OR_RETURN(json secret, api.GetJson("/api/v2/webhooks/" + reg.webhook_id + "/signing_secret",
                                               "zendesk webhook signing secret"));
  if (secret.contains("signing_secret") && secret["signing_secret"].is_object())
    reg.signing_secret = JsonString(secret["signing_secret"], "secret");
  if (reg.signing_secret.empty())
    return Status::InvalidArgument("zendesk webhook signing secret: response has no signing_secret.secret");
  return reg;
}

Result<std::vector<ZendeskWebhookInfo>> ListZendeskWebhooks(ZendeskApi& api) {
  const std::string name = ZendeskWebhookName(api.options().name);
  DP_ASSIGN_OR_RETURN(std::vector<json> webhooks, api.GetAll(kWebhooksPath, "webhooks", "zendesk list webhooks"));
  DP_ASSIGN_OR_RETURN(std::vector<json> triggers, api.GetAll(kTriggersPath, "triggers", "zendesk list triggers"));
  std::vector<ZendeskWebhookInfo> out;
  for (const auto& w : webhooks) {
    if (!w.is_object()) continue;
    ZendeskWebhookInfo info;
    info.id = ZendeskIdString(w, "id");
    info.name = JsonString(w, "name");
    info.endpoint = JsonString(w, "endpoint");
    info.status = JsonString(w, "status");
    info.ours = info.name == name;
    for (const auto& t : triggers)
      if (t.is_object() && NotifiedWebhook(t) == info.id) info.triggers.push_back(JsonString(t, "title"));
    out.push_back(std::move(info));
  }
  return out;
}

Result<std::vector<ZendeskChange>> RemoveZendeskWebhook(ZendeskApi& api) {
  const std::string name = ZendeskWebhookName(api.options().name);
  const std::string title_prefix = name + ": ";
  DP_ASSIGN_OR_RETURN(std::vector<json> webhooks, api.GetAll(kWebhooksPath, "webhooks", "zendesk list webhooks"));
  DP_ASSIGN_OR_RETURN(std::vector<json> triggers, api.GetAll(kTriggersPath, "triggers", "zendesk list triggers"));
  std::vector<std::string> ours;
  for (const auto& w : webhooks)
    if (w.is_object() && JsonString(w, "name") == name) ours.push_back(ZendeskIdString(w, "id"));
  std::vector<ZendeskChange> changes;
  // Triggers first: a webhook still connected to a trigger cannot be deleted.
  for (const auto& t : triggers) {
    if (!t.is_object()) continue;
    const std::string title = JsonString(t, "title");
    const bool notifies_ours = std::find(ours.begin(), ours.end(), NotifiedWebhook(t)) != ours.end();
    if (title.rfind(title_prefix, 0) != 0 && !notifies_ours) continue;
    const std::string id = ZendeskIdString(t, "id");
    DP_RETURN_IF_ERROR(
        api.Send(api.Request("DELETE", "/api/v2/triggers/" + id + ".json"), "zendesk delete trigger " + id).status());
    changes.push_back({"trigger", id, title, "deleted"});
  }
  for (const auto& id : ours) {
    DP_RETURN_IF_ERROR(
        api.Send(api.Request("DELETE", "/api/v2/webhooks/" + id), "zendesk delete webhook " + id).status());
    changes.push_back({"webhook", id, name, "deleted"});
  }
  return changes;
}

}  // namespace deskpilot
