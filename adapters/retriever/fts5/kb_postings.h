// An in-memory inverted index that reproduces FTS5's bm25() exactly, so KbIndex::Search
// can score a query term by walking a flat posting list instead of asking FTS5.
//
// Why: FTS5 evaluates bm25() through its auxiliary-function API for every matching row
// (and KbIndex joined every hit to kb_chunks for its doc_id). A ticket term that occurs
// in a quarter of a 100k-chunk KB meant ~25k such rows per term: ~0.5 s per query. Here
// a posting is (row, column-weighted frequency) in two arrays and a row's length and
// document sit in dense arrays, so scoring is a tight loop over the posting list.
//
// Exactness: rows are tokenized by FTS5's own tokenizer (fetched through fts5_api, with
// the arguments kb_fts was created with), row lengths count the same tokens FTS5 counts,
// and Bm25() evaluates FTS5's formula in the same order, so a term's score for a row is
// bit-for-bit what bm25() returns for that one-term query (kb_postings_test.cc checks
// this against FTS5 on every row of a test KB).
//
// Incremental: after a KB change KbIndex removes and adds the changed rows only (Remove,
// Add) instead of rebuilding; every statistic bm25 reads (row count, total length, a
// term's row count) is kept exact, so scores after any sequence of changes are the
// doubles a fresh build gives (kb_postings_test.cc, IncrementalEqualsFullRebuild).
//
// Not thread-safe: KbIndex builds and reads it under its mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "deskpilot/status.h"

struct sqlite3;
struct Fts5Tokenizer;
struct fts5_tokenizer;

namespace deskpilot::kb {

// FTS5's "porter unicode61 remove_diacritics 2" tokenizer (the kb tables' tokenizer),
// borrowed from the connection it was created on; that connection must outlive it.
class FtsTokenizer {
 public:
  static Result<std::unique_ptr<FtsTokenizer>> Create(sqlite3* db);
  ~FtsTokenizer();
  FtsTokenizer(const FtsTokenizer&) = delete;
  FtsTokenizer& operator=(const FtsTokenizer&) = delete;

  // The tokens FTS5 indexes for `text` (as a document) or searches for (as a query).
  std::vector<std::string> Tokens(std::string_view text, bool query) const;
  // Calls fn(token) for each token of `text` tokenized as a document.
  template <typename Fn>
  void ForEachToken(std::string_view text, Fn&& fn) const {
    using F = std::remove_reference_t<Fn>;
    Run(text, false, const_cast<void*>(static_cast<const void*>(&fn)),
        [](void* ctx, std::string_view token) { (*static_cast<F*>(ctx))(token); });
  }

 private:
  FtsTokenizer(std::unique_ptr<fts5_tokenizer> api, Fts5Tokenizer* tokenizer);
  void Run(std::string_view text, bool query, void* ctx, void (*emit)(void*, std::string_view)) const;

  std::unique_ptr<fts5_tokenizer> api_;
  Fts5Tokenizer* tokenizer_;
};

// Term → dense id. Open addressing with linear probing over one string arena: the index
// build looks up every token of the KB here (tens of millions at 100k chunks), and
// std::unordered_map's node-per-entry lookups were a third of the build's time.
class TermTable {
 public:
  // The id of `term`, or -1.
  int64_t Find(std::string_view term) const;
  // The id of `term`, adding it (as the next id) when new.
  uint32_t FindOrAdd(std::string_view term);
  size_t size() const { return hashes_.size(); }

 private:
  static uint64_t Hash(std::string_view s);
  std::string_view Term(uint32_t id) const { return std::string_view(arena_).substr(starts_[id], starts_[id + 1] - starts_[id]); }
  void Grow();

  std::vector<uint32_t> slots_;        // id + 1, 0 = empty; size a power of two
  std::vector<uint64_t> hashes_;       // by id
  std::vector<uint32_t> starts_ = {0};  // term id's bytes are arena_[starts_[id], starts_[id + 1])
  std::string arena_;
};

class PostingIndex {
 public:
  // One row of an FTS5 table: its rowid, its document (a dense id the caller assigns)
  // and its columns' text. `column_weights` are bm25()'s per-column weights (whole
  // numbers, so a row's weighted frequency is an exact small integer).
  struct Row {
    int64_t rowid = 0;
    uint32_t doc = 0;
    std::vector<std::string_view> columns;
  };

  PostingIndex() = default;
  explicit PostingIndex(std::vector<uint16_t> column_weights) : column_weights_(std::move(column_weights)) {}

  // Adds a row under the next row number (so posting lists stay sorted). Its rowid must
  // not be in the index (Contains).
  void Add(const FtsTokenizer& tokenizer, const Row& row);
  // Takes out the row with `rowid`, whose columns held `columns` when it was added (FTS5's
  // stored text of the row: the index keeps no per-row term list, so the row's terms are
  // found by tokenizing it again). False when no such row is in the index.
  bool Remove(const FtsTokenizer& tokenizer, int64_t rowid, const std::vector<std::string_view>& columns);
  // After a bulk build: releases the slack left by growing the posting lists.
  void Finish();
  // Renumbers the live rows densely once removed rows hold more than a quarter of the row
  // numbers (every search allocates one score per row number). Order is kept, so posting
  // lists stay sorted; scores do not change.
  void MaybeCompact();

  struct Postings {
    std::vector<uint32_t> rows;   // row numbers (positions in Add order), increasing
    // Column-weighted occurrences (sum over columns of weight × count), saturating at
    // 65535: a chunk holds at most ~300 words, so only a title repeating one word
    // thousands of times could reach it.
    std::vector<uint16_t> freqs;
  };
  // nullptr when no row holds `token` (an FTS5 token, i.e. already stemmed).
  const Postings* Find(std::string_view token) const;

  // Rows in the index: bm25's N.
  size_t rows() const { return rowid_row_.size(); }
  // Row numbers are below this (removed rows leave gaps until MaybeCompact).
  size_t row_slots() const { return row_rowid_.size(); }
  bool Contains(int64_t rowid) const { return rowid_row_.count(rowid) != 0; }
  uint32_t row_doc(uint32_t row) const { return row_doc_[row]; }
  int64_t row_rowid(uint32_t row) const { return row_rowid_[row]; }
  // The row number of an FTS5 rowid, or -1.
  int64_t FindRow(int64_t rowid) const;

  // FTS5's idf for a term found in `df` rows, floored at 1e-6 as FTS5 floors it.
  double Idf(int64_t df) const;
  // bm25() of a one-term query for one of the term's postings: exactly FTS5's
  // idf * (f * (k1 + 1)) / (f + k1 * (1 - b + b * D / avgdl)), positive.
  double Bm25(double idf, uint32_t row, uint16_t freq) const;

  static constexpr double kK1 = 1.2;  // FTS5's bm25 constants
  static constexpr double kB = 0.75;

 private:
  std::vector<uint16_t> column_weights_;
  TermTable term_ids_;
  std::vector<Postings> postings_;  // by term id
  std::vector<int64_t> row_rowid_;
  std::vector<uint32_t> row_doc_;
  std::vector<uint32_t> row_len_;  // tokens in the row over all columns: bm25's D
  std::unordered_map<int64_t, uint32_t> rowid_row_;  // rows in the index only
  uint64_t total_tokens_ = 0;
  double avgdl_ = 0.0;
  void UpdateAverage();
  // Per-row scratch for Add: column-weighted count by term id, and which ids were touched.
  std::vector<uint32_t> scratch_freq_;
  std::vector<uint32_t> scratch_terms_;
};

}  // namespace deskpilot::kb
