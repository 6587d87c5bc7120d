#include "helpdesk/zammad/zammad_admin.h"

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "deskpilot/crypto.h"
#include "common/json_fields/json_fields.h"

namespace deskpilot {
namespace {

using nlohmann::json;

constexpr char kWebhooksPath[] = "/api/v1/webhooks";
constexpr char kTriggersPath[] = "/api/v1/triggers";
constexpr char kApprovalTriggerSuffix[] = "approval tag";
constexpr char kPermissionHint[] =
    " (the API token's user needs the admin.webhook and admin.trigger permissions to manage webhooks and "
    "triggers; ticket.agent alone is not enough)";

// Zammad's seeded article sender ids: Agent 1, Customer 2, System 3 (zammad/zammad
// db/seeds/ticket_article_senders.rb, created with fixed ids on every installation).
constexpr char kCustomerSenderId[] = "2";

// Ids and condition values come back as numbers or strings (the admin UI sends strings):
// both are read as text (JsonId, JsonScalarText).
std::string IdOf(const json& obj) { return JsonId(obj, "id"); }

// Every scalar below `v` as text, so a condition Zammad echoes with numbers compares
// equal to the one sent with strings.
json AsText(const json& v) {
  if (v.is_object()) {
    json out = json::object();
    for (const auto& [k, item] : v.items()) out[k] = AsText(item);
    return out;
  }
  if (v.is_array()) {
    json out = json::array();
    for (const auto& item : v) out.push_back(AsText(item));
    return out;
  }
  return v.is_null() ? v : json(JsonScalarText(v));
}

bool IsTrue(const json& obj, const char* key) {
  return obj.is_object() && obj.contains(key) && obj[key].is_boolean() && obj[key].get<bool>();
}

// The webhook a trigger's "notification.webhook" action points at ("" if none).
std::string FiredWebhook(const json& trigger) {
  if (!trigger.is_object() || !trigger.contains("perform") || !trigger["perform"].is_object()) return "";
  const json& perform = trigger["perform"];
  auto it = perform.find("notification.webhook");
  if (it == perform.end() || !it->is_object() || !it->contains("webhook_id")) return "";
  return JsonScalarText((*it)["webhook_id"]);
}

// Permission errors name what the token's user lacks; the token itself is never in a
// message (StatusFromHttp quotes only Zammad's answer).
Status Explain(Status st) {
  if (st.code() == Code::kUnauthenticated || st.code() == Code::kPermissionDenied)
    return Status::PermissionDenied(st.message() + kPermissionHint);
  return st;
}

struct WebhookSpec {
  std::string name;
  json body;  // the desired object, as sent
};

struct TriggerSpec {
  std::string name;
  json condition;
  std::string execution_condition_mode;
  std::string webhook_name;  // which WebhookSpec it fires
};

class ZammadWebhookAdmin : public WebhookAdmin {
 public:
  ZammadWebhookAdmin(ZammadAdminOptions options, ZammadApiCall call)
      : options_(std::move(options)), call_(std::move(call)) {}

