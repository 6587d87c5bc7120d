// A synthetic but realistic knowledge base and ticket-shaped queries, shared by the
// retrieval and pipeline benchmarks.
//
// Why synthetic: the shipped KBs have 10-125 articles, and the goal is about 10k and
// 100k chunks. Words follow a Zipf law (s = 1) over a generated vocabulary, which gives
// the long posting lists of common words that make OR queries slow; every query is
// drawn from one target article, so it has a known right answer to measure recall on.
// Everything is seeded: the same arguments produce the same KB and queries.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "retriever/fts5/kb_index.h"
#include "retriever/fts5/kb_text.h"

namespace deskpilot::bench {

class SyntheticKb {
 public:
  // `vocabulary` distinct pseudo-words ("kalomir", "tesuvan", ...), none a stop word.
  explicit SyntheticKb(size_t vocabulary = 30000, uint64_t seed = 7) : rng_(seed) {
    static const char* kOnsets[] = {"b", "c", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
                                    "br", "st", "tr", "pl", "gr", "sh", "ch"};
    static const char* kVowels[] = {"a", "e", "i", "o", "u", "ai", "ou", "ea"};
    static const char* kCodas[] = {"", "", "", "n", "r", "s", "l", "m", "x", "t"};
    while (words_.size() < vocabulary) {
      std::string w;
      const int syllables = 2 + static_cast<int>(rng_() % 3);
      for (int s = 0; s < syllables; ++s) {
        w += kOnsets[rng_() % std::size(kOnsets)];
        w += kVowels[rng_() % std::size(kVowels)];
      }
      w += kCodas[rng_() % std::size(kCodas)];
      if (kb::IsStopWord(w)) continue;
      words_.push_back(std::move(w));
    }
    std::sort(words_.begin(), words_.end());
    words_.erase(std::unique(words_.begin(), words_.end()), words_.end());
    std::shuffle(words_.begin(), words_.end(), rng_);
    cdf_.resize(words_.size());
    double sum = 0;
    for (size_t r = 0; r < words_.size(); ++r) cdf_[r] = sum += 1.0 / static_cast<double>(r + 1);
    for (double& c : cdf_) c /= sum;
  }

  // A Zipf-distributed word; `min_rank` skips the most frequent ones (the stop-word-like
  // head a query cleaner would drop).
  const std::string& Word(size_t min_rank = 0) {
    const double lo = min_rank == 0 ? 0.0 : cdf_[min_rank - 1];
    const double u = lo + (1.0 - lo) * std::uniform_real_distribution<double>(0, 1)(rng_);
    const size_t r = static_cast<size_t>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
    return words_[std::min(r, words_.size() - 1)];
  }

  size_t Uniform(size_t lo, size_t hi) { return lo + rng_() % (hi - lo + 1); }

  // One article: a 5-10 word title and sentences of 8-20 words up to 200-240 words, so
  // the chunker (250-word cap) keeps it as one chunk: `n` articles = `n` chunks.
  KbDocument Article(size_t i) {
    KbDocument doc;
    doc.doc_id = "synthetic-" + std::to_string(i);
    for (size_t t = 0, n = Uniform(5, 10); t < n; ++t) doc.title += (t ? " " : "") + Word(50);
    const size_t words = Uniform(200, 240);
    for (size_t w = 0, sentence = 0; w < words; ++w) {
      if (sentence == 0) sentence = Uniform(8, 20);
      doc.text += Word();
      doc.text += --sentence == 0 || w + 1 == words ? ".\n" : " ";
    }
    return doc;
  }

  struct Query {
    std::string text;
    std::string target;  // doc_id it was drawn from
  };

  // A ticket about `doc`: "subject\nbody", the shape the pipeline sends the retriever.
  // The subject has 2-4 of the article's words, the body a greeting, 3-6 more of them
  // mixed with 4-8 unrelated words, and a sign-off. The article's words are drawn as
  // often as they occur in it (outside the 100 most frequent), so a ticket repeats the
  // article's common words more than its rare ones, as people do.
  Query Ticket(const KbDocument& doc) {
    const std::vector<std::string> own = ContentWords(doc);
    Query q{"", doc.doc_id};
    for (size_t i = 0, n = Uniform(2, 4); i < n; ++i) q.text += (i ? " " : "") + own[Uniform(0, own.size() - 1)];
    q.text += "\nHi, I have a problem:";
    std::vector<std::string> body;
    for (size_t i = 0, n = Uniform(3, 6); i < n; ++i) body.push_back(own[Uniform(0, own.size() - 1)]);
    for (size_t i = 0, n = Uniform(4, 8); i < n; ++i) body.push_back(Word(100));
    std::shuffle(body.begin(), body.end(), rng_);
    for (const std::string& w : body) q.text += " " + w;
    q.text += ".\nThanks, Dana";
    return q;
  }

 private:
  // The article's words outside the 100 most frequent, each as often as it occurs.
  std::vector<std::string> ContentWords(const KbDocument& doc) {
    std::vector<std::string> out;
    for (const std::string& t : kb::Tokenize(doc.title + " " + doc.text)) {
      if (std::find(words_.begin(), words_.begin() + 100, t) == words_.begin() + 100) out.push_back(t);
    }
    return out;
  }

  std::mt19937_64 rng_;
  std::vector<std::string> words_;  // by frequency rank
  std::vector<double> cdf_;
};

// Makes `db` hold exactly `docs` plus, when `extra_paths` is not empty, what ingesting
// them adds (`expected_extra` documents). A file left by an earlier run with the right
// document count is reused: building 100k chunks takes minutes on a loaded machine.
inline Status EnsureKb(const std::string& db, const std::vector<KbDocument>& docs,
                       const std::vector<std::string>& extra_paths, int64_t expected_extra) {
  const int64_t want = static_cast<int64_t>(docs.size()) + expected_extra;
  {
    DP_ASSIGN_OR_RETURN(std::unique_ptr<KbIndex> index, KbIndex::Open(db));
    DP_ASSIGN_OR_RETURN(int64_t count, index->CountDocuments());
    if (count == want) return Status::Ok();
  }
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db + suffix);
  DP_ASSIGN_OR_RETURN(std::unique_ptr<KbIndex> index, KbIndex::Open(db));
  const auto start = std::chrono::steady_clock::now();
  constexpr size_t kBatch = 5000;  // one transaction per batch
  for (size_t i = 0; i < docs.size(); i += kBatch) {
    std::vector<KbDocument> batch(docs.begin() + static_cast<std::ptrdiff_t>(i),
                                  docs.begin() + static_cast<std::ptrdiff_t>(std::min(docs.size(), i + kBatch)));
    DP_RETURN_IF_ERROR(index->IngestDocuments(batch).status());
  }
  if (!extra_paths.empty()) DP_RETURN_IF_ERROR(index->IngestPaths(extra_paths).status());
  std::printf("# built %s (%lld documents) in %.1f s\n", db.c_str(), static_cast<long long>(want),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return Status::Ok();
}

}  // namespace deskpilot::bench
