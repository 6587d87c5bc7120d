#include "retriever/fts5/fts5_retriever.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>
#include <vector>

#include "retriever/fts5/test_util.h"

namespace deskpilot {
namespace {

std::vector<KbDocument> Corpus() {
  return {
      {"refunds", "Getting a refund", "Refunds reach your card within 5 business days after the return arrives.",
       "https://help.example/refunds"},
      {"shipping", "Delivery times", "Standard delivery takes 3 to 5 business days; express arrives next day.", ""},
      {"password", "Resetting your password", "Use the Forgot password link on the sign-in page.", ""},
  };
}

std::unique_ptr<Fts5Retriever> MakeRetriever(const testing::TempDir& dir, Fts5RetrieverOptions options) {
  auto index = KbIndex::Open(dir.File("deskpilot.db"));
  EXPECT_TRUE(index.ok());
  EXPECT_TRUE((*index)->IngestDocuments(Corpus()).ok());
  return std::make_unique<Fts5Retriever>(std::move(index).value(), options);
}

TEST(Fts5Retriever, MinScoreDropsWeakPassages) {
  testing::TempDir dir;
  Fts5RetrieverOptions lenient;
  lenient.min_relevance = 0.0;
  auto all = MakeRetriever(dir, lenient)->Retrieve("refund delivery days", 5);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  // A threshold between the two scores keeps only the stronger one.
  Fts5RetrieverOptions between;
  between.min_relevance = ((*all)[0].score + (*all)[1].score) / 2;
  auto some = MakeRetriever(dir, between)->Retrieve("refund delivery days", 5);
  ASSERT_TRUE(some.ok());
  ASSERT_EQ(some->size(), 1u);
  EXPECT_EQ((*some)[0].doc_id, (*all)[0].doc_id);
  Fts5RetrieverOptions strict;
  strict.min_relevance = 1e6;
  auto none = MakeRetriever(dir, strict)->Retrieve("refund delivery days", 5);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

// The default min_relevance: chit-chat made only of help-desk filler, and an off-topic
// ticket whose subject shares no word with any article, retrieve nothing.
TEST(Fts5Retriever, DefaultFloorDropsChitChatOnSampleKb) {
  const std::filesystem::path kb = std::filesystem::path(DESKPILOT_TEST_SAMPLE_DIR) / "kb";
  if (!std::filesystem::is_directory(kb)) GTEST_SKIP() << "no sample KB at " << kb;
  testing::TempDir dir;
  auto index = KbIndex::Open(dir.File("deskpilot.db"));
  ASSERT_TRUE(index.ok());
  ASSERT_TRUE((*index)->IngestPaths({kb.string()}).ok());
  Fts5Retriever retriever(std::move(index).value(), Fts5RetrieverOptions{});
  for (const char* chit_chat : {"please help me", "hello, I have a question",
                                "Pizza for lunch?\nHi! Quick one: which pizza place near you is your favourite? Thanks, Al"}) {
    auto passages = retriever.Retrieve(chit_chat, 5);
    ASSERT_TRUE(passages.ok());
    EXPECT_TRUE(passages->empty()) << chit_chat << " → " << (passages->empty() ? "" : (*passages)[0].doc_id);
  }
  auto real = retriever.Retrieve("I forgot my password and cannot sign in", 5);
  ASSERT_TRUE(real.ok());
  EXPECT_FALSE(real->empty());
}

// "Order pizza" shares "order" (and "extra", "delivered") with the delivery article: its
// relevance passed the floor and the drafter quoted "at no extra cost". The subject's
// point is "pizza", which no article has; a subject word that carries almost none of the
// subject's information is not enough. Answerable tickets whose subject is only such a
// word ("Where is my order?") still find their article (SampleKb).
TEST(Fts5Retriever, OffTopicSubjectSharingOnlyACommonWordRetrievesNothing) {
  const std::filesystem::path kb = std::filesystem::path(DESKPILOT_TEST_SAMPLE_DIR) / "kb";
  if (!std::filesystem::is_directory(kb)) GTEST_SKIP() << "no sample KB at " << kb;
  testing::TempDir dir;
  auto index = KbIndex::Open(dir.File("deskpilot.db"));
  ASSERT_TRUE(index.ok());
  ASSERT_TRUE((*index)->IngestPaths({kb.string()}).ok());
  Fts5Retriever retriever(std::move(index).value(), Fts5RetrieverOptions{});
  for (const char* off_topic :
       {"Order pizza\nCan I order a large pizza with extra cheese delivered to my desk by noon?",
        "Order pizza\nPlease order a pizza with extra cheese, delivered to my desk."}) {
    auto passages = retriever.Retrieve(off_topic, 5);
    ASSERT_TRUE(passages.ok());
    EXPECT_TRUE(passages->empty()) << off_topic << " → " << (passages->empty() ? "" : (*passages)[0].doc_id);
  }
}

TEST(Fts5Retriever, KIsCappedByConfig) {
  testing::TempDir dir;
  Fts5RetrieverOptions options;
  options.k = 2;
  options.min_relevance = 0.0;
  auto retriever = MakeRetriever(dir, options);
  auto capped = retriever->Retrieve("refund delivery password days", 10);
  ASSERT_TRUE(capped.ok());
  EXPECT_EQ(capped->size(), 2u);
  auto one = retriever->Retrieve("refund delivery password days", 1);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u);
  auto configured = retriever->Retrieve("refund delivery password days", 0);
  ASSERT_TRUE(configured.ok());
  EXPECT_EQ(configured->size(), 2u);
}

TEST(Fts5Retriever, ConcurrentRetrieveFromFourThreads) {
  testing::TempDir dir;
  Fts5RetrieverOptions options;
  options.min_relevance = 0.0;
  auto retriever = MakeRetriever(dir, options);
  const std::vector<std::pair<std::string, std::string>> queries = {
      {"refund to my card", "refunds"}, {"how long is delivery", "shipping"}, {"forgot password", "password"}};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const auto& [query, want] = queries[(i + t) % queries.size()];
        auto passages = retriever->Retrieve(query, 3);
        if (!passages.ok() || passages->empty() || (*passages)[0].doc_id != want) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(Fts5Retriever, FactoryReadsConfigAndIngestsSampleKbWhenEmpty) {
  testing::TempDir dir;
  dir.Write("sample/kb/refunds.md", "# Refunds\nRefunds take five business days.\n");
  dir.Write("sample/kb/returns.md", "# Returns\nPrint the label and drop the parcel off.\n");
  dir.Write("sample/kb/gift-cards.md", "# Gift cards\nGift cards never expire.\n");
  dir.Write("sample/kb/README.txt", "ignored");
  nlohmann::json cfg = {{"type", "fts5"}, {"k", 1}, {"min_relevance", 0.0}, {"sample_kb", true}};
  ConfigSection section(cfg, "retriever");
  AdapterContext ctx;
  ctx.section = &section;
  ctx.db_path = dir.File("deskpilot.db");
  ctx.sample_dir = dir.File("sample");
  auto retriever = MakeFts5Retriever(ctx);
  ASSERT_TRUE(retriever.ok()) << retriever.status().ToString();
  EXPECT_TRUE(section.Finish().ok()) << section.Finish().ToString();
  auto passages = (*retriever)->Retrieve("how long do refunds take to arrive after the parcel", 5);
  ASSERT_TRUE(passages.ok());
  ASSERT_EQ(passages->size(), 1u);
  EXPECT_EQ((*passages)[0].doc_id, "refunds");

  // A KB that already has documents is left alone, and sample_kb = false never ingests.
  dir.Write("sample/kb/shipping.md", "# Shipping\nShipping takes three days.\n");
  ASSERT_TRUE(MakeFts5Retriever(ctx).ok());
  auto index = KbIndex::Open(ctx.db_path);
  ASSERT_TRUE(index.ok());
  EXPECT_EQ(*(*index)->CountDocuments(), 3);

  testing::TempDir other;
  nlohmann::json off = {{"type", "fts5"}, {"sample_kb", false}};
  ConfigSection off_section(off, "retriever");
  AdapterContext off_ctx = ctx;
  off_ctx.section = &off_section;
  off_ctx.db_path = other.File("deskpilot.db");
  ASSERT_TRUE(MakeFts5Retriever(off_ctx).ok());
  auto empty_index = KbIndex::Open(off_ctx.db_path);
  ASSERT_TRUE(empty_index.ok());
  EXPECT_EQ(*(*empty_index)->CountDocuments(), 0);
}

TEST(Fts5Retriever, FactoryRejectsNegativeMinScoreAndWorksWithoutSection) {
  testing::TempDir dir;
  nlohmann::json cfg = {{"type", "fts5"}, {"min_relevance", -1.0}};
  ConfigSection section(cfg, "retriever");
  AdapterContext ctx;
  ctx.section = &section;
  ctx.db_path = dir.File("deskpilot.db");
  auto bad = MakeFts5Retriever(ctx);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);

  AdapterContext defaults;
  defaults.db_path = dir.File("deskpilot.db");
  EXPECT_TRUE(MakeFts5Retriever(defaults).ok());
}

}  // namespace
}  // namespace deskpilot
