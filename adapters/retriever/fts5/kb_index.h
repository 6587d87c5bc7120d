// The knowledge base: documents, heading-aware chunks and an FTS5 (BM25) index over them,
// stored in deskpilot's own SQLite file next to the queue and audit tables.
//
// Tables (all prefixed kb_, schema version in kb_meta): kb_documents, kb_chunks and the
// FTS5 table kb_fts over (title, heading, text), porter-stemmed, diacritics removed;
// kb_answered and its FTS5 table kb_answered_fts hold past questions that an article
// answered (evidence for ranking, never passage text).
//
// Search does not ask FTS5: it scores over an in-memory copy of the two FTS5 tables'
// posting lists (kb_postings.h) that reproduces bm25() exactly. When the KB changes (in
// any process) only the changed rows are updated, from a change log the writers keep
// (kb_changes); a full rebuild happens at start and when the log no longer reaches back
// to the loaded generation. FTS5 stays the source of truth and the tokenizer.
//
// Thread-safety: a KbIndex owns one SQLite connection and serialises every call on it
// with a mutex, so one instance may be shared by all workers. Other processes (replicas,
// `deskpilot kb ingest` while serving) may use the same file: WAL plus a busy timeout.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "classifier/embedded/linear_model.h"
#include "deskpilot/status.h"
#include "deskpilot/types.h"
#include "retriever/fts5/kb_postings.h"
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

struct IngestResult {
  IngestStats documents;
  AnsweredStats answered;
};

// Reads files or directories (walked recursively, in sorted order; directory symlinks are
// followed, each real directory once): .jsonl (one document per line: doc_id, title, text,
// optional url, optional kind "kb_article"|"resolved_ticket"), .md/.markdown (title from
// front matter or the first "# " heading, doc_id from front-matter id or the file name
// stem), .html/.htm (doc_id the file name stem). Inside directories, files with other
// extensions are skipped. InvalidArgument naming the file (and line) for a missing path, a
// named file with an unknown extension, a malformed line, a Markdown or HTML file that is
// not valid UTF-8 (with the byte offset), a directory that cannot be listed, and two
// documents with one doc_id (naming both files). Touches no database.
Result<std::vector<KbDocument>> ReadKbPaths(const std::vector<std::string>& paths);

class KbIndex {
 public:
  // Opens (creating if needed) the SQLite file in WAL mode and creates the kb tables.
  // FailedPrecondition when the file holds a newer kb schema than this build knows;
  // Unavailable when the file cannot be opened.
  static Result<std::unique_ptr<KbIndex>> Open(const std::string& db_path);
  ~KbIndex();
  KbIndex(const KbIndex&) = delete;
  KbIndex& operator=(const KbIndex&) = delete;

  // ReadKbPaths(paths), then IngestDocuments: nothing is written unless every input
  // parses (one transaction per call).
  Result<IngestStats> IngestPaths(const std::vector<std::string>& paths);

  // Chunks and stores documents in one transaction. A document whose content hash is
  // unchanged is skipped; a changed one has its chunks replaced. InvalidArgument (and
  // nothing written) for an empty doc_id, a doc_id given twice, or a field that is not
  // valid UTF-8.
  Result<IngestStats> IngestDocuments(const std::vector<KbDocument>& docs);

  // Deletes documents with their chunks and answered questions, in one transaction
  // (a source that no longer publishes an article, e.g. `kb sync`). Returns how many
  // of `doc_ids` existed; unknown ids are not an error.
  Result<int> RemoveDocuments(const std::vector<std::string>& doc_ids);

  // Adds past questions as evidence for the articles that answered them. `path` is read
  // with ReadLabeledQuestions (the shape of resolved tickets linked to the article that
  // solved them). A doc_id that is not in the KB is InvalidArgument. One transaction;
  // a (doc_id, text) pair already stored is skipped.
  Result<AnsweredStats> IngestAnsweredFile(const std::string& path);
  Result<AnsweredStats> IngestAnswered(const std::vector<AnsweredQuestion>& questions);

  // IngestDocuments and IngestAnswered in one transaction: the questions may name the
  // documents added with them, and when anything is refused (an unknown doc_id, a bad
  // document) nothing of either is written. `questions_path`, when given, prefixes the
  // message of a refused question.
  Result<IngestResult> Ingest(const std::vector<KbDocument>& docs, const std::vector<AnsweredQuestion>& questions,
                              const std::string& questions_path = "");

