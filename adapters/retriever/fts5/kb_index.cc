#include "retriever/fts5/kb_index.h"

#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "deskpilot/crypto.h"
#include "retriever/fts5/kb_text.h"

namespace deskpilot {
namespace {

constexpr int kSchemaVersion = 4;
// Part of every content hash: bumping it re-chunks all documents on the next ingest
// after the chunker changes, even though their text did not.
constexpr std::string_view kChunkerVersion = "chunker-1";
constexpr size_t kMaxCandidateTerms = 64;  // terms whose KB frequency is looked up
constexpr size_t kMaxQueryTerms = 12;      // terms whose matches are scored
// FTS5's bm25 k1: one term contributes at most idf * (k1 + 1), however often it occurs.
constexpr double kBm25K1 = 1.2;
// Ranking weights, chosen on StackFAQ train queries (see README.md "Measured"): titles
// are written like questions, so a title match says more than a body match (title 5x
// gave MRR 0.822 vs 0.816 at 3x); a document's second-best answered question adds half
// its score (a paraphrase cluster beats one lucky match); answered-question evidence
// counts twice the article's (K-fold MRR 0.946 vs 0.921 at equal weight).
// bm25() column weights of kb_fts (title, heading, text); kArticleHitsSql spells them too.
const std::vector<uint16_t> kArticleColumnWeights = {5, 2, 1};
constexpr const char* kArticleHitsSql =
    "WITH hits AS (SELECT rowid AS seq, bm25(kb_fts, 5.0, 2.0, 1.0) AS s FROM kb_fts WHERE kb_fts MATCH ?1)"
    " SELECT hits.seq, c.doc_id, hits.s FROM hits JOIN kb_chunks c ON c.seq = hits.seq";
constexpr const char* kAnsweredHitsSql =
    "WITH hits AS (SELECT rowid AS seq, bm25(kb_answered_fts) AS s FROM kb_answered_fts"
    "  WHERE kb_answered_fts MATCH ?1)"
    " SELECT hits.seq, a.doc_id, hits.s FROM hits JOIN kb_answered a ON a.seq = hits.seq";
constexpr double kSecondAnsweredWeight = 0.5;
// A ticket (subject + body) describes a situation whose parts different sections of one
// article answer ("tracking says Label created" and "when will it arrive"), so its
// document score is half best chunk, half the sum of each term's best chunk. A one-line
// question is answered by one passage: there the best chunk alone ranked better on
// StackFAQ (MRR 0.821 vs 0.800 with the blend).
constexpr double kTicketDocBlend = 0.5;
// The share of a ticket subject's information (idf, words the KB lacks counting most)
// that a document must match, in its rows or its answered questions: "Order pizza"
// matches only "order", which half a shop's articles use (0.10 of the subject). 0.15 was
// measured on the sample KB's eval tickets (README.md, "How the floor works").
constexpr double kMinSubjectShare = 0.15;
constexpr double kAnsweredWeight = 2.0;
// A document's relevance is multiplied by 1 + this × P(document | query) from the classifier
// trained on the answered questions. It catches paraphrases that share few words with both
// the article and its past questions (character n-grams, learned word weights): on StackFAQ
// (5-fold, three fold assignments) recall@5 0.987/0.989/0.992 → 0.995/0.994/0.996; 2 to 10
// all met the goal (README.md "Measured"). Multiplying rather than adding keeps a document
// that no query term matched at 0, so the classifier cannot push an off-topic query over
// min_relevance on its own.
constexpr double kClassifierWeight = 3.0;
// The classifier holds one float per (feature, document) and its softmax learner touches
// every document for every question and epoch, so both grow with the help center. Past
// these bounds it is not trained and answered questions count through BM25 alone, as
// before: a StackFAQ fold (799 questions, 125 documents, ~16k features) needs 7.7 MB and
// trains in about a second; thousands of answered articles would need gigabytes.
constexpr double kMaxClassifierBytes = 64.0 * 1024 * 1024;
constexpr double kMaxClassifierWork = 4e6;  // questions × documents

Status SqliteStatus(sqlite3* db, int rc, std::string_view context) {
  std::string message = std::string(context) + ": " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Unavailable(std::move(message));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::DataLoss(std::move(message));
    case SQLITE_FULL:
      return Status::ResourceExhausted(std::move(message));
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
      return Status::Unavailable(std::move(message));
    default:
      return Status::Internal(std::move(message));
  }
}

// A prepared statement that finalizes itself.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) { rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Status prepared(std::string_view context) const {
    return rc_ == SQLITE_OK ? Status::Ok() : SqliteStatus(db_, rc_, context);
  }
  void Bind(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void Bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  // SQLITE_ROW → true, SQLITE_DONE → false, anything else → error.
  Result<bool> Step(std::string_view context) {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqliteStatus(db_, rc, context);
  }
  Status Run(std::string_view context) {
    DP_ASSIGN_OR_RETURN(bool row, Step(context));
    (void)row;
    return Reset();
  }
  Status Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    return Status::Ok();
  }
  std::string Text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p == nullptr ? std::string() : std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
  }
  // Valid until the next Step or Reset.
  std::string_view View(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p == nullptr ? std::string_view() : std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
  }
  int Columns() const { return sqlite3_column_count(stmt_); }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  double Double(int col) const { return sqlite3_column_double(stmt_, col); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

Status Exec(sqlite3* db, const char* sql, std::string_view context) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return Status::Ok();
  std::string message = std::string(context) + ": " + (err != nullptr ? err : sqlite3_errstr(rc));
  sqlite3_free(err);
  Status s = SqliteStatus(nullptr, rc, "");
  return Status(s.code(), std::move(message));
}

