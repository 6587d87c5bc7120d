#include "helpdesk/helpscout/helpscout_helpdesk.h"

#include <stdlib.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "deskpilot/crypto.h"
#include "deskpilot/registry.h"
#include "deskpilot/rfc3339.h"
#include "helpdesk/helpscout/helpscout_fake.h"
#include "helpdesk/helpscout/register.h"

namespace deskpilot {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr char kSecret[] = "hs_secret_test";
// Computed independently:
//   printf '%s' BODY | openssl dgst -sha1 -hmac hs_secret_test -binary | base64
constexpr char kVectorBody[] =
    R"({"id":12345,"number":42,"subject":"Refund please","createdBy":{"id":501,"type":"customer"},"_embedded":{"threads":[{"id":9002,"type":"customer","createdAt":"2026-01-01T00:05:00Z","createdBy":{"id":501,"type":"customer"}},{"id":9001,"type":"customer","createdAt":"2026-01-01T00:00:00Z","createdBy":{"id":501,"type":"customer"}}]}})";
constexpr char kVectorSignature[] = "JBzUEMFEi9NlDoZRg27t0/Pt/Fo=";
const std::string kApiUser = "7";  // the fake's API user

HelpScoutOptions Options(const std::string& base_url = "http://127.0.0.1:1") {
  HelpScoutOptions o;
  o.name = "hs";
  o.base_url = base_url;
  o.app_id = "hs-app-id";
  o.app_secret = "hs-app-secret";
  o.webhook_secret = kSecret;
  o.api_user_id = kApiUser;
  o.request_timeout = milliseconds(3000);
  o.retry.base_delay = milliseconds(1);
  o.retry.max_delay = milliseconds(5);
  return o;
}

WebhookRequest Req(std::string_view body, std::map<std::string, std::string> headers = {}) {
  WebhookRequest r;
  r.body = body;
  r.headers = std::move(headers);
  r.now = std::chrono::system_clock::now();
  return r;
}

std::map<std::string, std::string> Event(const std::string& name) { return {{"x-helpscout-event", name}}; }

// Builds the adapter from a [[helpdesk]] table, as `deskpilot serve` does.
Result<std::unique_ptr<Helpdesk>> MakeFromConfig(HttpClient* http, const json& section,
                                                  bool webhook_admin_only = false) {
  Registry registry;
  RegisterHelpScoutHelpdesk(registry);
  ConfigSection s(section, "helpdesk[0]");
  AdapterContext ctx;
  ctx.section = &s;
  ctx.name = "hs";
  ctx.http = http;
  ctx.webhook_admin_only = webhook_admin_only;
  return registry.MakeHelpdesk("helpscout", ctx);
}

class HelpScoutWebhookTest : public ::testing::Test {
 protected:
  std::unique_ptr<HttpClient> http_ = NewCurlHttpClient();
  std::unique_ptr<Helpdesk> hd_ = NewHelpScoutHelpdesk(Options(), http_.get());
};

TEST_F(HelpScoutWebhookTest, AcceptsTheKnownSignatureVector) {
  EXPECT_TRUE(hd_->VerifyWebhook(Req(kVectorBody, {{"x-helpscout-signature", kVectorSignature}})).ok());
}

TEST_F(HelpScoutWebhookTest, RejectsTamperingWrongSecretMissingMalformedAndRepeatedSignatures) {
  auto rejected = [&](const WebhookRequest& r) {
    Status st = hd_->VerifyWebhook(r);
    EXPECT_EQ(st.code(), Code::kUnauthenticated) << st.ToString();
    EXPECT_EQ(st.message().find(kSecret), std::string::npos);
  };
  std::string tampered = kVectorBody;
  tampered[tampered.find("12345")] = '9';
  rejected(Req(tampered, {{"x-helpscout-signature", kVectorSignature}}));
  rejected(Req(kVectorBody, {{"x-helpscout-signature", Base64Encode(HmacSha1("other", kVectorBody))}}));
  // Hex of the right HMAC, or SHA-256: not what Help Scout sends.
  rejected(Req(kVectorBody, {{"x-helpscout-signature", HexEncode(HmacSha1(kSecret, kVectorBody))}}));
  rejected(Req(kVectorBody, {{"x-helpscout-signature", Base64Encode(HmacSha256(kSecret, kVectorBody))}}));
  rejected(Req(kVectorBody, {{"x-helpscout-signature", "not base64!"}}));
  rejected(Req(kVectorBody, {{"x-helpscout-signature", ""}}));
  rejected(Req(kVectorBody, {}));
  rejected(Req(kVectorBody, {{"x-helpscout-signature", std::string(kVectorSignature) + ", " + kVectorSignature}}));
  // No secret configured: nothing is accepted.
  HelpScoutOptions none = Options();
  none.webhook_secret.clear();
  EXPECT_EQ(NewHelpScoutHelpdesk(none, http_.get())
                ->VerifyWebhook(Req(kVectorBody, {{"x-helpscout-signature", Base64Encode(HmacSha1("", kVectorBody))}}))
                .code(),
            Code::kUnauthenticated);
}

TEST_F(HelpScoutWebhookTest, TriageEventsAndTheirDedupeKeys) {
  auto created = hd_->ParseWebhook(Req(kVectorBody, Event("convo.created")));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(created->ticket_id, "12345");
  EXPECT_EQ(created->event_type, "convo.created");
  EXPECT_EQ(created->dedupe_key, "helpscout:hs:convo.created:12345");
  EXPECT_TRUE(created->ignore_reason.empty());
  EXPECT_FALSE(created->self_caused);

  // A reply is keyed on the newest customer thread (9002, listed first here; the order
  // of the embedded list is not relied on).
  auto reply = hd_->ParseWebhook(Req(kVectorBody, Event("convo.customer.reply.created")));
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_EQ(reply->dedupe_key, "helpscout:hs:convo.customer.reply.created:12345:thread:9002");
  EXPECT_FALSE(reply->self_caused);
  // Help Scout's retry repeats it: the same key.
  EXPECT_EQ(hd_->ParseWebhook(Req(kVectorBody, Event("convo.customer.reply.created")))->dedupe_key, reply->dedupe_key);

  // A new customer reply is a new key; deskpilot's own note landing after it is not the
  // event (it would otherwise hide the reply).
  json next = json::parse(kVectorBody);
  next["_embedded"]["threads"].push_back({{"id", 9010},
                                          {"type", "customer"},
                                          {"createdAt", "2026-01-01T01:00:00Z"},
                                          {"createdBy", {{"id", 501}, {"type", "customer"}}}});
  next["_embedded"]["threads"].push_back({{"id", 9011},
                                          {"type", "note"},
                                          {"createdAt", "2026-01-01T01:00:05Z"},
                                          {"createdBy", {{"id", 7}, {"type", "user"}}}});
  auto second = hd_->ParseWebhook(Req(next.dump(), Event("convo.customer.reply.created")));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->dedupe_key, "helpscout:hs:convo.customer.reply.created:12345:thread:9010");
  EXPECT_FALSE(second->self_caused);

  // Without embedded threads, the body's hash identifies the delivery.
  const std::string bare = R"({"id":12345,"subject":"x"})";
  auto no_threads = hd_->ParseWebhook(Req(bare, Event("convo.customer.reply.created")));
  ASSERT_TRUE(no_threads.ok());
  EXPECT_EQ(no_threads->dedupe_key, "helpscout:hs:convo.customer.reply.created:12345:sha256:" + Sha256Hex(bare));
}

TEST_F(HelpScoutWebhookTest, OtherEventsAreAcknowledgedWithAReason) {
  for (const char* event : {"convo.agent.reply.created", "convo.note.created", "convo.assigned",
                            "convo.status", "convo.deleted", "customer.created", "satisfaction.ratings"}) {
    // convo.deleted carries only {id}; customer events a customer object.
    auto ev = hd_->ParseWebhook(Req(R"({"id":12345})", Event(event)));
    ASSERT_TRUE(ev.ok()) << event << ": " << ev.status().ToString();
    EXPECT_EQ(ev->ignore_reason, std::string("helpscout event ") + event +
                                     " does not start triage (only convo.created and convo.customer.reply.created do)");
    EXPECT_EQ(ev->event_type, event);
  }
}

// An agent approves a draft by adding the approval tag, which Help Scout reports only as
// convo.tags (the conversation after the change). Such a change is queued; every other
// tag change, deskpilot's own tag writes among them, is acknowledged and dropped.
TEST_F(HelpScoutWebhookTest, TagChangesAreQueuedOnlyWhenTheyLeaveTheApprovalTag) {
  HelpScoutOptions o = Options();
  o.approval_tag = "deskpilot_approved";
  auto hd = NewHelpScoutHelpdesk(o, http_.get());
  auto body = [](std::vector<std::string> tags) {
    json c = {{"id", 12345}, {"createdBy", {{"id", 501}, {"type", "customer"}}}, {"tags", json::array()}};
    for (size_t i = 0; i < tags.size(); ++i) c["tags"].push_back({{"id", 100 + i}, {"color", "#929499"}, {"tag", tags[i]}});
    return c.dump();
  };

  // deskpilot's own tag write (or an agent's unrelated one): no approval tag, not queued.
  auto own = hd->ParseWebhook(Req(body({"vip", "deskpilot", "billing"}), Event("convo.tags")));
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  EXPECT_EQ(own->ignore_reason, "helpscout event convo.tags without the approval tag \"deskpilot_approved\" does not start triage");
  EXPECT_EQ(hd->ParseWebhook(Req(body({}), Event("convo.tags")))->ignore_reason, own->ignore_reason);
  // A tag merely containing it is another tag.
  EXPECT_FALSE(hd->ParseWebhook(Req(body({"deskpilot_approved_not"}), Event("convo.tags")))->ignore_reason.empty());

  // The agent's approval: queued, keyed on the body (a retry repeats it byte for byte),
  // matched without case.
  const std::string approving = body({"vip", "Deskpilot_Approved"});
  auto ev = hd->ParseWebhook(Req(approving, Event("convo.tags")));
  ASSERT_TRUE(ev.ok()) << ev.status().ToString();
  EXPECT_TRUE(ev->ignore_reason.empty()) << ev->ignore_reason;
  EXPECT_EQ(ev->ticket_id, "12345");
  EXPECT_EQ(ev->event_type, kApprovalTagEvent) << "it may approve, never start triage";
  EXPECT_EQ(ev->dedupe_key, "helpscout:hs:convo.tags:12345:sha256:" + Sha256Hex(approving));
  EXPECT_FALSE(ev->self_caused);
  EXPECT_EQ(hd->ParseWebhook(Req(approving, Event("convo.tags")))->dedupe_key, ev->dedupe_key);
  // A later change that keeps the tag (deskpilot's reply adds none, an agent's might) is
  // another delivery; the worker then finds the draft already posted.
  EXPECT_NE(hd->ParseWebhook(Req(body({"vip", "deskpilot_approved", "later"}), Event("convo.tags")))->dedupe_key,
            ev->dedupe_key);
  // The approving change still needs a conversation id to act on.
  EXPECT_EQ(hd->ParseWebhook(Req(R"({"id":"x","tags":[{"tag":"deskpilot_approved"}]})", Event("convo.tags")))
                .status()
                .code(),
            Code::kInvalidArgument);

  // With approval by tag off (policy.approval_tag empty), no tag change is queued.
  auto off = hd_->ParseWebhook(Req(approving, Event("convo.tags")));
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off->ignore_reason,
            "helpscout event convo.tags is only queued to approve a draft, and policy.approval_tag is empty");
}

