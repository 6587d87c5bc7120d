#include "helpdesk/freshdesk/freshdesk_helpdesk.h"

#include <stdlib.h>

#include <algorithm>
#include <cstdio>

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "deskpilot/crypto.h"
#include "deskpilot/rfc3339.h"
#include "deskpilot/registry.h"
#include "helpdesk/freshdesk/freshdesk_fake.h"
#include "helpdesk/freshdesk/register.h"

namespace deskpilot {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr char kSecret[] = "fd-webhook-secret-0123456789";
constexpr char kBody[] = R"({"ticket_id": 42, "event": "{status:{from:2,to:3}}", "modified_on": "2026-11-24T10:00:00Z"})";

FreshdeskOptions Options(const std::string& base_url = "http://127.0.0.1:1") {
  FreshdeskOptions o;
  o.name = "fd";
  o.base_url = base_url;
  o.api_key = "fd-test-key";
  o.webhook_secret = kSecret;
  o.api_agent_id = "7000";  // the fake's API agent
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

std::string Basic(const std::string& user, const std::string& password) {
  return "Basic " + Base64Encode(user + ":" + password);
}

class FreshdeskWebhookTest : public ::testing::Test {
 protected:
  std::unique_ptr<HttpClient> http_ = NewCurlHttpClient();
  std::unique_ptr<Helpdesk> hd_ = NewFreshdeskHelpdesk(Options(), http_.get());
};

TEST_F(FreshdeskWebhookTest, AcceptsTheSecretInTheHeaderOrAsTheBasicPassword) {
  EXPECT_TRUE(hd_->VerifyWebhook(Req(kBody, {{"x-deskpilot-token", kSecret}})).ok());
  EXPECT_TRUE(hd_->VerifyWebhook(Req(kBody, {{"authorization", Basic("freshdesk", kSecret)}})).ok());
  EXPECT_TRUE(hd_->VerifyWebhook(Req(kBody, {{"authorization", Basic("", kSecret)}})).ok());

  // A configured header name, matched whatever its case on the wire (the listener lowers it).
  FreshdeskOptions o = Options();
  o.webhook_header = "X-FD-Secret";
  auto custom = NewFreshdeskHelpdesk(o, http_.get());
  EXPECT_TRUE(custom->VerifyWebhook(Req(kBody, {{"x-fd-secret", kSecret}})).ok());
  EXPECT_EQ(custom->VerifyWebhook(Req(kBody, {{"x-deskpilot-token", kSecret}})).code(), Code::kUnauthenticated);
}

TEST_F(FreshdeskWebhookTest, RejectsMissingWrongAndRepeatedSecrets) {
  auto rejected = [&](const WebhookRequest& r) {
    Status st = hd_->VerifyWebhook(r);
    EXPECT_EQ(st.code(), Code::kUnauthenticated) << st.ToString();
    EXPECT_EQ(st.message().find(kSecret), std::string::npos);
  };
  rejected(Req(kBody, {}));
  rejected(Req(kBody, {{"x-deskpilot-token", "wrong"}}));
  rejected(Req(kBody, {{"x-deskpilot-token", std::string(kSecret) + "x"}}));
  rejected(Req(kBody, {{"x-deskpilot-token", std::string(kSecret).substr(1)}}));
  // Repeated headers arrive joined with ", ": never accepted.
  rejected(Req(kBody, {{"x-deskpilot-token", std::string(kSecret) + ", " + kSecret}}));
  // A wrong header is not rescued by a right Basic password: the header, when sent, decides.
  rejected(Req(kBody, {{"x-deskpilot-token", "wrong"}, {"authorization", Basic("u", kSecret)}}));
  rejected(Req(kBody, {{"authorization", Basic("u", "wrong")}}));
  rejected(Req(kBody, {{"authorization", Basic(kSecret, "")}}));  // the secret as user name is not it
  rejected(Req(kBody, {{"authorization", "Bearer " + std::string(kSecret)}}));
  rejected(Req(kBody, {{"authorization", "Basic !!notbase64"}}));
  rejected(Req(kBody, {{"authorization", "Basic " + Base64Encode(kSecret)}}));  // no colon

  FreshdeskOptions o = Options();
  o.webhook_secret.clear();
  auto unconfigured = NewFreshdeskHelpdesk(o, http_.get());
  EXPECT_EQ(unconfigured->VerifyWebhook(Req(kBody, {{"x-deskpilot-token", ""}})).code(), Code::kUnauthenticated);
}

TEST_F(FreshdeskWebhookTest, ParsesTheTemplateAndDedupesOnTheBodyHash) {
  auto ev = hd_->ParseWebhook(Req(kBody));
  ASSERT_TRUE(ev.ok()) << ev.status().ToString();
  EXPECT_EQ(ev->ticket_id, "42");
  EXPECT_EQ(ev->event_type, "ticket.rule_fired");
  EXPECT_EQ(ev->dedupe_key, std::string("freshdesk:fd:sha256:") + Sha256Hex(kBody));
  EXPECT_FALSE(ev->self_caused);
  // Freshdesk's retry (+5, +30, +60 min) resends the same body: the same key.
  EXPECT_EQ(hd_->ParseWebhook(Req(kBody))->dedupe_key, ev->dedupe_key);
  // Another update of the same ticket renders another event and modified_on: another key.
  auto other = hd_->ParseWebhook(
      Req(R"({"ticket_id": 42, "event": "{note_type:{from:,to:private}}", "modified_on": "2026-11-24T10:00:07Z"})"));
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->ticket_id, "42");
  EXPECT_NE(other->dedupe_key, ev->dedupe_key);
  // A quoted ticket id (the placeholder pasted inside quotes) is the same ticket.
  auto quoted = hd_->ParseWebhook(Req(R"({"ticket_id":"43"})"));
  ASSERT_TRUE(quoted.ok()) << quoted.status().ToString();
  EXPECT_EQ(quoted->ticket_id, "43");
}

TEST_F(FreshdeskWebhookTest, MalformedPayloadsAreInvalidArgument) {
  for (const char* bad : {"", "{", "[1]", "null", R"({"ticket":{"id":1}})", R"({"ticket_id":""})",
                          R"({"ticket_id":"{{ticket.id}}"})", R"({"ticket_id":0})", R"({"ticket_id":-4})",
                          R"({"ticket_id":4.5})", R"({"ticket_id":42} trailing)", "ticket_id=42"}) {
    auto r = hd_->ParseWebhook(Req(bad));
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("freshdesk webhook"), std::string::npos) << r.status().ToString();
  }
}

