// The knowledge base: documents, heading-aware chunks and an FTS5 (BM25) index over them,
// stored in deskpilot's own SQLite file next to the queue and audit tables.
//
// Tables (all prefixed kb_, schema version in kb_meta): kb_documents, kb_chunks and the
// FTS5 table kb_fts over (title, heading, text), porter-stemmed, diacritics removed;
// kb_answered and its FTS5 table kb_answered_fts hold past questions that an article
// answered (evidence for ranking, never passage text).
//
// Thread-safety: a KbIndex owns one SQLite connection and serialises every call on it
// with a mutex, so one instance may be shared by all workers. Other processes (replicas,
// `deskpilot kb ingest` while serving) may use the same file: WAL plus a busy timeout.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "deskpilot/status.h"
#include "deskpilot/types.h"
#include "retriever/fts5/kb_query.h"

struct sqlite3;

namespace deskpilot {

struct KbDocument {
  std::string doc_id, title, text, url;
  PassageKind kind = PassageKind::kKbArticle;
};

struct AnsweredQuestion {
  std::string text;
  std::vector<std::string> doc_ids;  // the articles that answered it
};

struct AnsweredStats {
  int added = 0;      // (question, doc) pairs stored
  int unchanged = 0;  // pairs already stored
};

// Reads labelled questions (`kb ingest --answered`, `kb eval --queries`): one JSON object
// per line with `text` (string) and `relevant_doc_ids` (array of non-empty strings); other
// keys are ignored, blank lines skipped. InvalidArgument naming the file and line.
Result<std::vector<AnsweredQuestion>> ReadLabeledQuestions(const std::string& path);

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

  // Adds past questions as evidence for the articles that answered them. `path` is read
  // with ReadLabeledQuestions (the shape of resolved tickets linked to the article that
  // solved them). A doc_id that is not in the KB is InvalidArgument. One transaction;
  // a (doc_id, text) pair already stored is skipped.
  Result<AnsweredStats> IngestAnsweredFile(const std::string& path);
  Result<AnsweredStats> IngestAnswered(const std::vector<AnsweredQuestion>& questions);

  // Documents ranked for `query`, best first, at most k, each as its best-matching chunk.
  // The query is untrusted ticket text: it is cleaned and weighted by kb::QueryTerms
  // (first line = subject, weight 2), and each of the (at most 12) rarest terms that
  // occur in the KB is looked up as one quoted FTS5 term, so no input can produce an
  // FTS5 syntax error. Passage::score is the document's relevance:
  //
  //   article  = max over the document's chunks of sum_t w_t * bm25_t(chunk)
  //              (bm25 with title 5x, heading 2x, body 1x)
  //   answered = best + 0.5 * second-best sum_t w_t * bm25_t(question) over the
  //              questions ingested as answered by the document
  //   score    = article / A + 2 * answered / B
  //
  // where A and B are the most the query could score in each table: sum_t w_t * idf_t *
  // (k1 + 1) over *all* its terms, including those that occur nowhere (which get the
  // largest idf). A score is therefore the share of the query's information that the
  // document covers, comparable across queries and KB sizes (0..1 without answered
  // questions, 0..3 with), which is what makes a fixed floor meaningful. An empty or
  // all-stop-word query returns an empty vector.
  Result<std::vector<Passage>> Search(const std::string& query, int k);

  Result<int64_t> CountDocuments();

 private:
  explicit KbIndex(sqlite3* db);
  Status Migrate();
  struct RowScore {
    std::string doc_id;
    double score = 0.0;  // sum over query terms of weight * bm25 (positive)
  };
  struct TableScores {
    std::unordered_map<int64_t, RowScore> rows;  // by rowid
    // doc_id → sum over terms of the term's best weighted bm25 in any of the doc's rows.
    std::unordered_map<std::string, double> doc_term_max;
    // doc_id → whether a subject term (weight > 1) matched any of its rows.
    std::unordered_map<std::string, bool> doc_subject_match;
    double max_attainable = 0.0;                 // sum over all terms of weight * idf * (k1 + 1)
  };
  // Scores one FTS5 table for the query terms. `table` is kb_fts or kb_answered_fts,
  // `rows_sql` counts its rows, `hits_sql` returns (rowid, doc_id, bm25) for MATCH ?1.
  Result<TableScores> ScoreTable(const char* table, const char* rows_sql, const char* hits_sql,
                                 const std::vector<kb::QueryTerm>& terms);

  std::mutex mu_;
  sqlite3* db_;  // guarded by mu_
};

}  // namespace deskpilot
