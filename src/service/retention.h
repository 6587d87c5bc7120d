// Storage retention: what deskpilot drops once it is old, shared by `deskpilot jobs
// purge` and the service's background run ([storage] retention_days).
//
// Dropped: the raw webhook body (customer text, PII) of done and skipped jobs, and old
// cache entries. Kept: every job row (it deduplicates redeliveries and is what `audit
// replay` looks up), dead and unfinished jobs' bodies, the audit log, and the cache
// entries that are state rather than results (see ApplyRetentionPolicy).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string_view>
#include <thread>

#include "deskpilot/store.h"
#include "service/metrics.h"

namespace deskpilot {

// `deskpilot kb sync` keeps its per-source cursor and the list of articles it synced in the
// cache under this prefix: losing it would make the next sync a first one, which cannot tell
// which articles were deleted since, so they would stay in the KB. Retention keeps them.
inline constexpr std::string_view kKbSyncStatePrefix = "kb_sync:";

// Store::ApplyRetention with deskpilot's cache entries that must outlive the cutoff
// kept: `kb sync` cursors, and the write plans of jobs that are not finished (a dead
// job retried next month must apply the plan it may have half written, not decide
// again). `stop_requested` may be null.
Result<RetentionReport> ApplyRetentionPolicy(Store& store, int64_t cutoff_ms, bool dry_run,
                                             std::function<bool()> stop_requested = nullptr);

// Runs ApplyRetentionPolicy on its own thread: at Start(), then every `interval`, with
// the cutoff `retention_days` before the run. Exports
// deskpilot_retention_payloads_emptied_total and deskpilot_retention_cache_rows_deleted_total.
class RetentionLoop {
 public:
  RetentionLoop(Store* store, Metrics* metrics, int retention_days, std::chrono::milliseconds interval);
  ~RetentionLoop();
  RetentionLoop(const RetentionLoop&) = delete;
  RetentionLoop& operator=(const RetentionLoop&) = delete;

  void Start();
  // Ends the wait at once and a run in progress after its current batch.
  void Stop();

 private:
  void Loop();
  void RunOnce();

  Store* store_;
  Metrics* metrics_;
  const int retention_days_;
  const std::chrono::milliseconds interval_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;  // Stop()
  std::atomic<bool> stopping_{false};
};

}  // namespace deskpilot
