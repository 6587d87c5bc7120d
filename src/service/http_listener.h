// cpp-httplib's server with limits it lacks at run time (Debian ships it as a compiled
// library, so its CPPHTTPLIB_* limits are fixed; performance.md). Its own connection loop
// times out each read, not a request: a client trickling a byte every few seconds holds
// a pool thread forever, and a chunked or length-less body is buffered without bound.
// This subclass runs the connection loop itself over a stream that gives every request
// a total deadline and a byte budget (headers + body), and can close a connection after
// a response whose request body was left unread (413, 415).
#pragma once

#include <chrono>
#include <cstddef>

#include <httplib.h>

namespace deskpilot {

struct ListenerLimits {
  // Request line + headers + body must arrive within this, from the request's first byte.
  std::chrono::milliseconds request_timeout{15000};
  // Bytes one request may send in total: the body cap plus this much for the head.
  size_t max_body_bytes = 1 << 20;
  size_t max_head_bytes = 64 * 1024;
};

class GuardedHttpServer : public httplib::Server {
 public:
  explicit GuardedHttpServer(ListenerLimits limits);

  // After bind_to_port / bind_to_any_port: raises the listen backlog, which Debian's build
  // compiles in as 5 — a burst of new connections (64 senders at once in bench/) overflowed
  // it, and each dropped SYN costs the sender a 1 s retransmit (performance.md, finding 4).
  // Linux applies a second listen() on a listening socket as a new backlog.
  void RaiseListenBacklog(int backlog);

  // From a handler on this server: close the connection once the response is written
  // (its request body was not read, so the bytes that follow are not a next request).
  static void CloseAfterResponse();

 private:
  // Overrides httplib's private per-connection loop (called through its vtable).
  bool process_and_close_socket(socket_t sock) override;
  bool WaitForRequest(socket_t sock, bool buffered) const;

  ListenerLimits limits_;
  int listen_fd_ = -1;  // the listening socket, seen through httplib's socket-options hook
};

}  // namespace deskpilot
