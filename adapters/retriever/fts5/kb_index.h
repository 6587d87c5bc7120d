// The knowledge base: documents, heading-aware chunks and an FTS5 (BM25) index over them,
// stored in deskpilot's own SQLite file next to the queue and audit tables.
//
// Tables (all prefixed kb_, schema version in kb_meta): kb_documents, kb_chunks and the
// FTS5 table kb_fts over (title, heading, text), porter-stemmed, diacritics removed.
//
// Thread-safety: a KbIndex owns one SQLite connection and serialises every call on it
// with a mutex, so one instance may be shared by all workers. Other processes (replicas,
// `deskpilot kb ingest` while serving) may use the same file: WAL plus a busy timeout.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "deskpilot/status.h"
#include "deskpilot/types.h"

struct sqlite3;

namespace deskpilot {

struct KbDocument {
  std::string doc_id, title, text, url;
  PassageKind kind = PassageKind::kKbArticle;
};

struct IngestStats {
  int documents = 0;  // new or changed documents written
  int chunks = 0;     // chunks written for them
  int unchanged = 0;  // documents skipped because their content hash was already stored
};

class KbIndex {
 public:
  // Opens (creating if needed) the SQLite file in WAL mode and creates the kb tables.
  // FailedPrecondition when the file holds a newer kb schema than this build knows;
  // Unavailable when the file cannot be opened.
  static Result<std::unique_ptr<KbIndex>> Open(const std::string& db_path);
  ~KbIndex();
  KbIndex(const KbIndex&) = delete;
  KbIndex& operator=(const KbIndex&) = delete;

  // Files or directories (walked recursively, in sorted order): .jsonl (one document per
  // line: doc_id, title, text, optional url, optional kind "kb_article"|"resolved_ticket"),
  // .md/.markdown (title from front matter or the first "# " heading, doc_id from
  // front-matter id or the file name stem), .html/.htm. Inside directories, files with
  // other extensions are skipped; a named file with an unknown extension, a missing path
  // or a malformed line is InvalidArgument naming the file (and line). Nothing is
  // written unless every input parses: one transaction per call.
  Result<IngestStats> IngestPaths(const std::vector<std::string>& paths);

  // Chunks and stores documents in one transaction. A document whose content hash is
  // unchanged is skipped; a changed one has its chunks replaced. InvalidArgument for an
  // empty doc_id.
  Result<IngestStats> IngestDocuments(const std::vector<KbDocument>& docs);

  // Best chunk per document, best first, at most k. The query is untrusted text: it is
  // tokenized, stop words are dropped and at most 12 terms (the rarest in the KB) are
  // quoted and OR-ed, so no input can produce an FTS5 syntax error. Score is positive
  // relevance (-bm25 with title 3x, heading 2x, body 1x). An empty or all-stop-word
  // query returns an empty vector.
  Result<std::vector<Passage>> Search(const std::string& query, int k);

  Result<int64_t> CountDocuments();

 private:
  explicit KbIndex(sqlite3* db);
  Status Migrate();
  // The safe MATCH expression for `query`, or "" when no term occurs in the KB.
  Result<std::string> BuildMatchQuery(const std::string& query);

  std::mutex mu_;
  sqlite3* db_;  // guarded by mu_
};

}  // namespace deskpilot
