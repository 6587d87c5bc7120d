// The SQLite implementation of Store: one file in WAL mode, one write connection.
//
// Thread-safety: every method locks mu_ around the single connection, which serializes
// the HTTP receiver threads and the workers. SQLite serializes writers anyway, so a pool
// of write connections would only trade the mutex for SQLITE_BUSY retries. The long
// reads never hold up enqueue or lease: VerifyAudit opens a connection of its own, and
// CountJobsByState (every /metrics scrape) reads on a query-only connection kept open.
// Several processes (serve plus a CLI) may share the file: every multi-statement change
// runs in BEGIN IMMEDIATE and every single-statement change is atomic by itself.
// Enqueue additionally batches concurrent callers into one transaction (group commit),
// because with synchronous=FULL the fsync per commit, not the insert, bounds the ack rate,
// and its committer takes mu_ ahead of background work (PriorityMutex: an ack waits for
// at most one worker operation, however fast the workers relock).
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>

#include "deskpilot/store.h"
#include "store/audit_chain.h"
#include "store/migrations.h"
#include "store/priority_mutex.h"
#include "store/sqlite_store.h"
#include "store/sqlite_db.h"

namespace deskpilot {

namespace {

constexpr std::array<JobState, 5> kAllJobStates = {JobState::kQueued, JobState::kLeased,
                                                   JobState::kDone, JobState::kDead,
                                                   JobState::kSkipped};

// Column lists shared by every query that reads whole rows, so ReadJob/ReadAudit can
// address columns by position.
#define DP_JOB_COLUMNS                                                                 \
  "id, source, dedupe_key, ticket_id, event_type, payload, state, attempts, "          \
  "lease_owner, lease_expires_ms, next_attempt_ms, last_error, created_ms, updated_ms"
#define DP_AUDIT_COLUMNS \
  "seq, ts_ms, job_id, ticket_id, source, stage, actor, outcome, data, prev_hash, hash"

Result<Job> ReadJob(const sqlite::Statement& stmt) {
  Job job;
  job.id = stmt.Int(0);
  job.source = stmt.Text(1);
  job.dedupe_key = stmt.Text(2);
  job.ticket_id = stmt.Text(3);
  job.event_type = stmt.Text(4);
  job.payload = stmt.Text(5);
  std::optional<JobState> state = ParseJobState(stmt.View(6));
  if (!state) return Status::DataLoss("job " + std::to_string(job.id) + " has unknown state '" +
                                      stmt.Text(6) + "'");
  job.state = *state;
  job.attempts = static_cast<int>(stmt.Int(7));
  job.lease_owner = stmt.Text(8);
  job.lease_expires_ms = stmt.Int(9);
  job.next_attempt_ms = stmt.Int(10);
  job.last_error = stmt.Text(11);
  job.created_ms = stmt.Int(12);
  job.updated_ms = stmt.Int(13);
  return job;
}

AuditRow ReadAudit(const sqlite::Statement& stmt) {
  AuditRow row;
  row.seq = stmt.Int(0);
  row.ts_ms = stmt.Int(1);
  row.entry.job_id = stmt.Int(2);
  row.entry.ticket_id = stmt.Text(3);
  row.entry.source = stmt.Text(4);
  row.entry.stage = stmt.Text(5);
  row.entry.actor = stmt.Text(6);
  row.entry.outcome = stmt.Text(7);
  row.entry.data = stmt.Text(8);
  row.prev_hash = stmt.Text(9);
  row.hash = stmt.Text(10);
  return row;
}

Result<std::vector<Job>> ReadJobs(sqlite::Statement& stmt) {
  std::vector<Job> jobs;
  while (true) {
    DP_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return jobs;
    DP_ASSIGN_OR_RETURN(Job job, ReadJob(stmt));
    jobs.push_back(std::move(job));
  }
}

Result<std::vector<AuditRow>> ReadAuditRows(sqlite::Statement& stmt) {
  std::vector<AuditRow> rows;
  while (true) {
    DP_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return rows;
    rows.push_back(ReadAudit(stmt));
  }
}

std::string Seq(int64_t seq) { return std::to_string(seq); }

Status RunQuickCheck(sqlite::Connection& db, const std::string& path) {
  DP_ASSIGN_OR_RETURN(sqlite::Statement stmt, db.Prepare("PRAGMA quick_check"));
  std::string problems;
  while (true) {
    DP_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    std::string line = stmt.Text(0);
    if (line == "ok") continue;
    if (!problems.empty()) problems += "; ";
    problems += line;
  }
  if (problems.empty()) return Status::Ok();
  return Status::DataLoss(path + ": quick_check failed: " + problems);
}

class SqliteStore final : public Store {
 public:
  SqliteStore(std::string path, StoreOptions options, std::unique_ptr<sqlite::Connection> db,
              int schema_version)
      : path_(std::move(path)), options_(options), db_(std::move(db)),
        schema_version_(schema_version) {
    sqlite3_commit_hook(db_->raw(), &SqliteStore::OnCommit, this);
  }

  int64_t Commits() const { return commits_.load(); }

  ~SqliteStore() override {
    {
      std::lock_guard lock(group_mu_);
      stopping_ = true;
    }
    group_cv_.notify_all();
    // The committer drains what is pending first: every accepted enqueue gets its answer.
    if (committer_.joinable()) committer_.join();
  }

  // Waits on the asynchronous path: one committer serves both.
  Result<EnqueueResult> Enqueue(const NewJob& job, int64_t now_ms) override {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<Result<EnqueueResult>> out;
    EnqueueAsync(job, now_ms, [&](Result<EnqueueResult> r) {
      // Notified under the lock: the waiter cannot return, destroying cv, before it is done.
      std::lock_guard lock(mu);
      out.emplace(std::move(r));
      cv.notify_one();
    });
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return out.has_value(); });
    return std::move(*out);
  }

  void EnqueueAsync(NewJob job, int64_t now_ms, EnqueueDone done) override {
    if (job.dedupe_key.empty()) return done(Status::InvalidArgument("enqueue: empty dedupe key"));
    // Group commit: one fsync costs about as much as ~20 inserts, so enqueues that arrive
    // while a commit is in flight go together into the next transaction. A thread of the
    // store's own commits them and runs each caller's `done`: the callers (HTTP threads)
    // neither sleep until their batch is durable nor take turns as committer, which cost
    // two context switches per webhook (bench/RESULTS.md). A lone enqueue still commits at
    // once; it only wakes the committer.
    bool wake = false;
    {
      std::lock_guard lock(group_mu_);
      if (!committer_.joinable()) committer_ = std::thread([this] { CommitLoop(); });
      pending_.push_back(PendingEnqueue{std::move(job), now_ms, std::move(done)});
      wake = committer_idle_;
    }
    if (wake) group_cv_.notify_one();
  }

