// Introspection of the SQLite store beyond the Store interface.
#pragma once

#include <cstdint>
#include <optional>

#include "deskpilot/store.h"

namespace deskpilot {

// Counters of Enqueue's group commit since the store was opened. enqueues / batches is
// the mean number of webhooks that shared one transaction (and one fsync).
struct GroupCommitStats {
  int64_t enqueues = 0;       // Enqueue calls that reached a transaction
  int64_t batches = 0;        // transactions (commits or rollbacks) they were grouped into
  int64_t largest_batch = 0;
};

// nullopt when `store` is not the SQLite store.
std::optional<GroupCommitStats> EnqueueGroupCommitStats(Store& store);

// Write transactions committed on the store's connection since it was opened (each an
// fsync under synchronous=FULL when it changed anything): what a job costs in commits.
// nullopt when `store` is not the SQLite store.
std::optional<int64_t> StoreCommitCount(Store& store);

}  // namespace deskpilot
