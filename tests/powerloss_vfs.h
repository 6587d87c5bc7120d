// Power loss, simulated the way SQLite's own crash tests do it: a VFS shim that passes every
// call through to the default VFS, and first records, in an undo log, what each write and
// truncate of a database, WAL or journal file is about to overwrite, and each successful
// sync. After the process is killed, RollBackUnsynced undoes what the disk was never told to
// keep: per file, the writes after its last sync (all of them, or all but a prefix that
// "reached the platter" in order). What is left is a state a real power loss could leave.
//
// Model limits, stated so nobody reads more into a pass: directory entries (file creation,
// deletion) count as durable at once, persisted writes are whole (no torn sectors, as
// SQLite's POWERSAFE_OVERWRITE assumes), and persistence is in order within a file.
//
// Used two ways: linked into a test (Register, then open with vfs "powerloss"), and preloaded
// into the real binary (powerloss_preload.cc makes it the default VFS there).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace deskpilot::powerloss {

// Where the shim cuts the power itself: the process SIGKILLs itself just before the Nth
// sync (the moment a cut hurts most: the writes are all out, none is durable yet; SQLite's
// crash tests cut the same way). 0: never.
struct Cut {
  int64_t at_sync = 0;     // of any tracked file (mostly WAL commits)
  int64_t at_db_sync = 0;  // of a main database file: in WAL mode, only checkpoints sync it,
                           // after copying pages into it
};

// Registers the shim as VFS "powerloss", logging to `undo_log_path` (created or appended).
// make_default: every sqlite3_open* without an explicit VFS then goes through it. Returns
// false if the log cannot be opened or SQLite refuses the registration.
bool Register(const std::string& undo_log_path, bool make_default, Cut cut = {});

struct RollbackReport {
  int files = 0;            // files that had unsynced writes
  std::vector<std::string> paths;  // their paths
  int64_t records = 0;      // unsynced writes and truncates found
  int64_t undone = 0;       // of which undone
  int64_t bytes_undone = 0;
  std::string error;        // empty on success
};

// keep_fraction in [0, 1]: the share of each file's unsynced records, oldest first, that is
// kept as if it had reached the disk (0: every unsynced write is lost). Run only after the
// logging process is dead. A record cut short by the kill was never followed by its write,
// so it is ignored.
RollbackReport RollBackUnsynced(const std::string& undo_log_path, double keep_fraction);

}  // namespace deskpilot::powerloss