// Rolls back unless Commit() succeeded, so every early error return leaves no partial ingest.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) {}
  ~Transaction() {
    if (open_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  // IMMEDIATE takes the write lock up front, so a concurrent writer makes us wait
  // (busy timeout) at BEGIN instead of failing halfway through.
  Status Begin() {
    DP_RETURN_IF_ERROR(Exec(db_, "BEGIN IMMEDIATE", "kb begin"));
    open_ = true;
    return Status::Ok();
  }
  Status Commit() {
    DP_RETURN_IF_ERROR(Exec(db_, "COMMIT", "kb commit"));
    open_ = false;
    return Status::Ok();
  }

 private:
  sqlite3* db_;
  bool open_ = false;
};

std::string KindName(PassageKind k) { return std::string(PassageKindName(k)); }

PassageKind KindFromName(std::string_view name) {
  return name == PassageKindName(PassageKind::kResolvedTicket) ? PassageKind::kResolvedTicket
                                                               : PassageKind::kKbArticle;
}

Result<PassageKind> ParseKind(std::string_view name, const std::string& where) {
  if (name.empty() || name == PassageKindName(PassageKind::kKbArticle)) return PassageKind::kKbArticle;
  if (name == PassageKindName(PassageKind::kResolvedTicket)) return PassageKind::kResolvedTicket;
  return Status::InvalidArgument(where + ": kind must be \"kb_article\" or \"resolved_ticket\", got \"" +
                                 std::string(name) + "\"");
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

enum class FileType { kUnknown, kJsonl, kMarkdown, kHtml };

FileType TypeOf(const std::filesystem::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext == ".jsonl") return FileType::kJsonl;
  if (ext == ".md" || ext == ".markdown") return FileType::kMarkdown;
  if (ext == ".html" || ext == ".htm") return FileType::kHtml;
  return FileType::kUnknown;
}

Result<std::string> ReadFile(const std::filesystem::path& p) {
  // An ifstream opens a directory without complaint and then reads nothing.
  std::error_code ec;
  if (std::filesystem::is_directory(p, ec)) return Status::InvalidArgument(p.string() + ": is a directory");
  std::ifstream in(p, std::ios::binary);
  if (!in) return Status::InvalidArgument("cannot read " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::InvalidArgument("cannot read " + p.string());
  return ss.str();
}

Status ParseJsonl(const std::filesystem::path& p, const std::string& content, std::vector<KbDocument>* out) {
  std::istringstream in(content);
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = p.string() + ":" + std::to_string(line_no);
    try {
      nlohmann::json j = nlohmann::json::parse(line);
      if (!j.is_object()) return Status::InvalidArgument(where + ": expected a JSON object");
      KbDocument doc;
      for (const char* key : {"doc_id", "title", "text"}) {
        if (!j.contains(key) || !j[key].is_string()) {
          return Status::InvalidArgument(where + ": \"" + key + "\" must be a string");
        }
      }
      doc.doc_id = j["doc_id"].get<std::string>();
      doc.title = j["title"].get<std::string>();
      doc.text = j["text"].get<std::string>();
      if (doc.doc_id.empty()) return Status::InvalidArgument(where + ": \"doc_id\" is empty");
      if (j.contains("url") && !j["url"].is_null()) {
        if (!j["url"].is_string()) return Status::InvalidArgument(where + ": \"url\" must be a string");
        doc.url = j["url"].get<std::string>();
      }
      if (j.contains("kind")) {
        if (!j["kind"].is_string()) return Status::InvalidArgument(where + ": \"kind\" must be a string");
        DP_ASSIGN_OR_RETURN(doc.kind, ParseKind(j["kind"].get<std::string>(), where));
      }
      out->push_back(std::move(doc));
    } catch (const nlohmann::json::exception& e) {
      return Status::InvalidArgument(where + ": " + e.what());
    }
  }
  return Status::Ok();
}

Status ParseFile(const std::filesystem::path& p, FileType type, std::vector<KbDocument>* out) {
  DP_ASSIGN_OR_RETURN(std::string content, ReadFile(p));
  const std::string stem = p.stem().string();
  // JSONL is checked by the JSON parser. Markdown and HTML are stored as they are, and
  // invalid UTF-8 in the KB makes every later JSON dump of a passage throw: refuse it here.
  if (type == FileType::kMarkdown || type == FileType::kHtml) {
    if (const size_t bad = kb::InvalidUtf8Offset(content); bad != std::string_view::npos) {
      return Status::InvalidArgument(p.string() + ": not valid UTF-8 (byte offset " + std::to_string(bad) + ")");
    }
  }
  switch (type) {
    case FileType::kJsonl:
      return ParseJsonl(p, content, out);
    case FileType::kMarkdown: {
      kb::MarkdownMeta meta = kb::ParseMarkdownMeta(content);
      KbDocument doc;
      doc.doc_id = meta.id.empty() ? stem : meta.id;
      doc.title = meta.title.empty() ? stem : meta.title;
      doc.url = meta.url;
      doc.text = std::move(meta.body);
      DP_ASSIGN_OR_RETURN(doc.kind, ParseKind(meta.kind, p.string()));
      out->push_back(std::move(doc));
      return Status::Ok();
    }
    case FileType::kHtml: {
      kb::HtmlDoc html = kb::HtmlToMarkdown(content);
      KbDocument doc;
      doc.doc_id = stem;
      doc.title = html.title.empty() ? stem : html.title;
      doc.text = std::move(html.body);
      out->push_back(std::move(doc));
      return Status::Ok();
    }
    case FileType::kUnknown:
      break;
  }
  return Status::InvalidArgument(p.string() + ": unsupported file type (want .jsonl, .md, .markdown, .html or .htm)");
}

std::string ContentHash(const KbDocument& doc) {
  std::string material;
  for (std::string_view part : {kChunkerVersion, std::string_view(doc.doc_id), std::string_view(doc.title),
                                std::string_view(doc.url), PassageKindName(doc.kind), std::string_view(doc.text)}) {
    material += std::to_string(part.size());  // length-prefixed: fields cannot run into each other
    material += ':';
    material += part;
  }
  return Sha256Hex(material);
}

// The change log (kb_changes) keeps the last kChangeLogGenerations generations, so a
// KbIndex that fell further behind (a server idle through a long sync) rebuilds instead.
constexpr int64_t kChangeLogGenerations = 64;
// A transaction that changes more rows than this (a first ingest, a re-chunked KB) is not
// kept in the log, which would otherwise hold the removed rows' text a second time; a
// reader behind it rebuilds.
constexpr int64_t kMaxLoggedRows = 20000;
enum LogTable : int64_t { kChunkTable = 0, kAnsweredTable = 1 };

Result<int64_t> MetaInt(sqlite3* db, const char* key, int64_t missing);

// Every ingest that writes bumps kb_meta's `generation` in its transaction, so a KbIndex
// in any process can tell cheaply that its in-memory index is stale, and records in
// kb_changes which FTS rows it added and removed (with a removed row's text, which the
// reader needs to find the row's postings), so that KbIndex updates those rows only.
// kb_meta's `log_start` is the generation after which the log is complete.
class ChangeLog {
 public:
  explicit ChangeLog(sqlite3* db)
      : db_(db),
        chunks_removed_(db,
                        "INSERT INTO kb_changes(generation, tbl, row, removed, c0, c1, c2)"
                        " SELECT ?2, 0, rowid, 1, title, heading, text FROM kb_fts"
                        " WHERE rowid IN (SELECT seq FROM kb_chunks WHERE doc_id = ?1)"),
        answered_removed_(db,
                          "INSERT INTO kb_changes(generation, tbl, row, removed, c0)"
                          " SELECT ?2, 1, rowid, 1, text FROM kb_answered_fts"
                          " WHERE rowid IN (SELECT seq FROM kb_answered WHERE doc_id = ?1)"),
        added_(db, "INSERT INTO kb_changes(generation, tbl, row, removed) VALUES(?1, ?2, ?3, 0)") {}

  // Inside the write transaction (its lock makes the generation ours until commit).
  Status Begin() {
    for (Stmt* s : {&chunks_removed_, &answered_removed_, &added_}) DP_RETURN_IF_ERROR(s->prepared("prepare kb log"));
    DP_ASSIGN_OR_RETURN(int64_t current, MetaInt(db_, "generation", 0));
    generation_ = current + 1;
    return Status::Ok();
  }
  // Call before deleting the document's rows.
  Status ChunksRemoved(const std::string& doc_id) { return Removed(chunks_removed_, doc_id); }
  Status AnsweredRemoved(const std::string& doc_id) { return Removed(answered_removed_, doc_id); }
  Status Added(LogTable table, int64_t rowid) {
    added_.Bind(1, generation_);
    added_.Bind(2, static_cast<int64_t>(table));
    added_.Bind(3, rowid);
    ++rows_;
    return added_.Run("kb log added row");
  }
  // Call once the transaction changed something: bumps the generation and trims the log.
  Status Finish() {
    Stmt bump(db_, "INSERT OR REPLACE INTO kb_meta(key, value) VALUES('generation', ?1)");
    DP_RETURN_IF_ERROR(bump.prepared("prepare kb bump generation"));
    bump.Bind(1, std::to_string(generation_));
    DP_RETURN_IF_ERROR(bump.Run("kb bump generation"));
    DP_ASSIGN_OR_RETURN(int64_t start, MetaInt(db_, "log_start", 0));
    const int64_t keep_after = rows_ > kMaxLoggedRows ? generation_ : generation_ - kChangeLogGenerations;
    if (keep_after <= start) return Status::Ok();
    Stmt trim(db_, "DELETE FROM kb_changes WHERE generation <= ?1");
    Stmt set_start(db_, "INSERT OR REPLACE INTO kb_meta(key, value) VALUES('log_start', ?1)");
    DP_RETURN_IF_ERROR(trim.prepared("prepare kb log trim"));
    DP_RETURN_IF_ERROR(set_start.prepared("prepare kb log trim"));
    trim.Bind(1, keep_after);
    DP_RETURN_IF_ERROR(trim.Run("kb log trim"));
    set_start.Bind(1, std::to_string(keep_after));
    return set_start.Run("kb log start");
  }

 private:
  Status Removed(Stmt& s, const std::string& doc_id) {
    s.Bind(1, doc_id);
    s.Bind(2, generation_);
    DP_RETURN_IF_ERROR(s.Run("kb log removed rows"));
    rows_ += sqlite3_changes(db_);
    return Status::Ok();
  }

  sqlite3* db_;
  Stmt chunks_removed_, answered_removed_, added_;
  int64_t generation_ = 0;
  int64_t rows_ = 0;  // rows logged by this transaction
};

Result<int64_t> MetaInt(sqlite3* db, const char* key, int64_t missing) {
  Stmt q(db, "SELECT value FROM kb_meta WHERE key = ?1");
  DP_RETURN_IF_ERROR(q.prepared("prepare kb meta"));
  q.Bind(1, std::string_view(key));
  DP_ASSIGN_OR_RETURN(bool row, q.Step("kb meta"));
  return row ? std::atoll(q.Text(0).c_str()) : missing;
}

std::string QuoteTerm(std::string_view term) {
  // Tokenize() guarantees no '"' in a term; the quotes make FTS5 read it as a string.
  std::string quoted;
  quoted.reserve(term.size() + 2);
  quoted += '"';
  quoted += term;
  quoted += '"';
  return quoted;
}

// Indexes again, through kb::CjkBigrams, every FTS row whose stored text it changes: rows
// written before schema v4 hold each CJK clause as one token. Every loaded index then
// rebuilds (log_start moves to the new generation), as the change log does not say
// which rows changed here.
Status ReindexCjk(sqlite3* db) {
  struct Table {
    const char* select;
    const char* remove;
    const char* insert;
    int columns;
  };
  const Table tables[] = {
      {"SELECT rowid, title, heading, text FROM kb_fts", "DELETE FROM kb_fts WHERE rowid = ?1",
       "INSERT INTO kb_fts(rowid, title, heading, text) VALUES(?1, ?2, ?3, ?4)", 3},
      {"SELECT rowid, text FROM kb_answered_fts", "DELETE FROM kb_answered_fts WHERE rowid = ?1",
       "INSERT INTO kb_answered_fts(rowid, text) VALUES(?1, ?2)", 1},
  };
  bool changed = false;
  for (const Table& t : tables) {
    std::vector<std::pair<int64_t, std::vector<std::string>>> rows;
    Stmt select(db, t.select);
    DP_RETURN_IF_ERROR(select.prepared("prepare kb cjk reindex"));
    while (true) {
      DP_ASSIGN_OR_RETURN(bool row, select.Step("kb cjk reindex"));
      if (!row) break;
      std::vector<std::string> columns;
      bool differs = false;
      for (int c = 1; c <= t.columns; ++c) {
        const std::string text = select.Text(c);
        columns.push_back(kb::CjkBigrams(text));
        differs = differs || columns.back() != text;
      }
      if (differs) rows.emplace_back(select.Int(0), std::move(columns));
    }
    Stmt remove(db, t.remove);
    Stmt insert(db, t.insert);
    DP_RETURN_IF_ERROR(remove.prepared("prepare kb cjk reindex"));
    DP_RETURN_IF_ERROR(insert.prepared("prepare kb cjk reindex"));
    for (const auto& [rowid, columns] : rows) {
      remove.Bind(1, rowid);
      DP_RETURN_IF_ERROR(remove.Run("kb cjk reindex"));
      insert.Bind(1, rowid);
      for (int c = 0; c < t.columns; ++c) insert.Bind(c + 2, columns[static_cast<size_t>(c)]);
      DP_RETURN_IF_ERROR(insert.Run("kb cjk reindex"));
      changed = true;
    }
  }
  if (!changed) return Status::Ok();
  DP_ASSIGN_OR_RETURN(const int64_t generation, MetaInt(db, "generation", 0));
  const std::string next = std::to_string(generation + 1);
  Stmt set(db, "INSERT OR REPLACE INTO kb_meta(key, value) VALUES(?1, ?2)");
  DP_RETURN_IF_ERROR(set.prepared("prepare kb cjk reindex"));
  for (const char* key : {"generation", "log_start"}) {
    set.Bind(1, std::string_view(key));
    set.Bind(2, next);
    DP_RETURN_IF_ERROR(set.Run("kb cjk reindex"));
  }
  return Status::Ok();
}

}  // namespace

