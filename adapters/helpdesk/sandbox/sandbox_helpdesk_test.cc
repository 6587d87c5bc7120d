#include "helpdesk/sandbox/sandbox_helpdesk.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "deskpilot/crypto.h"
#include "deskpilot/registry.h"
#include "helpdesk/sandbox/register.h"
#include "deskpilot/rfc3339.h"
#include "common/loopback_server/loopback_server.h"

namespace deskpilot {
namespace {

using nlohmann::json;
using std::chrono::seconds;

constexpr char kToken[] = "adapter-test-token";
constexpr char kSecret[] = "whsec_sandbox_test";
// Computed independently: printf '%s%s' TS BODY | openssl dgst -sha256 -hmac SECRET -binary | base64
constexpr char kVectorTimestamp[] = "2024-05-01T12:00:00Z";
constexpr char kVectorBody[] =
    R"({"id":"evt_1","type":"ticket.created","time":"2024-05-01T12:00:00Z","ticket_id":"42","actor":{"id":"ann@example.com","role":"customer"}})";
constexpr char kVectorSignature[] = "PiXOuSsTdvA14MgYN0vBJM/c08I8gRIQwhuiZkRV0xE=";
const auto kVectorTime = std::chrono::system_clock::time_point(seconds(1714564800));

SandboxHelpdeskOptions AdapterOptions(const std::string& base_url = "http://127.0.0.1:1") {
  SandboxHelpdeskOptions o;
  o.name = "sbx";
  o.base_url = base_url;
  o.api_token = kToken;
  o.webhook_secret = kSecret;
  o.request_timeout = std::chrono::milliseconds(3000);
  o.retry.base_delay = std::chrono::milliseconds(1);
  o.retry.max_delay = std::chrono::milliseconds(5);
  return o;
}

WebhookRequest SignedRequest(std::string_view body, const std::string& ts, const std::string& sig,
                             std::chrono::system_clock::time_point now) {
  WebhookRequest r;
  r.body = body;
  r.headers = {{"x-zendesk-webhook-signature", sig}, {"x-zendesk-webhook-signature-timestamp", ts}};
  r.now = now;
  return r;
}

class SandboxSignatureTest : public ::testing::Test {
 protected:
  std::unique_ptr<HttpClient> http_ = NewCurlHttpClient();
  std::unique_ptr<Helpdesk> hd_ = NewSandboxHelpdesk(AdapterOptions(), http_.get());
};

TEST_F(SandboxSignatureTest, AcceptsKnownVector) {
  EXPECT_TRUE(hd_->VerifyWebhook(SignedRequest(kVectorBody, kVectorTimestamp, kVectorSignature, kVectorTime)).ok());
  // Inside the window on both sides.
  EXPECT_TRUE(hd_->VerifyWebhook(
      SignedRequest(kVectorBody, kVectorTimestamp, kVectorSignature, kVectorTime + seconds(299))).ok());
  EXPECT_TRUE(hd_->VerifyWebhook(
      SignedRequest(kVectorBody, kVectorTimestamp, kVectorSignature, kVectorTime - seconds(299))).ok());
}

TEST_F(SandboxSignatureTest, AcceptsUnixSecondsTimestamp) {
  const std::string ts = "1714564800";
  const std::string sig = Base64Encode(HmacSha256(kSecret, ts + kVectorBody));
  EXPECT_TRUE(hd_->VerifyWebhook(SignedRequest(kVectorBody, ts, sig, kVectorTime)).ok());
}

TEST_F(SandboxSignatureTest, RejectsTamperingWrongSecretAndTime) {
  std::string tampered = kVectorBody;
  tampered[tampered.find("42")] = '7';
  auto expect_rejected = [&](const WebhookRequest& r) {
    Status st = hd_->VerifyWebhook(r);
    EXPECT_EQ(st.code(), Code::kUnauthenticated) << st.ToString();
    EXPECT_EQ(st.message().find(kSecret), std::string::npos);
  };
  expect_rejected(SignedRequest(tampered, kVectorTimestamp, kVectorSignature, kVectorTime));
  const std::string wrong = Base64Encode(HmacSha256("other-secret", std::string(kVectorTimestamp) + kVectorBody));
  expect_rejected(SignedRequest(kVectorBody, kVectorTimestamp, wrong, kVectorTime));
  // Stale (received 301 s later) and from the future (301 s ahead of us).
  expect_rejected(SignedRequest(kVectorBody, kVectorTimestamp, kVectorSignature, kVectorTime + seconds(301)));
  expect_rejected(SignedRequest(kVectorBody, kVectorTimestamp, kVectorSignature, kVectorTime - seconds(301)));
  // A re-signed body with a shifted timestamp header must not reuse the old signature.
  expect_rejected(SignedRequest(kVectorBody, "2024-05-01T12:00:01Z", kVectorSignature, kVectorTime));
  expect_rejected(SignedRequest(kVectorBody, "yesterday", kVectorSignature, kVectorTime));
  expect_rejected(SignedRequest(kVectorBody, kVectorTimestamp, "!!!not-base64!!!", kVectorTime));
  expect_rejected(SignedRequest(kVectorBody, kVectorTimestamp, "", kVectorTime));
}

TEST_F(SandboxSignatureTest, RejectsMissingHeaders) {
  WebhookRequest r = SignedRequest(kVectorBody, kVectorTimestamp, kVectorSignature, kVectorTime);
  r.headers.erase("x-zendesk-webhook-signature-timestamp");
  EXPECT_EQ(hd_->VerifyWebhook(r).code(), Code::kUnauthenticated);
  r = SignedRequest(kVectorBody, kVectorTimestamp, kVectorSignature, kVectorTime);
  r.headers.erase("x-zendesk-webhook-signature");
  EXPECT_EQ(hd_->VerifyWebhook(r).code(), Code::kUnauthenticated);
}

TEST_F(SandboxSignatureTest, ParsesEventsAndDetectsSelfCaused) {
  auto ev = hd_->ParseWebhook(SignedRequest(kVectorBody, "", "", kVectorTime));
  ASSERT_TRUE(ev.ok()) << ev.status().ToString();
  EXPECT_EQ(ev->dedupe_key, "sandbox:sbx:evt_1");
  EXPECT_EQ(ev->ticket_id, "42");
  EXPECT_EQ(ev->event_type, "ticket.created");
  EXPECT_FALSE(ev->self_caused);

  const std::string own =
      R"({"id":"evt_2","type":"ticket.comment_added","ticket_id":"42","actor":{"id":"deskpilot-api","role":"agent"}})";
  ev = hd_->ParseWebhook(SignedRequest(own, "", "", kVectorTime));
  ASSERT_TRUE(ev.ok());
  EXPECT_TRUE(ev->self_caused);

  for (const char* bad : {"{", "[]", R"({"type":"ticket.created","ticket_id":"1"})",
                          R"({"id":"e","ticket_id":"1"})", R"({"id":"e","type":"ticket.created"})"}) {
    EXPECT_EQ(hd_->ParseWebhook(SignedRequest(bad, "", "", kVectorTime)).status().code(),
              Code::kInvalidArgument)
        << bad;
  }
}

// api_user_id = "": no event or comment is deskpilot's, so none is dropped by the loop guard.
TEST(SandboxSelfCausedTest, AnEmptyApiUserMatchesNoActor) {
  auto http = NewCurlHttpClient();
  SandboxHelpdeskOptions o = AdapterOptions();
  o.api_user_id = "";
  auto hd = NewSandboxHelpdesk(o, http.get());
  for (const char* body : {R"({"id":"e1","type":"ticket.created","ticket_id":"7","actor":{}})",
                           R"({"id":"e2","type":"ticket.created","ticket_id":"7","actor":{"id":""}})"}) {
    auto ev = hd->ParseWebhook(SignedRequest(body, "", "", kVectorTime));
    ASSERT_TRUE(ev.ok()) << ev.status().ToString();
    EXPECT_FALSE(ev->self_caused) << body;
  }
}

TEST(SandboxConfigTest, FactoryReadsKeysAndRejectsUnknownOnes) {
  setenv("DESKPILOT_SBX_TEST_TOKEN", "tok", 1);
  setenv("DESKPILOT_SBX_TEST_SECRET", "sec", 1);
  auto http = NewCurlHttpClient();
  Registry registry;
  RegisterSandboxHelpdesk(registry);

  json good = {{"name", "sbx"},
               {"type", "sandbox"},
               {"base_url", "http://127.0.0.1:9"},
               {"api_token_env", "DESKPILOT_SBX_TEST_TOKEN"},
               {"webhook_secret_env", "DESKPILOT_SBX_TEST_SECRET"},
               {"signature_tolerance_seconds", 60}};
  ConfigSection section(good, "helpdesk[0]");
  AdapterContext ctx;
  ctx.section = &section;
  ctx.name = "sbx";
  ctx.http = http.get();
  auto hd = registry.MakeHelpdesk("sandbox", ctx);
  ASSERT_TRUE(hd.ok()) << hd.status().ToString();
  EXPECT_EQ((*hd)->type(), "sandbox");

  json unknown = good;
  unknown["colour"] = "blue";
  ConfigSection bad_section(unknown, "helpdesk[0]");
  ctx.section = &bad_section;
  auto bad = registry.MakeHelpdesk("sandbox", ctx);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("colour"), std::string::npos) << bad.status().ToString();

