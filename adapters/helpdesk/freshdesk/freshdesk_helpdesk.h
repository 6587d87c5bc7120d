// The "freshdesk" helpdesk adapter: deliveries from an automation rule's "Trigger
// Webhook" action (a JSON body the admin pastes, authenticated by a shared secret in a
// custom header or as the Basic-auth password: Freshdesk signs nothing), the REST API v2
// for reads (ticket with requester, conversations) and for write-back (tags merged into
// the ticket's set, priority, group, custom fields, private note, reply).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "deskpilot/config.h"
#include "deskpilot/helpdesk.h"
#include "deskpilot/http_client.h"

namespace deskpilot {

// The line every deskpilot private note ends with (Policy::MarkerLine); finding it in a
// private note proves that event's note landed.
inline constexpr char kFreshdeskMarkerPrefix[] = "deskpilot-ref: ";

// A shorter shared secret is refused at config load: it is the only thing standing
// between the internet and the queue.
inline constexpr size_t kFreshdeskMinSecretBytes = 16;

struct FreshdeskOptions {
  std::string name;      // configured helpdesk name (dedupe keys, Ticket::source)
  std::string base_url;  // https://acme.freshdesk.com (or http://127.0.0.1:PORT in tests)
  std::string api_key;   // HTTP Basic: the key as user name, "X" as password
  // The shared secret the rule sends, in `webhook_header` or as the Basic-auth password.
  std::string webhook_secret;
  std::string webhook_header = "X-Deskpilot-Token";
  std::chrono::milliseconds request_timeout{10000};
  // The numeric id of the agent the API key belongs to: its conversations are
  // deskpilot's (loop guard) and a reply of its is recognised when a retry comes.
  std::string api_agent_id;
  std::map<std::string, int64_t> groups;  // WritePlan group name → Freshdesk group_id
  // The locale label of the portal's primary language for `kb sync` ("" = no KB sync).
  std::string kb_locale;
  RetryPolicy retry;
  Sleeper sleep;  // empty = really sleep (tests inject a recorder)
};

// Reads: base_url (required), api_key_env/_file (required), webhook_secret_env/_file
// (required, at least kFreshdeskMinSecretBytes), webhook_header ("X-Deskpilot-Token"),
// api_agent_id (required, numeric), request_timeout_ms (10000), kb_locale ("") and
// [groups] (name → numeric group id). InvalidArgument lists every problem.
Result<FreshdeskOptions> FreshdeskOptionsFromConfig(ConfigSection& section, const std::string& name);

// `http` is not owned and must outlive the adapter.
std::unique_ptr<Helpdesk> NewFreshdeskHelpdesk(FreshdeskOptions options, HttpClient* http);

}  // namespace deskpilot
