#include "helpdesk/zammad/zammad_helpdesk.h"

#include <stdlib.h>

#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "deskpilot/crypto.h"
#include "deskpilot/registry.h"
#include "deskpilot/rfc3339.h"
#include "helpdesk/zammad/register.h"
#include "helpdesk/zammad/zammad_fake.h"
#include "service/shadow_report.h"

namespace deskpilot {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr char kToken[] = "zammad_sig_test";
// Computed independently:
//   printf '%s' BODY | openssl dgst -sha1 -hmac zammad_sig_test
constexpr char kVectorBody[] =
    R"({"ticket":{"id":42,"title":"Cannot log in","updated_by_id":7,"updated_by":{"id":7,"login":"bob@example.com"}},"article":{"id":101,"created_by_id":7,"sender":"Customer","internal":false}})";
constexpr char kVectorSignature[] = "sha1=be77f4082b91ef3b6d02a82c1829f53af88efe8f";
const std::string kApiUser = "3";  // the fake's API user

ZammadOptions Options(const std::string& base_url = "http://127.0.0.1:1") {
  ZammadOptions o;
  o.name = "zm";
  o.base_url = base_url;
  o.api_token = "zm-test-token";
  o.signature_token = kToken;
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

class ZammadWebhookTest : public ::testing::Test {
 protected:
  std::unique_ptr<HttpClient> http_ = NewCurlHttpClient();
  std::unique_ptr<Helpdesk> hd_ = NewZammadHelpdesk(Options(), http_.get());
};

TEST_F(ZammadWebhookTest, AcceptsTheKnownSignatureVectorInEitherHexCase) {
  EXPECT_TRUE(hd_->VerifyWebhook(Req(kVectorBody, {{"x-hub-signature", kVectorSignature}})).ok());
  std::string upper = kVectorSignature;
  for (size_t i = 5; i < upper.size(); ++i) upper[i] = static_cast<char>(std::toupper(upper[i]));
  EXPECT_TRUE(hd_->VerifyWebhook(Req(kVectorBody, {{"x-hub-signature", upper}})).ok());
}

TEST_F(ZammadWebhookTest, RejectsTamperingWrongTokenMissingMalformedAndRepeatedSignatures) {
  auto rejected = [&](const WebhookRequest& r) {
    Status st = hd_->VerifyWebhook(r);
    EXPECT_EQ(st.code(), Code::kUnauthenticated) << st.ToString();
    EXPECT_EQ(st.message().find(kToken), std::string::npos);
  };
  std::string tampered = kVectorBody;
  tampered[tampered.find("42")] = '7';
  rejected(Req(tampered, {{"x-hub-signature", kVectorSignature}}));
  rejected(Req(kVectorBody, {{"x-hub-signature", "sha1=" + HexEncode(HmacSha1("other", kVectorBody))}}));
  // SHA-256 of the right token is not what Zammad sends.
  rejected(Req(kVectorBody, {{"x-hub-signature", "sha256=" + HexEncode(HmacSha256(kToken, kVectorBody))}}));
  rejected(Req(kVectorBody, {{"x-hub-signature", std::string(kVectorSignature).substr(5)}}));  // no sha1=
  rejected(Req(kVectorBody, {{"x-hub-signature", "sha1=zz"}}));
  rejected(Req(kVectorBody, {{"x-hub-signature", "sha1="}}));
  rejected(Req(kVectorBody, {{"x-hub-signature", ""}}));
  rejected(Req(kVectorBody, {}));
  // The listener joins a repeated header with ", " (RFC 9110): never accepted, even when
  // one of the copies is right.
  rejected(Req(kVectorBody, {{"x-hub-signature", std::string(kVectorSignature) + ", " + kVectorSignature}}));
  rejected(Req(kVectorBody, {{"x-hub-signature", std::string(kVectorSignature) + ", sha1=00"}}));
}

TEST_F(ZammadWebhookTest, ParsesTheDefaultPayloadAndDedupesOnTheDeliveryId) {
  auto ev = hd_->ParseWebhook(Req(kVectorBody, {{"x-zammad-delivery", "job-7f3a"}}));
  ASSERT_TRUE(ev.ok()) << ev.status().ToString();
  EXPECT_EQ(ev->ticket_id, "42");
  EXPECT_EQ(ev->event_type, "ticket.article_created");
  EXPECT_EQ(ev->dedupe_key, "zammad:zm:job-7f3a");
  EXPECT_FALSE(ev->self_caused);
  // Zammad's retry of the same delivery has the same key.
  EXPECT_EQ(hd_->ParseWebhook(Req(kVectorBody, {{"x-zammad-delivery", "job-7f3a"}}))->dedupe_key, ev->dedupe_key);

  // Without the header, the body's hash identifies the delivery.
  auto no_header = hd_->ParseWebhook(Req(kVectorBody));
  ASSERT_TRUE(no_header.ok());
  EXPECT_EQ(no_header->dedupe_key, "zammad:zm:sha256:" + Sha256Hex(kVectorBody));

  // A ticket-only payload (a trigger on a field change) with a string id.
  auto update = hd_->ParseWebhook(Req(R"({"ticket":{"id":"43","updated_by_id":9},"article":null})"));
  ASSERT_TRUE(update.ok()) << update.status().ToString();
  EXPECT_EQ(update->ticket_id, "43");
  EXPECT_EQ(update->event_type, "ticket.updated");
}

TEST_F(ZammadWebhookTest, MalformedPayloadsAreInvalidArgument) {
  for (const char* bad : {"", "{", "[1]", "null", R"({"article":{"id":1}})", R"({"ticket":"42"})",
                          R"({"ticket":{}})", R"({"ticket":{"id":"abc"}})", R"({"ticket":{"id":0}})",
                          R"({"ticket":{"id":-4}})", R"({"ticket":{"id":4.5}})", R"({"ticket":{"id":42}} trailing)"}) {
    auto r = hd_->ParseWebhook(Req(bad));
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("zammad webhook"), std::string::npos) << r.status().ToString();
  }
}

TEST_F(ZammadWebhookTest, EventsCausedByTheApiUserAreSelfCaused) {
  // deskpilot's own note: the article's author is the API user.
  auto note = hd_->ParseWebhook(Req(R"({"ticket":{"id":42,"updated_by_id":3},"article":{"id":5,"created_by_id":3}})"));
  ASSERT_TRUE(note.ok());
  EXPECT_TRUE(note->self_caused);
  // deskpilot's own tag or priority change: no article, the ticket's updater.
  auto update = hd_->ParseWebhook(Req(R"({"ticket":{"id":42,"updated_by_id":3}})"));
  ASSERT_TRUE(update.ok());
  EXPECT_TRUE(update->self_caused);
  // Only the expanded association carries the id.
  auto expanded = hd_->ParseWebhook(Req(R"({"ticket":{"id":42,"updated_by":{"id":3}}})"));
  ASSERT_TRUE(expanded.ok());
  EXPECT_TRUE(expanded->self_caused);
  // A customer's article on a ticket deskpilot updated last is the customer's event.
  auto customer = hd_->ParseWebhook(Req(R"({"ticket":{"id":42,"updated_by_id":3},"article":{"id":6,"created_by_id":7}})"));
  ASSERT_TRUE(customer.ok());
  EXPECT_FALSE(customer->self_caused);
  // "30" is not "3".
  EXPECT_FALSE(hd_->ParseWebhook(Req(R"({"ticket":{"id":42,"updated_by_id":30}})"))->self_caused);
}

TEST(ZammadConfigTest, FactoryValidatesKeys) {
  setenv("DP_ZM_TEST_TOKEN", "tok", 1);
  setenv("DP_ZM_TEST_SIG", "sig", 1);
  setenv("DP_ZM_TEST_EMPTY", "", 1);
  auto http = NewCurlHttpClient();
  Registry registry;
  RegisterZammadHelpdesk(registry);
  auto make = [&](const json& section) {
    ConfigSection s(section, "helpdesk[0]");
    AdapterContext ctx;
    ctx.section = &s;
    ctx.name = "zm";
    ctx.http = http.get();
    return registry.MakeHelpdesk("zammad", ctx);
  };
  json good = {{"name", "zm"},
               {"type", "zammad"},
               {"base_url", "https://desk.example.com/"},
               {"api_token_env", "DP_ZM_TEST_TOKEN"},
               {"signature_token_env", "DP_ZM_TEST_SIG"},
               {"api_user_id", 3},
               {"kb_locale", "en-us"},
               {"priorities", {{"urgent", "4 urgent"}}},
               {"groups", {{"billing", "Billing"}}}};
  auto hd = make(good);
  ASSERT_TRUE(hd.ok()) << hd.status().ToString();
  EXPECT_EQ((*hd)->type(), "zammad");
  EXPECT_EQ((*hd)->ArticleLocales(), (std::vector<std::string>{"en-us"}));
  json string_id = good;
  string_id["api_user_id"] = "3";
  EXPECT_TRUE(make(string_id).ok());

  auto error_names = [&](json section, const std::string& key) {
    auto r = make(section);
    ASSERT_FALSE(r.ok()) << section.dump();
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find(key), std::string::npos) << r.status().ToString();
  };
  json unknown = good;
  unknown["colour"] = "blue";
  error_names(unknown, "colour");
  json no_url = good;
  no_url.erase("base_url");
  error_names(no_url, "base_url");
  json api_suffix = good;
  api_suffix["base_url"] = "https://desk.example.com/api/v1";
  error_names(api_suffix, "base_url");
  json no_token = good;
  no_token.erase("api_token_env");
  error_names(no_token, "api_token");
  json no_signature = good;
  no_signature.erase("signature_token_env");
  error_names(no_signature, "signature_token");
  json empty_signature = good;
  empty_signature["signature_token_env"] = "DP_ZM_TEST_EMPTY";
  error_names(empty_signature, "signature_token_env");
  json inline_signature = good;
  inline_signature.erase("signature_token_env");
  inline_signature["signature_token"] = "sig";
  error_names(inline_signature, "signature_token");
  json no_user = good;
  no_user.erase("api_user_id");
  error_names(no_user, "api_user_id");
  json bad_user = good;
  bad_user["api_user_id"] = "bot";
  error_names(bad_user, "api_user_id");
  json bad_priority = good;
  bad_priority["priorities"] = {{"critical", "4 critical"}};
  error_names(bad_priority, "priorities.critical");
  json empty_group = good;
  empty_group["groups"]["billing"] = "";
  error_names(empty_group, "groups.billing");
}

