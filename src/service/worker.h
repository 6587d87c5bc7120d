// The worker pool: leases jobs and runs fetch → loop guard → pipeline → write back →
// audit. A decided plan is stored before the first write-back attempt (an outbox), so
// a retry or a restart applies the same plan instead of deciding again on a ticket
// that already shows part of our own write.
//
// Each help desk has a circuit breaker: once it opens, that desk's jobs are put back
// (Store::Release) without using an attempt, so an outage never dead-letters a backlog;
// while every desk's circuit is open the workers lease nothing and sleep until a probe
// is due.
//
// A job's audit rows and cache entries are collected (Store JobWrites) and committed
// with its write plan or its final transition: a job that writes back costs three
// commits (lease, plan, done), whatever the number of rows and model answers, and two
// fsyncs (the lease commits without one: see Lease in src/store/sqlite_store.cc).
//
// While Start()ed, a heartbeat thread extends the lease of every job in hand every
// lease_seconds / 3, so a job slower than its lease (a long model call) is not taken
// over by another worker while it still runs; a dead process stops beating and its
// jobs come back at lease expiry as before.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "deskpilot/circuit_breaker.h"
#include "deskpilot/store.h"
#include "service/components.h"

namespace deskpilot {

class WorkerPool {
 public:
  // A job in hand for longer than this many leases is taken for a stuck worker: its lease
  // is no longer renewed, so it expires and another worker (or a restart) takes the job,
  // whose late commit the stuck worker then finds refused; it no longer counts as progress,
  // and StuckJobs() names it, so health checks and the watchdog see it even while other
  // workers turn. Every call a job makes is bounded by its adapter's timeout; a deadlock is
  // not. A slow call keeps its lease for at least this many leases.
  static constexpr int64_t kStuckLeases = 10;

  // `now` is the wall clock (ms since the epoch) the pool reads for leases, heartbeats and
  // audit times; tests pass their own to drive lease expiry without sleeping.
  using Clock = std::function<int64_t()>;
  WorkerPool(Components* components, std::string instance_id, Clock now = NowMs);
  ~WorkerPool();
  void Start(int threads);
  // Stops leasing; each worker finishes the job in hand, then exits.
  void Stop();
  void Notify();  // a job was enqueued
  bool running() const { return running_.load(); }
  // Wall-clock ms of the last proof of progress (the watchdog's): a loop iteration of any
  // worker, or a heartbeat that kept the lease of every job in hand while none of them had
  // been in hand for more than kStuckLeases leases.
  int64_t last_beat_ms() const { return last_beat_ms_.load(); }
  struct StuckJob {
    int64_t job_id = 0;
    std::string owner;    // the worker stuck in it
    int64_t held_ms = 0;  // how long it has been in hand
  };
  // The jobs in hand for longer than kStuckLeases leases, one per stuck worker.
  std::vector<StuckJob> StuckJobs() const;

  // Processes one leased job to a final store transition (public for tests). An exception
  // from inside (a library throwing on content it was handed) dead-letters the job with
  // its message instead of ending the process: a crash would only repeat on the same job
  // at every lease expiry while every other ticket waits.
  void Process(const Job& job, const std::string& owner);
  // One round of the heartbeat thread's work, which it does every lease_seconds / 3 while
  // Start()ed: extends the lease of every job in hand but those of stuck workers (public
  // for tests).
  void HeartbeatOnce();

 private:
  void ProcessLeased(const Job& job, const std::string& owner);
  // Registers a job in hand for the heartbeat for as long as it is alive.
  class HeldLease {
   public:
    HeldLease(WorkerPool& pool, int64_t job_id, const std::string& owner) : pool_(pool), owner_(owner) {
      std::lock_guard lock(pool_.held_mu_);
      pool_.held_[owner_] = {job_id, pool_.now_(), false};
    }
    ~HeldLease() {
      std::lock_guard lock(pool_.held_mu_);
      pool_.held_.erase(owner_);
    }
    HeldLease(const HeldLease&) = delete;
    HeldLease& operator=(const HeldLease&) = delete;

   private:
    WorkerPool& pool_;
    const std::string owner_;
  };

  void Loop(int index);
  void HeartbeatLoop();
  // While every help desk's circuit is open: how long until the first one lets a probe
  // through. nullopt when some desk takes calls (or none is configured).
  std::optional<std::chrono::milliseconds> AllDesksRefusingFor() const;
  // Ends the attempt: Release, Complete or Fail, with `writes` in the same commit.
  void Finish(const Job& job, const std::string& owner, const Status& status, const std::string& stage,
              JobWrites& writes);
  // Adds a row to the job's writes; it is committed with the job's next commit.
  void Audit(JobWrites& writes, const Job& job, const std::string& stage, const std::string& outcome,
             const nlohmann::json& data);
  // Commits the job's writes so far (with the plan, when one was just decided) if `owner`
  // still holds the job's lease, in one transaction with the check (Store::
  // CommitWritesIfLeased); called before anything is written to the help desk. False when
  // the job must not go on: the lease was lost (audited as lease.lost; this worker's rows
  // and plan are dropped, since the worker that took the job over decides and writes) or
  // the store failed (the attempt ends there).
  bool CommitIfLeased(const Job& job, const std::string& owner, JobWrites& writes, const char* what);
  // Logs a failed store transition; the writes it did not commit are tried on their own.
  void Settle(const Job& job, const char* what, const Status& transition, JobWrites& writes);
  // Feeds a help-desk call's outcome to its breaker and exports the breaker's state.
  void Record(const std::string& source, CircuitBreaker& breaker, const Status& outcome);

  Components* c_;
  std::string instance_id_;
  const Clock now_;
  // One per configured help desk, created up front so lookups need no lock.
  std::map<std::string, std::unique_ptr<CircuitBreaker>> breakers_;
  std::vector<std::thread> threads_;
  std::atomic<bool> running_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> last_beat_ms_{0};
  std::mutex mu_;
  std::condition_variable cv_;        // a job was enqueued, or Stop()
  std::condition_variable pause_cv_;  // Stop() only: ends a pause while every desk is down
  uint64_t wakeups_ = 0;
  std::thread heartbeat_;
  mutable std::mutex held_mu_;
  std::condition_variable held_cv_;       // wakes the heartbeat thread on Stop()
  struct Held {
    int64_t job_id;
    int64_t since_ms;  // when Process() took the job
    bool reported;     // the heartbeat logged it as stuck
  };
  // The jobs in Process(), by lease owner: one worker holds one job at a time, while one
  // job can be in two workers' hands (a stuck one and the one that took the job over).
  std::map<std::string, Held> held_;
};

// Stable per-event key for idempotent write-backs.
std::string IdempotencyKey(const std::string& dedupe_key);
// The cache key of a job's stored write plan (the outbox), found again by its retries.
std::string PlanCacheKey(const std::string& dedupe_key);
nlohmann::json PlanToJson(const WritePlan& plan);
Status PlanFromJson(const nlohmann::json& j, WritePlan* plan);

}  // namespace deskpilot