KbIndex::KbIndex(sqlite3* db) : db_(db), chunks_(kArticleColumnWeights), answered_({1}) {}

KbIndex::~KbIndex() { sqlite3_close_v2(db_); }

Result<std::unique_ptr<KbIndex>> KbIndex::Open(const std::string& db_path) {
  sqlite3* db = nullptr;
  // NOMUTEX: this class serialises access itself (mu_).
  int rc = sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    Status s = SqliteStatus(db, rc, "open kb " + db_path);
    sqlite3_close_v2(db);
    return s;
  }
  std::unique_ptr<KbIndex> index(new KbIndex(db));
  DP_ASSIGN_OR_RETURN(index->tokenizer_, kb::FtsTokenizer::Create(db));
  // Other connections (the store, replicas, a CLI ingest) write to the same file.
  sqlite3_busy_timeout(db, 5000);
  DP_RETURN_IF_ERROR(Exec(db, "PRAGMA journal_mode=WAL", "kb journal_mode"));
  // The KB can always be re-ingested from its sources, so it does not need FULL sync.
  DP_RETURN_IF_ERROR(Exec(db, "PRAGMA synchronous=NORMAL", "kb synchronous"));
  DP_RETURN_IF_ERROR(index->Migrate());
  return index;
}

Status KbIndex::Migrate() {
  std::lock_guard lock(mu_);
  Transaction tx(db_);
  DP_RETURN_IF_ERROR(tx.Begin());
  DP_RETURN_IF_ERROR(Exec(db_, "CREATE TABLE IF NOT EXISTS kb_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
                          "create kb_meta"));
  int64_t version = 0;
  {
    Stmt q(db_, "SELECT value FROM kb_meta WHERE key = 'schema_version'");
    DP_RETURN_IF_ERROR(q.prepared("read kb schema version"));
    DP_ASSIGN_OR_RETURN(bool row, q.Step("read kb schema version"));
    if (row) version = std::atoll(q.Text(0).c_str());
  }
  if (version > kSchemaVersion) {
    return Status::FailedPrecondition("kb schema version " + std::to_string(version) +
                                      " is newer than this build supports (" + std::to_string(kSchemaVersion) + ")");
  }
  if (version < 1) {
    DP_RETURN_IF_ERROR(Exec(db_,
                            "CREATE TABLE kb_documents("
                            "  doc_id TEXT PRIMARY KEY, title TEXT NOT NULL, url TEXT NOT NULL,"
                            "  kind TEXT NOT NULL, content_hash TEXT NOT NULL, updated_ms INTEGER NOT NULL);"
                            "CREATE TABLE kb_chunks("
                            "  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, doc_id TEXT NOT NULL,"
                            "  ord INTEGER NOT NULL, heading TEXT NOT NULL, text TEXT NOT NULL);"
                            "CREATE INDEX kb_chunks_doc ON kb_chunks(doc_id, ord);"
                            "CREATE VIRTUAL TABLE kb_fts USING fts5(title, heading, text,"
                            "  tokenize = 'porter unicode61 remove_diacritics 2');"
                            "INSERT OR REPLACE INTO kb_meta(key, value) VALUES('schema_version', '1');",
                            "create kb schema v1"));
  }
  if (version < 2) {
    DP_RETURN_IF_ERROR(Exec(db_,
                            "CREATE TABLE kb_answered("
                            "  seq INTEGER PRIMARY KEY, doc_id TEXT NOT NULL, text TEXT NOT NULL,"
                            "  added_ms INTEGER NOT NULL, UNIQUE(doc_id, text));"
                            "CREATE VIRTUAL TABLE kb_answered_fts USING fts5(text,"
                            "  tokenize = 'porter unicode61 remove_diacritics 2');"
                            "INSERT OR REPLACE INTO kb_meta(key, value) VALUES('schema_version', '2');",
                            "create kb schema v2"));
  }
  if (version < 3) {
    // The change log starts now: a KbIndex that loaded an older generation rebuilds.
    DP_RETURN_IF_ERROR(Exec(db_,
                            "CREATE TABLE kb_changes("
                            "  id INTEGER PRIMARY KEY, generation INTEGER NOT NULL, tbl INTEGER NOT NULL,"
                            "  row INTEGER NOT NULL, removed INTEGER NOT NULL, c0 TEXT, c1 TEXT, c2 TEXT);"
                            "CREATE INDEX kb_changes_generation ON kb_changes(generation);"
                            "INSERT OR REPLACE INTO kb_meta(key, value) VALUES('log_start',"
                            "  COALESCE((SELECT value FROM kb_meta WHERE key = 'generation'), '0'));"
                            "INSERT OR REPLACE INTO kb_meta(key, value) VALUES('schema_version', '3');",
                            "create kb schema v3"));
  }
  if (version < 4) {
    DP_RETURN_IF_ERROR(ReindexCjk(db_));
    DP_RETURN_IF_ERROR(Exec(db_, "INSERT OR REPLACE INTO kb_meta(key, value) VALUES('schema_version', '4');",
                            "kb schema v4"));
  }
  return tx.Commit();
}

