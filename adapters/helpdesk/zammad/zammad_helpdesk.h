// The "zammad" helpdesk adapter: Zammad's webhooks (the default {"ticket","article"}
// payload, signed with X-Hub-Signature), the REST API v1 for reads (ticket, articles,
// tags, customer) and for write-back (tags, ticket fields, internal note, public reply).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "deskpilot/config.h"
#include "deskpilot/helpdesk.h"
#include "deskpilot/http_client.h"

namespace deskpilot {

// The line every deskpilot internal note ends with (Policy::MarkerLine); finding it in
// an internal article proves that event's note landed.
inline constexpr char kZammadMarkerPrefix[] = "deskpilot-ref: ";

struct ZammadOptions {
  std::string name;      // configured helpdesk name (dedupe keys, Ticket::source)
  std::string base_url;  // https://desk.example.com (or http://127.0.0.1:PORT in tests)
  std::string api_token;  // an access token: "Authorization: Token token=<api_token>"
  std::string signature_token;  // the webhook's Signature Token (HMAC-SHA1 key)
  std::chrono::milliseconds request_timeout{10000};
  // The numeric id of the user the token belongs to: its events are deskpilot's own
  // (loop guard) and its articles are marked by_deskpilot.
  std::string api_user_id;
  // deskpilot priority (low | normal | high | urgent) → Zammad priority name. Zammad's
  // defaults have no urgent; a desk that added one maps it here.
  std::map<std::string, std::string> priorities = {
      {"low", "1 low"}, {"normal", "2 normal"}, {"high", "3 high"}, {"urgent", "3 high"}};
  std::map<std::string, std::string> groups;  // WritePlan group name → Zammad group name
  // The locale `kb sync` labels the knowledge base's primary language with (e.g. "en-us");
  // empty: no knowledge base to sync.
  std::string kb_locale;
  // policy.approval_tag (AdapterContext::approval_tag; empty: approval by tag is off):
  // `webhook register` adds the approval webhook and trigger for it.
  std::string approval_tag;
  RetryPolicy retry;
  Sleeper sleep;  // empty = really sleep (tests inject a recorder)
};

// Reads: base_url (required), api_token_env/_file (required), signature_token_env/_file
// (required, non-empty), api_user_id (required, numeric), request_timeout_ms (10000),
// kb_locale (""), [priorities] (deskpilot priority → Zammad name) and [groups] (name →
// Zammad group name).
// InvalidArgument lists every problem.
Result<ZammadOptions> ZammadOptionsFromConfig(ConfigSection& section, const std::string& name);

// `http` is not owned and must outlive the adapter.
std::unique_ptr<Helpdesk> NewZammadHelpdesk(ZammadOptions options, HttpClient* http);

}  // namespace deskpilot