// The adapter against the loopback Zammad fake, over real HTTP.
class ZammadAdapterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fake_.Start().ok());
    customer_ = fake_.AddUser("Bob", "Customer", "bob@example.com", "Customer");
    agent_ = fake_.AddUser("Alice", "Agent", "alice@acme.com", "Agent");
    fake_.AddGroup("Billing");
    ZammadOptions o = Options(fake_.base_url());
    o.groups = {{"billing", "Billing"}};
    o.sleep = [this](milliseconds d) { slept_.push_back(d); };
    hd_ = NewZammadHelpdesk(o, http_.get());
  }

  int64_t NewTicket(const std::string& body = "Password reset mail never arrives.",
                    const std::string& content_type = "text/plain") {
    return fake_.AddTicket({{"title", "Cannot log in"}, {"customer_id", customer_}, {"tags", {"vip", "deskpilot"}}},
                           body, content_type);
  }
  Ticket Fetch(int64_t id) {
    auto t = hd_->FetchTicket(std::to_string(id));
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? *t : Ticket{};
  }
  int Count(const std::string& method, const std::string& prefix) { return fake_.CountRequests(method, prefix); }

  ZammadFake fake_;
  int64_t customer_ = 0, agent_ = 0;
  std::vector<milliseconds> slept_;
  std::unique_ptr<HttpClient> http_ = NewCurlHttpClient();
  std::unique_ptr<Helpdesk> hd_;
};

TEST_F(ZammadAdapterTest, FetchTicketMapsFieldsRolesInternalArticlesAndHtml) {
  const int64_t id = NewTicket();
  fake_.AddArticle(id, agent_, "<p>Looking into it.</p><p>Alice</p>", false, "Agent", "text/html", "email");
  fake_.AddArticle(id, agent_, "internal: check SSO", true, "Agent", "text/plain", "note");
  fake_.AddArticle(id, 1, "Auto-reply: we got your mail", false, "System", "text/plain", "email");
  Ticket t = Fetch(id);
  EXPECT_EQ(t.id, std::to_string(id));
  EXPECT_EQ(t.source, "zm");
  EXPECT_EQ(t.subject, "Cannot log in");
  EXPECT_EQ(t.description, "Password reset mail never arrives.");
  EXPECT_EQ(t.status, "new");
  EXPECT_EQ(t.priority, "normal");
  EXPECT_EQ(t.group, "Users");
  EXPECT_EQ(t.channel, "web");
  EXPECT_EQ(t.requester.email, "bob@example.com");
  EXPECT_EQ(t.requester.name, "Bob Customer");
  EXPECT_EQ(t.tags, (std::vector<std::string>{"vip", "deskpilot"}));
  ASSERT_EQ(t.comments.size(), 4u);
  EXPECT_EQ(t.comments[0].author_role, AuthorRole::kCustomer);
  EXPECT_EQ(t.comments[0].author_id, std::to_string(customer_));
  EXPECT_EQ(t.comments[1].author_role, AuthorRole::kAgent);
  EXPECT_EQ(t.comments[1].body, "Looking into it.\n\nAlice");
  EXPECT_TRUE(t.comments[1].is_public);
  EXPECT_EQ(t.comments[2].author_role, AuthorRole::kAgent);
  EXPECT_FALSE(t.comments[2].is_public);
  EXPECT_EQ(t.comments[3].author_role, AuthorRole::kSystem);
  for (const auto& c : t.comments) EXPECT_FALSE(c.by_deskpilot);
  // Authenticated with the access token.
  EXPECT_EQ(Count("GET", "/api/v1/tickets/" + std::to_string(id)), 1);

  // Configured names map back: Zammad's "3 high" is deskpilot's high, a group name to its key.
  ASSERT_TRUE(http_->Send({"PUT", fake_.base_url() + "/api/v1/tickets/" + std::to_string(id),
                           {{"Authorization", "Token token=zm-test-token"}, {"Content-Type", "application/json"}},
                           R"({"priority":"3 high","group":"Billing"})"})
                  .ok());
  t = Fetch(id);
  EXPECT_EQ(t.priority, "high");
  EXPECT_EQ(t.group, "billing");
}

// Custom object attributes are the ticket's top-level keys that are not Zammad's own.
TEST_F(ZammadAdapterTest, FetchTicketReadsCustomAttributesAndNoCoreOnes) {
  const int64_t id = fake_.AddTicket({{"title", "Cannot log in"},
                                      {"customer_id", customer_},
                                      {"attributes",
                                       {{"category", "account_access"},
                                        {"contract_no", 4711},
                                        {"hours", 1.5},
                                        {"vip", true},
                                        {"trial", false},
                                        {"products", {"web", "mobile"}},
                                        {"region", nullptr},
                                        {"none_picked", json::array()},
                                        {"product_tree", "Hardware::Laptop"}}}},
                                     "Locked out.");
  Ticket t = Fetch(id);
  EXPECT_EQ(t.custom_fields, (std::map<std::string, std::string>{{"category", "account_access"},
                                                                 {"contract_no", "4711"},
                                                                 {"hours", "1.5"},
                                                                 {"vip", "true"},
                                                                 {"trial", "false"},
                                                                 {"products", "web, mobile"},
                                                                 {"product_tree", "Hardware::Laptop"}}));
  // What the fake's record holds besides: core columns with values (state_id, group_id,
  // owner_id, article_count, number, last_contact_at...) and expand=true's names.
  const json raw = fake_.Ticket(id);
  for (const char* core : {"state_id", "group_id", "owner_id", "priority_id", "customer_id", "article_count",
                           "number", "title", "last_contact_at", "created_at", "state", "group", "owner",
                           "priority", "customer", "create_article_type", "create_article_sender"}) {
    EXPECT_TRUE(raw.contains(core)) << core;
    EXPECT_EQ(t.custom_fields.count(core), 0u) << core;
  }
  // A ticket without custom attributes has none.
  EXPECT_TRUE(Fetch(NewTicket()).custom_fields.empty());

  // What Apply writes as a custom field reads back as one.
  WritePlan plan;
  plan.actions.push_back({ActionType::kSetCustomField, {}, "billing", "category"});
  ASSERT_TRUE(hd_->Apply(t, plan).ok());
  EXPECT_EQ(Fetch(id).custom_fields.at("category"), "billing");
}

TEST_F(ZammadAdapterTest, HtmlBodiesBecomeText) {
  const int64_t id = NewTicket(
      "<div>Hello&nbsp;team,</div><!-- <p>hidden</p> --><style>p{color:red}</style><script>alert(1)</script>"
      "<p>The   invoice\n  shows &#8364;12 &amp; not &#x24;10 &lt;sic&gt;.</p><ul><li>one</li><li>two</li></ul>"
      "Thanks<br>Bob &unknown; &",
      "text/html");
  fake_.AddArticle(id, customer_, "<b>plain</b> & <i>as is</i>", false, "Customer", "text/plain");
  Ticket t = Fetch(id);
  EXPECT_EQ(t.description,
            "Hello team,\n\nThe invoice shows \u20ac12 & not $10 <sic>.\n\n- one\n- two\nThanks\nBob &unknown; &");
  // text/plain bodies are taken as they are.
  ASSERT_EQ(t.comments.size(), 2u);
  EXPECT_EQ(t.comments[1].body, "<b>plain</b> & <i>as is</i>");
}

