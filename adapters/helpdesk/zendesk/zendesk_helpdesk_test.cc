#include "helpdesk/zendesk/zendesk_helpdesk.h"

#include <stdlib.h>

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "deskpilot/crypto.h"
#include "deskpilot/registry.h"
#include "helpdesk/zendesk/register.h"
#include "helpdesk/zendesk/zendesk_fake.h"

namespace deskpilot {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kSecret[] = "whsec_zd_test";
// Computed independently:
//   printf '%s%s' TS BODY | openssl dgst -sha256 -hmac whsec_zd_test -binary | base64
constexpr char kVectorTimestamp[] = "2024-05-01T12:00:00Z";
constexpr char kVectorBody[] =
    R"({"type":"zen:event-type:ticket.created","account_id":123,"id":"01HXEVT0001","time":"2024-05-01T12:00:00Z","zendesk_event_version":"2022-11-06","subject":"zen:ticket:42","detail":{"id":"42","actor_id":"777","requester_id":"777","status":"NEW"},"event":{}})";
constexpr char kVectorSignature[] = "s+Q5uC2BfM3Ux6fi7XCWbDLAU37CjeYpI8nBEp+S8X4=";
const auto kVectorTime = std::chrono::system_clock::time_point(seconds(1714564800));

ZendeskOptions Options(const std::string& base_url = "http://127.0.0.1:1") {
  ZendeskOptions o;
  o.name = "zd";
  o.base_url = base_url;
  o.email = "bot@example.com";
  o.api_token = "zd-test-token";
  o.webhook_secret = kSecret;
  o.request_timeout = milliseconds(3000);
  o.retry.base_delay = milliseconds(1);
  o.retry.max_delay = milliseconds(5);
  return o;
}

WebhookRequest Req(std::string_view body, const std::string& ts = "", const std::string& sig = "",
                   std::chrono::system_clock::time_point now = kVectorTime) {
  WebhookRequest r;
  r.body = body;
  r.headers = {{"x-zendesk-webhook-signature", sig}, {"x-zendesk-webhook-signature-timestamp", ts}};
  r.now = now;
  return r;
}

class ZendeskWebhookTest : public ::testing::Test {
 protected:
  std::unique_ptr<HttpClient> http_ = NewCurlHttpClient();
  std::unique_ptr<Helpdesk> hd_ = NewZendeskHelpdesk(Options(), http_.get());
};

TEST_F(ZendeskWebhookTest, AcceptsKnownSignatureVectorInsideTheWindow) {
  EXPECT_TRUE(hd_->VerifyWebhook(Req(kVectorBody, kVectorTimestamp, kVectorSignature)).ok());
  EXPECT_TRUE(hd_->VerifyWebhook(Req(kVectorBody, kVectorTimestamp, kVectorSignature, kVectorTime + seconds(300))).ok());
  EXPECT_TRUE(hd_->VerifyWebhook(Req(kVectorBody, kVectorTimestamp, kVectorSignature, kVectorTime - seconds(300))).ok());
}

TEST_F(ZendeskWebhookTest, RejectsTamperingWrongSecretStaleAndMissing) {
  auto rejected = [&](const WebhookRequest& r) {
    Status st = hd_->VerifyWebhook(r);
    EXPECT_EQ(st.code(), Code::kUnauthenticated) << st.ToString();
    EXPECT_EQ(st.message().find(kSecret), std::string::npos);
  };
  std::string tampered = kVectorBody;
  tampered[tampered.find("42")] = '7';
  rejected(Req(tampered, kVectorTimestamp, kVectorSignature));
  rejected(Req(kVectorBody, kVectorTimestamp,
               Base64Encode(HmacSha256("other", std::string(kVectorTimestamp) + kVectorBody))));
  rejected(Req(kVectorBody, kVectorTimestamp, kVectorSignature, kVectorTime + seconds(301)));
  rejected(Req(kVectorBody, kVectorTimestamp, kVectorSignature, kVectorTime - seconds(301)));
  rejected(Req(kVectorBody, "2024-05-01T12:00:01Z", kVectorSignature));  // timestamp is signed
  rejected(Req(kVectorBody, "soon", kVectorSignature));
  rejected(Req(kVectorBody, kVectorTimestamp, "%%%"));
  rejected(Req(kVectorBody, kVectorTimestamp, ""));
  rejected(Req(kVectorBody, "", kVectorSignature));
}

TEST_F(ZendeskWebhookTest, ParsesEventSubscriptionPayloads) {
  auto ev = hd_->ParseWebhook(Req(kVectorBody));
  ASSERT_TRUE(ev.ok()) << ev.status().ToString();
  EXPECT_EQ(ev->ticket_id, "42");
  EXPECT_EQ(ev->event_type, "ticket.created");
  EXPECT_EQ(ev->dedupe_key, "zendesk:zd:01HXEVT0001");
  EXPECT_FALSE(ev->self_caused);

  // Numeric ids, and the ticket id only in `subject`, are accepted too.
  const std::string comment = R"({"type":"zen:event-type:ticket.comment_added","id":"e2","subject":"zen:ticket:43",
      "detail":{"actor_id":555},"event":{"comment":{"id":9,"body":"hi","is_public":true,"author":{"id":555,"is_staff":false}}}})";
  ev = hd_->ParseWebhook(Req(comment));
  ASSERT_TRUE(ev.ok()) << ev.status().ToString();
  EXPECT_EQ(ev->ticket_id, "43");
  EXPECT_EQ(ev->event_type, "ticket.comment_added");

  for (const char* bad : {"{", "[1]", R"({"type":"zen:event-type:user.created","id":"e","detail":{"id":"1"}})",
                          R"({"type":"zen:event-type:ticket.created","detail":{"id":"1"}})",
                          R"({"type":"zen:event-type:ticket.created","id":"e","detail":{"id":"abc"}})",
                          R"({"event":"ticket.created"})"}) {
    EXPECT_EQ(hd_->ParseWebhook(Req(bad)).status().code(), Code::kInvalidArgument) << bad;
  }
}

