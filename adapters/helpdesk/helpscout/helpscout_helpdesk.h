// The "helpscout" helpdesk adapter: Help Scout's webhooks (the v2 Conversation object,
// X-HelpScout-Event + X-HelpScout-Signature), the Mailbox API 2.0 with an OAuth2
// client-credentials token for reads (conversation, threads) and write-back (note, tags,
// custom fields, assignment or inbox move, public reply); closed conversations for
// training; and the Docs API (its own key, HTTP Basic) for the knowledge base.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "deskpilot/config.h"
#include "deskpilot/helpdesk.h"
#include "deskpilot/http_client.h"

namespace deskpilot {

// The line every deskpilot internal note ends with (Policy::MarkerLine); finding it in a
// note proves that plan's note landed.
inline constexpr char kHelpScoutMarkerPrefix[] = "deskpilot-ref: ";
// Help Scout accepts a webhook secret of at most this many characters.
inline constexpr size_t kHelpScoutMaxSecretChars = 40;

struct HelpScoutOptions {
  std::string name;  // configured helpdesk name (dedupe keys, Ticket::source)
  // Without /v2: https://api.helpscout.net (or http://127.0.0.1:PORT in tests).
  std::string base_url = "https://api.helpscout.net";
  std::string app_id;      // the OAuth2 app's App ID (client_id)
  std::string app_secret;  // its App Secret (client_secret)
  std::string webhook_secret;  // the webhook's secret key (HMAC-SHA1 key), 1..40 chars
  // The numeric id of the Help Scout user the app belongs to: threads it created are
  // deskpilot's (loop guard, by_deskpilot).
  std::string api_user_id;
  std::chrono::milliseconds request_timeout{10000};
  // Help Scout has no priority field: deskpilot's priority is written as this prefix +
  // the priority ("priority-high").
  std::string priority_tag_prefix = "priority-";
  // WritePlan group name → a Help Scout user id to assign the conversation to, or an
  // inbox (mailbox) id to move it to. A group in neither is only named in the note.
  std::map<std::string, std::string> assign_users;
  std::map<std::string, std::string> mailboxes;
  // WritePlan custom field name → Help Scout custom field id. A field not listed is
  // only named in the note. A drop-down field's value is written as the option whose
  // label it names (the mailbox's field definitions, read at most every 10 minutes).
  std::map<std::string, std::string> custom_fields;
  // The policy's approval tag (AdapterContext::approval_tag): a convo.tags delivery that
  // leaves it on the conversation is queued, so the worker can post the approved draft;
  // other tag changes are acknowledged and dropped. Empty: every tag change is dropped,
  // and `webhook register` does not subscribe to convo.tags.
  std::string approval_tag;
  // Help Scout Docs, a separate API with its own key. Empty: `kb sync` is refused with a
  // message naming docs_api_key_env/_file.
  std::string docs_api_key;
  std::string docs_base_url = "https://docsapi.helpscout.net";  // without /v1
  // Docs collection ids to sync; empty = every public collection.
  std::vector<std::string> docs_collections;
  // The locale the articles are synced as: Docs has no locales, a site has one language.
  std::string kb_locale = "en";
  RetryPolicy retry;
  Sleeper sleep;  // empty = really sleep (tests inject a recorder)
  // For the token's expiry; empty = the system clock (tests inject one).
  std::function<std::chrono::system_clock::time_point()> clock;
};

// Reads: base_url (https://api.helpscout.net), app_id (required), app_secret_env/_file
// (required), webhook_secret_env/_file (1..40 chars; required unless !require_webhook_secret:
// `webhook register` runs before the admin has the secret), api_user_id (required,
// numeric), request_timeout_ms (10000), priority_tag_prefix ("priority-"),
// [assign_users] and [mailboxes] (group name → numeric id; a name in both is an error),
// [custom_fields] (name → numeric field id), docs_api_key_env/_file (optional: only
// `kb sync` needs it, so an unset variable or missing file reads as none),
// docs_base_url (https://docsapi.helpscout.net), docs_collections (collection ids),
// kb_locale ("en"). InvalidArgument lists every problem.
Result<HelpScoutOptions> HelpScoutOptionsFromConfig(ConfigSection& section, const std::string& name,
                                                    bool require_webhook_secret = true);

// `http` is not owned and must outlive the adapter.
std::unique_ptr<Helpdesk> NewHelpScoutHelpdesk(HelpScoutOptions options, HttpClient* http);

}  // namespace deskpilot
