// Retrieval on the shipped sample KB with the shipped demo tickets, built into a query
// exactly as the pipeline builds it (subject + "\n" + the customer's message).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "retriever/fts5/fts5_retriever.h"
#include "retriever/fts5/test_util.h"

namespace deskpilot {
namespace {

class SampleKb : public ::testing::Test {
 protected:
  void SetUp() override {
    sample_ = std::filesystem::path(DESKPILOT_TEST_SAMPLE_DIR);
    if (!std::filesystem::is_directory(sample_ / "kb")) GTEST_SKIP() << "no sample KB at " << sample_ / "kb";
    auto index = KbIndex::Open(dir_.File("deskpilot.db"));
    ASSERT_TRUE(index.ok()) << index.status().ToString();
    ASSERT_TRUE((*index)->IngestPaths({(sample_ / "kb").string()}).ok());
    retriever_ = std::make_unique<Fts5Retriever>(std::move(index).value(), Fts5RetrieverOptions{});
  }

  std::filesystem::path sample_;
  testing::TempDir dir_;
  std::unique_ptr<Fts5Retriever> retriever_;
};

// Which articles answer each demo ticket (by subject); an empty set means none should be
// retrieved at all. Several are acceptable where the KB genuinely overlaps.
const std::map<std::string, std::set<std::string>>& Expected() {
  static const std::map<std::string, std::set<std::string>> kExpected = {
      {"Where is my order NW-4821376?", {"track-order"}},
      {"Refund for returned boots not received", {"refund-status", "get-a-refund"}},
      {"Password reset link doesn't work", {"reset-password"}},
      {"Invoice with company name for expense report", {"invoices"}},
      {"How long does delivery take to Colorado?", {"delivery-times", "delivery-options"}},
      {"Change shipping address on my order", {"shipping-addresses", "change-order"}},
      {"Unsubscribe me please", {"newsletter"}},
      {"Jacket fell apart after two weeks - absolutely unacceptable", {"complaints", "warranty"}},
      {"Card keeps getting declined at checkout", {"payment-problems", "payment-methods"}},
      {"I want to talk to a real person", {"speak-to-a-person", "contact-us"}},
      {"Lasagna recipe?", {}},
  };
  return kExpected;
}

TEST_F(SampleKb, DemoTicketsRetrieveTheRightArticleAndOffTopicNothing) {
  std::ifstream in(sample_ / "tickets.jsonl");
  ASSERT_TRUE(in) << "no tickets.jsonl in " << sample_;
  std::string line;
  int tickets = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const nlohmann::json t = nlohmann::json::parse(line);
    const std::string subject = t["subject"].get<std::string>();
    auto it = Expected().find(subject);
    ASSERT_NE(it, Expected().end()) << "demo ticket without an expectation: " << subject;
    ++tickets;
    const auto start = std::chrono::steady_clock::now();
    auto passages = retriever_->Retrieve(subject + "\n" + t["description"].get<std::string>(), 5);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    ASSERT_TRUE(passages.ok()) << passages.status().ToString();
    std::printf("%6.2f ms  %-60s", ms, subject.c_str());
    for (const Passage& p : *passages) std::printf(" %s %.3f", p.doc_id.c_str(), p.score);
    std::printf("\n");
    if (it->second.empty()) {
      EXPECT_TRUE(passages->empty()) << subject << " retrieved " << (*passages)[0].doc_id;
    } else {
      ASSERT_FALSE(passages->empty()) << subject << " retrieved nothing";
      EXPECT_TRUE(it->second.contains((*passages)[0].doc_id)) << subject << " → " << (*passages)[0].doc_id;
    }
  }
  EXPECT_EQ(tickets, static_cast<int>(Expected().size()));
}

}  // namespace
}  // namespace deskpilot