  Result<WebhookRegistration> RegisterWebhook(const std::string& endpoint) override {
    WebhookRegistration reg;
    reg.endpoint = endpoint;
    reg.signed_with_configured_secret = true;
    DP_ASSIGN_OR_RETURN(std::vector<json> webhooks, List(kWebhooksPath, "zammad list webhooks"));
    std::vector<std::pair<std::string, std::string>> webhook_ids;  // name → id
    for (const WebhookSpec& spec : WebhookSpecs(endpoint)) {
      const json* have = Find(webhooks, spec.name);
      std::string id;
      if (have == nullptr) {
        DP_ASSIGN_OR_RETURN(json created, Call("POST", kWebhooksPath, &spec.body, false, "zammad create webhook"));
        id = IdOf(created);
        if (id.empty()) return Status::InvalidArgument("zammad create webhook: the answer has no id");
        reg.changes.push_back({"created", "webhook", id, spec.name});
      } else {
        id = IdOf(*have);
        const bool same = WebhookMatches(*have, spec.body);
        if (!same) {
          // The whole desired object, signature_token included: Zammad hands secret
          // fields back masked (vendors.md), so echoing the listed object back would
          // replace the token with the mask.
          DP_RETURN_IF_ERROR(
              Call("PUT", std::string(kWebhooksPath) + "/" + id, &spec.body, true, "zammad update webhook").status());
        }
        reg.changes.push_back({same ? "unchanged" : "updated", "webhook", id, spec.name});
      }
      webhook_ids.emplace_back(spec.name, id);
    }

    DP_ASSIGN_OR_RETURN(std::vector<json> triggers, List(kTriggersPath, "zammad list triggers"));
    for (const TriggerSpec& spec : TriggerSpecs()) {
      std::string webhook_id;
      for (const auto& [name, id] : webhook_ids)
        if (name == spec.webhook_name) webhook_id = id;
      const json want = DesiredTrigger(spec, webhook_id);
      const json* have = Find(triggers, spec.name);
      if (have == nullptr) {
        DP_ASSIGN_OR_RETURN(json created, Call("POST", kTriggersPath, &want, false, "zammad create trigger"));
        reg.changes.push_back({"created", "trigger", IdOf(created), spec.name});
      } else if (TriggerMatches(*have, want)) {
        reg.changes.push_back({"unchanged", "trigger", IdOf(*have), spec.name});
      } else {
        const std::string id = IdOf(*have);
        DP_RETURN_IF_ERROR(
            Call("PUT", std::string(kTriggersPath) + "/" + id, &want, true, "zammad update trigger").status());
        reg.changes.push_back({"updated", "trigger", id, spec.name});
      }
    }
    // Approval by tag turned off since an earlier register: its trigger would go on firing
    // on every update of a tagged ticket, each delivery acknowledged and dropped. Trigger
    // first: Zammad refuses to delete a webhook a trigger still uses.
    if (options_.approval_tag.empty()) {
      const std::string trigger_name = TriggerPrefix() + kApprovalTriggerSuffix;
      if (const json* stale = Find(triggers, trigger_name))
        DP_RETURN_IF_ERROR(Delete(kTriggersPath, "trigger", IdOf(*stale), trigger_name, &reg.changes));
      if (const json* stale = Find(webhooks, ApprovalWebhookName()))
        DP_RETURN_IF_ERROR(Delete(kWebhooksPath, "webhook", IdOf(*stale), ApprovalWebhookName(), &reg.changes));
    }
    return reg;
  }

  Result<std::vector<WebhookInfo>> ListWebhooks() override {
    DP_ASSIGN_OR_RETURN(std::vector<json> webhooks, List(kWebhooksPath, "zammad list webhooks"));
    DP_ASSIGN_OR_RETURN(std::vector<json> triggers, List(kTriggersPath, "zammad list triggers"));
    std::vector<WebhookInfo> out;
    const std::string path_suffix = "/webhooks/" + options_.source;
    for (const json& w : webhooks) {
      if (!w.is_object()) continue;
      WebhookInfo info;
      info.id = IdOf(w);
      info.name = JsonString(w, "name");
      info.endpoint = JsonString(w, "endpoint");
      info.status = IsTrue(w, "active") ? "active" : "inactive";
      info.ours = IsOurs(info.name) || info.endpoint.ends_with(path_suffix);
      for (const json& t : triggers)
        if (FiredWebhook(t) == info.id)
          info.details.push_back("trigger " + IdOf(t) + "  " + JsonString(t, "name") + (IsTrue(t, "active") ? "" : " (inactive)"));
      out.push_back(std::move(info));
    }
    return out;
  }

  Result<std::vector<WebhookChange>> RemoveWebhook() override {
    DP_ASSIGN_OR_RETURN(std::vector<json> webhooks, List(kWebhooksPath, "zammad list webhooks"));
    DP_ASSIGN_OR_RETURN(std::vector<json> triggers, List(kTriggersPath, "zammad list triggers"));
    std::vector<std::pair<std::string, std::string>> ours;  // id, name
    for (const json& w : webhooks)
      if (IsOurs(JsonString(w, "name"))) ours.emplace_back(IdOf(w), JsonString(w, "name"));
    std::vector<WebhookChange> changes;
    // Triggers first: Zammad refuses to delete a webhook a trigger still uses
    // (Webhook ensures_no_related_objects_path 'notification.webhook', app/models/webhook.rb).
    const std::string prefix = TriggerPrefix();
    for (const json& t : triggers) {
      const std::string name = JsonString(t, "name");
      const std::string fired = FiredWebhook(t);
      const bool fires_ours =
          std::any_of(ours.begin(), ours.end(), [&](const auto& w) { return w.first == fired; });
      if (!name.starts_with(prefix) && !fires_ours) continue;
      DP_RETURN_IF_ERROR(Delete(kTriggersPath, "trigger", IdOf(t), name, &changes));
    }
    for (const auto& [id, name] : ours) DP_RETURN_IF_ERROR(Delete(kWebhooksPath, "webhook", id, name, &changes));
    return changes;
  }

