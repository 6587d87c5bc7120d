#include "store/sqlite_db.h"

#include <utility>

namespace deskpilot::sqlite {

Status ErrorStatus(int rc, sqlite3* db, std::string_view context) {
  std::string message(context);
  message += ": ";
  // The connection's message is more specific ("UNIQUE constraint failed: jobs.dedupe_key")
  // than the generic text for the code; callers pass the connection that just failed.
  message += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_PROTOCOL:
      return Status::Unavailable(std::move(message));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::DataLoss(std::move(message));
    case SQLITE_CONSTRAINT:
    case SQLITE_CANTOPEN:
      return Status::FailedPrecondition(std::move(message));
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return Status::PermissionDenied(std::move(message));
    default:
      return Status::Internal(std::move(message));
  }
}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)), owned_(other.owned_),
      bind_error_(other.bind_error_) {}

Statement::~Statement() {
  if (stmt_ == nullptr) return;
  if (owned_) {
    sqlite3_finalize(stmt_);
  } else {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

Statement& Statement::Bind(int index, int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK && bind_error_ == SQLITE_OK) bind_error_ = rc;
  return *this;
}

Statement& Statement::Bind(int index, std::string_view text) {
  // SQLITE_TRANSIENT: SQLite copies, so callers may pass temporaries.
  int rc = sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT,
                               SQLITE_UTF8);
  if (rc != SQLITE_OK && bind_error_ == SQLITE_OK) bind_error_ = rc;
  return *this;
}

Statement& Statement::BindBlob(int index, std::string_view bytes) {
  int rc = sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK && bind_error_ == SQLITE_OK) bind_error_ = rc;
  return *this;
}

Statement& Statement::BindNull(int index) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK && bind_error_ == SQLITE_OK) bind_error_ = rc;
  return *this;
}

Result<bool> Statement::Step() {
  if (bind_error_ != SQLITE_OK) {
    return Status::Internal(std::string("bind parameter for '") + sqlite3_sql(stmt_) +
                            "': " + sqlite3_errstr(bind_error_));
  }
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return ErrorStatus(rc, db_, sqlite3_sql(stmt_));
}

Status Statement::Run() {
  while (true) {
    DP_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return Status::Ok();
  }
}

int64_t Statement::Int(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Statement::Text(int column) const { return std::string(View(column)); }

std::string_view Statement::View(int column) const {
  // column_blob returns the bytes of TEXT values too, without any conversion.
  const void* data = sqlite3_column_blob(stmt_, column);
  int size = sqlite3_column_bytes(stmt_, column);
  if (data == nullptr || size <= 0) return {};
  return {static_cast<const char*>(data), static_cast<size_t>(size)};
}

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& path, int flags,
                                                     int busy_timeout_ms) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    Status status = ErrorStatus(rc, db, "open " + path);
    sqlite3_close(db);  // a handle is returned even on failure and must be closed
    return status;
  }
  std::unique_ptr<Connection> conn(new Connection(db));
  sqlite3_extended_result_codes(db, 1);
  rc = sqlite3_busy_timeout(db, busy_timeout_ms);
  if (rc != SQLITE_OK) return ErrorStatus(rc, db, "busy_timeout");
  return conn;
}

Connection::~Connection() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

Result<Statement> Connection::Cached(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return ErrorStatus(rc, db_, "prepare '" + sql + "'");
    it = cache_.emplace(sql, stmt).first;
  }
  return Statement(db_, it->second, /*owned=*/false);
}

Result<Statement> Connection::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return ErrorStatus(rc, db_, "prepare '" + std::string(sql) + "'");
  return Statement(db_, stmt, /*owned=*/true);
}

Status Connection::Exec(const std::string& sql) {
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  if (rc == SQLITE_OK) return Status::Ok();
  // Long DDL scripts are cut so the message stays one readable line.
  constexpr size_t kMaxContext = 60;
  std::string context = sql.size() > kMaxContext ? sql.substr(0, kMaxContext) + "..." : sql;
  return ErrorStatus(rc, db_, context);
}

Result<std::string> Connection::QueryText(const std::string& sql) {
  DP_ASSIGN_OR_RETURN(Statement stmt, Prepare(sql));
  DP_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Status::Internal("'" + sql + "' returned no row");
  return stmt.Text(0);
}

Transaction::~Transaction() {
  if (open_) sqlite3_exec(db_.raw(), "ROLLBACK", nullptr, nullptr, nullptr);
}

Status Transaction::Begin() {
  DP_RETURN_IF_ERROR(db_.Exec("BEGIN IMMEDIATE"));
  open_ = true;
  return Status::Ok();
}

Status Transaction::Commit() {
  DP_RETURN_IF_ERROR(db_.Exec("COMMIT"));
  open_ = false;
  return Status::Ok();
}

}  // namespace deskpilot::sqlite
