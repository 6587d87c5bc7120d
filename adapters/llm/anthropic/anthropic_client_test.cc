#include "llm/anthropic/anthropic_client.h"

#include <gtest/gtest.h>

#include "deskpilot/registry.h"
#include "llm/anthropic/fake_anthropic_server.h"
#include "llm/anthropic/register.h"

namespace deskpilot {
namespace {

using std::chrono::milliseconds;

const nlohmann::json kSchema = {{"type", "object"},
                                {"properties", {{"category", {{"type", "string"}}}}},
                                {"required", {"category"}}};

class AnthropicTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fake_.Start().ok());
    http_ = NewCurlHttpClient();
  }
  AnthropicOptions Options() {
    AnthropicOptions o;
    o.common.adapter = "anthropic";
    o.common.base_url = fake_.base_url();
    o.common.model = "claude-test";
    o.common.api_key = "ak-test-key";
    o.common.max_output_tokens = 512;
    o.common.timeout = milliseconds(5000);
    o.common.retry.base_delay = milliseconds(1);
    o.common.retry.max_delay = milliseconds(5);
    o.common.price_per_1k_input = 3.0;
    o.common.price_per_1k_output = 15.0;
    return o;
  }
  std::unique_ptr<AnthropicClient> Make(AnthropicOptions o) {
    auto c = std::make_unique<AnthropicClient>(std::move(o), http_.get(), nullptr);
    c->transport().set_sleeper([this](milliseconds d) { slept_.push_back(d); });
    return c;
  }
  static LlmRequest Request(bool schema = true) {
    LlmRequest r;
    r.system = "You classify tickets.";
    r.messages = {{LlmMessage::Role::kUser, "<ticket>My card was charged twice</ticket>"}};
    if (schema) r.json_schema = kSchema;
    r.schema_name = "triage";
    r.prompt_id = "classify.v1";
    r.max_output_tokens = 100;
    return r;
  }
  FakeAnthropicServer fake_;
  std::unique_ptr<HttpClient> http_;
  std::vector<milliseconds> slept_;
};

TEST_F(AnthropicTest, SendsTheMessagesApiWireFormatAndReturnsTheToolInput) {
  fake_.SetAnswer([](const FakeModelRequest& r) {
    return r.schema ? std::string(R"({"category": "billing"})") : std::string("plain");
  });
  auto client = Make(Options());
  auto r = client->Complete(Request());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const FakeModelRequest sent = fake_.Requests()[0];
  EXPECT_EQ(sent.path, "/v1/messages");
  EXPECT_EQ(sent.headers.at("x-api-key"), "ak-test-key");
  EXPECT_EQ(sent.headers.at("anthropic-version"), "2023-06-01");
  EXPECT_EQ(sent.headers.count("authorization"), 0u);
  EXPECT_EQ(sent.body["model"], "claude-test");
  EXPECT_EQ(sent.body["max_tokens"], 100);  // below the cap: the request's own
  EXPECT_EQ(sent.body["system"], "You classify tickets.");
  ASSERT_EQ(sent.body["messages"].size(), 1u);
  EXPECT_EQ(sent.body["messages"][0]["role"], "user");
  ASSERT_EQ(sent.body["tools"].size(), 1u);
  EXPECT_EQ(sent.body["tools"][0]["name"], "triage");
  EXPECT_EQ(sent.body["tools"][0]["input_schema"], kSchema);
  EXPECT_EQ(sent.body["tool_choice"], (nlohmann::json{{"type", "tool"}, {"name", "triage"}}));

  EXPECT_EQ(nlohmann::json::parse(r->text), (nlohmann::json{{"category", "billing"}}));
  EXPECT_EQ(r->finish_reason, "stop");
  EXPECT_EQ(r->usage.adapter, "anthropic");
  EXPECT_EQ(r->usage.model, "claude-test");
  EXPECT_GT(r->usage.input_tokens, 0);
  EXPECT_GT(r->usage.output_tokens, 0);
  EXPECT_DOUBLE_EQ(r->usage.cost, r->usage.input_tokens * 0.003 + r->usage.output_tokens * 0.015);

  auto plain = client->Complete(Request(false));
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->text, "plain");
  EXPECT_FALSE(fake_.Requests()[1].body.contains("tools"));
  EXPECT_EQ(fake_.Requests()[1].body["max_tokens"], 100);
}