 private:
  std::string WebhookName() const { return "deskpilot-" + options_.source; }
  // A space and parentheses, which a source name cannot hold, so that no other source's
  // main webhook can be named like this one's approval webhook.
  std::string ApprovalWebhookName() const { return WebhookName() + " (approval tag)"; }
  std::string TriggerPrefix() const { return WebhookName() + ": "; }
  bool IsOurs(const std::string& name) const { return name == WebhookName() || name == ApprovalWebhookName(); }

  // Deletes the trigger or webhook `id` (`path`: kTriggersPath or kWebhooksPath) and records it.
  Status Delete(const char* path, const char* kind, const std::string& id, const std::string& name,
                std::vector<WebhookChange>* changes) {
    DP_RETURN_IF_ERROR(Call("DELETE", std::string(path) + "/" + id, nullptr, true,
                            std::string("zammad delete ") + kind + " " + id)
                           .status());
    changes->push_back({"deleted", kind, id, name});
    return Status::Ok();
  }

  // Zammad lists the Signature Token masked, so a changed token could not be seen and the
  // webhook would keep signing with the old one: every delivery would then fail
  // verification. The note carries a fingerprint of the token instead, which register
  // compares: a new token changes the note and the webhook is put back with it. 48 bits
  // of an HMAC keyed with the token say nothing usable about a random token, and the note
  // is shown only to Zammad admins, who manage the webhook anyway.
  std::string WebhookNote() const {
    const std::string fingerprint =
        HexEncode(HmacSha256(options_.signature_token, "deskpilot webhook token fingerprint")).substr(0, 12);
    return "Managed by deskpilot webhook register (source " + options_.source + "; token " + fingerprint + ").";
  }

  std::vector<WebhookSpec> WebhookSpecs(const std::string& endpoint) const {
    // Attributes as the Webhook model and its admin form name them (app/models/webhook.rb,
    // app/assets/javascripts/app/models/webhook.coffee in zammad/zammad). The signature
    // token is the configured one: Zammad lets the caller set it, so deliveries verify
    // with what deskpilot already has and nothing new needs storing.
    const json common = {{"endpoint", endpoint},
                         {"signature_token", options_.signature_token},
                         {"ssl_verify", true},
                         {"active", true},
                         {"note", WebhookNote()}};
    json plain = common;
    plain["name"] = WebhookName();
    // Zammad's default {"ticket":…,"article":…} payload, which ParseWebhook reads.
    plain["customized_payload"] = false;
    plain["custom_payload"] = nullptr;
    std::vector<WebhookSpec> specs = {{WebhookName(), plain}};
    if (!options_.approval_tag.empty()) {
      // The approval trigger fires this webhook, whose body carries the marker: the
      // signature covers it, unlike the X-Zammad-Trigger header, which anyone relaying a
      // signed body could change. Only id variables: Zammad writes a variable that fills
      // a whole JSON string as the value's to_json (an integer here) and escapes string
      // values only partly (TriggerWebhookJob::CustomPayload::Parser#replace), so no
      // ticket text goes in. custom_payload is kept only with customized_payload true
      // (Webhook#reset_custom_payload).
      json approval = common;
      approval["name"] = ApprovalWebhookName();
      approval["customized_payload"] = true;
      approval["custom_payload"] = json{{kZammadMarkerMember, kZammadApprovalMarker},
                                        {"ticket", {{"id", "#{ticket.id}"}, {"updated_by_id", "#{ticket.updated_by_id}"}}}}
                                       .dump();
      specs.push_back({ApprovalWebhookName(), approval});
    }
    return specs;
  }