// A customer's mail of many short <script></script> pairs (800 KB) is read in linear
// time; a copy of the remaining body per tag took minutes.
TEST_F(ZammadAdapterTest, ManyScriptTagsAreSkippedInLinearTime) {
  std::string body = "<p>Before</p><SCRIPT>a</ScRiPt>";
  for (int i = 0; i < 50000; ++i) body += "<script></script>";
  body += "<style>p{}</style><p>after</p><script>never closed";
  const auto start = std::chrono::steady_clock::now();
  Ticket t = Fetch(NewTicket(body, "text/html"));
  EXPECT_EQ(t.description, "Before\n\nafter");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(ZammadAdapterTest, TheApiUsersArticlesAndMarkedNotesAreDeskpilots) {
  const int64_t id = NewTicket();
  fake_.AddArticle(id, 3, "deskpilot triage\n\ndeskpilot-ref: k1", true, "Agent", "text/plain", "note");
  // An agent's internal note quoting the marker (e.g. a forwarded note) is deskpilot's too.
  fake_.AddArticle(id, agent_, "<p>see deskpilot-ref: k1</p>", true, "Agent", "text/html", "note");
  // A customer quoting it in public is not.
  fake_.AddArticle(id, customer_, "deskpilot-ref: k1", false, "Customer");
  Ticket t = Fetch(id);
  ASSERT_EQ(t.comments.size(), 4u);
  EXPECT_TRUE(t.comments[1].by_deskpilot);
  EXPECT_EQ(t.comments[1].author_role, AuthorRole::kAgent);
  EXPECT_TRUE(t.comments[2].by_deskpilot);
  EXPECT_FALSE(t.comments[3].by_deskpilot);
  EXPECT_EQ(t.comments[3].author_role, AuthorRole::kCustomer);
}

TEST_F(ZammadAdapterTest, DeletedTicketsWrongTokensAndBadIds) {
  const int64_t id = NewTicket();
  fake_.DeleteTicket(id);
  auto gone = hd_->FetchTicket(std::to_string(id));
  EXPECT_EQ(gone.status().code(), Code::kNotFound) << gone.status().ToString();
  EXPECT_FALSE(gone.status().retryable());
  EXPECT_EQ(Count("GET", "/api/v1/tickets/"), 1);  // never retried

  const int64_t other = NewTicket();
  ZammadOptions wrong = Options(fake_.base_url());
  wrong.api_token = "nope";
  auto bad = NewZammadHelpdesk(wrong, http_.get());
  EXPECT_EQ(bad->FetchTicket(std::to_string(other)).status().code(), Code::kUnauthenticated);
  for (const char* id_text : {"", "12abc", "0", "-1", "../users/1"})
    EXPECT_EQ(hd_->FetchTicket(id_text).status().code(), Code::kInvalidArgument) << id_text;
}

TEST_F(ZammadAdapterTest, ReadsRetryOn429WithRetryAfterAnd5xx) {
  const int64_t id = NewTicket();
  fake_.InjectFault({"GET", "/api/v1/ticket_articles/", 429, 1, "3"});
  fake_.InjectFault({"GET", "/api/v1/tags", 503, 2, ""});
  Ticket t = Fetch(id);
  EXPECT_EQ(t.comments.size(), 1u);
  ASSERT_FALSE(slept_.empty());
  EXPECT_GE(slept_.front(), milliseconds(3000));
  EXPECT_EQ(slept_.size(), 3u);
}

WritePlan Plan(const std::string& key, bool with_reply) {
  WritePlan plan;
  plan.idempotency_key = key;
  plan.actions = {
      {ActionType::kSetTags, {"deskpilot", "deskpilot_cat_login"}, "", ""},
      {ActionType::kSetPriority, {}, "urgent", ""},
      {ActionType::kSetGroup, {}, "billing", ""},
      {ActionType::kSetCustomField, {}, "account_access", "category"},
      {ActionType::kAddInternalNote, {}, "Summary: cannot log in & <locked>.\n\ndeskpilot-ref: " + key, ""},
  };
  if (with_reply) plan.actions.push_back({ActionType::kAddPublicReply, {}, "Please check your spam folder.", ""});
  return plan;
}

TEST_F(ZammadAdapterTest, ApplyWritesExactlyTheExpectedCalls) {
  const int64_t id = NewTicket();
  const std::string sid = std::to_string(id);
  Ticket before = Fetch(id);
  const size_t reads = fake_.Requests().size();
  Status st = hd_->Apply(before, Plan("dp-1", false));
  ASSERT_TRUE(st.ok()) << st.ToString();

  std::vector<std::string> calls;
  std::vector<ZammadFake::Request> log = fake_.Requests();
  for (size_t i = reads; i < log.size(); ++i) calls.push_back(log[i].method + " " + log[i].path);
  EXPECT_EQ(calls, (std::vector<std::string>{"GET /api/v1/ticket_articles/by_ticket/" + sid,
                                             "POST /api/v1/ticket_articles", "GET /api/v1/tags",
                                             "POST /api/v1/tags/add", "PUT /api/v1/tickets/" + sid}));
  // The note: internal, HTML, the text escaped.
  json note = json::parse(log[reads + 1].body);
  EXPECT_EQ(note["ticket_id"], id);
  EXPECT_EQ(note["type"], "note");
  EXPECT_EQ(note["internal"], true);
  EXPECT_EQ(note["content_type"], "text/html");
  EXPECT_EQ(note["body"], "Summary: cannot log in &amp; &lt;locked&gt;.<br><br>deskpilot-ref: dp-1");
  // Only the missing tag was added, one call per tag; the agents' tags stay.
  EXPECT_EQ(json::parse(log[reads + 3].body), json({{"item", "deskpilot_cat_login"}, {"object", "Ticket"}, {"o_id", id}}));
  EXPECT_EQ(fake_.Tags(id), (std::vector<std::string>{"vip", "deskpilot", "deskpilot_cat_login"}));
  // Priority and group by Zammad's names; urgent is "3 high" unless configured.
  EXPECT_EQ(json::parse(log[reads + 4].body),
            json({{"priority", "3 high"}, {"group", "Billing"}, {"category", "account_access"}}));
  json t = fake_.Ticket(id);
  EXPECT_EQ(t["priority"], "3 high");
  EXPECT_EQ(t["group"], "Billing");

  // No public reply was planned, so none went out.
  auto articles = fake_.Articles(id);
  ASSERT_EQ(articles.size(), 2u);
  EXPECT_EQ(articles[1]["internal"], true);

  Ticket after = Fetch(id);
  EXPECT_TRUE(after.comments.back().by_deskpilot);
  EXPECT_FALSE(after.comments.back().is_public);
  EXPECT_EQ(after.comments.back().body, "Summary: cannot log in & <locked>.\n\ndeskpilot-ref: dp-1");
  EXPECT_EQ(after.priority, "high");
  EXPECT_EQ(after.group, "billing");
}

TEST_F(ZammadAdapterTest, ConfiguredPriorityMapIsUsed) {
  ZammadOptions o = Options(fake_.base_url());
  o.priorities["urgent"] = "2 normal";  // a desk's own map (the fake knows Zammad's three)
  auto hd = NewZammadHelpdesk(o, http_.get());
  const int64_t id = NewTicket();
  WritePlan plan;
  plan.idempotency_key = "p";
  plan.actions = {{ActionType::kSetPriority, {}, "urgent", ""}, {ActionType::kSetPriority, {}, "critical", ""}};
  ASSERT_TRUE(hd->Apply(Fetch(id), plan).ok());
  EXPECT_EQ(json::parse(fake_.Requests().back().body), json({{"priority", "2 normal"}}));
}

TEST_F(ZammadAdapterTest, PublicReplyOnlyWhenPlannedAndRetriesWriteOnce) {
  const int64_t id = NewTicket();
  Ticket before = Fetch(id);
  ASSERT_TRUE(hd_->Apply(before, Plan("dp-2", true)).ok());
  auto articles = fake_.Articles(id);
  ASSERT_EQ(articles.size(), 3u);
  EXPECT_EQ(articles[2]["type"], "email");
  EXPECT_EQ(articles[2]["internal"], false);
  EXPECT_EQ(articles[2]["to"], "bob@example.com");
  EXPECT_EQ(articles[2]["subject"], "Re: Cannot log in");
  EXPECT_EQ(articles[2]["body"], "Please check your spam folder.");
  EXPECT_EQ(Count("POST", "/api/v1/tags/add"), 1);

  // A retry of the same plan, from the stale snapshot or a fresh one, writes nothing new.
  ASSERT_TRUE(hd_->Apply(before, Plan("dp-2", true)).ok());
  ASSERT_TRUE(hd_->Apply(Fetch(id), Plan("dp-2", true)).ok());
  EXPECT_EQ(fake_.Articles(id).size(), 3u);
  EXPECT_EQ(Count("POST", "/api/v1/ticket_articles"), 2);
  EXPECT_EQ(Count("POST", "/api/v1/tags/add"), 1);

  // A later plan with the same reply text, after the customer wrote again, posts it.
  fake_.AddArticle(id, customer_, "Still nothing.", false, "Customer");
  ASSERT_TRUE(hd_->Apply(Fetch(id), Plan("dp-3", true)).ok());
  int replies = 0;
  for (const auto& a : fake_.Articles(id)) replies += a["type"] == "email" && a["internal"] == false;
  EXPECT_EQ(replies, 2);

  // An approval (a reply without a note) is held back until someone else wrote since.
  WritePlan approval;
  approval.idempotency_key = "approve-1";
  approval.actions = {{ActionType::kAddPublicReply, {}, "Please check your spam folder.", ""}};
  ASSERT_TRUE(hd_->Apply(Fetch(id), approval).ok());
  EXPECT_EQ(fake_.Articles(id).size(), 6u);
}

TEST_F(ZammadAdapterTest, AReplyNeedsTheCustomersAddress) {
  const int64_t id = fake_.AddTicket({{"title", "No customer"}, {"customer_id", 999}}, "hello");
  Ticket t = Fetch(id);
  EXPECT_EQ(t.requester.email, "");
  Status st = hd_->Apply(t, Plan("dp-4", true));
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("email"), std::string::npos);
  // Nothing went out by email; the note is there for the agents.
  auto articles = fake_.Articles(id);
  ASSERT_EQ(articles.size(), 2u);
  EXPECT_EQ(articles[1]["type"], "note");
}

