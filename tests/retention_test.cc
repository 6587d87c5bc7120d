// Storage retention through the real binary: `deskpilot jobs purge` and the background run
// of `deskpilot serve`, on a database seeded with jobs and cache entries of known ages.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "deskpilot/store.h"
#include "harness.h"

namespace deskpilot {
namespace {

namespace th = testing_harness;
using namespace std::chrono_literals;

constexpr int64_t kDayMs = 24LL * 60 * 60 * 1000;

// A job taken to `state` at `at`, with its key as its body.
void SeedJob(Store& store, const std::string& key, JobState state, int64_t at) {
  auto enqueued = store.Enqueue(NewJob{"desk", key, "1", "ticket.updated", "{\"body\":\"" + key + "\"}"}, at);
  ASSERT_TRUE(enqueued.ok()) << enqueued.status().ToString();
  auto leased = store.Lease("seed", 60'000, at);
  ASSERT_TRUE(leased.ok() && leased->has_value());
  ASSERT_EQ((*leased)->id, enqueued->job_id);
  Status s = state == JobState::kDead ? store.Fail(enqueued->job_id, "seed", "broken", false, at, 1, at)
                                      : store.Complete(enqueued->job_id, "seed", state, at);
  ASSERT_TRUE(s.ok()) << s.ToString();
}

// 40 days old: a done job, a dead job, a model answer and a kb sync cursor; 10 days old:
// a done job. Under a 30-day cutoff, the old done job's body and the model answer go.
void Seed(const std::string& db) {
  auto store = OpenSqliteStore(db);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const int64_t old = NowMs() - 40 * kDayMs;
  SeedJob(**store, "old-done", JobState::kDone, old);
  SeedJob(**store, "old-dead", JobState::kDead, old);
  SeedJob(**store, "recent-done", JobState::kDone, NowMs() - 10 * kDayMs);
  ASSERT_TRUE((*store)->CachePut("llm:answer", "{}", old).ok());
  ASSERT_TRUE((*store)->CachePut("kb_sync:desk:en", "{}", old).ok());
  AuditEntry e;
  e.job_id = 1;
  e.stage = "webhook.received";
  ASSERT_TRUE((*store)->AppendAudit(e, old).ok());
}

int64_t PayloadBytes(const std::string& db, const std::string& key) {
  auto rows = th::Query(db, "SELECT length(payload) FROM jobs WHERE dedupe_key = '" + key + "'");
  return rows && rows->size() == 1 ? std::stoll((*rows)[0][0]) : -1;
}

std::string CacheKeys(const std::string& db) {
  std::string keys;
  if (auto rows = th::Query(db, "SELECT key FROM cache ORDER BY key"))
    for (const auto& r : *rows) keys += r[0] + " ";
  return keys;
}

class Purge : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(DESKPILOT_BINARY)) << DESKPILOT_BINARY;
    ASSERT_TRUE(desk_.started());
    Seed(desk_.db());
  }
  int Run(const std::string& args, std::string* out) {
    return th::RunCommand(std::string(DESKPILOT_BINARY) + " jobs purge --db " + desk_.db() + " " + args, out);
  }

  th::SandboxDesk desk_{"purge"};
};

