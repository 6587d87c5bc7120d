// The helpdesk adapter: everything deskpilot knows about one vendor lives behind this.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <string_view>

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
};

}  // namespace deskpilot
