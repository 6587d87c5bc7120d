#include "retriever/fts5/kb_postings.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "retriever/fts5/kb_index.h"
#include "retriever/fts5/test_util.h"

namespace deskpilot {
namespace {

// Titles, headings, repeated words, diacritics, stemming variants, and a chunk long enough
// to be split, so row lengths and column weights all vary.
std::vector<KbDocument> Corpus() {
  std::string long_text = "## Warranty\n";
  for (int i = 0; i < 60; ++i) long_text += "Warranty claims for boots need the receipt number " + std::to_string(i) + ". ";
  return {
      {"boots", "Boots and warranty", long_text, ""},
      {"cafe", "Café gift cards", "## Gift cards\nGift cards work in the café and online. Cards never expire.\n"
                                 "## Balance\nCheck the balance of a card online; don’t share its code.", ""},
      {"shipping", "Shipping times", "Shipping takes 3 to 5 days. Shipped parcels are tracked; tracking "
                                     "numbers arrive by email. Ships from Denver.", ""},
      {"refund", "Refunds", "Refunds are refunded to the original card within 5 days.", ""},
  };
}

std::set<std::string> Words(const std::vector<KbDocument>& docs) {
  std::set<std::string> words;
  for (const KbDocument& d : docs) {
    std::string w;
    for (char c : d.title + " " + d.text + " ") {
      if (std::isalnum(static_cast<unsigned char>(c)) || static_cast<unsigned char>(c) >= 0x80) {
        w += c;
      } else if (!w.empty()) {
        words.insert(w);
        w.clear();
      }
    }
  }
  return words;
}

class Postings : public ::testing::Test {
 protected:
  void SetUp() override {
    auto index = KbIndex::Open(db_path_);
    ASSERT_TRUE(index.ok()) << index.status().ToString();
    ASSERT_TRUE((*index)->IngestDocuments(Corpus()).ok());
    ASSERT_EQ(sqlite3_open(db_path_.c_str(), &db_), SQLITE_OK);
  }
  void TearDown() override { sqlite3_close(db_); }

  testing::TempDir dir_;
  std::string db_path_ = dir_.File("kb.db");
  sqlite3* db_ = nullptr;
};

// The in-memory index must give, for every word of the KB, exactly the rows FTS5 matches
// and exactly the double bm25() returns for that one-term query: KbIndex's rankings
// (and its relevance floor) were measured with FTS5's numbers.
TEST_F(Postings, Bm25EqualsFts5ForEveryWordAndRow) {
  auto tokenizer = kb::FtsTokenizer::Create(db_);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
  kb::PostingIndex index({5, 2, 1});
  sqlite3_stmt* rows = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db_, "SELECT rowid, title, heading, text FROM kb_fts ORDER BY rowid", -1, &rows, nullptr),
            SQLITE_OK);
  while (sqlite3_step(rows) == SQLITE_ROW) {
    kb::PostingIndex::Row row;
    row.rowid = sqlite3_column_int64(rows, 0);
    for (int c = 1; c <= 3; ++c) {
      row.columns.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(rows, c)),
                               static_cast<size_t>(sqlite3_column_bytes(rows, c)));
    }
    index.Add(**tokenizer, row);
  }
  sqlite3_finalize(rows);
  index.Finish();
  ASSERT_GT(index.rows(), 4u);  // the long document was split

  sqlite3_stmt* match = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db_, "SELECT rowid, bm25(kb_fts, 5.0, 2.0, 1.0) FROM kb_fts WHERE kb_fts MATCH ?1",
                               -1, &match, nullptr),
            SQLITE_OK);
  int compared = 0;
  for (const std::string& word : Words(Corpus())) {
    const std::vector<std::string> tokens = (*tokenizer)->Tokens(word, /*query=*/true);
    if (tokens.size() != 1) continue;  // a phrase; KbIndex asks FTS5 for those
    std::map<int64_t, double> expected;
    const std::string quoted = "\"" + word + "\"";
    sqlite3_bind_text(match, 1, quoted.c_str(), -1, SQLITE_TRANSIENT);
    while (sqlite3_step(match) == SQLITE_ROW) expected[sqlite3_column_int64(match, 0)] = -sqlite3_column_double(match, 1);
    sqlite3_reset(match);

    std::map<int64_t, double> actual;
    if (const kb::PostingIndex::Postings* p = index.Find(tokens[0])) {
      const double idf = index.Idf(static_cast<int64_t>(p->rows.size()));
      for (size_t j = 0; j < p->rows.size(); ++j) actual[index.row_rowid(p->rows[j])] = index.Bm25(idf, p->rows[j], p->freqs[j]);
    }
    EXPECT_EQ(actual, expected) << word;  // exact doubles, not a tolerance
    compared += static_cast<int>(expected.size());
  }
  sqlite3_finalize(match);
  EXPECT_GT(compared, 50);
}

