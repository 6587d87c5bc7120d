#include "store/migrations.h"

#include <iterator>
#include <string>

#include "deskpilot/store.h"

namespace deskpilot::sqlite {
namespace {

struct Migration {
  int version;
  const char* sql;
};

// Append only: a shipped migration is never edited, a change is a new version. The kb_*
// tables in the same file belong to the fts5 retriever, which migrates them itself.
constexpr Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE jobs (
  id               INTEGER PRIMARY KEY,
  source           TEXT    NOT NULL,
  dedupe_key       TEXT    NOT NULL UNIQUE,
  ticket_id        TEXT    NOT NULL,
  event_type       TEXT    NOT NULL,
  payload          BLOB    NOT NULL,
  state            TEXT    NOT NULL
                   CHECK (state IN ('queued', 'leased', 'done', 'dead', 'skipped')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  lease_owner      TEXT    NOT NULL DEFAULT '',
  lease_expires_ms INTEGER NOT NULL DEFAULT 0,
  next_attempt_ms  INTEGER NOT NULL,
  last_error       TEXT    NOT NULL DEFAULT '',
  created_ms       INTEGER NOT NULL,
  updated_ms       INTEGER NOT NULL
);
-- Lease looks for the first due queued job and the first expired lease; both are
-- range scans in due order on these indexes.
CREATE INDEX jobs_due ON jobs (state, next_attempt_ms);
CREATE INDEX jobs_lease_expiry ON jobs (state, lease_expires_ms);

CREATE TABLE cache (
  key        TEXT PRIMARY KEY,
  value      BLOB    NOT NULL,
  created_ms INTEGER NOT NULL
);

-- seq is assigned by the store (last + 1 inside the appending transaction) rather than
-- by AUTOINCREMENT, so the chain and the numbering are decided together.
CREATE TABLE audit (
  seq       INTEGER PRIMARY KEY,
  ts_ms     INTEGER NOT NULL,
  job_id    INTEGER NOT NULL,
  ticket_id TEXT    NOT NULL,
  source    TEXT    NOT NULL,
  stage     TEXT    NOT NULL,
  actor     TEXT    NOT NULL,
  outcome   TEXT    NOT NULL,
  data      TEXT    NOT NULL,
  prev_hash TEXT    NOT NULL,
  hash      TEXT    NOT NULL
);
CREATE INDEX audit_job ON audit (job_id);
CREATE INDEX audit_ticket ON audit (source, ticket_id);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
  SELECT RAISE(ABORT, 'audit log is append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
  SELECT RAISE(ABORT, 'audit log is append-only');
END;
)sql"},
    {2, R"sql(
-- Retention (Store::ApplyRetention) looks for finished jobs that still hold a payload,
-- and for old cache entries. Only such jobs are in the partial index, so an hourly run
-- that finds nothing reads nothing, however many job rows are kept: without it, one
-- finding nothing scanned every done job (0.25 s at 200k jobs, under the write lock).
CREATE INDEX jobs_payload_kept ON jobs (updated_ms)
  WHERE state IN ('done', 'skipped') AND length(payload) > 0;
CREATE INDEX cache_created ON cache (created_ms);
)sql"},
};

Result<int> CurrentVersion(Connection& db) {
  DP_ASSIGN_OR_RETURN(Statement stmt,
                      db.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
  DP_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Status::Internal("schema_migrations: no row from MAX(version)");
  return static_cast<int>(stmt.Int(0));
}

}  // namespace

Result<int> StoredSchemaVersion(Connection& db) {
  DP_ASSIGN_OR_RETURN(std::string tables, db.QueryText(
      "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"));
  if (tables == "0") return 0;
  return CurrentVersion(db);
}

Status RefuseIfNewer(int version) {
  if (version <= LatestSchemaVersion()) return Status::Ok();
  return Status::InvalidArgument(
      "database schema version " + std::to_string(version) +
      " is newer than this deskpilot knows (" + std::to_string(LatestSchemaVersion()) +
      "); upgrade deskpilot or use a matching database");
}

int LatestSchemaVersion() { return std::prev(std::end(kMigrations))->version; }

Result<int> Migrate(Connection& db) {
  DP_RETURN_IF_ERROR(db.Exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      " version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)"));
  DP_ASSIGN_OR_RETURN(int version, CurrentVersion(db));
  DP_RETURN_IF_ERROR(RefuseIfNewer(version));
  for (const Migration& migration : kMigrations) {
    if (migration.version <= version) continue;
    Transaction tx(db);
    DP_RETURN_IF_ERROR(tx.Begin());
    // Another process may have migrated between our read and taking the write lock.
    DP_ASSIGN_OR_RETURN(version, CurrentVersion(db));
    DP_RETURN_IF_ERROR(RefuseIfNewer(version));
    if (migration.version <= version) continue;
    Status applied = db.Exec(migration.sql);
    if (!applied.ok()) {
      return applied.WithContext("migration " + std::to_string(migration.version));
    }
    DP_ASSIGN_OR_RETURN(Statement record,
                        db.Prepare("INSERT INTO schema_migrations (version, applied_at) "
                                   "VALUES (?1, ?2)"));
    record.Bind(1, static_cast<int64_t>(migration.version)).Bind(2, NowMs());
    DP_RETURN_IF_ERROR(record.Run());
    DP_RETURN_IF_ERROR(tx.Commit());
    version = migration.version;
  }
  return version;
}

}  // namespace deskpilot::sqlite
