// The "zendesk" helpdesk adapter: Zendesk Support's signed webhooks (event
// subscriptions and the trigger body `deskpilot webhook register` installs), the
// ticket and comments APIs for reads, and one combined ticket update for write-back.
#pragma once

#include <chrono>
#include <memory>

#include "deskpilot/helpdesk.h"
#include "deskpilot/http_client.h"
#include "helpdesk/zendesk/zendesk_api.h"

namespace deskpilot {

// The line every deskpilot internal note ends with (Policy::MarkerLine); finding it on
// the ticket proves that event's write-back landed.
inline constexpr char kZendeskMarkerPrefix[] = "deskpilot-ref: ";

// Zendesk refuses more than 30 updates of one ticket by one user in 10 minutes. The
// adapter counts its own updates in that window (the comments its user left) and
// reschedules the write-back instead of running into the refusal.
inline constexpr int kZendeskTicketUpdateCap = 30;
inline constexpr std::chrono::minutes kZendeskTicketUpdateWindow{10};

// `http` is not owned and must outlive the adapter.
std::unique_ptr<Helpdesk> NewZendeskHelpdesk(ZendeskOptions options, HttpClient* http);

}  // namespace deskpilot
