#include "retriever/hybrid/hybrid_retriever.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <random>

#include "common/model_io/fake_llm.h"
#include "retriever/fts5/fts5_retriever.h"
#include "retriever/fts5/kb_index.h"

namespace deskpilot {
namespace {

using testing::FakeLlm;

// Deterministic fake embeddings: each word maps to a concept axis, and synonyms share
// one, so "money back" and "refund" are close while BM25 sees no shared term.
std::vector<float> ConceptEmbedding(const std::string& text) {
  static const std::map<std::string, int> kAxis = {
      {"refund", 0}, {"money", 0}, {"reimbursement", 0}, {"parcel", 1}, {"delivery", 1}, {"shipping", 1},
      {"password", 2}, {"login", 2}, {"warranty", 3}, {"broken", 3}};
  std::vector<float> v(8, 0.0f);
  v[7] = 0.05f;  // every text shares a little, like real embeddings
  std::string w;
  auto emit = [&] {
    if (auto it = kAxis.find(w); it != kAxis.end()) v[static_cast<size_t>(it->second)] += 1.0f;
    w.clear();
  };
  for (char c : text) {
    if (std::isalpha(static_cast<unsigned char>(c))) {
      w += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      emit();
    }
  }
  emit();
  return v;
}

class HybridTest : public ::testing::Test {
 protected:
  HybridTest() {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() / ("dp-hybrid-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(dir_);
    db_ = (dir_ / "deskpilot.db").string();
    llm_.embed = ConceptEmbedding;
    auto index = KbIndex::Open(db_);
    EXPECT_TRUE(index.ok());
    index_ = std::move(index).value();
    EXPECT_TRUE(index_->IngestDocuments(Docs()).ok());
  }
  ~HybridTest() override {
    index_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  static std::vector<KbDocument> Docs() {
    return {{"refunds", "Refunds", "A refund is issued within 5 days of the return.", "https://kb/refunds"},
            {"shipping", "Shipping times", "Every parcel ships within two days; delivery takes three.", ""},
            {"passwords", "Reset your password", "Use the login page to reset your password.", ""}};
  }
  std::unique_ptr<HybridRetriever> Make(HybridRetrieverOptions o = {}) {
    auto bm25_index = KbIndex::Open(db_);
    EXPECT_TRUE(bm25_index.ok());
    Fts5RetrieverOptions fo;
    fo.k = 50;
    auto bm25 = std::make_unique<Fts5Retriever>(std::move(bm25_index).value(), fo);
    auto h = HybridRetriever::Open(db_, std::move(bm25), llm_, o);
    EXPECT_TRUE(h.ok()) << h.status().ToString();
    return std::move(h).value();
  }
  std::filesystem::path dir_;
  std::string db_;
  FakeLlm llm_;
  std::unique_ptr<KbIndex> index_;
};

TEST(FuseReciprocalRank, SumsOneOverKPlusRank) {
  auto f = FuseReciprocalRank({{"a", "b", "c"}, {"c", "a"}}, 60);
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[0].first, "a");
  EXPECT_DOUBLE_EQ(f[0].second, 1.0 / 61 + 1.0 / 62);
  EXPECT_EQ(f[1].first, "c");
  EXPECT_DOUBLE_EQ(f[1].second, 1.0 / 63 + 1.0 / 61);
  EXPECT_EQ(f[2].first, "b");
  EXPECT_DOUBLE_EQ(f[2].second, 1.0 / 62);
  EXPECT_TRUE(FuseReciprocalRank({}, 60).empty());
}

TEST_F(HybridTest, EmbedsOnlyNewOrChangedChunks) {
  auto h = Make();
  auto first = h->Sync();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->embedded, 3);
  EXPECT_EQ(first->unchanged, 0);
  llm_.ClearEmbedded();

  auto again = h->Sync();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->embedded, 0);
  EXPECT_EQ(again->unchanged, 3);
  EXPECT_EQ(llm_.embed_calls(), 0);

  auto docs = Docs();
  docs[1].text = "Every parcel ships within one day now.";
  ASSERT_TRUE(index_->IngestDocuments(docs).ok());
  auto changed = h->Sync();
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(changed->embedded, 1);
  EXPECT_EQ(changed->unchanged, 2);
  ASSERT_EQ(llm_.embedded().size(), 1u);
  EXPECT_NE(llm_.embedded()[0].find("one day now"), std::string::npos);

  // The vectors are stored: a new instance (a restart) embeds nothing.
  llm_.ClearEmbedded();
  auto restarted = Make();
  auto s = restarted->Sync();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->embedded, 0);
  EXPECT_EQ(llm_.embed_calls(), 0);
}

TEST_F(HybridTest, ADifferentEmbeddingModelReembedsEverything) {
  ASSERT_TRUE(Make()->Sync().ok());
  // The same vectors reported under another model name must not be reused.
  class OtherModel : public FakeLlm {
   public:
    std::string EmbeddingModel() const override { return "other-embed"; }
  } renamed;
  renamed.embed = ConceptEmbedding;
  auto bm25 = std::make_unique<Fts5Retriever>(std::move(KbIndex::Open(db_)).value(), Fts5RetrieverOptions{});
  auto h = HybridRetriever::Open(db_, std::move(bm25), renamed, {});
  ASSERT_TRUE(h.ok());
  auto s = (*h)->Sync();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->embedded, 3);
}

