// `deskpilot webhook register|list|remove` for Zammad: the webhook object that feeds this
// source's endpoint with Zammad's default payload, the triggers that fire it (ticket
// created; a customer's article on an update) and, when the policy approves drafts by
// tag, a second webhook with a signed approval marker and the trigger for the tag.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "deskpilot/helpdesk.h"
#include "deskpilot/status.h"

namespace deskpilot {

// The top-level member and value the approval webhook's custom payload carries. It sits
// in the signed body (X-Hub-Signature covers it, X-Zammad-Trigger does not), and Zammad's
// default payload has only "ticket" and "article" at the top, so no ticket text can put
// it there.
inline constexpr char kZammadMarkerMember[] = "deskpilot_event";
inline constexpr char kZammadApprovalMarker[] = "approval_tag";

// One call to the Zammad API: the response body as JSON (null for an empty body).
// `body` null: no request body. `retry`: false for a POST that creates something, so a
// lost answer cannot create it twice (the command is rerun instead, idempotently).
using ZammadApiCall = std::function<Result<nlohmann::json>(const std::string& method, const std::string& path,
                                                           const nlohmann::json* body, bool retry,
                                                           const std::string& what)>;

struct ZammadAdminOptions {
  std::string source;           // the configured helpdesk name
  std::string signature_token;  // the configured HMAC key, set on the webhooks
  std::string api_user_id;      // deskpilot's own updates never fire the approval trigger
  std::string approval_tag;     // policy.approval_tag; empty: no approval webhook/trigger
};

std::unique_ptr<WebhookAdmin> NewZammadWebhookAdmin(ZammadAdminOptions options, ZammadApiCall call);

}  // namespace deskpilot