TEST_F(HelpScoutWebhookTest, MalformedPayloadsAreInvalidArgument) {
  for (const char* bad : {"", "{", "[1]", "null", R"({"subject":"no id"})", R"({"id":"abc"})", R"({"id":0})",
                          R"({"id":-4})", R"({"id":4.5})", R"({"id":42} trailing)"}) {
    auto r = hd_->ParseWebhook(Req(bad, Event("convo.created")));
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("helpscout webhook"), std::string::npos) << r.status().ToString();
  }
  // Malformed JSON is refused whatever the event, so a broken sender is noticed.
  EXPECT_EQ(hd_->ParseWebhook(Req("{", Event("convo.tags"))).status().code(), Code::kInvalidArgument);
  auto no_event = hd_->ParseWebhook(Req(kVectorBody));
  EXPECT_EQ(no_event.status().code(), Code::kInvalidArgument);
  EXPECT_NE(no_event.status().message().find("X-HelpScout-Event"), std::string::npos);
}

TEST_F(HelpScoutWebhookTest, ThreadsAndConversationsByTheApiUserAreSelfCaused) {
  // A customer thread the API user created (an agent writing on the customer's behalf).
  auto by_us = hd_->ParseWebhook(Req(
      R"({"id":5,"_embedded":{"threads":[{"id":11,"type":"customer","createdAt":"2026-01-01T00:00:00Z","createdBy":{"id":7,"type":"user"}}]}})",
      Event("convo.customer.reply.created")));
  ASSERT_TRUE(by_us.ok());
  EXPECT_TRUE(by_us->self_caused);
  // A conversation the API user opened.
  auto opened = hd_->ParseWebhook(Req(R"({"id":5,"createdBy":{"id":7,"type":"user"}})", Event("convo.created")));
  ASSERT_TRUE(opened.ok());
  EXPECT_TRUE(opened->self_caused);
  // Customers and users are numbered apart: customer 7 is not the API user.
  auto customer7 = hd_->ParseWebhook(Req(
      R"({"id":5,"_embedded":{"threads":[{"id":11,"type":"customer","createdAt":"2026-01-01T00:00:00Z","createdBy":{"id":7,"type":"customer"}}]}})",
      Event("convo.customer.reply.created")));
  ASSERT_TRUE(customer7.ok());
  EXPECT_FALSE(customer7->self_caused);
  // "70" is not "7".
  EXPECT_FALSE(
      hd_->ParseWebhook(Req(R"({"id":5,"createdBy":{"id":70,"type":"user"}})", Event("convo.created")))->self_caused);
}

TEST(HelpScoutConfigTest, FactoryValidatesKeys) {
  setenv("DP_HS_TEST_SECRET", "app-secret", 1);
  setenv("DP_HS_TEST_HOOK", "hook-secret", 1);
  setenv("DP_HS_TEST_EMPTY", "", 1);
  setenv("DP_HS_TEST_LONG", std::string(41, 'x').c_str(), 1);
  setenv("DP_HS_TEST_40", std::string(40, 'x').c_str(), 1);
  auto http = NewCurlHttpClient();
  auto make = [&](const json& section) { return MakeFromConfig(http.get(), section); };
  json good = {{"name", "hs"},
               {"type", "helpscout"},
               {"app_id", "abc123"},
               {"app_secret_env", "DP_HS_TEST_SECRET"},
               {"webhook_secret_env", "DP_HS_TEST_HOOK"},
               {"api_user_id", 7},
               {"priority_tag_prefix", "prio-"},
               {"assign_users", {{"escalations", 42}}},
               {"mailboxes", {{"billing", "1001"}}},
               {"custom_fields", {{"category", 88}}}};
  auto hd = make(good);
  ASSERT_TRUE(hd.ok()) << hd.status().ToString();
  EXPECT_EQ((*hd)->type(), "helpscout");
  json forty = good;
  forty["webhook_secret_env"] = "DP_HS_TEST_40";
  EXPECT_TRUE(make(forty).ok());

  auto error_names = [&](json section, const std::string& key) {
    auto r = make(section);
    ASSERT_FALSE(r.ok()) << section.dump();
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find(key), std::string::npos) << r.status().ToString();
  };
  json unknown = good;
  unknown["colour"] = "blue";
  error_names(unknown, "colour");
  json v2 = good;
  v2["base_url"] = "https://api.helpscout.net/v2/";
  error_names(v2, "base_url");
  json scheme = good;
  scheme["base_url"] = "api.helpscout.net";
  error_names(scheme, "base_url");
  json no_app = good;
  no_app.erase("app_id");
  error_names(no_app, "app_id");
  json no_secret = good;
  no_secret.erase("app_secret_env");
  error_names(no_secret, "app_secret");
  json inline_secret = good;
  inline_secret.erase("app_secret_env");
  inline_secret["app_secret"] = "s";
  error_names(inline_secret, "app_secret");
  json no_hook = good;
  no_hook.erase("webhook_secret_env");
  error_names(no_hook, "webhook_secret");
  json empty_hook = good;
  empty_hook["webhook_secret_env"] = "DP_HS_TEST_EMPTY";
  error_names(empty_hook, "webhook_secret_env");
  json long_hook = good;
  long_hook["webhook_secret_env"] = "DP_HS_TEST_LONG";
  error_names(long_hook, "at most 40");
  json no_user = good;
  no_user.erase("api_user_id");
  error_names(no_user, "api_user_id");
  json bad_user = good;
  bad_user["api_user_id"] = "bot";
  error_names(bad_user, "api_user_id");
  json empty_prefix = good;
  empty_prefix["priority_tag_prefix"] = "";
  error_names(empty_prefix, "priority_tag_prefix");
  json bad_mailbox = good;
  bad_mailbox["mailboxes"]["billing"] = "Billing";
  error_names(bad_mailbox, "mailboxes.billing");
  json both = good;
  both["mailboxes"]["escalations"] = 5;
  error_names(both, "mailboxes.escalations");
  json bad_field = good;
  bad_field["custom_fields"]["category"] = "Category";
  error_names(bad_field, "custom_fields.category");
}

// The adapter against the loopback Help Scout fake, over real HTTP.
class HelpScoutAdapterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fake_.Start().ok());
    customer_ = fake_.AddCustomer("Bob", "Customer", "bob@example.com");
    hd_ = Make(Options(fake_.base_url()));
  }
  std::unique_ptr<Helpdesk> Make(HelpScoutOptions o) {
    o.assign_users = {{"escalations", "42"}};
    o.mailboxes = {{"billing", "2002"}};
    o.custom_fields = {{"category", "88"}};
    o.sleep = [this](milliseconds d) { slept_.push_back(d); };
    o.clock = [this] { return now_; };
    return NewHelpScoutHelpdesk(o, http_.get());
  }

  int64_t NewConversation(const std::string& html = "<p>My password reset mail never arrives.</p>") {
    return fake_.AddConversation("Cannot log in", customer_, html, {"vip", "deskpilot"});
  }
  Ticket Fetch(int64_t id) {
    auto t = hd_->FetchTicket(std::to_string(id));
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? *t : Ticket{};
  }
  int Count(const std::string& method, const std::string& prefix) { return fake_.CountRequests(method, prefix); }
  // The calls made since `from`, as "METHOD path".
  std::vector<std::string> CallsSince(size_t from) {
    std::vector<std::string> calls;
    auto log = fake_.Requests();
    for (size_t i = from; i < log.size(); ++i) calls.push_back(log[i].method + " " + log[i].path);
    return calls;
  }

  HelpScoutFake fake_;
  int64_t customer_ = 0;
  std::vector<milliseconds> slept_;
  std::chrono::system_clock::time_point now_ = std::chrono::system_clock::now();
  std::unique_ptr<HttpClient> http_ = NewCurlHttpClient();
  std::unique_ptr<Helpdesk> hd_;
};

TEST_F(HelpScoutAdapterTest, TokenIsFetchedOnceByClientCredentialsAndReused) {
  const int64_t id = NewConversation();
  Fetch(id);
  Fetch(id);
  EXPECT_EQ(fake_.TokensIssued(), 1);
  auto log = fake_.Requests();
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log[0].method, "POST");
  EXPECT_EQ(log[0].path, "/v2/oauth2/token");
  EXPECT_EQ(log[0].content_type, "application/x-www-form-urlencoded");
  EXPECT_EQ(log[0].body, "grant_type=client_credentials&client_id=hs-app-id&client_secret=hs-app-secret");
  for (size_t i = 1; i < log.size(); ++i) EXPECT_EQ(log[i].authorization, "Bearer hs-token-1") << log[i].path;
  EXPECT_EQ(Count("POST", "/v2/oauth2/token"), 1);

  // Close to its expiry (48 h, renewed 5 min early) a new one is fetched first.
  now_ += std::chrono::hours(48) - std::chrono::minutes(4);
  Fetch(id);
  EXPECT_EQ(fake_.TokensIssued(), 2);
  EXPECT_EQ(fake_.Requests().back().authorization, "Bearer hs-token-2");
}

