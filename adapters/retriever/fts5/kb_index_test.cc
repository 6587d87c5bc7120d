#include "retriever/fts5/kb_index.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <set>
#include <utility>
#include <string>
#include <vector>

#include "retriever/fts5/test_util.h"

namespace deskpilot {
namespace {

// A small help center. Queries in the tests paraphrase these rather than copy them.
std::vector<KbDocument> FixtureCorpus() {
  return {
      {"reset-password", "Resetting a forgotten password",
       "If you cannot sign in, use the Forgot password link on the login page. We email you a reset link "
       "that is valid for one hour. Choose a new password of at least 12 characters.",
       "https://help.example/reset-password"},
      {"refunds", "Getting a refund",
       "Refunds go back to the original payment method within 5 business days after we receive the returned "
       "item. Store credit is issued immediately.",
       "https://help.example/refunds"},
      {"shipping-times", "Delivery times",
       "Standard shipping takes 3 to 5 business days. Express parcels arrive the next business day when "
       "ordered before noon. You can follow the parcel with the tracking number in your confirmation email.",
       "https://help.example/shipping"},
      {"invoices", "Downloading invoices",
       "Every order has an invoice under Account, Orders. Open the order and select Download invoice to get "
       "a PDF copy of the bill for your records.",
       "https://help.example/invoices"},
      {"cancel-subscription", "Cancelling your subscription",
       "You can cancel the monthly plan at any time in Settings, Billing. The plan stays active until the "
       "end of the paid period and you are not charged again.",
       "https://help.example/cancel"},
      {"change-email", "Changing the email address on your account",
       "Go to Settings, Profile and enter the new address. We send a confirmation message to both the old "
       "and the new address.",
       ""},
  };
}

std::unique_ptr<KbIndex> OpenIndex(const testing::TempDir& dir) {
  auto index = KbIndex::Open(dir.File("deskpilot.db"));
  EXPECT_TRUE(index.ok()) << index.status().ToString();
  return index.ok() ? std::move(index).value() : nullptr;
}

TEST(KbIndex, JsonlIngestThenReingestUnchangedAndChanged) {
  testing::TempDir dir;
  auto index = OpenIndex(dir);
  ASSERT_NE(index, nullptr);
  const std::string v1 =
      "{\"doc_id\":\"a\",\"title\":\"Alpha\",\"text\":\"Apples are red.\",\"url\":\"https://x/a\"}\n"
      "\n"
      "{\"doc_id\":\"b\",\"title\":\"Beta\",\"text\":\"Bananas are yellow.\",\"kind\":\"resolved_ticket\"}\n";
  const std::string file = dir.Write("kb.jsonl", v1);
  auto first = index->IngestPaths({file});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->documents, 2);
  EXPECT_EQ(first->chunks, 2);
  EXPECT_EQ(first->unchanged, 0);

  auto again = index->IngestPaths({file});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->documents, 0);
  EXPECT_EQ(again->chunks, 0);
  EXPECT_EQ(again->unchanged, 2);

  dir.Write("kb.jsonl",
            "{\"doc_id\":\"a\",\"title\":\"Alpha\",\"text\":\"Apricots are orange.\",\"url\":\"https://x/a\"}\n"
            "{\"doc_id\":\"b\",\"title\":\"Beta\",\"text\":\"Bananas are yellow.\",\"kind\":\"resolved_ticket\"}\n");
  auto changed = index->IngestPaths({file});
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(changed->documents, 1);
  EXPECT_EQ(changed->unchanged, 1);

  auto old_text = index->Search("apples", 5);
  ASSERT_TRUE(old_text.ok());
  EXPECT_TRUE(old_text->empty()) << "old chunks must be replaced";
  auto new_text = index->Search("apricot", 5);
  ASSERT_TRUE(new_text.ok());
  ASSERT_EQ(new_text->size(), 1u);
  EXPECT_EQ((*new_text)[0].id, "a#0");
  EXPECT_EQ((*new_text)[0].url, "https://x/a");
  auto banana = index->Search("banana", 5);
  ASSERT_TRUE(banana.ok());
  ASSERT_EQ(banana->size(), 1u);
  EXPECT_EQ((*banana)[0].kind, PassageKind::kResolvedTicket);
  EXPECT_EQ(*index->CountDocuments(), 2);
}

