#include "service/retention.h"

#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "service/worker.h"

namespace deskpilot {
namespace {

constexpr int64_t kDayMs = 24LL * 60 * 60 * 1000;

}  // namespace

Result<RetentionReport> ApplyRetentionPolicy(Store& store, int64_t cutoff_ms, bool dry_run,
                                             std::function<bool()> stop_requested) {
  // Only an unfinished job can still use its plan. A job that was finished before this
  // snapshot stays finished (only a dead job can be requeued, and it is in the set), and
  // one that starts later writes a fresh plan, newer than any cutoff.
  std::set<std::string, std::less<>> live_plans;
  DP_ASSIGN_OR_RETURN(std::vector<std::string> keys,
                      store.DedupeKeys({JobState::kQueued, JobState::kLeased, JobState::kDead}));
  for (const std::string& key : keys) live_plans.insert(PlanCacheKey(key));
  RetentionOptions options;
  options.cutoff_ms = cutoff_ms;
  options.dry_run = dry_run;
  options.keep_cache_entry = [&live_plans](std::string_view key) {
    return key.substr(0, kKbSyncStatePrefix.size()) == kKbSyncStatePrefix || live_plans.count(key) > 0;
  };
  options.stop_requested = std::move(stop_requested);
  return store.ApplyRetention(options);
}

RetentionLoop::RetentionLoop(Store* store, Metrics* metrics, int retention_days, std::chrono::milliseconds interval)
    : store_(store), metrics_(metrics), retention_days_(retention_days), interval_(interval) {
  metrics_->Describe("deskpilot_retention_payloads_emptied_total", "counter",
                     "Webhook bodies of done and skipped jobs emptied by storage retention.");
  metrics_->Describe("deskpilot_retention_cache_rows_deleted_total", "counter",
                     "Cache entries deleted by storage retention.");
  // Present from the first scrape, so a rate() over them has a start.
  metrics_->Inc("deskpilot_retention_payloads_emptied_total", {}, 0);
  metrics_->Inc("deskpilot_retention_cache_rows_deleted_total", {}, 0);
}

RetentionLoop::~RetentionLoop() { Stop(); }

void RetentionLoop::Start() {
  stopping_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void RetentionLoop::Stop() {
  if (!thread_.joinable()) return;
  {
    // Under the lock, so the thread cannot miss the wake-up between its check of
    // stopping_ and its wait.
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void RetentionLoop::Loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    RunOnce();
    lock.lock();
    cv_.wait_for(lock, interval_, [this] { return stopping_.load(); });
  }
}

void RetentionLoop::RunOnce() {
  const int64_t cutoff_ms = NowMs() - retention_days_ * kDayMs;
  Result<RetentionReport> report =
      ApplyRetentionPolicy(*store_, cutoff_ms, /*dry_run=*/false, [this] { return stopping_.load(); });
  if (!report.ok()) {
    // The next run picks up where this one failed.
    spdlog::warn("storage retention failed: {}", report.status().ToString());
    return;
  }
  if (report->payloads_emptied == 0 && report->cache_rows_deleted == 0) return;
  spdlog::info("storage retention: emptied {} job payload(s) and deleted {} cache entr{} older than {} day(s)",
               report->payloads_emptied, report->cache_rows_deleted,
               report->cache_rows_deleted == 1 ? "y" : "ies", retention_days_);
  metrics_->Inc("deskpilot_retention_payloads_emptied_total", {}, static_cast<double>(report->payloads_emptied));
  metrics_->Inc("deskpilot_retention_cache_rows_deleted_total", {}, static_cast<double>(report->cache_rows_deleted));
}

}  // namespace deskpilot
