#include "retriever/fts5/kb_index.h"

#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "deskpilot/crypto.h"
#include "retriever/fts5/kb_text.h"

namespace deskpilot {
namespace {

constexpr int kSchemaVersion = 1;
// Part of every content hash: bumping it re-chunks all documents on the next ingest
// after the chunker changes, even though their text did not.
constexpr std::string_view kChunkerVersion = "chunker-1";
constexpr size_t kMaxCandidateTerms = 64;  // terms whose KB frequency is looked up
constexpr size_t kMaxQueryTerms = 12;      // terms OR-ed into the MATCH expression

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

std::string QuoteTerm(std::string_view term) {
  // Tokenize() guarantees no '"' in a term; the quotes make FTS5 read it as a string.
  std::string quoted;
  quoted.reserve(term.size() + 2);
  quoted += '"';
  quoted += term;
  quoted += '"';
  return quoted;
}

}  // namespace

KbIndex::KbIndex(sqlite3* db) : db_(db) {}

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
  return tx.Commit();
}

Result<IngestStats> KbIndex::IngestPaths(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  std::vector<KbDocument> docs;
  for (const std::string& path : paths) {
    std::error_code ec;
    fs::file_status st = fs::status(path, ec);
    if (ec || !fs::exists(st)) return Status::InvalidArgument("kb path not found: " + path);
    if (fs::is_directory(st)) {
      std::vector<std::pair<fs::path, FileType>> files;
      for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::follow_directory_symlink, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (!it->is_regular_file()) continue;
        FileType type = TypeOf(it->path());
        // A directory may hold READMEs, images and the like: only known types are KB files.
        if (type != FileType::kUnknown) files.emplace_back(it->path(), type);
      }
      if (ec) return Status::InvalidArgument("cannot list " + path + ": " + ec.message());
      std::sort(files.begin(), files.end());  // deterministic ingest order across filesystems
      for (const auto& [file, type] : files) DP_RETURN_IF_ERROR(ParseFile(file, type, &docs));
    } else {
      DP_RETURN_IF_ERROR(ParseFile(path, TypeOf(path), &docs));
    }
  }
  return IngestDocuments(docs);
}

Result<IngestStats> KbIndex::IngestDocuments(const std::vector<KbDocument>& docs) {
  std::lock_guard lock(mu_);
  Transaction tx(db_);
  DP_RETURN_IF_ERROR(tx.Begin());
  Stmt get_hash(db_, "SELECT content_hash FROM kb_documents WHERE doc_id = ?1");
  Stmt delete_fts(db_, "DELETE FROM kb_fts WHERE rowid IN (SELECT seq FROM kb_chunks WHERE doc_id = ?1)");
  Stmt delete_chunks(db_, "DELETE FROM kb_chunks WHERE doc_id = ?1");
  Stmt upsert_doc(db_,
                  "INSERT INTO kb_documents(doc_id, title, url, kind, content_hash, updated_ms)"
                  " VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(doc_id) DO UPDATE SET"
                  " title = excluded.title, url = excluded.url, kind = excluded.kind,"
                  " content_hash = excluded.content_hash, updated_ms = excluded.updated_ms");
  Stmt insert_chunk(db_, "INSERT INTO kb_chunks(id, doc_id, ord, heading, text) VALUES(?1, ?2, ?3, ?4, ?5)");
  Stmt insert_fts(db_, "INSERT INTO kb_fts(rowid, title, heading, text) VALUES(?1, ?2, ?3, ?4)");
  for (Stmt* s : {&get_hash, &delete_fts, &delete_chunks, &upsert_doc, &insert_chunk, &insert_fts}) {
    DP_RETURN_IF_ERROR(s->prepared("prepare kb ingest"));
  }
  IngestStats stats;
  const int64_t now = NowMs();
  for (const KbDocument& doc : docs) {
    if (doc.doc_id.empty()) return Status::InvalidArgument("kb document with an empty doc_id (title \"" + doc.title + "\")");
    const std::string hash = ContentHash(doc);
    get_hash.Bind(1, doc.doc_id);
    DP_ASSIGN_OR_RETURN(bool exists, get_hash.Step("kb lookup " + doc.doc_id));
    const bool same = exists && get_hash.Text(0) == hash;
    DP_RETURN_IF_ERROR(get_hash.Reset());
    if (same) {
      ++stats.unchanged;
      continue;
    }
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
      insert_fts.Bind(1, sqlite3_last_insert_rowid(db_));
      insert_fts.Bind(2, doc.title);
      insert_fts.Bind(3, chunks[n].heading);
      insert_fts.Bind(4, chunks[n].text);
      DP_RETURN_IF_ERROR(insert_fts.Run("kb index chunk"));
    }
    ++stats.documents;
    stats.chunks += static_cast<int>(chunks.size());
  }
  DP_RETURN_IF_ERROR(tx.Commit());
  return stats;
}

