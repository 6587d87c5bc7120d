// Power loss, end to end. CrashTest kills the process; the kernel still holds everything it
// wrote, so that test cannot tell a commit that was synced from one that was only written.
// Here the real `deskpilot serve` runs with a VFS shim preloaded (powerloss_vfs.h) and loses
// power while signed webhooks arrive: just before a commit's sync, just before a checkpoint
// syncs the database file, or at a random moment. Then every write that no sync covered is
// undone (all of them, or all but an in-order prefix), as a power cut can leave the disk.
// After each cut: PRAGMA integrity_check is ok and every delivery that was acknowledged has
// its job. After the last: a clean run drains everything, each ticket got exactly one note,
// and the audit chain verifies.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "kill_harness.h"
#include "powerloss_vfs.h"

namespace deskpilot {
namespace {

namespace fs = std::filesystem;
namespace th = testing_harness;
using namespace std::chrono_literals;

// --- the shim itself: a control pair, so a pass below means something ---

// A child process commits `rows` rows one by one through the shim at the given synchronous
// level and dies without closing; the parent undoes what was not synced and counts.
int64_t RowsAfterPowerLoss(const fs::path& dir, const char* synchronous, double keep_fraction,
                           powerloss::RollbackReport* report) {
  const std::string db = (dir / "t.db").string();
  const std::string log = (dir / "undo.log").string();
  pid_t pid = fork();
  if (pid == 0) {
    if (!powerloss::Register(log, /*make_default=*/false)) _exit(3);
    sqlite3* h = nullptr;
    if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, "powerloss") != SQLITE_OK) _exit(4);
    std::string setup = std::string("PRAGMA journal_mode = WAL; PRAGMA synchronous = ") + synchronous +
                        "; CREATE TABLE t (x INTEGER);";
    if (sqlite3_exec(h, setup.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) _exit(5);
    for (int i = 0; i < 50; ++i) {
      std::string sql = "INSERT INTO t VALUES (" + std::to_string(i) + ")";
      if (sqlite3_exec(h, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) _exit(6);
    }
    _exit(0);  // the power goes: no close, no checkpoint
  }
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  *report = powerloss::RollBackUnsynced(log, keep_fraction);
  EXPECT_EQ(report->error, "");
  auto integrity = th::Query(db, "PRAGMA integrity_check");
  EXPECT_TRUE(integrity && integrity->size() == 1 && (*integrity)[0][0] == "ok");
  auto tables = th::Query(db, "SELECT count(*) FROM sqlite_schema WHERE name = 't'");
  if (!tables || (*tables)[0][0] == "0") return 0;
  auto rows = th::Query(db, "SELECT count(*) FROM t");
  return rows ? std::stoll((*rows)[0][0]) : -1;
}

class PowerLossVfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("deskpilot_powerloss_vfs_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(PowerLossVfsTest, CommitsThatWereSyncedSurviveAndOthersAreLost) {
  powerloss::RollbackReport report;
  EXPECT_EQ(RowsAfterPowerLoss(dir_, "FULL", 0.0, &report), 50);
}

TEST_F(PowerLossVfsTest, WithoutSyncsEverythingIsLost) {
  powerloss::RollbackReport report;
  EXPECT_EQ(RowsAfterPowerLoss(dir_, "OFF", 0.0, &report), 0);
  EXPECT_GT(report.undone, 50) << "the shim undid nothing";
}

TEST_F(PowerLossVfsTest, APrefixOfUnsyncedWritesLeavesAConsistentPrefixOfCommits) {
  powerloss::RollbackReport report;
  const int64_t rows = RowsAfterPowerLoss(dir_, "OFF", 0.5, &report);
  EXPECT_GT(report.undone, 0);
  EXPECT_LT(report.undone, report.records);
  // SQLite's WAL recovery keeps the commits whose frames all made it, in order.
  EXPECT_GE(rows, 0);
  EXPECT_LT(rows, 50);
}

// --- the service ---

constexpr int kTickets = 300;
constexpr int kSenders = 4;

class PowerLossTest : public th::ServeKillTest {
 protected:
  PowerLossTest() : ServeKillTest("powerloss") {}

  void SetUp() override {
    ASSERT_TRUE(fs::exists(DESKPILOT_POWERLOSS_PRELOAD)) << DESKPILOT_POWERLOSS_PRELOAD;
    ServeKillTest::SetUp();
  }