TEST(FreshdeskConfigTest, FactoryValidatesKeys) {
  setenv("DP_FD_TEST_KEY", "key", 1);
  setenv("DP_FD_TEST_SECRET", kSecret, 1);
  setenv("DP_FD_TEST_SHORT", "short-secret", 1);
  setenv("DP_FD_TEST_EMPTY", "", 1);
  auto http = NewCurlHttpClient();
  Registry registry;
  RegisterFreshdeskHelpdesk(registry);
  auto make = [&](const json& section) {
    ConfigSection s(section, "helpdesk[0]");
    AdapterContext ctx;
    ctx.section = &s;
    ctx.name = "fd";
    ctx.http = http.get();
    return registry.MakeHelpdesk("freshdesk", ctx);
  };
  json good = {{"name", "fd"},
               {"type", "freshdesk"},
               {"base_url", "https://acme.freshdesk.com/"},
               {"api_key_env", "DP_FD_TEST_KEY"},
               {"webhook_secret_env", "DP_FD_TEST_SECRET"},
               {"webhook_header", "X-Acme-Token"},
               {"api_agent_id", 7000},
               {"kb_locale", "en"},
               {"groups", {{"billing", 12}}}};
  auto hd = make(good);
  ASSERT_TRUE(hd.ok()) << hd.status().ToString();
  EXPECT_EQ((*hd)->type(), "freshdesk");
  json string_id = good;
  string_id["api_agent_id"] = "7000";
  string_id.erase("webhook_header");
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
  api_suffix["base_url"] = "https://acme.freshdesk.com/api/v2";
  error_names(api_suffix, "base_url");
  json no_key = good;
  no_key.erase("api_key_env");
  error_names(no_key, "api_key");
  json no_secret = good;
  no_secret.erase("webhook_secret_env");
  error_names(no_secret, "webhook_secret");
  json empty_secret = good;
  empty_secret["webhook_secret_env"] = "DP_FD_TEST_EMPTY";
  error_names(empty_secret, "webhook_secret_env");
  json short_secret = good;
  short_secret["webhook_secret_env"] = "DP_FD_TEST_SHORT";
  error_names(short_secret, "at least 16 bytes");
  json inline_secret = good;
  inline_secret.erase("webhook_secret_env");
  inline_secret["webhook_secret"] = kSecret;
  error_names(inline_secret, "webhook_secret");
  json bad_header = good;
  bad_header["webhook_header"] = "X Token:";
  error_names(bad_header, "webhook_header");
  json auth_header = good;
  auth_header["webhook_header"] = "authorization";
  error_names(auth_header, "webhook_header");
  json no_agent = good;
  no_agent.erase("api_agent_id");
  error_names(no_agent, "api_agent_id");
  json bad_agent = good;
  bad_agent["api_agent_id"] = "bot";
  error_names(bad_agent, "api_agent_id");
  json bad_group = good;
  bad_group["groups"]["billing"] = "Billing";
  error_names(bad_group, "groups.billing");
}

// The adapter against the loopback Freshdesk fake, over real HTTP.
class FreshdeskAdapterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fake_.Start().ok());
    customer_ = fake_.AddContact("Bob Customer", "bob@example.com");
    agent_ = fake_.AddAgent("Alice Agent", "alice@acme.com");
    billing_ = fake_.AddGroup("Billing");
    FreshdeskOptions o = Options(fake_.base_url());
    o.groups = {{"billing", billing_}};
    o.sleep = [this](milliseconds d) { slept_.push_back(d); };
    hd_ = NewFreshdeskHelpdesk(o, http_.get());
  }

  int64_t NewTicket(const std::string& description = "<div>Password reset mail never arrives.</div>") {
    return fake_.AddTicket({{"subject", "Cannot log in"},
                            {"requester_id", customer_},
                            {"priority", 2},
                            {"status", 2},
                            {"source", 1},
                            {"tags", {"vip", "deskpilot"}}},
                           description);
  }
  Ticket Fetch(int64_t id) {
    auto t = hd_->FetchTicket(std::to_string(id));
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? *t : Ticket{};
  }
  int Count(const std::string& method, const std::string& prefix) { return fake_.CountRequests(method, prefix); }
  std::vector<std::string> CallsSince(size_t from) {
    std::vector<std::string> calls;
    auto log = fake_.Requests();
    for (size_t i = from; i < log.size(); ++i) calls.push_back(log[i].method + " " + log[i].path);
    return calls;
  }

  FreshdeskFake fake_;
  int64_t customer_ = 0, agent_ = 0, billing_ = 0;
  std::vector<milliseconds> slept_;
  std::unique_ptr<HttpClient> http_ = NewCurlHttpClient();
  std::unique_ptr<Helpdesk> hd_;
};

