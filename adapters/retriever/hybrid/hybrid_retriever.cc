#include "retriever/hybrid/hybrid_retriever.h"

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "deskpilot/crypto.h"
#include "retriever/fts5/fts5_retriever.h"

namespace deskpilot {
namespace {

Status SqlError(sqlite3* db, const std::string& what) {
  return Status::Unavailable("kb embeddings: " + what + ": " + sqlite3_errmsg(db));
}

// A prepared statement that finalizes itself.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  sqlite3_stmt* get() const { return s_; }
  bool ok() const { return s_ != nullptr; }
  std::string Text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, col))) : std::string();
  }

 private:
  sqlite3_stmt* s_ = nullptr;
};

// Eight independent float sums: without -ffast-math the compiler may not reorder one
// running sum, and this form vectorises. Measured 6x faster than a double accumulator.
float Dot(const float* a, const float* b, size_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (size_t j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  float s = 0;
  for (float x : acc) s += x;
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

void Normalise(std::vector<float>* v) {
  double norm = 0;
  for (float x : *v) norm += static_cast<double>(x) * x;
  norm = std::sqrt(norm);
  if (norm == 0) return;
  for (float& x : *v) x = static_cast<float>(x / norm);
}

// Vectors are stored as raw float32 in the machine's byte order; every platform
// deskpilot builds for is little-endian.
std::string ToBlob(const std::vector<float>& v) {
  std::string b(v.size() * sizeof(float), '\0');
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

std::vector<float> FromBlob(const void* p, int bytes) {
  std::vector<float> v(static_cast<size_t>(bytes) / sizeof(float));
  if (!v.empty()) std::memcpy(v.data(), p, v.size() * sizeof(float));
  return v;
}

std::string ChunkText(const Passage& p, const std::string& heading) {
  std::string t = p.title;
  if (!heading.empty() && heading != p.title) t += "\n" + heading;
  return t + "\n" + p.text;
}

struct StoredVector {
  std::string hash, model;
  std::vector<float> vector;
};

}  // namespace

std::vector<std::pair<std::string, double>> FuseReciprocalRank(const std::vector<std::vector<std::string>>& rankings,
                                                               int k) {
  std::vector<std::pair<std::string, double>> out;
  std::unordered_map<std::string, size_t> index;
  for (const auto& ranking : rankings) {
    for (size_t i = 0; i < ranking.size(); ++i) {
      const double add = 1.0 / (k + static_cast<double>(i + 1));
      auto [it, inserted] = index.try_emplace(ranking[i], out.size());
      if (inserted) {
        out.emplace_back(ranking[i], add);
      } else {
        out[it->second].second += add;
      }
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  return out;
}

HybridRetriever::HybridRetriever(sqlite3* db, std::unique_ptr<Retriever> bm25, LlmClient& embedder,
                                 HybridRetrieverOptions options)
    : db_(db), bm25_(std::move(bm25)), embedder_(embedder), options_(options) {}

HybridRetriever::~HybridRetriever() { sqlite3_close_v2(db_); }

Result<std::unique_ptr<HybridRetriever>> HybridRetriever::Open(const std::string& db_path,
                                                               std::unique_ptr<Retriever> bm25, LlmClient& embedder,
                                                               HybridRetrieverOptions options) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    Status s = Status::Unavailable("kb embeddings: cannot open " + db_path + ": " + sqlite3_errmsg(db));
    sqlite3_close_v2(db);
    return s;
  }
  std::unique_ptr<HybridRetriever> r(new HybridRetriever(db, std::move(bm25), embedder, options));
  sqlite3_busy_timeout(db, 5000);
  if (sqlite3_exec(db,
                   "PRAGMA journal_mode=WAL;"
                   "CREATE TABLE IF NOT EXISTS kb_embeddings("
                   "  chunk_id TEXT PRIMARY KEY, content_hash TEXT NOT NULL, model TEXT NOT NULL,"
                   "  dims INTEGER NOT NULL, vector BLOB NOT NULL)",
                   nullptr, nullptr, nullptr) != SQLITE_OK) {
    return SqlError(db, "create table");
  }
  return r;
}

Result<int64_t> HybridRetriever::KbGeneration() {
  // Every KB write bumps kb_meta's generation in its transaction (kb_index.h). The chunk
  // count and largest seq are not enough: SQLite gives a new row the largest rowid + 1,
  // so an edit of the newest article, or a removal plus an ingest of as many chunks,
  // leaves both as they were while the text changed.
  Stmt q(db_, "SELECT coalesce((SELECT CAST(value AS INTEGER) FROM kb_meta WHERE key = 'generation'), 0)");
  if (!q.ok() || sqlite3_step(q.get()) != SQLITE_ROW) return SqlError(db_, "read kb generation");
  return sqlite3_column_int64(q.get(), 0);
}

Result<EmbeddingSyncStats> HybridRetriever::Sync() {
  std::lock_guard<std::mutex> one_sync(sync_mu_);
  const std::string model = embedder_.EmbeddingModel();
  if (model.empty()) return Status::FailedPrecondition("hybrid retriever: the [llm] client has no embedding model");
  std::vector<Chunk> chunks;
  std::vector<std::string> hashes;
  std::vector<std::string> texts;  // what is embedded per chunk
  std::map<std::string, StoredVector> stored;
  int64_t generation = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Read before the chunks: a write landing in between makes the next search sync again.
    DP_ASSIGN_OR_RETURN(generation, KbGeneration());
    Stmt q(db_,
           "SELECT c.id, c.doc_id, c.heading, c.text, d.title, d.url, d.kind"
           " FROM kb_chunks c JOIN kb_documents d ON d.doc_id = c.doc_id ORDER BY c.seq");
    if (!q.ok()) return SqlError(db_, "read chunks");
    int rc;
    while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) {
      Chunk c;
      c.passage.id = q.Text(0);
      c.passage.doc_id = q.Text(1);
      const std::string heading = q.Text(2);
      c.passage.text = q.Text(3);
      c.passage.title = q.Text(4);
      c.passage.url = q.Text(5);
      c.passage.kind = q.Text(6) == "resolved_ticket" ? PassageKind::kResolvedTicket : PassageKind::kKbArticle;
      hashes.push_back(Sha256Hex(c.passage.title + "\n" + heading + "\n" + c.passage.text));
      texts.push_back(ChunkText(c.passage, heading));
      chunks.push_back(std::move(c));
    }
    if (rc != SQLITE_DONE) return SqlError(db_, "read chunks");
    Stmt e(db_, "SELECT chunk_id, content_hash, model, vector FROM kb_embeddings");
    if (!e.ok()) return SqlError(db_, "read embeddings");
    while ((rc = sqlite3_step(e.get())) == SQLITE_ROW) {
      stored[e.Text(0)] = {e.Text(1), e.Text(2),
                           FromBlob(sqlite3_column_blob(e.get(), 3), sqlite3_column_bytes(e.get(), 3))};
    }
    if (rc != SQLITE_DONE) return SqlError(db_, "read embeddings");
  }

  EmbeddingSyncStats stats;
  std::vector<size_t> todo;
  for (size_t i = 0; i < chunks.size(); ++i) {
    auto it = stored.find(chunks[i].passage.id);
    if (it != stored.end() && it->second.hash == hashes[i] && it->second.model == model && !it->second.vector.empty()) {
      chunks[i].vector = std::move(it->second.vector);
      ++stats.unchanged;
    } else {
      todo.push_back(i);
    }
  }
  std::set<std::string> live;
  for (const auto& c : chunks) live.insert(c.passage.id);
  std::vector<std::string> gone;
  for (const auto& [id, unused] : stored)
    if (!live.contains(id)) gone.push_back(id);

  for (size_t start = 0; start < todo.size(); start += static_cast<size_t>(options_.batch)) {
    const size_t end = std::min(todo.size(), start + static_cast<size_t>(options_.batch));
    std::vector<std::string> batch;
    for (size_t j = start; j < end; ++j) {
      const std::string& t = texts[todo[j]];
      batch.push_back(t.size() > options_.max_chunk_chars ? t.substr(0, options_.max_chunk_chars) : t);
    }
    DP_ASSIGN_OR_RETURN(std::vector<std::vector<float>> vectors, embedder_.Embed(batch));
    if (vectors.size() != batch.size()) {
      return Status::Internal("hybrid retriever: " + std::to_string(batch.size()) + " inputs but " +
                              std::to_string(vectors.size()) + " embeddings");
    }
    std::lock_guard<std::mutex> lock(mu_);
    sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    Stmt put(db_,
             "INSERT OR REPLACE INTO kb_embeddings(chunk_id, content_hash, model, dims, vector) "
             "VALUES(?1, ?2, ?3, ?4, ?5)");
    for (size_t j = start; j < end; ++j) {
      std::vector<float>& v = vectors[j - start];
      Normalise(&v);
      const size_t i = todo[j];
      const std::string blob = ToBlob(v);
      sqlite3_bind_text(put.get(), 1, chunks[i].passage.id.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(put.get(), 2, hashes[i].c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(put.get(), 3, model.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(put.get(), 4, static_cast<int64_t>(v.size()));
      sqlite3_bind_blob(put.get(), 5, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT);
      if (!put.ok() || sqlite3_step(put.get()) != SQLITE_DONE) {
        Status s = SqlError(db_, "store embedding");
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        return s;
      }
      sqlite3_reset(put.get());
      chunks[i].vector = std::move(v);
      ++stats.embedded;
    }
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) return SqlError(db_, "commit embeddings");
  }

  std::lock_guard<std::mutex> lock(mu_);
  if (!gone.empty()) {
    Stmt del(db_, "DELETE FROM kb_embeddings WHERE chunk_id = ?1");
    for (const auto& id : gone) {
      sqlite3_bind_text(del.get(), 1, id.c_str(), -1, SQLITE_TRANSIENT);
      if (!del.ok() || sqlite3_step(del.get()) != SQLITE_DONE) return SqlError(db_, "delete embedding");
      sqlite3_reset(del.get());
      ++stats.removed;
    }
  }
  chunks_ = std::move(chunks);
  synced_ = generation;
  return stats;
}

Result<std::vector<Passage>> HybridRetriever::Retrieve(const std::string& query, int k) {
  const int limit = k <= 0 ? options_.k : std::min(k, options_.k);
  bool stale = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto generation = KbGeneration();
    stale = !generation.ok() || *generation != synced_;
  }
  if (stale) {
    auto synced = Sync();
    if (!synced.ok()) spdlog::warn("hybrid retriever: embedding sync failed, searching what is stored: {}",
                                   synced.status().ToString());
    else if (synced->embedded + synced->removed > 0)
      spdlog::info("hybrid retriever: embedded {} chunks, {} unchanged, {} removed", synced->embedded,
                   synced->unchanged, synced->removed);
  }

  DP_ASSIGN_OR_RETURN(std::vector<Passage> bm25, bm25_->Retrieve(query, options_.candidates));
  auto embedded = embedder_.Embed({query});
  if (!embedded.ok() || embedded->size() != 1) {
    if (!embedded.ok() && embedded.status().retryable()) return embedded.status().WithContext("embed query");
    spdlog::warn("hybrid retriever: query embedding failed, BM25 only: {}",
                 embedded.ok() ? std::string("wrong number of vectors") : embedded.status().ToString());
    if (static_cast<int>(bm25.size()) > limit) bm25.resize(static_cast<size_t>(limit));
    return bm25;
  }
  std::vector<float> q = std::move((*embedded)[0]);
  Normalise(&q);

  // Best chunk per document by cosine.
  std::unordered_map<std::string, std::pair<double, Passage>> best;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const Chunk& c : chunks_) {
      if (c.vector.size() != q.size()) continue;
      const double dot = Dot(q.data(), c.vector.data(), q.size());
      auto it = best.find(c.passage.doc_id);
      if (it == best.end() || dot > it->second.first) best[c.passage.doc_id] = {dot, c.passage};
    }
  }
  std::vector<std::pair<double, std::string>> by_vector;
  for (const auto& [doc, hit] : best) by_vector.emplace_back(hit.first, doc);
  std::sort(by_vector.begin(), by_vector.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  if (static_cast<int>(by_vector.size()) > options_.candidates) by_vector.resize(static_cast<size_t>(options_.candidates));

  std::vector<std::string> text_rank, vector_rank;
  std::unordered_map<std::string, Passage> passages;
  for (const auto& p : bm25) {
    text_rank.push_back(p.doc_id);
    passages.emplace(p.doc_id, p);
  }
  for (const auto& [cosine, doc] : by_vector) {
    const bool in_bm25 = passages.contains(doc);
    // Only the embeddings vouch for this document: it must be close, or every ticket
    // would get "relevant" passages.
    if (!in_bm25 && cosine < options_.min_similarity) continue;
    vector_rank.push_back(doc);
    if (!in_bm25) passages.emplace(doc, best[doc].second);
  }
  std::vector<Passage> out;
  for (const auto& [doc, score] : FuseReciprocalRank({text_rank, vector_rank}, options_.rrf_k)) {
    if (static_cast<int>(out.size()) >= limit) break;
    Passage p = passages.at(doc);
    p.score = score;
    out.push_back(std::move(p));
  }
  return out;
}