TEST_F(HelpScoutAdapterTest, ConcurrentWorkersShareOneToken) {
  const int64_t id = NewConversation();
  std::vector<std::thread> workers;
  std::atomic<int> ok{0};
  for (int i = 0; i < 6; ++i)
    workers.emplace_back([&] { ok += hd_->FetchTicket(std::to_string(id)).ok() ? 1 : 0; });
  for (auto& w : workers) w.join();
  EXPECT_EQ(ok.load(), 6);
  EXPECT_EQ(fake_.TokensIssued(), 1);
}

TEST_F(HelpScoutAdapterTest, ARefusedTokenIsReplacedOnceAndTheCallRetried) {
  const int64_t id = NewConversation();
  Fetch(id);
  fake_.RevokeTokens();
  const size_t before = fake_.Requests().size();
  Ticket t = Fetch(id);
  EXPECT_EQ(t.subject, "Cannot log in");
  EXPECT_EQ(fake_.TokensIssued(), 2);
  const std::string sid = std::to_string(id);
  EXPECT_EQ(CallsSince(before), (std::vector<std::string>{"GET /v2/conversations/" + sid, "POST /v2/oauth2/token",
                                                          "GET /v2/conversations/" + sid,
                                                          "GET /v2/conversations/" + sid + "/threads"}));
  // A 401 that persists with a fresh token is the answer: unauthenticated, one refresh only.
  fake_.InjectFault({"GET", "/v2/conversations/", 401, 2, ""});
  auto r = hd_->FetchTicket(sid);
  EXPECT_EQ(r.status().code(), Code::kUnauthenticated) << r.status().ToString();
  EXPECT_EQ(fake_.TokensIssued(), 3);
}

TEST_F(HelpScoutAdapterTest, BadAppCredentialsAreUnauthenticatedAndNeverQuoteTheSecret) {
  HelpScoutOptions o = Options(fake_.base_url());
  o.app_secret = "wrong-secret";
  auto hd = Make(o);
  auto r = hd->FetchTicket(std::to_string(NewConversation()));
  EXPECT_EQ(r.status().code(), Code::kUnauthenticated) << r.status().ToString();
  EXPECT_FALSE(r.status().retryable());
  EXPECT_NE(r.status().message().find("app_id and app_secret"), std::string::npos);
  EXPECT_EQ(r.status().message().find("wrong-secret"), std::string::npos);
  EXPECT_EQ(Count("POST", "/v2/oauth2/token"), 1);
  EXPECT_EQ(Count("GET", "/v2/conversations"), 0);
}

TEST_F(HelpScoutAdapterTest, FetchMapsConversationThreadTypesNotesAndHtml) {
  const int64_t id = NewConversation(
      "<div>Hello&nbsp;team,</div><p>The invoice shows &#8364;12 &amp; not $10.</p><ul><li>one</li></ul>");
  fake_.AddThread(id, "lineitem", "Assigned to Alice", "user", 33);
  fake_.AddThread(id, "message", "<p>Looking into it.</p><p>Alice</p>", "user", 33);
  fake_.AddThread(id, "note", "internal: check SSO", "user", 33);
  fake_.AddThread(id, "message", "<p>unsent draft</p>", "user", 33, "draft");
  fake_.AddThread(id, "customer", "Still nothing<br>Bob", "customer", customer_);
  fake_.AddThread(id, "chat", "chat from the customer", "customer", customer_);
  fake_.AddThread(id, "forwardparent", "fwd to finance", "user", 33);
  fake_.SetCustomFields(id, json::array({{{"id", 88}, {"name", "Category"}, {"value", "501"}, {"text", "Billing"}}}));
  Ticket t = Fetch(id);
  EXPECT_EQ(t.id, std::to_string(id));
  EXPECT_EQ(t.source, "hs");
  EXPECT_EQ(t.subject, "Cannot log in");
  EXPECT_EQ(t.status, "active");
  EXPECT_EQ(t.channel, "email");
  EXPECT_EQ(t.description, "Hello team,\n\nThe invoice shows \u20ac12 & not $10.\n\n- one");
  EXPECT_EQ(t.requester.email, "bob@example.com");
  EXPECT_EQ(t.requester.name, "Bob Customer");
  EXPECT_EQ(t.tags, (std::vector<std::string>{"vip", "deskpilot"}));
  EXPECT_EQ(t.custom_fields.at("Category"), "Billing");
  EXPECT_EQ(t.priority, "");
  ASSERT_EQ(t.comments.size(), 6u);  // lineitem and draft skipped
  EXPECT_EQ(t.comments[0].author_role, AuthorRole::kCustomer);
  EXPECT_TRUE(t.comments[0].is_public);
  EXPECT_EQ(t.comments[0].author_id, std::to_string(customer_));
  EXPECT_EQ(t.comments[1].author_role, AuthorRole::kAgent);
  EXPECT_TRUE(t.comments[1].is_public);
  EXPECT_EQ(t.comments[1].body, "Looking into it.\n\nAlice");
  EXPECT_EQ(t.comments[2].author_role, AuthorRole::kAgent);
  EXPECT_FALSE(t.comments[2].is_public);
  EXPECT_EQ(t.comments[3].author_role, AuthorRole::kCustomer);
  EXPECT_EQ(t.comments[3].body, "Still nothing\nBob");
  EXPECT_EQ(t.comments[4].author_role, AuthorRole::kCustomer);  // chat by the customer
  EXPECT_EQ(t.comments[5].author_role, AuthorRole::kAgent);     // a forward: never the customer's
  EXPECT_FALSE(t.comments[5].is_public);
  for (const auto& c : t.comments) EXPECT_FALSE(c.by_deskpilot);
}

TEST_F(HelpScoutAdapterTest, ThePriorityTagReadsBackAsThePriorityHighestFirst) {
  const int64_t id = fake_.AddConversation("Two priorities", customer_, "hi", {"priority-urgent", "vip", "Priority-Low"});
  EXPECT_EQ(Fetch(id).priority, "urgent");
  HelpScoutOptions o = Options(fake_.base_url());
  o.priority_tag_prefix = "p:";
  EXPECT_EQ(Make(o)->FetchTicket(std::to_string(id))->priority, "");
}

TEST_F(HelpScoutAdapterTest, ThreadsAreReadAcrossPages) {
  HelpScoutFakeOptions fo;
  fo.threads_page_size = 2;
  HelpScoutFake paged(fo);
  ASSERT_TRUE(paged.Start().ok());
  const int64_t customer = paged.AddCustomer("Ann", "Lee", "ann@example.com");
  const int64_t id = paged.AddConversation("Paged", customer, "first");
  for (int i = 0; i < 4; ++i) paged.AddThread(id, "customer", "more " + std::to_string(i), "customer", customer);
  auto hd = Make(Options(paged.base_url()));
  auto t = hd->FetchTicket(std::to_string(id));
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->comments.size(), 5u);
  EXPECT_EQ(t->comments.front().body, "first");
  EXPECT_EQ(t->comments.back().body, "more 3");
  EXPECT_EQ(t->description, "first");
  EXPECT_EQ(paged.CountRequests("GET", "/v2/conversations/" + std::to_string(id) + "/threads"), 3);
}

TEST_F(HelpScoutAdapterTest, TheApiUsersThreadsAndMarkedNotesAreDeskpilots) {
  const int64_t id = NewConversation();
  fake_.AddThread(id, "note", "deskpilot triage<br><br>deskpilot-ref: k1", "user", 7);
  fake_.AddThread(id, "note", "<p>see deskpilot-ref: k1</p>", "user", 33);
  fake_.AddThread(id, "customer", "deskpilot-ref: k1", "customer", customer_);
  // A customer whose id happens to be the API user's is still the customer.
  const int64_t seven = fake_.AddCustomer("Seven", "Customer", "seven@example.com", 7);
  fake_.AddThread(id, "customer", "I am customer 7", "customer", seven);
  Ticket t = Fetch(id);
  ASSERT_EQ(t.comments.size(), 5u);
  EXPECT_TRUE(t.comments[1].by_deskpilot);
  EXPECT_EQ(t.comments[1].body, "deskpilot triage\n\ndeskpilot-ref: k1");
  EXPECT_TRUE(t.comments[2].by_deskpilot);
  EXPECT_FALSE(t.comments[3].by_deskpilot);
  EXPECT_EQ(t.comments[3].author_role, AuthorRole::kCustomer);
  EXPECT_FALSE(t.comments[4].by_deskpilot);
  EXPECT_EQ(t.comments[4].author_role, AuthorRole::kCustomer);
}

TEST_F(HelpScoutAdapterTest, DeletedConversationsAndBadIds) {
  const int64_t id = NewConversation();
  fake_.DeleteConversation(id);
  auto gone = hd_->FetchTicket(std::to_string(id));
  EXPECT_EQ(gone.status().code(), Code::kNotFound) << gone.status().ToString();
  EXPECT_FALSE(gone.status().retryable());
  EXPECT_EQ(Count("GET", "/v2/conversations/"), 1);  // never retried
  for (const char* id_text : {"", "12abc", "0", "-1", "../users/1"})
    EXPECT_EQ(hd_->FetchTicket(id_text).status().code(), Code::kInvalidArgument) << id_text;
}

TEST_F(HelpScoutAdapterTest, ReadsRetryOn429HonouringRateLimitRetryAfterAnd5xx) {
  const int64_t id = NewConversation();
  fake_.InjectFault({"GET", "/v2/conversations/" + std::to_string(id) + "/threads", 429, 1, "3"});
  fake_.InjectFault({"GET", "/v2/conversations/", 503, 1, ""});
  Ticket t = Fetch(id);
  EXPECT_EQ(t.comments.size(), 1u);
  ASSERT_EQ(slept_.size(), 2u);
  EXPECT_GE(slept_[1], milliseconds(3000));  // Help Scout's X-RateLimit-Retry-After
}

WritePlan Plan(const std::string& key, bool with_reply) {
  WritePlan plan;
  plan.idempotency_key = key;
  plan.actions = {
      {ActionType::kSetTags, {"deskpilot", "deskpilot_cat_login"}, "", ""},
      {ActionType::kSetPriority, {}, "high", ""},
      {ActionType::kSetCustomField, {}, "account_access", "category"},
      {ActionType::kAddInternalNote, {}, "Summary: cannot log in & <locked>.\n\ndeskpilot-ref: " + key, ""},
  };
  if (with_reply) plan.actions.push_back({ActionType::kAddPublicReply, {}, "Please check your spam folder.", ""});
  return plan;
}

