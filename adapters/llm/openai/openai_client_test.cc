#include "llm/openai/openai_client.h"

#include <atomic>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "deskpilot/crypto.h"
#include "deskpilot/registry.h"
#include "llm/openai/fake_openai_server.h"
#include "llm/openai/register.h"

namespace deskpilot {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

const nlohmann::json kSchema = {{"type", "object"},
                                {"properties", {{"category", {{"type", "string"}}}}},
                                {"required", {"category"}},
                                {"additionalProperties", false}};

class OpenAiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fake_.Start().ok());
    http_ = NewCurlHttpClient();
  }
  OpenAiOptions Options() {
    OpenAiOptions o;
    o.common.adapter = "openai";
    o.common.base_url = fake_.base_url();
    o.common.model = "local-model";
    o.common.embedding_model = "local-embed";
    o.common.api_key = "sk-test-key";
    o.common.max_output_tokens = 256;
    o.common.temperature = 0.2;
    o.common.timeout = milliseconds(5000);
    o.common.retry.base_delay = milliseconds(1);
    o.common.retry.max_delay = milliseconds(5);
    o.common.price_per_1k_input = 1.0;
    o.common.price_per_1k_output = 2.0;
    return o;
  }
  std::unique_ptr<OpenAiClient> Make(OpenAiOptions o, Store* store = nullptr) {
    auto c = std::make_unique<OpenAiClient>(std::move(o), http_.get(), store);
    c->transport().set_sleeper([this](milliseconds d) { slept_.push_back(d); });
    return c;
  }
  static LlmRequest Request() {
    LlmRequest r;
    r.system = "You classify tickets.";
    r.messages = {{LlmMessage::Role::kUser, "<ticket>Where is my parcel?</ticket>"}};
    r.json_schema = kSchema;
    r.schema_name = "triage";
    r.prompt_id = "classify.v1";
    return r;
  }
  FakeOpenAiServer fake_;
  std::unique_ptr<HttpClient> http_;
  std::vector<milliseconds> slept_;
};