  GroupCommitStats EnqueueStats() {
    std::lock_guard lock(group_mu_);
    return stats_;
  }

  Result<std::optional<Job>> Lease(const std::string& owner, int64_t lease_ms,
                                   int64_t now_ms) override {
    if (owner.empty()) return Status::InvalidArgument("lease: empty owner");
    std::lock_guard lock(mu_);
    DP_ASSIGN_OR_RETURN(LeaseSync sync, LeaseSync::Enter(*db_));
    // One statement, so picking and claiming are atomic even across processes. Each arm
    // takes its first row straight off its index; the outer ORDER BY picks whichever was
    // due first (a requeued job at its next attempt, a dead worker's job at lease expiry).
    DP_ASSIGN_OR_RETURN(sqlite::Statement stmt, db_->Cached(
        "UPDATE jobs SET state = 'leased', lease_owner = ?1, lease_expires_ms = ?2 + ?3, "
        "attempts = attempts + 1, updated_ms = ?2 "
        "WHERE id = (SELECT id FROM ("
        "  SELECT * FROM (SELECT id, next_attempt_ms AS due FROM jobs"
        "    WHERE state = 'queued' AND next_attempt_ms <= ?2"
        "    ORDER BY next_attempt_ms, id LIMIT 1)"
        "  UNION ALL"
        "  SELECT * FROM (SELECT id, lease_expires_ms AS due FROM jobs"
        "    WHERE state = 'leased' AND lease_expires_ms <= ?2"
        "    ORDER BY lease_expires_ms, id LIMIT 1))"
        " ORDER BY due, id LIMIT 1) "
        "RETURNING " DP_JOB_COLUMNS));
    stmt.Bind(1, owner).Bind(2, now_ms).Bind(3, lease_ms);
    DP_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return std::optional<Job>();
    DP_ASSIGN_OR_RETURN(Job job, ReadJob(stmt));
    DP_RETURN_IF_ERROR(stmt.Run());
    return std::optional<Job>(std::move(job));
  }

  Status Heartbeat(int64_t job_id, const std::string& owner, int64_t lease_ms,
                   int64_t now_ms) override {
    std::lock_guard lock(mu_);
    DP_ASSIGN_OR_RETURN(sqlite::Statement stmt, db_->Cached(
        "UPDATE jobs SET lease_expires_ms = ?3 + ?4, updated_ms = ?3 "
        "WHERE id = ?1 AND state = 'leased' AND lease_owner = ?2"));
    stmt.Bind(1, job_id).Bind(2, owner).Bind(3, now_ms).Bind(4, lease_ms);
    DP_ASSIGN_OR_RETURN(LeaseSync sync, LeaseSync::Enter(*db_));
    return ExpectOwned(stmt, job_id, owner, "heartbeat");
  }

  using Store::Complete;
  using Store::Fail;
  using Store::Release;

  Status Complete(int64_t job_id, const std::string& owner, JobState final_state,
                  int64_t now_ms, JobWrites* writes) override {
    if (final_state != JobState::kDone && final_state != JobState::kSkipped) {
      return Status::InvalidArgument("complete: final state must be done or skipped, not " +
                                     std::string(JobStateName(final_state)));
    }
    std::lock_guard lock(mu_);
    return WithWrites(writes, [&]() -> Status {
      DP_ASSIGN_OR_RETURN(sqlite::Statement stmt, db_->Cached(
          "UPDATE jobs SET state = ?3, lease_owner = '', lease_expires_ms = 0, updated_ms = ?4 "
          "WHERE id = ?1 AND state = 'leased' AND lease_owner = ?2"));
      stmt.Bind(1, job_id).Bind(2, owner).Bind(3, JobStateName(final_state)).Bind(4, now_ms);
      return ExpectOwned(stmt, job_id, owner, "complete");
    });
  }

  Status Fail(int64_t job_id, const std::string& owner, const std::string& error,
              bool retryable, int64_t next_attempt_ms, int max_attempts,
              int64_t now_ms, JobWrites* writes) override {
    std::lock_guard lock(mu_);
    return WithWrites(writes, [&]() -> Status {
      // Decided in SQL from the row's own attempts, so no read-modify-write race.
      DP_ASSIGN_OR_RETURN(sqlite::Statement stmt, db_->Cached(
          "UPDATE jobs SET "
          "  state = CASE WHEN ?3 AND attempts < ?5 THEN 'queued' ELSE 'dead' END, "
          "  last_error = CASE WHEN NOT ?3 OR attempts < ?5 THEN ?4 "
          "    ELSE 'dead-lettered after ' || attempts || ' attempts: ' || ?4 END, "
          "  next_attempt_ms = CASE WHEN ?3 AND attempts < ?5 THEN ?6 ELSE next_attempt_ms END, "
          "  lease_owner = '', lease_expires_ms = 0, updated_ms = ?7 "
          "WHERE id = ?1 AND state = 'leased' AND lease_owner = ?2"));
      stmt.Bind(1, job_id).Bind(2, owner).Bind(3, int64_t{retryable ? 1 : 0}).Bind(4, error)
          .Bind(5, int64_t{max_attempts}).Bind(6, next_attempt_ms).Bind(7, now_ms);
      return ExpectOwned(stmt, job_id, owner, "fail");
    });
  }

  Status Release(int64_t job_id, const std::string& owner, int64_t next_attempt_ms,
                 int64_t now_ms, JobWrites* writes) override {
    std::lock_guard lock(mu_);
    return WithWrites(writes, [&]() -> Status {
      DP_ASSIGN_OR_RETURN(sqlite::Statement stmt, db_->Cached(
          "UPDATE jobs SET state = 'queued', attempts = MAX(attempts - 1, 0), "
          "  next_attempt_ms = ?3, lease_owner = '', lease_expires_ms = 0, updated_ms = ?4 "
          "WHERE id = ?1 AND state = 'leased' AND lease_owner = ?2"));
      stmt.Bind(1, job_id).Bind(2, owner).Bind(3, next_attempt_ms).Bind(4, now_ms);
      return ExpectOwned(stmt, job_id, owner, "release");
    });
  }

