// Retrieval quality on StackFAQ (125 help-center threads, 999 paraphrased user questions
// with the thread they belong to), articles only and with past questions ingested as
// answered (K-fold, so no scored query was ever ingested). Skipped when the shared data
// is absent.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
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

TEST_F(StackFaq, ArticlesOnlyMeetsTheGoal) {
  auto index = OpenCorpus(tmp_.File("kb.db"));
  RetrievalEvaluator evaluator;
  EvalRun run;
  Evaluate(*index, queries_, &evaluator, &run);
  run.metrics = evaluator.Metrics();
  Print("articles only", run);
  RecordProperty("recall_at_5", std::to_string(run.metrics.recall_at_5));
  RecordProperty("mrr", std::to_string(run.metrics.mrr));
  // Issue 3's articles-only goal (measured: README.md); recall@1 a little below measured.
  EXPECT_GE(run.metrics.recall_at_1, 0.71);
  EXPECT_GE(run.metrics.recall_at_5, 0.92);
  EXPECT_GE(run.metrics.mrr, 0.80);
}

// Fold k is scored on a KB holding the answered questions of the other folds only, so no
// scored query was ever ingested. Three fold assignments, because figures that differ by a
// few queries of 999 between splits decided nothing (README.md "Measured").
class StackFaqFolds : public StackFaq, public ::testing::WithParamInterface<const char*> {
 protected:
  // The fold of query i under the assignment named by the test parameter.
  static size_t Fold(const std::string& assignment, size_t i, size_t folds) {
    if (assignment == "position") return i % folds;  // each thread's 8 paraphrases are consecutive: ~2 per fold
    // splitmix64 of the index, seeded: folds that do not follow the file's order.
    uint64_t z = i + (assignment == "hash1" ? 0x9e3779b97f4a7c15ull : 0xd1b54a32d192ed03ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return static_cast<size_t>((z ^ (z >> 31)) % folds);
  }
};

TEST_P(StackFaqFolds, WithAnsweredQuestionsKFold) {
  constexpr size_t kFolds = 5;
  const std::string assignment = GetParam();
  RetrievalEvaluator evaluator;
  EvalRun run;
  for (size_t k = 0; k < kFolds; ++k) {
    auto index = OpenCorpus(tmp_.File("kb" + std::to_string(k) + ".db"));
    std::vector<AnsweredQuestion> ingest, held_out;
    for (size_t i = 0; i < queries_.size(); ++i) (Fold(assignment, i, kFolds) == k ? held_out : ingest).push_back(queries_[i]);
    ASSERT_FALSE(held_out.empty());
    auto stats = index->IngestAnswered(ingest);
    ASSERT_TRUE(stats.ok()) << stats.status().ToString();
    // Loads the index and trains the answered-question classifier, as the server does at
    // start, so the latencies below are searches only.
    const auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE(index->Preload().ok());
    std::printf("fold %zu: index load + classifier training on %zu questions %.2f s\n", k, ingest.size(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    Evaluate(*index, held_out, &evaluator, &run);
  }
  run.metrics = evaluator.Metrics();
  Print(("with answered questions, 5-fold by " + assignment).c_str(), run);
  RecordProperty("recall_at_5", std::to_string(run.metrics.recall_at_5));
  RecordProperty("mrr", std::to_string(run.metrics.mrr));
  EXPECT_EQ(run.metrics.n, static_cast<int>(queries_.size()));
  // Issue 3's goal is recall@5 >= 0.99 and MRR >= 0.94. With the answered-question
  // classifier recall@5 measured 0.995 / 0.994 / 0.996 and MRR 0.963 / 0.954 / 0.963
  // (README.md "Measured"); without it recall@5 was 0.987 / 0.989 / 0.992.
  EXPECT_GE(run.metrics.recall_at_5, 0.99);
  EXPECT_GE(run.metrics.mrr, 0.94);
}

INSTANTIATE_TEST_SUITE_P(Assignments, StackFaqFolds, ::testing::Values("position", "hash1", "hash2"),
                         [](const ::testing::TestParamInfo<const char*>& info) { return std::string(info.param); });

}  // namespace
}  // namespace deskpilot
