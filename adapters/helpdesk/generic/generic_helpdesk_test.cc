#include "helpdesk/generic/generic_helpdesk.h"

#include <stdlib.h>

#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "deskpilot/crypto.h"
#include "deskpilot/registry.h"
#include "helpdesk/generic/register.h"
#include "common/loopback_server/loopback_server.h"

namespace deskpilot {
namespace {

using nlohmann::json;
using std::chrono::seconds;

constexpr char kToken[] = "generic-token";
constexpr char kSecret[] = "generic_secret";
// Computed independently:
// printf '%s.%s' 1714564800 BODY | openssl dgst -sha256 -hmac generic_secret -hex
constexpr char kVectorTimestamp[] = "1714564800";
constexpr char kVectorBody[] = R"({"event_id":"e-1","event_type":"ticket.created","ticket_id":"T-9"})";
constexpr char kVectorSignature[] =
    "sha256=a075a42b76c71d05f3200290707cd08591dd868a8b80ae138bdadc372fb86465";
const auto kVectorTime = std::chrono::system_clock::time_point(seconds(1714564800));

GenericHelpdeskOptions Options(const std::string& base_url = "http://127.0.0.1:1") {
  GenericHelpdeskOptions o;
  o.name = "inhouse";
  o.base_url = base_url;
  o.api_token = kToken;
  o.webhook_secret = kSecret;
  o.api_user_id = "bot-1";
  o.request_timeout = std::chrono::milliseconds(3000);
  o.retry.base_delay = std::chrono::milliseconds(1);
  o.retry.max_delay = std::chrono::milliseconds(5);
  return o;
}

WebhookRequest Signed(std::string_view body, const std::string& ts, const std::string& sig,
                      std::chrono::system_clock::time_point now) {
  WebhookRequest r;
  r.body = body;
  r.headers = {{"x-deskpilot-signature", sig}, {"x-deskpilot-timestamp", ts}};
  r.now = now;
  return r;
}

class GenericSignatureTest : public ::testing::Test {
 protected:
  std::unique_ptr<HttpClient> http_ = NewCurlHttpClient();
  std::unique_ptr<Helpdesk> hd_ = NewGenericHelpdesk(Options(), http_.get());
  void ExpectRejected(const WebhookRequest& r) {
    Status st = hd_->VerifyWebhook(r);
    EXPECT_EQ(st.code(), Code::kUnauthenticated) << st.ToString();
    EXPECT_EQ(st.message().find(kSecret), std::string::npos);
  }
};

TEST_F(GenericSignatureTest, AcceptsKnownVectorInsideTheWindow) {
  EXPECT_TRUE(hd_->VerifyWebhook(Signed(kVectorBody, kVectorTimestamp, kVectorSignature, kVectorTime)).ok());
  EXPECT_TRUE(hd_->VerifyWebhook(
      Signed(kVectorBody, kVectorTimestamp, kVectorSignature, kVectorTime + seconds(300))).ok());
  std::string upper = kVectorSignature;
  for (size_t i = 7; i < upper.size(); ++i) upper[i] = static_cast<char>(std::toupper(upper[i]));
  EXPECT_TRUE(hd_->VerifyWebhook(Signed(kVectorBody, kVectorTimestamp, upper, kVectorTime)).ok());
}

TEST_F(GenericSignatureTest, RejectsEveryBrokenVariant) {
  std::string tampered = kVectorBody;
  tampered[tampered.find("T-9") + 2] = '8';
  ExpectRejected(Signed(tampered, kVectorTimestamp, kVectorSignature, kVectorTime));
  const std::string wrong_secret =
      "sha256=" + HexEncode(HmacSha256("nope", std::string(kVectorTimestamp) + "." + kVectorBody));
  ExpectRejected(Signed(kVectorBody, kVectorTimestamp, wrong_secret, kVectorTime));
  ExpectRejected(Signed(kVectorBody, kVectorTimestamp, kVectorSignature, kVectorTime + seconds(301)));  // stale
  ExpectRejected(Signed(kVectorBody, kVectorTimestamp, kVectorSignature, kVectorTime - seconds(301)));  // future
  ExpectRejected(Signed(kVectorBody, "1714564801", kVectorSignature, kVectorTime));  // moved timestamp
  ExpectRejected(Signed(kVectorBody, "2024-05-01T12:00:00Z", kVectorSignature, kVectorTime));
  ExpectRejected(Signed(kVectorBody, kVectorTimestamp, "sha256=zz75a42b", kVectorTime));  // not hex
  ExpectRejected(Signed(kVectorBody, kVectorTimestamp, "sha256=a07", kVectorTime));       // odd length
  ExpectRejected(Signed(kVectorBody, kVectorTimestamp, std::string(kVectorSignature).substr(7), kVectorTime));
  WebhookRequest no_sig = Signed(kVectorBody, kVectorTimestamp, kVectorSignature, kVectorTime);
  no_sig.headers.erase("x-deskpilot-signature");
  ExpectRejected(no_sig);
  WebhookRequest no_ts = Signed(kVectorBody, kVectorTimestamp, kVectorSignature, kVectorTime);
  no_ts.headers.erase("x-deskpilot-timestamp");
  ExpectRejected(no_ts);
}

TEST_F(GenericSignatureTest, ParsesEvents) {
  auto ev = hd_->ParseWebhook(Signed(kVectorBody, "", "", kVectorTime));
  ASSERT_TRUE(ev.ok()) << ev.status().ToString();
  EXPECT_EQ(ev->dedupe_key, "generic:inhouse:e-1");
  EXPECT_EQ(ev->ticket_id, "T-9");
  EXPECT_EQ(ev->event_type, "ticket.created");
  EXPECT_FALSE(ev->self_caused);
  ev = hd_->ParseWebhook(Signed(
      R"({"event_id":7,"event_type":"ticket.updated","ticket_id":12,"actor":{"id":"bot-1"}})", "", "", kVectorTime));
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(ev->dedupe_key, "generic:inhouse:7");
  EXPECT_EQ(ev->ticket_id, "12");
  EXPECT_TRUE(ev->self_caused);
  for (const char* bad : {"nope", R"({"event_type":"x","ticket_id":"1"})", R"({"event_id":"e","ticket_id":"1"})",
                          R"({"event_id":"e","event_type":"x"})",
                          R"({"event_id":"e","event_type":"x","ticket_id":"1","actor":"bot"})"}) {
    EXPECT_EQ(hd_->ParseWebhook(Signed(bad, "", "", kVectorTime)).status().code(), Code::kInvalidArgument) << bad;
  }
}

TEST(GenericConfigTest, FactoryValidatesKeys) {
  setenv("DESKPILOT_GENERIC_TEST_TOKEN", "tok", 1);
  setenv("DESKPILOT_GENERIC_TEST_SECRET", "sec", 1);
  auto http = NewCurlHttpClient();
  Registry registry;
  RegisterGenericHelpdesk(registry);
  json good = {{"name", "inhouse"},
               {"type", "generic"},
               {"base_url", "https://desk.internal/api"},
               {"api_token_env", "DESKPILOT_GENERIC_TEST_TOKEN"},
               {"webhook_secret_env", "DESKPILOT_GENERIC_TEST_SECRET"},
               {"api_user_id", "bot-1"}};
  ConfigSection section(good, "helpdesk[1]");
  AdapterContext ctx;
  ctx.section = &section;
  ctx.name = "inhouse";
  ctx.http = http.get();
  auto hd = registry.MakeHelpdesk("generic", ctx);
  ASSERT_TRUE(hd.ok()) << hd.status().ToString();
  EXPECT_EQ((*hd)->type(), "generic");

  json bad_url = good;
  bad_url["base_url"] = "desk.internal";
  ConfigSection bad_section(bad_url, "helpdesk[1]");
  ctx.section = &bad_section;
  auto bad = registry.MakeHelpdesk("generic", ctx);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("base_url"), std::string::npos) << bad.status().ToString();