  Status CommitWrites(JobWrites* writes) override {
    std::lock_guard lock(mu_);
    return WithWrites(writes, [] { return Status::Ok(); });
  }

  Status CommitWritesIfLeased(int64_t job_id, const std::string& owner, int64_t now_ms,
                              JobWrites* writes) override {
    std::lock_guard lock(mu_);
    // BEGIN IMMEDIATE holds the write lock from before the check to the commit: another
    // worker's Lease, in this process or another, cannot take the job in between.
    sqlite::Transaction tx(*db_);
    DP_RETURN_IF_ERROR(tx.Begin());
    DP_RETURN_IF_ERROR(LeaseHeldLocked(job_id, owner, now_ms));
    if (writes != nullptr) {
      for (const JobWrites::Audit& a : writes->audit)
        DP_RETURN_IF_ERROR(AppendAuditLocked(a.entry, a.ts_ms).status());
      for (const JobWrites::CacheEntry& e : writes->cache)
        DP_RETURN_IF_ERROR(CachePutLocked(e.key, e.value, e.now_ms));
    }
    DP_RETURN_IF_ERROR(tx.Commit());
    if (writes != nullptr) writes->clear();
    return Status::Ok();
  }

  Status Retry(int64_t job_id, const std::string& actor, int64_t now_ms) override {
    std::lock_guard lock(mu_);
    // One transaction: a requeued job goes on to write to the help desk, and the audit
    // must say who sent it back, whatever crashes in between.
    sqlite::Transaction tx(*db_);
    DP_RETURN_IF_ERROR(tx.Begin());
    AuditEntry requeued;
    bool found = false;
    {
      DP_ASSIGN_OR_RETURN(sqlite::Statement stmt, db_->Cached(
          "UPDATE jobs SET state = 'queued', attempts = 0, next_attempt_ms = ?2, "
          "  updated_ms = ?2 "
          "WHERE id = ?1 AND state = 'dead' RETURNING source, ticket_id"));
      stmt.Bind(1, job_id).Bind(2, now_ms);
      DP_ASSIGN_OR_RETURN(found, stmt.Step());
      if (found) {
        requeued.source = stmt.Text(0);
        requeued.ticket_id = stmt.Text(1);
      }
      DP_RETURN_IF_ERROR(stmt.Run());
    }
    if (found) {
      requeued.job_id = job_id;
      requeued.stage = "job.requeued";
      requeued.actor = actor;
      requeued.data = "{}";
      DP_RETURN_IF_ERROR(AppendAuditLocked(requeued, now_ms).status());
      return tx.Commit();
    }
    DP_ASSIGN_OR_RETURN(std::optional<Job> job, GetJobLocked(job_id));
    if (!job) return Status::NotFound("job " + std::to_string(job_id) + " does not exist");
    return Status::FailedPrecondition("job " + std::to_string(job_id) + " is " +
                                      std::string(JobStateName(job->state)) +
                                      ", only dead jobs can be retried");
  }

  Result<std::optional<Job>> GetJob(int64_t job_id) override {
    std::lock_guard lock(mu_);
    return GetJobLocked(job_id);
  }

  Result<std::vector<Job>> ListJobs(std::optional<JobState> state, int limit) override {
    std::lock_guard lock(mu_);
    // LIMIT -1 is SQLite for "no limit".
    int64_t sql_limit = limit > 0 ? limit : -1;
    if (state) {
      DP_ASSIGN_OR_RETURN(sqlite::Statement stmt, db_->Cached(
          "SELECT " DP_JOB_COLUMNS " FROM jobs WHERE state = ?1 ORDER BY id DESC LIMIT ?2"));
      stmt.Bind(1, JobStateName(*state)).Bind(2, sql_limit);
      return ReadJobs(stmt);
    }
    DP_ASSIGN_OR_RETURN(sqlite::Statement stmt, db_->Cached(
        "SELECT " DP_JOB_COLUMNS " FROM jobs ORDER BY id DESC LIMIT ?1"));
    stmt.Bind(1, sql_limit);
    return ReadJobs(stmt);
  }

