#include "llm/common/model_transport.h"

#include <deque>
#include <filesystem>

#include <gtest/gtest.h>

#include "deskpilot/crypto.h"

namespace deskpilot {
namespace {

using std::chrono::milliseconds;

// An HttpClient that plays back canned answers and records what it was sent.
class ScriptedHttp : public HttpClient {
 public:
  void Push(int status, std::string body, std::map<std::string, std::string> headers = {}) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    r.headers = std::move(headers);
    script_.push_back(std::move(r));
  }
  void PushError(Status s) { script_.push_back(std::move(s)); }
  Result<HttpResponse> Send(const HttpRequest& request) override {
    sent.push_back(request);
    if (script_.empty()) return HttpResponse{200, {}, R"({"ok": true})"};
    auto next = script_.front();
    script_.pop_front();
    return next;
  }
  std::vector<HttpRequest> sent;

 private:
  std::deque<Result<HttpResponse>> script_;
};

HttpResponse Response(int status, const std::string& body) {
  HttpResponse r;
  r.status = status;
  r.body = body;
  return r;
}

TEST(ModelHttpStatus, QuotaAndSpendLimitsAreNeverRetryable) {
  const std::pair<int, std::string> quota[] = {
      {429, R"({"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "code": "insufficient_quota"}})"},
      {400, R"({"type": "error", "error": {"type": "invalid_request_error", "message": "Your credit balance is too low to access the Anthropic API."}})"},
      {429, R"({"type": "error", "error": {"type": "rate_limit_error", "message": "limit", "details": {"error_code": "enforced_spend_limit_reached"}}})"},
      {403, R"({"type": "error", "error": {"type": "billing_error", "message": "billing issue"}})"},
      {402, R"({"error": "payment required"})"},
  };
  for (const auto& [status, body] : quota) {
    Status s = ModelHttpStatus(Response(status, body), "x");
    EXPECT_EQ(s.code(), Code::kFailedPrecondition) << body;
    EXPECT_FALSE(s.retryable()) << body;
  }
}

TEST(ModelHttpStatus, MapsTheRestByWhatTheCallerShouldDo) {
  HttpResponse limited = Response(429, R"({"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}})");
  limited.headers["retry-after"] = "7";
  Status s = ModelHttpStatus(limited, "openai POST /chat/completions");
  EXPECT_EQ(s.code(), Code::kResourceExhausted);
  ASSERT_TRUE(s.retry_after().has_value());
  EXPECT_EQ(*s.retry_after(), milliseconds(7000));
  EXPECT_NE(s.message().find("rate_limit_exceeded"), std::string::npos) << s.message();
  EXPECT_EQ(ModelHttpStatus(Response(529, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})"), "x").code(),
            Code::kUnavailable);
  EXPECT_EQ(ModelHttpStatus(Response(500, "oops"), "x").code(), Code::kUnavailable);
  EXPECT_EQ(ModelHttpStatus(Response(401, R"({"error": {"type": "invalid_request_error", "code": "invalid_api_key"}})"), "x").code(),
            Code::kUnauthenticated);
  EXPECT_EQ(ModelHttpStatus(Response(403, R"({"type":"error","error":{"type":"permission_error","message":"no"}})"), "x").code(),
            Code::kPermissionDenied);
  EXPECT_EQ(ModelHttpStatus(Response(400, R"({"error": {"type": "invalid_request_error", "message": "bad schema"}})"), "x").code(),
            Code::kInvalidArgument);
}

TEST(ModelHttpStatus, CapsTheUpstreamMessage) {
  const std::string long_message(5000, 'z');
  Status s = ModelHttpStatus(Response(400, nlohmann::json{{"error", {{"message", long_message}}}}.dump()), "x");
  EXPECT_LT(s.message().size(), 300u);
}

class TransportTest : public ::testing::Test {
 protected:
  LlmOptions Options() {
    LlmOptions o;
    o.adapter = "test";
    o.base_url = "http://127.0.0.1:9";
    o.model = std::string("m");  // assigning the literal trips GCC 12's -Wrestrict false positive (PR105329)
    o.retry.max_attempts = 3;
    o.retry.base_delay = milliseconds(10);
    o.retry.max_delay = milliseconds(40);
    o.retry.max_retry_after = milliseconds(5000);
    return o;
  }
  std::unique_ptr<ModelTransport> Make(LlmOptions o, Store* store = nullptr) {
    auto t = std::make_unique<ModelTransport>(std::move(o), &http_, store);
    t->set_sleeper([this](milliseconds d) { slept_.push_back(d); });
    return t;
  }
  ScriptedHttp http_;
  std::vector<milliseconds> slept_;
};

