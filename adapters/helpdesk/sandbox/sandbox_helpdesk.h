// The "sandbox" helpdesk adapter: speaks to a SandboxServer (or anything with the
// same API) only over HTTP, the way every vendor adapter speaks to its vendor.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "deskpilot/config.h"
#include "deskpilot/helpdesk.h"
#include "deskpilot/http_client.h"
#include "helpdesk/sandbox/sandbox_server.h"

namespace deskpilot {

struct SandboxHelpdeskOptions {
  std::string name;            // configured helpdesk name (dedupe keys, Ticket::source)
  std::string base_url;        // e.g. http://127.0.0.1:8081 (no trailing /api)
  std::string api_token;
  std::string webhook_secret;
  std::chrono::seconds signature_tolerance{300};
  std::chrono::milliseconds request_timeout{10000};
  std::string api_user_id = kSandboxApiUserId;
  RetryPolicy retry;
};

// Reads the adapter's keys from its [[helpdesk]] section: base_url (required),
// api_token_env/_file, webhook_secret_env/_file (both required),
// signature_tolerance_seconds (300), request_timeout_ms (10000), api_user_id
// ("deskpilot-api"); `name` and `type` are marked read. InvalidArgument lists problems.
Result<SandboxHelpdeskOptions> SandboxHelpdeskOptionsFromConfig(ConfigSection& section,
                                                                const std::string& name);

// `http` is not owned and must outlive the adapter.
std::unique_ptr<Helpdesk> NewSandboxHelpdesk(SandboxHelpdeskOptions options, HttpClient* http);

}  // namespace deskpilot
