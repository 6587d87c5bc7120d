// The sandbox help desk: a small local vendor (REST API + signed webhooks + SQLite)
// that behaves like Zendesk closely enough for `deskpilot demo` and the tests. The
// sandbox adapter talks to it only over HTTP, exactly as a vendor adapter would.
// The API is documented in README.md next to this file.
#pragma once

#include <memory>
#include <string>

#include "deskpilot/status.h"

namespace deskpilot {

// The user the API token belongs to: comments written through PUT /api/tickets/{id}
// carry this author_id, which the adapter uses for its loop guard.
inline constexpr char kSandboxApiUserId[] = "deskpilot-api";

struct SandboxOptions {
  std::string db_path;            // SQLite file for tickets/comments (its own file, not deskpilot's)
  std::string host = "127.0.0.1";
  int port = 0;                   // 0 = pick a free port
  std::string webhook_url;        // where to POST events; empty = don't send
  std::string webhook_secret;     // HMAC key for outgoing webhooks
  std::string api_token;          // required as "Authorization: Bearer <token>" on /api/*
};

class SandboxServer {
 public:
  explicit SandboxServer(SandboxOptions options);
  ~SandboxServer();  // stops
  SandboxServer(const SandboxServer&) = delete;
  SandboxServer& operator=(const SandboxServer&) = delete;

  // Opens the DB, binds, serves on a background thread; port() is valid after.
  // InvalidArgument for an empty api_token or db_path, Unavailable when the bind fails.
  Status Start();
  int port() const;
  // Stops serving and delivering; queued webhooks that were not sent are dropped.
  void Stop();
  void SetWebhookUrl(const std::string& url);  // thread-safe; applies to later events
  // Waits until every queued webhook delivery has been attempted (for tests/demo).
  void FlushWebhooks();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace deskpilot
