#include "llm/common/cached_llm_client.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "deskpilot/crypto.h"
#include "llm/common/observed_llm_client.h"

namespace deskpilot {
namespace {

namespace fs = std::filesystem;

// Answers with a counter so a second real call would be visible.
class CountingClient : public LlmClient {
 public:
  Result<LlmResponse> Complete(const LlmRequest& request) override {
    ++calls;
    if (fail) return Status::Unavailable("down");
    LlmResponse r;
    r.text = "answer " + std::to_string(calls);
    r.finish_reason = "stop";
    r.usage = {"fake", "fake-model-2026", request.prompt_id, 120, 30, 0.5, false};
    return r;
  }
  Result<std::vector<std::vector<float>>> Embed(const std::vector<std::string>& in) override {
    ++embeds;
    return std::vector<std::vector<float>>(in.size(), std::vector<float>{1.0f});
  }
  std::string Name() const override { return "fake"; }
  std::string Model() const override { return "fake-model"; }
  int calls = 0;
  int embeds = 0;
  bool fail = false;
};

class CacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("deskpilot-llmcache-" + RandomHex(6));
    fs::create_directories(dir_);
    auto s = OpenSqliteStore((dir_ / "t.db").string());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    auto inner = std::make_unique<CountingClient>();
    inner_ = inner.get();
    client_ = std::make_unique<CachedLlmClient>(std::move(inner), store_.get());
  }
  void TearDown() override {
    client_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }
  static LlmRequest Request() {
    LlmRequest r;
    r.system = "classify";
    r.messages = {{LlmMessage::Role::kUser, "<ticket>where is my order</ticket>"}};
    r.json_schema = nlohmann::json{{"type", "object"}};
    r.prompt_id = "classify.v1";
    return r;
  }
  fs::path dir_;
  std::unique_ptr<Store> store_;
  CountingClient* inner_ = nullptr;
  std::unique_ptr<CachedLlmClient> client_;
};

TEST_F(CacheTest, AnUnchangedRequestMakesNoSecondCall) {
  auto first = client_->Complete(Request());
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->usage.cached);
  EXPECT_DOUBLE_EQ(first->usage.cost, 0.5);
  auto second = client_->Complete(Request());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(inner_->calls, 1);
  EXPECT_EQ(second->text, "answer 1");
  EXPECT_EQ(second->finish_reason, "stop");
  EXPECT_TRUE(second->usage.cached);
  EXPECT_DOUBLE_EQ(second->usage.cost, 0.0);
  EXPECT_EQ(second->usage.model, "fake-model-2026");
  EXPECT_EQ(second->usage.prompt, "classify.v1");
  EXPECT_EQ(second->usage.input_tokens, 120);
}

TEST_F(CacheTest, AnyChangeToTheRequestIsAMiss) {
  ASSERT_TRUE(client_->Complete(Request()).ok());
  LlmRequest other_prompt = Request();
  other_prompt.prompt_id = "classify.v2";
  LlmRequest other_text = Request();
  other_text.messages[0].content += " ";
  LlmRequest other_schema = Request();
  other_schema.json_schema = nlohmann::json{{"type", "object"}, {"required", {"a"}}};
  LlmRequest other_limit = Request();
  other_limit.max_output_tokens = 10;
  LlmRequest other_system = Request();
  other_system.system += ".";
  for (const auto& r : {other_prompt, other_text, other_schema, other_limit, other_system}) {
    auto got = client_->Complete(r);
    ASSERT_TRUE(got.ok());
    EXPECT_FALSE(got->usage.cached);
  }
  EXPECT_EQ(inner_->calls, 6);
}

TEST_F(CacheTest, ErrorsAreNotCached) {
  inner_->fail = true;
  EXPECT_FALSE(client_->Complete(Request()).ok());
  inner_->fail = false;
  auto r = client_->Complete(Request());
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->usage.cached);
  EXPECT_EQ(inner_->calls, 2);
}

TEST_F(CacheTest, KeyDependsOnAdapterAndModel) {
  EXPECT_NE(LlmCacheKey("openai", "a", Request()), LlmCacheKey("openai", "b", Request()));
  EXPECT_NE(LlmCacheKey("openai", "a", Request()), LlmCacheKey("anthropic", "a", Request()));
  EXPECT_EQ(LlmCacheKey("openai", "a", Request()), LlmCacheKey("openai", "a", Request()));
}

TEST_F(CacheTest, ObserverSeesOutcomesAndUsage) {
  std::vector<LlmCallEvent> events;
  std::vector<bool> cached;
  ObservedLlmClient observed(std::move(client_), [&](const LlmCallEvent& e) {
    events.push_back(e);
    cached.push_back(e.usage != nullptr && e.usage->cached);
  });
  ASSERT_TRUE(observed.Complete(Request()).ok());
  ASSERT_TRUE(observed.Complete(Request()).ok());
  ASSERT_TRUE(observed.Embed({"a", "b"}).ok());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].outcome, "ok");
  EXPECT_EQ(events[0].adapter, "fake");
  EXPECT_FALSE(cached[0]);
  EXPECT_EQ(events[1].outcome, "cached");
  EXPECT_TRUE(cached[1]);
  EXPECT_EQ(events[2].kind, "embed");
  EXPECT_EQ(inner_->embeds, 1);
}

TEST(LlmOutcome, NamesWhatHappened) {
  EXPECT_EQ(LlmOutcome(Status::Ok(), false), "ok");
  EXPECT_EQ(LlmOutcome(Status::Unavailable("x").set_deferred(), false), "deferred");
  EXPECT_EQ(LlmOutcome(Status::ResourceExhausted("x"), false), "rate_limited");
  EXPECT_EQ(LlmOutcome(Status::DeadlineExceeded("x"), false), "timeout");
  EXPECT_EQ(LlmOutcome(Status::FailedPrecondition("x"), false), "rejected");
  EXPECT_EQ(LlmOutcome(Status::Unauthenticated("x"), false), "unauthenticated");
  EXPECT_EQ(LlmOutcome(Status::InvalidArgument("x"), false), "error");
}

}  // namespace
}  // namespace deskpilot
