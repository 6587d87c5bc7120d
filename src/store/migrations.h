// Versioned schema migrations for the SQLite store.
#pragma once

#include "store/sqlite_db.h"

namespace deskpilot::sqlite {

// The newest schema version this binary knows.
int LatestSchemaVersion();

// The file's schema version, 0 when it has no schema_migrations table. Reads only.
Result<int> StoredSchemaVersion(Connection& db);

// InvalidArgument when `version` is newer than this binary knows: such a database is not
// one this binary can use (the caller's input, not a failure), and must be left as it is.
Status RefuseIfNewer(int version);

// Applies every migration newer than the file's version, each in its own transaction,
// and records it in schema_migrations. Safe to run on every open and from several
// processes at once. InvalidArgument (RefuseIfNewer) when the file is newer than this
// binary. Returns the schema version afterwards.
Result<int> Migrate(Connection& db);

}  // namespace deskpilot::sqlite