TEST_F(FreshdeskAdapterTest, FetchTicketMapsFieldsRolesPrivateNotesAndBodyText) {
  const int64_t id = NewTicket();
  const std::string sid = std::to_string(id);
  fake_.AddConversation(id, agent_, "<p>Looking into it.</p><p>Alice</p>", false, false);
  fake_.AddConversation(id, agent_, "internal: check SSO", true, false);
  fake_.AddConversation(id, customer_, "<div>Still &lt;nothing&gt;</div>", false, true);
  // The requester replying from the portal is not incoming, and still the customer.
  fake_.AddConversation(id, customer_, "from the portal", false, false);
  // A third party on CC writing in by mail is from outside.
  fake_.AddConversation(id, fake_.AddContact("Carol", "carol@example.com"), "cc reply", false, true);
  Ticket t = Fetch(id);
  EXPECT_EQ(t.id, sid);
  EXPECT_EQ(t.source, "fd");
  EXPECT_EQ(t.subject, "Cannot log in");
  EXPECT_EQ(t.description, "Password reset mail never arrives.");
  EXPECT_EQ(t.status, "open");
  EXPECT_EQ(t.priority, "normal");
  EXPECT_EQ(t.channel, "email");
  EXPECT_EQ(t.group, "");
  EXPECT_EQ(t.requester.email, "bob@example.com");
  EXPECT_EQ(t.requester.name, "Bob Customer");
  EXPECT_EQ(t.tags, (std::vector<std::string>{"vip", "deskpilot"}));
  ASSERT_EQ(t.comments.size(), 6u);
  EXPECT_EQ(t.comments[0].body, "Password reset mail never arrives.");
  EXPECT_EQ(t.comments[0].author_role, AuthorRole::kCustomer);
  EXPECT_EQ(t.comments[0].author_id, std::to_string(customer_));
  EXPECT_EQ(t.comments[1].author_role, AuthorRole::kAgent);
  EXPECT_TRUE(t.comments[1].is_public);
  EXPECT_EQ(t.comments[1].body, "Looking into it.\nAlice");  // body_text, not the HTML
  EXPECT_EQ(t.comments[2].author_role, AuthorRole::kAgent);
  EXPECT_FALSE(t.comments[2].is_public);
  EXPECT_EQ(t.comments[3].author_role, AuthorRole::kCustomer);
  EXPECT_EQ(t.comments[3].body, "Still <nothing>");
  EXPECT_EQ(t.comments[4].author_role, AuthorRole::kCustomer);
  EXPECT_EQ(t.comments[5].author_role, AuthorRole::kCustomer);
  for (const auto& c : t.comments) EXPECT_FALSE(c.by_deskpilot);
  // One ticket read with the requester embedded, one page of conversations.
  EXPECT_EQ(CallsSince(0), (std::vector<std::string>{"GET /api/v2/tickets/" + sid,
                                                     "GET /api/v2/tickets/" + sid + "/conversations"}));
  auto log = fake_.Requests();
  EXPECT_EQ(log[0].params["include"], "requester");
  EXPECT_EQ(log[1].params["per_page"], "100");
  EXPECT_EQ(log[1].params["page"], "1");

  // Priority codes and a configured group id map back.
  ASSERT_TRUE(http_->Send({"PUT", fake_.base_url() + "/api/v2/tickets/" + sid,
                           {{"Authorization", Basic("fd-test-key", "X")}, {"Content-Type", "application/json"}},
                           json({{"priority", 4}, {"group_id", billing_}}).dump()})
                  .ok());
  t = Fetch(id);
  EXPECT_EQ(t.priority, "urgent");
  EXPECT_EQ(t.group, "billing");
}

TEST_F(FreshdeskAdapterTest, HtmlIsUsedOnlyWithoutBodyTextAndCustomFieldsAreRead) {
  const int64_t id = NewTicket(
      "<div>Hello&nbsp;team,</div><p>The invoice shows &lt;12&gt; &amp; more.</p><script>track()</script>Thanks<br>Bob");
  fake_.AddConversation(id, customer_, "<b>bold</b> reply", false, true);
  ASSERT_TRUE(http_->Send({"PUT", fake_.base_url() + "/api/v2/tickets/" + std::to_string(id),
                           {{"Authorization", Basic("fd-test-key", "X")}, {"Content-Type", "application/json"}},
                           R"({"custom_fields":{"cf_plan":"gold","cf_seats":12,"cf_empty":null}})"})
                  .ok());
  Ticket t = Fetch(id);
  // body_text as Freshdesk renders it (the fake keeps &nbsp; as is): not the HTML.
  EXPECT_EQ(t.comments[1].body, "bold reply");
  EXPECT_EQ(t.custom_fields, (std::map<std::string, std::string>{{"cf_plan", "gold"}, {"cf_seats", "12"}}));
  fake_.DropPlainText(id);
  t = Fetch(id);
  // Read as the other desks' HTML is (adapters/common/html_text): a <p> is a paragraph,
  // a script is not text.
  EXPECT_EQ(t.description, "Hello team,\n\nThe invoice shows <12> & more.\n\nThanks\nBob");
  EXPECT_EQ(t.comments[1].body, "bold reply");
}