TEST_F(ZendeskWebhookTest, ParsesTheTriggerBodyAndDedupesByContent) {
  const std::string body = R"({"ticket_id":"42","event":"ticket.comment_added","updated_at":"2024-05-01T12:00:00Z","actor_id":"777"})";
  auto a = hd_->ParseWebhook(Req(body));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->ticket_id, "42");
  EXPECT_EQ(a->event_type, "ticket.comment_added");
  EXPECT_EQ(a->dedupe_key, "zendesk:zd:sha256:" + Sha256Hex(body));
  // A redelivery has the same key; a later update of the ticket has another.
  EXPECT_EQ(hd_->ParseWebhook(Req(body))->dedupe_key, a->dedupe_key);
  std::string later = body;
  later.replace(later.find("12:00:00"), 8, "12:00:05");
  EXPECT_NE(hd_->ParseWebhook(Req(later))->dedupe_key, a->dedupe_key);
}

TEST(ZendeskLoopGuardTest, ConfiguredApiUserMarksItsOwnEventsSelfCaused) {
  auto http = NewCurlHttpClient();
  ZendeskOptions o = Options();
  o.api_user_id = "900001";
  auto hd = NewZendeskHelpdesk(o, http.get());
  auto own = hd->ParseWebhook(Req(R"({"ticket_id":"42","event":"ticket.updated","actor_id":"900001"})"));
  ASSERT_TRUE(own.ok());
  EXPECT_TRUE(own->self_caused);
  auto own_comment = hd->ParseWebhook(Req(R"({"type":"zen:event-type:ticket.comment_added","id":"e3",
      "detail":{"id":"42","actor_id":"900001"},"event":{"comment":{"author":{"id":"900001"}}}})"));
  ASSERT_TRUE(own_comment.ok());
  EXPECT_TRUE(own_comment->self_caused);
  EXPECT_FALSE(hd->ParseWebhook(Req(R"({"ticket_id":"42","event":"ticket.updated","actor_id":"7"})"))->self_caused);
}