TEST_F(HelpScoutAdapterTest, ApplyWritesExactlyTheExpectedCalls) {
  const int64_t id = NewConversation();
  const std::string sid = std::to_string(id);
  Ticket before = Fetch(id);
  // An agent tags the conversation after deskpilot's snapshot: the tag must survive.
  fake_.AddThread(id, "lineitem", "tagged", "user", 33);
  ASSERT_TRUE(http_->Send({"PUT", fake_.base_url() + "/v2/conversations/" + sid + "/tags",
                           {{"Authorization", "Bearer hs-token-1"}, {"Content-Type", "application/json"}},
                           R"({"tags":["vip","deskpilot","refund-requested"]})"})
                  .ok());
  fake_.SetCustomFields(id, json::array({{{"id", 90}, {"name", "Plan"}, {"value", "pro"}, {"text", "pro"}}}));
  const size_t from = fake_.Requests().size();
  Status st = hd_->Apply(before, Plan("dp-1", false));
  ASSERT_TRUE(st.ok()) << st.ToString();

  EXPECT_EQ(CallsSince(from),
            (std::vector<std::string>{"GET /v2/conversations/" + sid + "/threads", "GET /v2/conversations/" + sid,
                                      "GET /v2/mailboxes/1/fields", "POST /v2/conversations/" + sid + "/notes",
                                      "PUT /v2/conversations/" + sid + "/tags", "PUT /v2/conversations/" + sid + "/fields"}));
  auto log = fake_.Requests();
  // The note: the text as HTML, escaped, lines kept.
  EXPECT_EQ(json::parse(log[from + 3].body),
            json({{"text", "Summary: cannot log in &amp; &lt;locked&gt;.<br><br>deskpilot-ref: dp-1"}}));
  // Tags: the whole set as read just before, plus the missing ones and the priority tag.
  EXPECT_EQ(json::parse(log[from + 4].body),
            json({{"tags", {"vip", "deskpilot", "refund-requested", "deskpilot_cat_login", "priority-high"}}}));
  EXPECT_EQ(fake_.Tags(id),
            (std::vector<std::string>{"vip", "deskpilot", "refund-requested", "deskpilot_cat_login", "priority-high"}));
  // Fields: the other field kept, the mapped one (category → 88) set.
  EXPECT_EQ(json::parse(log[from + 5].body),
            json({{"fields", {{{"id", 90}, {"value", "pro"}}, {{"id", 88}, {"value", "account_access"}}}}}));
  // No reply was planned, so none went out.
  EXPECT_EQ(Count("POST", "/v2/conversations/" + sid + "/reply"), 0);

  Ticket after = Fetch(id);
  EXPECT_EQ(after.priority, "high");
  ASSERT_FALSE(after.comments.empty());
  EXPECT_TRUE(after.comments.back().by_deskpilot);
  EXPECT_FALSE(after.comments.back().is_public);
  EXPECT_EQ(after.comments.back().body, "Summary: cannot log in & <locked>.\n\ndeskpilot-ref: dp-1");

  // The same plan again: nothing new is written (note found, tags and fields as they are),
  // and the mailbox's field definitions are not read again.
  const size_t again = fake_.Requests().size();
  ASSERT_TRUE(hd_->Apply(before, Plan("dp-1", false)).ok());
  EXPECT_EQ(CallsSince(again), (std::vector<std::string>{"GET /v2/conversations/" + sid + "/threads",
                                                         "GET /v2/conversations/" + sid}));
}

// Mailbox 1's fields as List Mailbox Custom Fields shows them: category (88) a drop-down,
// plan (90) a single-line text field.
json MailboxFields(const std::string& category_type = "dropdown") {
  return json::array({{{"id", 88},
                       {"name", "Category"},
                       {"type", category_type},
                       {"required", false},
                       {"order", 1},
                       {"options",
                        {{{"id", 501}, {"order", 1}, {"label", "Billing"}},
                         {{"id", 502}, {"order", 2}, {"label", "Account access"}},
                         {{"id", 503}, {"order", 3}, {"label", "Refund"}},
                         {{"id", 504}, {"order", 4}, {"label", "refund"}}}}},
                      {{"id", 90}, {"name", "Plan"}, {"type", "singleline"}, {"required", false}, {"order", 2},
                       {"options", json::array()}}});
}

WritePlan FieldPlan(const std::string& key, const std::string& category) {
  WritePlan plan;
  plan.idempotency_key = key;
  plan.actions = {{ActionType::kSetCustomField, {}, category, "category"},
                  {ActionType::kAddInternalNote, {}, "note\n\ndeskpilot-ref: " + key, ""}};
  return plan;
}

TEST_F(HelpScoutAdapterTest, ADropDownValueIsWrittenAsItsOptionIdAndReadBackAsItsLabel) {
  fake_.SetMailboxFields(1, MailboxFields());
  const int64_t id = NewConversation();
  const std::string sid = std::to_string(id);
  fake_.SetCustomFields(id, json::array({{{"id", 90}, {"name", "Plan"}, {"value", "pro"}, {"text", "pro"}}}));
  // deskpilot's label "account_access" is the option "Account access": case ignored, '_' a space.
  ASSERT_TRUE(hd_->Apply(Fetch(id), FieldPlan("f1", "account_access")).ok());
  auto log = fake_.Requests();
  EXPECT_EQ(log.back().method + " " + log.back().path, "PUT /v2/conversations/" + sid + "/fields");
  EXPECT_EQ(json::parse(log.back().body),
            json({{"fields", {{{"id", 90}, {"value", "pro"}}, {{"id", 88}, {"value", "502"}}}}}));
  // Read back, the drop-down is its label (Help Scout's "text"), the text field its text.
  Ticket t = Fetch(id);
  EXPECT_EQ(t.custom_fields.at("Category"), "Account access");
  EXPECT_EQ(t.custom_fields.at("Plan"), "pro");
  // An exact match (ignoring case) wins over a match with '_'/'-' as spaces.
  ASSERT_TRUE(hd_->Apply(t, FieldPlan("f2", "BILLING")).ok());
  EXPECT_EQ(json::parse(fake_.Requests().back().body),
            json({{"fields", {{{"id", 90}, {"value", "pro"}}, {{"id", 88}, {"value", "501"}}}}}));
  EXPECT_EQ(Fetch(id).custom_fields.at("Category"), "Billing");
}

TEST_F(HelpScoutAdapterTest, ATextFieldIsWrittenAsTextAsBefore) {
  fake_.SetMailboxFields(1, MailboxFields("singleline"));
  const int64_t id = NewConversation();
  ASSERT_TRUE(hd_->Apply(Fetch(id), FieldPlan("t1", "account_access")).ok());
  EXPECT_EQ(json::parse(fake_.Requests().back().body), json({{"fields", {{{"id", 88}, {"value", "account_access"}}}}}));
  EXPECT_EQ(Fetch(id).custom_fields.at("Category"), "account_access");
}

TEST_F(HelpScoutAdapterTest, AValueNoDropDownOptionMatchesIsNotWrittenAndTheNoteSaysWhy) {
  fake_.SetMailboxFields(1, MailboxFields());
  const int64_t id = NewConversation();
  const std::string sid = std::to_string(id);
  ASSERT_TRUE(hd_->Apply(Fetch(id), FieldPlan("u1", "shipping")).ok());
  EXPECT_EQ(Count("PUT", "/v2/conversations/" + sid + "/fields"), 0);
  EXPECT_EQ(fake_.Threads(id).back()["body"],
            "note<br><br>deskpilot-ref: u1<br><br>Not written to Help Scout:<br>- category: shipping (no drop-down "
            "option has this label in drop-down field 88)");
  // Two options with the same label (ignoring case) name no single option either.
  ASSERT_TRUE(hd_->Apply(Fetch(id), FieldPlan("u2", "Refund")).ok());
  EXPECT_EQ(Count("PUT", "/v2/conversations/" + sid + "/fields"), 0);
  EXPECT_EQ(fake_.Threads(id).back()["body"],
            "note<br><br>deskpilot-ref: u2<br><br>Not written to Help Scout:<br>- category: Refund (several drop-down "
            "options match it in drop-down field 88)");
  EXPECT_TRUE(Fetch(id).custom_fields.empty());
}

TEST_F(HelpScoutAdapterTest, FieldDefinitionsAreReadOncePerMailboxForTenMinutes) {
  fake_.SetMailboxFields(1, MailboxFields());
  const int64_t a = NewConversation(), b = NewConversation();
  ASSERT_TRUE(hd_->Apply(Fetch(a), FieldPlan("c1", "billing")).ok());
  ASSERT_TRUE(hd_->Apply(Fetch(b), FieldPlan("c2", "refund")).ok());  // unwritten, still no new read
  ASSERT_TRUE(hd_->Apply(Fetch(b), FieldPlan("c3", "billing")).ok());
  EXPECT_EQ(Count("GET", "/v2/mailboxes/1/fields"), 1);
  EXPECT_EQ(fake_.Conversation(b)["customFields"][0]["text"], "Billing");
  // An option the admin adds is seen once the definitions are older than ten minutes.
  json fields = MailboxFields();
  fields[0]["options"].push_back({{"id", 505}, {"order", 5}, {"label", "Shipping"}});
  fake_.SetMailboxFields(1, fields);
  now_ += std::chrono::minutes(9);
  ASSERT_TRUE(hd_->Apply(Fetch(a), FieldPlan("c4", "shipping")).ok());
  EXPECT_EQ(fake_.Conversation(a)["customFields"][0]["text"], "Billing");
  now_ += std::chrono::minutes(2);
  ASSERT_TRUE(hd_->Apply(Fetch(a), FieldPlan("c5", "shipping")).ok());
  EXPECT_EQ(Count("GET", "/v2/mailboxes/1/fields"), 2);
  EXPECT_EQ(fake_.Conversation(a)["customFields"][0]["text"], "Shipping");
}

