// Retrieval quality on StackFAQ (125 help-center threads, 999 paraphrased user questions
// with the thread they belong to), articles only and with past questions ingested as
// answered (K-fold, so no scored query was ever ingested). Skipped when the shared data
// is absent.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "retriever/fts5/kb_eval.h"
#include "retriever/fts5/kb_index.h"
#include "retriever/fts5/test_util.h"

namespace deskpilot {
namespace {

struct EvalRun {
  RetrievalMetrics metrics;
  std::vector<double> latencies_ms;
  std::vector<double> correct_top_scores;  // relevance of a correct rank-1 hit
};

class StackFaq : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(DESKPILOT_SHARED_DATA_DIR) / "stackfaq_retrieval";
    if (!std::filesystem::exists(dir_ / "corpus.jsonl") || !std::filesystem::exists(dir_ / "queries_train.jsonl")) {
      GTEST_SKIP() << "StackFAQ data not found under " << dir_;
    }
    auto queries = ReadLabeledQuestions((dir_ / "queries_train.jsonl").string());
    ASSERT_TRUE(queries.ok()) << queries.status().ToString();
    queries_ = std::move(queries).value();
  }

  std::unique_ptr<KbIndex> OpenCorpus(const std::string& db) {
    auto index = KbIndex::Open(db);
    EXPECT_TRUE(index.ok()) << index.status().ToString();
    auto stats = (*index)->IngestPaths({(dir_ / "corpus.jsonl").string()});
    EXPECT_TRUE(stats.ok()) << stats.status().ToString();
    EXPECT_EQ(stats->documents, 125);
    return std::move(index).value();
  }

  static void Evaluate(KbIndex& index, const std::vector<AnsweredQuestion>& queries, RetrievalEvaluator* evaluator,
                       EvalRun* run) {
    for (const AnsweredQuestion& q : queries) {
      const auto start = std::chrono::steady_clock::now();
      auto passages = index.Search(q.text, 10);
      run->latencies_ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
      ASSERT_TRUE(passages.ok()) << passages.status().ToString();
      std::vector<std::string> ranked;
      for (const Passage& p : *passages) ranked.push_back(p.doc_id);
      if (!ranked.empty() && ranked[0] == q.doc_ids[0]) run->correct_top_scores.push_back((*passages)[0].score);
      evaluator->Add(ranked, q.doc_ids);
    }
  }

  static double Percentile(std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))];
  }

  static void Print(const char* name, const EvalRun& run) {
    const RetrievalMetrics& m = run.metrics;
    std::printf("StackFAQ %s (%d queries): recall@1=%.3f recall@5=%.3f recall@10=%.3f MRR=%.3f nDCG@10=%.3f; "
                "latency p50 %.2f ms p99 %.2f ms; correct top-1 relevance min %.3f p1 %.3f p5 %.3f\n",
                name, m.n, m.recall_at_1, m.recall_at_5, m.recall_at_10, m.mrr, m.ndcg_at_10,
                Percentile(run.latencies_ms, 0.5), Percentile(run.latencies_ms, 0.99),
                Percentile(run.correct_top_scores, 0), Percentile(run.correct_top_scores, 0.01),
                Percentile(run.correct_top_scores, 0.05));
  }

  std::filesystem::path dir_;
  std::vector<AnsweredQuestion> queries_;
  testing::TempDir tmp_;
};

TEST_F(StackFaq, ArticlesOnlyAboveMeasuredFloor) {
  auto index = OpenCorpus(tmp_.File("kb.db"));
  RetrievalEvaluator evaluator;
  EvalRun run;
  Evaluate(*index, queries_, &evaluator, &run);
  run.metrics = evaluator.Metrics();
  Print("articles only", run);
  RecordProperty("recall_at_5", std::to_string(run.metrics.recall_at_5));
  RecordProperty("mrr", std::to_string(run.metrics.mrr));
  // Measured with this implementation: see README.md. Floors a little below.
  EXPECT_GE(run.metrics.recall_at_1, 0.71);
  EXPECT_GE(run.metrics.recall_at_5, 0.92);
  EXPECT_GE(run.metrics.mrr, 0.80);
}

// 5 folds by position (query i goes to fold i % 5; the file interleaves no thread order
// that this could exploit: each thread's paraphrases are consecutive, so every fold
// holds about 2 of each thread's 8). Fold k is scored on a KB that has the answered
// questions of the other folds only.
TEST_F(StackFaq, WithAnsweredQuestionsKFoldAboveMeasuredFloor) {
  constexpr size_t kFolds = 5;
  RetrievalEvaluator evaluator;
  EvalRun run;
  for (size_t k = 0; k < kFolds; ++k) {
    auto index = OpenCorpus(tmp_.File("kb" + std::to_string(k) + ".db"));
    std::vector<AnsweredQuestion> ingest, held_out;
    for (size_t i = 0; i < queries_.size(); ++i) (i % kFolds == k ? held_out : ingest).push_back(queries_[i]);
    auto stats = index->IngestAnswered(ingest);
    ASSERT_TRUE(stats.ok()) << stats.status().ToString();
    Evaluate(*index, held_out, &evaluator, &run);
  }
  run.metrics = evaluator.Metrics();
  Print("with answered questions, 5-fold", run);
  RecordProperty("recall_at_5", std::to_string(run.metrics.recall_at_5));
  RecordProperty("mrr", std::to_string(run.metrics.mrr));
  EXPECT_EQ(run.metrics.n, static_cast<int>(queries_.size()));
  EXPECT_GE(run.metrics.recall_at_5, 0.98);
  EXPECT_GE(run.metrics.mrr, 0.93);
}

}  // namespace
}  // namespace deskpilot