Result<std::unique_ptr<HybridRetriever>> MakeHybridRetriever(AdapterContext& ctx) {
  const nlohmann::json empty = nlohmann::json::object();
  ConfigSection defaults(empty, "retriever");
  ConfigSection& section = ctx.section != nullptr ? *ctx.section : defaults;
  section.String("type", "hybrid");
  HybridRetrieverOptions o;
  o.k = static_cast<int>(section.Int("k", o.k, 1, 100));
  o.candidates = static_cast<int>(section.Int("candidates", o.candidates, 1, 1000));
  o.rrf_k = static_cast<int>(section.Int("rrf_k", o.rrf_k, 1, 10000));
  o.min_similarity = section.Double("min_similarity", o.min_similarity);
  const double min_relevance = section.Double("min_relevance", Fts5RetrieverOptions().min_relevance);
  const bool sample_kb = section.Bool("sample_kb", true);
  if (!(o.min_similarity >= -1 && o.min_similarity <= 1))
    return Status::InvalidArgument(section.path() + ".min_similarity: must be in [-1, 1]");
  if (ctx.llm == nullptr) return LlmUnavailable(ctx, section.path() + ": the hybrid retriever");
  if (ctx.llm->EmbeddingModel().empty()) {
    return Status::InvalidArgument(section.path() + ": the hybrid retriever needs an embedding model in [llm]");
  }
  if (ctx.db_path.empty()) return Status::InvalidArgument("retriever hybrid: no database path");

  // The BM25 side is the fts5 retriever on the same KB (and the same sample-KB
  // bootstrap), asked for `candidates` documents.
  nlohmann::json fts5_keys = {{"type", "fts5"}, {"k", o.candidates}, {"min_relevance", min_relevance},
                              {"sample_kb", sample_kb}};
  ConfigSection fts5_section(fts5_keys, section.path());
  AdapterContext fts5_ctx = ctx;
  fts5_ctx.section = &fts5_section;
  DP_ASSIGN_OR_RETURN(std::unique_ptr<Retriever> bm25, MakeFts5Retriever(fts5_ctx));
  DP_RETURN_IF_ERROR(fts5_section.Finish());
  DP_ASSIGN_OR_RETURN(auto hybrid, HybridRetriever::Open(ctx.db_path, std::move(bm25), *ctx.llm, o));
  auto synced = hybrid->Sync();
  if (synced.ok()) {
    spdlog::info("hybrid retriever: embedded {} chunks, {} unchanged, {} removed", synced->embedded, synced->unchanged,
                 synced->removed);
  } else {
    spdlog::warn("hybrid retriever: embedding the KB failed, retrying at the first search: {}",
                 synced.status().ToString());
  }
  return hybrid;
}

}  // namespace deskpilot
