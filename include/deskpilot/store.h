// Durable state: the job queue, the result cache and the hash-chained audit log.
// Abstract so that a PostgreSQL backend (queue with FOR UPDATE SKIP LOCKED) is a new
// implementation, not a rewrite. The SQLite implementation lives in src/store/.
//
// Time is passed in explicitly (milliseconds since the Unix epoch) so tests can drive
// leases and backoff without sleeping.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "deskpilot/status.h"

namespace deskpilot {

enum class JobState { kQueued, kLeased, kDone, kDead, kSkipped };
std::string_view JobStateName(JobState s);
std::optional<JobState> ParseJobState(std::string_view s);

struct NewJob {
  std::string source;      // configured helpdesk name
  std::string dedupe_key;  // unique per delivery: source + event id (or body hash)
  std::string ticket_id;
  std::string event_type;
  std::string payload;     // the verified raw webhook body, for replay
};

struct Job {
  int64_t id = 0;
  std::string source;
  std::string dedupe_key;
  std::string ticket_id;
  std::string event_type;
  std::string payload;
  JobState state = JobState::kQueued;
  int attempts = 0;            // incremented when leased
  std::string lease_owner;
  int64_t lease_expires_ms = 0;
  int64_t next_attempt_ms = 0;
  std::string last_error;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
};

struct EnqueueResult {
  int64_t job_id = 0;
  bool duplicate = false;  // the dedupe key existed: no new job was created
};

struct AuditEntry {
  int64_t job_id = 0;        // 0 when not tied to a job
  std::string ticket_id;
  std::string source;
  std::string stage;         // webhook.received, classify, retrieve, draft, decide, vendor.write, ...
  std::string actor = "system";
  std::string outcome = "ok";  // ok | error | skipped | blocked
  std::string data;          // JSON text; redacted — never secrets or raw PII
};

struct AuditRow {
  int64_t seq = 0;
  int64_t ts_ms = 0;
  AuditEntry entry;
  std::string prev_hash;  // hex
  std::string hash;       // hex
};

// Writes of one job that need no fsync of their own: its audit rows and cache entries
// (model answers, the write plan). The worker collects them while the job runs and
// commits them in one transaction with the job's next durable step — storing the write
// plan before the first write-back, or the job's final transition — so a job costs a
// few commits instead of one per row. A crash before that commit loses only what the
// retry recomputes: nothing has reached the help desk yet (the plan commit comes
// first), and a model answer missing from the cache is asked for again.
struct JobWrites {
  struct Audit {
    AuditEntry entry;
    int64_t ts_ms = 0;  // when it happened; the chain position is assigned at commit
  };
  struct CacheEntry {
    std::string key;
    std::string value;
    int64_t now_ms = 0;
  };
  std::vector<Audit> audit;       // appended to the chain in this order
  std::vector<CacheEntry> cache;  // a later entry for the same key wins
  bool empty() const { return audit.empty() && cache.empty(); }
  void clear() {
    audit.clear();
    cache.clear();
  }
};

// While alive, makes the calling thread's CachePutDeferrable calls land in `writes`
// (and its CacheGet calls see them) instead of committing one by one. A worker opens
// one per job: the model cache inside the adapters reaches the store through a Store*
// fixed at construction, and a job runs on one thread from lease to final transition.
// Scopes nest (the inner one wins until it ends). Not copyable.
class JobWriteScope {
 public:
  explicit JobWriteScope(JobWrites* writes);
  ~JobWriteScope();
  JobWriteScope(const JobWriteScope&) = delete;
  JobWriteScope& operator=(const JobWriteScope&) = delete;
  // The innermost scope's writes on this thread, or nullptr outside any scope.
  static JobWrites* Current();