TEST_F(TransportTest, SendsToBaseUrlWithJsonContentType) {
  auto t = Make(Options());
  auto r = t->PostJson("/chat/completions", {{"Authorization", "Bearer k"}}, R"({"a":1})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(http_.sent.size(), 1u);
  EXPECT_EQ(http_.sent[0].method, "POST");
  EXPECT_EQ(http_.sent[0].url, "http://127.0.0.1:9/chat/completions");
  EXPECT_EQ(http_.sent[0].body, R"({"a":1})");
  bool json = false;
  for (const auto& [k, v] : http_.sent[0].headers) json |= (k == "Content-Type" && v == "application/json");
  EXPECT_TRUE(json);
}

TEST_F(TransportTest, RetriesTransientFailuresAndHonoursRetryAfter) {
  http_.Push(500, "{}");
  http_.Push(429, R"({"error": {"type": "requests"}})", {{"retry-after", "2"}});
  http_.Push(200, R"({"done": true})");
  auto t = Make(Options());
  auto r = t->PostJson("/x", {}, "{}");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)["done"], true);
  EXPECT_EQ(http_.sent.size(), 3u);
  ASSERT_EQ(slept_.size(), 2u);
  EXPECT_LE(slept_[0], milliseconds(40));   // jittered backoff, capped by max_delay
  EXPECT_GE(slept_[1], milliseconds(2000)); // the server asked for 2 s
}

TEST_F(TransportTest, HonoursRetryAfterAsHttpDate) {
  const std::time_t in_3s = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now()) + 3;
  std::tm tm{};
  gmtime_r(&in_3s, &tm);
  char date[64];
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  http_.Push(503, "{}", {{"retry-after", date}});
  auto t = Make(Options());
  ASSERT_TRUE(t->PostJson("/x", {}, "{}").ok());
  ASSERT_EQ(slept_.size(), 1u);
  EXPECT_GE(slept_[0], milliseconds(1000));
  EXPECT_LE(slept_[0], milliseconds(3000));
}

TEST_F(TransportTest, ALongRetryAfterIsHandedBackInsteadOfSlept) {
  http_.Push(429, "{}", {{"retry-after", "120"}});
  auto t = Make(Options());
  auto r = t->PostJson("/x", {}, "{}");
  EXPECT_EQ(r.status().code(), Code::kResourceExhausted);
  ASSERT_TRUE(r.status().retry_after().has_value());
  EXPECT_EQ(*r.status().retry_after(), milliseconds(120000));
  EXPECT_EQ(http_.sent.size(), 1u);
  EXPECT_TRUE(slept_.empty());
}

TEST_F(TransportTest, QuotaErrorsAndPermanentErrorsAreNotRetried) {
  http_.Push(429, R"({"error": {"type": "insufficient_quota", "code": "insufficient_quota"}})");
  auto t = Make(Options());
  EXPECT_EQ(t->PostJson("/x", {}, "{}").status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(http_.sent.size(), 1u);
  http_.Push(401, R"({"error": {"code": "invalid_api_key"}})");
  EXPECT_EQ(t->PostJson("/x", {}, "{}").status().code(), Code::kUnauthenticated);
  EXPECT_EQ(http_.sent.size(), 2u);
  EXPECT_TRUE(slept_.empty());
}

TEST_F(TransportTest, TransportErrorsAreRetriedUpToMaxAttempts) {
  http_.PushError(Status::Unavailable("connection reset"));
  http_.PushError(Status::DeadlineExceeded("timed out"));
  http_.PushError(Status::Unavailable("connection refused"));
  auto t = Make(Options());
  auto r = t->PostJson("/x", {}, "{}");
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_EQ(http_.sent.size(), 3u);
}

TEST_F(TransportTest, ABodyThatIsNotJsonIsTransient) {
  http_.Push(200, "{\"cut");
  http_.Push(200, "[1, 2]");
  http_.Push(200, "<html>");
  auto t = Make(Options());
  auto r = t->PostJson("/x", {}, "{}");
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_EQ(http_.sent.size(), 3u);
}

TEST_F(TransportTest, OpenCircuitDefersWithoutCallingTheUpstream) {
  LlmOptions o = Options();
  o.retry.max_attempts = 1;
  o.circuit_failure_threshold = 2;
  o.circuit_open_for = milliseconds(60000);
  auto t = Make(o);
  http_.Push(503, "{}");
  http_.Push(503, "{}");
  EXPECT_EQ(t->PostJson("/x", {}, "{}").status().code(), Code::kUnavailable);
  EXPECT_EQ(t->PostJson("/x", {}, "{}").status().code(), Code::kUnavailable);
  auto r = t->PostJson("/x", {}, "{}");
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_TRUE(r.status().deferred());
  EXPECT_TRUE(r.status().retry_after().has_value());
  EXPECT_EQ(http_.sent.size(), 2u);
}

TEST_F(TransportTest, QuotaErrorsDoNotOpenTheCircuit) {
  LlmOptions o = Options();
  o.circuit_failure_threshold = 1;
  auto t = Make(o);
  http_.Push(402, "{}");
  EXPECT_EQ(t->PostJson("/x", {}, "{}").status().code(), Code::kFailedPrecondition);
  EXPECT_TRUE(t->PostJson("/x", {}, "{}").ok());
}

TEST_F(TransportTest, DailyBudgetStopsCallsOnceUsedUp) {
  LlmOptions o = Options();
  o.daily_token_budget = 100;
  auto t = Make(o);
  ASSERT_TRUE(t->PostJson("/x", {}, "{}").ok());
  t->Charge(60);
  ASSERT_TRUE(t->PostJson("/x", {}, "{}").ok());
  t->Charge(60);
  auto r = t->PostJson("/x", {}, "{}");
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_FALSE(r.status().retryable());
  EXPECT_NE(r.status().message().find("budget"), std::string::npos);
  EXPECT_EQ(http_.sent.size(), 2u);
}

}  // namespace
}  // namespace deskpilot