  json missing = good;
  missing.erase("base_url");
  ConfigSection missing_section(missing, "helpdesk[0]");
  ctx.section = &missing_section;
  auto no_url = registry.MakeHelpdesk("sandbox", ctx);
  ASSERT_FALSE(no_url.ok());
  EXPECT_NE(no_url.status().message().find("base_url"), std::string::npos) << no_url.status().ToString();
}

// The adapter against a running sandbox, over real HTTP.
class SandboxAdapterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() /
            ("deskpilot_sandbox_adapter_test_" + std::to_string(getpid()) + "_" + RandomHex(6)))
               .string();
    std::filesystem::create_directories(dir_);
    SandboxOptions o;
    o.db_path = dir_ + "/sandbox.db";
    o.api_token = kToken;
    o.webhook_secret = kSecret;
    server_ = std::make_unique<SandboxServer>(o);
    ASSERT_TRUE(server_->Start().ok());
    base_url_ = "http://127.0.0.1:" + std::to_string(server_->port());
    hd_ = NewSandboxHelpdesk(AdapterOptions(base_url_), http_.get());
    raw_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    raw_->set_default_headers({{"Authorization", std::string("Bearer ") + kToken}});
  }
  void TearDown() override {
    server_->Stop();
    std::filesystem::remove_all(dir_);
  }
  std::string CreateTicket() {
    json body = {{"subject", "Cannot log in"},
                 {"description", "Password reset mail never arrives."},
                 {"requester", {{"email", "bob@example.com"}, {"name", "Bob"}}},
                 {"tags", {"agent_tag"}}};
    auto r = raw_->Post("/api/tickets", body.dump(), "application/json");
    EXPECT_TRUE(r && r->status == 201);
    return json::parse(r->body)["ticket"]["id"].get<std::string>();
  }
  json Stats() { return json::parse(raw_->Get("/api/_stats")->body); }
  void InjectFault(const json& fault) {
    auto r = raw_->Post("/api/_faults", fault.dump(), "application/json");
    ASSERT_TRUE(r && r->status == 201);
  }

  std::string dir_;
  std::string base_url_;
  std::unique_ptr<SandboxServer> server_;
  std::unique_ptr<HttpClient> http_ = NewCurlHttpClient();
  std::unique_ptr<Helpdesk> hd_;
  std::unique_ptr<httplib::Client> raw_;
};

