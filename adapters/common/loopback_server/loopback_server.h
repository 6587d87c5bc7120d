// How deskpilot's own loopback HTTP servers (the sandbox help desk, the vendor and model
// fakes, test receivers) use Debian's cpp-httplib 0.11. Header only: two settings.
#pragma once

#include <sys/socket.h>

#include <memory>
#include <string>

#include <httplib.h>

namespace deskpilot {

// One request per connection, with 2 s for it to arrive.
//
// httplib's stop() joins every connection thread, and a thread waits out the keep-alive
// timeout between requests, so one kept-alive curl client held each stop() for 5 s. A
// timeout of 0 cured that but also dropped a new connection whose request had not arrived
// within ~10 ms (httplib polls 10 ms, then compares with the timeout): on a loaded machine
// the client's send comes later, and the client got no answer at all (a flaky end-to-end
// test). With one request per connection no thread idles after its response, and a new
// connection has 2 s to send.
inline void ServeOneRequestPerConnection(httplib::Server& server) {
  server.set_keep_alive_max_count(1);
  server.set_keep_alive_timeout(2);
}

// Binds `server` to host:port (port 0: a free one) and raises its listen backlog from the 5
// compiled into Debian's cpp-httplib to SOMAXCONN; returns the port, or -1. With one request
// per connection every call is a new connect, and a burst of more than 5 (32 workers writing
// back at once) overflowed the backlog: the kernel dropped the handshake and the client's TCP
// tried again only after its 1 s retransmission timeout. Measured in the model bench: one
// ticket in a run of 320 finished 1 s late (its sandbox write stalled 1.03 s) in about half
// the runs, with TcpExtListenOverflows counting the drops. The socket option callback also
// replaces httplib's default (SO_REUSEPORT, which would let a second server share the port)
// with SO_REUSEADDR, as deskpilot's own listener does.
inline int BindWithFullBacklog(httplib::Server& server, const std::string& host, int port = 0) {
  auto fd = std::make_shared<int>(-1);
  server.set_socket_options([fd](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    *fd = sock;
  });
  const int bound = port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (bound > 0 && *fd >= 0) ::listen(*fd, SOMAXCONN);
  return bound > 0 ? bound : -1;
}

}  // namespace deskpilot
