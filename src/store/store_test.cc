#include <sqlite3.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "deskpilot/store.h"
#include "store/audit_chain.h"
#include "store/migrations.h"
#include "store/sqlite_store.h"

namespace deskpilot {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kT0 = 1'700'000'000'000;  // a fixed "now" so leases need no sleeping

// A unique directory per test under /tmp, removed afterwards.
class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = fs::path("/tmp") / ("deskpilot-store-test-" + std::to_string(getpid()) + "-" +
                               std::to_string(counter++));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "deskpilot.db").string();
    store_ = Open();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }

  std::unique_ptr<Store> Open() {
    auto store = OpenSqliteStore(path_);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  static NewJob MakeJob(const std::string& key, const std::string& ticket = "42") {
    return NewJob{"acme", key, ticket, "ticket.updated", R"({"id":)" + ticket + "}"};
  }

  int64_t MustEnqueue(const std::string& key, int64_t now_ms) {
    auto r = store_->Enqueue(MakeJob(key), now_ms);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->job_id : 0;
  }

  Job MustLease(const std::string& owner, int64_t now_ms, int64_t lease_ms = 60'000) {
    auto r = store_->Lease(owner, lease_ms, now_ms);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r.ok() && r->has_value()) << "no job due at " << now_ms;
    return r.ok() && r->has_value() ? **r : Job{};
  }

  Job MustGet(int64_t id) {
    auto r = store_->GetJob(id);
    EXPECT_TRUE(r.ok() && r->has_value());
    return r.ok() && r->has_value() ? **r : Job{};
  }

  void AppendRows(int n) {
    for (int i = 1; i <= n; ++i) {
      AuditEntry e;
      e.job_id = i;
      // append(), not "t" + to_string(i): GCC 12 -O2 warns falsely (-Wrestrict) on the latter.
      e.ticket_id = std::string("t").append(std::to_string(i));
      e.source = "acme";
      e.stage = "classify";
      e.data = R"({"i":)" + std::to_string(i) + "}";
      auto seq = store_->AppendAudit(e, kT0 + i);
      ASSERT_TRUE(seq.ok()) << seq.status().ToString();
      ASSERT_EQ(*seq, i);
    }
  }

  // Runs SQL through a raw connection, as an attacker with file access would.
  // Returns the error message, or "" on success.
  std::string RawExec(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char* error = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
    std::string message = rc == SQLITE_OK ? "" : (error != nullptr ? error : "error");
    sqlite3_free(error);
    sqlite3_close(db);
    return message;
  }

  int64_t RawQueryInt(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sql;
    int64_t value = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
  }

  std::string Tamper(const std::string& sql) {
    return RawExec("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; " + sql);
  }

  AuditVerifyReport MustVerify() {
    auto r = store_->VerifyAudit();
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : AuditVerifyReport{};
  }

  fs::path dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, EnqueueDedupesOnKey) {
  auto first = store_->Enqueue(MakeJob("acme:evt-1"), kT0);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_FALSE(first->duplicate);
  auto again = store_->Enqueue(MakeJob("acme:evt-1"), kT0 + 5);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->job_id, first->job_id);
  auto other = store_->Enqueue(MakeJob("acme:evt-2"), kT0);
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->duplicate);
  EXPECT_NE(other->job_id, first->job_id);

  auto all = store_->ListJobs(std::nullopt, 0);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, other->job_id);  // newest first
  Job job = MustGet(first->job_id);
  EXPECT_EQ(job.state, JobState::kQueued);
  EXPECT_EQ(job.created_ms, kT0);  // the duplicate did not touch the row
  EXPECT_EQ(job.next_attempt_ms, kT0);
}

TEST_F(StoreTest, EnqueueRejectsEmptyDedupeKey) {
  auto r = store_->Enqueue(MakeJob(""), kT0);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

TEST_F(StoreTest, PayloadIsStoredByteExact) {
  NewJob job = MakeJob("k");
  job.payload = std::string("a\0b\xff\n", 5);
  auto r = store_->Enqueue(job, kT0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(MustGet(r->job_id).payload, job.payload);
}

// Group commit must not change what callers see: every new key gets its own id, and every
// caller of a key that already exists — stored earlier or inserted earlier in the same
// batch — gets that job's id with duplicate=true.
TEST_F(StoreTest, ConcurrentEnqueueGivesDistinctIdsAndRightDuplicates) {
  constexpr int kThreads = 12;
  constexpr int kPerThread = 40;
  constexpr int kShared = 8;  // keys every thread enqueues: all but one caller are duplicates
  struct Outcome {
    std::string key;
    bool ok = false;
    EnqueueResult result;
  };
  std::vector<std::vector<Outcome>> outcomes(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // append(), not "t" + to_string(t): GCC 12 -O2 warns falsely (-Wrestrict) on the latter.
        std::string key = i % 5 == 0
                              ? std::string("shared-").append(std::to_string(i / 5 % kShared))
                              : std::string("t").append(std::to_string(t)).append("-").append(
                                    std::to_string(i));
        auto r = store_->Enqueue(MakeJob(key), kT0 + i);
        outcomes[t].push_back({key, r.ok(), r.ok() ? *r : EnqueueResult{}});
      }
    });
  }
  for (auto& thread : threads) thread.join();

  std::map<std::string, int64_t> id_of_key;
  std::map<std::string, int> fresh_per_key;
  std::set<int64_t> ids;
  for (const auto& per_thread : outcomes) {
    for (const Outcome& o : per_thread) {
      ASSERT_TRUE(o.ok) << o.key;
      auto [it, inserted] = id_of_key.emplace(o.key, o.result.job_id);
      EXPECT_EQ(it->second, o.result.job_id) << "callers of " << o.key << " got different ids";
      if (!o.result.duplicate) ++fresh_per_key[o.key];
      ids.insert(o.result.job_id);
    }
  }
  const size_t unique_keys = id_of_key.size();
  EXPECT_EQ(unique_keys, static_cast<size_t>(kThreads * (kPerThread - kPerThread / 5) +
                                             std::min(kShared, kPerThread / 5)));
  EXPECT_EQ(ids.size(), unique_keys) << "two keys share a job id";
  for (const auto& [key, id] : id_of_key) {
    EXPECT_EQ(fresh_per_key[key], 1) << key << ": exactly one caller must create the job";
  }

  // Everything acknowledged is in the file.
  store_.reset();
  store_ = Open();
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(RawQueryInt("SELECT COUNT(*) FROM jobs"), static_cast<int64_t>(unique_keys));
  for (const auto& [key, id] : id_of_key) EXPECT_EQ(MustGet(id).dedupe_key, key);
}