WritePlan FullPlan(const std::string& key) {
  WritePlan plan;
  plan.idempotency_key = key;
  plan.actions = {
      {ActionType::kSetTags, {"deskpilot", "login"}, "", ""},
      {ActionType::kSetPriority, {}, "high", ""},
      {ActionType::kSetGroup, {}, "access", ""},
      {ActionType::kSetCustomField, {}, "account_access", "category"},
      {ActionType::kAddInternalNote, {}, "Summary: cannot log in. Draft below.", ""},
      {ActionType::kAddPublicReply, {}, "Please check your spam folder.", ""},
  };
  return plan;
}

TEST_F(SandboxAdapterTest, FetchTicketMapsFieldsAndComments) {
  const std::string id = CreateTicket();
  auto t = hd_->FetchTicket(id);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->id, id);
  EXPECT_EQ(t->source, "sbx");
  EXPECT_EQ(t->subject, "Cannot log in");
  EXPECT_EQ(t->requester.email, "bob@example.com");
  EXPECT_EQ(t->priority, "");
  EXPECT_EQ(t->status, "new");
  ASSERT_EQ(t->comments.size(), 1u);
  EXPECT_EQ(t->comments[0].author_role, AuthorRole::kCustomer);
  EXPECT_TRUE(t->comments[0].is_public);
  EXPECT_FALSE(t->comments[0].by_deskpilot);
}