TEST_F(HelpScoutAdapterTest, GroupsAssignOrMoveOnlyThroughTheMapElseTheNoteNamesThem) {
  const int64_t id = NewConversation();
  const std::string sid = std::to_string(id);
  WritePlan plan;
  plan.idempotency_key = "g1";
  plan.actions = {{ActionType::kSetGroup, {}, "escalations", ""},
                  {ActionType::kAddInternalNote, {}, "note\n\ndeskpilot-ref: g1", ""}};
  ASSERT_TRUE(hd_->Apply(Fetch(id), plan).ok());
  EXPECT_EQ(json::parse(fake_.Requests().back().body), json({{"op", "replace"}, {"path", "/assignTo"}, {"value", 42}}));
  EXPECT_EQ(fake_.Conversation(id)["assignee"]["id"], 42);
  EXPECT_EQ(Fetch(id).group, "escalations");

  plan.idempotency_key = "g2";
  plan.actions = {{ActionType::kSetGroup, {}, "billing", ""},
                  {ActionType::kAddInternalNote, {}, "note\n\ndeskpilot-ref: g2", ""}};
  ASSERT_TRUE(hd_->Apply(Fetch(id), plan).ok());
  EXPECT_EQ(json::parse(fake_.Requests().back().body), json({{"op", "move"}, {"path", "/mailboxId"}, {"value", 2002}}));
  EXPECT_EQ(fake_.Conversation(id)["mailboxId"], 2002);

  // Not mapped: no PATCH; the note says what was not written.
  plan.idempotency_key = "g3";
  plan.actions = {{ActionType::kSetGroup, {}, "sales", ""},
                  {ActionType::kSetCustomField, {}, "x", "unmapped_field"},
                  {ActionType::kAddInternalNote, {}, "note\n\ndeskpilot-ref: g3", ""}};
  const int patches = Count("PATCH", "/v2/conversations/");
  ASSERT_TRUE(hd_->Apply(Fetch(id), plan).ok());
  EXPECT_EQ(Count("PATCH", "/v2/conversations/"), patches);
  EXPECT_EQ(Count("PUT", "/v2/conversations/" + sid + "/fields"), 0);
  EXPECT_EQ(fake_.Threads(id).back()["body"],
            "note<br><br>deskpilot-ref: g3<br><br>Not written to Help Scout:<br>- group: sales (not in [assign_users] or "
            "[mailboxes]; route it by hand)<br>- unmapped_field: x (not in [custom_fields])");
}

TEST_F(HelpScoutAdapterTest, PublicReplyOnlyWhenPlannedAndRetriesWriteOnce) {
  const int64_t id = NewConversation();
  const std::string sid = std::to_string(id);
  Ticket before = Fetch(id);
  ASSERT_TRUE(hd_->Apply(before, Plan("dp-2", true)).ok());
  ASSERT_EQ(Count("POST", "/v2/conversations/" + sid + "/reply"), 1);
  auto log = fake_.Requests();
  json reply;
  for (const auto& r : log)
    if (r.path == "/v2/conversations/" + sid + "/reply") reply = json::parse(r.body);
  EXPECT_EQ(reply, json({{"customer", {{"id", customer_}}}, {"text", "Please check your spam folder."}, {"draft", false}}));
  EXPECT_EQ(fake_.Threads(id).back()["type"], "message");

  // A retry of the same plan, from the stale snapshot or a fresh one, writes nothing new.
  ASSERT_TRUE(hd_->Apply(before, Plan("dp-2", true)).ok());
  ASSERT_TRUE(hd_->Apply(Fetch(id), Plan("dp-2", true)).ok());
  EXPECT_EQ(fake_.Threads(id).size(), 3u);
  EXPECT_EQ(Count("POST", "/v2/conversations/" + sid + "/notes"), 1);
  EXPECT_EQ(Count("POST", "/v2/conversations/" + sid + "/reply"), 1);

  // A later plan with the same reply text, after the customer wrote again, posts it.
  fake_.AddThread(id, "customer", "Still nothing.", "customer", customer_);
  ASSERT_TRUE(hd_->Apply(Fetch(id), Plan("dp-3", true)).ok());
  EXPECT_EQ(Count("POST", "/v2/conversations/" + sid + "/reply"), 2);

  // An approval (a reply without a note) is held back until someone else wrote since.
  WritePlan approval;
  approval.idempotency_key = "approve-1";
  approval.actions = {{ActionType::kAddPublicReply, {}, "Please check your spam folder.", ""}};
  ASSERT_TRUE(hd_->Apply(Fetch(id), approval).ok());
  EXPECT_EQ(Count("POST", "/v2/conversations/" + sid + "/reply"), 2);
}

TEST_F(HelpScoutAdapterTest, RateLimitedWritesWaitTheRetryAfterThenSucceed) {
  const int64_t id = NewConversation();
  const std::string sid = std::to_string(id);
  Ticket before = Fetch(id);
  fake_.InjectFault({"POST", "/v2/conversations/" + sid + "/notes", 429, 1, "7"});
  fake_.InjectFault({"PUT", "/v2/conversations/" + sid + "/tags", 429, 1, "2"});
  Status st = hd_->Apply(before, Plan("dp-5", false));
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(slept_.size(), 2u);
  EXPECT_GE(slept_[0], milliseconds(7000));
  EXPECT_GE(slept_[1], milliseconds(2000));
  EXPECT_EQ(Count("POST", "/v2/conversations/" + sid + "/notes"), 2);
  EXPECT_EQ(fake_.Threads(id).size(), 2u);
  EXPECT_EQ(fake_.Tags(id).back(), "priority-high");
}

TEST_F(HelpScoutAdapterTest, LongRetryAfterGoesBackToTheQueue) {
  const int64_t id = NewConversation();
  fake_.InjectFault({"POST", "/v2/conversations/", 429, 10, "120"});
  Status st = hd_->Apply(Fetch(id), Plan("dp-6", false));
  EXPECT_EQ(st.code(), Code::kResourceExhausted) << st.ToString();
  ASSERT_TRUE(st.retry_after().has_value());
  EXPECT_EQ(*st.retry_after(), milliseconds(120000));
  EXPECT_TRUE(slept_.empty());
  EXPECT_EQ(fake_.Threads(id).size(), 1u);
}

TEST_F(HelpScoutAdapterTest, ANoteOrReplyWhoseAnswerWasLostIsNotPostedTwice) {
  const int64_t id = NewConversation();
  const std::string sid = std::to_string(id);
  Ticket before = Fetch(id);
  // Help Scout created the note and the reply, but each answer came back as a 502.
  for (const char* kind : {"/notes", "/reply"}) {
    HelpScoutFake::Fault lost{"POST", "/v2/conversations/" + sid + kind, 502, 1, ""};
    lost.after_serving = true;
    fake_.InjectFault(lost);
  }
  Status st = hd_->Apply(before, Plan("dp-7", true));
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Count("POST", "/v2/conversations/" + sid + "/notes"), 1);
  EXPECT_EQ(Count("POST", "/v2/conversations/" + sid + "/reply"), 1);
  EXPECT_EQ(fake_.Threads(id).size(), 3u);
}

TEST_F(HelpScoutAdapterTest, ClientErrorsAreNotRetried) {
  const int64_t id = NewConversation();
  const std::string sid = std::to_string(id);
  Ticket before = Fetch(id);
  fake_.InjectFault({"PUT", "/v2/conversations/" + sid + "/tags", 400, 1, ""});
  Status st = hd_->Apply(before, Plan("dp-8", false));
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st.ToString();
  EXPECT_FALSE(st.retryable());
  EXPECT_EQ(Count("PUT", "/v2/conversations/" + sid + "/tags"), 1);
  EXPECT_EQ(fake_.Threads(id).size(), 2u);  // the note went first and is there

  fake_.DeleteConversation(id);
  st = hd_->Apply(before, Plan("dp-9", false));
  EXPECT_EQ(st.code(), Code::kNotFound) << st.ToString();
  EXPECT_FALSE(st.retryable());
  EXPECT_EQ(Count("GET", "/v2/conversations/" + sid + "/threads"), 3);  // once per Apply, never retried
  EXPECT_EQ(hd_->Apply(Ticket{}, Plan("dp-10", false)).code(), Code::kInvalidArgument);
  EXPECT_TRUE(hd_->Apply(before, WritePlan{}).ok());
}

// Registration: GET /v2/webhooks finds nothing at the endpoint, so one POST creates the
// webhook with the two triage events and a fresh secret, and the secret it hands out is
// the one Help Scout signs with. A second run finds it by its URL and changes nothing.
TEST_F(HelpScoutAdapterTest, RegisterCreatesOneWebhookWithAFreshSecretThenChangesNothing) {
  const int64_t other = fake_.AddWebhook("https://crm.example.com/hook", {"convo.assigned"}, "crm-secret", "crm");
  WebhookAdmin* admin = hd_->webhook_admin();
  ASSERT_NE(admin, nullptr);
  const size_t from = fake_.Requests().size() + 1;  // after the token request
  auto reg = admin->RegisterWebhook("https://dp.example.com/webhooks/hs");
  ASSERT_TRUE(reg.ok()) << reg.status().ToString();
  EXPECT_EQ(CallsSince(from), (std::vector<std::string>{"GET /v2/webhooks", "POST /v2/webhooks"}));
  const auto log = fake_.Requests();
  EXPECT_EQ(log[from].params.at("page"), "1");
  EXPECT_EQ(log.back().content_type, "application/json");
  EXPECT_EQ(json::parse(log.back().body),
            json({{"url", "https://dp.example.com/webhooks/hs"},
                  {"events", {"convo.created", "convo.customer.reply.created"}},
                  {"secret", reg->signing_secret},
                  {"label", "deskpilot-hs"}}));
  EXPECT_EQ(reg->signing_secret.size(), 32u);
  EXPECT_EQ(reg->signing_secret.find_first_not_of("0123456789abcdef"), std::string::npos) << reg->signing_secret;
  EXPECT_EQ(reg->endpoint, "https://dp.example.com/webhooks/hs");
  const auto hooks = fake_.Webhooks();
  ASSERT_EQ(hooks.size(), 2u);
  const json& ours = hooks[1];
  EXPECT_EQ(hooks[0]["id"], other);
  ASSERT_EQ(reg->changes.size(), 1u);
  EXPECT_EQ(reg->changes[0].action, "created");
  EXPECT_EQ(reg->changes[0].kind, "webhook");
  EXPECT_EQ(reg->changes[0].id, std::to_string(ours["id"].get<int64_t>()));  // from Resource-ID
  EXPECT_EQ(reg->changes[0].name, "deskpilot-hs");
  EXPECT_EQ(ours["secret"], reg->signing_secret);

  // Deliveries signed with that secret pass once it is configured.
  HelpScoutOptions configured = Options(fake_.base_url());
  configured.webhook_secret = reg->signing_secret;
  EXPECT_TRUE(NewHelpScoutHelpdesk(configured, http_.get())
                  ->VerifyWebhook(Req(kVectorBody, {{"x-helpscout-signature",
                                                     Base64Encode(HmacSha1(reg->signing_secret, kVectorBody))}}))
                  .ok());

  const size_t again_from = fake_.Requests().size();
  auto again = admin->RegisterWebhook("https://dp.example.com/webhooks/hs");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(CallsSince(again_from), (std::vector<std::string>{"GET /v2/webhooks"}));
  EXPECT_TRUE(again->signing_secret.empty());  // Help Scout never lists a webhook's secret
  ASSERT_EQ(again->changes.size(), 1u);
  EXPECT_EQ(again->changes[0].action, "unchanged");
  EXPECT_EQ(again->changes[0].id, reg->changes[0].id);
  EXPECT_EQ(fake_.Webhooks().size(), 2u);
  EXPECT_EQ(fake_.Webhooks()[1]["secret"], reg->signing_secret);
}

