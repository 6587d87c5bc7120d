// The worker pool: leases jobs and runs fetch → loop guard → pipeline → write back →
// audit. A decided plan is stored before the first write-back attempt (an outbox), so
// a retry or a restart applies the same plan instead of deciding again on a ticket
// that already shows part of our own write.
//
// Each help desk has a circuit breaker: once it opens, that desk's jobs are put back
// (Store::Release) without using an attempt, so an outage never dead-letters a backlog.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "deskpilot/circuit_breaker.h"
#include "deskpilot/store.h"
#include "service/components.h"

namespace deskpilot {

class WorkerPool {
 public:
  WorkerPool(Components* components, std::string instance_id);
  ~WorkerPool();
  void Start(int threads);
  // Stops leasing; each worker finishes the job in hand, then exits.
  void Stop();
  void Notify();  // a job was enqueued
  bool running() const { return running_.load(); }
  // Wall-clock ms of the last loop iteration of any worker (watchdog: proves progress).
  int64_t last_beat_ms() const { return last_beat_ms_.load(); }

  // Processes one leased job to a final store transition (public for tests).
  void Process(const Job& job, const std::string& owner);

 private:
  void Loop(int index);
  void Finish(const Job& job, const std::string& owner, const Status& status, const std::string& stage);
  void Audit(const Job& job, const std::string& stage, const std::string& outcome, const nlohmann::json& data);
  // Feeds a help-desk call's outcome to its breaker and exports the breaker's state.
  void Record(const std::string& source, CircuitBreaker& breaker, const Status& outcome);

  Components* c_;
  std::string instance_id_;
  // One per configured help desk, created up front so lookups need no lock.
  std::map<std::string, std::unique_ptr<CircuitBreaker>> breakers_;
  std::vector<std::thread> threads_;
  std::atomic<bool> running_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> last_beat_ms_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t wakeups_ = 0;
};

// Stable per-event key for idempotent write-backs.
std::string IdempotencyKey(const std::string& dedupe_key);
nlohmann::json PlanToJson(const WritePlan& plan);
Status PlanFromJson(const nlohmann::json& j, WritePlan* plan);

}  // namespace deskpilot