TEST_F(SandboxAdapterTest, ApplyWritesThePlanAndReplaysIdempotently) {
  const std::string id = CreateTicket();
  auto before = hd_->FetchTicket(id);
  ASSERT_TRUE(before.ok());
  ASSERT_TRUE(hd_->Apply(*before, FullPlan("job-1")).ok());

  auto t = hd_->FetchTicket(id);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->tags, (std::vector<std::string>{"agent_tag", "deskpilot", "login"}));
  EXPECT_EQ(t->priority, "high");
  EXPECT_EQ(t->group, "access");
  EXPECT_EQ(t->custom_fields.at("category"), "account_access");
  ASSERT_EQ(t->comments.size(), 3u);
  EXPECT_EQ(t->comments[1].body, "Summary: cannot log in. Draft below.");
  EXPECT_FALSE(t->comments[1].is_public);
  EXPECT_TRUE(t->comments[1].by_deskpilot);
  EXPECT_EQ(t->comments[1].author_role, AuthorRole::kAgent);
  EXPECT_EQ(t->comments[2].body, "Please check your spam folder.");
  EXPECT_TRUE(t->comments[2].is_public);
  EXPECT_TRUE(t->comments[2].by_deskpilot);
  EXPECT_EQ(Stats()["applied_updates"], 2);  // note + fields, then the reply

  // A retried write-back with the same key lands once.
  ASSERT_TRUE(hd_->Apply(*before, FullPlan("job-1")).ok());
  EXPECT_EQ(Stats()["applied_updates"], 2);
  EXPECT_EQ(hd_->FetchTicket(id)->comments.size(), 3u);
}

TEST_F(SandboxAdapterTest, AssistPlanIsExactlyOneWrite) {
  const std::string id = CreateTicket();
  WritePlan plan = FullPlan("job-2");
  plan.actions.pop_back();  // no public reply
  ASSERT_TRUE(hd_->Apply(*hd_->FetchTicket(id), plan).ok());
  json stats = Stats();
  EXPECT_EQ(stats["applied_updates"], 1);
  EXPECT_EQ(stats["requests"]["PUT /api/tickets/{id}"], 1);
}

TEST_F(SandboxAdapterTest, RetriesTransientFailures) {
  const std::string id = CreateTicket();
  InjectFault({{"status", 503}, {"count", 2}, {"path_prefix", "/api/tickets/" + id}, {"method", "PUT"}});
  WritePlan plan = FullPlan("job-3");
  plan.actions.pop_back();
  Status st = hd_->Apply(*hd_->FetchTicket(id), plan);
  ASSERT_TRUE(st.ok()) << st.ToString();
  json stats = Stats();
  EXPECT_EQ(stats["requests"]["PUT /api/tickets/{id}"], 3);
  EXPECT_EQ(stats["applied_updates"], 1);

  InjectFault({{"status", 503}, {"count", 2}, {"path_prefix", "/api/tickets/" + id}, {"method", "GET"}});
  EXPECT_TRUE(hd_->FetchTicket(id).ok());
}