Result<std::vector<KbDocument>> ReadKbPaths(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  std::vector<KbDocument> docs;
  std::vector<std::string> sources;  // the file each of `docs` came from, for the duplicate check
  auto parse = [&](const fs::path& file, FileType type) -> Status {
    DP_RETURN_IF_ERROR(ParseFile(file, type, &docs));
    sources.resize(docs.size(), file.string());
    return Status::Ok();
  };
  for (const std::string& path : paths) {
    std::error_code ec;
    fs::file_status st = fs::status(path, ec);
    if (ec || !fs::exists(st)) return Status::InvalidArgument("kb path not found: " + path);
    if (fs::is_directory(st)) {
      std::vector<std::pair<fs::path, FileType>> files;
      // Directory symlinks are followed (a KB assembled from linked folders), each real
      // directory once: a link back up the tree would otherwise recurse until ELOOP.
      std::set<fs::path> visited = {fs::canonical(path, ec)};
      for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::follow_directory_symlink, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_directory(ec)) {
          const fs::path real = fs::canonical(it->path(), ec);
          if (!ec && !visited.insert(real).second) it.disable_recursion_pending();
          ec.clear();  // a dangling link or one we may not read is not a KB file: skip it
          continue;
        }
        if (!it->is_regular_file(ec)) {
          ec.clear();
          continue;
        }
        FileType type = TypeOf(it->path());
        // A directory may hold READMEs, images and the like: only known types are KB files.
        if (type != FileType::kUnknown) files.emplace_back(it->path(), type);
      }
      if (ec) return Status::InvalidArgument("cannot list " + path + ": " + ec.message());
      std::sort(files.begin(), files.end());  // deterministic ingest order across filesystems
      for (const auto& [file, type] : files) DP_RETURN_IF_ERROR(parse(file, type));
    } else if (!fs::is_regular_file(st)) {
      return Status::InvalidArgument(path + ": not a regular file or directory");
    } else {
      DP_RETURN_IF_ERROR(parse(path, TypeOf(path)));
    }
  }
  // Two files with one doc_id (the same file name in two locale folders) would overwrite
  // each other in the KB, the later one silently winning: name both instead.
  std::unordered_map<std::string_view, size_t> first;
  for (size_t i = 0; i < docs.size(); ++i) {
    auto [at, inserted] = first.emplace(docs[i].doc_id, i);
    if (!inserted) {
      return Status::InvalidArgument("doc_id \"" + docs[i].doc_id + "\" is used by both " + sources[at->second] +
                                     " and " + sources[i] + " (give one an `id:` in its front matter)");
    }
  }
  return docs;
}