TEST_F(OpenAiTest, SendsTheDocumentedWireFormat) {
  fake_.SetAnswer([](const FakeModelRequest&) { return std::string(R"({"category":"delivery"})"); });
  auto client = Make(Options());
  LlmRequest req = Request();
  req.max_output_tokens = 1000;  // above the cap: the cap wins
  auto r = client->Complete(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(fake_.RequestCount(), 1);
  const FakeModelRequest sent = fake_.Requests()[0];
  EXPECT_EQ(sent.path, "/v1/chat/completions");
  EXPECT_EQ(sent.headers.at("authorization"), "Bearer sk-test-key");
  EXPECT_EQ(sent.headers.at("content-type"), "application/json");
  EXPECT_EQ(sent.body["model"], "local-model");
  EXPECT_EQ(sent.body["max_tokens"], 256);
  EXPECT_FALSE(sent.body.contains("max_completion_tokens"));
  EXPECT_DOUBLE_EQ(sent.body["temperature"].get<double>(), 0.2);
  ASSERT_EQ(sent.body["messages"].size(), 2u);
  EXPECT_EQ(sent.body["messages"][0]["role"], "system");
  EXPECT_EQ(sent.body["messages"][0]["content"], "You classify tickets.");
  EXPECT_EQ(sent.body["messages"][1]["role"], "user");
  const auto& rf = sent.body["response_format"];
  EXPECT_EQ(rf["type"], "json_schema");
  EXPECT_EQ(rf["json_schema"]["name"], "triage");
  EXPECT_EQ(rf["json_schema"]["strict"], true);
  EXPECT_EQ(rf["json_schema"]["schema"], kSchema);

  EXPECT_EQ(r->text, R"({"category":"delivery"})");
  EXPECT_EQ(r->finish_reason, "stop");
  EXPECT_EQ(r->usage.adapter, "openai");
  EXPECT_EQ(r->usage.model, "local-model");
  EXPECT_EQ(r->usage.prompt, "classify.v1");
  EXPECT_GT(r->usage.input_tokens, 0);
  EXPECT_GT(r->usage.output_tokens, 0);
  EXPECT_DOUBLE_EQ(r->usage.cost, r->usage.input_tokens / 1000.0 * 1.0 + r->usage.output_tokens / 1000.0 * 2.0);
  EXPECT_FALSE(r->usage.cached);
}

TEST_F(OpenAiTest, WithoutStructuredOutputTheSchemaGoesIntoTheSystemText) {
  OpenAiOptions o = Options();
  o.structured_output = false;
  o.token_limit_field = "max_completion_tokens";
  o.common.api_key.clear();  // a local server without auth
  auto client = Make(o);
  ASSERT_TRUE(client->Complete(Request()).ok());
  const FakeModelRequest sent = fake_.Requests()[0];
  EXPECT_FALSE(sent.body.contains("response_format"));
  EXPECT_EQ(sent.headers.count("authorization"), 0u);
  EXPECT_EQ(sent.body["max_completion_tokens"], 256);
  EXPECT_FALSE(sent.body.contains("max_tokens"));
  const std::string system = sent.body["messages"][0]["content"];
  EXPECT_EQ(system.rfind("You classify tickets.", 0), 0u);
  EXPECT_NE(system.find(kSchema.dump()), std::string::npos) << system;
}

TEST_F(OpenAiTest, BadModelOutputIsReturnedForTheCallerToValidate) {
  auto client = Make(Options());
  fake_.Script({{FakeBehavior::kMalformedOutput}, {FakeBehavior::kSchemaViolation}});
  auto malformed = client->Complete(Request());
  ASSERT_TRUE(malformed.ok());
  EXPECT_TRUE(nlohmann::json::parse(malformed->text, nullptr, false).is_discarded());
  auto violating = client->Complete(Request());
  ASSERT_TRUE(violating.ok());
  EXPECT_FALSE(nlohmann::json::parse(violating->text).contains("category") &&
               nlohmann::json::parse(violating->text)["category"].is_string());
}

TEST_F(OpenAiTest, RetriesRateLimitsAndServerErrorsHonouringRetryAfter) {
  OpenAiOptions o = Options();
  o.common.retry.max_attempts = 4;
  auto client = Make(o);
  fake_.Script({{FakeBehavior::kRateLimited, "2"}, {FakeBehavior::kServerError}, {FakeBehavior::kOverloaded}});
  auto r = client->Complete(Request());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(fake_.RequestCount(), 4);
  ASSERT_EQ(slept_.size(), 3u);
  EXPECT_GE(slept_[0], milliseconds(2000));
  EXPECT_LE(slept_[1], milliseconds(5));
}

TEST_F(OpenAiTest, InsufficientQuotaIsNotRetried) {
  auto client = Make(Options());
  fake_.Script({{FakeBehavior::kQuotaExhausted}});
  auto r = client->Complete(Request());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("insufficient_quota"), std::string::npos) << r.status().message();
  EXPECT_EQ(fake_.RequestCount(), 1);
  EXPECT_TRUE(slept_.empty());
}

TEST_F(OpenAiTest, BadKeyIsUnauthenticatedAndTheKeyIsNotInTheError) {
  auto client = Make(Options());
  fake_.Script({{FakeBehavior::kUnauthorized}});
  auto r = client->Complete(Request());
  EXPECT_EQ(r.status().code(), Code::kUnauthenticated);
  EXPECT_EQ(r.status().message().find("sk-test-key"), std::string::npos);
  EXPECT_EQ(r.status().message().find("Where is my parcel"), std::string::npos);
  EXPECT_EQ(fake_.RequestCount(), 1);
}

TEST_F(OpenAiTest, AMalformedBodyIsRetriedThenReported) {
  OpenAiOptions o = Options();
  o.common.retry.max_attempts = 2;
  auto client = Make(o);
  fake_.Script({{FakeBehavior::kMalformedBody}, {FakeBehavior::kMalformedBody}});
  EXPECT_EQ(client->Complete(Request()).status().code(), Code::kUnavailable);
  EXPECT_EQ(fake_.RequestCount(), 2);
}