// deskpilot moved: this source's webhook (its path) at another host is pointed at the new
// URL with a new secret, never duplicated.
TEST_F(HelpScoutAdapterTest, RegisterMovesThisSourcesWebhookToTheNewUrl) {
  const int64_t old = fake_.AddWebhook("https://old.example.com/webhooks/hs/", {"convo.created"}, "old-secret");
  const size_t from = fake_.Requests().size() + 1;
  auto reg = hd_->webhook_admin()->RegisterWebhook("https://new.example.com/webhooks/hs");
  ASSERT_TRUE(reg.ok()) << reg.status().ToString();
  const std::string id = std::to_string(old);
  EXPECT_EQ(CallsSince(from), (std::vector<std::string>{"GET /v2/webhooks", "PUT /v2/webhooks/" + id}));
  EXPECT_EQ(json::parse(fake_.Requests().back().body),
            json({{"url", "https://new.example.com/webhooks/hs"},
                  {"events", {"convo.created", "convo.customer.reply.created"}},
                  {"secret", reg->signing_secret},
                  {"label", "deskpilot-hs"}}));
  ASSERT_EQ(reg->changes.size(), 1u);
  EXPECT_EQ(reg->changes[0].action, "updated");
  EXPECT_EQ(reg->changes[0].id, id);
  ASSERT_EQ(fake_.Webhooks().size(), 1u);
  EXPECT_EQ(fake_.Webhooks()[0]["url"], "https://new.example.com/webhooks/hs");
  EXPECT_EQ(fake_.Webhooks()[0]["secret"], reg->signing_secret);
  EXPECT_NE(reg->signing_secret, "old-secret");
}

// With approval by tag on, the webhook also needs convo.tags. A new one gets all three
// events; one deskpilot registered before (two events) gets the third added, keeping the
// admin's extra events and label and the configured secret, so deliveries keep verifying.
TEST_F(HelpScoutAdapterTest, RegisterSubscribesToTagChangesWhenApprovalByTagIsOn) {
  HelpScoutOptions o = Options(fake_.base_url());
  o.approval_tag = "deskpilot_approved";
  auto hd = NewHelpScoutHelpdesk(o, http_.get());
  auto created = hd->webhook_admin()->RegisterWebhook("https://a.example.com/webhooks/hs");
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(json::parse(fake_.Requests().back().body)["events"],
            json({"convo.created", "convo.customer.reply.created", "convo.tags"}));
  ASSERT_TRUE(hd->webhook_admin()->RemoveWebhook().ok());

  const int64_t old = fake_.AddWebhook("https://dp.example.com/webhooks/hs",
                                       {"convo.created", "convo.assigned", "convo.customer.reply.created"}, kSecret,
                                       "support-bot");
  const std::string id = std::to_string(old);
  const size_t from = fake_.Requests().size();
  auto reg = hd->webhook_admin()->RegisterWebhook("https://dp.example.com/webhooks/hs");
  ASSERT_TRUE(reg.ok()) << reg.status().ToString();
  EXPECT_EQ(CallsSince(from), (std::vector<std::string>{"GET /v2/webhooks", "PUT /v2/webhooks/" + id}));
  EXPECT_EQ(json::parse(fake_.Requests().back().body),
            json({{"url", "https://dp.example.com/webhooks/hs"},
                  {"events", {"convo.created", "convo.assigned", "convo.customer.reply.created", "convo.tags"}},
                  {"secret", kSecret},
                  {"label", "support-bot"}}));
  EXPECT_TRUE(reg->signing_secret.empty()) << "the configured secret was kept: nothing new to store";
  ASSERT_EQ(reg->changes.size(), 1u);
  EXPECT_EQ(reg->changes[0].action, "updated");
  EXPECT_EQ(reg->changes[0].id, id);
  ASSERT_EQ(fake_.Webhooks().size(), 1u);
  EXPECT_EQ(fake_.Webhooks()[0]["secret"], kSecret);

  auto again = hd->webhook_admin()->RegisterWebhook("https://dp.example.com/webhooks/hs");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->changes[0].action, "unchanged");

  // Without a configured secret (register runs before it is stored) the update needs a
  // new one, and that is the one to store.
  fake_.AddWebhook("https://b.example.com/webhooks/hs", {"convo.created"}, "b-secret");
  HelpScoutOptions no_secret = o;
  no_secret.webhook_secret.clear();
  auto fresh = NewHelpScoutHelpdesk(no_secret, http_.get())->webhook_admin()->RegisterWebhook(
      "https://b.example.com/webhooks/hs");
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  EXPECT_EQ(fresh->signing_secret.size(), 32u);
  EXPECT_EQ(fresh->changes[0].action, "updated");
  EXPECT_EQ(fake_.Webhooks().back()["secret"], fresh->signing_secret);
  EXPECT_EQ(fake_.Webhooks().back()["events"], json({"convo.created", "convo.customer.reply.created", "convo.tags"}));
}

// A 5xx can come after Help Scout created the webhook; a retried POST would make a second
// one, so the create is sent once and the error returned (register again finds it).
TEST_F(HelpScoutAdapterTest, RegisterNeverRetriesTheCreate) {
  fake_.InjectFault({"POST", "/v2/webhooks", 503, 1, "", true});
  auto reg = hd_->webhook_admin()->RegisterWebhook("https://dp.example.com/webhooks/hs");
  EXPECT_FALSE(reg.ok());
  EXPECT_EQ(Count("POST", "/v2/webhooks"), 1);
  EXPECT_EQ(fake_.Webhooks().size(), 1u);
  auto again = hd_->webhook_admin()->RegisterWebhook("https://dp.example.com/webhooks/hs");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->changes[0].action, "unchanged");
  EXPECT_EQ(Count("POST", "/v2/webhooks"), 1);
}

TEST(HelpScoutWebhookAdminTest, ListReadsEveryPageAndMarksThisSources) {
  HelpScoutFakeOptions fo;
  fo.webhooks_page_size = 2;
  HelpScoutFake fake(fo);
  ASSERT_TRUE(fake.Start().ok());
  fake.AddWebhook("https://crm.example.com/hook", {"convo.assigned"}, "s1", "crm");
  fake.AddWebhook("https://dp.example.com/webhooks/hs", {"convo.created", "convo.customer.reply.created"}, "s2",
                  "deskpilot-hs");
  fake.AddWebhook("https://dp.example.com/webhooks/hs-staging", {"convo.created"}, "s3");
  auto http = NewCurlHttpClient();
  auto hd = NewHelpScoutHelpdesk(Options(fake.base_url()), http.get());
  auto list = hd->webhook_admin()->ListWebhooks();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_EQ(fake.CountRequests("GET", "/v2/webhooks"), 2);
  EXPECT_EQ(fake.Requests().back().params.at("page"), "2");
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].name, "crm");
  EXPECT_EQ((*list)[0].endpoint, "https://crm.example.com/hook");
  EXPECT_EQ((*list)[0].status, "enabled");
  EXPECT_FALSE((*list)[0].ours);
  EXPECT_EQ((*list)[0].details, (std::vector<std::string>{"events: convo.assigned"}));
  EXPECT_TRUE((*list)[1].ours);
  EXPECT_EQ((*list)[1].details, (std::vector<std::string>{"events: convo.created, convo.customer.reply.created"}));
  EXPECT_FALSE((*list)[2].ours);  // another source whose name starts the same
  for (const auto& w : *list) EXPECT_FALSE(w.id.empty());
}

TEST_F(HelpScoutAdapterTest, RemoveDeletesOnlyThisSourcesWebhooks) {
  const int64_t crm = fake_.AddWebhook("https://crm.example.com/hook", {"convo.assigned"}, "s1", "crm");
  const int64_t ours = fake_.AddWebhook("https://dp.example.com/webhooks/hs", {"convo.created"}, "s2", "deskpilot-hs");
  const size_t from = fake_.Requests().size() + 1;
  auto removed = hd_->webhook_admin()->RemoveWebhook();
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(CallsSince(from),
            (std::vector<std::string>{"GET /v2/webhooks", "DELETE /v2/webhooks/" + std::to_string(ours)}));
  ASSERT_EQ(removed->size(), 1u);
  EXPECT_EQ((*removed)[0].action, "deleted");
  EXPECT_EQ((*removed)[0].id, std::to_string(ours));
  EXPECT_EQ((*removed)[0].name, "deskpilot-hs");
  ASSERT_EQ(fake_.Webhooks().size(), 1u);
  EXPECT_EQ(fake_.Webhooks()[0]["id"], crm);
  auto nothing = hd_->webhook_admin()->RemoveWebhook();
  ASSERT_TRUE(nothing.ok()) << nothing.status().ToString();
  EXPECT_TRUE(nothing->empty());
  EXPECT_EQ(Count("DELETE", "/v2/webhooks"), 1);
}