namespace {

// Writes `docs` inside the caller's transaction, logging into `log` (the caller calls
// log.Finish when something changed, and commits).
Status StoreDocuments(sqlite3* db, ChangeLog& log, const std::vector<KbDocument>& docs, IngestStats* out) {
  Stmt get_hash(db, "SELECT content_hash FROM kb_documents WHERE doc_id = ?1");
  Stmt delete_fts(db, "DELETE FROM kb_fts WHERE rowid IN (SELECT seq FROM kb_chunks WHERE doc_id = ?1)");
  Stmt delete_chunks(db, "DELETE FROM kb_chunks WHERE doc_id = ?1");
  Stmt upsert_doc(db,
                  "INSERT INTO kb_documents(doc_id, title, url, kind, content_hash, updated_ms)"
                  " VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(doc_id) DO UPDATE SET"
                  " title = excluded.title, url = excluded.url, kind = excluded.kind,"
                  " content_hash = excluded.content_hash, updated_ms = excluded.updated_ms");
  Stmt insert_chunk(db, "INSERT INTO kb_chunks(id, doc_id, ord, heading, text) VALUES(?1, ?2, ?3, ?4, ?5)");
  Stmt insert_fts(db, "INSERT INTO kb_fts(rowid, title, heading, text) VALUES(?1, ?2, ?3, ?4)");
  for (Stmt* s : {&get_hash, &delete_fts, &delete_chunks, &upsert_doc, &insert_chunk, &insert_fts}) {
    DP_RETURN_IF_ERROR(s->prepared("prepare kb ingest"));
  }
  IngestStats& stats = *out;
  const int64_t now = NowMs();
  std::unordered_set<std::string_view> seen;
  for (const KbDocument& doc : docs) {
    if (doc.doc_id.empty()) return Status::InvalidArgument("kb document with an empty doc_id (title \"" + doc.title + "\")");
    if (!seen.insert(doc.doc_id).second) {
      return Status::InvalidArgument("kb document \"" + doc.doc_id + "\" given twice in one ingest");
    }
    // Every field is quoted in JSON later (triage --json, the audit log, the model prompt).
    for (const std::string* field : {&doc.doc_id, &doc.title, &doc.url, &doc.text}) {
      if (kb::InvalidUtf8Offset(*field) != std::string_view::npos) {
        return Status::InvalidArgument("kb document \"" + doc.doc_id + "\": not valid UTF-8");
      }
    }
    const std::string hash = ContentHash(doc);
    get_hash.Bind(1, doc.doc_id);
    DP_ASSIGN_OR_RETURN(bool exists, get_hash.Step("kb lookup " + doc.doc_id));
    const bool same = exists && get_hash.Text(0) == hash;
    DP_RETURN_IF_ERROR(get_hash.Reset());
    if (same) {
      ++stats.unchanged;
      continue;
    }
    if (exists) DP_RETURN_IF_ERROR(log.ChunksRemoved(doc.doc_id));
    delete_fts.Bind(1, doc.doc_id);
    DP_RETURN_IF_ERROR(delete_fts.Run("kb delete old index rows"));
    delete_chunks.Bind(1, doc.doc_id);
    DP_RETURN_IF_ERROR(delete_chunks.Run("kb delete old chunks"));
    upsert_doc.Bind(1, doc.doc_id);
    upsert_doc.Bind(2, doc.title);
    upsert_doc.Bind(3, doc.url);
    upsert_doc.Bind(4, KindName(doc.kind));
    upsert_doc.Bind(5, hash);
    upsert_doc.Bind(6, now);
    DP_RETURN_IF_ERROR(upsert_doc.Run("kb store document"));

    std::vector<kb::Chunk> chunks = kb::ChunkMarkdown(doc.text);
    // A title-only document (e.g. a FAQ entry whose answer is a link) is still findable.
    if (chunks.empty() && !doc.title.empty()) chunks.push_back({"", doc.title});
    for (size_t n = 0; n < chunks.size(); ++n) {
      insert_chunk.Bind(1, doc.doc_id + "#" + std::to_string(n));
      insert_chunk.Bind(2, doc.doc_id);
      insert_chunk.Bind(3, static_cast<int64_t>(n));
      insert_chunk.Bind(4, chunks[n].heading);
      insert_chunk.Bind(5, chunks[n].text);
      DP_RETURN_IF_ERROR(insert_chunk.Run("kb store chunk"));
      const int64_t seq = sqlite3_last_insert_rowid(db);
      insert_fts.Bind(1, seq);
      insert_fts.Bind(2, kb::CjkBigrams(doc.title));
      insert_fts.Bind(3, kb::CjkBigrams(chunks[n].heading));
      insert_fts.Bind(4, kb::CjkBigrams(chunks[n].text));
      DP_RETURN_IF_ERROR(insert_fts.Run("kb index chunk"));
      DP_RETURN_IF_ERROR(log.Added(kChunkTable, seq));
    }
    ++stats.documents;
    stats.chunks += static_cast<int>(chunks.size());
  }
  return Status::Ok();
}


// Writes `questions` inside the caller's transaction, logging into `log`. Their doc_ids
// are looked up in that transaction, so documents stored earlier in it count.
Status StoreAnswered(sqlite3* db, ChangeLog& log, const std::vector<AnsweredQuestion>& questions,
                     AnsweredStats* out) {
  Stmt doc_exists(db, "SELECT 1 FROM kb_documents WHERE doc_id = ?1");
  Stmt insert(db, "INSERT OR IGNORE INTO kb_answered(doc_id, text, added_ms) VALUES(?1, ?2, ?3)");
  Stmt insert_fts(db, "INSERT INTO kb_answered_fts(rowid, text) VALUES(?1, ?2)");
  for (Stmt* s : {&doc_exists, &insert, &insert_fts}) DP_RETURN_IF_ERROR(s->prepared("prepare kb answered"));
  AnsweredStats& stats = *out;
  const int64_t now = NowMs();
  for (size_t i = 0; i < questions.size(); ++i) {
    const AnsweredQuestion& q = questions[i];
    for (const std::string& doc_id : q.doc_ids) {
      doc_exists.Bind(1, doc_id);
      DP_ASSIGN_OR_RETURN(bool exists, doc_exists.Step("kb answered lookup"));
      DP_RETURN_IF_ERROR(doc_exists.Reset());
      // Evidence for an article that is not there would silently rank nothing.
      if (!exists) {
        return Status::InvalidArgument("question " + std::to_string(i + 1) + ": unknown doc_id \"" + doc_id +
                                       "\" (ingest the article first)");
      }
      insert.Bind(1, doc_id);
      insert.Bind(2, q.text);
      insert.Bind(3, now);
      DP_RETURN_IF_ERROR(insert.Run("kb store answered question"));
      if (sqlite3_changes(db) == 0) {
        ++stats.unchanged;
        continue;
      }
      const int64_t seq = sqlite3_last_insert_rowid(db);
      insert_fts.Bind(1, seq);
      insert_fts.Bind(2, kb::CjkBigrams(q.text));
      DP_RETURN_IF_ERROR(insert_fts.Run("kb index answered question"));
      DP_RETURN_IF_ERROR(log.Added(kAnsweredTable, seq));
      ++stats.added;
    }
  }
  return Status::Ok();
}


}  // namespace

Result<IngestStats> KbIndex::IngestPaths(const std::vector<std::string>& paths) {
  DP_ASSIGN_OR_RETURN(std::vector<KbDocument> docs, ReadKbPaths(paths));
  return IngestDocuments(docs);
}

Result<IngestStats> KbIndex::IngestDocuments(const std::vector<KbDocument>& docs) {
  DP_ASSIGN_OR_RETURN(IngestResult result, Ingest(docs, {}));
  return result.documents;
}

Result<int> KbIndex::RemoveDocuments(const std::vector<std::string>& doc_ids) {
  std::lock_guard lock(mu_);
  Transaction tx(db_);
  DP_RETURN_IF_ERROR(tx.Begin());
  Stmt delete_fts(db_, "DELETE FROM kb_fts WHERE rowid IN (SELECT seq FROM kb_chunks WHERE doc_id = ?1)");
  Stmt delete_chunks(db_, "DELETE FROM kb_chunks WHERE doc_id = ?1");
  Stmt delete_answered_fts(db_,
                           "DELETE FROM kb_answered_fts WHERE rowid IN (SELECT seq FROM kb_answered WHERE doc_id = ?1)");
  Stmt delete_answered(db_, "DELETE FROM kb_answered WHERE doc_id = ?1");
  Stmt delete_doc(db_, "DELETE FROM kb_documents WHERE doc_id = ?1");
  for (Stmt* s : {&delete_fts, &delete_chunks, &delete_answered_fts, &delete_answered, &delete_doc}) {
    DP_RETURN_IF_ERROR(s->prepared("prepare kb remove"));
  }
  ChangeLog log(db_);
  DP_RETURN_IF_ERROR(log.Begin());
  int removed = 0;
  for (const std::string& id : doc_ids) {
    DP_RETURN_IF_ERROR(log.ChunksRemoved(id));
    DP_RETURN_IF_ERROR(log.AnsweredRemoved(id));
    for (Stmt* s : {&delete_fts, &delete_chunks, &delete_answered_fts, &delete_answered}) {
      s->Bind(1, id);
      DP_RETURN_IF_ERROR(s->Run("kb remove " + id));
    }
    delete_doc.Bind(1, id);
    DP_RETURN_IF_ERROR(delete_doc.Run("kb remove " + id));
    removed += sqlite3_changes(db_);
  }
  if (removed > 0) DP_RETURN_IF_ERROR(log.Finish());
  DP_RETURN_IF_ERROR(tx.Commit());
  return removed;
}

Result<std::vector<AnsweredQuestion>> ReadLabeledQuestions(const std::string& path) {
  DP_ASSIGN_OR_RETURN(std::string content, ReadFile(path));
  std::vector<AnsweredQuestion> questions;
  std::istringstream in(content);
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(line_no);
    try {
      const nlohmann::json j = nlohmann::json::parse(line);
      if (!j.is_object() || !j.contains("text") || !j["text"].is_string()) {
        return Status::InvalidArgument(where + ": \"text\" must be a string");
      }
      AnsweredQuestion q;
      q.text = j["text"].get<std::string>();
      const char* kIdsError = ": \"relevant_doc_ids\" must be an array of doc_id strings";
      if (!j.contains("relevant_doc_ids") || !j["relevant_doc_ids"].is_array()) {
        return Status::InvalidArgument(where + kIdsError);
      }
      for (const nlohmann::json& id : j["relevant_doc_ids"]) {
        if (!id.is_string() || id.get<std::string>().empty()) return Status::InvalidArgument(where + kIdsError);
        q.doc_ids.push_back(id.get<std::string>());
      }
      questions.push_back(std::move(q));
    } catch (const nlohmann::json::exception& e) {
      return Status::InvalidArgument(where + ": " + e.what());
    }
  }
  return questions;
}

Result<AnsweredStats> KbIndex::IngestAnsweredFile(const std::string& path) {
  DP_ASSIGN_OR_RETURN(std::vector<AnsweredQuestion> questions, ReadLabeledQuestions(path));
  DP_ASSIGN_OR_RETURN(IngestResult result, Ingest({}, questions, path));
  return result.answered;
}