  Result<std::map<std::string, int64_t>> CountJobsByState() override {
    std::map<std::string, int64_t> counts;
    for (JobState state : kAllJobStates) counts[std::string(JobStateName(state))] = 0;
    // On the reader connection, not under mu_: the count walks an index over every job
    // ever stored (0.11 s at a million jobs), and /metrics asks for it on every scrape.
    // Under mu_ each scrape would stall the webhook acks behind it for that long.
    std::lock_guard lock(reader_mu_);
    DP_ASSIGN_OR_RETURN(sqlite::Connection* reader, ReaderLocked());
    DP_ASSIGN_OR_RETURN(sqlite::Statement stmt,
                        reader->Cached("SELECT state, COUNT(*) FROM jobs GROUP BY state"));
    while (true) {
      DP_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) return counts;
      counts[stmt.Text(0)] = stmt.Int(1);
    }
  }

  Result<std::vector<std::string>> DedupeKeys(const std::vector<JobState>& states) override {
    std::vector<std::string> keys;
    // On the reader connection, like the counts: retention asks for the keys of every
    // unfinished job, and after a long outage that is a backlog the acks must not wait for.
    std::lock_guard lock(reader_mu_);
    DP_ASSIGN_OR_RETURN(sqlite::Connection* reader, ReaderLocked());
    for (JobState state : states) {
      DP_ASSIGN_OR_RETURN(sqlite::Statement stmt, reader->Cached("SELECT dedupe_key FROM jobs WHERE state = ?1"));
      stmt.Bind(1, JobStateName(state));
      while (true) {
        DP_ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) break;
        keys.push_back(stmt.Text(0));
      }
    }
    return keys;
  }

  Result<std::optional<int64_t>> NextDueInMs(int64_t now_ms) override {
    std::lock_guard lock(mu_);
    // Leased jobs count too: when a worker dies, its job becomes due at lease expiry,
    // and an idle worker should wake up for it rather than only on its next poll.
    DP_ASSIGN_OR_RETURN(sqlite::Statement stmt, db_->Cached(
        "SELECT MIN(due) FROM ("
        " SELECT MIN(next_attempt_ms) AS due FROM jobs WHERE state = 'queued'"
        " UNION ALL"
        " SELECT MIN(lease_expires_ms) AS due FROM jobs WHERE state = 'leased')"));
    DP_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row || stmt.IsNull(0)) return std::optional<int64_t>();
    return std::optional<int64_t>(std::max<int64_t>(0, stmt.Int(0) - now_ms));
  }

  Result<RetentionReport> ApplyRetention(const RetentionOptions& options) override {
    if (options.batch_rows < 1) return Status::InvalidArgument("retention: batch_rows must be at least 1");
    RetentionReport report;
    DP_ASSIGN_OR_RETURN(report.payloads_emptied, EmptyOldPayloads(options));
    DP_ASSIGN_OR_RETURN(report.cache_rows_deleted, DeleteOldCacheEntries(options));
    return report;
  }

  Result<std::optional<std::string>> CacheGet(const std::string& key) override {
    if (const JobWrites* pending = JobWriteScope::Current()) {
      // Newest first: a later put of the same key wins, as it will in the commit.
      for (auto it = pending->cache.rbegin(); it != pending->cache.rend(); ++it)
        if (it->key == key) return std::optional<std::string>(it->value);
    }
    std::lock_guard lock(mu_);
    DP_ASSIGN_OR_RETURN(sqlite::Statement stmt,
                        db_->Cached("SELECT value FROM cache WHERE key = ?1"));
    stmt.Bind(1, key);
    DP_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return std::optional<std::string>();
    return std::optional<std::string>(stmt.Text(0));
  }

  Status CachePut(const std::string& key, const std::string& value, int64_t now_ms) override {
    std::lock_guard lock(mu_);
    return CachePutLocked(key, value, now_ms);
  }

  Status CachePutDeferrable(const std::string& key, const std::string& value,
                            int64_t now_ms) override {
    if (JobWrites* pending = JobWriteScope::Current()) {
      pending->cache.push_back({key, value, now_ms});
      return Status::Ok();
    }
    return CachePut(key, value, now_ms);
  }

  Result<int64_t> AppendAudit(const AuditEntry& entry, int64_t now_ms) override {
    std::lock_guard lock(mu_);
    sqlite::Transaction tx(*db_);
    DP_RETURN_IF_ERROR(tx.Begin());
    DP_ASSIGN_OR_RETURN(int64_t seq, AppendAuditLocked(entry, now_ms));
    DP_RETURN_IF_ERROR(tx.Commit());
    return seq;
  }

  Result<std::vector<AuditRow>> AuditForJob(int64_t job_id) override {
    std::lock_guard lock(mu_);
    DP_ASSIGN_OR_RETURN(sqlite::Statement stmt, db_->Cached(
        "SELECT " DP_AUDIT_COLUMNS " FROM audit WHERE job_id = ?1 ORDER BY seq"));
    stmt.Bind(1, job_id);
    return ReadAuditRows(stmt);
  }

  Result<std::vector<AuditRow>> AuditForTicket(const std::string& source,
                                               const std::string& ticket_id) override {
    std::lock_guard lock(mu_);
    DP_ASSIGN_OR_RETURN(sqlite::Statement stmt, db_->Cached(
        "SELECT " DP_AUDIT_COLUMNS " FROM audit WHERE source = ?1 AND ticket_id = ?2 "
        "ORDER BY seq"));
    stmt.Bind(1, source).Bind(2, ticket_id);
    return ReadAuditRows(stmt);
  }

  Status ForEachAudit(const std::string& source, const std::string& stage, int64_t since_ms,
                     const std::function<bool(const AuditRow&)>& visit) override {
    std::lock_guard lock(mu_);
    DP_ASSIGN_OR_RETURN(sqlite::Statement stmt, db_->Prepare(
        "SELECT " DP_AUDIT_COLUMNS " FROM audit WHERE source = ?1 AND stage = ?2 AND ts_ms >= ?3 "
        "ORDER BY seq"));
    stmt.Bind(1, source).Bind(2, stage).Bind(3, since_ms);
    while (true) {
      DP_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row || !visit(ReadAudit(stmt))) return Status::Ok();
    }
  }

  using Store::VerifyAudit;

  Result<AuditVerifyReport> VerifyAudit(const std::optional<AuditAnchor>& anchor) override {
    // A separate connection: the walk is long and must not hold mu_. In WAL mode the
    // single SELECT reads one consistent snapshot while appends continue.
    DP_ASSIGN_OR_RETURN(std::unique_ptr<sqlite::Connection> reader,
                        sqlite::Connection::Open(path_, SQLITE_OPEN_READWRITE,
                                                 options_.busy_timeout_ms));
    DP_RETURN_IF_ERROR(reader->Exec("PRAGMA query_only = ON"));
    DP_ASSIGN_OR_RETURN(sqlite::Statement stmt,
                        reader->Prepare("SELECT " DP_AUDIT_COLUMNS " FROM audit ORDER BY seq"));
    AuditVerifyReport report;
    std::string prev_hash(kAuditGenesisHash);
    std::string scratch;
    auto broken = [&report](int64_t seq, std::string problem) {
      report.ok = false;
      report.first_bad_seq = seq;
      report.problem = std::move(problem);
      return report;
    };
    while (true) {
      DP_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      AuditHashInput in;
      in.seq = stmt.Int(0);
      in.ts_ms = stmt.Int(1);
      in.job_id = stmt.Int(2);
      in.ticket_id = stmt.View(3);
      in.source = stmt.View(4);
      in.stage = stmt.View(5);
      in.actor = stmt.View(6);
      in.outcome = stmt.View(7);
      in.data = stmt.View(8);
      in.prev_hash = stmt.View(9);
      std::string_view stored_hash = stmt.View(10);
      int64_t expected_seq = report.rows + 1;
      if (in.seq != expected_seq) {
        // Rows are read in seq order, so a larger seq means rows are missing before it.
        return broken(expected_seq, "row " + Seq(expected_seq) + " is missing (next row is " +
                                        Seq(in.seq) + "): rows were deleted");
      }
      if (in.prev_hash != prev_hash) {
        return broken(in.seq, "prev_hash does not match the hash of row " + Seq(in.seq - 1) +
                                  ": rows were inserted, reordered or rewritten");
      }
      std::string computed = AuditHash(in, &scratch);
      if (computed != stored_hash) {
        return broken(in.seq, "stored hash does not match the row's contents: the row was "
                              "edited");
      }
      if (anchor && in.seq == anchor->seq && stored_hash != anchor->hash) {
        return broken(in.seq, "row " + Seq(in.seq) + " is not the anchor's row: the log was "
                              "rewritten up to it");
      }
      prev_hash.assign(stored_hash);
      ++report.rows;
    }
    if (anchor && anchor->seq > report.rows) {
      return broken(report.rows + 1, "the log ends at row " + Seq(report.rows) + " but the anchor is row " +
                                         Seq(anchor->seq) + ": rows were removed from the end");
    }
    report.head_hash = report.rows > 0 ? prev_hash : "";
    return report;
  }

  Status QuickCheck() override {
    std::lock_guard lock(mu_);
    return RunQuickCheck(*db_, path_);
  }

  int SchemaVersion() override { return schema_version_; }

 private:
  // Runs a lease-guarded UPDATE; when it changed nothing, explains why: the job is gone,
  // or its lease was lost (expired and taken by another worker, or already finished).
  Status ExpectOwned(sqlite::Statement& stmt, int64_t job_id, const std::string& owner,
                     const char* what) {
    DP_RETURN_IF_ERROR(stmt.Run());
    if (db_->Changes() == 1) return Status::Ok();
    std::string prefix = std::string(what) + " job " + std::to_string(job_id) + ": ";
    DP_ASSIGN_OR_RETURN(std::optional<Job> job, GetJobLocked(job_id));
    if (!job) return Status::NotFound(prefix + "no such job");
    if (job->state == JobState::kLeased) {
      return Status::FailedPrecondition(prefix + "lease lost: now held by '" +
                                        job->lease_owner + "', not '" + owner + "'");
    }
    return Status::FailedPrecondition(prefix + "lease lost: the job is " +
                                      std::string(JobStateName(job->state)));
  }

  // Ok while `owner` holds an unexpired lease on the job. Lease() takes a job whose lease
  // expired (lease_expires_ms <= now), so an expired lease is lost even before another
  // worker took the job. REQUIRES: mu_ held.
  Status LeaseHeldLocked(int64_t job_id, const std::string& owner, int64_t now_ms) {
    DP_ASSIGN_OR_RETURN(sqlite::Statement stmt, db_->Cached(
        "SELECT state, lease_owner, lease_expires_ms FROM jobs WHERE id = ?1"));
    stmt.Bind(1, job_id);
    DP_ASSIGN_OR_RETURN(bool row, stmt.Step());
    const std::string prefix = "job " + std::to_string(job_id) + ": ";
    if (!row) return Status::NotFound(prefix + "no such job");
    if (stmt.View(0) != JobStateName(JobState::kLeased))
      return Status::FailedPrecondition(prefix + "lease lost: the job is " + stmt.Text(0));
    if (stmt.View(1) != owner) {
      return Status::FailedPrecondition(prefix + "lease lost: now held by '" + stmt.Text(1) +
                                        "', not '" + owner + "'");
    }
    if (stmt.Int(2) <= now_ms) return Status::FailedPrecondition(prefix + "lease lost: it expired");
    return Status::Ok();
  }

  // The queries name their index (INDEXED BY): without statistics (the store runs no
  // ANALYZE) the planner prefers jobs_due's state prefix, which walks every done job ever
  // stored, where jobs_payload_kept holds only the jobs that still have a payload. A
  // dropped index then fails the query instead of silently scanning.
  Result<int64_t> EmptyOldPayloads(const RetentionOptions& options) {
    if (options.dry_run) {
      std::lock_guard lock(mu_);
      DP_ASSIGN_OR_RETURN(sqlite::Statement count, db_->Cached(
          "SELECT COUNT(*) FROM jobs INDEXED BY jobs_payload_kept "
          "WHERE state IN ('done', 'skipped') AND length(payload) > 0 AND updated_ms < ?1"));
      count.Bind(1, options.cutoff_ms);
      DP_ASSIGN_OR_RETURN(bool row, count.Step());
      return row ? count.Int(0) : int64_t{0};
    }
    int64_t emptied = 0;
    for (bool first = true; NextBatch(options, first); first = false) {
      // Per batch, in the normal class: a webhook ack waits for one batch at most. X''
      // rather than NULL: the column is NOT NULL, and readers get an empty body.
      std::lock_guard lock(mu_);
      DP_ASSIGN_OR_RETURN(sqlite::Statement empty, db_->Cached(
          "UPDATE jobs SET payload = X'' WHERE id IN ("
          " SELECT id FROM jobs INDEXED BY jobs_payload_kept"
          " WHERE state IN ('done', 'skipped') AND length(payload) > 0 AND updated_ms < ?1"
          " ORDER BY updated_ms LIMIT ?2)"));
      empty.Bind(1, options.cutoff_ms).Bind(2, int64_t{options.batch_rows});
      DP_RETURN_IF_ERROR(empty.Run());
      const int64_t changed = db_->Changes();
      emptied += changed;
      if (changed < options.batch_rows) break;
    }
    return emptied;
  }

  // Paged by (created_ms, rowid) rather than "the oldest N": entries that
  // keep_cache_entry keeps stay old, and would otherwise be read again by every batch.
  // A batch counts the entries it examined, kept or not, so the lock is held for at most
  // batch_rows of them.
  Result<int64_t> DeleteOldCacheEntries(const RetentionOptions& options) {
    int64_t deleted = 0;
    int64_t after_created = INT64_MIN;
    int64_t after_rowid = INT64_MIN;
    for (bool first = true; NextBatch(options, first); first = false) {
      std::lock_guard lock(mu_);
      sqlite::Transaction tx(*db_);
      if (!options.dry_run) DP_RETURN_IF_ERROR(tx.Begin());
      std::vector<int64_t> doomed;
      int64_t examined = 0;
      {
        DP_ASSIGN_OR_RETURN(sqlite::Statement old, db_->Cached(
            "SELECT rowid, created_ms, key FROM cache INDEXED BY cache_created "
            "WHERE created_ms < ?1 AND (created_ms, rowid) > (?2, ?3) "
            "ORDER BY created_ms, rowid LIMIT ?4"));
        old.Bind(1, options.cutoff_ms).Bind(2, after_created).Bind(3, after_rowid)
            .Bind(4, int64_t{options.batch_rows});
        while (true) {
          DP_ASSIGN_OR_RETURN(bool row, old.Step());
          if (!row) break;
          ++examined;
          after_rowid = old.Int(0);
          after_created = old.Int(1);
          if (!options.keep_cache_entry || !options.keep_cache_entry(old.View(2)))
            doomed.push_back(after_rowid);
        }
      }
      if (!options.dry_run) {
        for (int64_t rowid : doomed) {
          DP_ASSIGN_OR_RETURN(sqlite::Statement remove,
                              db_->Cached("DELETE FROM cache WHERE rowid = ?1"));
          remove.Bind(1, rowid);
          DP_RETURN_IF_ERROR(remove.Run());
        }
        DP_RETURN_IF_ERROR(tx.Commit());
      }
      deleted += static_cast<int64_t>(doomed.size());
      if (examined < options.batch_rows) break;
    }
    return deleted;
  }

  // Before each batch of a retention run: the pause after the previous one, then
  // whether to go on. Without the pause, a first run over months of backlog (4,000
  // batches of 100 back to back: 198k payloads, 200k cache rows) kept the disk busy and
  // an ack waiting on nearly every commit: ack p50 0.8 -> 6-9 ms, p99 2.7 -> 25-40 ms at
  // 500 webhooks/s. With 10 ms pauses: p50 0.9-1.1 ms, p99 5-7 ms; the run takes 53 s.
  static bool NextBatch(const RetentionOptions& options, bool first) {
    if (!first && !options.dry_run && options.pause_between_batches.count() > 0)
      std::this_thread::sleep_for(options.pause_between_batches);
    return !(options.stop_requested && options.stop_requested());
  }

  Status CachePutLocked(const std::string& key, const std::string& value, int64_t now_ms) {
    DP_ASSIGN_OR_RETURN(sqlite::Statement stmt, db_->Cached(
        "INSERT OR REPLACE INTO cache (key, value, created_ms) VALUES (?1, ?2, ?3)"));
    stmt.Bind(1, key).BindBlob(2, value).Bind(3, now_ms);
    return stmt.Run();
  }

  // REQUIRES: a write transaction is open (BEGIN IMMEDIATE takes the write lock before
  // the tail is read, so two appenders, even in two processes, cannot both chain onto
  // the same previous row).
  Result<int64_t> AppendAuditLocked(const AuditEntry& entry, int64_t ts_ms) {
    AuditRow row;
    row.ts_ms = ts_ms;
    row.entry = entry;
    {
      DP_ASSIGN_OR_RETURN(sqlite::Statement last, db_->Cached(
          "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"));
      DP_ASSIGN_OR_RETURN(bool found, last.Step());
      row.seq = found ? last.Int(0) + 1 : 1;
      row.prev_hash = found ? last.Text(1) : std::string(kAuditGenesisHash);
    }
    row.hash = AuditRowHash(row);
    DP_ASSIGN_OR_RETURN(sqlite::Statement insert, db_->Cached(
        "INSERT INTO audit (" DP_AUDIT_COLUMNS ") "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"));
    insert.Bind(1, row.seq).Bind(2, row.ts_ms).Bind(3, entry.job_id).Bind(4, entry.ticket_id)
        .Bind(5, entry.source).Bind(6, entry.stage).Bind(7, entry.actor)
        .Bind(8, entry.outcome).Bind(9, entry.data).Bind(10, row.prev_hash)
        .Bind(11, row.hash);
    DP_RETURN_IF_ERROR(insert.Run());
    return row.seq;
  }

  // One transaction: a job's collected writes (audit rows in order, then cache entries),
  // then `step` (a lease-guarded transition, or nothing). A lost lease (FailedPrecondition
  // from `step`) still commits the writes, since they record what this worker did; any
  // other error rolls everything back. *writes is cleared once committed.
  // REQUIRES: mu_ held.
  template <class Step>
  Status WithWrites(JobWrites* writes, Step step) {
    const bool has_writes = writes != nullptr && !writes->empty();
    if (!has_writes) return step();  // a single statement is atomic on its own
    sqlite::Transaction tx(*db_);
    DP_RETURN_IF_ERROR(tx.Begin());
    for (const JobWrites::Audit& a : writes->audit)
      DP_RETURN_IF_ERROR(AppendAuditLocked(a.entry, a.ts_ms).status());
    for (const JobWrites::CacheEntry& e : writes->cache)
      DP_RETURN_IF_ERROR(CachePutLocked(e.key, e.value, e.now_ms));
    Status stepped = step();
    if (!stepped.ok() && stepped.code() != Code::kFailedPrecondition) return stepped;
    DP_RETURN_IF_ERROR(tx.Commit());
    writes->clear();
    return stepped;
  }

  // Lease and Heartbeat commit with synchronous=NORMAL: no fsync of their own. In WAL
  // mode such a commit survives a process crash (it is in the WAL file) and is made
  // durable by the next FULL commit (the WAL is synced in order); only a power loss
  // before that can roll it back. Nothing depends on a lease outliving a power loss:
  // every worker holding one died with the machine, nothing reached the help desk
  // before the job's plan commit (FULL), and a rolled-back lease only makes the job
  // due again at once instead of at lease expiry. What is lost then is one count
  // in `attempts`. An enqueue (acked to the vendor), a plan, an audit row and a final
  // state keep synchronous=FULL.
  class LeaseSync {
   public:
    static Result<LeaseSync> Enter(sqlite::Connection& db) {
      DP_RETURN_IF_ERROR(db.Exec("PRAGMA synchronous = NORMAL"));
      return LeaseSync(db);
    }
    LeaseSync(LeaseSync&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}
    LeaseSync(const LeaseSync&) = delete;
    LeaseSync& operator=(const LeaseSync&) = delete;
    LeaseSync& operator=(LeaseSync&&) = delete;
    ~LeaseSync() {
      // Sets a flag on the connection: no I/O and no lock, so nothing for it to fail on.
      if (db_ != nullptr) (void)db_->Exec("PRAGMA synchronous = FULL");
    }

   private:
    explicit LeaseSync(sqlite::Connection& db) : db_(&db) {}
    sqlite::Connection* db_;
  };

  // The read-only connection for long reads that must not hold up the writer (WAL: a
  // reader sees the last commit and blocks nobody). Opened on first use. REQUIRES:
  // reader_mu_ held.
  Result<sqlite::Connection*> ReaderLocked() {
    if (!reader_) {
      DP_ASSIGN_OR_RETURN(std::unique_ptr<sqlite::Connection> reader,
                          sqlite::Connection::Open(path_, SQLITE_OPEN_READWRITE,
                                                   options_.busy_timeout_ms));
      DP_RETURN_IF_ERROR(reader->Exec("PRAGMA query_only = ON"));
      reader_ = std::move(reader);
    }
    return reader_.get();
  }

  // sqlite3_commit_hook: every write transaction this connection commits (each one an
  // fsync under synchronous=FULL when it changed a page). Returning 0 lets it commit.
  static int OnCommit(void* self) {
    ++static_cast<SqliteStore*>(self)->commits_;
    return 0;
  }

  // An enqueue not yet committed.
  struct PendingEnqueue {
    NewJob job;
    int64_t now_ms = 0;
    EnqueueDone done;
  };

  // The committer thread: takes everything pending as one batch, commits it, answers it.
  void CommitLoop() {
    std::unique_lock lock(group_mu_);
    for (;;) {
      committer_idle_ = true;
      group_cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
      committer_idle_ = false;
      if (pending_.empty()) return;  // stopping, and nothing left to answer
      std::vector<PendingEnqueue> batch;
      batch.swap(pending_);
      lock.unlock();
      std::vector<Result<EnqueueResult>> results = CommitBatch(batch);
      lock.lock();
      // Counted before anyone is answered, so a caller that reads them after its answer
      // sees its own batch.
      ++stats_.batches;
      stats_.enqueues += static_cast<int64_t>(batch.size());
      stats_.largest_batch = std::max<int64_t>(stats_.largest_batch, static_cast<int64_t>(batch.size()));
      lock.unlock();
      // Answered outside group_mu_: enqueues of the next batch go on meanwhile.
      for (size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move(results[i]));
      lock.lock();
    }
  }

  // Inserts the batch's jobs in one BEGIN IMMEDIATE ... COMMIT. Results go to callers only
  // after the commit; if anything fails, the whole transaction rolls back and every caller
  // gets the error, so none of them acknowledges its webhook.
  std::vector<Result<EnqueueResult>> CommitBatch(const std::vector<PendingEnqueue>& batch) {
    UrgentLock lock(mu_);
    std::vector<EnqueueResult> results;
    Status status = [&]() -> Status {
      // Caught here: an exception escaping the committer thread would end the process.
      try {
        results.reserve(batch.size());
        sqlite::Transaction tx(*db_);
        DP_RETURN_IF_ERROR(tx.Begin());
        for (const PendingEnqueue& p : batch) {
          DP_ASSIGN_OR_RETURN(EnqueueResult result, InsertLocked(p.job, p.now_ms));
          results.push_back(result);
        }
        return tx.Commit();
      } catch (const std::exception& e) {
        return Status::Internal(std::string("enqueue: ") + e.what());
      }
    }();
    std::vector<Result<EnqueueResult>> out;
    out.reserve(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      out.push_back(status.ok() ? Result<EnqueueResult>(results[i]) : Result<EnqueueResult>(status));
    }
    return out;
  }

  // A duplicate key, whether stored earlier or inserted earlier in the same batch, yields
  // the existing job's id: the SELECT runs inside the batch's transaction.
  Result<EnqueueResult> InsertLocked(const NewJob& job, int64_t now_ms) {
    {
      // DO NOTHING + RETURNING yields no row on a duplicate; that is the dedupe signal.
      DP_ASSIGN_OR_RETURN(sqlite::Statement insert, db_->Cached(
          "INSERT INTO jobs (source, dedupe_key, ticket_id, event_type, payload, state, "
          "attempts, next_attempt_ms, created_ms, updated_ms) "
          "VALUES (?1, ?2, ?3, ?4, ?5, 'queued', 0, ?6, ?6, ?6) "
          "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id"));
      insert.Bind(1, job.source).Bind(2, job.dedupe_key).Bind(3, job.ticket_id)
          .Bind(4, job.event_type).BindBlob(5, job.payload).Bind(6, now_ms);
      DP_ASSIGN_OR_RETURN(bool inserted, insert.Step());
      if (inserted) {
        EnqueueResult result{insert.Int(0), false};
        DP_RETURN_IF_ERROR(insert.Run());  // finish the statement before the next one
        return result;
      }
    }
    DP_ASSIGN_OR_RETURN(sqlite::Statement find,
                        db_->Cached("SELECT id FROM jobs WHERE dedupe_key = ?1"));
    find.Bind(1, job.dedupe_key);
    DP_ASSIGN_OR_RETURN(bool found, find.Step());
    if (!found) return Status::Internal("enqueue: dedupe conflict but no job for the key");
    return EnqueueResult{find.Int(0), true};
  }

  Result<std::optional<Job>> GetJobLocked(int64_t job_id) {
    DP_ASSIGN_OR_RETURN(sqlite::Statement stmt,
                        db_->Cached("SELECT " DP_JOB_COLUMNS " FROM jobs WHERE id = ?1"));
    stmt.Bind(1, job_id);
    DP_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return std::optional<Job>();
    DP_ASSIGN_OR_RETURN(Job job, ReadJob(stmt));
    return std::optional<Job>(std::move(job));
  }

  const std::string path_;
  const StoreOptions options_;
  PriorityMutex mu_;  // CommitBatch locks it urgently, every other method normally
  std::unique_ptr<sqlite::Connection> db_;  // guarded by mu_
  std::mutex reader_mu_;
  std::unique_ptr<sqlite::Connection> reader_;  // guarded by reader_mu_; see ReaderLocked
  // Group commit of Enqueue. Lock order: group_mu_ is never held while taking mu_.
  std::mutex group_mu_;
  std::condition_variable group_cv_;     // wakes the committer
  std::vector<PendingEnqueue> pending_;  // enqueues not yet in a batch
  bool committer_idle_ = false;          // the committer waits on group_cv_
  bool stopping_ = false;
  std::thread committer_;                // started by the first enqueue
  GroupCommitStats stats_;
  std::atomic<int64_t> commits_{0};
  const int schema_version_;
};

#undef DP_JOB_COLUMNS
#undef DP_AUDIT_COLUMNS

}  // namespace

