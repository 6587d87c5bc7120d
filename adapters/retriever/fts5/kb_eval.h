// Retrieval quality metrics for `deskpilot kb eval`: recall@1/5/10, MRR and nDCG@10 over
// labelled queries (JSONL `text`, `relevant_doc_ids`, the same shape `kb ingest
// --answered` reads). Pure arithmetic, separate from search so it can be checked by hand.
#pragma once

#include <string>
#include <vector>


namespace deskpilot {

struct RetrievalMetrics {
  int n = 0;
  // Mean over queries of |relevant ∩ top-k| / |relevant|.
  double recall_at_1 = 0, recall_at_5 = 0, recall_at_10 = 0;
  double mrr = 0;         // mean of 1 / rank of the first relevant doc within the cut-off, else 0
  double ndcg_at_10 = 0;  // binary gains, log2 discount, ideal = all relevant docs first
};

class RetrievalEvaluator {
 public:
  // `mrr_cutoff`: ranks beyond it count 0 for MRR (the `--k` of `kb eval`).
  explicit RetrievalEvaluator(int mrr_cutoff = 10) : mrr_cutoff_(mrr_cutoff) {}

  // One query's ranked doc_ids (best first, duplicates ignored) against its relevant set.
  // A query without relevant docs is skipped: it cannot be scored.
  void Add(const std::vector<std::string>& ranked_doc_ids, const std::vector<std::string>& relevant_doc_ids);

  RetrievalMetrics Metrics() const;

 private:
  int mrr_cutoff_;
  RetrievalMetrics sums_;
};

}  // namespace deskpilot