  json inline_secret = good;
  inline_secret.erase("webhook_secret_env");
  inline_secret["webhook_secret"] = "in-the-file";
  ConfigSection secret_section(inline_secret, "helpdesk[1]");
  ctx.section = &secret_section;
  EXPECT_FALSE(registry.MakeHelpdesk("generic", ctx).ok());
}

// A minimal in-house desk implementing the README contract.
class FakeDesk {
 public:
  FakeDesk() {
    svr_.set_tcp_nodelay(true);
    ServeOneRequestPerConnection(svr_);
    svr_.new_task_queue = [] { return new httplib::ThreadPool(2); };
    svr_.Get(R"(/tickets/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
      if (!Admit(req, res)) return;
      if (req.matches[1] != "T 1") {
        res.status = 404;
        return;
      }
      json t = {{"id", "T 1"},
                {"subject", "Invoice missing"},
                {"description", "Where is my invoice?"},
                {"requester", {{"email", "cy@example.com"}, {"name", "Cy"}}},
                {"channel", "chat"},
                {"status", "open"},
                {"tags", {"billing"}},
                {"custom_fields", {{"plan", "pro"}}},
                {"comments",
                 {{{"id", 1}, {"author_role", "customer"}, {"author_id", "cy"}, {"public", true},
                   {"body", "Where is my invoice?"}},
                  {{"id", 2}, {"author_role", "agent"}, {"author_id", "bot-1"}, {"public", false},
                   {"body", "deskpilot note"}}}}};
      res.set_content(t.dump(), "application/json");
    });
    svr_.Post(R"(/tickets/([^/]+)/actions)", [this](const httplib::Request& req, httplib::Response& res) {
      if (!Admit(req, res)) return;
      std::lock_guard lock(mu_);
      action_bodies.push_back(json::parse(req.body));
      idempotency_headers.push_back(req.get_header_value("Idempotency-Key"));
      targets.push_back(req.target);  // as sent, before httplib decodes it
      res.status = 202;
    });
    port_ = svr_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { svr_.listen_after_bind(); });
    while (!svr_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeDesk() {
    svr_.stop();
    thread_.join();
  }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }
  void FailNext(int count, int status) {
    std::lock_guard lock(mu_);
    fail_count_ = count;
    fail_status_ = status;
  }
  int requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