 private:
  JobWrites* previous_;
};

// What Store::ApplyRetention may drop. Job rows themselves are kept: a row is what
// deduplicates a vendor's redelivery (its dedupe key) and what `audit replay` looks up
// (replay reads the audit rows, not the payload).
struct RetentionOptions {
  // Payloads of done and skipped jobs last changed before this, and cache entries
  // written before this, are dropped (ms since the epoch).
  int64_t cutoff_ms = 0;
  // Rows per transaction: the write lock is taken per batch, so a webhook ack waits for
  // at most one batch (a few ms at 100 rows).
  int batch_rows = 100;
  // Between two batches (not on a dry run): leaves the disk and the lock to webhook acks
  // while a long run (the first one over months of jobs) goes on.
  std::chrono::milliseconds pause_between_batches{10};
  // Counts what would be dropped and changes nothing.
  bool dry_run = false;
  // Cache entries that hold state rather than a recomputable result (a sync cursor, the
  // write plan of a job that may still run): kept whatever their age. Null keeps none.
  // Called with the store locked: it must not call the store.
  std::function<bool(std::string_view key)> keep_cache_entry;
  // Asked before each batch: true ends the run there (a shutdown), with what was done
  // so far reported. Null runs to the end.
  std::function<bool()> stop_requested;
};

struct RetentionReport {
  int64_t payloads_emptied = 0;    // or, on a dry run, that would be
  int64_t cache_rows_deleted = 0;  // or, on a dry run, that would be
};

struct AuditVerifyReport {
  bool ok = true;
  int64_t rows = 0;
  int64_t first_bad_seq = 0;  // 0 when ok
  std::string problem;        // what was wrong with the first bad row
  std::string head_hash;      // hash of the last row (seq == rows); empty for an empty log
};

// A row's seq and hash as an earlier verification saw them, kept outside the database.
// The chain alone cannot tell a log whose last rows were removed (or rewritten, with
// the tail re-hashed) from a shorter honest one; against an anchor it can.
struct AuditAnchor {
  int64_t seq = 0;
  std::string hash;
};

class Store {
 public:
  virtual ~Store() = default;

  // --- job queue ---
  // Commits durably (synchronous=FULL) before returning: the caller acks only after.
  virtual Result<EnqueueResult> Enqueue(const NewJob& job, int64_t now_ms) = 0;
  // Enqueue without waiting: `done` runs exactly once, after the job is durable (or with
  // the error), on this thread or on the store's own committer thread. It is for callers
  // that answer from the callback (the webhook receiver answers its sender from it, so no
  // HTTP thread sleeps through a commit). `done` must be quick, must not throw and must
  // not call into the store.
  using EnqueueDone = std::function<void(Result<EnqueueResult>)>;
  virtual void EnqueueAsync(NewJob job, int64_t now_ms, EnqueueDone done) = 0;
  // Takes the oldest due job: queued with next_attempt <= now, or leased with an
  // expired lease (its worker died). Increments attempts. nullopt when none is due.
  // Lease and Heartbeat survive a process crash; a power loss may roll them back (the
  // SQLite store commits them without an fsync), which only makes the job due again.
  // Every other change is durable when it returns.
  virtual Result<std::optional<Job>> Lease(const std::string& owner, int64_t lease_ms,
                                           int64_t now_ms) = 0;
  // Extends a lease held by `owner` (long jobs). FailedPrecondition if it was lost.
  virtual Status Heartbeat(int64_t job_id, const std::string& owner, int64_t lease_ms,
                           int64_t now_ms) = 0;
  // Complete, Fail and Release take the job's collected writes (nullptr: none) and
  // commit them in the same transaction as the transition. The writes are committed
  // even when the lease was lost (FailedPrecondition): they record what this worker
  // did, which the audit must keep whoever holds the job now. On success *writes is
  // cleared; on any other error nothing of either is kept and *writes is left as is.
  //
  // Marks done (or skipped: loop guard, nothing to do). Only the lease owner may.
  virtual Status Complete(int64_t job_id, const std::string& owner, JobState final_state,
                          int64_t now_ms, JobWrites* writes) = 0;
  Status Complete(int64_t job_id, const std::string& owner, JobState final_state,
                  int64_t now_ms) {
    return Complete(job_id, owner, final_state, now_ms, nullptr);
  }
  // Records a failure. Retryable and attempts < max_attempts → queued again at
  // next_attempt_ms; otherwise dead-lettered with `error` as the reason.
  virtual Status Fail(int64_t job_id, const std::string& owner, const std::string& error,
                      bool retryable, int64_t next_attempt_ms, int max_attempts,
                      int64_t now_ms, JobWrites* writes) = 0;
  Status Fail(int64_t job_id, const std::string& owner, const std::string& error,
              bool retryable, int64_t next_attempt_ms, int max_attempts, int64_t now_ms) {
    return Fail(job_id, owner, error, retryable, next_attempt_ms, max_attempts, now_ms, nullptr);
  }
  // Puts a job back without using up an attempt (circuit open, shutting down).
  virtual Status Release(int64_t job_id, const std::string& owner, int64_t next_attempt_ms,
                         int64_t now_ms, JobWrites* writes) = 0;
  Status Release(int64_t job_id, const std::string& owner, int64_t next_attempt_ms,
                 int64_t now_ms) {
    return Release(job_id, owner, next_attempt_ms, now_ms, nullptr);
  }
  // Commits a job's collected writes on their own, in one transaction (the write plan
  // before the first write-back). Clears *writes on success; keeps it on error.
  virtual Status CommitWrites(JobWrites* writes) = 0;
  // CommitWrites for a job that is about to act on the help desk (store its write plan,
  // apply a stored one, post an approval): commits only while `owner` holds an unexpired
  // lease on the job. The check runs inside the commit's write transaction, so no other
  // worker can take the job between the check and the commit. FailedPrecondition when the
  // lease was lost (taken over, finished, or expired and due to be taken): nothing is
  // committed and *writes is left as is, so the loser's plan and rows never land beside
  // those of the job's new owner.
  virtual Status CommitWritesIfLeased(int64_t job_id, const std::string& owner, int64_t now_ms,
                                      JobWrites* writes) = 0;
  // Requeues a dead-lettered job with a fresh attempt budget, and records who did it
  // (`actor`: the CLI, the admin API) in the audit log in the same transaction.
  // NotFound for no such job, FailedPrecondition for a job that is not dead.
  virtual Status Retry(int64_t job_id, const std::string& actor, int64_t now_ms) = 0;
  virtual Result<std::optional<Job>> GetJob(int64_t job_id) = 0;
  virtual Result<std::vector<Job>> ListJobs(std::optional<JobState> state, int limit) = 0;
  virtual Result<std::map<std::string, int64_t>> CountJobsByState() = 0;
  // Dedupe keys of the jobs in these states, read without waiting for the writers.
  virtual Result<std::vector<std::string>> DedupeKeys(const std::vector<JobState>& states) = 0;
  // Milliseconds until the next queued job is due (nullopt when none is waiting).
  virtual Result<std::optional<int64_t>> NextDueInMs(int64_t now_ms) = 0;
  // Data minimisation and a bounded file: empties the payload (the raw webhook body,
  // customer text included) of done and skipped jobs past the cutoff and deletes old
  // cache entries. Queued, leased and dead jobs keep their payload: a dead job may be
  // retried, and its body is the evidence of what came in. The audit log is never
  // touched. Works in transactions of options.batch_rows rows; what a failed batch
  // leaves is done by the next run.
  virtual Result<RetentionReport> ApplyRetention(const RetentionOptions& options) = 0;