TEST_F(Postings, TokenizerIsFts5s) {
  auto tokenizer = kb::FtsTokenizer::Create(db_);
  ASSERT_TRUE(tokenizer.ok());
  EXPECT_EQ((*tokenizer)->Tokens("Café Shipping", true), (std::vector<std::string>{"cafe", "ship"}));
  EXPECT_EQ((*tokenizer)->Tokens("don’t", true), (std::vector<std::string>{"don", "t"}));
  EXPECT_TRUE((*tokenizer)->Tokens("—", true).empty());
}

// A word that FTS5 reads as a phrase ("don’t" is "don" then "t") is still found: KbIndex
// scores it through FTS5, as the only ranking that knows token positions.
TEST_F(Postings, PhraseTermsStillMatch) {
  auto index = KbIndex::Open(db_path_);
  ASSERT_TRUE(index.ok());
  auto hits = (*index)->Search("don’t", 3);
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  ASSERT_FALSE(hits->empty());
  EXPECT_EQ(hits->front().doc_id, "cafe");
}

// The in-memory index follows the file, whoever writes it: another connection (a
// `deskpilot kb ingest` while serving, a replica) adds, changes and removes documents
// and answered questions, and the next Search sees each change.
TEST_F(Postings, SearchSeesOtherConnectionsIngests) {
  auto server = KbIndex::Open(db_path_);
  auto cli = KbIndex::Open(db_path_);
  ASSERT_TRUE(server.ok() && cli.ok());
  ASSERT_TRUE((*server)->Preload().ok());
  auto top = [&](const std::string& q) {
    auto r = (*server)->Search(q, 5);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() && !r->empty() ? r->front().doc_id + "=" + std::to_string(r->front().score) : std::string("-");
  };
  EXPECT_EQ(top("passport renewal"), "-");

  ASSERT_TRUE((*cli)->IngestDocuments({{"passport", "Passport renewal", "Renew the passport online.", ""}}).ok());
  EXPECT_EQ(top("passport renewal").substr(0, 9), "passport=");

  ASSERT_TRUE((*cli)->IngestDocuments({{"passport", "Visa questions", "Visas are handled by embassies.", ""}}).ok());
  EXPECT_EQ(top("passport renewal"), "-");  // changed: the old text is gone
  EXPECT_EQ(top("visa embassies").substr(0, 9), "passport=");

  const std::string before = top("embassy appointment visa");
  ASSERT_TRUE((*cli)->IngestAnswered({{"how do I book an embassy appointment", {"passport"}}}).ok());
  const std::string after = top("embassy appointment visa");
  EXPECT_EQ(after.substr(0, 9), "passport=");
  EXPECT_NE(after, before);  // answered-question evidence raised the score

  ASSERT_TRUE((*cli)->RemoveDocuments({"passport"}).ok());
  EXPECT_EQ(top("visa embassies"), "-");
}

// Every result of a search: ids and exact scores.
std::vector<std::string> Results(KbIndex& index, const std::string& query) {
  std::vector<std::string> out;
  auto r = index.Search(query, 10);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return out;
  char score[32];
  for (const Passage& p : *r) {
    std::snprintf(score, sizeof score, "%.17g", p.score);
    out.push_back(p.id + "=" + score);
  }
  return out;
}