TEST_F(FreshdeskAdapterTest, ConversationsArePagedByTheLinkHeader) {
  const int64_t id = NewTicket();
  for (int i = 0; i < 230; ++i) fake_.AddConversation(id, customer_, "message " + std::to_string(i), false, true);
  Ticket t = Fetch(id);
  ASSERT_EQ(t.comments.size(), 231u);
  EXPECT_EQ(t.comments[1].body, "message 0");
  EXPECT_EQ(t.comments.back().body, "message 229");
  EXPECT_EQ(Count("GET", "/api/v2/tickets/" + std::to_string(id) + "/conversations"), 3);

  // Exactly a full page: the missing Link ends the read without an empty page.
  const int64_t full = NewTicket();
  for (int i = 0; i < 100; ++i) fake_.AddConversation(full, customer_, "m", false, true);
  EXPECT_EQ(Fetch(full).comments.size(), 101u);
  EXPECT_EQ(Count("GET", "/api/v2/tickets/" + std::to_string(full) + "/conversations"), 1);
}

TEST_F(FreshdeskAdapterTest, TheApiAgentsConversationsAndMarkedNotesAreDeskpilots) {
  const int64_t id = NewTicket();
  fake_.AddConversation(id, fake_.api_agent_id(), "deskpilot triage<br><br>deskpilot-ref: k1", true, false);
  fake_.AddConversation(id, agent_, "<p>see deskpilot-ref: k1</p>", true, false);
  // A customer quoting the marker in public is not deskpilot.
  fake_.AddConversation(id, customer_, "deskpilot-ref: k1", false, true);
  Ticket t = Fetch(id);
  ASSERT_EQ(t.comments.size(), 4u);
  EXPECT_TRUE(t.comments[1].by_deskpilot);
  EXPECT_EQ(t.comments[1].author_role, AuthorRole::kAgent);
  EXPECT_TRUE(t.comments[2].by_deskpilot);
  EXPECT_FALSE(t.comments[3].by_deskpilot);
  EXPECT_EQ(t.comments[3].author_role, AuthorRole::kCustomer);
}

TEST_F(FreshdeskAdapterTest, DeletedTicketsWrongKeysAndBadIds) {
  const int64_t id = NewTicket();
  fake_.DeleteTicket(id);
  auto gone = hd_->FetchTicket(std::to_string(id));
  EXPECT_EQ(gone.status().code(), Code::kNotFound) << gone.status().ToString();
  EXPECT_FALSE(gone.status().retryable());
  EXPECT_EQ(Count("GET", "/api/v2/tickets/"), 1);  // never retried

  const int64_t other = NewTicket();
  FreshdeskOptions wrong = Options(fake_.base_url());
  wrong.api_key = "nope";
  auto bad = NewFreshdeskHelpdesk(wrong, http_.get());
  EXPECT_EQ(bad->FetchTicket(std::to_string(other)).status().code(), Code::kUnauthenticated);
  for (const char* id_text : {"", "12abc", "0", "-1", "../contacts/1"})
    EXPECT_EQ(hd_->FetchTicket(id_text).status().code(), Code::kInvalidArgument) << id_text;
}

TEST_F(FreshdeskAdapterTest, ReadsRetryOn429WithRetryAfterAnd5xx) {
  const int64_t id = NewTicket();
  fake_.InjectFault({"GET", "/api/v2/tickets/" + std::to_string(id) + "/conversations", 429, 1, "3"});
  fake_.InjectFault({"GET", "/api/v2/tickets/", 503, 1, ""});
  Ticket t = Fetch(id);
  EXPECT_EQ(t.comments.size(), 1u);
  ASSERT_EQ(slept_.size(), 2u);
  EXPECT_GE(slept_[1], milliseconds(3000));
}

TEST_F(FreshdeskAdapterTest, ListSolvedTicketsSearchesResolvedAndClosedNewestFirst) {
  auto at = [](int minute) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "2026-11-20T13:%02d:00Z", minute);
    return std::string(buf);
  };
  std::vector<int64_t> solved;
  for (int i = 0; i < 33; ++i) {
    const int64_t id = NewTicket("<p>question " + std::to_string(i) + "</p>");
    ASSERT_TRUE(http_->Send({"PUT", fake_.base_url() + "/api/v2/tickets/" + std::to_string(id),
                             {{"Authorization", Basic("fd-test-key", "X")}, {"Content-Type", "application/json"}},
                             R"({"tags":["solved"]})"})
                    .ok());
    solved.push_back(id);
  }
  // Statuses and times: the search itself is by status, so set them on the fake directly.
  for (int i = 0; i < 33; ++i) fake_.SetUpdatedAt(solved[static_cast<size_t>(i)], at(i));
  const int64_t open = NewTicket("still open");
  fake_.SetUpdatedAt(open, at(50));
  const int64_t early = NewTicket("solved this morning");
  fake_.SetUpdatedAt(early, "2026-11-20T08:00:00Z");  // the same day, before updated_since
  for (int64_t id : solved) fake_.SetStatus(id, id % 2 == 0 ? 4 : 5);
  fake_.SetStatus(early, 4);

  const auto since = ParseRfc3339("2026-11-20T12:00:00Z").value();
  auto list = hd_->ListSolvedTickets(since, 40, false);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 33u);
  EXPECT_EQ(list->front().id, std::to_string(solved.back()));  // newest first
  EXPECT_EQ(list->front().updated_at, at(32));
  EXPECT_EQ(list->front().description, "question 32");
  EXPECT_EQ(list->front().tags, (std::vector<std::string>{"solved"}));
  EXPECT_TRUE(list->front().status == "solved" || list->front().status == "closed");
  EXPECT_EQ(list->back().id, std::to_string(solved.front()));
  // Two pages of the search (30 + 4 hits), the quoted query, no per-ticket reads.
  auto log = fake_.Requests();
  std::vector<FreshdeskFake::Request> searches;
  for (const auto& r : log)
    if (r.path == "/api/v2/search/tickets") searches.push_back(r);
  ASSERT_EQ(searches.size(), 2u);
  EXPECT_EQ(searches[0].params["query"], "\"(status:4 OR status:5) AND updated_at:>'2026-11-19'\"");
  EXPECT_EQ(searches[1].params["page"], "2");
  EXPECT_EQ(Count("GET", "/api/v2/tickets/"), 0);

  auto with_comments = hd_->ListSolvedTickets(since, 2, true);
  ASSERT_TRUE(with_comments.ok()) << with_comments.status().ToString();
  ASSERT_EQ(with_comments->size(), 2u);
  EXPECT_EQ((*with_comments)[1].id, std::to_string(solved[31]));
  EXPECT_EQ((*with_comments)[1].requester.email, "bob@example.com");
  EXPECT_EQ(Count("GET", "/api/v2/tickets/"), 4);  // ticket + conversations, twice
  EXPECT_EQ(hd_->ListSolvedTickets(since, 0, false).status().code(), Code::kInvalidArgument);
}

