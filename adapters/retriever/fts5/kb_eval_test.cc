#include "retriever/fts5/kb_eval.h"

#include <gtest/gtest.h>

#include <cmath>

namespace deskpilot {
namespace {

TEST(RetrievalEvaluator, HandCheckedMetrics) {
  RetrievalEvaluator evaluator(10);
  evaluator.Add({"a", "b", "c"}, {"a"});                // rank 1
  evaluator.Add({"x", "y", "z", "b", "w", "v"}, {"b"}); // rank 4
  evaluator.Add({"x", "y", "z", "q", "w", "v", "b"}, {"b"});  // rank 7
  evaluator.Add({"x", "y"}, {"b"});                     // not found
  evaluator.Add({"d", "x", "e"}, {"d", "e"});           // two relevant at ranks 1 and 3
  evaluator.Add({"x"}, {});                             // no relevant docs: skipped
  const RetrievalMetrics m = evaluator.Metrics();
  EXPECT_EQ(m.n, 5);
  EXPECT_NEAR(m.recall_at_1, (1 + 0 + 0 + 0 + 0.5) / 5, 1e-12);
  EXPECT_NEAR(m.recall_at_5, (1 + 1 + 0 + 0 + 1) / 5.0, 1e-12);
  EXPECT_NEAR(m.recall_at_10, (1 + 1 + 1 + 0 + 1) / 5.0, 1e-12);
  EXPECT_NEAR(m.mrr, (1 + 0.25 + 1.0 / 7 + 0 + 1) / 5, 1e-12);
  // nDCG: 1, 1/log2(5), 1/log2(8), 0, (1 + 1/log2(4)) / (1 + 1/log2(3)).
  const double two = (1 + 0.5) / (1 + 1 / std::log2(3.0));
  EXPECT_NEAR(m.ndcg_at_10, (1 + 1 / std::log2(5.0) + 1.0 / 3 + 0 + two) / 5, 1e-12);
}

TEST(RetrievalEvaluator, MrrCutoffAndDuplicates) {
  RetrievalEvaluator evaluator(3);
  evaluator.Add({"x", "x", "x", "y", "b"}, {"b"});  // duplicates collapse: b is rank 3
  evaluator.Add({"x", "y", "z", "b"}, {"b"});       // rank 4, beyond the MRR cut-off
  const RetrievalMetrics m = evaluator.Metrics();
  EXPECT_NEAR(m.mrr, (1.0 / 3 + 0) / 2, 1e-12);
  EXPECT_NEAR(m.recall_at_5, 1.0, 1e-12);
}

TEST(RetrievalEvaluator, EmptyIsZero) {
  const RetrievalMetrics m = RetrievalEvaluator().Metrics();
  EXPECT_EQ(m.n, 0);
  EXPECT_EQ(m.mrr, 0);
}

}  // namespace
}  // namespace deskpilot
