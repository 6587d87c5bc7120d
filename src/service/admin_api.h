// The admin API under /api/v1 on the webhook listener: jobs, a ticket's triage and audit
// trail, requeueing dead letters and approving pending drafts. Served only when
// [admin] token_env / token_file is configured; every request needs
// "Authorization: Bearer <token>" (compared in constant time), anything else is 401.
// An address that keeps presenting wrong tokens is made to wait (429, AuthThrottle).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "deskpilot/store.h"
#include "service/components.h"

namespace httplib {
class Server;
}

namespace deskpilot {

// Wrong bearer tokens per peer address, so that the admin token cannot be guessed at line
// rate. After kFreeFailures in a row an address waits 1 s, then twice as long after each
// further failure, up to kMaxWaitMs; while it waits its requests are answered 429 without
// the token being compared. A success clears its count. At most kMaxPeers addresses are
// remembered (the one idle longest is forgotten first), so a flood of addresses costs
// bounded memory. Times are passed in, for tests.
class AuthThrottle {
 public:
  static constexpr int kFreeFailures = 10;
  static constexpr int64_t kMaxWaitMs = 60'000;
  static constexpr size_t kMaxPeers = 4096;

  // How long `peer` must still wait before its token is compared; 0: compare it now.
  int64_t WaitMs(const std::string& peer, int64_t now_ms);
  // Returns the wait it now imposes (0 while the address is within its free failures).
  int64_t Failed(const std::string& peer, int64_t now_ms);
  void Succeeded(const std::string& peer);
  size_t size();

 private:
  struct Peer {
    int failures = 0;
    int64_t last_ms = 0;
    int64_t blocked_until_ms = 0;
  };
  std::mutex mu_;
  std::unordered_map<std::string, Peer> peers_;  // guarded by mu_
};

// Registers every /api/v1 route (and 401/404/405 answers for the rest of /api/v1) on
// `server`. `requeued` is called after a dead letter was put back (wakes the workers).
// `c` must outlive the server.
void RegisterAdminApi(httplib::Server& server, Components* c, std::function<void()> requeued);

// JSON views shared with `deskpilot jobs` and `deskpilot audit show`. A job's payload is
// the raw webhook body: only its size is shown, never the unredacted customer text.
nlohmann::json JobToJson(const Job& job);
nlohmann::json AuditRowToJson(const AuditRow& row);

}  // namespace deskpilot