TEST_F(StoreTest, ConcurrentEnqueuesShareOneCommit) {
  // Another connection holds the write lock, so the first committer waits in BEGIN
  // IMMEDIATE while the other callers queue up behind it; they must then go together.
  sqlite3* blocker = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &blocker), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(blocker, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);

  constexpr int kThreads = 8;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      if (store_->Enqueue(MakeJob(std::string("k").append(std::to_string(t))), kT0).ok()) ++ok;
    });
  }
  // Long enough for every thread to reach Enqueue, far below the 5 s busy timeout.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(sqlite3_exec(blocker, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(blocker);
  for (auto& thread : threads) thread.join();

  EXPECT_EQ(ok.load(), kThreads);
  std::optional<GroupCommitStats> stats = EnqueueGroupCommitStats(*store_);
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->enqueues, kThreads);
  EXPECT_LT(stats->batches, kThreads) << "no two enqueues shared a transaction";
  EXPECT_GE(stats->largest_batch, 2);
  EXPECT_EQ(RawQueryInt("SELECT COUNT(*) FROM jobs"), kThreads);
}

TEST_F(StoreTest, CountingJobsDoesNotWaitForTheWriteConnection) {
  MustEnqueue("a", kT0);
  // Another process holds the write lock, so this enqueue waits in BEGIN IMMEDIATE with
  // the store's write connection in hand (up to the 5 s busy timeout).
  sqlite3* blocker = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &blocker), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(blocker, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  std::thread writer([&] { EXPECT_TRUE(store_->Enqueue(MakeJob("b"), kT0).ok()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  // The count (what every /metrics scrape runs) reads on its own connection: it answers
  // at once with what is committed, instead of queueing behind the writer.
  const auto start = std::chrono::steady_clock::now();
  auto counts = store_->CountJobsByState();
  auto keys = store_->DedupeKeys({JobState::kQueued});  // retention's read, likewise
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(sqlite3_exec(blocker, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(blocker);
  writer.join();
  ASSERT_TRUE(counts.ok()) << counts.status().ToString();
  EXPECT_EQ(counts->at("queued"), 1);
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ(*keys, std::vector<std::string>{"a"});
  EXPECT_LT(took, std::chrono::seconds(2));
  // And it sees the enqueue once that has committed.
  EXPECT_EQ(store_->CountJobsByState()->at("queued"), 2);
}

TEST_F(StoreTest, LoneEnqueueCommitsAlone) {
  MustEnqueue("a", kT0);
  MustEnqueue("b", kT0);
  std::optional<GroupCommitStats> stats = EnqueueGroupCommitStats(*store_);
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->enqueues, 2);
  EXPECT_EQ(stats->batches, 2);
  EXPECT_EQ(stats->largest_batch, 1);
}

TEST_F(StoreTest, FailedBatchFailsEveryCallerAndStoresNothing) {
  store_.reset();
  auto opened = OpenSqliteStore(path_, StoreOptions{.busy_timeout_ms = 100});
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  store_ = std::move(opened).value();
  // The write lock stays taken past the busy timeout, so every transaction fails.
  sqlite3* blocker = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &blocker), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(blocker, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  constexpr int kThreads = 6;
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      if (!store_->Enqueue(MakeJob(std::string("k").append(std::to_string(t))), kT0).ok()) ++failed;
    });
  }
  for (auto& thread : threads) thread.join();
  ASSERT_EQ(sqlite3_exec(blocker, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(blocker);

  EXPECT_EQ(failed.load(), kThreads);
  EXPECT_EQ(RawQueryInt("SELECT COUNT(*) FROM jobs"), 0);
  // The store recovers once the lock is free.
  EXPECT_GT(MustEnqueue("after", kT0), 0);
}

TEST_F(StoreTest, LeasePicksOldestDueAndNotFutureJobs) {
  int64_t a = MustEnqueue("a", kT0 + 1000);
  int64_t b = MustEnqueue("b", kT0 + 2000);

  Job first = MustLease("w1", kT0 + 2500);
  EXPECT_EQ(first.id, a);
  EXPECT_EQ(first.state, JobState::kLeased);
  EXPECT_EQ(first.attempts, 1);
  EXPECT_EQ(first.lease_owner, "w1");
  EXPECT_EQ(first.lease_expires_ms, kT0 + 2500 + 60'000);

  // a goes back with a future next attempt: b is now the only due job.
  ASSERT_TRUE(store_->Release(a, "w1", kT0 + 10'000, kT0 + 2600).ok());
  EXPECT_EQ(MustLease("w1", kT0 + 3000).id, b);
  auto none = store_->Lease("w1", 60'000, kT0 + 3000);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_EQ(MustLease("w1", kT0 + 10'000).id, a);
}

TEST_F(StoreTest, ConcurrentLeasersNeverGetTheSameJob) {
  constexpr int kJobs = 100;
  for (int i = 0; i < kJobs; ++i) MustEnqueue("job-" + std::to_string(i), kT0 + i);
  // Two stores on the same file (two connections, like two processes), two threads each.
  std::unique_ptr<Store> second = Open();
  ASSERT_NE(second, nullptr);
  std::vector<std::vector<int64_t>> leased(4);
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    Store* store = t % 2 == 0 ? store_.get() : second.get();
    threads.emplace_back([store, t, &leased, &errors] {
      std::string owner = std::string("w").append(std::to_string(t));
      while (true) {
        auto r = store->Lease(owner, 600'000, kT0 + 1'000'000);
        if (!r.ok()) {
          ++errors;
          return;
        }
        if (!r->has_value()) return;
        leased[t].push_back((*r)->id);
        if (!store->Complete((*r)->id, owner, JobState::kDone, kT0 + 1'000'000).ok()) ++errors;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(errors.load(), 0);
  std::set<int64_t> unique;
  size_t total = 0;
  for (const auto& ids : leased) {
    total += ids.size();
    unique.insert(ids.begin(), ids.end());
  }
  EXPECT_EQ(total, static_cast<size_t>(kJobs));
  EXPECT_EQ(unique.size(), static_cast<size_t>(kJobs));
}

TEST_F(StoreTest, ExpiredLeaseIsTakenByAnotherOwnerAndOldOwnerLosesIt) {
  int64_t id = MustEnqueue("k", kT0);
  Job first = MustLease("w1", kT0, 1000);
  EXPECT_EQ(first.id, id);

  auto early = store_->Lease("w2", 1000, kT0 + 999);
  ASSERT_TRUE(early.ok());
  EXPECT_FALSE(early->has_value());

  Job again = MustLease("w2", kT0 + 1000, 1000);
  EXPECT_EQ(again.id, id);
  EXPECT_EQ(again.lease_owner, "w2");
  EXPECT_EQ(again.attempts, 2);

  Status stale = store_->Complete(id, "w1", JobState::kDone, kT0 + 1100);
  EXPECT_EQ(stale.code(), Code::kFailedPrecondition);
  EXPECT_NE(stale.message().find("lease lost"), std::string::npos) << stale.message();
  EXPECT_EQ(store_->Heartbeat(id, "w1", 1000, kT0 + 1100).code(), Code::kFailedPrecondition);
  EXPECT_EQ(store_->Fail(id, "w1", "x", true, kT0, 5, kT0 + 1100).code(),
            Code::kFailedPrecondition);

  ASSERT_TRUE(store_->Complete(id, "w2", JobState::kDone, kT0 + 1200).ok());
  EXPECT_EQ(MustGet(id).state, JobState::kDone);
  // Finished jobs are not leased again, and a second Complete is refused.
  auto after = store_->Lease("w3", 1000, kT0 + 100'000);
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(after->has_value());
  EXPECT_EQ(store_->Complete(id, "w2", JobState::kDone, kT0 + 1300).code(),
            Code::kFailedPrecondition);
}

TEST_F(StoreTest, HeartbeatExtendsTheLease) {
  int64_t id = MustEnqueue("k", kT0);
  MustLease("w1", kT0, 1000);
  ASSERT_TRUE(store_->Heartbeat(id, "w1", 1000, kT0 + 900).ok());
  EXPECT_EQ(MustGet(id).lease_expires_ms, kT0 + 1900);
  auto stolen = store_->Lease("w2", 1000, kT0 + 1500);
  ASSERT_TRUE(stolen.ok());
  EXPECT_FALSE(stolen->has_value());
}

TEST_F(StoreTest, CompleteAsSkippedAndRejectsOtherStates) {
  int64_t id = MustEnqueue("k", kT0);
  MustLease("w1", kT0);
  EXPECT_EQ(store_->Complete(id, "w1", JobState::kQueued, kT0).code(), Code::kInvalidArgument);
  ASSERT_TRUE(store_->Complete(id, "w1", JobState::kSkipped, kT0).ok());
  EXPECT_EQ(MustGet(id).state, JobState::kSkipped);
  EXPECT_EQ(store_->Complete(999, "w1", JobState::kDone, kT0).code(), Code::kNotFound);
}

TEST_F(StoreTest, RetryableFailureRequeuesAtNextAttempt) {
  int64_t id = MustEnqueue("k", kT0);
  MustLease("w1", kT0);
  ASSERT_TRUE(store_->Fail(id, "w1", "vendor 503", true, kT0 + 5000, 5, kT0 + 10).ok());
  Job job = MustGet(id);
  EXPECT_EQ(job.state, JobState::kQueued);
  EXPECT_EQ(job.next_attempt_ms, kT0 + 5000);
  EXPECT_EQ(job.last_error, "vendor 503");
  EXPECT_EQ(job.lease_owner, "");

  auto early = store_->Lease("w1", 60'000, kT0 + 4999);
  ASSERT_TRUE(early.ok());
  EXPECT_FALSE(early->has_value());
  Job retried = MustLease("w2", kT0 + 5000);
  EXPECT_EQ(retried.id, id);
  EXPECT_EQ(retried.attempts, 2);
}

TEST_F(StoreTest, NonRetryableFailureDeadLettersWithReason) {
  int64_t id = MustEnqueue("k", kT0);
  MustLease("w1", kT0);
  ASSERT_TRUE(store_->Fail(id, "w1", "ticket 42 not found", false, kT0 + 5000, 5, kT0).ok());
  Job job = MustGet(id);
  EXPECT_EQ(job.state, JobState::kDead);
  EXPECT_EQ(job.last_error, "ticket 42 not found");
  auto none = store_->Lease("w1", 60'000, kT0 + 100'000);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST_F(StoreTest, AttemptBudgetRunsOutToDead) {
  int64_t id = MustEnqueue("k", kT0);
  MustLease("w1", kT0);
  ASSERT_TRUE(store_->Fail(id, "w1", "timeout", true, kT0 + 10, 2, kT0).ok());
  EXPECT_EQ(MustGet(id).state, JobState::kQueued);
  EXPECT_EQ(MustLease("w1", kT0 + 10).attempts, 2);
  ASSERT_TRUE(store_->Fail(id, "w1", "timeout", true, kT0 + 20, 2, kT0 + 10).ok());
  Job job = MustGet(id);
  EXPECT_EQ(job.state, JobState::kDead);
  EXPECT_EQ(job.last_error, "dead-lettered after 2 attempts: timeout");
}

TEST_F(StoreTest, ReleaseDoesNotUseAnAttempt) {
  int64_t id = MustEnqueue("k", kT0);
  EXPECT_EQ(MustLease("w1", kT0).attempts, 1);
  EXPECT_EQ(store_->Release(id, "w2", kT0 + 100, kT0).code(), Code::kFailedPrecondition);
  ASSERT_TRUE(store_->Release(id, "w1", kT0 + 100, kT0).ok());
  Job job = MustGet(id);
  EXPECT_EQ(job.state, JobState::kQueued);
  EXPECT_EQ(job.attempts, 0);
  EXPECT_EQ(job.next_attempt_ms, kT0 + 100);
  EXPECT_EQ(MustLease("w1", kT0 + 100).attempts, 1);
}

TEST_F(StoreTest, RetryRequeuesOnlyDeadJobs) {
  int64_t id = MustEnqueue("k", kT0);
  EXPECT_EQ(store_->Retry(id, "cli", kT0).code(), Code::kFailedPrecondition);  // queued, not dead
  EXPECT_EQ(store_->Retry(12345, "cli", kT0).code(), Code::kNotFound);
  MustLease("w1", kT0);
  ASSERT_TRUE(store_->Fail(id, "w1", "bad", false, kT0, 5, kT0).ok());
  ASSERT_TRUE(store_->Retry(id, "cli", kT0 + 50).ok());
  Job job = MustGet(id);
  EXPECT_EQ(job.state, JobState::kQueued);
  EXPECT_EQ(job.attempts, 0);
  EXPECT_EQ(job.next_attempt_ms, kT0 + 50);
  EXPECT_EQ(MustLease("w1", kT0 + 50).id, id);
}

// A requeued job goes on to write to the help desk: the audit says who sent it back,
// committed with the requeue itself. A refused retry records nothing.
TEST_F(StoreTest, RetryRecordsWhoRequeuedTheJob) {
  int64_t id = MustEnqueue("k", kT0);
  ASSERT_FALSE(store_->Retry(id, "cli", kT0).ok());
  MustLease("w1", kT0);
  ASSERT_TRUE(store_->Fail(id, "w1", "bad", false, kT0, 5, kT0).ok());
  ASSERT_TRUE(store_->Retry(id, "cli", kT0 + 50).ok());
  auto rows = store_->AuditForJob(id);
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 1u);
  const AuditRow& row = rows->front();
  EXPECT_EQ(row.entry.stage, "job.requeued");
  EXPECT_EQ(row.entry.actor, "cli");
  EXPECT_EQ(row.entry.source, "acme");
  EXPECT_EQ(row.entry.ticket_id, "42");
  EXPECT_EQ(row.ts_ms, kT0 + 50);
  EXPECT_TRUE(store_->VerifyAudit().value().ok);
}

TEST_F(StoreTest, CountsListEveryStateIncludingZeros) {
  auto empty = store_->CountJobsByState();
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, (std::map<std::string, int64_t>{
                        {"queued", 0}, {"leased", 0}, {"done", 0}, {"dead", 0}, {"skipped", 0}}));
  int64_t a = MustEnqueue("a", kT0);
  int64_t b = MustEnqueue("b", kT0 + 1);
  MustEnqueue("c", kT0 + 2);
  MustLease("w", kT0 + 5);
  MustLease("w", kT0 + 5);
  ASSERT_TRUE(store_->Complete(a, "w", JobState::kDone, kT0 + 6).ok());
  ASSERT_TRUE(store_->Fail(b, "w", "x", false, 0, 5, kT0 + 6).ok());
  auto counts = store_->CountJobsByState();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(*counts, (std::map<std::string, int64_t>{
                         {"queued", 1}, {"leased", 0}, {"done", 1}, {"dead", 1}, {"skipped", 0}}));
  auto dead = store_->ListJobs(JobState::kDead, 10);
  ASSERT_TRUE(dead.ok());
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ((*dead)[0].id, b);
  auto limited = store_->ListJobs(std::nullopt, 2);
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->size(), 2u);
  auto keys = store_->DedupeKeys({JobState::kQueued, JobState::kLeased, JobState::kDead});
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  std::sort(keys->begin(), keys->end());
  EXPECT_EQ(*keys, (std::vector<std::string>{"b", "c"}));
}

TEST_F(StoreTest, NextDueInMs) {
  auto none = store_->NextDueInMs(kT0);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  int64_t id = MustEnqueue("k", kT0);
  MustLease("w", kT0, 30'000);
  auto lease_expiry = store_->NextDueInMs(kT0 + 10'000);
  ASSERT_TRUE(lease_expiry.ok() && lease_expiry->has_value());
  EXPECT_EQ(**lease_expiry, 20'000);
  ASSERT_TRUE(store_->Release(id, "w", kT0 + 7000, kT0).ok());
  auto due = store_->NextDueInMs(kT0 + 2000);
  ASSERT_TRUE(due.ok() && due->has_value());
  EXPECT_EQ(**due, 5000);
  auto overdue = store_->NextDueInMs(kT0 + 9000);
  ASSERT_TRUE(overdue.ok() && overdue->has_value());
  EXPECT_EQ(**overdue, 0);
}

TEST_F(StoreTest, CachePutGetReplace) {
  auto miss = store_->CacheGet("k");
  ASSERT_TRUE(miss.ok());
  EXPECT_FALSE(miss->has_value());
  ASSERT_TRUE(store_->CachePut("k", "v1", kT0).ok());
  ASSERT_TRUE(store_->CachePut("k", "v2", kT0 + 1).ok());
  auto hit = store_->CacheGet("k");
  ASSERT_TRUE(hit.ok() && hit->has_value());
  EXPECT_EQ(**hit, "v2");
}

// A job's collected rows and cache entries commit with its transition, in one
// transaction, chained in the order they were collected.
TEST_F(StoreTest, JobWritesCommitWithTheTransitionInOneTransaction) {
  int64_t id = MustEnqueue("k1", kT0);
  MustLease("w1", kT0);
  JobWrites writes;
  for (const char* stage : {"job.leased", "fetch", "triage"})
    writes.audit.push_back({AuditEntry{id, "42", "acme", stage, "system", "ok", "{}"}, kT0 + 1});
  writes.cache.push_back({"plan:k1", "{\"actions\":[]}", kT0 + 1});
  const int64_t commits_before = StoreCommitCount(*store_).value();
  ASSERT_TRUE(store_->Complete(id, "w1", JobState::kDone, kT0 + 2, &writes).ok());
  EXPECT_EQ(StoreCommitCount(*store_).value() - commits_before, 1);
  EXPECT_TRUE(writes.empty());
  EXPECT_EQ(MustGet(id).state, JobState::kDone);
  auto rows = store_->AuditForJob(id).value();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].entry.stage, "job.leased");
  EXPECT_EQ(rows[2].entry.stage, "triage");
  EXPECT_EQ(rows[2].ts_ms, kT0 + 1);
  EXPECT_EQ(store_->CacheGet("plan:k1").value().value_or(""), "{\"actions\":[]}");
  auto report = store_->VerifyAudit().value();
  EXPECT_TRUE(report.ok) << report.problem;
  EXPECT_EQ(report.rows, 3);
}

// The rows say what this worker did, so a lost lease must not lose them.
TEST_F(StoreTest, JobWritesSurviveALostLease) {
  int64_t id = MustEnqueue("k1", kT0);
  MustLease("w1", kT0, 1000);
  MustLease("w2", kT0 + 2000);  // w1's lease expired; w2 took the job
  JobWrites writes;
  writes.audit.push_back({AuditEntry{id, "42", "acme", "vendor.write", "system", "ok", "{}"}, kT0 + 2100});
  EXPECT_EQ(store_->Complete(id, "w1", JobState::kDone, kT0 + 2200, &writes).code(), Code::kFailedPrecondition);
  EXPECT_TRUE(writes.empty());
  EXPECT_EQ(MustGet(id).state, JobState::kLeased);
  EXPECT_EQ(MustGet(id).lease_owner, "w2");
  ASSERT_EQ(store_->AuditForJob(id).value().size(), 1u);
  // Fail and Release carry writes the same way.
  writes.audit.push_back({AuditEntry{id, "42", "acme", "job.retry", "system", "error", "{}"}, kT0 + 2300});
  ASSERT_TRUE(store_->Fail(id, "w2", "boom", true, kT0 + 5000, 5, kT0 + 2300, &writes).ok());
  EXPECT_TRUE(writes.empty());
  EXPECT_EQ(store_->AuditForJob(id).value().size(), 2u);
  EXPECT_TRUE(store_->VerifyAudit().value().ok);
}

// Two owners racing on one job: w1's lease expires, w2 takes the job. w1's plan commit,
// checked in its own transaction, lands nothing: no plan, no row. The same for a lease
// that expired and was not taken yet, for a finished job, and for an unknown one.
TEST_F(StoreTest, PlanCommitOfAWorkerThatLostItsLeaseLandsNothing) {
  int64_t id = MustEnqueue("k1", kT0);
  MustLease("w1", kT0, 1000);
  auto plan_writes = [&](const std::string& plan) {
    JobWrites writes;
    writes.audit.push_back({AuditEntry{id, "42", "acme", "triage", "system", "ok", "{}"}, kT0 + 10});
    writes.cache.push_back({"plan:k1", plan, kT0 + 10});
    return writes;
  };
  JobWrites w1 = plan_writes("w1's plan");
  EXPECT_EQ(store_->CommitWritesIfLeased(id, "w1", kT0 + 1000, &w1).code(), Code::kFailedPrecondition)
      << "an expired lease, even one nobody took yet, is lost";
  MustLease("w2", kT0 + 1500);
  JobWrites w2 = plan_writes("w2's plan");
  ASSERT_TRUE(store_->CommitWritesIfLeased(id, "w2", kT0 + 1600, &w2).ok());
  EXPECT_TRUE(w2.empty());
  Status lost = store_->CommitWritesIfLeased(id, "w1", kT0 + 1700, &w1);
  EXPECT_EQ(lost.code(), Code::kFailedPrecondition);
  EXPECT_NE(lost.message().find("now held by 'w2'"), std::string::npos) << lost.message();
  EXPECT_EQ(w1.audit.size(), 1u) << "the loser's writes are left to the caller";
  EXPECT_EQ(store_->CacheGet("plan:k1").value().value_or(""), "w2's plan");
  EXPECT_EQ(store_->AuditForJob(id).value().size(), 1u);
  // The loser cannot finish the job either; once done, no one can store a plan for it.
  EXPECT_EQ(store_->Complete(id, "w1", JobState::kDone, kT0 + 1800).code(), Code::kFailedPrecondition);
  ASSERT_TRUE(store_->Complete(id, "w2", JobState::kDone, kT0 + 1800).ok());
  EXPECT_EQ(store_->CommitWritesIfLeased(id, "w2", kT0 + 1900, &w1).code(), Code::kFailedPrecondition);
  EXPECT_EQ(store_->CommitWritesIfLeased(id + 1, "w2", kT0 + 1900, &w1).code(), Code::kNotFound);
  EXPECT_EQ(store_->CacheGet("plan:k1").value().value_or(""), "w2's plan");
  EXPECT_EQ(store_->AuditForJob(id).value().size(), 1u);
  EXPECT_TRUE(store_->VerifyAudit().value().ok);
}

// An error other than a lost lease keeps nothing and leaves the writes to the caller.
TEST_F(StoreTest, RejectedTransitionKeepsTheWritesForTheCaller) {
  int64_t id = MustEnqueue("k1", kT0);
  MustLease("w1", kT0);
  JobWrites writes;
  writes.audit.push_back({AuditEntry{id, "42", "acme", "fetch", "system", "ok", "{}"}, kT0});
  EXPECT_EQ(store_->Complete(id, "w1", JobState::kDead, kT0, &writes).code(), Code::kInvalidArgument);
  EXPECT_EQ(writes.audit.size(), 1u);
  ASSERT_TRUE(store_->CommitWrites(&writes).ok());
  EXPECT_TRUE(writes.empty());
  EXPECT_EQ(store_->AuditForJob(id).value().size(), 1u);
}

// Inside a scope, deferrable cache entries wait for the job's commit and are visible to
// the same thread meanwhile; other threads and plain CachePut are not affected.
TEST_F(StoreTest, DeferrableCachePutsWaitForTheJobsCommit) {
  JobWrites writes;
  {
    JobWriteScope scope(&writes);
    ASSERT_TRUE(store_->CachePutDeferrable("llm:a", "answer", kT0).ok());
    ASSERT_TRUE(store_->CachePut("counter", "1", kT0).ok());
    EXPECT_EQ(store_->CacheGet("llm:a").value().value_or(""), "answer");
    std::optional<std::string> seen_elsewhere = std::string("unset");
    std::thread other([&] { seen_elsewhere = store_->CacheGet("llm:a").value(); });
    other.join();
    EXPECT_FALSE(seen_elsewhere.has_value());
  }
  ASSERT_EQ(writes.cache.size(), 1u);
  EXPECT_EQ(store_->CacheGet("counter").value().value_or(""), "1");
  EXPECT_FALSE(store_->CacheGet("llm:a").value().has_value());
  ASSERT_TRUE(store_->CommitWrites(&writes).ok());
  EXPECT_EQ(store_->CacheGet("llm:a").value().value_or(""), "answer");
  // Outside any scope it is a plain put.
  ASSERT_TRUE(store_->CachePutDeferrable("llm:b", "now", kT0).ok());
  EXPECT_EQ(store_->CacheGet("llm:b").value().value_or(""), "now");
}

TEST_F(StoreTest, AuditAppendChainsAndVerifies) {
  AppendRows(5);
  AuditEntry other;
  other.job_id = 2;
  other.ticket_id = "t2";
  other.source = "acme";
  other.stage = "vendor.write";
  other.actor = "agent:7";
  ASSERT_TRUE(store_->AppendAudit(other, kT0 + 100).ok());

  auto for_job = store_->AuditForJob(2);
  ASSERT_TRUE(for_job.ok());
  ASSERT_EQ(for_job->size(), 2u);
  EXPECT_EQ((*for_job)[0].seq, 2);
  EXPECT_EQ((*for_job)[1].seq, 6);
  EXPECT_EQ((*for_job)[1].entry.actor, "agent:7");
  auto for_ticket = store_->AuditForTicket("acme", "t3");
  ASSERT_TRUE(for_ticket.ok());
  ASSERT_EQ(for_ticket->size(), 1u);
  const AuditRow& row = (*for_ticket)[0];
  EXPECT_EQ(row.seq, 3);
  EXPECT_EQ(row.ts_ms, kT0 + 3);
  EXPECT_EQ(row.entry.data, R"({"i":3})");
  EXPECT_EQ(row.hash, AuditRowHash(row));
  EXPECT_EQ(row.prev_hash, (*for_job)[0].hash);  // row 3 chains onto row 2
  auto first = store_->AuditForJob(1);
  ASSERT_TRUE(first.ok() && first->size() == 1u);
  EXPECT_EQ((*first)[0].prev_hash, std::string(kAuditGenesisHash));

  AuditVerifyReport report = MustVerify();
  EXPECT_TRUE(report.ok) << report.problem;
  EXPECT_EQ(report.rows, 6);
  EXPECT_EQ(report.first_bad_seq, 0);
}

TEST_F(StoreTest, EmptyAuditVerifies) {
  AuditVerifyReport report = MustVerify();
  EXPECT_TRUE(report.ok);
  EXPECT_EQ(report.rows, 0);
}

TEST_F(StoreTest, ConcurrentAppendsKeepOneChain) {
  std::unique_ptr<Store> second = Open();
  ASSERT_NE(second, nullptr);
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    Store* store = t % 2 == 0 ? store_.get() : second.get();
    threads.emplace_back([store, &errors] {
      for (int i = 0; i < 25; ++i) {
        AuditEntry e;
        e.stage = "draft";
        if (!store->AppendAudit(e, kT0 + i).ok()) ++errors;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(errors.load(), 0);
  AuditVerifyReport report = MustVerify();
  EXPECT_TRUE(report.ok) << report.problem;
  EXPECT_EQ(report.rows, 100);
}

TEST_F(StoreTest, AuditTriggersRefuseUpdateAndDelete) {
  AppendRows(3);
  EXPECT_NE(RawExec("UPDATE audit SET data = '{}' WHERE seq = 2")
                .find("audit log is append-only"),
            std::string::npos);
  EXPECT_NE(RawExec("DELETE FROM audit WHERE seq = 3").find("audit log is append-only"),
            std::string::npos);
  AuditVerifyReport report = MustVerify();
  EXPECT_TRUE(report.ok);
  EXPECT_EQ(report.rows, 3);
}

TEST_F(StoreTest, VerifyNamesEditedRow) {
  AppendRows(5);
  ASSERT_EQ(Tamper(R"(UPDATE audit SET data = '{"i":99}' WHERE seq = 3)"), "");
  AuditVerifyReport report = MustVerify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.first_bad_seq, 3);
  EXPECT_EQ(report.rows, 2);
  EXPECT_NE(report.problem.find("edited"), std::string::npos) << report.problem;
}

TEST_F(StoreTest, VerifyNamesDeletedMiddleRow) {
  AppendRows(5);
  ASSERT_EQ(Tamper("DELETE FROM audit WHERE seq = 3"), "");
  AuditVerifyReport report = MustVerify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.first_bad_seq, 3);
  EXPECT_NE(report.problem.find("missing"), std::string::npos) << report.problem;
}

TEST_F(StoreTest, VerifyNamesInsertedRow) {
  AppendRows(5);
  auto rows = store_->AuditForTicket("acme", "t2");
  ASSERT_TRUE(rows.ok() && rows->size() == 1u);
  // The forger shifts rows 3..5 up and slips in a row 3 whose own hash is correct and
  // which links to row 2: the break shows where it meets the original row (now 4).
  AuditRow forged;
  forged.seq = 3;
  forged.ts_ms = kT0 + 3;
  forged.entry.stage = "vendor.write";
  forged.entry.data = R"({"forged":true})";
  forged.prev_hash = (*rows)[0].hash;
  forged.hash = AuditRowHash(forged);
  ASSERT_EQ(Tamper("UPDATE audit SET seq = -seq WHERE seq >= 3;"
                   "UPDATE audit SET seq = 1 - seq WHERE seq < 0;"
                   "INSERT INTO audit VALUES (3, " + std::to_string(forged.ts_ms) +
                   ", 0, '', '', 'vendor.write', 'system', 'ok', '{\"forged\":true}', '" +
                   forged.prev_hash + "', '" + forged.hash + "')"),
            "");
  AuditVerifyReport report = MustVerify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.first_bad_seq, 4);
  EXPECT_NE(report.problem.find("prev_hash"), std::string::npos) << report.problem;
}

TEST_F(StoreTest, VerifyNamesInsertedRowWithBadHash) {
  AppendRows(3);
  ASSERT_EQ(Tamper("INSERT INTO audit VALUES (4, 1, 0, '', '', 'x', 'system', 'ok', '{}', "
                   "(SELECT hash FROM audit WHERE seq = 3), 'deadbeef')"),
            "");
  AuditVerifyReport report = MustVerify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.first_bad_seq, 4);
}

TEST_F(StoreTest, VerifyNamesSwappedRows) {
  AppendRows(5);
  // Swap the contents of rows 2 and 3, keeping their seq numbers.
  ASSERT_EQ(Tamper("UPDATE audit SET seq = -2 WHERE seq = 2;"
                   "UPDATE audit SET seq = 2 WHERE seq = 3;"
                   "UPDATE audit SET seq = 3 WHERE seq = -2;"),
            "");
  AuditVerifyReport report = MustVerify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.first_bad_seq, 2);
}

// Removing the last rows leaves a valid (shorter) chain, which no unkeyed hash chain can
// notice on its own; against an anchor (a head an earlier verify reported, kept outside
// the file) it is named, as is a tail rewritten and re-hashed from some row on.
TEST_F(StoreTest, VerifyAgainstAnAnchorNamesATruncatedTail) {
  AppendRows(5);
  AuditVerifyReport before = MustVerify();
  ASSERT_TRUE(before.ok);
  ASSERT_EQ(before.head_hash.size(), 64u);
  const AuditAnchor anchor{before.rows, before.head_hash};
  EXPECT_TRUE(store_->VerifyAudit(anchor).value().ok);
  ASSERT_EQ(Tamper("DELETE FROM audit WHERE seq >= 4"), "");
  EXPECT_TRUE(MustVerify().ok);  // the chain alone cannot tell
  auto report = store_->VerifyAudit(anchor);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_FALSE(report->ok);
  EXPECT_EQ(report->first_bad_seq, 4);
  EXPECT_NE(report->problem.find("removed from the end"), std::string::npos) << report->problem;
  // Every row gone: "ok, 0 rows" without an anchor, broken at row 1 with one.
  ASSERT_EQ(RawExec("DELETE FROM audit"), "");  // the triggers are already gone
  EXPECT_EQ(store_->VerifyAudit(anchor).value().first_bad_seq, 1);
}

TEST_F(StoreTest, VerifyAgainstAnAnchorNamesARewrittenTail) {
  AppendRows(5);
  const AuditAnchor anchor{5, MustVerify().head_hash};
  // The forger removes rows 4 and 5 and appends new ones through the store: a valid chain.
  ASSERT_EQ(Tamper("DELETE FROM audit WHERE seq >= 4"), "");
  AuditEntry e;
  e.stage = "vendor.write";
  ASSERT_TRUE(store_->AppendAudit(e, kT0 + 4).ok());
  ASSERT_TRUE(store_->AppendAudit(e, kT0 + 5).ok());
  EXPECT_TRUE(MustVerify().ok);
  auto report = store_->VerifyAudit(anchor);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_FALSE(report->ok);
  EXPECT_EQ(report->first_bad_seq, 5);
  EXPECT_NE(report->problem.find("anchor"), std::string::npos) << report->problem;
  // Rows appended after the anchor's are what a live log does: still ok.
  const AuditAnchor older{3, [&] {
    auto rows = store_->AuditForTicket("acme", "t3");
    return rows.ok() && rows->size() == 1 ? (*rows)[0].hash : std::string();
  }()};
  EXPECT_TRUE(store_->VerifyAudit(older).value().ok);
}

TEST_F(StoreTest, VerifyIsFastOnALargeChain) {
  // Built with one raw transaction (fsync per AppendAudit would dominate the test).
  constexpr int kRows = 100'000;
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_stmt* insert = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "INSERT INTO audit VALUES (?,?,?,?,?,?,?,?,?,?,?)", -1,
                                 &insert, nullptr),
              SQLITE_OK);
    std::string prev(kAuditGenesisHash);
    for (int i = 1; i <= kRows; ++i) {
      AuditRow row;
      row.seq = i;
      row.ts_ms = kT0 + i;
      row.entry.job_id = i / 8;
      row.entry.ticket_id = std::to_string(i / 8);
      row.entry.source = "acme";
      row.entry.stage = "classify";
      row.entry.data = R"({"category":{"label":"billing","confidence":0.93},"n":)" +
                       std::to_string(i) + "}";
      row.prev_hash = prev;
      row.hash = AuditRowHash(row);
      sqlite3_bind_int64(insert, 1, row.seq);
      sqlite3_bind_int64(insert, 2, row.ts_ms);
      sqlite3_bind_int64(insert, 3, row.entry.job_id);
      sqlite3_bind_text(insert, 4, row.entry.ticket_id.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(insert, 5, row.entry.source.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(insert, 6, row.entry.stage.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(insert, 7, row.entry.actor.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(insert, 8, row.entry.outcome.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(insert, 9, row.entry.data.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(insert, 10, row.prev_hash.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(insert, 11, row.hash.c_str(), -1, SQLITE_TRANSIENT);
      ASSERT_EQ(sqlite3_step(insert), SQLITE_DONE);
      sqlite3_reset(insert);
      prev = row.hash;
    }
    sqlite3_finalize(insert);
    ASSERT_EQ(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  auto start = std::chrono::steady_clock::now();
  AuditVerifyReport report = MustVerify();
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(report.ok) << report.problem;
  EXPECT_EQ(report.rows, kRows);
  // The budget is 1M rows in 10 s. A tenth of that measures ~0.3 s; 3 s leaves room for a
  // loaded CI machine while still catching a per-row query or a quadratic walk.
  EXPECT_LT(elapsed, std::chrono::seconds(3));
  // The store's own appends continue the raw-built chain.
  auto seq = store_->AppendAudit(AuditEntry{}, kT0);
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, kRows + 1);
}

// A job taken through lease to `state` (done, skipped or dead) at time t. Call before
// enqueueing jobs meant to stay queued: Lease takes the oldest due job.
int64_t Finished(Store& store, const std::string& key, JobState state, int64_t at) {
  auto enqueued = store.Enqueue(NewJob{"acme", key, "42", "ticket.updated", "{\"raw\":\"" + key + "\"}"}, at);
  EXPECT_TRUE(enqueued.ok());
  auto leased = store.Lease("w", 60'000, at);
  EXPECT_TRUE(leased.ok() && leased->has_value());
  const int64_t id = enqueued.ok() ? enqueued->job_id : 0;
  Status s = state == JobState::kDead ? store.Fail(id, "w", "broken", /*retryable=*/false, at, 5, at)
                                      : store.Complete(id, "w", state, at);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return id;
}

TEST_F(StoreTest, RetentionEmptiesOnlyOldFinishedPayloadsAndOldCacheEntries) {
  const int64_t cutoff = kT0 + 1000;
  const int64_t done = Finished(*store_, "old-done", JobState::kDone, kT0);
  const int64_t skipped = Finished(*store_, "old-skipped", JobState::kSkipped, kT0);
  const int64_t dead = Finished(*store_, "old-dead", JobState::kDead, kT0);
  const int64_t recent = Finished(*store_, "recent-done", JobState::kDone, cutoff + 1);
  const int64_t leased = MustEnqueue("old-leased", kT0);
  MustLease("w", kT0, /*lease_ms=*/10'000'000);
  const int64_t queued = MustEnqueue("old-queued", kT0 + 1);
  ASSERT_TRUE(store_->CachePut("model:old", "answer", kT0).ok());
  ASSERT_TRUE(store_->CachePut("model:recent", "answer", cutoff).ok());
  ASSERT_TRUE(store_->CachePut("state:old", "cursor", kT0).ok());
  AppendRows(3);

  RetentionOptions options;
  options.cutoff_ms = cutoff;
  options.keep_cache_entry = [](std::string_view key) { return key.substr(0, 6) == "state:"; };
  auto report = store_->ApplyRetention(options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->payloads_emptied, 2);
  EXPECT_EQ(report->cache_rows_deleted, 1);

  EXPECT_EQ(MustGet(done).payload, "");
  EXPECT_EQ(MustGet(skipped).payload, "");
  EXPECT_EQ(MustGet(done).state, JobState::kDone);  // the row and its state stay
  EXPECT_EQ(MustGet(dead).payload, R"({"raw":"old-dead"})");
  EXPECT_EQ(MustGet(recent).payload, R"({"raw":"recent-done"})");
  EXPECT_EQ(MustGet(leased).payload, MakeJob("old-leased").payload);
  EXPECT_EQ(MustGet(queued).payload, MakeJob("old-queued").payload);
  EXPECT_FALSE(store_->CacheGet("model:old")->has_value());
  EXPECT_TRUE(store_->CacheGet("model:recent")->has_value());
  EXPECT_TRUE(store_->CacheGet("state:old")->has_value());

  // The audit log is untouched and still verifies.
  AuditVerifyReport verify = MustVerify();
  EXPECT_TRUE(verify.ok) << verify.problem;
  EXPECT_EQ(verify.rows, 3);
  // The kept row still deduplicates a redelivery of the purged job.
  auto again = store_->Enqueue(NewJob{"acme", "old-done", "42", "ticket.updated", "{}"}, cutoff + 5);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->job_id, done);
  // A purged job cannot come back to a worker: only dead jobs are retried.
  Status retry = store_->Retry(done, "cli", cutoff + 5);
  EXPECT_EQ(retry.code(), Code::kFailedPrecondition);
  EXPECT_NE(retry.message().find("only dead jobs"), std::string::npos) << retry.message();

  auto second = store_->ApplyRetention(options);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->payloads_emptied, 0);
  EXPECT_EQ(second->cache_rows_deleted, 0);
}

TEST_F(StoreTest, RetentionFinishesEveryBatchOneCommitEach) {
  for (int i = 0; i < 5; ++i) {
    Finished(*store_, std::string("job-").append(std::to_string(i)), JobState::kDone, kT0 + i);
    ASSERT_TRUE(store_->CachePut(std::string("k").append(std::to_string(i)), "v", kT0 + i).ok());
  }
  // An entry kept at the front of every page must not stop the paging behind it.
  ASSERT_TRUE(store_->CachePut("keep", "v", kT0 - 1).ok());
  RetentionOptions options;
  options.cutoff_ms = kT0 + 100;
  options.batch_rows = 2;
  options.keep_cache_entry = [](std::string_view key) { return key == "keep"; };
  const int64_t commits_before = *StoreCommitCount(*store_);
  auto report = store_->ApplyRetention(options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->payloads_emptied, 5);
  EXPECT_EQ(report->cache_rows_deleted, 5);
  EXPECT_EQ(RawQueryInt("SELECT COUNT(*) FROM jobs WHERE length(payload) > 0"), 0);
  EXPECT_EQ(RawQueryInt("SELECT COUNT(*) FROM cache"), 1);
  // Jobs 2 + 2 + 1; cache 2 + 2 + 2 examined (the kept entry among them), then an empty
  // page that ends the walk: a transaction per batch, the write lock let go between them.
  EXPECT_EQ(*StoreCommitCount(*store_) - commits_before, 7);
}

TEST_F(StoreTest, RetentionStopsBetweenBatchesWhenAsked) {
  for (int i = 0; i < 5; ++i) Finished(*store_, std::string("job-").append(std::to_string(i)), JobState::kDone, kT0);
  ASSERT_TRUE(store_->CachePut("old", "v", kT0).ok());
  RetentionOptions options;
  options.cutoff_ms = kT0 + 100;
  options.batch_rows = 2;
  int asked = 0;
  options.stop_requested = [&asked] { return ++asked > 1; };  // after the first batch
  auto report = store_->ApplyRetention(options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->payloads_emptied, 2);
  EXPECT_EQ(report->cache_rows_deleted, 0);
  EXPECT_EQ(RawQueryInt("SELECT COUNT(*) FROM jobs WHERE length(payload) > 0"), 3);
}

TEST_F(StoreTest, RetentionDryRunCountsAndChangesNothing) {
  const int64_t done = Finished(*store_, "old-done", JobState::kDone, kT0);
  ASSERT_TRUE(store_->CachePut("model:old", "answer", kT0).ok());
  RetentionOptions options;
  options.cutoff_ms = kT0 + 1000;
  options.dry_run = true;
  const int64_t commits_before = *StoreCommitCount(*store_);
  auto report = store_->ApplyRetention(options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->payloads_emptied, 1);
  EXPECT_EQ(report->cache_rows_deleted, 1);
  EXPECT_EQ(*StoreCommitCount(*store_), commits_before);
  EXPECT_EQ(MustGet(done).payload, R"({"raw":"old-done"})");
  EXPECT_TRUE(store_->CacheGet("model:old")->has_value());
  options.batch_rows = 0;
  EXPECT_EQ(store_->ApplyRetention(options).status().code(), Code::kInvalidArgument);
}

TEST_F(StoreTest, ReopenKeepsDataAndMigrationsAreIdempotent) {
  int64_t id = MustEnqueue("k", kT0);
  AppendRows(2);
  EXPECT_EQ(store_->SchemaVersion(), sqlite::LatestSchemaVersion());
  store_.reset();
  store_ = Open();
  ASSERT_NE(store_, nullptr);
  store_.reset();
  store_ = Open();
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(store_->SchemaVersion(), sqlite::LatestSchemaVersion());
  EXPECT_EQ(MustGet(id).dedupe_key, "k");
  EXPECT_TRUE(MustVerify().ok);
  EXPECT_EQ(MustVerify().rows, 2);
  // One row per migration, however often the file was opened.
  EXPECT_EQ(RawQueryInt("SELECT COUNT(*) FROM schema_migrations"),
            sqlite::LatestSchemaVersion());
}

// The database of a newer deskpilot is the wrong input for this one (InvalidArgument: the
// CLI exits 2), and is left byte for byte as it was: switching it to WAL, the first thing
// an open did, rewrote its header.
TEST_F(StoreTest, RefusesNewerSchemaAndLeavesTheFileAsItWas) {
  store_.reset();
  ASSERT_EQ(RawExec("PRAGMA journal_mode = DELETE"), "");
  ASSERT_EQ(RawExec("INSERT INTO schema_migrations VALUES (999, 0)"), "");
  auto contents = [&] {
    std::ifstream in(path_, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string before = contents();
  auto r = OpenSqliteStore(path_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("999"), std::string::npos) << r.status().message();
  EXPECT_EQ(OpenExistingSqliteStore(path_).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(RefuseNewerStore(path_).code(), Code::kInvalidArgument);
  EXPECT_TRUE(contents() == before) << "the newer database was modified";
  ASSERT_EQ(RawExec("DELETE FROM schema_migrations WHERE version = 999"), "");
  EXPECT_TRUE(RefuseNewerStore(path_).ok());
  EXPECT_TRUE(RefuseNewerStore((dir_ / "absent.db").string()).ok());
}

TEST_F(StoreTest, OpenSetsPragmasAndQuickCheckPasses) {
  EXPECT_TRUE(store_->QuickCheck().ok());
  // journal_mode is persistent in the file; a raw connection sees WAL.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "wal");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST_F(StoreTest, RefusesAFileThatIsNotADatabase) {
  std::string garbage = (dir_ / "garbage.db").string();
  std::ofstream(garbage) << std::string(8192, 'x');
  auto r = OpenSqliteStore(garbage);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDataLoss) << r.status().ToString();
}

// SQLite says only "unable to open database file" when the database's folder cannot be
// written; in WAL mode even a reader must create the -wal and -shm files beside it. The
// error names the folder. Made read-only with chmod, or (as root, whom permissions do not
// stop) with a read-only tmpfs mounted over it; skipped where neither is possible.
TEST_F(StoreTest, AnUnwritableFolderIsNamed) {
  store_.reset();
  const fs::path folder = dir_ / "ro";
  fs::create_directories(folder);
  const std::string existing = (folder / "old.db").string();
  const bool root = geteuid() == 0;
  if (root && mount("tmpfs", folder.c_str(), "tmpfs", 0, "size=4m") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs to make a read-only folder as root";
  // Undone however the test ends, so TearDown can remove the directory.
  struct Restore {
    fs::path folder;
    bool root;
    ~Restore() {
      if (root) {
        umount2(folder.c_str(), MNT_DETACH);
      } else {
        std::error_code ec;
        fs::permissions(folder, fs::perms::owner_all, ec);
      }
    }
  } restore{folder, root};
  ASSERT_TRUE(OpenSqliteStore(existing).ok());  // closed at once: no -wal or -shm left
  if (root) {
    ASSERT_EQ(mount("tmpfs", folder.c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, "size=4m"), 0);
  } else {
    fs::permissions(folder, fs::perms::owner_read | fs::perms::owner_exec);
  }
  for (const std::string& path : {existing, (folder / "new.db").string()}) {
    auto opened = OpenSqliteStore(path);
    ASSERT_FALSE(opened.ok()) << path;
    EXPECT_NE(opened.status().message().find("the folder " + folder.string() + " is not writable"),
              std::string::npos) << opened.status().ToString();
  }
  auto existing_only = OpenExistingSqliteStore(existing);
  ASSERT_FALSE(existing_only.ok());
  EXPECT_NE(existing_only.status().message().find("is not writable"), std::string::npos)
      << existing_only.status().ToString();
}

TEST(JobStateTest, NamesRoundTrip) {
  for (JobState s : {JobState::kQueued, JobState::kLeased, JobState::kDone, JobState::kDead,
                     JobState::kSkipped}) {
    EXPECT_EQ(ParseJobState(JobStateName(s)), s);
  }
  EXPECT_FALSE(ParseJobState("running").has_value());
}

TEST(AuditChainTest, EncodingIsUnambiguous) {
  // Moving bytes between adjacent fields must change the hash.
  AuditRow a;
  a.entry.stage = "ab";
  a.entry.actor = "c";
  AuditRow b = a;
  b.entry.stage = "a";
  b.entry.actor = "bc";
  EXPECT_NE(AuditRowHash(a), AuditRowHash(b));
  EXPECT_EQ(AuditRowHash(a), AuditRowHash(a));
  EXPECT_EQ(AuditRowHash(a).size(), 64u);
}

}  // namespace
}  // namespace deskpilot