// A 200 whose JSON has the right shape but fields of the wrong type (an OpenAI-compatible
// server's null usage counts or model, a string for a number) is an error value the
// pipeline can act on, or read around: never an exception out of Complete.
TEST(OpenAiFieldTypes, WrongFieldTypesAreReadAroundOrAnErrorNeverAnException) {
  class Canned : public HttpClient {
   public:
    std::string body;
    Result<HttpResponse> Send(const HttpRequest&) override { return HttpResponse{200, {}, body}; }
  } http;
  OpenAiOptions o;
  o.common.adapter = "openai";
  o.common.base_url = "http://127.0.0.1:1/v1";
  o.common.model = "local-model";
  o.common.retry.max_attempts = 1;
  OpenAiClient client(o, &http, nullptr);
  LlmRequest request;
  request.system = "s";
  request.messages = {{LlmMessage::Role::kUser, "u"}};
  const std::string answer = R"({"category":"delivery"})";
  const nlohmann::json message = {{"role", "assistant"}, {"content", answer}};
  // Readable around: the answer is there, only the bookkeeping fields are odd.
  for (const nlohmann::json& odd : {
           nlohmann::json{{"model", nullptr}, {"usage", {{"prompt_tokens", nullptr}, {"completion_tokens", "7"}}},
                          {"choices", {{{"message", message}, {"finish_reason", nullptr}}}}},
           nlohmann::json{{"model", 42}, {"usage", {{"prompt_tokens", 1.5}, {"completion_tokens", -3}}},
                          {"choices", {{{"message", message}, {"finish_reason", 1}}}}}}) {
    http.body = odd.dump();
    Result<LlmResponse> r = Status::Internal("not called");
    ASSERT_NO_THROW(r = client.Complete(request)) << http.body;
    ASSERT_TRUE(r.ok()) << http.body << " " << r.status().ToString();
    EXPECT_EQ(r->text, answer);
    EXPECT_EQ(r->usage.model, "local-model");
    EXPECT_GE(r->usage.input_tokens, 0);
    EXPECT_GE(r->usage.output_tokens, 0);
  }
  // Not readable: an error value.
  http.body = R"({"choices":[{"message":{"content":7}}]})";
  Result<LlmResponse> r = Status::Internal("not called");
  ASSERT_NO_THROW(r = client.Complete(request));
  EXPECT_TRUE(!r.ok() || r->text.empty());

  o.common.embedding_model = "local-embed";
  OpenAiClient embedder(o, &http, nullptr);
  http.body = R"({"data":[{"index":"0","embedding":[0.5,0.5]}],"usage":{"total_tokens":null}})";
  Result<std::vector<std::vector<float>>> e = Status::Internal("not called");
  ASSERT_NO_THROW(e = embedder.Embed({"text"}));
  EXPECT_EQ(e.status().code(), Code::kUnavailable) << e.status().ToString();
  http.body = R"({"data":[{"index":0,"embedding":[0.5,0.5]}],"usage":{"total_tokens":"3","prompt_tokens":3}})";
  ASSERT_NO_THROW(e = embedder.Embed({"text"}));
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->size(), 1u);
}

// A server that streams an endless (or just enormous) answer must not make the worker
// read it all: the transfer stops at the cap and the attempt fails as transient.
TEST_F(OpenAiTest, AHugeAnswerIsCutOffNotRead) {
  OpenAiOptions o = Options();
  o.common.retry.max_attempts = 1;
  auto client = Make(o);
  fake_.SetAnswer([](const FakeModelRequest&) { return std::string(size_t{40} << 20, 'a'); });
  auto r = client->Complete(Request());
  ASSERT_FALSE(r.ok()) << "read a " << r->text.size() << "-byte answer";
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().ToString();
  EXPECT_NE(r.status().message().find("response body over"), std::string::npos) << r.status().ToString();
}

TEST_F(OpenAiTest, AHangingServerCostsAboutTheTimeout) {
  OpenAiOptions o = Options();
  o.common.timeout = milliseconds(400);
  o.common.retry.max_attempts = 3;
  auto client = Make(o);
  fake_.Script({{FakeBehavior::kHang, "", milliseconds(10000)}, {FakeBehavior::kHang, "", milliseconds(10000)},
                {FakeBehavior::kHang, "", milliseconds(10000)}});
  const auto start = std::chrono::steady_clock::now();
  auto r = client->Complete(Request());
  const auto took = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
  EXPECT_EQ(r.status().code(), Code::kDeadlineExceeded) << r.status().ToString();
  EXPECT_GE(took, milliseconds(350));
  EXPECT_LT(took, milliseconds(1500)) << "retries must stay inside the total timeout";
}

TEST_F(OpenAiTest, ConcurrencyBoundHolds) {
  OpenAiOptions o = Options();
  o.common.max_concurrency = 2;
  auto client = Make(o);
  fake_.SetLatency(milliseconds(150));
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 6; ++i)
    threads.emplace_back([&] {
      if (client->Complete(Request()).ok()) ++ok;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 6);
  EXPECT_EQ(fake_.RequestCount(), 6);
  EXPECT_EQ(fake_.MaxInFlight(), 2);
}