TEST_F(Purge, DryRunWritesNothingAndThePurgeEmptiesOnlyOldFinishedPayloads) {
  std::string out;
  ASSERT_EQ(Run("--older-than 30d --dry-run", &out), 0) << out;
  EXPECT_NE(out.find("dry run, nothing changed"), std::string::npos) << out;
  EXPECT_NE(out.find("jobs:  1 payload(s) of done or skipped jobs would be emptied"), std::string::npos) << out;
  EXPECT_NE(out.find("cache: 1 entry would be deleted"), std::string::npos) << out;
  EXPECT_GT(PayloadBytes(desk_.db(), "old-done"), 0);
  EXPECT_EQ(CacheKeys(desk_.db()), "kb_sync:desk:en llm:answer ");

  ASSERT_EQ(Run("--older-than 30d", &out), 0) << out;
  EXPECT_NE(out.find("jobs:  1 payload(s) of done or skipped jobs emptied"), std::string::npos) << out;
  EXPECT_NE(out.find("cache: 1 entry deleted"), std::string::npos) << out;
  EXPECT_EQ(PayloadBytes(desk_.db(), "old-done"), 0);
  EXPECT_GT(PayloadBytes(desk_.db(), "old-dead"), 0);  // kept for `jobs retry`
  EXPECT_GT(PayloadBytes(desk_.db(), "recent-done"), 0);
  EXPECT_EQ(CacheKeys(desk_.db()), "kb_sync:desk:en ");  // state, not a result
  EXPECT_EQ(th::JobStates(desk_.db()), (std::map<std::string, int>{{"dead", 1}, {"done", 2}}));
  EXPECT_EQ(th::RunCommand(std::string(DESKPILOT_BINARY) + " audit verify --db " + desk_.db(), &out), 0) << out;

  ASSERT_EQ(Run("--older-than 9d", &out), 0) << out;
  EXPECT_EQ(PayloadBytes(desk_.db(), "recent-done"), 0);
}

TEST_F(Purge, BadDurationsExitTwoAndChangeNothing) {
  std::string out;
  EXPECT_EQ(Run("--older-than 30m", &out), 2);
  EXPECT_NE(out.find("a number of days or hours"), std::string::npos) << out;
  EXPECT_EQ(Run("--older-than 23h", &out), 2);
  EXPECT_NE(out.find("at least 1d"), std::string::npos) << out;
  EXPECT_NE(out.find("redeliver"), std::string::npos) << out;
  EXPECT_EQ(Run("--older-than 0d", &out), 2);
  EXPECT_EQ(Run("--older-than d", &out), 2);
  EXPECT_EQ(Run("", &out), 2);
  EXPECT_NE(out.find("--older-than"), std::string::npos) << out;
  EXPECT_GT(PayloadBytes(desk_.db(), "old-done"), 0);
  ASSERT_EQ(Run("--older-than 24h --dry-run", &out), 0) << out;
}

// serve runs retention at start (and hourly) with the default of 30 days, exports what it
// dropped, and still stops at once on SIGTERM.
TEST(ServeRetention, RunsInTheBackgroundAndCountsWhatItDropped) {
  ASSERT_TRUE(std::filesystem::exists(DESKPILOT_BINARY)) << DESKPILOT_BINARY;
  th::SandboxDesk desk("serve-retention");
  ASSERT_TRUE(desk.started());
  Seed(desk.db());
  th::Process serve({DESKPILOT_BINARY, "serve", "--config", desk.WriteConfig("")}, desk.Env(),
                    desk.Path("serve.log"));
  const int port = serve.WaitForPort(60s);
  ASSERT_GT(port, 0) << serve.Log();
  // The counters are bumped once the run has gone through both tables.
  httplib::Client client("127.0.0.1", port);
  std::string metrics;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto res = client.Get("/metrics");
    ASSERT_TRUE(res) << serve.Log();
    metrics = res->body;
    if (metrics.find("deskpilot_retention_cache_rows_deleted_total 1\n") != std::string::npos) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(PayloadBytes(desk.db(), "old-done"), 0) << serve.Log();
  EXPECT_GT(PayloadBytes(desk.db(), "recent-done"), 0);
  EXPECT_EQ(CacheKeys(desk.db()), "kb_sync:desk:en ");
  EXPECT_NE(metrics.find("deskpilot_retention_payloads_emptied_total 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("deskpilot_retention_cache_rows_deleted_total 1\n"), std::string::npos) << metrics;
  EXPECT_NE(serve.Log().find("storage retention: emptied 1 job payload(s) and deleted 1 cache entry"),
            std::string::npos)
      << serve.Log();
  // The loop waits an hour for its next run; SIGTERM must end that wait at once.
  const auto stop_start = std::chrono::steady_clock::now();
  EXPECT_EQ(serve.Terminate(30s), 0) << serve.Log();
  EXPECT_LT(std::chrono::steady_clock::now() - stop_start, 5s);
}

}  // namespace
}  // namespace deskpilot