TEST_F(FreshdeskAdapterTest, ListArticlesWalksCategoriesFoldersAndArticles) {
  const int64_t billing = fake_.AddCategory("Billing");
  const int64_t account = fake_.AddCategory("Account");
  const int64_t refunds = fake_.AddFolder(billing, "Refunds");
  const int64_t invoices = fake_.AddFolder(billing, "Invoices");
  const int64_t login = fake_.AddFolder(account, "Login");
  const int64_t refund = fake_.AddArticle(refunds, "Refund policy", "<p>Refunds take 5 days.</p>", 2, "2026-11-20T10:00:00Z");
  const int64_t draft = fake_.AddArticle(refunds, "New refund rules", "<p>soon</p>", 1, "2026-11-21T10:00:00Z");
  for (int i = 0; i < 120; ++i)  // two pages
    fake_.AddArticle(invoices, "Invoice " + std::to_string(i), "<p>i</p>", 2, "2026-01-01T00:00:00Z");
  fake_.AddArticle(login, "Reset your password", "<p>Use the link.</p>", 2, "2026-11-22T10:00:00Z");

  FreshdeskOptions o = Options(fake_.base_url());
  o.kb_locale = "en";
  auto hd = NewFreshdeskHelpdesk(o, http_.get());
  EXPECT_EQ(hd->ArticleLocales(), (std::vector<std::string>{"en"}));
  EXPECT_TRUE(hd_->ArticleLocales().empty());  // no kb_locale: nothing to sync

  auto all = hd->ListArticles("en", std::nullopt);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 123u);
  const HelpArticle& first = all->front();
  EXPECT_EQ(first.id, std::to_string(refund));
  EXPECT_EQ(first.locale, "en");
  EXPECT_EQ(first.title, "Refund policy");
  EXPECT_EQ(first.body_html, "<p>Refunds take 5 days.</p>");
  EXPECT_EQ(first.url, fake_.base_url() + "/support/solutions/articles/" + std::to_string(refund));
  EXPECT_EQ(first.updated_at, "2026-11-20T10:00:00Z");
  EXPECT_FALSE(first.draft);
  EXPECT_EQ((*all)[1].id, std::to_string(draft));
  EXPECT_TRUE((*all)[1].draft);
  EXPECT_EQ(all->back().title, "Reset your password");
  EXPECT_EQ(Count("GET", "/api/v2/solutions/folders/" + std::to_string(invoices) + "/articles"), 2);

  // Changed since: only what was updated at or after it (the listing itself is full).
  auto changed = hd->ListArticles("en", ParseRfc3339("2026-11-21T10:00:00Z").value());
  ASSERT_TRUE(changed.ok());
  ASSERT_EQ(changed->size(), 2u);
  EXPECT_EQ((*changed)[0].id, std::to_string(draft));
  EXPECT_EQ((*changed)[1].title, "Reset your password");

  // Another locale, or none configured: refused before any call.
  const int calls = static_cast<int>(fake_.Requests().size());
  EXPECT_EQ(hd->ListArticles("fr", std::nullopt).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(hd_->ListArticles("en", std::nullopt).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(static_cast<int>(fake_.Requests().size()), calls);
}

TEST_F(FreshdeskAdapterTest, ListArticlesWalksSubFoldersWithinTheirParentsVisibility) {
  const int64_t category = fake_.AddCategory("Help");
  const int64_t top = fake_.AddFolder(category, "Getting started");
  const int64_t leaf = fake_.AddFolder(category, "FAQ");
  const int64_t level1 = fake_.AddSubFolder(top, "Setup");
  const int64_t level2 = fake_.AddSubFolder(level1, "Network");
  const int64_t hidden = fake_.AddSubFolder(top, "Internal", 3);  // agents only
  const int64_t under_hidden = fake_.AddSubFolder(hidden, "Also internal");
  const int64_t agents = fake_.AddFolder(category, "Playbooks", 3);
  const int64_t companies = fake_.AddFolder(category, "Enterprise", 4);  // selected companies
  fake_.AddArticle(top, "Welcome", "<p>hi</p>", 2, "2026-11-20T10:00:00Z");
  fake_.AddArticle(leaf, "Pricing", "<p>p</p>", 2, "2026-11-20T10:00:00Z");
  const int64_t deep = fake_.AddArticle(level2, "Proxy settings", "<p>Set the proxy.</p>", 2, "2026-11-20T10:00:00Z");
  fake_.AddArticle(hidden, "Escalation contacts", "<p>x</p>", 2, "2026-11-20T10:00:00Z");
  fake_.AddArticle(under_hidden, "Refund overrides", "<p>x</p>", 2, "2026-11-20T10:00:00Z");
  fake_.AddArticle(agents, "Angry customers", "<p>x</p>", 2, "2026-11-20T10:00:00Z");
  fake_.AddArticle(companies, "SLA for ACME", "<p>x</p>", 2, "2026-11-20T10:00:00Z");
  FreshdeskOptions o = Options(fake_.base_url());
  o.kb_locale = "en";
  auto hd = NewFreshdeskHelpdesk(o, http_.get());

  auto all = hd->ListArticles("en", std::nullopt);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  std::vector<std::string> titles;
  for (const HelpArticle& a : *all) titles.push_back(a.title);
  EXPECT_EQ(titles, (std::vector<std::string>{"Welcome", "Proxy settings", "Pricing"}));
  EXPECT_EQ((*all)[1].id, std::to_string(deep));
  EXPECT_EQ((*all)[1].url, fake_.base_url() + "/support/solutions/articles/" + std::to_string(deep));
  EXPECT_FALSE((*all)[1].draft);

  auto folder = [](int64_t id) { return "/api/v2/solutions/folders/" + std::to_string(id); };
  // Nothing under a folder that is not for all users is read, however public below it.
  for (int64_t id : {hidden, under_hidden, agents, companies}) {
    EXPECT_EQ(Count("GET", folder(id) + "/articles"), 0) << id;
    EXPECT_EQ(Count("GET", folder(id) + "/subfolders"), 0) << id;
  }
  // sub_folders_count 0: no call for the folder's sub-folders.
  EXPECT_EQ(Count("GET", folder(leaf) + "/subfolders"), 0);
  EXPECT_EQ(Count("GET", folder(level2) + "/subfolders"), 0);
  EXPECT_EQ(Count("GET", folder(top) + "/subfolders"), 1);
  EXPECT_EQ(Count("GET", folder(level1) + "/subfolders"), 1);

  // Without the counts every walked folder is asked for its sub-folders.
  fake_.DropFolderCounts();
  auto again = hd->ListArticles("en", std::nullopt);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->size(), 3u);
  EXPECT_EQ(Count("GET", folder(leaf) + "/subfolders"), 1);
  EXPECT_EQ(Count("GET", folder(level2) + "/subfolders"), 1);

  // Should a category's list name sub-folders too, they are still read once, through
  // their parent and within its visibility.
  fake_.ListSubFoldersInCategories();
  auto flat = hd->ListArticles("en", std::nullopt);
  ASSERT_TRUE(flat.ok()) << flat.status().ToString();
  titles.clear();
  for (const HelpArticle& a : *flat) titles.push_back(a.title);
  EXPECT_EQ(titles, (std::vector<std::string>{"Welcome", "Proxy settings", "Pricing"}));
  EXPECT_EQ(Count("GET", folder(under_hidden) + "/articles"), 0);
}

