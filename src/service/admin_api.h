// The admin API under /api/v1 on the webhook listener: jobs, a ticket's triage and audit
// trail, requeueing dead letters and approving pending drafts. Served only when
// [admin] token_env / token_file is configured; every request needs
// "Authorization: Bearer <token>" (compared in constant time), anything else is 401.
#pragma once

#include <functional>

#include <nlohmann/json.hpp>

#include "deskpilot/store.h"
#include "service/components.h"

namespace httplib {
class Server;
}

namespace deskpilot {

// Registers every /api/v1 route (and 401/404/405 answers for the rest of /api/v1) on
// `server`. `requeued` is called after a dead letter was put back (wakes the workers).
// `c` must outlive the server.
void RegisterAdminApi(httplib::Server& server, Components* c, std::function<void()> requeued);

// JSON views shared with `deskpilot jobs` and `deskpilot audit show`. A job's payload is
// the raw webhook body: only its size is shown, never the unredacted customer text.
nlohmann::json JobToJson(const Job& job);
nlohmann::json AuditRowToJson(const AuditRow& row);

}  // namespace deskpilot