TEST(ZendeskConfigTest, FactoryValidatesKeys) {
  setenv("DP_ZD_TEST_TOKEN", "tok", 1);
  setenv("DP_ZD_TEST_SECRET", "sec", 1);
  auto http = NewCurlHttpClient();
  Registry registry;
  RegisterZendeskHelpdesk(registry);
  auto make = [&](const json& section) {
    ConfigSection s(section, "helpdesk[0]");
    AdapterContext ctx;
    ctx.section = &s;
    ctx.name = "zd";
    ctx.http = http.get();
    return registry.MakeHelpdesk("zendesk", ctx);
  };
  json good = {{"name", "zd"},
               {"type", "zendesk"},
               {"base_url", "https://acme.zendesk.com/"},
               {"email", "bot@acme.com"},
               {"api_token_env", "DP_ZD_TEST_TOKEN"},
               {"webhook_secret_env", "DP_ZD_TEST_SECRET"},
               {"api_user_id", 900001},
               {"groups", {{"billing", 360001}}},
               {"custom_fields", {{"category", 360002}}}};
  auto hd = make(good);
  ASSERT_TRUE(hd.ok()) << hd.status().ToString();
  EXPECT_EQ((*hd)->type(), "zendesk");

  auto error_names = [&](json section, const std::string& key) {
    auto r = make(section);
    ASSERT_FALSE(r.ok()) << section.dump();
    EXPECT_NE(r.status().message().find(key), std::string::npos) << r.status().ToString();
  };
  json unknown = good;
  unknown["colour"] = "blue";
  error_names(unknown, "colour");
  json no_url = good;
  no_url.erase("base_url");
  error_names(no_url, "base_url");
  json both = good;
  both["oauth_token_env"] = "DP_ZD_TEST_TOKEN";
  error_names(both, "oauth_token");
  json no_secret = good;
  no_secret.erase("webhook_secret_env");
  error_names(no_secret, "webhook_secret");
  json bad_group = good;
  bad_group["groups"]["billing"] = "x";
  error_names(bad_group, "groups.billing");
  json api_suffix = good;
  api_suffix["base_url"] = "https://acme.zendesk.com/api/v2";
  error_names(api_suffix, "base_url");
}

// The adapter against the loopback Zendesk fake, over real HTTP.
class ZendeskAdapterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fake_.Start().ok());
    customer_ = fake_.AddUser("Bob", "bob@example.com", "end-user");
    agent_ = fake_.AddUser("Alice Agent", "alice@acme.com", "agent");
    billing_ = fake_.AddGroup("Billing");
    ZendeskOptions o = Options(fake_.base_url());
    o.groups = {{"billing", billing_}};
    o.custom_fields = {{"category", 360002}};
    o.sleep = [this](milliseconds d) { slept_.push_back(d); };
    hd_ = NewZendeskHelpdesk(o, http_.get());
  }

  int64_t NewTicket() {
    return fake_.AddTicket({{"subject", "Cannot log in"},
                            {"description", "Password reset mail never arrives."},
                            {"requester_id", customer_},
                            {"tags", {"vip", "agent_tag"}},
                            {"custom_fields", {{{"id", 360002}, {"value", nullptr}}}}});
  }
  Ticket Fetch(int64_t id) {
    auto t = hd_->FetchTicket(std::to_string(id));
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? *t : Ticket{};
  }
  int Puts(int64_t id) { return fake_.CountRequests("PUT", "/api/v2/tickets/" + std::to_string(id)); }

  ZendeskFake fake_;
  int64_t customer_ = 0, agent_ = 0, billing_ = 0;
  std::vector<milliseconds> slept_;
  std::unique_ptr<HttpClient> http_ = NewCurlHttpClient();
  std::unique_ptr<Helpdesk> hd_;
};

WritePlan Plan(const std::string& key, bool with_reply) {
  WritePlan plan;
  plan.idempotency_key = key;
  plan.actions = {
      {ActionType::kSetTags, {"deskpilot", "deskpilot_cat_login"}, "", ""},
      {ActionType::kSetPriority, {}, "high", ""},
      {ActionType::kSetGroup, {}, "billing", ""},
      {ActionType::kSetCustomField, {}, "account_access", "category"},
      {ActionType::kAddInternalNote, {}, "Summary: cannot log in.\n\ndeskpilot-ref: " + key, ""},
  };
  if (with_reply) plan.actions.push_back({ActionType::kAddPublicReply, {}, "Please check your spam folder.", ""});
  return plan;
}

