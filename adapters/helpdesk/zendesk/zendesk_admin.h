// Webhook administration for `deskpilot webhook register|list|remove`: one webhook per
// configured source ("deskpilot-<source>") plus the triggers that feed it ticket
// creations and customer comments. Every operation is idempotent.
#pragma once

#include <string>
#include <vector>

#include "deskpilot/http_client.h"
#include "deskpilot/status.h"
#include "helpdesk/zendesk/zendesk_api.h"

namespace deskpilot {

// What an operation did to one object: "created", "updated", "unchanged" or "deleted".
struct ZendeskChange {
  std::string kind;  // "webhook" | "trigger"
  std::string id;
  std::string name;
  std::string action;
};

struct ZendeskRegistration {
  std::string webhook_id;
  std::string endpoint;
  std::string signing_secret;  // for the admin to store as webhook_secret_*
  std::vector<ZendeskChange> changes;
};

struct ZendeskWebhookInfo {
  std::string id;
  std::string name;
  std::string endpoint;
  std::string status;
  bool ours = false;  // named deskpilot-<this source>
  std::vector<std::string> triggers;  // titles of triggers that notify it
};

// "deskpilot-<source>"
std::string ZendeskWebhookName(const std::string& source);
// The JSON body the trigger sends for `event` ("ticket.created", "ticket.comment_added"),
// as Zendesk placeholders; ParseWebhook reads exactly these keys.
std::string ZendeskTriggerBody(const std::string& event);

// Creates or updates the webhook (POST to `endpoint`, JSON) and its two triggers
// ("ticket created"; "customer comment added": a public comment by an end user, so
// deskpilot's own notes and replies never fire it). Unchanged objects are left alone.
Result<ZendeskRegistration> RegisterZendeskWebhook(ZendeskApi& api, const std::string& endpoint);
// Every webhook on the account, with the triggers that notify each.
Result<std::vector<ZendeskWebhookInfo>> ListZendeskWebhooks(ZendeskApi& api);
// Deletes this source's triggers, then its webhook. Nothing to delete is not an error.
Result<std::vector<ZendeskChange>> RemoveZendeskWebhook(ZendeskApi& api);

}  // namespace deskpilot
