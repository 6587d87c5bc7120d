// The CLI's handling of bad input, run against the real binary: every refusal exits 2 with
// a message that names the problem, and leaves files and databases as they were.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "run_command.h"
#include "service/sample_models_test_util.h"

namespace deskpilot {
namespace {

namespace fs = std::filesystem;

using testing_shell::Outcome;

// Runs a shell command line; stderr is merged into stdout unless `command` redirects it.
Outcome Sh(const std::string& command, bool merge_stderr = true) {
  return testing_shell::RunShell(command, merge_stderr);
}

// The binary with `args` (shell syntax).
Outcome Cli(const std::string& args) { return Sh(std::string(DESKPILOT_BINARY) + " " + args); }

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::set<std::string> Listing(const fs::path& dir) {
  std::set<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) names.insert(e.path().filename().string());
  return names;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "deskpilot-cli-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string P(const std::string& name) const { return (dir_ / name).string(); }
  void Write(const std::string& name, const std::string& text) const {
    fs::create_directories((dir_ / name).parent_path());
    std::ofstream(dir_ / name, std::ios::binary) << text;
  }
  // The first `n` rows of the shipped sentiment training set.
  std::string TrainingData(const std::string& name, int n) const {
    std::ifstream in(std::string(DESKPILOT_TEST_SAMPLE_DIR) + "/train/sentiment.jsonl");
    std::string text, line;
    for (int i = 0; i < n && std::getline(in, line); ++i) text += line + "\n";
    Write(name, text);
    return P(name);
  }
  fs::path dir_;
};

const char kArticle[] = "---\nid: espresso\n---\n# Returning an espresso machine\n\nPrint the return label and "
                        "drop the espresso machine at any post office. Refunds take 5 days.\n";

// H1: Markdown or HTML that is not UTF-8 would be stored as is and make every later JSON
// dump of a passage throw (a crash loop in serve). It is refused with the byte offset, and
// nothing is written: no database is even created.
TEST_F(CliTest, KbIngestRefusesInvalidUtf8) {
  Write("kb/good.md", kArticle);
  Write("kb/latin.md", "# Caf\xe9 returns\n\nTo return your machine from the caf\xe9, print the label.\n");
  Outcome r = Cli("kb ingest --db " + P("kb.db") + " " + P("kb"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(P("kb/latin.md") + ": not valid UTF-8 (byte offset 5)"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(P("kb.db"))) << "a refused ingest created the database";

  Write("page.html", "<html><title>ok</title><body><p>fine \xed\xa0\x80 surrogate</p></body></html>");
  r = Cli("kb ingest --db " + P("kb.db") + " " + P("kb/good.md") + " " + P("page.html"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("page.html: not valid UTF-8 (byte offset 37)"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(P("kb.db")));

  fs::remove(P("kb/latin.md"));
  r = Cli("kb ingest --db " + P("kb.db") + " " + P("kb"));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("documents: 1"), std::string::npos) << r.out;
}

// M2: a directory symlink back up the tree is walked once, not until ELOOP (which aborted).
TEST_F(CliTest, KbIngestFollowsASymlinkLoopOnce) {
  Write("kb/a.md", kArticle);
  fs::create_directories(P("kb/sub"));
  fs::create_directory_symlink("..", P("kb/sub/up"));
  Outcome r = Cli("kb ingest --db " + P("kb.db") + " " + P("kb"));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("documents: 1\n"), std::string::npos) << r.out;
}

// M4: doc_id is the file stem, so en/returns.md and de/returns.md would overwrite each other.
TEST_F(CliTest, KbIngestRefusesADocIdUsedTwice) {
  Write("kb/en/returns.md", "# Returns\n\nSend it back within 30 days.\n");
  Write("kb/de/returns.md", "# Rücksendungen\n\nInnerhalb von 30 Tagen zurücksenden.\n");
  Outcome r = Cli("kb ingest --db " + P("kb.db") + " " + P("kb"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("doc_id \"returns\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(P("kb/de/returns.md")), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(P("kb/en/returns.md")), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(P("kb.db")));
  // The documented way out: an id in the front matter.
  Write("kb/de/returns.md", "---\nid: returns-de\n---\n# Rücksendungen\n\nInnerhalb von 30 Tagen zurücksenden.\n");
  r = Cli("kb ingest --db " + P("kb.db") + " " + P("kb"));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("documents: 2\n"), std::string::npos) << r.out;
  r = Cli("kb ingest --db " + P("kb.db") + " " + P("kb"));
  EXPECT_NE(r.out.find("unchanged: 2\n"), std::string::npos) << r.out;
}

// `kb ingest PATH --answered F` committed PATH's documents, then refused F for a doc_id
// it did not know: exit 2, yet the KB had changed. Both are one transaction now.
TEST_F(CliTest, KbIngestRefusedForAnUnknownAnsweredDocIdChangesNothing) {
  Write("kb/espresso.md", kArticle);
  ASSERT_EQ(Cli("kb ingest --db " + P("kb.db") + " " + P("kb")).code, 0);
  const std::string before = Slurp(P("kb.db"));
  Write("more/grinder.md", "# Grinder care\n\nClean the grinder burrs every week with a dry brush.\n");
  Write("answered.jsonl",
        "{\"text\": \"my grinder is clogged\", \"relevant_doc_ids\": [\"grinder\"]}\n"
        "{\"text\": \"the milk frother hisses\", \"relevant_doc_ids\": [\"frother\"]}\n");
  Outcome r = Cli("kb ingest --db " + P("kb.db") + " " + P("more") + " --answered " + P("answered.jsonl"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("unknown doc_id \"frother\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(P("answered.jsonl")), std::string::npos) << r.out;
  EXPECT_TRUE(Slurp(P("kb.db")) == before) << "a refused ingest changed the database";
  EXPECT_EQ(Cli("kb search --db " + P("kb.db") + " grinder burrs clean").out.find("grinder"), std::string::npos);

  // A question may name a document ingested by the same command.
  Write("answered.jsonl", "{\"text\": \"my grinder is clogged\", \"relevant_doc_ids\": [\"grinder\"]}\n");
  r = Cli("kb ingest --db " + P("kb.db") + " " + P("more") + " --answered " + P("answered.jsonl"));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("documents: 1\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("answered questions added: 1\n"), std::string::npos) << r.out;
}

// M3: SQLite takes "" as a temporary database, so the ingest "succeeded" into nothing.
// L2: a directory where --answered wants a file said "added: 0" and exited 0.
TEST_F(CliTest, KbRefusesAnEmptyDbAndADirectoryAsAFile) {
  Write("kb/a.md", kArticle);
  for (const char* sub : {"ingest --db '' ", "search --db '' refund", "eval --db '' --queries x.jsonl"}) {
    Outcome r = Cli(std::string("kb ") + sub + (std::string(sub).starts_with("ingest") ? P("kb") : ""));
    EXPECT_EQ(r.code, 2) << sub << ": " << r.out;
    EXPECT_NE(r.out.find("--db must not be empty"), std::string::npos) << r.out;
  }
  Outcome r = Cli("kb ingest --db " + P("kb.db") + " --answered " + P("kb"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("is a directory"), std::string::npos) << r.out;
}

// `kb ingest` only adds and updates: an article deleted from the files kept being found
// (and quoted in replies) with no way to take it out short of a new database. `kb remove`
// takes documents out by doc_id; an unknown id is refused, naming it, before anything is
// removed.
TEST_F(CliTest, KbRemoveTakesAnArticleOutAndRefusesUnknownIds) {
  Write("kb/espresso.md", kArticle);
  Write("kb/grinder.md", "# Grinder care\n\nClean the grinder burrs every week with a dry brush.\n");
  ASSERT_EQ(Cli("kb ingest --db " + P("kb.db") + " " + P("kb")).code, 0);
  ASSERT_NE(Cli("kb search --db " + P("kb.db") + " espresso machine return").out.find("espresso"), std::string::npos);

  Outcome r = Cli("kb remove --db " + P("kb.db") + " espresso no-such-article");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("no-such-article"), std::string::npos) << r.out;
  EXPECT_NE(Cli("kb search --db " + P("kb.db") + " espresso machine return").out.find("espresso"), std::string::npos)
      << "a refused remove removed something";

  r = Cli("kb remove --db " + P("kb.db") + " espresso");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("documents removed: 1"), std::string::npos) << r.out;
  r = Cli("kb search --db " + P("kb.db") + " espresso machine return");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.find("espresso"), std::string::npos) << r.out;
  EXPECT_NE(Cli("kb search --db " + P("kb.db") + " grinder burrs").out.find("grinder"), std::string::npos);

  for (const std::string& bad : {"kb remove --db " + P("kb.db"), "kb remove --db " + P("missing.db") + " espresso"}) {
    r = Cli(bad);
    EXPECT_EQ(r.code, 2) << bad << ": " << r.out;
  }
  EXPECT_FALSE(fs::exists(P("missing.db")));
}

// H2 and L1: --out is checked before training (an input file, a directory, a missing or
// unwritable directory all exit 2 at once), and a failed write keeps the old model.
TEST_F(CliTest, TrainOutIsCheckedFirstAndWrittenAtomically) {
  const std::string data = TrainingData("small.jsonl", 200);
  const std::string before = Slurp(data);
  for (const std::string& out : {data, P(""), P("missing/m.bin"), std::string("''")}) {
    Outcome r = Cli("train --data " + data + " --out " + out);
    EXPECT_EQ(r.code, 2) << out << ": " << r.out;
    EXPECT_NE(r.out.find("--out"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("training on"), std::string::npos) << "trained before refusing: " << r.out;
  }
  EXPECT_EQ(Slurp(data), before) << "the training data was overwritten";
  Write("m.bin", "old model");
  Outcome same = Cli("train --data " + data + " --out " + P("m.bin") + " --calibration-data " + P("m.bin"));
  EXPECT_EQ(same.code, 2) << same.out;

  // A full disk, simulated by a file size limit: the write fails, the old file stays whole
  // and no temp file is left behind.
  Outcome full = Sh("sh -c \"trap '' XFSZ; ulimit -f 64; exec " + std::string(DESKPILOT_BINARY) + " train --data " + data +
                " --out " + P("m.bin") + "\"");
  EXPECT_EQ(full.code, 1) << full.out;
  EXPECT_NE(full.out.find("write failed"), std::string::npos) << full.out;
  EXPECT_EQ(Slurp(P("m.bin")), "old model");
  EXPECT_EQ(Listing(dir_), (std::set<std::string>{"m.bin", "small.jsonl"}));
}

// L2, L3, L5, L6: input mistakes exit 2 and say what is wrong, before any work is done.
TEST_F(CliTest, TrainAndEvalNameTheirInputProblems) {
  const std::string data = TrainingData("tiny.jsonl", 60);
  fs::create_directories(P("adir"));
  struct Case {
    std::string args, expect;
  };
  Write("float.jsonl", "{\"text\": \"a float label\", \"label\": 3.5}\n");
  Write("bool.jsonl", "{\"text\": \"a bool label\", \"label\": true}\n");
  for (const Case& c : std::initializer_list<Case>{
           {"train --data " + P("adir") + " --out " + P("x.bin"), "adir: is a directory"},
           {"train --data " + data + " " + P("extra.jsonl") + " --out " + P("x.bin"), "unexpected argument"},
           {"train --data " + data + " --out " + P("x.bin") + " --cv abc", "--cv: 'abc' is not a valid value"},
           {"train --data " + data + " --out " + P("x.bin") + " --seed=-1", "--seed: '-1' is not a valid value"},
           {"train --data " + data + " --out " + P("x.bin") + " --epochs 100000000", "--epochs must be between 1 and 1000"},
           {"train --data " + P("float.jsonl") + " --out " + P("x.bin"), "\"label\" must be a string or an integer, got 3.5"},
           {"train --data " + P("bool.jsonl") + " --out " + P("x.bin"), "\"label\" must be a string or an integer, got true"},
           {"eval --model " + P("x.bin") + " --data " + data + " extra", "unexpected argument 'extra'"},
           {"triage " + P("t1.json") + " " + P("t2.json"), "unexpected argument"},
           {"demo extra", "unexpected argument 'extra'"},
           {"demo --timeout -5", "--timeout must be at least 1"},
           {"jobs list --db " + P("x.db") + " --limit abc", "--limit: 'abc' is not a valid value"},
       }) {
    Outcome r = Cli(c.args);
    EXPECT_EQ(r.code, 2) << c.args << ": " << r.out;
    EXPECT_NE(r.out.find(c.expect), std::string::npos) << c.args << ": " << r.out;
  }
  EXPECT_FALSE(fs::exists(P("x.bin")));
}

// M9: eval --config and triage --config build against a scratch database. They neither
// create the configured one (nor its directory) nor change it; triage searches a snapshot
// of its knowledge base, the one serve uses.
// A stray word after the options ("serve -c a.toml b.toml") was ignored: serve ran on the
// first file as if nothing were wrong.
TEST_F(CliTest, ServeAndCheckConfigRefuseStrayArguments) {
  Write("c.toml", "[server]\nlisten = \"127.0.0.1:0\"\n[storage]\npath = \"" + P("db/deskpilot.db") + "\"\n");
  for (const char* cmd : {"serve", "check-config"}) {
    // Bounded, with a cache of its own: before the fix serve ran until stopped.
    Outcome r = Sh("XDG_CACHE_HOME=" + P("xdg") + " timeout 60 " + DESKPILOT_BINARY + " " + cmd + " --config " +
                   P("c.toml") + " " + P("other.toml"));
    EXPECT_EQ(r.code, 2) << cmd << ": " << r.out;
    EXPECT_NE(r.out.find("unexpected argument"), std::string::npos) << r.out;
  }
  EXPECT_FALSE(fs::exists(P("db"))) << "serve started despite the stray argument";
}

TEST_F(CliTest, EvalAndTriageWithAConfigLeaveTheConfiguredDatabaseAlone) {
  // The sample models come from the user's cache, as after an earlier run.
  testing_util::SeedSampleModels(dir_ / "xdg" / "deskpilot");
  const std::string env = "XDG_CACHE_HOME=" + P("xdg") + " ";
  Write("c.toml", "[storage]\npath = \"" + P("prod/deskpilot.db") + "\"\n");
  const std::string data = TrainingData("tiny.jsonl", 60);
  Outcome r = Sh(env + DESKPILOT_BINARY + " eval --config " + P("c.toml") + " --data " + data + " --dimension sentiment");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_FALSE(fs::exists(P("prod"))) << "eval --config created the configured database's directory";

  // With a knowledge base serve has filled: triage finds its article, and the database
  // file and its directory are byte for byte what they were (no -wal or -shm appear).
  Write("kb/espresso.md", kArticle);
  fs::create_directories(P("prod"));
  r = Cli("kb ingest --db " + P("prod/deskpilot.db") + " " + P("kb"));
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string db_before = Slurp(P("prod/deskpilot.db"));
  const std::set<std::string> files_before = Listing(P("prod"));
  Write("t.json", nlohmann::json{{"subject", "Return label for my espresso machine"},
                                 {"description", "Where do I drop the espresso machine with the return label?"}}
                      .dump());
  r = Sh(env + DESKPILOT_BINARY + " triage --json --config " + P("c.toml") + " " + P("t.json") + " 2>/dev/null",
         /*merge_stderr=*/false);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  ASSERT_TRUE(j["passages"].is_array()) << r.out;
  ASSERT_FALSE(j["passages"].empty()) << r.out;
  EXPECT_EQ(j["passages"][0]["doc_id"], "espresso") << r.out;
  EXPECT_EQ(Slurp(P("prod/deskpilot.db")), db_before);
  EXPECT_EQ(Listing(P("prod")), files_before);
}

}  // namespace
}  // namespace deskpilot