TEST(KbIndex, RemoveDocumentsTakesThemOutOfSearch) {
  testing::TempDir dir;
  auto index = OpenIndex(dir);
  ASSERT_NE(index, nullptr);
  ASSERT_TRUE(index->IngestDocuments(FixtureCorpus()).ok());
  ASSERT_TRUE(index->IngestAnswered({{"my refund never arrived", {"refunds"}}}).ok());
  auto before = index->Search("how long does a refund take", 3);
  ASSERT_TRUE(before.ok());
  ASSERT_FALSE(before->empty());
  EXPECT_EQ(before->front().doc_id, "refunds");

  auto removed = index->RemoveDocuments({"refunds", "no-such-doc"});
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(*removed, 1);
  auto after = index->Search("how long does a refund take", 10);
  ASSERT_TRUE(after.ok());
  for (const Passage& p : *after) EXPECT_NE(p.doc_id, "refunds");
  EXPECT_EQ(*index->CountDocuments(), static_cast<int64_t>(FixtureCorpus().size()) - 1);
  // Removing again finds nothing; the others are untouched.
  EXPECT_EQ(*index->RemoveDocuments({"refunds"}), 0);
  auto other = index->Search("forgot my password", 1);
  ASSERT_TRUE(other.ok());
  ASSERT_FALSE(other->empty());
  EXPECT_EQ(other->front().doc_id, "reset-password");
}

TEST(KbIndex, IngestPathsWalksDirectoriesAndRejectsBadInput) {
  testing::TempDir dir;
  auto index = OpenIndex(dir);
  ASSERT_NE(index, nullptr);
  dir.Write("kb/returns.md", "---\nid: returns-101\nurl: https://help.example/returns\n---\n# Returns\n\n## Labels\nPrint the label.\n");
  dir.Write("kb/sub/no-title.markdown", "Just some text about gift cards.\n");
  dir.Write("kb/page.HTML", "<title>Warranty</title><h2>Cover</h2><p>Two years of cover.</p>");
  dir.Write("kb/more.jsonl", "{\"doc_id\":\"j1\",\"title\":\"Jackets\",\"text\":\"Waterproof jackets.\"}\n");
  dir.Write("kb/notes.txt", "not a KB file, skipped inside a directory");

  auto stats = index->IngestPaths({dir.File("kb")});
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->documents, 4);
  auto md = index->Search("print label", 1);
  ASSERT_TRUE(md.ok());
  ASSERT_EQ(md->size(), 1u);
  EXPECT_EQ((*md)[0].doc_id, "returns-101");
  EXPECT_EQ((*md)[0].title, "Returns");
  EXPECT_EQ((*md)[0].url, "https://help.example/returns");
  auto untitled = index->Search("gift cards", 1);
  ASSERT_TRUE(untitled.ok());
  ASSERT_EQ(untitled->size(), 1u);
  EXPECT_EQ((*untitled)[0].title, "no-title");
  auto html = index->Search("warranty cover", 1);
  ASSERT_TRUE(html.ok());
  ASSERT_EQ(html->size(), 1u);
  EXPECT_EQ((*html)[0].doc_id, "page");
  EXPECT_EQ((*html)[0].text, "Two years of cover.");

  auto unknown = index->IngestPaths({dir.File("kb/notes.txt")});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), Code::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("notes.txt"), std::string::npos);

  auto missing = index->IngestPaths({dir.File("nope")});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kInvalidArgument);

  // A bad line anywhere means nothing from this call is written.
  dir.Write("bad.jsonl", "{\"doc_id\":\"ok\",\"title\":\"T\",\"text\":\"fine\"}\n{\"doc_id\":\"x\",\"title\":3}\n");
  auto bad = index->IngestPaths({dir.File("bad.jsonl")});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("bad.jsonl:2"), std::string::npos) << bad.status().message();
  dir.Write("bad2.jsonl", "not json\n");
  EXPECT_FALSE(index->IngestPaths({dir.File("bad2.jsonl")}).ok());
  dir.Write("bad3.jsonl", "{\"doc_id\":\"k\",\"title\":\"T\",\"text\":\"x\",\"kind\":\"faq\"}\n");
  EXPECT_FALSE(index->IngestPaths({dir.File("bad3.jsonl")}).ok());
  EXPECT_EQ(*index->CountDocuments(), 4);
  EXPECT_FALSE(index->IngestDocuments({{"", "No id", "text", ""}}).ok());
}