TEST_F(ZammadAdapterTest, HonoursRetryAfterOn429ThenSucceeds) {
  const int64_t id = NewTicket();
  Ticket before = Fetch(id);
  fake_.InjectFault({"POST", "/api/v1/ticket_articles", 429, 1, "7"});
  fake_.InjectFault({"POST", "/api/v1/tags/add", 429, 1, "2"});
  fake_.InjectFault({"PUT", "/api/v1/tickets/", 429, 1, "1"});
  Status st = hd_->Apply(before, Plan("dp-5", false));
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(slept_.size(), 3u);
  EXPECT_GE(slept_[0], milliseconds(7000));
  EXPECT_GE(slept_[1], milliseconds(2000));
  EXPECT_GE(slept_[2], milliseconds(1000));
  EXPECT_EQ(fake_.Articles(id).size(), 2u);
  EXPECT_EQ(Count("POST", "/api/v1/ticket_articles"), 2);
  EXPECT_EQ(fake_.Ticket(id)["priority"], "3 high");
}

TEST_F(ZammadAdapterTest, LongRetryAfterGoesBackToTheQueue) {
  const int64_t id = NewTicket();
  fake_.InjectFault({"POST", "/api/v1/ticket_articles", 429, 10, "120"});
  Status st = hd_->Apply(Fetch(id), Plan("dp-6", false));
  EXPECT_EQ(st.code(), Code::kResourceExhausted) << st.ToString();
  ASSERT_TRUE(st.retry_after().has_value());
  EXPECT_EQ(*st.retry_after(), milliseconds(120000));
  EXPECT_TRUE(slept_.empty());
  EXPECT_EQ(fake_.Articles(id).size(), 1u);
}

TEST_F(ZammadAdapterTest, ANoteWhoseAnswerWasLostIsNotPostedTwice) {
  const int64_t id = NewTicket();
  Ticket before = Fetch(id);
  // Zammad created the note, but the answer came back as a 502.
  ZammadFake::Fault lost{"POST", "/api/v1/ticket_articles", 502, 1, ""};
  lost.after_serving = true;
  fake_.InjectFault(lost);
  fake_.InjectFault({"POST", "/api/v1/tags/add", 503, 2, ""});
  Status st = hd_->Apply(before, Plan("dp-7", false));
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Count("POST", "/api/v1/ticket_articles"), 1);
  EXPECT_EQ(fake_.Articles(id).size(), 2u);
  EXPECT_EQ(Count("POST", "/api/v1/tags/add"), 3);
  EXPECT_EQ(fake_.Tags(id).size(), 3u);
}

TEST_F(ZammadAdapterTest, ClientErrorsAreNotRetried) {
  const int64_t id = NewTicket();
  Ticket before = Fetch(id);
  fake_.InjectFault({"POST", "/api/v1/ticket_articles", 401, 1, ""});
  EXPECT_EQ(hd_->Apply(before, Plan("dp-8", false)).code(), Code::kUnauthenticated);
  EXPECT_EQ(Count("POST", "/api/v1/ticket_articles"), 1);

  // A group Zammad does not know: 422, not retried; the note is already there.
  WritePlan plan = Plan("dp-9", false);
  plan.actions[2].value = "nosuchgroup";
  Status st = hd_->Apply(before, plan);
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st.ToString();
  EXPECT_FALSE(st.retryable());
  EXPECT_EQ(Count("PUT", "/api/v1/tickets/"), 1);
  EXPECT_EQ(fake_.Articles(id).size(), 2u);

  fake_.DeleteTicket(id);
  st = hd_->Apply(before, Plan("dp-10", false));
  EXPECT_EQ(st.code(), Code::kNotFound) << st.ToString();
  EXPECT_FALSE(st.retryable());
  EXPECT_EQ(hd_->Apply(Ticket{}, Plan("dp-11", false)).code(), Code::kInvalidArgument);
  EXPECT_TRUE(hd_->Apply(before, WritePlan{}).ok());
}


// --- ListSolvedTickets: the search, its paging and the checks made again here ---

std::chrono::system_clock::time_point At(const std::string& rfc3339) { return ParseRfc3339(rfc3339).value(); }

std::vector<std::string> Ids(const std::vector<Ticket>& ts) {
  std::vector<std::string> out;
  for (const Ticket& t : ts) out.push_back(t.id);
  return out;
}

TEST_F(ZammadAdapterTest, ListSolvedTicketsSearchesClosedNewestFirstAndDropsWhatIsOlder) {
  auto ticket = [&](const std::string& title, const std::string& state, const std::string& updated_at) {
    const int64_t id = fake_.AddTicket({{"title", title}, {"customer_id", customer_}, {"state", state},
                                        {"tags", {"cat_" + title}}},
                                       "Question about " + title);
    fake_.AddArticle(id, agent_, "Answer about " + title, false, "Agent", "text/plain", "email");
    fake_.SetUpdatedAt(id, updated_at);
    return std::to_string(id);
  };
  const std::string older = ticket("older", "closed", "2026-01-05T11:59:59.900Z");  // the search's day, before
  const std::string newest = ticket("newest", "closed", "2026-01-06T09:00:00.000Z");
  const std::string day_before = ticket("day_before", "closed", "2026-01-04T23:00:00.000Z");
  const std::string same_second = ticket("same_second", "closed", "2026-01-05T12:00:00.500Z");
  ticket("too_old", "closed", "2026-01-03T10:00:00.000Z");
  ticket("open", "open", "2026-01-07T10:00:00.000Z");
  ticket("merged", "merged", "2026-01-07T10:00:00.000Z");

  auto list = hd_->ListSolvedTickets(At("2026-01-05T12:00:00Z"), 10, /*with_comments=*/false);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  // The search answers from the day before (whole days); what is older is dropped here.
  EXPECT_EQ(Ids(*list), (std::vector<std::string>{newest, same_second}));
  const Ticket& t = list->front();
  EXPECT_EQ(t.source, "zm");
  EXPECT_EQ(t.subject, "newest");
  EXPECT_EQ(t.description, "Question about newest");
  EXPECT_EQ(t.status, "closed");
  EXPECT_EQ(t.priority, "normal");
  EXPECT_EQ(t.group, "Users");
  EXPECT_EQ(t.updated_at, "2026-01-06T09:00:00.000Z");
  EXPECT_EQ(t.tags, (std::vector<std::string>{"cat_newest"}));
  EXPECT_TRUE(t.comments.empty());
  EXPECT_TRUE(t.requester.email.empty());  // without comments, no customer record is read

  // Exactly one search, with the query, page and order Zammad takes.
  std::vector<ZammadFake::Request> searches;
  for (const auto& r : fake_.Requests())
    if (r.path == "/api/v1/tickets/search") searches.push_back(r);
  ASSERT_EQ(searches.size(), 1u);
  EXPECT_EQ(searches[0].method, "GET");
  EXPECT_EQ(searches[0].params, (std::map<std::string, std::string>{
                                    {"query", "state.name:closed AND updated_at:[2026-01-04 TO *]"},
                                    {"limit", "100"},
                                    {"page", "1"},
                                    {"sort_by", "updated_at"},
                                    {"order_by", "desc"},
                                    {"expand", "true"}}));
  // The search's own record is used: no ticket read, no user read; articles (for the
  // description) and tags for the two listed tickets only.
  EXPECT_EQ(Count("GET", "/api/v1/tickets/" + newest), 0);
  EXPECT_EQ(Count("GET", "/api/v1/users/"), 0);
  EXPECT_EQ(Count("GET", "/api/v1/ticket_articles/by_ticket/"), 2);
  EXPECT_EQ(Count("GET", "/api/v1/tags"), 2);
  for (const std::string& id : {older, day_before})
    EXPECT_EQ(Count("GET", "/api/v1/ticket_articles/by_ticket/" + id), 0);

  EXPECT_EQ(hd_->ListSolvedTickets(At("2026-01-05T12:00:00Z"), 0, false).status().code(), Code::kInvalidArgument);
}

