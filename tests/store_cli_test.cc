// `deskpilot jobs` and `deskpilot audit` through the real binary, on databases seeded here:
// a requeue is on the record, a truncated audit log is caught against an anchor, and a
// file that is no deskpilot database is refused with exit 2 and left as it was.
#include <sys/wait.h>

#include <sqlite3.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>

#include "deskpilot/store.h"
#include "run_command.h"

namespace deskpilot {
namespace {

namespace fs = std::filesystem;

using testing_shell::Outcome;

Outcome Cli(const std::string& args) { return testing_shell::RunShell(std::string(DESKPILOT_BINARY) + " " + args); }

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class StoreCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(DESKPILOT_BINARY)) << DESKPILOT_BINARY;
    std::string tmpl = (fs::temp_directory_path() / "deskpilot-storecli-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    db_ = (dir_ / "d.db").string();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // Runs SQL on the file directly, as someone with access to it would.
  std::string RawExec(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(db_.c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
    std::string message = rc == SQLITE_OK ? "" : (error != nullptr ? error : "error");
    sqlite3_free(error);
    sqlite3_close(db);
    return message;
  }
  fs::path dir_;
  std::string db_;
};

// A dead job requeued from the command line goes on to write to the help desk: the audit
// log says so and who did it, as it does for the admin API.
TEST_F(StoreCliTest, JobsRetryRecordsTheRequeueInTheAuditLog) {
  {
    auto store = OpenSqliteStore(db_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto job = (*store)->Enqueue({"desk", "desk:1", "7", "ticket.created", "{}"}, NowMs());
    ASSERT_TRUE(job.ok());
    ASSERT_TRUE((*store)->Lease("w", 60000, NowMs()).ok());
    ASSERT_TRUE((*store)->Fail(job->job_id, "w", "422", false, NowMs(), 3, NowMs()).ok());
  }
  Outcome r = Cli("jobs retry --db " + db_ + " 1");
  ASSERT_EQ(r.code, 0) << r.out;
  r = Cli("audit show --db " + db_ + " --job 1");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("job.requeued  cli"), std::string::npos) << r.out;
  r = Cli("audit verify --db " + db_);
  EXPECT_EQ(r.code, 0) << r.out;
}

// verify prints the head; passed back later as --anchor, it shows rows removed from the
// end, which the chain alone cannot.
TEST_F(StoreCliTest, AuditVerifyAgainstAnAnchorCatchesATruncatedLog) {
  {
    auto store = OpenSqliteStore(db_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    for (int i = 0; i < 3; ++i) {
      AuditEntry e;
      e.stage = "vendor.write";
      ASSERT_TRUE((*store)->AppendAudit(e, NowMs()).ok());
    }
  }
  Outcome r = Cli("audit verify --db " + db_);
  ASSERT_EQ(r.code, 0) << r.out;
  const size_t at = r.out.find("head: 3:");
  ASSERT_NE(at, std::string::npos) << r.out;
  const std::string head = r.out.substr(at + 6, 2 + 64);
  r = Cli("audit verify --db " + db_ + " --anchor " + head);
  EXPECT_EQ(r.code, 0) << r.out;

  ASSERT_EQ(RawExec("DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 3"), "");
  r = Cli("audit verify --db " + db_ + " --anchor " + head);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("broken at seq 3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("removed from the end"), std::string::npos) << r.out;
  r = Cli("audit verify --db " + db_ + " --anchor " + head + " --json");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("\"first_bad_seq\":3"), std::string::npos) << r.out;

  for (const char* bad : {"3", "0:" , "x:abc", "-1:ab", "3:abc"}) {
    r = Cli("audit verify --db " + db_ + " --anchor '" + bad + "'");
    EXPECT_EQ(r.code, 2) << bad << ": " << r.out;
    EXPECT_NE(r.out.find("--anchor must be SEQ:HASH"), std::string::npos) << r.out;
  }
}

// Pointed at something that is not a deskpilot database (a config file, an empty file,
// another program's SQLite file), every command exits 2 naming the problem and leaves the
// file as it was: opening it as a store would add the store's tables to it and report
// "audit chain ok: 0 rows", an all-clear about nothing.
TEST_F(StoreCliTest, AFileThatIsNoDeskpilotDatabaseIsRefusedAndLeftAlone) {
  const std::string text = (dir_ / "notes.toml").string();
  std::ofstream(text) << "[storage]\npath = \"d.db\"\n# not a database, but longer than a header\n";
  const std::string empty = (dir_ / "empty.db").string();
  std::ofstream(empty).flush();
  const std::string foreign = db_;
  ASSERT_EQ(RawExec("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me')"), "");
  struct Case {
    std::string path;
    const char* says;
  };
  for (const Case& c : {Case{text, "is not an SQLite database"}, Case{empty, "the file is empty"},
                        Case{foreign, "holds no deskpilot store"}}) {
    const std::string before = Slurp(c.path);
    for (const char* command : {"audit verify", "audit show --job 1", "jobs list", "jobs retry --all-dead",
                                "jobs purge --older-than 30d"}) {
      Outcome r = Cli(std::string(command) + " --db " + c.path);
      EXPECT_EQ(r.code, 2) << command << " " << c.path << ": " << r.out;
      EXPECT_NE(r.out.find(c.says), std::string::npos) << command << ": " << r.out;
      EXPECT_EQ(r.out.find("0 rows"), std::string::npos) << r.out;
    }
    EXPECT_EQ(Slurp(c.path), before) << c.path;
    EXPECT_FALSE(fs::exists(c.path + "-wal")) << c.path;
  }
}

// The same id twice is retried once: the second try used to fail on the job the first had
// just requeued ("is queued, only dead jobs can be retried") and the command exited 2.
TEST_F(StoreCliTest, JobsRetryOfTheSameIdTwiceRetriesItOnce) {
  {
    auto store = OpenSqliteStore(db_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto job = (*store)->Enqueue({"desk", "desk:1", "7", "ticket.created", "{}"}, NowMs());
    ASSERT_TRUE(job.ok());
    ASSERT_TRUE((*store)->Lease("w", 60000, NowMs()).ok());
    ASSERT_TRUE((*store)->Fail(job->job_id, "w", "422", false, NowMs(), 3, NowMs()).ok());
  }
  Outcome r = Cli("jobs retry --db " + db_ + " 1 1");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("requeued 1 of 1 job(s)"), std::string::npos) << r.out;
  auto store = OpenSqliteStore(db_);
  ASSERT_TRUE(store.ok());
  int requeued = 0;
  for (const AuditRow& row : (*store)->AuditForJob(1).value()) requeued += row.entry.stage == "job.requeued";
  EXPECT_EQ(requeued, 1);
}

// The database of a newer deskpilot is the wrong input for this binary: every command that
// opens a database refuses it with exit 2 and says why, and leaves it byte for byte as it
// was. It used to exit 1, after switching the file to WAL (and kb wrote into it).
TEST_F(StoreCliTest, ADatabaseOfANewerDeskpilotIsRefusedWithExit2AndLeftAlone) {
  ASSERT_TRUE(OpenSqliteStore(db_).ok());
  ASSERT_EQ(RawExec("PRAGMA journal_mode = DELETE; INSERT INTO schema_migrations VALUES (999, 0)"), "");
  const std::string article = (dir_ / "returns.md").string();
  std::ofstream(article) << "# Returns\n\nPrint the label and drop the parcel off.\n";
  const std::string config = (dir_ / "c.toml").string();
  std::ofstream(config) << "[server]\nlisten = \"127.0.0.1:0\"\n[storage]\npath = \"" << db_ << "\"\n";
  const std::string before = Slurp(db_);
  for (const std::string& command :
       {"audit verify --db " + db_, "audit show --db " + db_ + " --job 1", "jobs list --db " + db_,
        "jobs retry --db " + db_ + " 1", "jobs purge --db " + db_ + " --older-than 30d",
        "kb search --db " + db_ + " label", "kb ingest --db " + db_ + " " + article, "kb remove --db " + db_ + " returns",
        "serve --config " + config}) {
    // Bounded, with a cache of its own: serve must refuse, not run.
    Outcome r = testing_shell::RunShell("XDG_CACHE_HOME=" + (dir_ / "xdg").string() + " timeout 60 " +
                                        DESKPILOT_BINARY + " " + command);
    EXPECT_EQ(r.code, 2) << command << ": " << r.out;
    EXPECT_NE(r.out.find("schema version 999 is newer than this deskpilot knows"), std::string::npos)
        << command << ": " << r.out;
  }
  EXPECT_TRUE(Slurp(db_) == before) << "the newer database was modified";
}

// A job id no job can have is refused, as jobs retry and audit replay refuse it, rather
// than answered with "no audit rows".
TEST_F(StoreCliTest, AuditShowRefusesAJobIdNoJobCanHave) {
  ASSERT_TRUE(OpenSqliteStore(db_).ok());
  for (const char* id : {"0", "-1"}) {
    Outcome r = Cli("audit show --db " + db_ + " --job " + id);
    EXPECT_EQ(r.code, 2) << id << ": " << r.out;
    EXPECT_NE(r.out.find("--job must be a job id"), std::string::npos) << r.out;
  }
  EXPECT_EQ(Cli("audit show --db " + db_ + " --job 1").code, 0);
}

}  // namespace
}  // namespace deskpilot
