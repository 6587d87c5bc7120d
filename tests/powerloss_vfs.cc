#include "powerloss_vfs.h"

#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

namespace deskpilot::powerloss {
namespace {

// One undo record: [u32 length of the rest][u8 kind][u32 path length][path][i64 a][i64 b]
// [i64 c][bytes]. kind 'W' (write: a offset, b size before, c length written, bytes = what
// it overwrote), 'T' (truncate: a new size, b size before, bytes = the cut tail), 'S' (a
// successful sync), 'D' (the file was deleted).
constexpr size_t kFixed = 1 + 4 + 3 * 8;

std::mutex g_mu;  // a record and the write it describes go together
int g_log_fd = -1;
sqlite3_vfs* g_real = nullptr;
Cut g_cut;
std::atomic<int64_t> g_syncs{0};
std::atomic<int64_t> g_db_syncs{0};

void AppendRecord(char kind, const std::string& path, int64_t a, int64_t b, int64_t c,
                  const char* bytes, size_t n) {
  std::string rec;
  const uint32_t len = static_cast<uint32_t>(kFixed + path.size() + n);
  const uint32_t path_len = static_cast<uint32_t>(path.size());
  rec.append(reinterpret_cast<const char*>(&len), 4);
  rec.push_back(kind);
  rec.append(reinterpret_cast<const char*>(&path_len), 4);
  rec.append(path);
  rec.append(reinterpret_cast<const char*>(&a), 8);
  rec.append(reinterpret_cast<const char*>(&b), 8);
  rec.append(reinterpret_cast<const char*>(&c), 8);
  if (n > 0) rec.append(bytes, n);
  // One write(2) per record on an O_APPEND descriptor. If the kill cuts it short, the
  // reader drops the partial record, and its data write never happened.
  size_t off = 0;
  while (off < rec.size()) {
    ssize_t w = ::write(g_log_fd, rec.data() + off, rec.size() - off);
    if (w <= 0) return;
    off += static_cast<size_t>(w);
  }
}

struct File {
  sqlite3_file base;
  sqlite3_file* real;  // the default VFS's file, allocated right after this struct
  std::string* path;   // set only for tracked files
  bool main_db;
};

sqlite3_file* Real(sqlite3_file* f) { return reinterpret_cast<File*>(f)->real; }

int Close(sqlite3_file* f) {
  File* p = reinterpret_cast<File*>(f);
  int rc = p->real->pMethods ? p->real->pMethods->xClose(p->real) : SQLITE_OK;
  delete p->path;
  p->path = nullptr;
  return rc;
}

int Read(sqlite3_file* f, void* buf, int amt, sqlite3_int64 off) {
  return Real(f)->pMethods->xRead(Real(f), buf, amt, off);
}

int Write(sqlite3_file* f, const void* buf, int amt, sqlite3_int64 off) {
  File* p = reinterpret_cast<File*>(f);
  if (p->path == nullptr) return p->real->pMethods->xWrite(p->real, buf, amt, off);
  std::lock_guard lock(g_mu);
  sqlite3_int64 size = 0;
  int rc = p->real->pMethods->xFileSize(p->real, &size);
  if (rc != SQLITE_OK) return rc;
  std::vector<char> old;
  if (off < size) {
    old.resize(static_cast<size_t>(std::min<sqlite3_int64>(amt, size - off)));
    rc = p->real->pMethods->xRead(p->real, old.data(), static_cast<int>(old.size()), off);
    if (rc != SQLITE_OK) return rc;
  }
  AppendRecord('W', *p->path, off, size, amt, old.data(), old.size());
  return p->real->pMethods->xWrite(p->real, buf, amt, off);
}

int Truncate(sqlite3_file* f, sqlite3_int64 new_size) {
  File* p = reinterpret_cast<File*>(f);
  if (p->path == nullptr) return p->real->pMethods->xTruncate(p->real, new_size);
  std::lock_guard lock(g_mu);
  sqlite3_int64 size = 0;
  int rc = p->real->pMethods->xFileSize(p->real, &size);
  if (rc != SQLITE_OK) return rc;
  std::vector<char> tail;
  if (new_size < size) {
    tail.resize(static_cast<size_t>(size - new_size));
    rc = p->real->pMethods->xRead(p->real, tail.data(), static_cast<int>(tail.size()), new_size);
    if (rc != SQLITE_OK) return rc;
  }
  AppendRecord('T', *p->path, new_size, size, 0, tail.data(), tail.size());
  return p->real->pMethods->xTruncate(p->real, new_size);
}

int Sync(sqlite3_file* f, int flags) {
  File* p = reinterpret_cast<File*>(f);
  if (p->path != nullptr) {
    if (g_cut.at_sync > 0 && ++g_syncs == g_cut.at_sync) ::raise(SIGKILL);
    if (p->main_db && g_cut.at_db_sync > 0 && ++g_db_syncs == g_cut.at_db_sync) ::raise(SIGKILL);
  }
  int rc = p->real->pMethods->xSync(p->real, flags);
  if (rc == SQLITE_OK && p->path != nullptr) {
    std::lock_guard lock(g_mu);
    AppendRecord('S', *p->path, 0, 0, 0, nullptr, 0);
  }
  return rc;
}

int FileSize(sqlite3_file* f, sqlite3_int64* size) { return Real(f)->pMethods->xFileSize(Real(f), size); }
int Lock(sqlite3_file* f, int level) { return Real(f)->pMethods->xLock(Real(f), level); }
int Unlock(sqlite3_file* f, int level) { return Real(f)->pMethods->xUnlock(Real(f), level); }
int CheckReservedLock(sqlite3_file* f, int* out) { return Real(f)->pMethods->xCheckReservedLock(Real(f), out); }
int FileControl(sqlite3_file* f, int op, void* arg) { return Real(f)->pMethods->xFileControl(Real(f), op, arg); }
int SectorSize(sqlite3_file* f) { return Real(f)->pMethods->xSectorSize(Real(f)); }
int DeviceCharacteristics(sqlite3_file* f) { return Real(f)->pMethods->xDeviceCharacteristics(Real(f)); }
int ShmMap(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  return Real(f)->pMethods->xShmMap(Real(f), region, size, extend, out);
}
int ShmLock(sqlite3_file* f, int offset, int n, int flags) { return Real(f)->pMethods->xShmLock(Real(f), offset, n, flags); }
void ShmBarrier(sqlite3_file* f) { Real(f)->pMethods->xShmBarrier(Real(f)); }
int ShmUnmap(sqlite3_file* f, int delete_flag) { return Real(f)->pMethods->xShmUnmap(Real(f), delete_flag); }
int Fetch(sqlite3_file* f, sqlite3_int64 off, int amt, void** out) { return Real(f)->pMethods->xFetch(Real(f), off, amt, out); }
int Unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) { return Real(f)->pMethods->xUnfetch(Real(f), off, p); }

const sqlite3_io_methods kMethods = {
    3,         Close,        Read,          Write,      Truncate,    Sync,
    FileSize,  Lock,         Unlock,        CheckReservedLock,       FileControl,
    SectorSize, DeviceCharacteristics,      ShmMap,     ShmLock,     ShmBarrier,
    ShmUnmap,  Fetch,        Unfetch,
};

int Open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  File* p = reinterpret_cast<File*>(f);
  p->real = reinterpret_cast<sqlite3_file*>(p + 1);
  p->path = nullptr;
  p->main_db = (flags & SQLITE_OPEN_MAIN_DB) != 0;
  int rc = g_real->xOpen(g_real, name, p->real, flags, out_flags);
  if (rc != SQLITE_OK || p->real->pMethods == nullptr) {
    p->base.pMethods = nullptr;
    return rc;
  }
  // The files whose contents a power loss can roll back; temp files do not outlive it.
  if (name != nullptr && (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_JOURNAL)) != 0)
    p->path = new std::string(name);
  p->base.pMethods = &kMethods;
  return SQLITE_OK;
}