  std::vector<json> action_bodies;
  std::vector<std::string> idempotency_headers;
  std::vector<std::string> targets;

 private:
  bool Admit(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu_);
    ++requests_;
    if (req.get_header_value("Authorization") != std::string("Bearer ") + kToken) {
      res.status = 401;
      return false;
    }
    if (fail_count_ > 0) {
      --fail_count_;
      res.status = fail_status_;
      return false;
    }
    return true;
  }

  httplib::Server svr_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  int fail_count_ = 0;
  int fail_status_ = 503;
  int requests_ = 0;
};

class GenericDeskTest : public ::testing::Test {
 protected:
  FakeDesk desk_;
  std::unique_ptr<HttpClient> http_ = NewCurlHttpClient();
  std::unique_ptr<Helpdesk> hd_ = NewGenericHelpdesk(Options(desk_.base_url()), http_.get());
};

TEST_F(GenericDeskTest, FetchTicketParsesTheNormalizedShape) {
  auto t = hd_->FetchTicket("T 1");  // ids are escaped into the path
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->id, "T 1");
  EXPECT_EQ(t->source, "inhouse");
  EXPECT_EQ(t->subject, "Invoice missing");
  EXPECT_EQ(t->custom_fields.at("plan"), "pro");
  ASSERT_EQ(t->comments.size(), 2u);
  EXPECT_FALSE(t->comments[0].by_deskpilot);
  EXPECT_TRUE(t->comments[1].by_deskpilot);
  EXPECT_FALSE(t->comments[1].is_public);
}

TEST_F(GenericDeskTest, ApplyPostsOneActionListWithTheIdempotencyKey) {
  Ticket t;
  t.id = "T 1";
  WritePlan plan;
  plan.idempotency_key = "job-9";
  plan.actions = {{ActionType::kSetTags, {"deskpilot"}, "", ""},
                  {ActionType::kSetPriority, {}, "urgent", ""},
                  {ActionType::kSetCustomField, {}, "billing", "category"},
                  {ActionType::kAddInternalNote, {}, "note", ""}};
  ASSERT_TRUE(hd_->Apply(t, plan).ok());
  ASSERT_EQ(desk_.action_bodies.size(), 1u);
  EXPECT_EQ(desk_.targets[0], "/tickets/T%201/actions");
  EXPECT_EQ(desk_.idempotency_headers[0], "job-9");
  const json& body = desk_.action_bodies[0];
  EXPECT_EQ(body["idempotency_key"], "job-9");
  ASSERT_EQ(body["actions"].size(), 4u);
  EXPECT_EQ(body["actions"][0], json({{"action", "set_tags"}, {"tags", {"deskpilot"}}}));
  EXPECT_EQ(body["actions"][1], json({{"action", "set_priority"}, {"value", "urgent"}}));
  EXPECT_EQ(body["actions"][2], json({{"action", "set_custom_field"}, {"field", "category"}, {"value", "billing"}}));
  EXPECT_EQ(body["actions"][3], json({{"action", "add_internal_note"}, {"body", "note"}}));

  EXPECT_TRUE(hd_->Apply(t, WritePlan{}).ok());  // nothing to write: no call
  EXPECT_EQ(desk_.action_bodies.size(), 1u);

  // An id that is a dot segment stays inside /tickets/: unescaped, "/tickets/../actions"
  // would reach "/actions" with the token and the plan.
  t.id = "..";
  ASSERT_TRUE(hd_->Apply(t, plan).ok());
  ASSERT_EQ(desk_.targets.size(), 2u);
  EXPECT_EQ(desk_.targets[1], "/tickets/%2E%2E/actions");
}

TEST_F(GenericDeskTest, RetriesTransientErrorsAndMapsPermanentOnes) {
  desk_.FailNext(2, 503);
  EXPECT_TRUE(hd_->FetchTicket("T 1").ok());
  EXPECT_EQ(desk_.requests(), 3);
  EXPECT_EQ(hd_->FetchTicket("gone").status().code(), Code::kNotFound);
  desk_.FailNext(10, 503);
  EXPECT_EQ(hd_->FetchTicket("T 1").status().code(), Code::kUnavailable);
  desk_.FailNext(0, 503);
  GenericHelpdeskOptions o = Options(desk_.base_url());
  o.api_token = "wrong";
  auto bad_token = NewGenericHelpdesk(o, http_.get());
  EXPECT_EQ(bad_token->FetchTicket("T 1").status().code(), Code::kUnauthenticated);
}

}  // namespace
}  // namespace deskpilot