TEST_F(ZendeskAdapterTest, FetchTicketMapsFieldsRolesAndTheApiUser) {
  const int64_t id = NewTicket();
  fake_.AddComment(id, agent_, "Looking into it.", true);
  fake_.AddComment(id, agent_, "internal: check SSO", false);
  Ticket t = Fetch(id);
  EXPECT_EQ(t.id, std::to_string(id));
  EXPECT_EQ(t.source, "zd");
  EXPECT_EQ(t.subject, "Cannot log in");
  EXPECT_EQ(t.status, "new");
  EXPECT_EQ(t.priority, "");
  EXPECT_EQ(t.channel, "web");
  EXPECT_EQ(t.requester.email, "bob@example.com");
  EXPECT_EQ(t.tags, (std::vector<std::string>{"vip", "agent_tag"}));
  EXPECT_TRUE(t.custom_fields.empty());  // null values are not values
  ASSERT_EQ(t.comments.size(), 3u);
  EXPECT_EQ(t.comments[0].author_role, AuthorRole::kCustomer);
  EXPECT_EQ(t.comments[0].body, "Password reset mail never arrives.");
  EXPECT_EQ(t.comments[1].author_role, AuthorRole::kAgent);
  EXPECT_FALSE(t.comments[2].is_public);
  for (const auto& c : t.comments) EXPECT_FALSE(c.by_deskpilot);
  // The API user's id was looked up once (no api_user_id configured).
  EXPECT_EQ(fake_.CountRequests("GET", "/api/v2/users/me"), 1);
  Fetch(id);
  EXPECT_EQ(fake_.CountRequests("GET", "/api/v2/users/me"), 1);

  // Now that the id is known, a webhook caused by deskpilot's own update is self-caused.
  auto ev = hd_->ParseWebhook(Req(R"({"ticket_id":")" + std::to_string(id) +
                                  R"(","event":"ticket.updated","actor_id":"900001"})"));
  ASSERT_TRUE(ev.ok());
  EXPECT_TRUE(ev->self_caused);
}

TEST_F(ZendeskAdapterTest, CommentsFollowCursorPagination) {
  const int64_t id = NewTicket();
  for (int i = 0; i < 230; ++i) fake_.AddComment(id, i % 2 ? agent_ : customer_, "comment " + std::to_string(i), true);
  Ticket t = Fetch(id);
  ASSERT_EQ(t.comments.size(), 231u);
  EXPECT_EQ(t.comments[1].body, "comment 0");
  EXPECT_EQ(t.comments[230].body, "comment 229");
  EXPECT_EQ(t.comments[230].author_role, AuthorRole::kAgent);
  EXPECT_EQ(fake_.CountRequests("GET", "/api/v2/tickets/" + std::to_string(id) + "/comments"), 3);
  int with_cursor = 0;
  for (const auto& r : fake_.Requests())
    if (r.params.count("page[after]")) ++with_cursor;
  EXPECT_EQ(with_cursor, 2);
}

TEST_F(ZendeskAdapterTest, ApplyIsOneUpdateThatKeepsAgentTagsAndMapsIds) {
  const int64_t id = NewTicket();
  Ticket before = Fetch(id);
  Status st = hd_->Apply(before, Plan("dp-1", false));
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Puts(id), 1);
  json t = fake_.Ticket(id);
  EXPECT_EQ(t["tags"], json({"vip", "agent_tag", "deskpilot", "deskpilot_cat_login"}));
  EXPECT_EQ(t["priority"], "high");
  EXPECT_EQ(t["group_id"], billing_);
  EXPECT_EQ(t["custom_fields"], json::parse(R"([{"id":360002,"value":"account_access"}])"));
  // The request used additional_tags, never tags (which replaces).
  json sent = json::parse(fake_.Requests().back().body)["ticket"];
  EXPECT_FALSE(sent.contains("tags"));
  auto comments = fake_.Comments(id);
  ASSERT_EQ(comments.size(), 2u);
  EXPECT_FALSE(comments[1]["public"].get<bool>());
  EXPECT_EQ(comments[1]["author_id"], 900001);

  Ticket after = Fetch(id);
  EXPECT_EQ(after.group, "billing");
  EXPECT_EQ(after.custom_fields.at("category"), "account_access");
  EXPECT_TRUE(after.comments.back().by_deskpilot);
  EXPECT_EQ(after.comments.back().author_role, AuthorRole::kAgent);
}