int Delete(sqlite3_vfs*, const char* name, int sync_dir) {
  {
    std::lock_guard lock(g_mu);
    AppendRecord('D', name, 0, 0, 0, nullptr, 0);
  }
  return g_real->xDelete(g_real, name, sync_dir);
}

int Access(sqlite3_vfs*, const char* name, int flags, int* out) { return g_real->xAccess(g_real, name, flags, out); }
int FullPathname(sqlite3_vfs*, const char* name, int n, char* out) { return g_real->xFullPathname(g_real, name, n, out); }
void* DlOpen(sqlite3_vfs*, const char* name) { return g_real->xDlOpen(g_real, name); }
void DlError(sqlite3_vfs*, int n, char* out) { g_real->xDlError(g_real, n, out); }
void (*DlSym(sqlite3_vfs*, void* h, const char* sym))(void) { return g_real->xDlSym(g_real, h, sym); }
void DlClose(sqlite3_vfs*, void* h) { g_real->xDlClose(g_real, h); }
int Randomness(sqlite3_vfs*, int n, char* out) { return g_real->xRandomness(g_real, n, out); }
int Sleep(sqlite3_vfs*, int us) { return g_real->xSleep(g_real, us); }
int CurrentTime(sqlite3_vfs*, double* out) { return g_real->xCurrentTime(g_real, out); }
int GetLastError(sqlite3_vfs*, int n, char* out) { return g_real->xGetLastError ? g_real->xGetLastError(g_real, n, out) : 0; }
int CurrentTimeInt64(sqlite3_vfs*, sqlite3_int64* out) { return g_real->xCurrentTimeInt64(g_real, out); }