Result<AnsweredStats> KbIndex::IngestAnswered(const std::vector<AnsweredQuestion>& questions) {
  DP_ASSIGN_OR_RETURN(IngestResult result, Ingest({}, questions));
  return result.answered;
}

Result<IngestResult> KbIndex::Ingest(const std::vector<KbDocument>& docs,
                                     const std::vector<AnsweredQuestion>& questions,
                                     const std::string& questions_path) {
  std::lock_guard lock(mu_);
  Transaction tx(db_);
  DP_RETURN_IF_ERROR(tx.Begin());
  ChangeLog log(db_);
  DP_RETURN_IF_ERROR(log.Begin());
  IngestResult result;
  DP_RETURN_IF_ERROR(StoreDocuments(db_, log, docs, &result.documents));
  if (Status s = StoreAnswered(db_, log, questions, &result.answered); !s.ok()) {
    if (s.code() == Code::kInvalidArgument && !questions_path.empty())
      return Status::InvalidArgument(questions_path + ": " + s.message());
    return s;
  }
  if (result.documents.documents > 0 || result.answered.added > 0) DP_RETURN_IF_ERROR(log.Finish());
  DP_RETURN_IF_ERROR(tx.Commit());
  return result;
}

// The FTS5 tables' own stored columns, with each row's document: exactly what FTS5
// indexed (and counted for bm25's row lengths and row count).
constexpr const char* kChunkRowsSql =
    "SELECT f.rowid, c.doc_id, f.title, f.heading, f.text FROM kb_fts f JOIN kb_chunks c ON c.seq = f.rowid";
constexpr const char* kAnsweredRowsSql =
    "SELECT f.rowid, a.doc_id, f.text FROM kb_answered_fts f JOIN kb_answered a ON a.seq = f.rowid";

uint32_t KbIndex::DocNumber(std::string_view doc_id) {
  const uint32_t n = doc_numbers_.FindOrAdd(doc_id);
  if (n == doc_names_.size()) doc_names_.emplace_back(doc_id);
  return n;
}

Status KbIndex::Refresh() {
  // One read transaction: the generation, the change log and the rows they describe come
  // from the same snapshot, even while another process ingests (WAL).
  DP_RETURN_IF_ERROR(Exec(db_, "BEGIN", "kb begin read"));
  struct EndRead {
    sqlite3* db;
    ~EndRead() { sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr); }
  } end_read{db_};
  DP_ASSIGN_OR_RETURN(const int64_t current, MetaInt(db_, "generation", 0));
  if (current == loaded_generation_) return Status::Ok();
  DP_ASSIGN_OR_RETURN(const int64_t log_start, MetaInt(db_, "log_start", current));
  const int64_t from = loaded_generation_;
  // A failure halfway leaves the index between two generations: rebuild next time.
  loaded_generation_ = -1;
  bool answered_changed = true;
  if (from >= 0 && from >= log_start) {
    answered_changed = false;
    DP_RETURN_IF_ERROR(ApplyChanges(from, current, &answered_changed));
    ++index_stats_.updates;
  } else {
    DP_RETURN_IF_ERROR(Rebuild());
    ++index_stats_.full_builds;
  }
  if (answered_changed) answered_model_stale_ = true;
  loaded_generation_ = current;
  return Status::Ok();
}

Status KbIndex::Rebuild() {
  kb::PostingIndex chunks(kArticleColumnWeights), answered({1});
  doc_numbers_ = kb::TermTable();
  doc_names_.clear();
  struct Source {
    kb::PostingIndex* index;
    std::string sql;
  };
  for (const Source& source : {Source{&chunks, std::string(kChunkRowsSql) + " ORDER BY f.rowid"},
                               Source{&answered, std::string(kAnsweredRowsSql) + " ORDER BY f.rowid"}}) {
    Stmt rows(db_, source.sql.c_str());
    DP_RETURN_IF_ERROR(rows.prepared("prepare kb index load"));
    kb::PostingIndex::Row r;
    while (true) {
      DP_ASSIGN_OR_RETURN(bool more, rows.Step("kb index load"));
      if (!more) break;
      r.rowid = rows.Int(0);
      r.doc = DocNumber(rows.View(1));
      r.columns.clear();
      for (int c = 2; c < rows.Columns(); ++c) r.columns.push_back(rows.View(c));
      source.index->Add(*tokenizer_, r);
    }
    source.index->Finish();
  }
  chunks_ = std::move(chunks);
  answered_ = std::move(answered);
  return Status::Ok();
}

// Replays kb_changes for generations (from, to]. A row present at `from` was changed only
// by first removing it, and its first logged removal holds the text it was added with;
// rows the log names that exist now (and are not loaded) are read back from FTS5. So the
// order of adds and removes inside the window does not matter, nor a rowid reused.
Status KbIndex::ApplyChanges(int64_t from, int64_t to, bool* answered_changed) {
  Stmt log(db_,
           "SELECT tbl, row, removed, c0, c1, c2 FROM kb_changes WHERE generation > ?1 AND generation <= ?2"
           " ORDER BY id");
  DP_RETURN_IF_ERROR(log.prepared("prepare kb change log"));
  log.Bind(1, from);
  log.Bind(2, to);
  std::vector<std::pair<int64_t, int64_t>> touched;  // (table, rowid)
  std::vector<std::string_view> columns;
  while (true) {
    DP_ASSIGN_OR_RETURN(bool more, log.Step("kb change log"));
    if (!more) break;
    const int64_t table = log.Int(0), rowid = log.Int(1);
    touched.emplace_back(table, rowid);
    if (table == kAnsweredTable) *answered_changed = true;
    if (log.Int(2) == 0) continue;
    kb::PostingIndex& index = table == kChunkTable ? chunks_ : answered_;
    columns.clear();
    for (int c = 3; c < (table == kChunkTable ? 6 : 4); ++c) columns.push_back(log.View(c));
    index.Remove(*tokenizer_, rowid, columns);  // false: the row came and went after `from`
  }
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  Stmt chunk_row(db_, (std::string(kChunkRowsSql) + " WHERE f.rowid = ?1").c_str());
  Stmt answered_row(db_, (std::string(kAnsweredRowsSql) + " WHERE f.rowid = ?1").c_str());
  DP_RETURN_IF_ERROR(chunk_row.prepared("prepare kb index update"));
  DP_RETURN_IF_ERROR(answered_row.prepared("prepare kb index update"));
  kb::PostingIndex::Row r;
  for (const auto& [table, rowid] : touched) {
    kb::PostingIndex& index = table == kChunkTable ? chunks_ : answered_;
    if (index.Contains(rowid)) continue;
    Stmt& q = table == kChunkTable ? chunk_row : answered_row;
    q.Bind(1, rowid);
    DP_ASSIGN_OR_RETURN(bool row, q.Step("kb index update"));
    if (row) {
      r.rowid = rowid;
      r.doc = DocNumber(q.View(1));
      r.columns.clear();
      for (int c = 2; c < q.Columns(); ++c) r.columns.push_back(q.View(c));
      index.Add(*tokenizer_, r);
    }
    DP_RETURN_IF_ERROR(q.Reset());
  }
  chunks_.MaybeCompact();
  answered_.MaybeCompact();
  return Status::Ok();
}