TEST_F(ZendeskAdapterTest, RetriedApplyWritesOnceEvenFromAStaleSnapshot) {
  const int64_t id = NewTicket();
  Ticket before = Fetch(id);
  ASSERT_TRUE(hd_->Apply(before, Plan("dp-2", true)).ok());
  EXPECT_EQ(Puts(id), 2);  // fields + note, then the public reply
  ASSERT_TRUE(hd_->Apply(before, Plan("dp-2", true)).ok());
  ASSERT_TRUE(hd_->Apply(Fetch(id), Plan("dp-2", true)).ok());
  EXPECT_EQ(Puts(id), 2);
  auto comments = fake_.Comments(id);
  ASSERT_EQ(comments.size(), 3u);
  EXPECT_TRUE(comments[2]["public"].get<bool>());
  EXPECT_EQ(comments[2]["body"], "Please check your spam folder.");
}

// The same reply text may rightly go out twice: a later plan answering the customer's
// repeated question with the same passage. Only a retry of the same plan is held back.
TEST_F(ZendeskAdapterTest, ALaterPlanWithTheSameReplyTextPostsIt) {
  const int64_t id = NewTicket();
  ASSERT_TRUE(hd_->Apply(Fetch(id), Plan("dp-5", true)).ok());
  fake_.AddComment(id, customer_, "Still nothing, same question.", true);
  ASSERT_TRUE(hd_->Apply(Fetch(id), Plan("dp-6", true)).ok());
  ASSERT_TRUE(hd_->Apply(Fetch(id), Plan("dp-6", true)).ok());  // a retry of the second
  int replies = 0;
  for (const auto& c : fake_.Comments(id)) replies += c["public"].get<bool>() && c["author_id"] == 900001;
  EXPECT_EQ(replies, 2);

  // A plan without a note (an approval) posts its reply once the customer has written
  // since the same text went out, and only once.
  WritePlan approval;
  approval.idempotency_key = "approve-1";
  approval.actions = {{ActionType::kAddPublicReply, {}, "Please check your spam folder.", ""}};
  ASSERT_TRUE(hd_->Apply(Fetch(id), approval).ok());
  EXPECT_EQ(fake_.Comments(id).size(), 6u) << "held back: nobody wrote since the same reply";
  fake_.AddComment(id, customer_, "Checked spam, nothing.", true);
  ASSERT_TRUE(hd_->Apply(Fetch(id), approval).ok());
  ASSERT_TRUE(hd_->Apply(Fetch(id), approval).ok());
  replies = 0;
  for (const auto& c : fake_.Comments(id)) replies += c["public"].get<bool>() && c["author_id"] == 900001;
  EXPECT_EQ(replies, 3);
}

TEST_F(ZendeskAdapterTest, HonoursRetryAfterOn429) {
  const int64_t id = NewTicket();
  Ticket before = Fetch(id);
  fake_.InjectFault({"PUT", "/api/v2/tickets/", 429, 1, "7"});
  Status st = hd_->Apply(before, Plan("dp-3", false));
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Puts(id), 2);
  ASSERT_FALSE(slept_.empty());
  EXPECT_GE(slept_.back(), milliseconds(7000));
  EXPECT_EQ(fake_.Comments(id).size(), 2u);

  // Reads honour it too.
  slept_.clear();
  fake_.InjectFault({"GET", "/api/v2/tickets/", 429, 1, "3"});
  Fetch(id);
  ASSERT_EQ(slept_.size(), 1u);
  EXPECT_GE(slept_[0], milliseconds(3000));
}

TEST_F(ZendeskAdapterTest, LongRetryAfterGoesBackToTheQueue) {
  const int64_t id = NewTicket();
  Ticket before = Fetch(id);
  fake_.InjectFault({"PUT", "/api/v2/tickets/", 429, 10, "120"});
  Status st = hd_->Apply(before, Plan("dp-4", false));
  EXPECT_EQ(st.code(), Code::kResourceExhausted) << st.ToString();
  ASSERT_TRUE(st.retry_after().has_value());
  EXPECT_EQ(*st.retry_after(), milliseconds(120000));
  EXPECT_EQ(fake_.Comments(id).size(), 1u);
}