TEST(KbIndex, ParaphrasedQueriesFindTheRightArticle) {
  testing::TempDir dir;
  auto index = OpenIndex(dir);
  ASSERT_NE(index, nullptr);
  ASSERT_TRUE(index->IngestDocuments(FixtureCorpus()).ok());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"I forgot my password and can't log in anymore", "reset-password"},
      {"When do I get my money back after returning the shoes?", "refunds"},
      {"how many days until my package is delivered", "shipping-times"},
      {"Where can I download a PDF of my invoice?", "invoices"},
      {"Please stop charging me every month, I want to cancel", "cancel-subscription"},
      {"I need to update the email address on my profile", "change-email"},
  };
  for (const auto& [query, want] : cases) {
    auto passages = index->Search(query, 3);
    ASSERT_TRUE(passages.ok()) << passages.status().ToString();
    ASSERT_FALSE(passages->empty()) << query;
    EXPECT_EQ((*passages)[0].doc_id, want) << query;
    const Passage& top = (*passages)[0];
    EXPECT_GT(top.score, 0.0);
    EXPECT_EQ(top.id, want + "#0");
    EXPECT_FALSE(top.title.empty());
    EXPECT_FALSE(top.text.empty());
    for (size_t i = 1; i < passages->size(); ++i) EXPECT_GE((*passages)[i - 1].score, (*passages)[i].score);
  }
}

TEST(KbIndex, ReturnsBestChunkPerDocument) {
  testing::TempDir dir;
  auto index = OpenIndex(dir);
  ASSERT_NE(index, nullptr);
  std::string long_text;
  for (int i = 0; i < 8; ++i) long_text += "## Part " + std::to_string(i) + "\nThe router needs a restart.\n";
  ASSERT_TRUE(index->IngestDocuments({{"router", "Router", long_text, ""}, {"modem", "Modem", "Restart the modem.", ""}}).ok());
  auto passages = index->Search("restart", 5);
  ASSERT_TRUE(passages.ok());
  ASSERT_EQ(passages->size(), 2u);
  std::set<std::string> docs;
  for (const Passage& p : *passages) docs.insert(p.doc_id);
  EXPECT_EQ(docs, (std::set<std::string>{"router", "modem"}));
  auto one = index->Search("restart", 1);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u);
}

TEST(KbIndex, HostileQueriesNeverError) {
  testing::TempDir dir;
  auto index = OpenIndex(dir);
  ASSERT_NE(index, nullptr);
  ASSERT_TRUE(index->IngestDocuments(FixtureCorpus()).ok());
  std::string big;
  while (big.size() < 10 * 1024) big += "refund \"password\" NEAR( invoice* -shipping AND OR NOT ^ : ( ) { } ";
  const std::vector<std::string> queries = {
      "\"", "\"\"\"", "password\"", "NEAR(", "NEAR(refund invoice, 2)", "*", "refund*", "-", "-refund",
      "AND", "OR", "NOT", "refund AND", "title:refund", "{title}: x", "^refund", "(((", ")", "a:b:c",
      "\u2014 \u201Crefund\u201D \u2014", "\u00E9\u00E8\u00EA caf\u00E9 \u65E5\u672C\u8A9E", "\xff\xfe\xfd",
      std::string("null\0byte refund", 16), "'; DROP TABLE kb_documents; --", big};
  for (const std::string& q : queries) {
    auto passages = index->Search(q, 5);
    EXPECT_TRUE(passages.ok()) << q.substr(0, 60) << ": " << passages.status().ToString();
  }
  auto big_result = index->Search(big, 5);
  ASSERT_TRUE(big_result.ok());
  EXPECT_FALSE(big_result->empty());
  EXPECT_EQ(*index->CountDocuments(), 6);
}