// `train --source zm --field category`: the labels come from a custom attribute.
TEST_F(ZammadAdapterTest, ListSolvedTicketsLabelsByACustomAttributeAsTrainDoes) {
  auto ticket = [&](const std::string& title, const json& attributes) {
    json seed = {{"title", title}, {"customer_id", customer_}, {"state", "closed"}};
    if (!attributes.is_null()) seed["attributes"] = attributes;
    return std::to_string(fake_.AddTicket(seed, "Question about " + title));
  };
  const std::string refund = ticket("refund", {{"category", "refund"}});
  const std::string login = ticket("login", {{"category", "account_access"}, {"priority_note", "x"}});
  ticket("unlabelled", {{"category", nullptr}});
  auto list = hd_->ListSolvedTickets(At("2020-01-01T00:00:00Z"), 10, /*with_comments=*/false);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 3u);
  std::map<std::string, std::set<std::string>> labels;
  for (const Ticket& t : *list) labels[t.id] = AgentLabels(t, {"", "category"});
  EXPECT_EQ(labels[refund], (std::set<std::string>{"refund"}));
  EXPECT_EQ(labels[login], (std::set<std::string>{"account_access"}));
  size_t unlabelled = 0;
  for (const auto& [id, l] : labels) unlabelled += l.empty();
  EXPECT_EQ(unlabelled, 1u);
  // The search's record carries the attributes: no extra call per ticket.
  EXPECT_EQ(Count("GET", "/api/v1/tickets/" + refund), 0);
  EXPECT_EQ(Count("GET", "/api/v1/object_manager_attributes"), 0);
}

TEST_F(ZammadAdapterTest, ListSolvedTicketsReadsEveryPageUpToTheLimit) {
  // 205 closed tickets, one a minute: pages of 100 are 100, 100 and 5.
  std::vector<std::string> newest_first;
  for (int i = 0; i < 205; ++i) {
    const int64_t id = fake_.AddTicket({{"title", std::to_string(i)}, {"state", "closed"}}, "q");
    char updated[32];
    std::snprintf(updated, sizeof(updated), "2026-02-01T%02d:%02d:00.000Z", i / 60, i % 60);
    fake_.SetUpdatedAt(id, updated);
    newest_first.insert(newest_first.begin(), std::to_string(id));
  }
  const auto since = At("2026-01-01T00:00:00Z");
  auto some = hd_->ListSolvedTickets(since, 150, false);
  ASSERT_TRUE(some.ok()) << some.status().ToString();
  EXPECT_EQ(Ids(*some), std::vector<std::string>(newest_first.begin(), newest_first.begin() + 150));
  // Page 2 holds the 150th: page 3 is not asked for.
  std::vector<std::string> pages;
  for (const auto& r : fake_.Requests())
    if (r.path == "/api/v1/tickets/search") pages.push_back(r.params.at("page"));
  EXPECT_EQ(pages, (std::vector<std::string>{"1", "2"}));

  auto all = hd_->ListSolvedTickets(since, 1000, false);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(Ids(*all), newest_first);
  EXPECT_EQ(Count("GET", "/api/v1/tickets/search"), 2 + 3);  // a short page is the last
}

TEST_F(ZammadAdapterTest, ListSolvedTicketsWithCommentsReadsThemAsFetchTicketDoes) {
  const int64_t id = fake_.AddTicket({{"title", "Refund"}, {"customer_id", customer_}, {"state", "closed"}},
                                     "Where is my refund?");
  fake_.AddArticle(id, agent_, "<p>Refunds take <b>five</b> days.</p>", false, "Agent", "text/html", "email");
  fake_.AddArticle(id, agent_, "checked the PSP", true, "Agent", "text/plain", "note");
  const int64_t gone = fake_.AddTicket({{"title", "Gone"}, {"customer_id", customer_}, {"state", "closed"}}, "q");
  // Deleted between the search and the read: skipped, not an error.
  fake_.InjectFault({"GET", "/api/v1/ticket_articles/by_ticket/" + std::to_string(gone), 404, 1, ""});

  auto list = hd_->ListSolvedTickets(At("2020-01-01T00:00:00Z"), 10, /*with_comments=*/true);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(Ids(*list), (std::vector<std::string>{std::to_string(id)}));
  const Ticket listed = list->front();
  EXPECT_EQ(Count("GET", "/api/v1/tickets/" + std::to_string(id)), 0);
  const Ticket fetched = Fetch(id);
  EXPECT_EQ(listed.subject, fetched.subject);
  EXPECT_EQ(listed.description, "Where is my refund?");
  EXPECT_EQ(listed.requester.email, "bob@example.com");
  EXPECT_EQ(listed.requester.name, fetched.requester.name);
  ASSERT_EQ(listed.comments.size(), 3u);
  ASSERT_EQ(fetched.comments.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(listed.comments[i].id, fetched.comments[i].id);
    EXPECT_EQ(listed.comments[i].body, fetched.comments[i].body);
    EXPECT_EQ(listed.comments[i].author_role, fetched.comments[i].author_role);
    EXPECT_EQ(listed.comments[i].is_public, fetched.comments[i].is_public);
  }
  EXPECT_EQ(listed.comments[1].body, "Refunds take five days.");
  EXPECT_EQ(listed.comments[1].author_role, AuthorRole::kAgent);
  EXPECT_FALSE(listed.comments[2].is_public);
}

TEST_F(ZammadAdapterTest, ListSolvedTicketsSearchErrors) {
  fake_.AddTicket({{"title", "x"}, {"state", "closed"}}, "q");
  const auto since = At("2020-01-01T00:00:00Z");
  // 5xx is retried, a 4xx is not.
  fake_.InjectFault({"GET", "/api/v1/tickets/search", 503, 1, ""});
  auto ok = hd_->ListSolvedTickets(since, 10, false);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->size(), 1u);
  fake_.InjectFault({"GET", "/api/v1/tickets/search", 401, 1, ""});
  const int before = Count("GET", "/api/v1/tickets/search");
  EXPECT_EQ(hd_->ListSolvedTickets(since, 10, false).status().code(), Code::kUnauthenticated);
  EXPECT_EQ(Count("GET", "/api/v1/tickets/search"), before + 1);
}


// --- ListArticles: the knowledge base's answers ---

class ZammadKnowledgeBaseTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(fake_.Start().ok()); }
  std::unique_ptr<Helpdesk> Adapter(const std::string& kb_locale) {
    ZammadOptions o = Options(fake_.base_url());
    o.kb_locale = kb_locale;
    return NewZammadHelpdesk(o, http_.get());
  }
  // The bodies of the knowledge_bases/init calls, in order.
  std::vector<json> InitBodies() {
    std::vector<json> out;
    for (const auto& r : fake_.Requests())
      if (r.method == "POST" && r.path == "/api/v1/knowledge_bases/init") out.push_back(json::parse(r.body));
    return out;
  }

  ZammadFake fake_;
  std::unique_ptr<HttpClient> http_ = NewCurlHttpClient();
};