TEST_F(FreshdeskAdapterTest, ListArticlesFailsRatherThanLeaveSubFoldersOut) {
  const int64_t category = fake_.AddCategory("Help");
  const int64_t root = fake_.AddFolder(category, "Level 0");
  int64_t folder = root;
  for (int level = 1; level <= 8; ++level) folder = fake_.AddSubFolder(folder, "Level " + std::to_string(level));
  fake_.AddArticle(folder, "Eight levels down", "<p>x</p>", 2, "2026-11-20T10:00:00Z");
  FreshdeskOptions o = Options(fake_.base_url());
  o.kb_locale = "en";
  auto hd = NewFreshdeskHelpdesk(o, http_.get());

  auto eight = hd->ListArticles("en", std::nullopt);
  ASSERT_TRUE(eight.ok()) << eight.status().ToString();
  ASSERT_EQ(eight->size(), 1u);
  EXPECT_EQ(eight->front().title, "Eight levels down");

  // The sub-folders call failing (404 here) for a folder that reports sub-folders fails
  // the listing: it is not read as "none".
  fake_.InjectFault({"GET", "/api/v2/solutions/folders/" + std::to_string(root) + "/subfolders", 404, 1, ""});
  auto failed = hd->ListArticles("en", std::nullopt);
  EXPECT_EQ(failed.status().code(), Code::kNotFound) << failed.status().ToString();
  // Without sub_folders_count (a portal whose API may predate sub-folders) a 404 there
  // means none: the folder's own articles are still listed, the rest of the walk goes on.
  fake_.DropFolderCounts();
  const int64_t flat = fake_.AddFolder(category, "Flat");
  fake_.AddArticle(flat, "Flat article", "<p>y</p>", 2, "2026-11-20T10:00:00Z");
  fake_.InjectFault({"GET", "/api/v2/solutions/folders/" + std::to_string(flat) + "/subfolders", 404, 1, ""});
  auto without_counts = hd->ListArticles("en", std::nullopt);
  ASSERT_TRUE(without_counts.ok()) << without_counts.status().ToString();
  std::vector<std::string> titles;
  for (const HelpArticle& a : *without_counts) titles.push_back(a.title);
  std::sort(titles.begin(), titles.end());
  EXPECT_EQ(titles, (std::vector<std::string>{"Eight levels down", "Flat article"}));

  // One level more than the bound: an error, not a listing without the deep articles
  // (which kb sync would take as deleted).
  fake_.AddSubFolder(folder, "Level 9");
  auto nine = hd->ListArticles("en", std::nullopt);
  EXPECT_EQ(nine.status().code(), Code::kInvalidArgument);
  EXPECT_NE(nine.status().message().find("levels of sub-folders"), std::string::npos) << nine.status().ToString();
}