sqlite3_vfs g_vfs;

struct Record {
  char kind;
  std::string path;
  int64_t a, b, c;
  std::string bytes;
};

bool Restore(const Record& r, RollbackReport& report) {
  int fd = ::open(r.path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    report.error = "cannot open " + r.path;
    return false;
  }
  // Back to the state just before the record: its old bytes where they were, and its size
  // before (records are undone newest first, so later growth is already gone).
  // (a 'W' record's bytes start at its offset, a 'T' record's tail at the new size: both a).
  bool ok = r.bytes.empty() ||
            ::pwrite(fd, r.bytes.data(), r.bytes.size(), r.a) == static_cast<ssize_t>(r.bytes.size());
  ok = ok && ::ftruncate(fd, r.b) == 0;
  ::close(fd);
  if (!ok) report.error = "cannot restore " + r.path;
  report.bytes_undone += static_cast<int64_t>(r.bytes.size());
  return ok;
}

}  // namespace

bool Register(const std::string& undo_log_path, bool make_default, Cut cut) {
  g_cut = cut;
  g_real = sqlite3_vfs_find(nullptr);
  if (g_real == nullptr) return false;
  g_log_fd = ::open(undo_log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (g_log_fd < 0) return false;
  std::memset(&g_vfs, 0, sizeof g_vfs);
  g_vfs.iVersion = 2;
  g_vfs.szOsFile = static_cast<int>(sizeof(File)) + g_real->szOsFile;
  g_vfs.mxPathname = g_real->mxPathname;
  g_vfs.zName = "powerloss";
  g_vfs.xOpen = Open;
  g_vfs.xDelete = Delete;
  g_vfs.xAccess = Access;
  g_vfs.xFullPathname = FullPathname;
  g_vfs.xDlOpen = DlOpen;
  g_vfs.xDlError = DlError;
  g_vfs.xDlSym = DlSym;
  g_vfs.xDlClose = DlClose;
  g_vfs.xRandomness = Randomness;
  g_vfs.xSleep = Sleep;
  g_vfs.xCurrentTime = CurrentTime;
  g_vfs.xGetLastError = GetLastError;
  g_vfs.xCurrentTimeInt64 = CurrentTimeInt64;
  return sqlite3_vfs_register(&g_vfs, make_default ? 1 : 0) == SQLITE_OK;
}

RollbackReport RollBackUnsynced(const std::string& undo_log_path, double keep_fraction) {
  RollbackReport report;
  std::string log;
  {
    int fd = ::open(undo_log_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      report.error = "cannot open " + undo_log_path;
      return report;
    }
    char buf[1 << 16];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) log.append(buf, static_cast<size_t>(n));
    ::close(fd);
  }
  // Per file, the records since its last sync (or deletion), oldest first.
  std::map<std::string, std::vector<Record>> pending;
  size_t pos = 0;
  while (pos + 4 <= log.size()) {
    uint32_t len = 0;
    std::memcpy(&len, log.data() + pos, 4);
    if (len < kFixed || pos + 4 + len > log.size()) break;  // cut short by the kill
    const char* p = log.data() + pos + 4;
    Record r;
    r.kind = p[0];
    uint32_t path_len = 0;
    std::memcpy(&path_len, p + 1, 4);
    if (kFixed + path_len > len) break;
    r.path.assign(p + 5, path_len);
    std::memcpy(&r.a, p + 5 + path_len, 8);
    std::memcpy(&r.b, p + 13 + path_len, 8);
    std::memcpy(&r.c, p + 21 + path_len, 8);
    r.bytes.assign(p + kFixed + path_len, len - kFixed - path_len);
    pos += 4 + len;
    if (r.kind == 'S' || r.kind == 'D') {
      pending[r.path].clear();
    } else {
      pending[r.path].push_back(std::move(r));
    }
  }
  for (auto& [path, records] : pending) {
    if (records.empty()) continue;
    ++report.files;
    report.paths.push_back(path);
    report.records += static_cast<int64_t>(records.size());
    const size_t keep = static_cast<size_t>(keep_fraction * static_cast<double>(records.size()));
    for (size_t i = records.size(); i-- > keep;) {
      if (!Restore(records[i], report)) return report;
      ++report.undone;
    }
  }
  return report;
}

}  // namespace deskpilot::powerloss