// Why look up term frequencies: a long ticket has far more terms than are useful, and
// OR-ing all of them makes every chunk match. Keeping the rarest terms that occur in
// the KB at all keeps the distinctive words ("invoice", "2fa") and drops noise; terms
// that occur nowhere cannot contribute to BM25 and would only waste the term budget.
Result<std::string> KbIndex::BuildMatchQuery(const std::string& query) {
  std::vector<std::string> candidates;
  std::unordered_set<std::string> seen;
  for (std::string& token : kb::Tokenize(query)) {
    if (candidates.size() >= kMaxCandidateTerms) break;
    if (seen.insert(token).second) candidates.push_back(std::move(token));
  }
  struct Term {
    std::string quoted;
    int64_t frequency;
  };
  std::vector<Term> terms;
  Stmt count(db_, "SELECT count(*) FROM kb_fts WHERE kb_fts MATCH ?1");
  DP_RETURN_IF_ERROR(count.prepared("prepare kb term count"));
  for (const std::string& token : candidates) {
    std::string quoted = QuoteTerm(token);
    count.Bind(1, quoted);
    Result<bool> row = count.Step("kb term count");
    // A term made only of characters the FTS tokenizer discards (e.g. "—") is a
    // syntax error for FTS5; it could not have matched anything, so skip it.
    const int64_t frequency = row.ok() && *row ? count.Int(0) : 0;
    DP_RETURN_IF_ERROR(count.Reset());
    if (!row.ok() && row.status().code() != Code::kInternal) return row.status();
    if (frequency > 0) terms.push_back({std::move(quoted), frequency});
  }
  std::stable_sort(terms.begin(), terms.end(), [](const Term& a, const Term& b) { return a.frequency < b.frequency; });
  if (terms.size() > kMaxQueryTerms) terms.resize(kMaxQueryTerms);
  std::string match;
  for (const Term& t : terms) {
    if (!match.empty()) match += " OR ";
    match += t.quoted;
  }
  return match;
}

Result<std::vector<Passage>> KbIndex::Search(const std::string& query, int k) {
  std::vector<Passage> passages;
  if (k <= 0) return passages;
  std::lock_guard lock(mu_);
  DP_ASSIGN_OR_RETURN(std::string match, BuildMatchQuery(query));
  if (match.empty()) return passages;
  // Ranking happens inside the FTS5 subquery so bm25() sees the MATCH cursor; more rows
  // than k are fetched because several top chunks may come from one document.
  Stmt q(db_,
         "WITH hits AS (SELECT rowid AS seq, bm25(kb_fts, 3.0, 2.0, 1.0) AS rank FROM kb_fts"
         "  WHERE kb_fts MATCH ?1 ORDER BY rank LIMIT ?2)"
         " SELECT c.id, c.doc_id, c.text, d.title, d.url, d.kind, hits.rank"
         " FROM hits JOIN kb_chunks c ON c.seq = hits.seq JOIN kb_documents d ON d.doc_id = c.doc_id"
         " ORDER BY hits.rank");
  DP_RETURN_IF_ERROR(q.prepared("prepare kb search"));
  q.Bind(1, match);
  q.Bind(2, static_cast<int64_t>(k) * 10 + 50);
  std::set<std::string> docs_seen;
  while (static_cast<int>(passages.size()) < k) {
    DP_ASSIGN_OR_RETURN(bool row, q.Step("kb search"));
    if (!row) break;
    std::string doc_id = q.Text(1);
    if (!docs_seen.insert(doc_id).second) continue;
    Passage p;
    p.id = q.Text(0);
    p.doc_id = std::move(doc_id);
    p.text = q.Text(2);
    p.title = q.Text(3);
    p.url = q.Text(4);
    p.kind = KindFromName(q.Text(5));
    p.score = -q.Double(6);
    passages.push_back(std::move(p));
  }
  return passages;
}

Result<int64_t> KbIndex::CountDocuments() {
  std::lock_guard lock(mu_);
  Stmt q(db_, "SELECT count(*) FROM kb_documents");
  DP_RETURN_IF_ERROR(q.prepared("prepare kb count"));
  DP_ASSIGN_OR_RETURN(bool row, q.Step("kb count"));
  return row ? q.Int(0) : int64_t{0};
}

}  // namespace deskpilot