  // Conditions in Zammad's selector syntax: 'ticket.action' is create|update and
  // 'article.sender_id' is <id> as in db/seeds/triggers.rb; 'ticket.tags' "contains one"
  // with a comma-separated value and "is not" + pre_condition "specific" + an id list as
  // in the selector documentation of app/models/ticket.rb (selector2sql); activator
  // action|time and execution_condition_mode selective|always as validated in
  // app/models/trigger.rb (all zammad/zammad).
  std::vector<TriggerSpec> TriggerSpecs() const {
    const std::string prefix = TriggerPrefix();
    std::vector<TriggerSpec> specs = {
        {prefix + "ticket created", {{"ticket.action", {{"operator", "is"}, {"value", "create"}}}}, "selective",
         WebhookName()},
        // A customer's article: deskpilot writes as an agent (sender Agent), so its own
        // notes and replies never fire this.
        {prefix + "customer article",
         {{"ticket.action", {{"operator", "is"}, {"value", "update"}}},
          {"article.sender_id", {{"operator", "is"}, {"value", json::array({kCustomerSenderId})}}}},
         "selective", WebhookName()},
    };
    if (!options_.approval_tag.empty()) {
      // "always": every update while the tag is on, whether or not Zammad counts a tag
      // change as a change of the condition's attributes in selective mode (unconfirmed).
      // The worker treats these deliveries as approvals only and checks the tag itself.
      // deskpilot's own updates are left out here (the adapter would drop them as
      // self-caused anyway).
      specs.push_back({prefix + kApprovalTriggerSuffix,
                       {{"ticket.action", {{"operator", "is"}, {"value", "update"}}},
                        {"ticket.tags", {{"operator", "contains one"}, {"value", options_.approval_tag}}},
                        {"ticket.updated_by_id",
                         {{"operator", "is not"},
                          {"pre_condition", "specific"},
                          {"value", json::array({options_.api_user_id})}}}},
                       "always", ApprovalWebhookName()});
    }
    return specs;
  }

  json DesiredTrigger(const TriggerSpec& spec, const std::string& webhook_id) const {
    return {{"name", spec.name},
            {"condition", spec.condition},
            // The id as a string, as the admin UI and Zammad's own specs send it.
            {"perform", {{"notification.webhook", {{"webhook_id", webhook_id}}}}},
            {"activator", "action"},
            {"execution_condition_mode", spec.execution_condition_mode},
            {"active", true},
            {"note", "Managed by deskpilot webhook register (source " + options_.source + ")."}};
  }

  static bool WebhookMatches(const json& have, const json& want) {
    // signature_token is not compared: Zammad does not hand it back (vendors.md). The
    // note's token fingerprint (WebhookNote) stands for it.
    for (const char* key : {"endpoint", "ssl_verify", "active", "customized_payload", "note"})
      if (!have.contains(key) || have[key] != want[key]) return false;
    if (!IsTrue(want, "customized_payload")) return true;
    // Compared as JSON: Zammad may store the text re-serialised.
    const json h = json::parse(JsonString(have, "custom_payload"), nullptr, false);
    return !h.is_discarded() && h == json::parse(want["custom_payload"].get<std::string>());
  }

  static bool TriggerMatches(const json& have, const json& want) {
    if (!IsTrue(have, "active") || JsonString(have, "activator") != JsonString(want, "activator") ||
        JsonString(have, "execution_condition_mode") != JsonString(want, "execution_condition_mode"))
      return false;
    if (FiredWebhook(have) != FiredWebhook(want)) return false;
    // The action is the webhook and nothing else (an added e-mail action is put back).
    if (!have.contains("perform") || !have["perform"].is_object() || have["perform"].size() != 1) return false;
    return have.contains("condition") && AsText(have["condition"]) == AsText(want["condition"]);
  }

  static const json* Find(const std::vector<json>& list, const std::string& name) {
    for (const json& item : list)
      if (JsonString(item, "name") == name) return &item;
    return nullptr;
  }

  Result<std::vector<json>> List(const std::string& path, const std::string& what) {
    DP_ASSIGN_OR_RETURN(json list, Call("GET", path, nullptr, true, what));
    if (!list.is_array()) return Status::InvalidArgument(what + ": the answer is not a JSON array");
    return std::vector<json>(list.begin(), list.end());
  }

  Result<json> Call(const std::string& method, const std::string& path, const json* body, bool retry,
                    const std::string& what) {
    auto result = call_(method, path, body, retry, what);
    if (!result.ok()) return Explain(result.status());
    return result;
  }

  ZammadAdminOptions options_;
  ZammadApiCall call_;
};

}  // namespace

std::unique_ptr<WebhookAdmin> NewZammadWebhookAdmin(ZammadAdminOptions options, ZammadApiCall call) {
  return std::make_unique<ZammadWebhookAdmin>(std::move(options), std::move(call));
}

}  // namespace deskpilot