TEST_F(SandboxAdapterTest, LongRetryAfterIsHandedBackToTheCaller) {
  const std::string id = CreateTicket();
  auto ticket = hd_->FetchTicket(id);
  ASSERT_TRUE(ticket.ok());
  InjectFault({{"status", 503}, {"count", 10}, {"retry_after", "120"}, {"path_prefix", "/api/tickets"}});
  Status st = hd_->Apply(*ticket, FullPlan("job-4"));
  EXPECT_EQ(st.code(), Code::kUnavailable) << st.ToString();
  ASSERT_TRUE(st.retry_after().has_value());
  EXPECT_EQ(*st.retry_after(), std::chrono::milliseconds(120000));
  EXPECT_EQ(Stats()["applied_updates"], 0);
}

TEST_F(SandboxAdapterTest, DeletedTicketIsNotFound) {
  const std::string id = CreateTicket();
  auto ticket = hd_->FetchTicket(id);
  ASSERT_TRUE(ticket.ok());
  ASSERT_EQ(raw_->Delete("/api/tickets/" + id)->status, 204);
  EXPECT_EQ(hd_->FetchTicket(id).status().code(), Code::kNotFound);
  EXPECT_EQ(hd_->Apply(*ticket, FullPlan("job-5")).code(), Code::kNotFound);
  EXPECT_EQ(hd_->FetchTicket("not-a-number").status().code(), Code::kInvalidArgument);
}

TEST_F(SandboxAdapterTest, WrongTokenIsUnauthenticated) {
  const std::string id = CreateTicket();
  SandboxHelpdeskOptions o = AdapterOptions(base_url_);
  o.api_token = "wrong";
  auto hd = NewSandboxHelpdesk(o, http_.get());
  EXPECT_EQ(hd->FetchTicket(id).status().code(), Code::kUnauthenticated);
}

TEST_F(SandboxAdapterTest, StoppedServerIsUnavailable) {
  const std::string id = CreateTicket();
  server_->Stop();
  EXPECT_EQ(hd_->FetchTicket(id).status().code(), Code::kUnavailable);
}

TEST_F(SandboxAdapterTest, DeliveredWebhookVerifiesWithTheAdapter) {
  std::mutex mu;
  std::vector<std::pair<std::string, std::map<std::string, std::string>>> got;
  httplib::Server receiver;
  receiver.set_tcp_nodelay(true);
  ServeOneRequestPerConnection(receiver);
  receiver.new_task_queue = [] { return new httplib::ThreadPool(2); };
  receiver.Post("/webhooks/sbx", [&](const httplib::Request& req, httplib::Response& res) {
    std::map<std::string, std::string> headers;
    for (const auto& [k, v] : req.headers) {
      std::string lower = k;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      headers[lower] = v;
    }
    std::lock_guard lock(mu);
    got.emplace_back(req.body, headers);
    res.status = 202;
  });
  const int port = receiver.bind_to_any_port("127.0.0.1");
  std::thread thread([&] { receiver.listen_after_bind(); });
  while (!receiver.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  server_->SetWebhookUrl("http://127.0.0.1:" + std::to_string(port) + "/webhooks/sbx");
  const std::string id = CreateTicket();
  server_->FlushWebhooks();
  receiver.stop();
  thread.join();

  ASSERT_EQ(got.size(), 1u);
  WebhookRequest req;
  req.body = got[0].first;
  req.headers = got[0].second;
  req.now = std::chrono::system_clock::now();
  Status st = hd_->VerifyWebhook(req);
  EXPECT_TRUE(st.ok()) << st.ToString();
  auto ev = hd_->ParseWebhook(req);
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(ev->ticket_id, id);
  EXPECT_EQ(ev->event_type, "ticket.created");
  EXPECT_FALSE(ev->self_caused);
  EXPECT_EQ(Stats()["webhooks"]["delivered"], 1);
}

}  // namespace
}  // namespace deskpilot
