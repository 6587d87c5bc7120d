// The "generic" helpdesk adapter: a small documented JSON contract (README.md) that an
// in-house help desk implements to get deskpilot without a vendor-specific adapter.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "deskpilot/config.h"
#include "deskpilot/helpdesk.h"
#include "deskpilot/http_client.h"

namespace deskpilot {

struct GenericHelpdeskOptions {
  std::string name;            // configured helpdesk name (dedupe keys, Ticket::source)
  std::string base_url;        // GET {base_url}/tickets/{id}, POST {base_url}/tickets/{id}/actions
  std::string api_token;
  std::string webhook_secret;
  std::chrono::seconds signature_tolerance{300};
  std::chrono::milliseconds request_timeout{10000};
  // The desk's user id for deskpilot's own writes; "" disables author-based loop
  // detection (the desk then has to avoid echoing deskpilot's actions as webhooks).
  std::string api_user_id;
  RetryPolicy retry;
};

// Reads base_url (required), api_token_env/_file, webhook_secret_env/_file (required),
// signature_tolerance_seconds (300), request_timeout_ms (10000), api_user_id ("");
// `name` and `type` are marked read. InvalidArgument lists every problem.
Result<GenericHelpdeskOptions> GenericHelpdeskOptionsFromConfig(ConfigSection& section,
                                                                const std::string& name);

// `http` is not owned and must outlive the adapter.
std::unique_ptr<Helpdesk> NewGenericHelpdesk(GenericHelpdeskOptions options, HttpClient* http);

}  // namespace deskpilot
