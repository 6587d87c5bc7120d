// The helpdesk adapter: everything deskpilot knows about one vendor lives behind this.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "deskpilot/status.h"
#include "deskpilot/types.h"

namespace deskpilot {

struct WebhookRequest {
  std::string_view body;                      // raw bytes, exactly as received
  std::map<std::string, std::string> headers; // names lower-cased
  std::chrono::system_clock::time_point now;  // for timestamp windows
};

struct WebhookEvent {
  std::string dedupe_key;  // vendor event/delivery id, or a hash of the body
  std::string ticket_id;
  std::string event_type;  // e.g. ticket.created, ticket.comment_added
  // The event was caused by deskpilot's own write-back (its API user or marker):
  // acknowledged, never processed (loop guard).
  bool self_caused = false;
  // Set when the delivery is one the vendor sends but that should not start triage (an
  // event type deskpilot does not act on): acknowledged with this reason, never queued.
  // A 4xx would make the vendor retry, and some disable a webhook that keeps failing.
  std::string ignore_reason;
};

// WebhookEvent::event_type of a delivery that can only approve a pending draft: an agent
// added the policy's approval tag (AdapterContext::approval_tag), and the desk reports that
// apart from the customer's messages. The worker posts the draft when one is pending and
// never triages on it: the ticket has nothing new from the customer, and the tag stays on
// it, so later deliveries of this kind would otherwise each add a note.
inline constexpr char kApprovalTagEvent[] = "deskpilot.approval_tag";

// One knowledge-base article as the help desk publishes it in one locale.
struct HelpArticle {
  std::string id;         // the vendor's article id
  std::string locale;     // e.g. "en-us"
  std::string title;
  std::string body_html;  // as stored by the vendor; the KB turns it into text
  std::string url;        // the public page (what a cited source links to)
  std::string updated_at; // RFC 3339
  bool draft = false;     // unpublished in this locale: never a source
};

// What a webhook administration call did to one object on the help desk.
struct WebhookChange {
  std::string action;  // "created" | "updated" | "unchanged" | "deleted"
  std::string kind;    // the object, in the desk's own words: "webhook", "trigger", ...
  std::string id;
  std::string name;
};

struct WebhookRegistration {
  std::string endpoint;  // where the help desk now delivers
  // The secret the deliveries are signed with, for the admin to store as
  // webhook_secret_env/_file. Empty when the webhook already existed and the desk does not
  // hand out an existing webhook's secret: the configured one stays valid.
  std::string signing_secret;
  std::vector<WebhookChange> changes;
  // The desk signs with the secret deskpilot is already configured with (the desk lets
  // register set it), so there is nothing new to store and nothing was lost.
  bool signed_with_configured_secret = false;
};

struct WebhookInfo {
  std::string id;
  std::string name;
  std::string endpoint;
  std::string status;
  bool ours = false;                 // it feeds this source's endpoint
  std::vector<std::string> details;  // extra lines to show, e.g. the rules that fire it
};

// `deskpilot webhook register|list|remove`: setting up the desk's webhook through its API.
// A separate interface rather than more defaulted methods on Helpdesk, so that a desk
// without it is known before any call (Helpdesk::webhook_admin() is null) and a vendor's
// own refusal is never read as "this desk cannot do that".
class WebhookAdmin {
 public:
  virtual ~WebhookAdmin() = default;
  // Creates or updates what makes the desk POST ticket creations and customer replies to
  // `endpoint` (this source's /webhooks/<name> URL). Idempotent: a second run changes
  // nothing.
  virtual Result<WebhookRegistration> RegisterWebhook(const std::string& endpoint) = 0;
  // Every webhook on the account, this source's marked.
  virtual Result<std::vector<WebhookInfo>> ListWebhooks() = 0;
  // Deletes this source's webhook (and what fires it). Nothing to delete is not an error.
  virtual Result<std::vector<WebhookChange>> RemoveWebhook() = 0;
};

class Helpdesk {
 public:
  virtual ~Helpdesk() = default;
  virtual std::string_view type() const = 0;

  // Authenticity on the raw body, constant-time compare. kUnauthenticated when the
  // signature is bad, missing, or its timestamp is outside the allowed window.
  virtual Status VerifyWebhook(const WebhookRequest& request) const = 0;
  // Parses a verified body. kInvalidArgument when malformed. Must not call the vendor.
  virtual Result<WebhookEvent> ParseWebhook(const WebhookRequest& request) const = 0;

  // Reads the ticket's current state and comments (webhooks arrive late and out of
  // order, so the worker always acts on this, never on the webhook body).
  // kNotFound for a deleted ticket.
  virtual Result<Ticket> FetchTicket(const std::string& ticket_id) = 0;

  // Applies the plan in as few vendor calls as possible; idempotent for the same
  // plan.idempotency_key. Retries transient failures itself; returns retryable
  // errors (with retry_after) when its budget runs out.
  virtual Status Apply(const Ticket& ticket, const WritePlan& plan) = 0;

  // Null when the desk's webhook cannot be set up through its API (its README says how
  // to set it up by hand). Owned by the help desk.
  virtual WebhookAdmin* webhook_admin() { return nullptr; }

  // --- Optional capabilities (knowledge sync, training from history). A help desk
  // that lacks one answers kFailedPrecondition, so callers stay vendor-free. ---

  // The locales whose articles `kb sync` pulls when none is named (from the config).
  virtual std::vector<std::string> ArticleLocales() const { return {}; }

  // Articles of `locale`, drafts included (flagged), updated at or after
  // `updated_since` (every live article when nullopt). Archived or deleted articles
  // are not listed: a full listing is how their absence is noticed.
  virtual Result<std::vector<HelpArticle>> ListArticles(
      const std::string& locale, std::optional<std::chrono::system_clock::time_point> updated_since) {
    (void)locale;
    (void)updated_since;
    return Status::FailedPrecondition(std::string(type()) + " help desk cannot list knowledge-base articles");
  }

  // Solved and closed tickets updated at or after `updated_since`, at most `limit`,
  // newest first. With `with_comments` each carries its comments (as FetchTicket
  // reads them); without, only the ticket fields (subject, description, tags, custom
  // fields), which costs one call per page instead of one more per ticket.
  virtual Result<std::vector<Ticket>> ListSolvedTickets(std::chrono::system_clock::time_point updated_since,
                                                        int limit, bool with_comments) {
    (void)updated_since;
    (void)limit;
    (void)with_comments;
    return Status::FailedPrecondition(std::string(type()) + " help desk cannot list solved tickets");
  }
};

}  // namespace deskpilot
