// Retrieval quality on StackFAQ (125 help-center threads, 999 paraphrased user
// questions with the thread they belong to). Skipped when the shared data is absent.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "retriever/fts5/kb_index.h"
#include "retriever/fts5/test_util.h"

namespace deskpilot {
namespace {

TEST(StackFaqEval, RecallAndMrrAboveMeasuredFloor) {
  const std::filesystem::path dir = std::filesystem::path(DESKPILOT_SHARED_DATA_DIR) / "stackfaq_retrieval";
  if (!std::filesystem::exists(dir / "corpus.jsonl") || !std::filesystem::exists(dir / "queries_train.jsonl")) {
    GTEST_SKIP() << "StackFAQ data not found under " << dir;
  }
  testing::TempDir tmp;
  auto index = KbIndex::Open(tmp.File("kb.db"));
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  auto stats = (*index)->IngestPaths({(dir / "corpus.jsonl").string()});
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->documents, 125);

  std::ifstream in(dir / "queries_train.jsonl");
  std::string line;
  int queries = 0, hit1 = 0, hit5 = 0;
  double reciprocal_rank_sum = 0;
  const auto start = std::chrono::steady_clock::now();
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const nlohmann::json q = nlohmann::json::parse(line);
    const auto relevant = q["relevant_doc_ids"].get<std::vector<std::string>>();
    auto passages = (*index)->Search(q["text"].get<std::string>(), 10);
    ASSERT_TRUE(passages.ok()) << passages.status().ToString();
    ++queries;
    for (size_t rank = 0; rank < passages->size(); ++rank) {
      if (std::find(relevant.begin(), relevant.end(), (*passages)[rank].doc_id) == relevant.end()) continue;
      hit1 += rank == 0 ? 1 : 0;
      hit5 += rank < 5 ? 1 : 0;
      reciprocal_rank_sum += 1.0 / static_cast<double>(rank + 1);
      break;
    }
  }
  const double elapsed_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  ASSERT_GT(queries, 0);
  const double recall1 = static_cast<double>(hit1) / queries;
  const double recall5 = static_cast<double>(hit5) / queries;
  const double mrr = reciprocal_rank_sum / queries;
  std::printf("StackFAQ train (%d queries): recall@1=%.3f recall@5=%.3f MRR@10=%.3f, %.2f ms/query\n", queries,
              recall1, recall5, mrr, elapsed_ms / queries);
  RecordProperty("recall_at_1", std::to_string(recall1));
  RecordProperty("recall_at_5", std::to_string(recall5));
  RecordProperty("mrr_at_10", std::to_string(mrr));
  // Measured with this implementation: recall@1 0.728, recall@5 0.930, MRR@10 0.816.
  // The floors sit a little below so a ranking regression fails here.
  EXPECT_GE(recall1, 0.70);
  EXPECT_GE(recall5, 0.90);
  EXPECT_GE(mrr, 0.78);
}

}  // namespace
}  // namespace deskpilot
