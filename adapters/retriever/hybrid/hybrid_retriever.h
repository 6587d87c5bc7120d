// The "hybrid" retriever: BM25 (the fts5 retriever) and embedding similarity, fused by
// reciprocal rank.
//
// Embeddings live in deskpilot's SQLite file, table kb_embeddings(chunk_id PRIMARY KEY,
// content_hash, model, dims, vector BLOB of little-endian float32). A chunk is
// (re-)embedded only when its content hash (SHA-256 of title, heading and text) or the
// embedding model changed; rows of chunks that no longer exist are deleted. The KB
// tables (kb_chunks, kb_documents) are only read, never written.
//
// Search is brute force over L2-normalised float vectors held in memory (cosine = dot
// product); README.md has the measured cost. Each ranking is reduced to documents (a
// document's best chunk), then score(doc) = sum over rankings of 1 / (rrf_k + rank),
// rank starting at 1. A document that only the embeddings found must reach
// min_similarity, so an unrelated ticket still gets no passages.
//
// Thread-safe: a mutex guards the in-memory vectors and the SQLite connection; the
// embedding calls run outside it.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "deskpilot/llm.h"
#include "deskpilot/registry.h"
#include "deskpilot/retriever.h"

struct sqlite3;

namespace deskpilot {

struct HybridRetrieverOptions {
  int k = 5;                   // upper bound on passages per query
  int candidates = 50;         // documents taken from each ranking before fusion
  int rrf_k = 60;              // reciprocal rank fusion constant
  double min_similarity = 0.5; // cosine a document found only by embeddings must reach
  int batch = 64;              // chunks per embedding call
  size_t max_chunk_chars = 8000;  // text embedded per chunk
};

struct EmbeddingSyncStats {
  int embedded = 0;   // chunks (re-)embedded
  int unchanged = 0;  // chunks whose stored vector was reused
  int removed = 0;    // stored vectors of chunks that no longer exist
};

// Reciprocal rank fusion: `rankings` are lists of ids, best first. Returns every id
// with sum over lists of 1 / (k + rank), best first (ties: first seen first).
std::vector<std::pair<std::string, double>> FuseReciprocalRank(const std::vector<std::vector<std::string>>& rankings,
                                                               int k);

class HybridRetriever : public Retriever {
 public:
  // Opens its own connection to `db_path` and creates kb_embeddings if needed.
  // `bm25` ranks by text; `embedder` must outlive this and have an embedding model.
  static Result<std::unique_ptr<HybridRetriever>> Open(const std::string& db_path, std::unique_ptr<Retriever> bm25,
                                                       LlmClient& embedder, HybridRetrieverOptions options);
  ~HybridRetriever() override;
  HybridRetriever(const HybridRetriever&) = delete;
  HybridRetriever& operator=(const HybridRetriever&) = delete;

  // Brings kb_embeddings in line with the KB and reloads the in-memory vectors. Runs
  // by itself before a search whenever the KB changed (kb_meta's generation moved).
  // Errors: the embedder's (nothing is written for a failed batch; the next sync
  // retries it), Unavailable for SQLite failures.
  Result<EmbeddingSyncStats> Sync();

  // Retriever:
  // Fused passages, best first, at most min(k, options.k) (options.k when k <= 0);
  // Passage::score is the fusion score. A query embedding that fails with a retryable
  // error fails the call (the job retries); any other failure falls back to BM25 alone.
  Result<std::vector<Passage>> Retrieve(const std::string& query, int k) override;

 private:
  struct Chunk {
    Passage passage;            // id, doc_id, title, url, text, kind
    std::vector<float> vector;  // L2-normalised
  };
  HybridRetriever(sqlite3* db, std::unique_ptr<Retriever> bm25, LlmClient& embedder, HybridRetrieverOptions options);
  Result<int64_t> KbGeneration();  // REQUIRES: mu_ held

  sqlite3* db_;  // guarded by mu_
  std::unique_ptr<Retriever> bm25_;
  LlmClient& embedder_;
  const HybridRetrieverOptions options_;
  std::mutex mu_;
  std::mutex sync_mu_;                         // one Sync at a time
  std::vector<Chunk> chunks_;                  // guarded by mu_
  int64_t synced_ = -1;                        // guarded by mu_: KB generation at last sync
};

// Registry factory: reads [retriever] (type, k, candidates, rrf_k, min_similarity,
// min_relevance, sample_kb; see README.md), builds the fts5 retriever on the same KB
// for the BM25 side, and embeds what is missing (a failure there is logged and retried
// at the first search). Needs ctx.llm with an embedding model.
Result<std::unique_ptr<HybridRetriever>> MakeHybridRetriever(AdapterContext& ctx);

}  // namespace deskpilot