WritePlan Plan(const std::string& key, bool with_reply) {
  WritePlan plan;
  plan.idempotency_key = key;
  plan.actions = {
      {ActionType::kSetTags, {"deskpilot", "deskpilot_cat_login"}, "", ""},
      {ActionType::kSetPriority, {}, "urgent", ""},
      {ActionType::kSetGroup, {}, "billing", ""},
      {ActionType::kSetCustomField, {}, "account_access", "cf_category"},
      {ActionType::kAddInternalNote, {}, "Summary: cannot log in & <locked>.\n\ndeskpilot-ref: " + key, ""},
  };
  if (with_reply) plan.actions.push_back({ActionType::kAddPublicReply, {}, "Please check your spam folder.", ""});
  return plan;
}

TEST_F(FreshdeskAdapterTest, ApplyWritesExactlyTheExpectedCalls) {
  const int64_t id = NewTicket();
  const std::string sid = std::to_string(id);
  Ticket before = Fetch(id);
  // An agent tags the ticket after deskpilot read it: the write must keep that tag.
  ASSERT_TRUE(http_->Send({"PUT", fake_.base_url() + "/api/v2/tickets/" + sid,
                           {{"Authorization", Basic("fd-test-key", "X")}, {"Content-Type", "application/json"}},
                           R"({"tags":["vip","deskpilot","refund"]})"})
                  .ok());
  const size_t reads = fake_.Requests().size();
  Status st = hd_->Apply(before, Plan("dp-1", false));
  ASSERT_TRUE(st.ok()) << st.ToString();

  EXPECT_EQ(CallsSince(reads), (std::vector<std::string>{"GET /api/v2/tickets/" + sid + "/conversations",
                                                         "POST /api/v2/tickets/" + sid + "/notes",
                                                         "GET /api/v2/tickets/" + sid, "PUT /api/v2/tickets/" + sid}));
  std::vector<FreshdeskFake::Request> log = fake_.Requests();
  // The note: private, HTML, the text escaped.
  EXPECT_EQ(json::parse(log[reads + 1].body),
            json({{"body", "Summary: cannot log in &amp; &lt;locked&gt;.<br><br>deskpilot-ref: dp-1"}, {"private", true}}));
  // One PUT: the tags merged into the set read just before, priority and group as ids.
  EXPECT_EQ(json::parse(log[reads + 3].body),
            json({{"tags", {"vip", "deskpilot", "refund", "deskpilot_cat_login"}},
                  {"priority", 4},
                  {"group_id", billing_},
                  {"custom_fields", {{"cf_category", "account_access"}}}}));
  EXPECT_EQ(fake_.Tags(id), (std::vector<std::string>{"vip", "deskpilot", "refund", "deskpilot_cat_login"}));

  // No reply was planned, so none went out.
  auto conversations = fake_.Conversations(id);
  ASSERT_EQ(conversations.size(), 1u);
  EXPECT_EQ(conversations[0]["private"], true);
  EXPECT_EQ(Count("POST", "/api/v2/tickets/" + sid + "/reply"), 0);

  Ticket after = Fetch(id);
  EXPECT_TRUE(after.comments.back().by_deskpilot);
  EXPECT_FALSE(after.comments.back().is_public);
  EXPECT_EQ(after.priority, "urgent");
  EXPECT_EQ(after.group, "billing");

  // Tags already there and nothing else to set: no PUT at all.
  WritePlan tags_only;
  tags_only.idempotency_key = "dp-1b";
  tags_only.actions = {{ActionType::kSetTags, {"deskpilot"}, "", ""}};
  const size_t before_tags = fake_.Requests().size();
  ASSERT_TRUE(hd_->Apply(after, tags_only).ok());
  EXPECT_EQ(CallsSince(before_tags), (std::vector<std::string>{"GET /api/v2/tickets/" + sid}));
}

TEST_F(FreshdeskAdapterTest, ReplyOnlyWhenPlannedAndRetriesWriteOnce) {
  const int64_t id = NewTicket();
  const std::string sid = std::to_string(id);
  Ticket before = Fetch(id);
  ASSERT_TRUE(hd_->Apply(before, Plan("dp-2", true)).ok());
  auto conversations = fake_.Conversations(id);
  ASSERT_EQ(conversations.size(), 2u);
  EXPECT_EQ(conversations[1]["private"], false);
  EXPECT_EQ(json::parse(fake_.Requests().back().body), json({{"body", "Please check your spam folder."}}));
  EXPECT_EQ(fake_.Requests().back().path, "/api/v2/tickets/" + sid + "/reply");

  // A retry of the same plan, from the stale snapshot or a fresh one, posts nothing new.
  ASSERT_TRUE(hd_->Apply(before, Plan("dp-2", true)).ok());
  ASSERT_TRUE(hd_->Apply(Fetch(id), Plan("dp-2", true)).ok());
  EXPECT_EQ(fake_.Conversations(id).size(), 2u);
  EXPECT_EQ(Count("POST", "/api/v2/tickets/" + sid + "/notes"), 1);
  EXPECT_EQ(Count("POST", "/api/v2/tickets/" + sid + "/reply"), 1);

  // A later plan with the same reply text, after the customer wrote again, posts it.
  fake_.AddConversation(id, customer_, "Still nothing.", false, true);
  ASSERT_TRUE(hd_->Apply(Fetch(id), Plan("dp-3", true)).ok());
  EXPECT_EQ(Count("POST", "/api/v2/tickets/" + sid + "/reply"), 2);

  // An approval (a reply without a note) is held back until someone else wrote since.
  WritePlan approval;
  approval.idempotency_key = "approve-1";
  approval.actions = {{ActionType::kAddPublicReply, {}, "Please check your spam folder.", ""}};
  ASSERT_TRUE(hd_->Apply(Fetch(id), approval).ok());
  EXPECT_EQ(Count("POST", "/api/v2/tickets/" + sid + "/reply"), 2);
}

