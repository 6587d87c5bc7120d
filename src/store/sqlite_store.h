// Introspection of the SQLite store beyond the Store interface.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "deskpilot/store.h"

namespace deskpilot {

// Counters of Enqueue's group commit since the store was opened. enqueues / batches is
// the mean number of webhooks that shared one transaction (and one fsync).
struct GroupCommitStats {
  int64_t enqueues = 0;       // Enqueue calls that reached a transaction
  int64_t batches = 0;        // transactions (commits or rollbacks) they were grouped into
  int64_t largest_batch = 0;
};

// Opens a store that must already exist, as the operator commands do: NotFound when the
// file is not an SQLite database (empty included) or holds no deskpilot store, and then
// nothing is written to it. OpenSqliteStore would create the store's tables in any
// SQLite file it is pointed at, and answer "0 rows" about it.
Result<std::unique_ptr<Store>> OpenExistingSqliteStore(const std::string& path,
                                                       const StoreOptions& options = {});

// InvalidArgument when the file at `path` holds the store of a newer deskpilot (the
// message says so); Ok when it does not, or when there is no file. Reads only, for
// commands that open the database other than through OpenSqliteStore (the KB index), which
// refuses such a file the same way.
Status RefuseNewerStore(const std::string& path);

// nullopt when `store` is not the SQLite store.
std::optional<GroupCommitStats> EnqueueGroupCommitStats(Store& store);

// Write transactions committed on the store's connection since it was opened (each an
// fsync under synchronous=FULL when it changed anything): what a job costs in commits.
// nullopt when `store` is not the SQLite store.
std::optional<int64_t> StoreCommitCount(Store& store);

}  // namespace deskpilot