TEST_F(ZammadKnowledgeBaseTest, ListsThePrimaryLocalesAnswersDraftsFlaggedArchivedLeftOut) {
  const std::string past = "2026-01-01T00:00:00.000Z", future = "2999-01-01T00:00:00.000Z";
  const int64_t published = fake_.AddKbAnswer({{"title", "Refund timing"},
                                               {"body", "<p>Refunds take <b>five</b> days.</p>"},
                                               {"category_id", 4},
                                               {"internal_at", past},
                                               {"published_at", past},
                                               {"updated_at", "2026-01-10T08:00:00.000Z"}});
  fake_.AddKbTranslation(published, {{"title", "Erstattung"}, {"body", "<p>Fünf Tage.</p>"}, {"kb_locale_id", 2}});
  const int64_t internal = fake_.AddKbAnswer({{"title", "Internal only"}, {"body", "agents"}, {"internal_at", past}});
  const int64_t draft = fake_.AddKbAnswer({{"title", "Draft"}, {"body", "secret draft"}});
  const int64_t scheduled = fake_.AddKbAnswer({{"title", "Soon"}, {"body", "not yet"}, {"published_at", future}});
  fake_.AddKbAnswer({{"title", "Old"}, {"body", "gone"}, {"published_at", past}, {"archived_at", past}});
  const int64_t archive_later = fake_.AddKbAnswer(
      {{"title", "Until 2999"}, {"body", "<p>still here</p>"}, {"published_at", past}, {"archived_at", future}});

  auto hd = Adapter("en-us");
  EXPECT_EQ(hd->ArticleLocales(), (std::vector<std::string>{"en-us"}));
  auto list = hd->ListArticles("en-us", std::nullopt);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 5u);
  const HelpArticle& a = (*list)[0];
  EXPECT_EQ(a.id, std::to_string(published));
  EXPECT_EQ(a.locale, "en-us");
  EXPECT_EQ(a.title, "Refund timing");
  EXPECT_EQ(a.body_html, "<p>Refunds take <b>five</b> days.</p>");
  EXPECT_EQ(a.url, fake_.base_url() + "/help/en-us/4/" + std::to_string(published));
  EXPECT_EQ(a.updated_at, "2026-01-10T08:00:00.000Z");
  EXPECT_FALSE(a.draft);
  auto find = [&](int64_t id) {
    for (const HelpArticle& x : *list)
      if (x.id == std::to_string(id)) return x;
    ADD_FAILURE() << "answer " << id << " not listed";
    return HelpArticle{};
  };
  // Internal, draft and scheduled answers are listed as drafts, without their text.
  for (int64_t id : {internal, draft, scheduled}) {
    EXPECT_TRUE(find(id).draft) << id;
    EXPECT_TRUE(find(id).body_html.empty()) << id;
  }
  EXPECT_FALSE(find(archive_later).draft);
  EXPECT_EQ(find(archive_later).body_html, "<p>still here</p>");

  // Two calls: the assets, then the contents of the published answers' primary translations.
  const std::vector<json> bodies = InitBodies();
  ASSERT_EQ(bodies.size(), 2u);
  EXPECT_EQ(bodies[0], json::object());
  EXPECT_EQ(bodies[1], (json{{"answer_translation_content_ids", {published * 10 + 1, archive_later * 10 + 1}}}));
  EXPECT_EQ(fake_.Requests().size(), 2u);

  // Another locale is refused; without kb_locale there is nothing to sync.
  EXPECT_EQ(hd->ListArticles("de-de", std::nullopt).status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(Adapter("")->ArticleLocales().empty());
  EXPECT_EQ(Adapter("")->ListArticles("en-us", std::nullopt).status().code(), Code::kInvalidArgument);
}

TEST_F(ZammadKnowledgeBaseTest, OnlyAnswersChangedSinceAreListedAndFetched) {
  const std::string past = "2026-01-01T00:00:00.000Z";
  fake_.AddKbAnswer({{"title", "Unchanged"}, {"body", "a"}, {"published_at", past}, {"updated_at", "2026-01-02T00:00:00.000Z"}});
  const int64_t edited = fake_.AddKbAnswer(
      {{"title", "Edited"}, {"body", "b"}, {"published_at", past}, {"updated_at", "2026-01-10T00:00:00.000Z"}});
  // Only the translation is newer (its title changed): still a change.
  const int64_t retitled = fake_.AddKbAnswer({{"title", "Retitled"},
                                              {"body", "c"},
                                              {"published_at", past},
                                              {"updated_at", "2026-01-02T00:00:00.000Z"},
                                              {"translation_updated_at", "2026-01-06T00:00:00.000Z"}});
  auto changed = Adapter("en-us")->ListArticles("en-us", At("2026-01-05T00:00:00Z"));
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  EXPECT_EQ(changed->size(), 2u);
  EXPECT_EQ((*changed)[0].id, std::to_string(edited));
  EXPECT_EQ((*changed)[0].body_html, "b");
  EXPECT_EQ((*changed)[1].id, std::to_string(retitled));
  EXPECT_EQ((*changed)[1].updated_at, "2026-01-06T00:00:00.000Z");
  const std::vector<json> bodies = InitBodies();
  ASSERT_EQ(bodies.size(), 2u);
  EXPECT_EQ(bodies[1], (json{{"answer_translation_content_ids", {edited * 10 + 1, retitled * 10 + 1}}}));
}

TEST_F(ZammadKnowledgeBaseTest, AUserWithoutKnowledgeBaseAccessIsAClearError) {
  ZammadFakeOptions no_kb;
  no_kb.kb_permission = false;
  ZammadFake fake(no_kb);
  ASSERT_TRUE(fake.Start().ok());
  ZammadOptions o = Options(fake.base_url());
  o.kb_locale = "en-us";
  auto list = NewZammadHelpdesk(o, http_.get())->ListArticles("en-us", std::nullopt);
  EXPECT_EQ(list.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(list.status().message().find("knowledge_base.reader"), std::string::npos) << list.status().ToString();
  // Nothing listed at all: nothing to fetch.
  EXPECT_EQ(fake.CountRequests("", "/"), 1);
}


// --- Approval-tag deliveries (the approval webhook's signed custom payload) ---

// What Zammad sends for the approval webhook's custom payload (zammad_admin.cc), the id
// variables rendered as integers.
constexpr char kApprovalBody[] = R"({"deskpilot_event":"approval_tag","ticket":{"id":42,"updated_by_id":7}})";

TEST_F(ZammadWebhookTest, TheSignedApprovalMarkerMakesAnApprovalOnlyEvent) {
  ZammadOptions o = Options();
  o.approval_tag = "deskpilot_approved";
  auto hd = NewZammadHelpdesk(o, http_.get());
  const std::string sig = "sha1=" + HexEncode(HmacSha1(kToken, kApprovalBody));
  ASSERT_TRUE(hd->VerifyWebhook(Req(kApprovalBody, {{"x-hub-signature", sig}})).ok());
  auto ev = hd->ParseWebhook(Req(kApprovalBody, {{"x-zammad-delivery", "job-1"}}));
  ASSERT_TRUE(ev.ok()) << ev.status().ToString();
  EXPECT_EQ(ev->event_type, kApprovalTagEvent);
  EXPECT_EQ(ev->ticket_id, "42");
  EXPECT_TRUE(ev->ignore_reason.empty());
  EXPECT_FALSE(ev->self_caused);
  // deskpilot's own update while the tag is on stays self-caused.
  auto own = hd->ParseWebhook(Req(R"({"deskpilot_event":"approval_tag","ticket":{"id":42,"updated_by_id":3}})"));
  ASSERT_TRUE(own.ok());
  EXPECT_TRUE(own->self_caused);

  // The ordinary payload is unchanged by the approval set-up.
  EXPECT_EQ(hd->ParseWebhook(Req(kVectorBody))->event_type, "ticket.article_created");
  // A marker next to an article cannot hide the article from triage.
  auto with_article = hd->ParseWebhook(
      Req(R"({"deskpilot_event":"approval_tag","ticket":{"id":42},"article":{"id":5,"created_by_id":7}})"));
  ASSERT_TRUE(with_article.ok());
  EXPECT_EQ(with_article->event_type, "ticket.article_created");
  // Another marker value, or the marker nested where ticket data lives, is no marker.
  EXPECT_EQ(hd->ParseWebhook(Req(R"({"deskpilot_event":"approved","ticket":{"id":42}})"))->event_type, "ticket.updated");
  EXPECT_EQ(hd->ParseWebhook(Req(R"({"ticket":{"id":42,"deskpilot_event":"approval_tag"}})"))->event_type,
            "ticket.updated");

  // A forged marker body without the token's signature never gets this far.
  EXPECT_EQ(hd->VerifyWebhook(Req(kApprovalBody)).code(), Code::kUnauthenticated);
  EXPECT_EQ(hd->VerifyWebhook(Req(kApprovalBody, {{"x-hub-signature", "sha1=" + HexEncode(HmacSha1("guess", kApprovalBody))}}))
                .code(),
            Code::kUnauthenticated);
}

TEST_F(ZammadWebhookTest, AnApprovalDeliveryWithoutAnApprovalTagIsIgnored) {
  auto ev = hd_->ParseWebhook(Req(kApprovalBody));
  ASSERT_TRUE(ev.ok()) << ev.status().ToString();
  EXPECT_EQ(ev->event_type, kApprovalTagEvent);
  EXPECT_NE(ev->ignore_reason.find("approval_tag is empty"), std::string::npos) << ev->ignore_reason;
}

// --- `webhook register|list|remove` against the fake's webhooks and triggers ---

class ZammadAdminTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(fake_.Start().ok()); }
  std::unique_ptr<Helpdesk> Make(const std::string& approval_tag = "") {
    ZammadOptions o = Options(fake_.base_url());
    o.approval_tag = approval_tag;
    o.sleep = [](milliseconds) {};
    return NewZammadHelpdesk(o, http_.get());
  }
  std::vector<json> Bodies(const std::string& method, const std::string& path) {
    std::vector<json> out;
    for (const auto& r : fake_.Requests())
      if (r.method == method && r.path == path) out.push_back(json::parse(r.body));
    return out;
  }
  static std::vector<std::string> Actions(const WebhookRegistration& reg) {
    std::vector<std::string> out;
    for (const auto& c : reg.changes) out.push_back(c.action + " " + c.kind + " " + c.name);
    return out;
  }
  // The trigger (as stored) of that name.
  json TriggerNamed(const std::string& name) {
    for (const auto& [id, t] : fake_.Triggers())
      if (t["name"] == name) return t;
    return json();
  }

  static constexpr char kEndpoint[] = "https://dp.example.com/webhooks/zm";
  ZammadFake fake_;
  std::unique_ptr<HttpClient> http_ = NewCurlHttpClient();
};

