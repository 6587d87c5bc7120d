// How deskpilot's own loopback HTTP servers (the sandbox help desk, the vendor and model
// fakes, test receivers) use Debian's cpp-httplib 0.11. Header only: one setting.
#pragma once

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

}  // namespace deskpilot
