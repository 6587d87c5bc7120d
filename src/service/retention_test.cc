#include "service/retention.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "service/worker.h"

namespace deskpilot {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr int64_t kDayMs = 24LL * 60 * 60 * 1000;

class RetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = fs::path("/tmp") / ("deskpilot-retention-test-" + std::to_string(getpid()) + "-" +
                               std::to_string(counter++));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto store = OpenSqliteStore((dir_ / "deskpilot.db").string());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }

  // A job taken to `state` at `at`; returns its id.
  int64_t Seed(const std::string& key, JobState state, int64_t at) {
    auto enqueued = store_->Enqueue(NewJob{"acme", key, "1", "ticket.updated", "{}"}, at);
    EXPECT_TRUE(enqueued.ok());
    auto leased = store_->Lease("w", 60'000, at);
    EXPECT_TRUE(leased.ok() && leased->has_value());
    const int64_t id = enqueued.ok() ? enqueued->job_id : 0;
    Status s = state == JobState::kDead ? store_->Fail(id, "w", "broken", false, at, 1, at)
                                        : store_->Complete(id, "w", state, at);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return id;
  }

  bool Cached(const std::string& key) {
    auto got = store_->CacheGet(key);
    return got.ok() && got->has_value();
  }

  std::string Payload(int64_t id) {
    auto job = store_->GetJob(id);
    return job.ok() && job->has_value() ? (*job)->payload : "<missing>";
  }

  fs::path dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(RetentionTest, KeepsSyncCursorsAndThePlansOfUnfinishedJobs) {
  const int64_t old = NowMs() - 40 * kDayMs;
  Seed("finished", JobState::kDone, old);
  Seed("dead", JobState::kDead, old);
  for (const std::string& key : {PlanCacheKey("finished"), PlanCacheKey("dead"), std::string("kb_sync:acme:en"),
                                std::string("llm:answer")})
    ASSERT_TRUE(store_->CachePut(key, "{}", old).ok());

  auto dry = ApplyRetentionPolicy(*store_, NowMs() - 30 * kDayMs, /*dry_run=*/true);
  ASSERT_TRUE(dry.ok()) << dry.status().ToString();
  EXPECT_EQ(dry->cache_rows_deleted, 2);
  EXPECT_TRUE(Cached("llm:answer"));

  auto report = ApplyRetentionPolicy(*store_, NowMs() - 30 * kDayMs, /*dry_run=*/false);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->payloads_emptied, 1);
  EXPECT_EQ(report->cache_rows_deleted, 2);
  EXPECT_FALSE(Cached(PlanCacheKey("finished")));
  EXPECT_FALSE(Cached("llm:answer"));
  // A retried dead job must find the plan it may have half applied.
  EXPECT_TRUE(Cached(PlanCacheKey("dead")));
  EXPECT_TRUE(Cached("kb_sync:acme:en"));
}

TEST_F(RetentionTest, LoopRunsAtStartAndEveryIntervalAndExportsCounts) {
  Metrics metrics;
  const int64_t first = Seed("first", JobState::kDone, NowMs() - 2 * kDayMs);
  RetentionLoop loop(store_.get(), &metrics, /*retention_days=*/1, 20ms);
  loop.Start();
  auto wait_empty = [&](int64_t id) {
    for (auto deadline = std::chrono::steady_clock::now() + 10s;
         Payload(id) != "" && std::chrono::steady_clock::now() < deadline;)
      std::this_thread::sleep_for(5ms);
    return Payload(id).empty();
  };
  EXPECT_TRUE(wait_empty(first));
  // A job that became old after the first run is emptied by a later one.
  const int64_t second = Seed("second", JobState::kSkipped, NowMs() - 2 * kDayMs);
  EXPECT_TRUE(wait_empty(second));
  loop.Stop();
  EXPECT_NE(metrics.Render().find("deskpilot_retention_payloads_emptied_total 2\n"), std::string::npos)
      << metrics.Render();
}

TEST_F(RetentionTest, StopEndsTheWaitAtOnce) {
  Metrics metrics;
  RetentionLoop loop(store_.get(), &metrics, /*retention_days=*/30, std::chrono::hours(1));
  loop.Start();
  std::this_thread::sleep_for(50ms);  // into the hour-long wait
  const auto start = std::chrono::steady_clock::now();
  loop.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_NE(metrics.Render().find("deskpilot_retention_cache_rows_deleted_total 0\n"), std::string::npos)
      << metrics.Render();
}

}  // namespace
}  // namespace deskpilot