TEST_F(ZammadAdminTest, RegisterCreatesTheWebhookAndTwoTriggersSignedWithTheConfiguredToken) {
  auto hd = Make();
  ASSERT_NE(hd->webhook_admin(), nullptr);
  auto reg = hd->webhook_admin()->RegisterWebhook(kEndpoint);
  ASSERT_TRUE(reg.ok()) << reg.status().ToString();
  EXPECT_EQ(Actions(*reg), (std::vector<std::string>{"created webhook deskpilot-zm",
                                                     "created trigger deskpilot-zm: ticket created",
                                                     "created trigger deskpilot-zm: customer article"}));
  EXPECT_EQ(reg->endpoint, kEndpoint);
  EXPECT_TRUE(reg->signing_secret.empty());
  EXPECT_TRUE(reg->signed_with_configured_secret);

  const auto hooks = Bodies("POST", "/api/v1/webhooks");
  ASSERT_EQ(hooks.size(), 1u);
  EXPECT_EQ(hooks[0]["name"], "deskpilot-zm");
  EXPECT_EQ(hooks[0]["endpoint"], kEndpoint);
  EXPECT_EQ(hooks[0]["signature_token"], kToken);
  EXPECT_EQ(hooks[0]["ssl_verify"], true);
  EXPECT_EQ(hooks[0]["active"], true);
  EXPECT_EQ(hooks[0]["customized_payload"], false);
  EXPECT_TRUE(hooks[0]["custom_payload"].is_null());
  const std::string webhook_id = reg->changes[0].id;

  const auto triggers = Bodies("POST", "/api/v1/triggers");
  ASSERT_EQ(triggers.size(), 2u);
  const json fires = {{"notification.webhook", {{"webhook_id", webhook_id}}}};
  EXPECT_EQ(triggers[0]["name"], "deskpilot-zm: ticket created");
  EXPECT_EQ(triggers[0]["condition"], json::parse(R"({"ticket.action":{"operator":"is","value":"create"}})"));
  EXPECT_EQ(triggers[1]["name"], "deskpilot-zm: customer article");
  EXPECT_EQ(triggers[1]["condition"], json::parse(R"({"ticket.action":{"operator":"is","value":"update"},
                                                      "article.sender_id":{"operator":"is","value":["2"]}})"));
  for (const json& t : triggers) {
    EXPECT_EQ(t["perform"], fires);
    EXPECT_EQ(t["activator"], "action");
    EXPECT_EQ(t["execution_condition_mode"], "selective");
    EXPECT_EQ(t["active"], true);
  }
  // The secrets never travel anywhere else.
  for (const auto& r : fake_.Requests()) {
    if (r.path != "/api/v1/webhooks") {
      EXPECT_EQ(r.body.find(kToken), std::string::npos) << r.path;
    }
  }
}

TEST_F(ZammadAdminTest, ASecondRegisterChangesNothingAndNeverWritesTheMaskBack) {
  auto hd = Make("deskpilot_approved");
  ASSERT_TRUE(hd->webhook_admin()->RegisterWebhook(kEndpoint).ok());
  const int writes = fake_.CountRequests("POST", "/api/v1/") + fake_.CountRequests("PUT", "/api/v1/");
  auto again = hd->webhook_admin()->RegisterWebhook(kEndpoint);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  ASSERT_EQ(again->changes.size(), 5u);
  for (const auto& c : again->changes) EXPECT_EQ(c.action, "unchanged") << c.kind << " " << c.name;
  EXPECT_EQ(fake_.CountRequests("POST", "/api/v1/") + fake_.CountRequests("PUT", "/api/v1/"), writes);

  // A new URL updates both webhooks in place; the stored token stays the configured one,
  // not the mask Zammad listed.
  auto moved = hd->webhook_admin()->RegisterWebhook("https://new.example.com/webhooks/zm");
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_EQ(moved->changes[0].action, "updated");
  EXPECT_EQ(moved->changes[1].action, "updated");
  for (size_t i = 2; i < moved->changes.size(); ++i) EXPECT_EQ(moved->changes[i].action, "unchanged");
  ASSERT_EQ(fake_.Webhooks().size(), 2u);
  for (const auto& [id, w] : fake_.Webhooks()) {
    EXPECT_EQ(w["endpoint"], "https://new.example.com/webhooks/zm");
    EXPECT_EQ(w["signature_token"], kToken);
  }
}

TEST_F(ZammadAdminTest, ANewSignatureTokenIsPutOnTheWebhooksThoughZammadListsItMasked) {
  ASSERT_TRUE(Make("deskpilot_approved")->webhook_admin()->RegisterWebhook(kEndpoint).ok());
  // The admin rotates the token: the config now holds a new one.
  ZammadOptions o = Options(fake_.base_url());
  o.signature_token = "rotated-signature-token-0123456789";
  o.approval_tag = "deskpilot_approved";
  o.sleep = [](milliseconds) {};
  auto rotated = NewZammadHelpdesk(o, http_.get());
  auto reg = rotated->webhook_admin()->RegisterWebhook(kEndpoint);
  ASSERT_TRUE(reg.ok()) << reg.status().ToString();
  EXPECT_EQ(reg->changes[0].action, "updated");
  EXPECT_EQ(reg->changes[1].action, "updated");
  ASSERT_EQ(fake_.Webhooks().size(), 2u);
  for (const auto& [id, w] : fake_.Webhooks()) {
    EXPECT_EQ(w["signature_token"], "rotated-signature-token-0123456789");
    // The note holds a fingerprint of the token, never the token.
    EXPECT_EQ(w["note"].get<std::string>().find("rotated-signature-token"), std::string::npos);
  }
  // And with the same token again, nothing changes.
  auto again = rotated->webhook_admin()->RegisterWebhook(kEndpoint);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  for (const auto& c : again->changes) EXPECT_EQ(c.action, "unchanged") << c.kind << " " << c.name;
}

TEST_F(ZammadAdminTest, AnEditedTriggerIsPutBack) {
  auto hd = Make();
  auto reg = hd->webhook_admin()->RegisterWebhook(kEndpoint);
  ASSERT_TRUE(reg.ok()) << reg.status().ToString();
  const json original = TriggerNamed("deskpilot-zm: customer article");
  const int64_t id = original["id"].get<int64_t>();
  fake_.EditTrigger(id, {{"condition", {{"ticket.action", {{"operator", "is"}, {"value", "update"}}}}},
                         {"active", false}});
  auto again = hd->webhook_admin()->RegisterWebhook(kEndpoint);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(Actions(*again), (std::vector<std::string>{"unchanged webhook deskpilot-zm",
                                                       "unchanged trigger deskpilot-zm: ticket created",
                                                       "updated trigger deskpilot-zm: customer article"}));
  EXPECT_EQ(Bodies("PUT", "/api/v1/triggers/" + std::to_string(id)).size(), 1u);
  const json restored = TriggerNamed("deskpilot-zm: customer article");
  EXPECT_EQ(restored["condition"], original["condition"]);
  EXPECT_EQ(restored["active"], true);
  // Condition values Zammad echoes as numbers are the same condition.
  json numeric = restored["condition"];
  numeric["article.sender_id"]["value"] = json::array({2});
  fake_.EditTrigger(id, {{"condition", numeric}});
  auto third = hd->webhook_admin()->RegisterWebhook(kEndpoint);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->changes[2].action, "unchanged");
}