// The incrementally updated index must rank exactly as a fresh build over the same file:
// the same ids with the same doubles, after adds, changes, removals (with their answered
// questions), a reused rowid, several changes between two searches, and a compaction.
TEST_F(Postings, IncrementalEqualsFullRebuild) {
  auto server = KbIndex::Open(db_path_);
  auto cli = KbIndex::Open(db_path_);
  ASSERT_TRUE(server.ok() && cli.ok());
  ASSERT_TRUE((*server)->Preload().ok());
  const std::vector<std::string> queries = {
      "warranty boots receipt",
      "gift card balance",
      "Shipping tracking\nHi, where is my parcel? The tracking number never came by email.",
      "refund to my card",
      "passport renewal",
      "embassy appointment visa",
      "don’t share the code",
      "Cards\nmy gift card expired in the cafe",
  };
  int windows = 0;
  auto expect_same_as_rebuild = [&](const std::string& step) {
    ++windows;
    auto fresh = KbIndex::Open(db_path_);
    ASSERT_TRUE(fresh.ok());
    size_t found = 0;
    for (const std::string& q : queries) {
      const std::vector<std::string> expected = Results(**fresh, q);
      EXPECT_EQ(Results(**server, q), expected) << step << ": " << q;
      found += expected.size();
    }
    EXPECT_GE(found, queries.size()) << step;  // not a comparison of empty results
    EXPECT_EQ((*fresh)->index_stats().full_builds, 1);
  };
  KbIndex& w = **cli;
  ASSERT_TRUE(w.IngestDocuments({{"passport", "Passport renewal", "Renew the passport online. Cards accepted.", ""},
                                 {"visa", "Visa questions", "Visas are handled by embassies; book an appointment.", ""}})
                  .ok());
  expect_same_as_rebuild("add two documents");
  ASSERT_TRUE(w.IngestDocuments({{"shipping", "Shipping times", "Parcels ship in 2 days; tracking by email.", ""}}).ok());
  expect_same_as_rebuild("change a document");
  ASSERT_TRUE(w.IngestAnswered({{"my gift card balance is wrong", {"cafe"}},
                                {"where is my refund", {"refund"}},
                                {"refund to a closed card", {"refund"}}})
                  .ok());
  expect_same_as_rebuild("add answered questions");
  ASSERT_TRUE(w.RemoveDocuments({"refund"}).ok());
  expect_same_as_rebuild("remove a document with answered questions");
  // The highest rowid is freed and taken again by the next insert.
  ASSERT_TRUE(w.RemoveDocuments({"visa"}).ok());
  ASSERT_TRUE(w.IngestDocuments({{"refund", "Refunds", "Refunds reach the card in 3 days. Boots too.", ""}}).ok());
  ASSERT_TRUE(w.IngestAnswered({{"refund for boots", {"refund"}}}).ok());
  ASSERT_TRUE(w.IngestDocuments({{"refund", "Refunds", "Refunds reach the original card in 3 days.", ""}}).ok());
  expect_same_as_rebuild("four changes between two searches, a rowid reused");
  ASSERT_TRUE(w.RemoveDocuments({"boots", "cafe"}).ok());  // most rows: compacts
  expect_same_as_rebuild("remove most rows");
  ASSERT_TRUE(w.IngestDocuments(Corpus()).ok());
  expect_same_as_rebuild("re-add");
  const KbIndex::IndexStats stats = (*server)->index_stats();
  EXPECT_EQ(stats.full_builds, 1);  // only Preload: every change above was applied incrementally
  EXPECT_EQ(stats.updates, windows);
}

// Workers search while another process syncs: every search succeeds (the update runs
// under the index's mutex, between two searches), and the end state ranks as a fresh build.
TEST_F(Postings, SearchesDuringUpdatesFromAnotherConnection) {
  auto server = KbIndex::Open(db_path_);
  auto cli = KbIndex::Open(db_path_);
  ASSERT_TRUE(server.ok() && cli.ok());
  ASSERT_TRUE((*server)->Preload().ok());
  std::atomic<bool> done{false};
  std::atomic<int> searches{0}, failures{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 2; ++t) {
    workers.emplace_back([&] {
      while (!done) {
        auto r = (*server)->Search(searches++ % 2 ? "gift card balance" : "Shipping\nwhere is my parcel tracking", 5);
        if (!r.ok()) ++failures;
      }
    });
  }
  // EXPECT, not ASSERT: returning early would leave the workers running.
  for (int i = 0; i < 20; ++i) {
    const std::string text = "Gift card balance, revision " + std::to_string(i) + ". Tracking parcels.";
    EXPECT_TRUE((*cli)->IngestDocuments({{"cafe", "Café gift cards", text, ""}}).ok());
    if (i % 5 == 4) {
      EXPECT_TRUE((*cli)->RemoveDocuments({"shipping"}).ok());
    } else if (i % 5 == 0) {
      EXPECT_TRUE((*cli)->IngestDocuments({Corpus()[2]}).ok());
    }
  }
  done = true;
  for (std::thread& t : workers) t.join();
  EXPECT_EQ(failures, 0);
  EXPECT_GT(searches, 0);
  auto fresh = KbIndex::Open(db_path_);
  ASSERT_TRUE(fresh.ok());
  for (const char* q : {"gift card balance", "Shipping\nwhere is my parcel tracking", "warranty boots"}) {
    EXPECT_EQ(Results(**server, q), Results(**fresh, q)) << q;
  }
  EXPECT_EQ((*server)->index_stats().full_builds, 1);
}

// A KbIndex further behind than the change log reaches rebuilds instead, and still ranks
// as a fresh build.
TEST_F(Postings, FallsBackToRebuildWhenTheLogIsTrimmed) {
  auto server = KbIndex::Open(db_path_);
  auto cli = KbIndex::Open(db_path_);
  ASSERT_TRUE(server.ok() && cli.ok());
  ASSERT_TRUE((*server)->Preload().ok());
  for (int i = 0; i < 70; ++i) {  // more generations than the log keeps (64)
    ASSERT_TRUE((*cli)->IngestDocuments({{"note", "Note " + std::to_string(i), "Version " + std::to_string(i), ""}}).ok());
  }
  auto fresh = KbIndex::Open(db_path_);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(Results(**server, "note version"), Results(**fresh, "note version"));
  EXPECT_EQ((*server)->index_stats().full_builds, 2);
  EXPECT_EQ((*server)->index_stats().updates, 0);
}

}  // namespace
}  // namespace deskpilot
