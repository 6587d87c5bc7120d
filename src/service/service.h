// The running proxy: HTTP receiver (webhooks, health, metrics) + worker pool over
// the components built from one Config.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "service/components.h"
#include "service/retention.h"
#include "service/worker.h"

namespace httplib {
class Server;
}

namespace deskpilot {

class GuardedHttpServer;

class Service {
 public:
  static Result<std::unique_ptr<Service>> Create(const Config& config, const BuildOptions& options);
  ~Service();

  // Binds the listener (port 0 picks one), starts HTTP and worker threads.
  // FailedPrecondition when the port is already taken.
  Status Start();
  // Stops accepting, lets workers finish the job in hand, closes everything.
  void Stop();
  int port() const { return port_; }
  std::string base_url() const;
  Components& components() { return *c_; }
  bool ready() const;
  // For the systemd watchdog: the store answers and some worker looped within one lease
  // period (a job may legitimately hold a worker that long).
  bool Healthy() const;

 private:
  explicit Service(std::unique_ptr<Components> c);
  void Routes();

  std::unique_ptr<Components> c_;
  std::unique_ptr<WorkerPool> workers_;
  std::unique_ptr<RetentionLoop> retention_;  // null when retention_days is 0
  std::unique_ptr<httplib::Server> http_;
  GuardedHttpServer* guarded_ = nullptr;  // http_, for its connection counters
  std::thread listener_;
  int port_ = 0;
  bool started_ = false;
};

}  // namespace deskpilot