TEST_F(FreshdeskAdapterTest, HonoursRetryAfterOn429ThenSucceeds) {
  const int64_t id = NewTicket();
  const std::string sid = std::to_string(id);
  Ticket before = Fetch(id);
  fake_.InjectFault({"POST", "/api/v2/tickets/" + sid + "/notes", 429, 1, "7"});
  fake_.InjectFault({"PUT", "/api/v2/tickets/", 429, 1, "2"});
  Status st = hd_->Apply(before, Plan("dp-5", false));
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(slept_.size(), 2u);
  EXPECT_GE(slept_[0], milliseconds(7000));
  EXPECT_GE(slept_[1], milliseconds(2000));
  EXPECT_EQ(fake_.Conversations(id).size(), 1u);
  EXPECT_EQ(Count("POST", "/api/v2/tickets/" + sid + "/notes"), 2);
  EXPECT_EQ(fake_.Ticket(id)["priority"], 4);
}

TEST_F(FreshdeskAdapterTest, LongRetryAfterGoesBackToTheQueue) {
  const int64_t id = NewTicket();
  fake_.InjectFault({"POST", "/api/v2/tickets/", 429, 10, "120"});
  Status st = hd_->Apply(Fetch(id), Plan("dp-6", false));
  EXPECT_EQ(st.code(), Code::kResourceExhausted) << st.ToString();
  ASSERT_TRUE(st.retry_after().has_value());
  EXPECT_EQ(*st.retry_after(), milliseconds(120000));
  EXPECT_TRUE(slept_.empty());
  EXPECT_TRUE(fake_.Conversations(id).empty());
}

TEST_F(FreshdeskAdapterTest, ANoteOrReplyWhoseAnswerWasLostIsNotPostedTwice) {
  const int64_t id = NewTicket();
  const std::string sid = std::to_string(id);
  Ticket before = Fetch(id);
  // Freshdesk created the note and the reply, but each answer came back as a 502.
  FreshdeskFake::Fault lost_note{"POST", "/api/v2/tickets/" + sid + "/notes", 502, 1, ""};
  lost_note.after_serving = true;
  fake_.InjectFault(lost_note);
  FreshdeskFake::Fault lost_reply{"POST", "/api/v2/tickets/" + sid + "/reply", 504, 1, ""};
  lost_reply.after_serving = true;
  fake_.InjectFault(lost_reply);
  Status st = hd_->Apply(before, Plan("dp-7", true));
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Count("POST", "/api/v2/tickets/" + sid + "/notes"), 1);
  EXPECT_EQ(Count("POST", "/api/v2/tickets/" + sid + "/reply"), 1);
  EXPECT_EQ(fake_.Conversations(id).size(), 2u);
}

TEST_F(FreshdeskAdapterTest, ClientErrorsAreNotRetried) {
  const int64_t id = NewTicket();
  const std::string sid = std::to_string(id);
  Ticket before = Fetch(id);
  fake_.InjectFault({"POST", "/api/v2/tickets/" + sid + "/notes", 401, 1, ""});
  EXPECT_EQ(hd_->Apply(before, Plan("dp-8", false)).code(), Code::kUnauthenticated);
  EXPECT_EQ(Count("POST", "/api/v2/tickets/" + sid + "/notes"), 1);

  // A custom field Freshdesk refuses: 400, not retried; the note is already there.
  fake_.InjectFault({"PUT", "/api/v2/tickets/", 400, 1, ""});
  Status st = hd_->Apply(before, Plan("dp-9", false));
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st.ToString();
  EXPECT_FALSE(st.retryable());
  EXPECT_EQ(Count("PUT", "/api/v2/tickets/"), 1);
  EXPECT_EQ(fake_.Conversations(id).size(), 1u);

  // A group with no configured id: the other fields land, then a clear, final error.
  WritePlan plan = Plan("dp-10", true);
  plan.actions[2].value = "nosuchgroup";
  st = hd_->Apply(before, plan);
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("nosuchgroup"), std::string::npos);
  EXPECT_EQ(fake_.Ticket(id)["priority"], 4);
  EXPECT_EQ(Count("POST", "/api/v2/tickets/" + sid + "/reply"), 0);

  fake_.DeleteTicket(id);
  st = hd_->Apply(before, Plan("dp-11", false));
  EXPECT_EQ(st.code(), Code::kNotFound) << st.ToString();
  EXPECT_FALSE(st.retryable());
  EXPECT_EQ(hd_->Apply(Ticket{}, Plan("dp-12", false)).code(), Code::kInvalidArgument);
  EXPECT_TRUE(hd_->Apply(before, WritePlan{}).ok());
}

}  // namespace
}  // namespace deskpilot