Status KbIndex::RefreshAndTrain(std::unique_lock<std::mutex>& lock) {
  DP_RETURN_IF_ERROR(Refresh());
  if (!answered_model_stale_ || answered_model_training_) return Status::Ok();
  std::vector<LabeledText> data;
  {
    Stmt rows(db_, "SELECT text, doc_id FROM kb_answered ORDER BY seq");
    DP_RETURN_IF_ERROR(rows.prepared("prepare kb answered load"));
    while (true) {
      DP_ASSIGN_OR_RETURN(bool more, rows.Step("kb answered load"));
      if (!more) break;
      data.push_back({std::string(rows.View(0)), std::string(rows.View(1))});
    }
  }
  // Cleared now: a change that lands while this model trains sets it again, so the next
  // search trains once more on the newer questions.
  answered_model_stale_ = false;
  const bool two_docs = std::any_of(data.begin(), data.end(),
                                    [&](const LabeledText& t) { return t.label != data.front().label; });
  if (!two_docs) {  // nothing to tell apart
    answered_model_.reset();
    return Status::Ok();
  }
  // Uncalibrated (one fit per learner, no held-out folds): only the order of documents is
  // used, and calibration would cost 5 more fits per learner (README.md).
  TrainOptions options;
  options.calibrate = false;
  options.threads = 1;
  {
    std::unordered_set<std::string> labels;
    std::unordered_set<uint64_t> features;
    for (const LabeledText& t : data) {
      labels.insert(t.label);
      ForEachFeature(t.text, options.features, [&](FeatureKind kind, std::string_view f) {
        features.insert(std::hash<std::string_view>{}(f) * 31 + static_cast<uint64_t>(kind));
      });
    }
    const double docs = static_cast<double>(labels.size());
    const double bytes = docs * static_cast<double>(features.size()) * sizeof(float);
    const double work = docs * static_cast<double>(data.size());
    if (bytes > kMaxClassifierBytes || work > kMaxClassifierWork) {
      if (!classifier_skip_logged_) {
        spdlog::warn("kb: {} answered questions over {} documents ({} features) are too many for the answered-question "
                     "classifier (bounds: {:.0f} MB of weights, {:.0f} questions x documents); ranking them with BM25 alone",
                     data.size(), labels.size(), features.size(), kMaxClassifierBytes / (1024 * 1024), kMaxClassifierWork);
        classifier_skip_logged_ = true;
      }
      answered_model_.reset();
      return Status::Ok();
    }
  }
  answered_model_training_ = true;
  lock.unlock();
  Result<LinearModel> model = TrainLinearModel(data, options);
  lock.lock();
  answered_model_training_ = false;
  if (!model.ok()) {
    answered_model_stale_ = true;
    return model.status();
  }
  answered_model_ = std::move(model).value();
  // What other processes wrote while it trained.
  return Refresh();
}

KbIndex::IndexStats KbIndex::index_stats() {
  std::lock_guard lock(mu_);
  IndexStats stats = index_stats_;
  stats.answered_classifier = answered_model_.has_value();
  return stats;
}

Status KbIndex::Preload() {
  std::unique_lock lock(mu_);
  return RefreshAndTrain(lock);
}

// Why one score per term instead of one OR query: a term's weight (subject vs body)
// has to multiply its bm25 contribution, and FTS5 cannot weight query terms. FTS5's
// bm25 of a one-term query is exactly that term's share of the OR query's score, so
// the weighted sum is the OR query's ranking with per-term weights.
//
// Why keep only the rarest terms that occur: a long ticket has far more terms than are
// useful, and common ones make every chunk match; terms that occur nowhere cannot add
// to any score (but still count towards the most the query could score).
//
// Why the FTS5 fallback: a kb::Tokenize token holding non-ASCII punctuation ("don’t")
// is several FTS5 tokens, which a quoted FTS5 string matches as a phrase (adjacent
// tokens). The posting lists keep no positions, so such a term is still scored by FTS5.
Result<KbIndex::TableScores> KbIndex::ScoreTable(const kb::PostingIndex& index, const char* table,
                                                 const char* hits_sql, const std::vector<kb::QueryTerm>& terms,
                                                 bool per_doc) {
  TableScores out;
  std::vector<double> term_best;    // by doc: the current term's best score
  std::vector<uint32_t> term_docs;  // docs with a term_best
  if (per_doc) {
    out.doc_term_max.assign(doc_names_.size(), 0.0);
    out.doc_subject_idf.assign(doc_names_.size(), 0.0);
    term_best.assign(doc_names_.size(), 0.0);
  }
  if (index.rows() == 0) return out;
  // Lucene's idf, log(1 + (N - n + 0.5) / (n + 0.5)), for the subject rule: unlike bm25's
  // it stays positive for a word found in most rows, so in a KB of a few rows the words a
  // ticket shares with it still count.
  auto subject_idf = [rows = static_cast<double>(index.rows())](int64_t n) {
    return std::log1p((rows - static_cast<double>(n) + 0.5) / (static_cast<double>(n) + 0.5));
  };
  struct Present {
    std::string quoted;                         // FTS5 phrase, for the fallback
    const kb::PostingIndex::Postings* postings;  // nullptr: score through FTS5
    double weight;
    int64_t frequency;
  };
  std::vector<Present> present;
  std::optional<Stmt> count;  // prepared on the first phrase term only
  for (size_t i = 0; i < terms.size() && i < kMaxCandidateTerms; ++i) {
    std::string quoted = QuoteTerm(terms[i].token);
    const std::vector<std::string> tokens = tokenizer_->Tokens(terms[i].token, /*query=*/true);
    const kb::PostingIndex::Postings* postings = nullptr;
    int64_t frequency = 0;
    if (tokens.size() == 1) {
      postings = index.Find(tokens[0]);
      frequency = postings == nullptr ? 0 : static_cast<int64_t>(postings->rows.size());
    } else {
      if (!count) {
        const std::string count_sql = std::string("SELECT count(*) FROM ") + table + " WHERE " + table + " MATCH ?1";
        count.emplace(db_, count_sql.c_str());
        DP_RETURN_IF_ERROR(count->prepared("prepare kb term count"));
      }
      count->Bind(1, quoted);
      Result<bool> row = count->Step("kb term count");
      // A term made only of characters the FTS tokenizer discards (e.g. "—") is a
      // syntax error for FTS5; it could not have matched anything, so skip it.
      frequency = row.ok() && *row ? count->Int(0) : 0;
      DP_RETURN_IF_ERROR(count->Reset());
      if (!row.ok() && row.status().code() != Code::kInternal) return row.status();
      if (!row.ok()) continue;
    }
    out.max_attainable += terms[i].weight * index.Idf(frequency) * (kBm25K1 + 1.0);
    if (terms[i].weight > 1.0) out.subject_idf += subject_idf(frequency);
    if (frequency > 0) present.push_back({std::move(quoted), postings, terms[i].weight, frequency});
  }
  // Subject terms first (the customer's own summary: "refund" is common in a KB about
  // refunds, yet it is the point of the ticket), then the rarest.
  std::stable_sort(present.begin(), present.end(), [](const Present& a, const Present& b) {
    return a.weight != b.weight ? a.weight > b.weight : a.frequency < b.frequency;
  });
  if (present.size() > kMaxQueryTerms) present.resize(kMaxQueryTerms);

  out.row_score.assign(index.row_slots(), 0.0);
  auto add = [&](uint32_t row, double score) {
    double& r = out.row_score[row];
    if (r == 0.0) out.hit_rows.push_back(row);
    r += score;
    if (per_doc) {
      const uint32_t doc = index.row_doc(row);
      double& best = term_best[doc];
      if (best == 0.0) term_docs.push_back(doc);
      best = std::max(best, score);
    }
  };
  std::optional<Stmt> hits;
  for (const Present& term : present) {
    if (term.postings != nullptr) {
      const double idf = index.Idf(term.frequency);
      const kb::PostingIndex::Postings& p = *term.postings;
      for (size_t j = 0; j < p.rows.size(); ++j) add(p.rows[j], term.weight * index.Bm25(idf, p.rows[j], p.freqs[j]));
    } else {
      if (!hits) {
        hits.emplace(db_, hits_sql);
        DP_RETURN_IF_ERROR(hits->prepared("prepare kb search"));
      }
      hits->Bind(1, term.quoted);
      while (true) {
        DP_ASSIGN_OR_RETURN(bool row, hits->Step("kb search"));
        if (!row) break;
        const int64_t n = index.FindRow(hits->Int(0));
        // bm25() is negative, lower is better.
        if (n >= 0) add(static_cast<uint32_t>(n), term.weight * -hits->Double(2));
      }
      DP_RETURN_IF_ERROR(hits->Reset());
    }
    for (uint32_t doc : term_docs) {
      out.doc_term_max[doc] += term_best[doc];
      if (term.weight > 1.0) out.doc_subject_idf[doc] += subject_idf(term.frequency);
      term_best[doc] = 0.0;
    }
    term_docs.clear();
  }
  return out;
}