std::string_view JobStateName(JobState s) {
  switch (s) {
    case JobState::kQueued: return "queued";
    case JobState::kLeased: return "leased";
    case JobState::kDone: return "done";
    case JobState::kDead: return "dead";
    case JobState::kSkipped: return "skipped";
  }
  return "unknown";
}

std::optional<JobState> ParseJobState(std::string_view s) {
  for (JobState state : kAllJobStates) {
    if (JobStateName(state) == s) return state;
  }
  return std::nullopt;
}

std::optional<GroupCommitStats> EnqueueGroupCommitStats(Store& store) {
  auto* sqlite_store = dynamic_cast<SqliteStore*>(&store);
  if (sqlite_store == nullptr) return std::nullopt;
  return sqlite_store->EnqueueStats();
}

std::optional<int64_t> StoreCommitCount(Store& store) {
  auto* sqlite_store = dynamic_cast<SqliteStore*>(&store);
  if (sqlite_store == nullptr) return std::nullopt;
  return sqlite_store->Commits();
}

namespace {
thread_local JobWrites* current_job_writes = nullptr;
}  // namespace

JobWriteScope::JobWriteScope(JobWrites* writes) : previous_(current_job_writes) {
  current_job_writes = writes;
}

JobWriteScope::~JobWriteScope() { current_job_writes = previous_; }