  // Documents ranked for `query`, best first, at most k, each as its best-matching chunk.
  // The query is untrusted ticket text: it is cleaned and weighted by kb::QueryTerms
  // (first line = subject, weight 2), and each of the (at most 12) rarest terms that
  // occur in the KB is scored as FTS5 would score it as one quoted term (from the
  // in-memory index; through FTS5 only for a term FTS5 reads as a phrase), so no input
  // can produce an FTS5 syntax error. Passage::score is the document's relevance:
  //
  //   article  = max over the document's chunks of sum_t w_t * bm25_t(chunk)
  //              (bm25 with title 5x, heading 2x, body 1x)
  //   answered = best + 0.5 * second-best sum_t w_t * bm25_t(question) over the
  //              questions ingested as answered by the document
  //   score    = (article / A + 2 * answered / B) * (1 + 3 * P(document | query))
  //
  // where A and B are the most the query could score in each table: sum_t w_t * idf_t *
  // (k1 + 1) over *all* its terms, including those that occur nowhere (which get the
  // largest idf), and P is the probability a linear text classifier trained on the
  // answered questions (label = the document they were answered by) gives the document;
  // without answered questions (or with fewer than two documents having any) P is 0. The
  // first factor is the share of the query's information that the document covers,
  // comparable across queries and KB sizes (0..1 without answered questions, 0..3 with);
  // the classifier only scales it, up to 4x, so a document no query term matched still
  // scores 0 and a fixed floor stays meaningful. An empty or all-stop-word query returns
  // an empty vector.
  Result<std::vector<Passage>> Search(const std::string& query, int k);

  Result<int64_t> CountDocuments();
  Result<bool> HasDocument(const std::string& doc_id);

  // Builds the in-memory search index now instead of on the first Search (the server
  // calls it at start so the first ticket does not pay for it). Search brings it up to
  // date by itself whenever an ingest, in this process or another, changed the KB.
  Status Preload();

  // How the in-memory index followed the KB so far (tests and benchmarks).
  struct IndexStats {
    int64_t full_builds = 0;
    int64_t updates = 0;  // incremental, from the change log
    bool answered_classifier = false;  // a classifier over answered questions is in use
  };
  IndexStats index_stats();

 private:
  explicit KbIndex(sqlite3* db);
  Status Migrate();
  // Brings chunks_/answered_ up to kb_meta's `generation` (bumped by every ingest that
  // writes) when it differs from the one loaded: ApplyChanges when the change log covers
  // the gap, else Rebuild. Runs inside one read transaction.
  Status Refresh();
  Status Rebuild();
  // Sets *answered_changed when the log touched kb_answered_fts.
  Status ApplyChanges(int64_t from_generation, int64_t to_generation, bool* answered_changed);
  // Refresh, then, when the answered questions changed and no other thread is already
  // training, retrains answered_model_ on all of them (cleared when fewer than two
  // documents have any). `lock` holds mu_; it is released while the model trains (seconds
  // for a large KB), so other searches go on with the previous model meanwhile.
  Status RefreshAndTrain(std::unique_lock<std::mutex>& lock);
  uint32_t DocNumber(std::string_view doc_id);  // dense number, assigned on first sight
  struct TableScores {
    std::vector<double> row_score;   // by row number; 0 = no hit (every hit scores > 0)
    std::vector<uint32_t> hit_rows;  // row numbers with a hit, in first-hit order
    // by doc: sum over terms of the term's best weighted bm25 in any of the doc's rows.
    std::vector<double> doc_term_max;
    // by doc: the sum of (Lucene) idf over the subject terms (weight > 1) found in its rows.
    std::vector<double> doc_subject_idf;
    double subject_idf = 0.0;     // the same over all subject terms, found or not
    double max_attainable = 0.0;  // sum over all terms of weight * idf * (k1 + 1)
  };
  // Scores one table for the query terms. `index` mirrors the FTS5 table `table`;
  // `hits_sql` returns (rowid, doc_id, bm25) for MATCH ?1 and is only used for a term
  // that FTS5 reads as a phrase of several tokens (see kb_index.cc).
  Result<TableScores> ScoreTable(const kb::PostingIndex& index, const char* table, const char* hits_sql,
                                 const std::vector<kb::QueryTerm>& terms, bool per_doc);

  std::mutex mu_;
  sqlite3* db_;  // guarded by mu_, as is everything below
  std::unique_ptr<kb::FtsTokenizer> tokenizer_;
  kb::PostingIndex chunks_;    // mirrors kb_fts (title 5, heading 2, text 1)
  kb::PostingIndex answered_;  // mirrors kb_answered_fts
  kb::TermTable doc_numbers_;           // doc_id → dense doc number, for both indexes
  std::vector<std::string> doc_names_;  // dense doc number → doc_id
  int64_t loaded_generation_ = -1;      // -1: not built yet
  // Classifier over the answered questions (label = doc_id), retrained by RefreshAndTrain
  // after they change; empty when there is nothing to learn from.
  std::optional<LinearModel> answered_model_;
  bool answered_model_stale_ = false;     // the questions changed since it was trained
  bool answered_model_training_ = false;  // a thread is training its successor
  bool classifier_skip_logged_ = false;   // the "too large to train" warning is logged once
  IndexStats index_stats_;
};

}  // namespace deskpilot