TEST(KbIndex, EmptyAndStopWordQueriesReturnNothing) {
  testing::TempDir dir;
  auto index = OpenIndex(dir);
  ASSERT_NE(index, nullptr);
  ASSERT_TRUE(index->IngestDocuments(FixtureCorpus()).ok());
  for (const std::string& q : {std::string(), std::string("   "), std::string("the and of to"),
                               std::string("zzzunknownterm")}) {
    auto passages = index->Search(q, 5);
    ASSERT_TRUE(passages.ok());
    EXPECT_TRUE(passages->empty()) << q;
  }
  auto none = index->Search("refund", 0);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(KbIndex, ReopenKeepsDataAndRefusesNewerSchema) {
  testing::TempDir dir;
  {
    auto index = OpenIndex(dir);
    ASSERT_NE(index, nullptr);
    ASSERT_TRUE(index->IngestDocuments(FixtureCorpus()).ok());
  }
  {
    auto index = OpenIndex(dir);
    ASSERT_NE(index, nullptr);
    EXPECT_EQ(*index->CountDocuments(), 6);
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir.File("deskpilot.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE kb_meta SET value = '99' WHERE key = 'schema_version'", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto newer = KbIndex::Open(dir.File("deskpilot.db"));
  ASSERT_FALSE(newer.ok());
  EXPECT_EQ(newer.status().code(), Code::kFailedPrecondition);
}

// Chinese and Japanese put no spaces between words: a clause was one token, over 40
// bytes in a query (dropped) and never repeated verbatim by an article. Both sides are
// indexed and queried by character bigrams now.
std::vector<KbDocument> CjkCorpus() {
  std::vector<KbDocument> docs = FixtureCorpus();
  docs.push_back({"refund-zh", "退款政策",
                  "我们收到退回的商品后，退款会在五个工作日内退回到您原来的付款方式。商店积分会立即发放。", ""});
  docs.push_back({"shipping-zh", "配送时间", "标准配送需要三到五个工作日。您可以用确认邮件中的追踪号码查询包裹。", ""});
  docs.push_back({"password-ja", "パスワードの再設定",
                  "ログインできない場合は、ログインページのパスワードを忘れた方はこちらのリンクを使ってください。", ""});
  return docs;
}

TEST(KbIndex, ChineseAndJapaneseQueriesFindTheirArticles) {
  testing::TempDir dir;
  auto index = OpenIndex(dir);
  ASSERT_NE(index, nullptr);
  ASSERT_TRUE(index->IngestDocuments(CjkCorpus()).ok());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"我退回了商品，请问退款什么时候能退回到我的付款方式？", "refund-zh"},
      {"我的包裹配送需要几个工作日？", "shipping-zh"},
      {"パスワードを忘れてログインできません", "password-ja"},
  };
  for (const auto& [query, expected] : cases) {
    auto hits = index->Search(query, 3);
    ASSERT_TRUE(hits.ok()) << hits.status().ToString();
    ASSERT_FALSE(hits->empty()) << query;
    EXPECT_EQ((*hits)[0].doc_id, expected) << query;
  }
  // Other scripts are indexed as before.
  auto english = index->Search("forgot my password", 3);
  ASSERT_TRUE(english.ok());
  ASSERT_FALSE(english->empty());
  EXPECT_EQ((*english)[0].doc_id, "reset-password");
}

// A database written before CJK bigrams (schema v3) held each clause as one token: it
// is indexed again when opened.
TEST(KbIndex, OpeningAnOlderDatabaseReindexesItsCjkText) {
  testing::TempDir dir;
  {
    auto index = OpenIndex(dir);
    ASSERT_NE(index, nullptr);
    ASSERT_TRUE(index->IngestDocuments(CjkCorpus()).ok());
  }
  // What v3 stored: the text as written.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir.File("deskpilot.db").c_str(), &db), SQLITE_OK);
  const char* kAsV3 =
      "UPDATE kb_meta SET value = '3' WHERE key = 'schema_version';"
      "DELETE FROM kb_fts WHERE rowid IN (SELECT seq FROM kb_chunks WHERE doc_id = 'refund-zh');"
      "INSERT INTO kb_fts(rowid, title, heading, text) SELECT c.seq, d.title, c.heading, c.text"
      "  FROM kb_chunks c JOIN kb_documents d ON d.doc_id = c.doc_id WHERE c.doc_id = 'refund-zh';";
  ASSERT_EQ(sqlite3_exec(db, kAsV3, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
  auto index = OpenIndex(dir);
  ASSERT_NE(index, nullptr);
  auto hits = index->Search("退款什么时候到账", 3);
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  ASSERT_FALSE(hits->empty());
  EXPECT_EQ((*hits)[0].doc_id, "refund-zh");
}

TEST(KbIndex, AnsweredQuestionsLiftTheArticleThatAnsweredThem) {
  testing::TempDir dir;
  auto index = OpenIndex(dir);
  ASSERT_NE(index, nullptr);
  ASSERT_TRUE(index->IngestDocuments(FixtureCorpus()).ok());
  // "receipt" and "purchase" occur in no article: before, nothing relevant is found.
  const std::string query = "receipt for a purchase I made";
  auto before = index->Search(query, 3);
  ASSERT_TRUE(before.ok());
  EXPECT_TRUE(before->empty() || (*before)[0].doc_id != "invoices");

  const std::string file = dir.Write("answered.jsonl",
                                     "{\"text\": \"I need a receipt for my purchase\", \"relevant_doc_ids\": [\"invoices\"]}\n"
                                     "\n"
                                     "{\"text\": \"where is the receipt?\", \"relevant_doc_ids\": [\"invoices\"], \"id\": 7}\n");
  auto stats = index->IngestAnsweredFile(file);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->added, 2);
  auto after = index->Search(query, 3);
  ASSERT_TRUE(after.ok());
  ASSERT_FALSE(after->empty());
  EXPECT_EQ((*after)[0].doc_id, "invoices");
  // The passage is the article's text, never the past question.
  EXPECT_NE((*after)[0].text.find("Download invoice"), std::string::npos);

  auto again = index->IngestAnsweredFile(file);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->added, 0);
  EXPECT_EQ(again->unchanged, 2);
}

// Two articles that score exactly alike for "account subscribe", so only the classifier
// trained on their answered questions can order them (a tie goes to the smaller doc_id).
std::vector<KbDocument> TwinArticles() {
  return {{"a-email", "Account", "Account settings page.", "https://help.example/a"},
          {"z-plans", "Account", "Account settings page.", "https://help.example/z"}};
}

TEST(KbIndex, AnsweredQuestionsClassifierRanksAParaphrase) {
  testing::TempDir dir;
  auto index = OpenIndex(dir);
  ASSERT_NE(index, nullptr);
  ASSERT_TRUE(index->IngestDocuments(TwinArticles()).ok());
  ASSERT_TRUE(index->IngestAnswered({{"change my email address", {"a-email"}},
                                     {"update the email on file", {"a-email"}}})
                  .ok());
  // "subscribe" is stemmed to subscrib, "subscription" to subscript: BM25 sees no overlap
  // with z-plans' questions, the classifier's character n-grams do.
  const std::string query = "account subscribe";
  auto one_doc = index->Search(query, 2);
  ASSERT_TRUE(one_doc.ok());
  ASSERT_EQ(one_doc->size(), 2u);
  // Questions for one document only: no classifier, the tie stands.
  EXPECT_EQ((*one_doc)[0].doc_id, "a-email");
  EXPECT_DOUBLE_EQ((*one_doc)[0].score, (*one_doc)[1].score);

  // Another connection (as `deskpilot kb ingest --answered` would) adds z-plans' questions;
  // the next search retrains from the change log.
  auto writer = OpenIndex(dir);
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(writer->IngestAnswered({{"stop my subscription", {"z-plans"}},
                                      {"end the subscription now", {"z-plans"}}})
                  .ok());
  auto two_docs = index->Search(query, 2);
  ASSERT_TRUE(two_docs.ok());
  ASSERT_EQ(two_docs->size(), 2u);
  EXPECT_EQ((*two_docs)[0].doc_id, "z-plans");
  EXPECT_GT((*two_docs)[0].score, (*two_docs)[1].score);
  EXPECT_EQ(index->index_stats().full_builds, 1);  // the update was incremental

  // Removing z-plans removes its questions: back to one document, no classifier.
  ASSERT_TRUE(writer->RemoveDocuments({"z-plans"}).ok());
  ASSERT_TRUE(writer->IngestDocuments({TwinArticles()[1]}).ok());
  auto removed = index->Search(query, 2);
  ASSERT_TRUE(removed.ok());
  ASSERT_EQ(removed->size(), 2u);
  EXPECT_EQ((*removed)[0].doc_id, "a-email");
  EXPECT_DOUBLE_EQ((*removed)[0].score, (*removed)[1].score);
}

TEST(KbIndex, AnsweredQuestionsClassifierNeverRanksAnUnmatchedDocument) {
  testing::TempDir dir;
  auto index = OpenIndex(dir);
  ASSERT_NE(index, nullptr);
  ASSERT_TRUE(index->IngestDocuments(TwinArticles()).ok());
  ASSERT_TRUE(index->IngestAnswered({{"change my email address", {"a-email"}},
                                     {"stop my subscription", {"z-plans"}}})
                  .ok());
  // The classifier prefers z-plans for this text, but no term of it is in any article or
  // question, so nothing is found: the classifier scales relevance, never creates it.
  auto found = index->Search("subscribe", 2);
  ASSERT_TRUE(found.ok());
  EXPECT_TRUE(found->empty());
}

TEST(KbIndex, AnsweredQuestionsClassifierIsSkippedWhenTooLarge) {
  // 2,001 documents with one question each: questions × documents passes the bound
  // (4 million), so no classifier is trained and the answered questions still count
  // through BM25. 200 documents train one.
  for (const int docs : {200, 2001}) {
    testing::TempDir dir;
    auto index = OpenIndex(dir);
    ASSERT_NE(index, nullptr);
    std::vector<KbDocument> articles;
    std::vector<AnsweredQuestion> questions;
    for (int i = 0; i < docs; ++i) {
      const std::string id = "doc-" + std::to_string(i);
      articles.push_back({id, "Article " + std::to_string(i), "Settings page number w" + std::to_string(i) + ".",
                          "https://help.example/" + id});
      questions.push_back({"how do I open settings page q" + std::to_string(i), {id}});
    }
    ASSERT_TRUE(index->IngestDocuments(articles).ok());
    ASSERT_TRUE(index->IngestAnswered(questions).ok());
    auto found = index->Search("open settings page q7", 3);
    ASSERT_TRUE(found.ok()) << found.status().ToString();
    ASSERT_FALSE(found->empty());
    EXPECT_EQ((*found)[0].doc_id, "doc-7");  // its past question matches best either way
    EXPECT_EQ(index->index_stats().answered_classifier, docs == 200) << docs << " documents";
  }
}

TEST(KbIndex, AnsweredQuestionsRejectBadInputAndWriteNothing) {
  testing::TempDir dir;
  auto index = OpenIndex(dir);
  ASSERT_NE(index, nullptr);
  ASSERT_TRUE(index->IngestDocuments(FixtureCorpus()).ok());
  const std::string unknown = dir.Write("u.jsonl",
                                        "{\"text\": \"receipt please\", \"relevant_doc_ids\": [\"invoices\"]}\n"
                                        "{\"text\": \"receipt\", \"relevant_doc_ids\": [\"no-such-doc\"]}\n");
  auto stats = index->IngestAnsweredFile(unknown);
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.status().code(), Code::kInvalidArgument);
  EXPECT_NE(stats.status().message().find("no-such-doc"), std::string::npos);
  auto found = index->Search("receipt please", 3);  // the first line was rolled back too
  ASSERT_TRUE(found.ok());
  EXPECT_TRUE(found->empty() || (*found)[0].doc_id != "invoices");
  for (const char* bad : {"{\"text\": 3, \"relevant_doc_ids\": []}", "{\"text\": \"x\"}",
                          "{\"text\": \"x\", \"relevant_doc_ids\": [\"\"]}", "not json"}) {
    auto r = index->IngestAnsweredFile(dir.Write("bad.jsonl", std::string(bad) + "\n"));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("bad.jsonl:1"), std::string::npos) << r.status().message();
  }
}

// Every field of a stored document is quoted in JSON later, and a doc_id given twice in
// one call would silently keep only the last: both are refused, and nothing is written.
TEST(KbIndex, IngestDocumentsRefusesInvalidUtf8AndRepeatedIds) {
  testing::TempDir dir;
  auto index = OpenIndex(dir);
  ASSERT_NE(index, nullptr);
  std::vector<KbDocument> docs = FixtureCorpus();
  docs.push_back({"latin", "Caf\xe9", "text", ""});
  auto bad = index->IngestDocuments(docs);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("\"latin\": not valid UTF-8"), std::string::npos) << bad.status().message();
  docs.back() = FixtureCorpus().front();
  auto twice = index->IngestDocuments(docs);
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.status().message().find("given twice"), std::string::npos) << twice.status().message();
  auto count = index->CountDocuments();
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 0);
}

}  // namespace
}  // namespace deskpilot