JobWrites* JobWriteScope::Current() { return current_job_writes; }

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

// SQLite says only "unable to open database file" (or "attempt to write a readonly
// database") when the file or its folder cannot be written, and in WAL mode even a
// reader creates PATH-wal and PATH-shm beside the file: the folder must be writable too.
// Adds which of the two is not to such an error.
Status ExplainUnwritable(const std::string& path, const Status& status) {
  if (status.code() != Code::kFailedPrecondition && status.code() != Code::kPermissionDenied)
    return status;
  const std::filesystem::path file(path);
  const std::string folder = file.has_parent_path() ? file.parent_path().string() : ".";
  std::string why;
  if (access(folder.c_str(), W_OK) != 0) {
    why = "the folder " + folder + " is not writable (" +
          std::error_code(errno, std::generic_category()).message() +
          "), and the database needs to create its -wal and -shm files there";
  } else if (access(path.c_str(), W_OK) != 0 && errno != ENOENT) {
    why = "the file is not writable (" + std::error_code(errno, std::generic_category()).message() + ")";
  } else {
    return status;
  }
  return Status(status.code(), status.message() + ": " + why);
}

Result<std::unique_ptr<Store>> OpenAndMigrate(const std::string& path,
                                              const StoreOptions& options) {
  // NOMUTEX: SqliteStore's own mutex already serializes use of the connection.
  DP_ASSIGN_OR_RETURN(std::unique_ptr<sqlite::Connection> db,
                      sqlite::Connection::Open(
                          path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                          options.busy_timeout_ms));
  // Before anything that writes (the journal mode is kept in the file's header): the
  // database of a newer deskpilot is refused as it is.
  DP_ASSIGN_OR_RETURN(int stored, sqlite::StoredSchemaVersion(*db));
  DP_RETURN_IF_ERROR(sqlite::RefuseIfNewer(stored));
  // WAL lets readers (verify, the CLI) run beside the writer; some filesystems and
  // in-memory databases silently keep another mode, which would break that promise.
  DP_ASSIGN_OR_RETURN(std::string mode, db->QueryText("PRAGMA journal_mode = WAL"));
  if (mode != "wal") {
    return Status::FailedPrecondition(path + ": cannot use WAL journal mode (got '" + mode +
                                      "')");
  }
  // FULL: a job acknowledged to the vendor (202) must survive power loss.
  DP_RETURN_IF_ERROR(db->Exec("PRAGMA synchronous = FULL"));
  DP_RETURN_IF_ERROR(db->Exec("PRAGMA foreign_keys = ON"));
  // Before migrating: never write new tables into a file that is already damaged.
  DP_RETURN_IF_ERROR(RunQuickCheck(*db, path));
  DP_ASSIGN_OR_RETURN(int version, sqlite::Migrate(*db));
  return std::unique_ptr<Store>(
      std::make_unique<SqliteStore>(path, options, std::move(db), version));
}

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path,
                                               const StoreOptions& options) {
  Result<std::unique_ptr<Store>> opened = OpenAndMigrate(path, options);
  if (!opened.ok()) return ExplainUnwritable(path, opened.status());
  return opened;
}