  // --- result cache ---
  virtual Result<std::optional<std::string>> CacheGet(const std::string& key) = 0;
  // On the thread of a JobWriteScope, CacheGet also sees the scope's uncommitted entries.
  virtual Status CachePut(const std::string& key, const std::string& value, int64_t now_ms) = 0;
  // For entries whose loss costs only a recomputation (model answers): inside a
  // JobWriteScope the entry joins the scope's writes and is committed with the job's
  // next commit; outside one it is CachePut. Not for values a later put must not
  // overwrite with an older one (counters): deferred entries commit in job order.
  virtual Status CachePutDeferrable(const std::string& key, const std::string& value,
                                    int64_t now_ms) = 0;

  // --- audit log ---
  virtual Result<int64_t> AppendAudit(const AuditEntry& entry, int64_t now_ms) = 0;
  virtual Result<std::vector<AuditRow>> AuditForJob(int64_t job_id) = 0;
  virtual Result<std::vector<AuditRow>> AuditForTicket(const std::string& source,
                                                       const std::string& ticket_id) = 0;
  // Rows of one source and stage at or after `since_ms`, oldest first, one at a time (an
  // audit can be larger than memory); `visit` returns false to stop early.
  virtual Status ForEachAudit(const std::string& source, const std::string& stage, int64_t since_ms,
                              const std::function<bool(const AuditRow&)>& visit) = 0;
  // Walks the whole chain: recomputes every hash, checks every link and that seq
  // has no gaps. Names the first bad row. With an anchor, also that its row is still
  // there with the same hash.
  virtual Result<AuditVerifyReport> VerifyAudit(const std::optional<AuditAnchor>& anchor) = 0;
  Result<AuditVerifyReport> VerifyAudit() { return VerifyAudit(std::nullopt); }

  // --- health ---
  virtual Status QuickCheck() = 0;  // PRAGMA quick_check
  virtual int SchemaVersion() = 0;
};

struct StoreOptions {
  int busy_timeout_ms = 5000;
};

// Opens (creating if needed) and migrates the SQLite store: WAL, synchronous=FULL,
// foreign_keys=ON. InvalidArgument, with the file left as it was, when its schema is newer
// than this binary.
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path,
                                               const StoreOptions& options = {});

int64_t NowMs();  // wall clock, ms since epoch

}  // namespace deskpilot
