// Versioned schema migrations for the SQLite store.
#pragma once

#include "store/sqlite_db.h"

namespace deskpilot::sqlite {

// The newest schema version this binary knows.
int LatestSchemaVersion();

// Applies every migration newer than the file's version, each in its own transaction,
// and records it in schema_migrations. Safe to run on every open and from several
// processes at once. FailedPrecondition when the file is newer than this binary.
// Returns the schema version afterwards.
Result<int> Migrate(Connection& db);

}  // namespace deskpilot::sqlite