TEST_F(HybridTest, FindsBySimilarityWhatBm25CannotAndFusesBoth) {
  auto h = Make();
  // No word in common with the refunds article, but the same concept.
  auto only_vector = h->Retrieve("I want my money back", 5);
  ASSERT_TRUE(only_vector.ok()) << only_vector.status().ToString();
  ASSERT_FALSE(only_vector->empty());
  EXPECT_EQ((*only_vector)[0].doc_id, "refunds");
  EXPECT_EQ((*only_vector)[0].id, "refunds#0");
  EXPECT_EQ((*only_vector)[0].url, "https://kb/refunds");
  EXPECT_DOUBLE_EQ((*only_vector)[0].score, 1.0 / 61);

  // Both rankings agree: the document gets both shares.
  auto both = h->Retrieve("parcel delivery", 5);
  ASSERT_TRUE(both.ok());
  ASSERT_FALSE(both->empty());
  EXPECT_EQ((*both)[0].doc_id, "shipping");
  EXPECT_DOUBLE_EQ((*both)[0].score, 2.0 / 61);
}

TEST_F(HybridTest, UnrelatedQueriesGetNothingFromEmbeddingsAlone) {
  auto h = Make();
  auto r = h->Retrieve("lasagna recipe", 5);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST_F(HybridTest, NewDocumentsAreEmbeddedBeforeTheNextSearch) {
  auto h = Make();
  ASSERT_TRUE(h->Retrieve("refund", 5).ok());
  ASSERT_TRUE(index_->IngestDocuments({{"warranty", "Warranty", "Two years of warranty on every item.", ""}}).ok());
  llm_.ClearEmbedded();
  auto r = h->Retrieve("my boots are broken", 5);
  ASSERT_TRUE(r.ok());
  ASSERT_FALSE(r->empty());
  EXPECT_EQ((*r)[0].doc_id, "warranty");
  // One chunk embedded, plus the query.
  EXPECT_EQ(llm_.embedded().size(), 2u);
}

// Editing the newest article replaces its chunk with one at the same seq (SQLite reuses
// the largest rowid once it is deleted), so the chunk count and the largest seq stay as
// they were: the retriever must still see the change and stop serving the old text.
TEST_F(HybridTest, AnEditThatKeepsTheChunkCountAndLastSeqIsSeen) {
  auto h = Make();
  auto before = h->Retrieve("login", 5);
  ASSERT_TRUE(before.ok());
  ASSERT_FALSE(before->empty());
  EXPECT_EQ((*before)[0].text, "Use the login page to reset your password.");

  auto docs = Docs();
  docs[2].text = "Open the account page and choose a new password there.";
  ASSERT_TRUE(index_->IngestDocuments(docs).ok());
  // Only the embeddings find it now ("login" left the text): what they serve must be
  // the article as it is, not the text embedded before the edit.
  auto after = h->Retrieve("login", 5);
  ASSERT_TRUE(after.ok());
  ASSERT_FALSE(after->empty());
  EXPECT_EQ((*after)[0].doc_id, "passwords");
  EXPECT_EQ((*after)[0].text, "Open the account page and choose a new password there.");

  // A removed article is not served either, even when a new one takes its seq.
  ASSERT_TRUE(index_->RemoveDocuments({"passwords"}).ok());
  ASSERT_TRUE(index_->IngestDocuments({{"broken", "Broken items", "Report a broken item within 30 days.", ""}}).ok());
  auto removed = h->Retrieve("login", 5);
  ASSERT_TRUE(removed.ok());
  for (const Passage& p : *removed) EXPECT_NE(p.doc_id, "passwords") << p.text;
}

TEST_F(HybridTest, QueryEmbeddingFailures) {
  auto h = Make();
  ASSERT_TRUE(h->Sync().ok());
  llm_.embed = nullptr;  // FailedPrecondition: not retryable, BM25 alone answers
  auto r = h->Retrieve("refund", 5);
  ASSERT_TRUE(r.ok());
  ASSERT_FALSE(r->empty());
  EXPECT_EQ((*r)[0].doc_id, "refunds");
}

TEST_F(HybridTest, FactoryNeedsAnEmbeddingModel) {
  AdapterContext ctx;
  ctx.db_path = db_;
  FakeLlm no_embed;
  ctx.llm = &no_embed;
  EXPECT_NE(MakeHybridRetriever(ctx).status().message().find("embedding model"), std::string::npos);
  ctx.llm = &llm_;
  auto j = nlohmann::json{{"type", "hybrid"}, {"k", 3}, {"rrf_k", 10}, {"sample_kb", false}};
  ConfigSection section(j, "retriever");
  ctx.section = &section;
  auto h = MakeHybridRetriever(ctx);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_TRUE(section.Finish().ok());
  auto r = (*h)->Retrieve("parcel delivery", 0);
  ASSERT_TRUE(r.ok());
  EXPECT_DOUBLE_EQ((*r)[0].score, 2.0 / 11);
}

}  // namespace
}  // namespace deskpilot