  // The binary with the shim preloaded, logging to `undo_log` and cutting where `cut` says.
  std::unique_ptr<th::Process> StartWithShim(const std::string& undo_log, powerloss::Cut cut) {
    return Start({std::string("LD_PRELOAD=") + DESKPILOT_POWERLOSS_PRELOAD,
                  "DESKPILOT_POWERLOSS_LOG=" + undo_log,
                  "DESKPILOT_POWERLOSS_CUT_AT_SYNC=" + std::to_string(cut.at_sync),
                  "DESKPILOT_POWERLOSS_CUT_AT_DB_SYNC=" + std::to_string(cut.at_db_sync)});
  }
};

TEST_F(PowerLossTest, EveryAcknowledgedWebhookSurvivesPowerLoss) {
  std::vector<th::Delivery> deliveries = th::CreateTicketDeliveries(desk_, kTickets, 20000, "evt_power_");
  ASSERT_EQ(deliveries.size(), static_cast<size_t>(kTickets));
  // Paced (~60 deliveries/s in all) so that ingestion spans most of the cuts.
  th::RedeliveringSenders senders(deliveries, desk_.secret(), kSenders, 60ms);

  // --- power cuts ---
  std::mt19937 rng(std::random_device{}());
  int64_t undone_total = 0;
  int cuts = 0;
  int mid_checkpoint_cuts = 0;
  const auto deadline = std::chrono::steady_clock::now() + 90s;
  for (int round = 0; std::chrono::steady_clock::now() < deadline; ++round) {
    auto states = th::JobStates(db_);
    if (cuts >= 8 && senders.acked() == kTickets && states["queued"] + states["leased"] == 0) break;
    const std::string undo_log = desk_.Path("undo-" + std::to_string(round) + ".log");
    // Rounds take turns: the power goes just before a random sync (a commit written, not yet
    // durable), just before one of the first checkpoints syncs the database file (pages
    // copied into it, not yet durable), or at a random moment (usually between commits).
    // A round whose sync never comes is cut by the test after 3 s.
    const int kind = round % 3;
    const bool at_sync = kind != 2;
    powerloss::Cut cut;
    if (kind == 0) cut.at_sync = std::uniform_int_distribution<int>(4, 60)(rng);
    if (kind == 1) cut.at_db_sync = std::uniform_int_distribution<int>(1, 2)(rng);
    auto proc = StartWithShim(undo_log, cut);
    const int p = proc->WaitForPort(60s);
    // A cut can come during start-up: its own commits come before the "listening" line.
    const bool cut_in_start_up = p == 0 && at_sync && proc->ExitCode() == 128 + SIGKILL;
    if (!cut_in_start_up) {
      ASSERT_GT(p, 0) << proc->Log();
      senders.SetPort(p);
      if (at_sync) {
        if (proc->WaitExit(3s)) {
          EXPECT_EQ(proc->ExitCode(), 128 + SIGKILL) << proc->Log();
        }
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(100, 700)(rng)));
      }
    }
    proc->Kill();
    senders.SetPort(0);
    ++cuts;
    // Every other round of each kind loses every unsynced write; the rest keep a random
    // in-order share of them, as a disk that wrote some of its queue before the cut.
    const double keep = (round / 3) % 2 == 0 ? 0.0 : std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    powerloss::RollbackReport report = powerloss::RollBackUnsynced(undo_log, keep);
    ASSERT_EQ(report.error, "");
    undone_total += report.undone;
    const bool mid_checkpoint = std::find(report.paths.begin(), report.paths.end(), db_) != report.paths.end();
    mid_checkpoint_cuts += mid_checkpoint;
    std::cout << "cut " << cuts
              << (kind == 0   ? " at sync " + std::to_string(cut.at_sync)
                  : kind == 1 ? " at database sync " + std::to_string(cut.at_db_sync)
                              : std::string(" at a random moment"))
              << (mid_checkpoint ? " (mid-checkpoint)" : "") << ": keep " << keep << ", " << report.records << " unsynced records in "
              << report.files << " files, " << report.undone << " undone (" << report.bytes_undone
              << " bytes); " << senders.acked() << " acknowledged so far\n";

    auto integrity = th::Query(db_, "PRAGMA integrity_check");
    ASSERT_TRUE(integrity.has_value());
    ASSERT_EQ((*integrity)[0][0], "ok") << "after cut " << cuts;
    // A cut during the first start-up can undo the schema itself: a valid state while
    // nothing has been acknowledged yet, and the next start creates it again.
    auto schema = th::Query(db_, "SELECT count(*) FROM sqlite_schema WHERE name = 'jobs'");
    ASSERT_TRUE(schema.has_value());
    std::set<std::string> have;
    if ((*schema)[0][0] != "0") {
      auto keys = th::Query(db_, "SELECT dedupe_key FROM jobs");
      ASSERT_TRUE(keys.has_value());
      for (const auto& r : *keys) have.insert(r[0]);
    }
    for (const std::string& event_id : senders.AckedEventIds()) {
      ASSERT_TRUE(have.count("sandbox:desk:" + event_id))
          << "acknowledged delivery " << event_id << " lost in cut " << cuts;
    }
  }
  EXPECT_GE(cuts, 8);
  std::cout << cuts << " cuts, " << mid_checkpoint_cuts << " of them mid-checkpoint\n";
  // SQLite's auto-checkpoint (every 1,000 WAL pages) runs several times a run here; in
  // local runs 3-5 cuts a run landed mid-checkpoint.
  EXPECT_GE(mid_checkpoint_cuts, 1);
  // Without this the cuts would have tested nothing: writes were in flight and were undone.
  EXPECT_GT(undone_total, 0);

  // --- a clean run drains everything, once ---
  DrainAndCheckExactlyOnce(senders, deliveries);
}

}  // namespace
}  // namespace deskpilot
