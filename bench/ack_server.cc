// The bare limit for the webhook-ack benchmark: a cpp-httplib server that answers every
// POST /webhooks/<name> with 202 and does nothing else. Tuned exactly as deskpilot's
// server (src/service/service.cc): TCP_NODELAY, a pool of --threads, keep-alive of 1000
// requests, so the ratio deskpilot/bare isolates deskpilot's own work.
// Prints the bound port on stdout, then serves until SIGTERM/SIGINT.
#include <httplib.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

httplib::Server* g_server = nullptr;

void Stop(int) {
  if (g_server != nullptr) g_server->stop();
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 64;  // deskpilot's default [server] threads
  if (argc > 1) threads = std::atoi(argv[1]);
  if (threads < 1) {
    std::fprintf(stderr, "usage: %s [threads]\n", argv[0]);
    return 2;
  }
  httplib::Server server;
  server.set_tcp_nodelay(true);
  server.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  server.set_keep_alive_max_count(1000);
  server.set_keep_alive_timeout(5);
  server.Post(R"(/webhooks/([A-Za-z0-9_\-]+))", [](const httplib::Request&, httplib::Response& res) {
    res.status = 202;
    res.set_content(R"({"status":"queued"})", "application/json");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  if (port <= 0) {
    std::fprintf(stderr, "cannot bind 127.0.0.1\n");
    return 1;
  }
  std::printf("%d\n", port);
  std::fflush(stdout);
  g_server = &server;
  std::signal(SIGTERM, Stop);
  std::signal(SIGINT, Stop);
  return server.listen_after_bind() ? 0 : 1;
}
