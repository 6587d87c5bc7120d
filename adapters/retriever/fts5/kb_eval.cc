#include "retriever/fts5/kb_eval.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace deskpilot {

void RetrievalEvaluator::Add(const std::vector<std::string>& ranked_doc_ids,
                             const std::vector<std::string>& relevant_doc_ids) {
  const std::set<std::string> relevant(relevant_doc_ids.begin(), relevant_doc_ids.end());
  if (relevant.empty()) return;
  std::vector<std::string> ranked;  // without duplicates: a doc counts once, at its best rank
  std::set<std::string> seen;
  for (const std::string& id : ranked_doc_ids) {
    if (seen.insert(id).second) ranked.push_back(id);
  }
  int hits1 = 0, hits5 = 0, hits10 = 0;
  double reciprocal_rank = 0, dcg = 0;
  for (size_t i = 0; i < ranked.size(); ++i) {
    if (!relevant.contains(ranked[i])) continue;
    const int rank = static_cast<int>(i) + 1;
    hits1 += rank <= 1 ? 1 : 0;
    hits5 += rank <= 5 ? 1 : 0;
    hits10 += rank <= 10 ? 1 : 0;
    if (reciprocal_rank == 0 && rank <= mrr_cutoff_) reciprocal_rank = 1.0 / rank;
    if (rank <= 10) dcg += 1.0 / std::log2(rank + 1.0);
  }
  double ideal = 0;
  for (int rank = 1; rank <= std::min<int>(10, static_cast<int>(relevant.size())); ++rank) {
    ideal += 1.0 / std::log2(rank + 1.0);
  }
  const double n_relevant = static_cast<double>(relevant.size());
  ++sums_.n;
  sums_.recall_at_1 += hits1 / n_relevant;
  sums_.recall_at_5 += hits5 / n_relevant;
  sums_.recall_at_10 += hits10 / n_relevant;
  sums_.mrr += reciprocal_rank;
  sums_.ndcg_at_10 += dcg / ideal;
}

RetrievalMetrics RetrievalEvaluator::Metrics() const {
  RetrievalMetrics m = sums_;
  if (m.n == 0) return m;
  const double n = m.n;
  m.recall_at_1 /= n;
  m.recall_at_5 /= n;
  m.recall_at_10 /= n;
  m.mrr /= n;
  m.ndcg_at_10 /= n;
  return m;
}

}  // namespace deskpilot