TEST_F(OpenAiTest, CircuitOpensAndDefers) {
  OpenAiOptions o = Options();
  o.common.retry.max_attempts = 1;
  o.common.circuit_failure_threshold = 2;
  auto client = Make(o);
  fake_.Script({{FakeBehavior::kServerError}, {FakeBehavior::kServerError}});
  EXPECT_EQ(client->Complete(Request()).status().code(), Code::kUnavailable);
  EXPECT_EQ(client->Complete(Request()).status().code(), Code::kUnavailable);
  auto r = client->Complete(Request());
  EXPECT_TRUE(r.status().deferred()) << r.status().ToString();
  EXPECT_EQ(fake_.RequestCount(), 2);
}

TEST_F(OpenAiTest, Embeddings) {
  auto client = Make(Options());
  auto v = client->Embed({"reset my password", "where is my order", "reset my password"});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_EQ(v->size(), 3u);
  EXPECT_EQ((*v)[0], (*v)[2]);
  EXPECT_NE((*v)[0], (*v)[1]);
  const FakeModelRequest sent = fake_.Requests()[0];
  EXPECT_EQ(sent.path, "/v1/embeddings");
  EXPECT_EQ(sent.body["model"], "local-embed");
  EXPECT_EQ(sent.body["input"].size(), 3u);

  OpenAiOptions none = Options();
  none.common.embedding_model.clear();
  EXPECT_EQ(Make(none)->Embed({"x"}).status().code(), Code::kFailedPrecondition);
}

class OpenAiStoreTest : public OpenAiTest {
 protected:
  void SetUp() override {
    OpenAiTest::SetUp();
    dir_ = fs::temp_directory_path() / ("deskpilot-openai-" + RandomHex(6));
    fs::create_directories(dir_);
    auto s = OpenSqliteStore((dir_ / "t.db").string());
    ASSERT_TRUE(s.ok());
    store_ = std::move(s).value();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  fs::path dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(OpenAiStoreTest, BudgetExhaustionStopsCalls) {
  OpenAiOptions o = Options();
  o.common.daily_token_budget = 5;  // one fake call spends more than this
  auto client = Make(o, store_.get());
  ASSERT_TRUE(client->Complete(Request()).ok());
  auto r = client->Complete(Request());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_FALSE(r.status().retryable());
  EXPECT_EQ(fake_.RequestCount(), 1);
  // A restarted client on the same store is still over budget.
  auto restarted = Make(o, store_.get());
  EXPECT_EQ(restarted->Complete(Request()).status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(fake_.RequestCount(), 1);
}

TEST_F(OpenAiStoreTest, RegisteredFactoryCachesAndValidatesItsKeys) {
  Registry registry;
  RegisterOpenAiLlm(registry);
  nlohmann::json section = {{"type", "openai"}, {"base_url", fake_.base_url()}, {"model", "local-model"}};
  ConfigSection sec(section, "llm");
  (void)sec.String("type");
  AdapterContext ctx;
  ctx.section = &sec;
  ctx.http = http_.get();
  ctx.store = store_.get();
  auto client = registry.MakeLlm("openai", ctx);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  ASSERT_TRUE(sec.Finish().ok()) << sec.Finish().ToString();
  auto first = (*client)->Complete(Request());
  auto second = (*client)->Complete(Request());
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_FALSE(first->usage.cached);
  EXPECT_TRUE(second->usage.cached);
  EXPECT_DOUBLE_EQ(second->usage.cost, 0.0);
  EXPECT_EQ(second->text, first->text);
  EXPECT_EQ(fake_.RequestCount(), 1);

  nlohmann::json bad = {{"type", "openai"}, {"model", "m"}, {"structured_output", "yes"},
                        {"token_limit_field", "max"}, {"nonsense", 1}};
  ConfigSection bad_sec(bad, "llm");
  (void)bad_sec.String("type");
  ctx.section = &bad_sec;
  (void)registry.MakeLlm("openai", ctx);
  Status st = bad_sec.Finish();
  for (const char* key : {"llm.structured_output", "llm.token_limit_field", "llm.nonsense"})
    EXPECT_NE(st.message().find(key), std::string::npos) << key << "\n" << st.message();
}

}  // namespace
}  // namespace deskpilot