Result<std::vector<Passage>> KbIndex::Search(const std::string& query, int k) {
  std::vector<Passage> passages;
  if (k <= 0) return passages;
  const std::vector<kb::QueryTerm> terms = kb::QueryTerms(query);
  if (terms.empty()) return passages;
  const bool has_subject =
      std::any_of(terms.begin(), terms.end(), [](const kb::QueryTerm& t) { return t.weight > 1.0; });
  std::unique_lock lock(mu_);
  DP_RETURN_IF_ERROR(RefreshAndTrain(lock));
  DP_ASSIGN_OR_RETURN(TableScores articles, ScoreTable(chunks_, "kb_fts", kArticleHitsSql, terms, has_subject));
  DP_ASSIGN_OR_RETURN(TableScores answered,
                      ScoreTable(answered_, "kb_answered_fts", kAnsweredHitsSql, terms, has_subject));
  struct DocScore {
    int64_t best_chunk = -1;  // rowid of the best chunk, -1 when only answered questions matched
    double article = 0.0;
    double answered_best = 0.0, answered_second = 0.0;
    bool seen = false;
  };
  std::vector<DocScore> docs(doc_names_.size());
  std::vector<uint32_t> matched;  // docs with any hit
  auto doc_score = [&](uint32_t doc) -> DocScore& {
    DocScore& d = docs[doc];
    if (!d.seen) {
      d.seen = true;
      matched.push_back(doc);
    }
    return d;
  };
  for (uint32_t row : articles.hit_rows) {
    DocScore& d = doc_score(chunks_.row_doc(row));
    const double score = articles.row_score[row];
    const int64_t seq = chunks_.row_rowid(row);
    // Ties go to the earlier chunk, so results do not depend on hit order.
    if (score > d.article || (score == d.article && (d.best_chunk < 0 || seq < d.best_chunk))) {
      d.article = score;
      d.best_chunk = seq;
    }
  }
  for (uint32_t row : answered.hit_rows) {
    DocScore& d = doc_score(answered_.row_doc(row));
    const double score = answered.row_score[row];
    if (score > d.answered_best) {
      d.answered_second = d.answered_best;
      d.answered_best = score;
    } else if (score > d.answered_second) {
      d.answered_second = score;
    }
  }
  std::vector<double> doc_probability(doc_names_.size(), 0.0);
  if (answered_model_) {
    const std::vector<double> p = answered_model_->Probabilities(query);
    for (size_t label = 0; label < p.size(); ++label) {
      // A document removed since the model was trained is not in the index any more.
      const int64_t doc = doc_numbers_.Find(answered_model_->labels()[label]);
      if (doc >= 0) doc_probability[static_cast<size_t>(doc)] = p[label];
    }
  }
  // A document's share of the subject's idf in one table's rows.
  auto subject_share = [](const TableScores& t, uint32_t doc) {
    return doc < t.doc_subject_idf.size() && t.subject_idf > 0 ? t.doc_subject_idf[doc] / t.subject_idf : 0.0;
  };
  std::vector<std::pair<double, uint32_t>> ranked;
  ranked.reserve(matched.size());
  for (uint32_t doc : matched) {
    const DocScore& d = docs[doc];
    // A ticket with a subject must share subject words with the document: the subject is
    // what the customer wants, and a body that only shares small talk ("sorry", "this
    // weekend") with an article is not answered by it. Shared words that carry almost
    // none of the subject's information do not count: "Order pizza" shares "order" with
    // half the articles of a shop, and "pizza", which no article has, is the point.
    if (has_subject && !(subject_share(articles, doc) >= kMinSubjectShare) &&
        !(subject_share(answered, doc) >= kMinSubjectShare))
      continue;
    const double article =
        has_subject ? (1 - kTicketDocBlend) * d.article + kTicketDocBlend * articles.doc_term_max[doc] : d.article;
    double score = articles.max_attainable > 0 ? article / articles.max_attainable : 0.0;
    if (answered.max_attainable > 0) {
      score += kAnsweredWeight * (d.answered_best + kSecondAnsweredWeight * d.answered_second) /
               answered.max_attainable;
    }
    score *= 1 + kClassifierWeight * doc_probability[doc];
    ranked.emplace_back(score, doc);
  }
  // Only the top k are shown: a partial sort, by score then doc_id so ties are stable.
  const size_t shown = std::min(ranked.size(), static_cast<size_t>(k));
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(shown), ranked.end(),
                    [this](const auto& a, const auto& b) {
                      return a.first != b.first ? a.first > b.first : doc_names_[a.second] < doc_names_[b.second];
                    });
  ranked.resize(shown);

  // A document found only through its answered questions is shown by its first chunk.
  Stmt by_seq(db_,
              "SELECT c.id, c.doc_id, c.text, d.title, d.url, d.kind FROM kb_chunks c"
              " JOIN kb_documents d ON d.doc_id = c.doc_id WHERE c.seq = ?1");
  Stmt first_chunk(db_,
                   "SELECT c.id, c.doc_id, c.text, d.title, d.url, d.kind FROM kb_chunks c"
                   " JOIN kb_documents d ON d.doc_id = c.doc_id WHERE c.doc_id = ?1 ORDER BY c.ord LIMIT 1");
  DP_RETURN_IF_ERROR(by_seq.prepared("prepare kb passage"));
  DP_RETURN_IF_ERROR(first_chunk.prepared("prepare kb passage"));
  for (const auto& [score, doc] : ranked) {
    const int64_t best_chunk = docs[doc].best_chunk;
    Stmt& q = best_chunk >= 0 ? by_seq : first_chunk;
    if (best_chunk >= 0) {
      q.Bind(1, best_chunk);
    } else {
      q.Bind(1, doc_names_[doc]);
    }
    DP_ASSIGN_OR_RETURN(bool row, q.Step("kb passage"));
    if (row) {
      Passage p;
      p.id = q.Text(0);
      p.doc_id = q.Text(1);
      p.text = q.Text(2);
      p.title = q.Text(3);
      p.url = q.Text(4);
      p.kind = KindFromName(q.Text(5));
      p.score = score;
      passages.push_back(std::move(p));
    }
    DP_RETURN_IF_ERROR(q.Reset());
  }
  return passages;
}

Result<bool> KbIndex::HasDocument(const std::string& doc_id) {
  std::lock_guard lock(mu_);
  Stmt q(db_, "SELECT 1 FROM kb_documents WHERE doc_id = ?1");
  DP_RETURN_IF_ERROR(q.prepared("prepare kb lookup"));
  q.Bind(1, doc_id);
  return q.Step("kb lookup " + doc_id);
}

Result<int64_t> KbIndex::CountDocuments() {
  std::lock_guard lock(mu_);
  Stmt q(db_, "SELECT count(*) FROM kb_documents");
  DP_RETURN_IF_ERROR(q.prepared("prepare kb count"));
  DP_ASSIGN_OR_RETURN(bool row, q.Step("kb count"));
  return row ? q.Int(0) : int64_t{0};
}

}  // namespace deskpilot