// A 200 whose JSON has the right shape but fields of the wrong type (null stop_reason,
// null model, a string token count, a block without a string type) is read around or
// an error value: never an exception out of Complete.
TEST(AnthropicFieldTypes, WrongFieldTypesAreReadAroundOrAnErrorNeverAnException) {
  class Canned : public HttpClient {
   public:
    std::string body;
    Result<HttpResponse> Send(const HttpRequest&) override { return HttpResponse{200, {}, body}; }
  } http;
  AnthropicOptions o;
  o.common.adapter = "anthropic";
  o.common.base_url = "http://127.0.0.1:1";
  o.common.model = "claude-test";
  o.common.api_key = "ak-test-key";
  o.common.retry.max_attempts = 1;
  AnthropicClient client(o, &http, nullptr);
  LlmRequest request;
  request.system = "s";
  request.messages = {{LlmMessage::Role::kUser, "u"}};
  request.json_schema = kSchema;
  request.schema_name = "triage";
  const nlohmann::json tool = {{"type", "tool_use"}, {"name", "triage"}, {"input", {{"category", "billing"}}}};
  for (const nlohmann::json& odd : {
           nlohmann::json{{"model", nullptr}, {"stop_reason", nullptr},
                          {"usage", {{"input_tokens", "12"}, {"output_tokens", nullptr}}},
                          {"content", {{{"type", nullptr}}, tool}}},
           nlohmann::json{{"model", 1}, {"stop_reason", 3},
                          {"usage", {{"input_tokens", 1.5}, {"cache_read_input_tokens", true}}},
                          {"content", {{{"type", "tool_use"}, {"name", 5}}, tool}}}}) {
    http.body = odd.dump();
    Result<LlmResponse> r = Status::Internal("not called");
    ASSERT_NO_THROW(r = client.Complete(request)) << http.body;
    ASSERT_TRUE(r.ok()) << http.body << " " << r.status().ToString();
    EXPECT_EQ(r->text, R"({"category":"billing"})");
    EXPECT_EQ(r->usage.model, "claude-test");
    EXPECT_GE(r->usage.input_tokens, 0);
    EXPECT_GE(r->usage.output_tokens, 0);
  }
}

TEST_F(AnthropicTest, OutputCapAppliesWhenTheRequestAsksForMore) {
  auto client = Make(Options());
  LlmRequest req = Request(false);
  req.max_output_tokens = 0;
  ASSERT_TRUE(client->Complete(req).ok());
  EXPECT_EQ(fake_.Requests()[0].body["max_tokens"], 512);
}

TEST_F(AnthropicTest, TextInsteadOfAToolCallGoesBackForValidation) {
  auto client = Make(Options());
  fake_.Script({{FakeBehavior::kMalformedOutput}});
  auto r = client->Complete(Request());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(nlohmann::json::parse(r->text, nullptr, false).is_discarded());
  EXPECT_EQ(r->finish_reason, "stop");
}

TEST_F(AnthropicTest, OverloadedAndRateLimitedAreRetried) {
  AnthropicOptions o = Options();
  o.common.retry.max_attempts = 3;
  auto client = Make(o);
  fake_.Script({{FakeBehavior::kOverloaded}, {FakeBehavior::kRateLimited, "1"}});
  ASSERT_TRUE(client->Complete(Request()).ok());
  EXPECT_EQ(fake_.RequestCount(), 3);
  ASSERT_EQ(slept_.size(), 2u);
  EXPECT_GE(slept_[1], milliseconds(1000));
}

TEST_F(AnthropicTest, CreditBalanceErrorIsNotRetried) {
  auto client = Make(Options());
  fake_.Script({{FakeBehavior::kQuotaExhausted}});
  auto r = client->Complete(Request());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(fake_.RequestCount(), 1);
}

TEST_F(AnthropicTest, AuthErrorAndNoEmbeddings) {
  auto client = Make(Options());
  fake_.Script({{FakeBehavior::kUnauthorized}});
  EXPECT_EQ(client->Complete(Request()).status().code(), Code::kUnauthenticated);
  EXPECT_EQ(client->Embed({"x"}).status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(client->EmbeddingModel(), "");
}

TEST_F(AnthropicTest, ConfigNeedsAKeyAndAtMostTemperatureOne) {
  Registry registry;
  RegisterAnthropicLlm(registry);
  nlohmann::json section = {{"type", "anthropic"}, {"model", "m"}, {"temperature", 1.5},
                            {"embedding_model", "e"}};
  ConfigSection sec(section, "llm");
  (void)sec.String("type");
  AdapterContext ctx;
  ctx.section = &sec;
  ctx.http = http_.get();
  (void)registry.MakeLlm("anthropic", ctx);
  Status st = sec.Finish();
  for (const char* key : {"llm.api_key", "llm.temperature", "llm.embedding_model"})
    EXPECT_NE(st.message().find(key), std::string::npos) << key << "\n" << st.message();
}

}  // namespace
}  // namespace deskpilot