// `webhook register` builds the help desk before the secret exists; everything else still
// needs it.
TEST(HelpScoutConfigTest, TheWebhookSecretMayBeMissingOnlyForWebhookAdministration) {
  setenv("DP_HS_TEST_SECRET", "app-secret", 1);
  setenv("DP_HS_TEST_LONG", std::string(41, 'x').c_str(), 1);
  auto http = NewCurlHttpClient();
  auto make = [&](const json& section, bool admin_only) { return MakeFromConfig(http.get(), section, admin_only); };
  json no_hook = {{"name", "hs"},
                  {"type", "helpscout"},
                  {"app_id", "abc123"},
                  {"app_secret_env", "DP_HS_TEST_SECRET"},
                  {"api_user_id", 7}};
  EXPECT_EQ(make(no_hook, false).status().code(), Code::kInvalidArgument);
  auto admin = make(no_hook, true);
  ASSERT_TRUE(admin.ok()) << admin.status().ToString();
  ASSERT_NE((*admin)->webhook_admin(), nullptr);
  // Built without a secret, it accepts no delivery.
  EXPECT_EQ((*admin)->VerifyWebhook(Req(kVectorBody, {{"x-helpscout-signature",
                                                        Base64Encode(HmacSha1("", kVectorBody))}}))
                .code(),
            Code::kUnauthenticated);
  json unset = no_hook;
  unset["webhook_secret_env"] = "DP_HS_TEST_UNSET_VARIABLE";
  EXPECT_TRUE(make(unset, true).ok());
  json long_hook = no_hook;
  long_hook["webhook_secret_env"] = "DP_HS_TEST_LONG";
  EXPECT_EQ(make(long_hook, true).status().code(), Code::kInvalidArgument);
  json app = no_hook;
  app.erase("app_id");  // the API credentials are still required
  EXPECT_EQ(make(app, true).status().code(), Code::kInvalidArgument);
}

// Closed conversations for `train --source` and `kb sync --solved-since`.
class HelpScoutSolvedTest : public HelpScoutAdapterTest {
 protected:
  void SetUp() override {
    HelpScoutFakeOptions fo;
    fo.conversations_page_size = 2;
    paged_ = std::make_unique<HelpScoutFake>(fo);
    ASSERT_TRUE(paged_->Start().ok());
    const int64_t customer = paged_->AddCustomer("Ann", "Lee", "ann@example.com");
    auto open = [&](const std::string& subject, const std::string& html) {
      return paged_->AddConversation(subject, customer, html, {"topic-billing"});
    };
    before_ = open("Closed long ago", "old");
    b_ = open("Refund", "<p>Please refund order 7.</p>");
    c_ = open("Login", "I cannot log in");
    d_ = open("Invoice", "Where is my invoice?");
    active_ = open("Still open", "help");
    pending_ = open("Waiting", "hello?");
    paged_->AddThread(c_, "message", "<p>Reset it here.</p>", "user", 33);
    paged_->AddThread(c_, "note", "internal", "user", 33);
    paged_->SetStatus(before_, "closed");
    // Everything from the next write on is "since".
    since_ = *ParseRfc3339(paged_->ModifiedAt(before_)) + std::chrono::seconds(1);
    paged_->SetStatus(b_, "closed");
    paged_->SetStatus(d_, "closed");
    paged_->SetStatus(c_, "closed");  // modified last: listed first
    paged_->SetStatus(pending_, "pending");
    hd_ = Make(Options(paged_->base_url()));
  }
  std::vector<std::string> Ids(const std::vector<Ticket>& tickets) {
    std::vector<std::string> ids;
    for (const Ticket& t : tickets) ids.push_back(t.id);
    return ids;
  }
  std::string Id(int64_t id) { return std::to_string(id); }

  std::unique_ptr<HelpScoutFake> paged_;
  int64_t before_ = 0, b_ = 0, c_ = 0, d_ = 0, active_ = 0, pending_ = 0;
  std::chrono::system_clock::time_point since_;
};

TEST_F(HelpScoutSolvedTest, ListsClosedConversationsModifiedSinceNewestFirstAcrossPages) {
  auto listed = hd_->ListSolvedTickets(since_, 10, /*with_comments=*/false);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(Ids(*listed), (std::vector<std::string>{Id(c_), Id(d_), Id(b_)}));
  const Ticket& b = listed->back();
  EXPECT_EQ(b.subject, "Refund");
  EXPECT_EQ(b.status, "closed");
  EXPECT_EQ(b.source, "hs");
  EXPECT_EQ(b.description, "Please refund order 7.");  // from the embedded threads
  EXPECT_EQ(b.tags, (std::vector<std::string>{"topic-billing"}));
  EXPECT_EQ(b.requester.email, "ann@example.com");
  EXPECT_TRUE(b.comments.empty());
  // One call per page (3 closed, 2 a page), every filter in the query, no thread reads.
  auto log = paged_->Requests();
  std::vector<HelpScoutFake::Request> lists;
  for (const auto& r : log)
    if (r.method == "GET" && r.path == "/v2/conversations") lists.push_back(r);
  ASSERT_EQ(lists.size(), 2u);
  for (size_t i = 0; i < lists.size(); ++i) {
    EXPECT_EQ(lists[i].params, (std::map<std::string, std::string>{{"status", "closed"},
                                                                   {"modifiedSince", FormatRfc3339Utc(since_)},
                                                                   {"sortField", "modifiedAt"},
                                                                   {"sortOrder", "desc"},
                                                                   {"embed", "threads"},
                                                                   {"page", std::to_string(i + 1)}}));
  }
  EXPECT_EQ(paged_->CountRequests("GET", "/v2/conversations/"), 0);
}

TEST_F(HelpScoutSolvedTest, StopsAtTheLimit) {
  auto listed = hd_->ListSolvedTickets(since_, 2, false);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(Ids(*listed), (std::vector<std::string>{Id(c_), Id(d_)}));
  EXPECT_EQ(paged_->CountRequests("GET", "/v2/conversations"), 1);  // the second page is not read
  EXPECT_EQ(hd_->ListSolvedTickets(since_, 0, false).status().code(), Code::kInvalidArgument);
}

TEST_F(HelpScoutSolvedTest, WithCommentsEachCarriesItsThreadsAsFetchTicketReadsThem) {
  auto listed = hd_->ListSolvedTickets(since_, 10, /*with_comments=*/true);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(Ids(*listed), (std::vector<std::string>{Id(c_), Id(d_), Id(b_)}));
  for (const auto& r : paged_->Requests()) {
    if (r.path == "/v2/conversations") {
      EXPECT_EQ(r.params.count("embed"), 0u);  // the threads are read in full
    }
  }
  for (const Ticket& t : *listed) {
    auto fetched = hd_->FetchTicket(t.id);
    ASSERT_TRUE(fetched.ok());
    EXPECT_EQ(t.description, fetched->description);
    ASSERT_EQ(t.comments.size(), fetched->comments.size()) << t.id;
    for (size_t i = 0; i < t.comments.size(); ++i) {
      EXPECT_EQ(t.comments[i].id, fetched->comments[i].id);
      EXPECT_EQ(t.comments[i].body, fetched->comments[i].body);
      EXPECT_EQ(t.comments[i].author_role, fetched->comments[i].author_role);
      EXPECT_EQ(t.comments[i].is_public, fetched->comments[i].is_public);
    }
  }
  const Ticket& c = listed->front();
  ASSERT_EQ(c.comments.size(), 3u);
  EXPECT_EQ(c.comments[1].body, "Reset it here.");
  EXPECT_TRUE(c.comments[1].is_public);
  EXPECT_FALSE(c.comments[2].is_public);  // the note
}

TEST_F(HelpScoutSolvedTest, AConversationDeletedBeforeItsThreadsAreReadIsSkipped) {
  paged_->InjectFault({"GET", "/v2/conversations/" + Id(d_) + "/threads", 404, 1, ""});
  auto listed = hd_->ListSolvedTickets(since_, 10, true);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(Ids(*listed), (std::vector<std::string>{Id(c_), Id(b_)}));
  // Any other failure is the caller's to see.
  paged_->InjectFault({"GET", "/v2/conversations/" + Id(b_) + "/threads", 403, 1, ""});
  EXPECT_EQ(hd_->ListSolvedTickets(since_, 10, true).status().code(), Code::kPermissionDenied);
}

// `kb sync` from Help Scout Docs, on the same fake with its Docs routes.
class HelpScoutDocsTest : public HelpScoutAdapterTest {
 protected:
  void SetUp() override {
    HelpScoutAdapterTest::SetUp();
    billing_ = fake_.AddDocsCollection("Billing");
    internal_ = fake_.AddDocsCollection("Internal", "private");
    accounts_ = fake_.AddDocsCollection("Accounts");
    refunds_ = fake_.AddDocsArticle(billing_, "Refunds", "<p>Refunds take <b>5 days</b>.</p>", "published",
                                    "2026-01-02T00:00:00Z", "2026-02-01T10:00:00Z");
    unpublished_ = fake_.AddDocsArticle(billing_, "New prices", "<p>soon</p>", "notpublished", "2026-01-03T00:00:00Z");
    login_ = fake_.AddDocsArticle(accounts_, "Logging in", "<p>Use the reset link.</p>", "published",
                                  "2026-01-05T00:00:00Z");  // never edited: updatedAt null
    secret_ = fake_.AddDocsArticle(internal_, "Escalation runbook", "<p>internal only</p>");
    hd_ = Docs(Options(fake_.base_url()));
  }
  std::unique_ptr<Helpdesk> Docs(HelpScoutOptions o, const std::string& key = "hs-docs-key") {
    o.docs_api_key = key;
    o.docs_base_url = fake_.base_url();
    return Make(o);
  }
  std::vector<std::string> Ids(const std::vector<HelpArticle>& articles) {
    std::vector<std::string> ids;
    for (const HelpArticle& a : articles) ids.push_back(a.id);
    return ids;
  }
  std::string Url(const std::string& article_id) {
    return "https://acme.helpscoutdocs.com/article/" + fake_.DocsArticle(article_id)["number"].dump();
  }

  std::string billing_, internal_, accounts_, refunds_, unpublished_, login_, secret_;
};