Status RefuseNewerStore(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return Status::Ok();
  DP_ASSIGN_OR_RETURN(std::unique_ptr<sqlite::Connection> probe,
                      sqlite::Connection::Open(path, SQLITE_OPEN_READONLY, StoreOptions{}.busy_timeout_ms));
  DP_ASSIGN_OR_RETURN(int version, sqlite::StoredSchemaVersion(*probe));
  return sqlite::RefuseIfNewer(version);
}

Result<std::unique_ptr<Store>> OpenExistingSqliteStore(const std::string& path,
                                                       const StoreOptions& options) {
  // The header first: SQLite takes an empty file for an empty database, and a file of
  // another kind fails only deep in the open with a "file is not a database".
  constexpr std::string_view kHeader("SQLite format 3\0", 16);
  std::string header(kHeader.size(), '\0');
  std::ifstream in(path, std::ios::binary);
  in.read(header.data(), static_cast<std::streamsize>(header.size()));
  if (!in || header != kHeader) {
    return Status::NotFound(path + " is not an SQLite database" +
                            (in.gcount() == 0 ? " (the file is empty)" : ""));
  }
  // Read-only, so a database of another program is left exactly as it was.
  Result<std::string> tables = [&]() -> Result<std::string> {
    DP_ASSIGN_OR_RETURN(std::unique_ptr<sqlite::Connection> probe,
                        sqlite::Connection::Open(path, SQLITE_OPEN_READONLY,
                                                 options.busy_timeout_ms));
    return probe->QueryText(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'");
  }();
  if (!tables.ok()) return ExplainUnwritable(path, tables.status());
  if (*tables == "0") {
    return Status::NotFound(path + " is an SQLite database but holds no deskpilot store "
                                   "(no schema_migrations table)");
  }
  return OpenSqliteStore(path, options);
}

}  // namespace deskpilot
