// Thin RAII layer over the raw sqlite3 C API, private to the SQLite store.
//
// Not thread-safe: a Connection belongs to one thread at a time (SqliteStore guards its
// write connection with a mutex; verification opens a connection of its own).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "deskpilot/status.h"

namespace deskpilot::sqlite {

// Maps an SQLite result code to the Status code that tells the caller what to do next:
// BUSY/LOCKED/IOERR/FULL are transient, CORRUPT/NOTADB are data loss, trigger and
// constraint aborts are failed preconditions.
Status ErrorStatus(int rc, sqlite3* db, std::string_view context);

// A prepared statement in use. Borrowed statements (from Connection's cache) are reset
// when this goes out of scope, so a cached statement never keeps a read snapshot open;
// owned ones are finalized.
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt, bool owned) : db_(db), stmt_(stmt), owned_(owned) {}
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Parameters are 1-based, as in SQL (?1, ?2, ...). A bind failure (a bug: wrong
  // index) is remembered and reported by the next Step().
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, std::string_view text);
  Statement& BindBlob(int index, std::string_view bytes);
  Statement& BindNull(int index);

  // True when a row is available, false when the statement has run to completion.
  Result<bool> Step();
  // Steps to completion, ignoring any rows (DDL, UPDATE without RETURNING).
  Status Run();

  // Columns are 0-based. Text and blob columns are returned byte-exact.
  int64_t Int(int column) const;
  std::string Text(int column) const;
  std::string_view View(int column) const;  // valid until the next Step()
  bool IsNull(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  bool owned_;
  int bind_error_ = SQLITE_OK;
};

class Connection {
 public:
  // `flags` are sqlite3_open_v2 flags; busy_timeout_ms makes SQLite wait for a lock held
  // by another connection (another process, or verification) instead of failing at once.
  static Result<std::unique_ptr<Connection>> Open(const std::string& path, int flags,
                                                  int busy_timeout_ms);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Prepared once per connection and reused: the hot paths (enqueue, lease) then cost no
  // parsing. `sql` must be a string literal or otherwise stable text.
  Result<Statement> Cached(const std::string& sql);
  // Prepared for one use (rare statements, pragmas).
  Result<Statement> Prepare(std::string_view sql);
  // Runs one or more statements with no parameters and no rows wanted.
  Status Exec(const std::string& sql);
  // Runs a statement that yields a single text value (e.g. PRAGMA journal_mode=WAL).
  Result<std::string> QueryText(const std::string& sql);
  int64_t Changes() const { return sqlite3_changes64(db_); }
  sqlite3* raw() const { return db_; }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

// BEGIN IMMEDIATE on construction via Begin(); rolls back on destruction unless committed.
// IMMEDIATE takes the write lock up front so a read-then-write transaction cannot fail
// half-way with SQLITE_BUSY when another connection wrote in between.
class Transaction {
 public:
  explicit Transaction(Connection& db) : db_(db) {}
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  Status Begin();
  Status Commit();

 private:
  Connection& db_;
  bool open_ = false;
};

}  // namespace deskpilot::sqlite