TEST_F(HelpScoutDocsTest, AFullListingWalksThePublicCollectionsAndReadsEachPublishedArticle) {
  EXPECT_EQ(hd_->ArticleLocales(), (std::vector<std::string>{"en"}));
  auto listed = hd_->ListArticles("en", std::nullopt);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(Ids(*listed), (std::vector<std::string>{refunds_, unpublished_, login_}));
  const HelpArticle& refunds = (*listed)[0];
  EXPECT_EQ(refunds.locale, "en");
  EXPECT_EQ(refunds.title, "Refunds");
  EXPECT_EQ(refunds.body_html, "<p>Refunds take <b>5 days</b>.</p>");
  EXPECT_EQ(refunds.url, Url(refunds_));
  EXPECT_EQ(refunds.updated_at, "2026-02-01T10:00:00Z");
  EXPECT_FALSE(refunds.draft);
  const HelpArticle& draft = (*listed)[1];
  EXPECT_TRUE(draft.draft);
  EXPECT_EQ(draft.title, "New prices");
  EXPECT_EQ(draft.body_html, "");  // never read: a draft is never a source
  EXPECT_EQ((*listed)[2].updated_at, "2026-01-05T00:00:00Z");  // never edited: its creation
  EXPECT_FALSE((*listed)[2].draft);

  // Exactly these calls, each with the Docs key over HTTP Basic and no OAuth token.
  std::vector<std::string> calls;
  for (const auto& r : fake_.Requests()) {
    calls.push_back(r.method + " " + r.path);
    EXPECT_EQ(r.authorization, "Basic " + Base64Encode("hs-docs-key:X")) << r.path;
    if (r.path.ends_with("/articles")) {
      EXPECT_EQ(r.params, (std::map<std::string, std::string>{{"status", "all"}, {"pageSize", "100"}, {"page", "1"}}));
    }
  }
  EXPECT_EQ(calls, (std::vector<std::string>{"GET /v1/collections", "GET /v1/collections/" + billing_ + "/articles",
                                             "GET /v1/articles/" + refunds_,
                                             "GET /v1/collections/" + accounts_ + "/articles",
                                             "GET /v1/articles/" + login_}));
  EXPECT_EQ(fake_.TokensIssued(), 0);
}

TEST_F(HelpScoutDocsTest, AnIncrementalListingKeepsOnlyArticlesUpdatedSince) {
  const auto since = *ParseRfc3339("2026-01-05T00:00:00Z");  // login_ was created at that very second
  auto listed = hd_->ListArticles("en", since);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(Ids(*listed), (std::vector<std::string>{refunds_, login_}));
  auto later = hd_->ListArticles("en", *ParseRfc3339("2026-01-05T00:00:01Z"));
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(Ids(*later), (std::vector<std::string>{refunds_}));
  // Only what is kept is read in full.
  EXPECT_EQ(Count("GET", "/v1/articles/" + login_), 1);
  EXPECT_EQ(Count("GET", "/v1/articles/" + refunds_), 2);
}

TEST_F(HelpScoutDocsTest, EveryPageOfCollectionsAndArticlesIsRead) {
  HelpScoutFakeOptions fo;
  fo.docs_collections_page_size = 1;
  fo.docs_max_page_size = 2;
  HelpScoutFake paged(fo);
  ASSERT_TRUE(paged.Start().ok());
  const std::string first = paged.AddDocsCollection("First");
  const std::string second = paged.AddDocsCollection("Second");
  std::vector<std::string> expected;
  for (int i = 0; i < 5; ++i) expected.push_back(paged.AddDocsArticle(first, std::to_string(i), "<p>x</p>"));
  expected.push_back(paged.AddDocsArticle(second, "B", "<p>y</p>"));
  HelpScoutOptions o = Options(paged.base_url());
  o.docs_api_key = "hs-docs-key";
  o.docs_base_url = paged.base_url();
  auto listed = Make(o)->ListArticles("en", std::nullopt);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(Ids(*listed), expected);
  EXPECT_EQ(paged.CountRequests("GET", "/v1/collections/" + first + "/articles"), 3);
  EXPECT_EQ(paged.CountRequests("GET", "/v1/collections/" + second + "/articles"), 1);
  int collection_pages = 0;
  for (const auto& r : paged.Requests()) collection_pages += r.path == "/v1/collections";
  EXPECT_EQ(collection_pages, 2);
}

TEST_F(HelpScoutDocsTest, ConfiguredCollectionsOnlyAndNeverAPrivateOne) {
  HelpScoutOptions o = Options(fake_.base_url());
  o.docs_collections = {accounts_};
  auto only = Docs(o)->ListArticles("en", std::nullopt);
  ASSERT_TRUE(only.ok()) << only.status().ToString();
  EXPECT_EQ(Ids(*only), (std::vector<std::string>{login_}));
  o.docs_collections = {internal_};
  auto priv = Docs(o)->ListArticles("en", std::nullopt);
  EXPECT_EQ(priv.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(priv.status().message().find(internal_ + "\" is not public"), std::string::npos) << priv.status().ToString();
  o.docs_collections = {"5214c83d45667acd2539ffff"};
  auto missing = Docs(o)->ListArticles("en", std::nullopt);
  EXPECT_EQ(missing.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(missing.status().message().find("5214c83d45667acd2539ffff"), std::string::npos);
  EXPECT_EQ(Count("GET", "/v1/collections/" + internal_), 0);
}

TEST_F(HelpScoutDocsTest, WithoutAKeyOrWithAWrongOneNothingIsSynced) {
  const size_t before = fake_.Requests().size();
  auto none = Docs(Options(fake_.base_url()), "")->ListArticles("en", std::nullopt);
  EXPECT_EQ(none.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(none.status().message().find("docs_api_key_env"), std::string::npos) << none.status().ToString();
  EXPECT_EQ(fake_.Requests().size(), before);  // nothing asked

  const std::string wrong = "wrong-docs-key-1234";
  auto refused = Docs(Options(fake_.base_url()), wrong)->ListArticles("en", std::nullopt);
  EXPECT_EQ(refused.status().code(), Code::kUnauthenticated);
  EXPECT_EQ(refused.status().message().find(wrong), std::string::npos) << refused.status().ToString();
  EXPECT_EQ(refused.status().message().find(Base64Encode(wrong + ":X")), std::string::npos);
  EXPECT_NE(refused.status().message().find("docs_api_key"), std::string::npos);
  EXPECT_EQ(Count("GET", "/v1/collections"), 1);  // not retried
  // The Mailbox API's token is no Docs key either.
  EXPECT_EQ(Docs(Options(fake_.base_url()), "hs-token-1")->ListArticles("en", std::nullopt).status().code(),
            Code::kUnauthenticated);

  auto other_locale = hd_->ListArticles("de", std::nullopt);
  EXPECT_EQ(other_locale.status().code(), Code::kInvalidArgument);
  EXPECT_NE(other_locale.status().message().find("kb_locale"), std::string::npos);
}

TEST_F(HelpScoutDocsTest, AnArticleDeletedAfterTheListingIsSkippedAndRateLimitsAreWaitedOut) {
  fake_.InjectFault({"GET", "/v1/collections", 429, 1, "", false, "2"});
  fake_.InjectFault({"GET", "/v1/articles/" + refunds_, 404, 1, ""});
  auto listed = hd_->ListArticles("en", std::nullopt);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(Ids(*listed), (std::vector<std::string>{unpublished_, login_}));
  ASSERT_FALSE(slept_.empty());
  EXPECT_EQ(slept_.front(), milliseconds(2000));  // Docs' X-RateLimit-Reset
}

TEST(HelpScoutConfigTest, DocsKeysAreOptionalAndChecked) {
  setenv("DP_HS_TEST_SECRET", "app-secret", 1);
  setenv("DP_HS_TEST_HOOK", "hook-secret", 1);
  setenv("DP_HS_TEST_DOCS", "docs-key", 1);
  auto http = NewCurlHttpClient();
  auto make = [&](const json& section) { return MakeFromConfig(http.get(), section); };
  json good = {{"name", "hs"},
               {"type", "helpscout"},
               {"app_id", "abc123"},
               {"app_secret_env", "DP_HS_TEST_SECRET"},
               {"webhook_secret_env", "DP_HS_TEST_HOOK"},
               {"api_user_id", 7},
               {"docs_api_key_env", "DP_HS_TEST_DOCS"},
               {"docs_base_url", "https://docsapi.helpscout.net/"},
               {"docs_collections", {"5214c83d45667acd25394b53"}},
               {"kb_locale", "en-gb"}};
  auto hd = make(good);
  ASSERT_TRUE(hd.ok()) << hd.status().ToString();
  EXPECT_EQ((*hd)->ArticleLocales(), (std::vector<std::string>{"en-gb"}));
  // A server started without the Docs variable still runs; only `kb sync` is refused.
  json unset = good;
  unset["docs_api_key_env"] = "DP_HS_TEST_UNSET_DOCS";
  auto no_key = make(unset);
  ASSERT_TRUE(no_key.ok()) << no_key.status().ToString();
  EXPECT_EQ((*no_key)->ListArticles("en-gb", std::nullopt).status().code(), Code::kFailedPrecondition);

  auto error_names = [&](json section, const std::string& key) {
    auto r = make(section);
    ASSERT_FALSE(r.ok()) << section.dump();
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find(key), std::string::npos) << r.status().ToString();
    EXPECT_EQ(r.status().message().find("docs-key"), std::string::npos);
  };
  json inline_key = good;
  inline_key.erase("docs_api_key_env");
  inline_key["docs_api_key"] = "docs-key";
  error_names(inline_key, "docs_api_key");
  json v1 = good;
  v1["docs_base_url"] = "https://docsapi.helpscout.net/v1";
  error_names(v1, "docs_base_url");
  json scheme = good;
  scheme["docs_base_url"] = "docsapi.helpscout.net";
  error_names(scheme, "docs_base_url");
  json bad_collection = good;
  bad_collection["docs_collections"] = {"../articles/1"};
  error_names(bad_collection, "docs_collections");
  json bad_locale = good;
  bad_locale["kb_locale"] = "EN US";
  error_names(bad_locale, "kb_locale");
}

}  // namespace
}  // namespace deskpilot