TEST_F(ZendeskAdapterTest, ServerErrorsThenSuccessWriteOnce) {
  const int64_t id = NewTicket();
  Ticket before = Fetch(id);
  fake_.InjectFault({"PUT", "/api/v2/tickets/", 503, 2, ""});
  Status st = hd_->Apply(before, Plan("dp-5", false));
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Puts(id), 3);
  EXPECT_EQ(fake_.Comments(id).size(), 2u);

  fake_.InjectFault({"GET", "/api/v2/tickets/", 500, 2, ""});
  EXPECT_EQ(Fetch(id).comments.size(), 2u);
}

TEST_F(ZendeskAdapterTest, UnauthorizedAndDeletedTickets) {
  const int64_t id = NewTicket();
  ZendeskOptions wrong = Options(fake_.base_url());
  wrong.api_token = "nope";
  auto bad = NewZendeskHelpdesk(wrong, http_.get());
  EXPECT_EQ(bad->FetchTicket(std::to_string(id)).status().code(), Code::kUnauthenticated);

  Ticket before = Fetch(id);
  fake_.InjectFault({"PUT", "/api/v2/tickets/", 401, 1, ""});
  EXPECT_EQ(hd_->Apply(before, Plan("dp-6", false)).code(), Code::kUnauthenticated);
  EXPECT_EQ(Puts(id), 1);  // never retried

  fake_.DeleteTicket(id);
  EXPECT_EQ(hd_->FetchTicket(std::to_string(id)).status().code(), Code::kNotFound);
  EXPECT_EQ(hd_->Apply(before, Plan("dp-6", false)).code(), Code::kNotFound);
  EXPECT_EQ(hd_->FetchTicket("12abc").status().code(), Code::kInvalidArgument);
}

TEST_F(ZendeskAdapterTest, OAuthBearerToken) {
  ZendeskFakeOptions fo;
  fo.oauth_token = "oauth-123";
  ZendeskFake fake(fo);
  ASSERT_TRUE(fake.Start().ok());
  const int64_t customer = fake.AddUser("Eve", "eve@example.com", "end-user");
  const int64_t id = fake.AddTicket({{"subject", "Hi"}, {"description", "Hello"}, {"requester_id", customer}});
  ZendeskOptions o = Options(fake.base_url());
  o.email.clear();
  o.api_token.clear();
  o.oauth_token = "oauth-123";
  auto hd = NewZendeskHelpdesk(o, http_.get());
  auto t = hd->FetchTicket(std::to_string(id));
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->requester.email, "eve@example.com");
}

TEST_F(ZendeskAdapterTest, StaysUnderThePerTicketUpdateCap) {
  const int64_t id = NewTicket();
  for (int i = 0; i < kZendeskTicketUpdateCap; ++i) fake_.AddComment(id, 900001, "earlier note", false);
  Status st = hd_->Apply(Fetch(id), Plan("dp-7", false));
  EXPECT_EQ(st.code(), Code::kResourceExhausted) << st.ToString();
  ASSERT_TRUE(st.retry_after().has_value());
  EXPECT_GT(*st.retry_after(), milliseconds(9 * 60 * 1000));
  EXPECT_EQ(Puts(id), 0);
}

TEST_F(ZendeskAdapterTest, SpentRateLimitStopsBeforeTheSecondUpdateAndResumes) {
  ZendeskFakeOptions fo;
  // users/me, ticket, comments, Apply's comments re-read, first PUT: the budget is gone.
  fo.rate_limit_per_minute = 5;
  ZendeskFake fake(fo);
  ASSERT_TRUE(fake.Start().ok());
  const int64_t customer = fake.AddUser("Eve", "eve@example.com", "end-user");
  const int64_t id = fake.AddTicket({{"subject", "Hi"}, {"description", "Hello"}, {"requester_id", customer}});
  auto hd = NewZendeskHelpdesk(Options(fake.base_url()), http_.get());
  auto t = hd->FetchTicket(std::to_string(id));
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  Status st = hd->Apply(*t, Plan("dp-8", true));
  EXPECT_EQ(st.code(), Code::kResourceExhausted) << st.ToString();
  EXPECT_EQ(fake.Comments(id).size(), 2u);  // the note landed, the reply waits
  fake.ResetRateLimit();
  ASSERT_TRUE(hd->Apply(*t, Plan("dp-8", true)).ok());
  auto comments = fake.Comments(id);
  ASSERT_EQ(comments.size(), 3u);
  EXPECT_TRUE(comments[2]["public"].get<bool>());
}

}  // namespace
}  // namespace deskpilot