TEST_F(ZammadAdminTest, TheApprovalWebhookAndTriggerOnlyWithAnApprovalTag) {
  ASSERT_TRUE(Make()->webhook_admin()->RegisterWebhook(kEndpoint).ok());
  EXPECT_EQ(fake_.Webhooks().size(), 1u);
  EXPECT_TRUE(TriggerNamed("deskpilot-zm: approval tag").is_null());

  auto reg = Make("deskpilot_approved")->webhook_admin()->RegisterWebhook(kEndpoint);
  ASSERT_TRUE(reg.ok()) << reg.status().ToString();
  EXPECT_EQ(Actions(*reg), (std::vector<std::string>{"unchanged webhook deskpilot-zm",
                                                     "created webhook deskpilot-zm (approval tag)",
                                                     "unchanged trigger deskpilot-zm: ticket created",
                                                     "unchanged trigger deskpilot-zm: customer article",
                                                     "created trigger deskpilot-zm: approval tag"}));
  const auto hooks = Bodies("POST", "/api/v1/webhooks");
  ASSERT_EQ(hooks.size(), 2u);
  const json& approval = hooks[1];
  EXPECT_EQ(approval["name"], "deskpilot-zm (approval tag)");
  EXPECT_EQ(approval["endpoint"], kEndpoint);
  EXPECT_EQ(approval["signature_token"], kToken);
  EXPECT_EQ(approval["customized_payload"], true);
  EXPECT_EQ(json::parse(approval["custom_payload"].get<std::string>()),
            json::parse(R"({"deskpilot_event":"approval_tag","ticket":{"id":"#{ticket.id}","updated_by_id":"#{ticket.updated_by_id}"}})"));

  const json trigger = TriggerNamed("deskpilot-zm: approval tag");
  EXPECT_EQ(trigger["condition"], json::parse(R"({"ticket.action":{"operator":"is","value":"update"},
      "ticket.tags":{"operator":"contains one","value":"deskpilot_approved"},
      "ticket.updated_by_id":{"operator":"is not","pre_condition":"specific","value":["3"]}})"));
  EXPECT_EQ(trigger["execution_condition_mode"], "always");
  EXPECT_EQ(trigger["perform"]["notification.webhook"]["webhook_id"], reg->changes[1].id);
}

TEST_F(ZammadAdminTest, TurningApprovalByTagOffRemovesItsTriggerAndWebhookOnTheNextRegister) {
  ASSERT_TRUE(Make("deskpilot_approved")->webhook_admin()->RegisterWebhook(kEndpoint).ok());
  ASSERT_EQ(fake_.Webhooks().size(), 2u);
  const std::string trigger_id = TriggerNamed("deskpilot-zm: approval tag")["id"].dump();

  auto off = Make()->webhook_admin()->RegisterWebhook(kEndpoint);
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  EXPECT_EQ(Actions(*off), (std::vector<std::string>{"unchanged webhook deskpilot-zm",
                                                     "unchanged trigger deskpilot-zm: ticket created",
                                                     "unchanged trigger deskpilot-zm: customer article",
                                                     "deleted trigger deskpilot-zm: approval tag",
                                                     "deleted webhook deskpilot-zm (approval tag)"}));
  EXPECT_EQ(fake_.CountRequests("DELETE", "/api/v1/triggers/" + trigger_id), 1);
  ASSERT_EQ(fake_.Webhooks().size(), 1u);
  EXPECT_EQ(fake_.Webhooks().begin()->second["name"], "deskpilot-zm");
  EXPECT_TRUE(TriggerNamed("deskpilot-zm: approval tag").is_null());

  auto again = Make()->webhook_admin()->RegisterWebhook(kEndpoint);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  for (const auto& c : again->changes) EXPECT_EQ(c.action, "unchanged") << c.kind << " " << c.name;
}

TEST_F(ZammadAdminTest, ListMarksOursWithTheTriggersThatFireIt) {
  const int64_t other = fake_.AddWebhook({{"name", "Slack"}, {"endpoint", "https://hooks.slack.com/x"}, {"active", false}});
  auto hd = Make("deskpilot_approved");
  ASSERT_TRUE(hd->webhook_admin()->RegisterWebhook(kEndpoint).ok());
  auto list = hd->webhook_admin()->ListWebhooks();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 3u);
  const WebhookInfo& slack = (*list)[0];
  EXPECT_EQ(slack.id, std::to_string(other));
  EXPECT_FALSE(slack.ours);
  EXPECT_EQ(slack.status, "inactive");
  EXPECT_TRUE(slack.details.empty());
  const WebhookInfo& ours = (*list)[1];
  EXPECT_TRUE(ours.ours);
  EXPECT_EQ(ours.name, "deskpilot-zm");
  EXPECT_EQ(ours.endpoint, kEndpoint);
  EXPECT_EQ(ours.status, "active");
  ASSERT_EQ(ours.details.size(), 2u);
  EXPECT_NE(ours.details[0].find("deskpilot-zm: ticket created"), std::string::npos) << ours.details[0];
  EXPECT_NE(ours.details[1].find("deskpilot-zm: customer article"), std::string::npos) << ours.details[1];
  EXPECT_TRUE((*list)[2].ours);
  ASSERT_EQ((*list)[2].details.size(), 1u);
  EXPECT_NE((*list)[2].details[0].find("approval tag"), std::string::npos);
}

TEST_F(ZammadAdminTest, RemoveDeletesOurTriggersThenOurWebhooks) {
  const int64_t other = fake_.AddWebhook({{"name", "Slack"}, {"endpoint", "https://hooks.slack.com/x"}, {"active", true}});
  auto hd = Make("deskpilot_approved");
  ASSERT_TRUE(hd->webhook_admin()->RegisterWebhook(kEndpoint).ok());
  auto removed = hd->webhook_admin()->RemoveWebhook();
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  ASSERT_EQ(removed->size(), 5u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ((*removed)[i].kind, "trigger");
  for (size_t i = 3; i < 5; ++i) EXPECT_EQ((*removed)[i].kind, "webhook");
  for (const auto& c : *removed) EXPECT_EQ(c.action, "deleted");
  EXPECT_TRUE(fake_.Triggers().empty());
  ASSERT_EQ(fake_.Webhooks().size(), 1u);
  EXPECT_EQ(fake_.Webhooks().begin()->first, other);
  // Nothing left to delete is not an error.
  auto again = hd->webhook_admin()->RemoveWebhook();
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->empty());
}

TEST_F(ZammadAdminTest, MissingAdminPermissionIsAClearErrorWithoutTheToken) {
  fake_.Stop();
  ZammadFakeOptions fo;
  fo.admin_permission = false;
  ZammadFake fake(fo);
  ASSERT_TRUE(fake.Start().ok());
  ZammadOptions o = Options(fake.base_url());
  o.sleep = [](milliseconds) {};
  auto hd = NewZammadHelpdesk(o, http_.get());
  for (int op = 0; op < 3; ++op) {
    Status st = op == 0 ? hd->webhook_admin()->RegisterWebhook(kEndpoint).status()
                : op == 1 ? hd->webhook_admin()->ListWebhooks().status()
                          : hd->webhook_admin()->RemoveWebhook().status();
    EXPECT_EQ(st.code(), Code::kPermissionDenied) << st.ToString();
    EXPECT_FALSE(st.retryable());
    EXPECT_NE(st.message().find("admin.webhook"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("admin.trigger"), std::string::npos) << st.message();
    EXPECT_EQ(st.message().find(o.api_token), std::string::npos);
    EXPECT_EQ(st.message().find(kToken), std::string::npos);
  }
  // Nothing was created, and a refused call is not retried.
  EXPECT_EQ(fake.CountRequests("POST", "/"), 0);
  EXPECT_EQ(fake.CountRequests("GET", "/api/v1/webhooks"), 3);
  // A wrong token (401) reads the same way.
  o.api_token = "wrong-token";
  auto wrong = NewZammadHelpdesk(o, http_.get());
  Status st = wrong->webhook_admin()->ListWebhooks().status();
  EXPECT_EQ(st.code(), Code::kPermissionDenied) << st.ToString();
  EXPECT_EQ(st.message().find("wrong-token"), std::string::npos);
}

}  // namespace
}  // namespace deskpilot
