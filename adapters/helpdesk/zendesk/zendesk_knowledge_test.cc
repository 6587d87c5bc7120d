// The adapter's optional capabilities against the fake: Help Center articles (locales,
// drafts, archived, incremental by start_time, pagination) and solved tickets through
// search export; plus the fake's trigger deliveries that `demo --vendor zendesk` uses.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "deskpilot/crypto.h"
#include "deskpilot/webhook_signature.h"
#include "helpdesk/zendesk/zendesk_admin.h"
#include "helpdesk/zendesk/zendesk_fake.h"
#include "helpdesk/zendesk/zendesk_helpdesk.h"

namespace deskpilot {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using Clock = std::chrono::system_clock;

class ZendeskKnowledgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fake_.Start().ok());
    ZendeskOptions o;
    o.name = "zd";
    o.base_url = fake_.base_url();
    o.email = "bot@example.com";
    o.api_token = "zd-test-token";
    o.webhook_secret = "unused";
    o.request_timeout = milliseconds(3000);
    o.retry.base_delay = milliseconds(1);
    o.retry.max_delay = milliseconds(5);
    o.kb_locales = {"en-us", "de"};
    hd_ = NewZendeskHelpdesk(std::move(o), http_.get());
  }

  std::vector<std::string> Ids(const std::vector<HelpArticle>& list) {
    std::vector<std::string> out;
    for (const auto& a : list) out.push_back(a.id);
    return out;
  }

  ZendeskFake fake_;
  std::unique_ptr<HttpClient> http_ = NewCurlHttpClient();
  std::unique_ptr<Helpdesk> hd_;
};

TEST_F(ZendeskKnowledgeTest, ListsArticlesOfOneLocaleWithDraftsFlaggedAndArchivedGone) {
  const int64_t en = fake_.AddArticle({{"title", "Track an order"}, {"body", "<p>Use the link.</p>"},
                                       {"updated_at", "2024-01-01T00:00:00Z"}});
  const int64_t de = fake_.AddArticle({{"title", "Bestellung verfolgen"}, {"locale", "de"}, {"body", "<p>Link.</p>"}});
  const int64_t draft = fake_.AddArticle({{"title", "Unfinished"}, {"draft", true}});
  const int64_t old = fake_.AddArticle({{"title", "Old policy"}});
  fake_.ArchiveArticle(old);

  EXPECT_EQ(hd_->ArticleLocales(), (std::vector<std::string>{"en-us", "de"}));
  auto list = hd_->ListArticles("en-us", std::nullopt);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ(Ids(*list), (std::vector<std::string>{std::to_string(en), std::to_string(draft)}));  // oldest first
  const HelpArticle& a = list->front();
  EXPECT_EQ(a.title, "Track an order");
  EXPECT_EQ(a.body_html, "<p>Use the link.</p>");
  EXPECT_EQ(a.locale, "en-us");
  EXPECT_EQ(a.url, fake_.base_url() + "/hc/en-us/articles/" + std::to_string(en) + "-Track-an-order");
  EXPECT_FALSE(a.draft);
  EXPECT_TRUE(list->back().draft);

  auto german = hd_->ListArticles("DE", std::nullopt);  // locales are case-insensitive
  ASSERT_TRUE(german.ok());
  EXPECT_EQ(Ids(*german), std::vector<std::string>{std::to_string(de)});
  EXPECT_EQ(hd_->ListArticles("en us/../x", std::nullopt).status().code(), Code::kInvalidArgument);
}

TEST_F(ZendeskKnowledgeTest, IncrementalListingAsksWithStartTimeAndGetsOnlyChanges) {
  fake_.AddArticle({{"title", "A"}, {"updated_at", "2024-01-01T00:00:00Z"}});
  const int64_t b = fake_.AddArticle({{"title", "B"}, {"updated_at", "2024-01-02T00:00:00Z"}});
  const auto since = Clock::now() - std::chrono::seconds(5);
  fake_.UpdateArticle(b, {{"body", "<p>new text</p>"}});  // updated_at becomes now
  auto changed = hd_->ListArticles("en-us", since);
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  EXPECT_EQ(Ids(*changed), std::vector<std::string>{std::to_string(b)});
  EXPECT_EQ(changed->front().body_html, "<p>new text</p>");
  const auto requests = fake_.Requests();
  const auto& last = requests.back();
  EXPECT_EQ(last.path, "/api/v2/help_center/en-us/articles.json");
  EXPECT_EQ(last.params.at("start_time"),
            std::to_string(std::chrono::duration_cast<std::chrono::seconds>(since.time_since_epoch()).count()));
}

TEST_F(ZendeskKnowledgeTest, FollowsPaginationAcrossPages) {
  for (int i = 0; i < 230; ++i) fake_.AddArticle({{"title", "Article " + std::to_string(i)}});
  auto list = hd_->ListArticles("en-us", std::nullopt);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_EQ(list->size(), 230u);
  const std::vector<std::string> ids = Ids(*list);
  const std::set<std::string> unique(ids.begin(), ids.end());
  EXPECT_EQ(unique.size(), 230u);
  EXPECT_EQ(fake_.CountRequests("GET", "/api/v2/help_center/en-us/articles"), 3);  // 100 + 100 + 30
}

TEST_F(ZendeskKnowledgeTest, ArticleErrors401And429WithRetryAfter) {
  fake_.AddArticle({{"title", "A"}});
  fake_.InjectFault({"GET", "/api/v2/help_center/", 429, 1, "0"});
  auto retried = hd_->ListArticles("en-us", std::nullopt);
  ASSERT_TRUE(retried.ok()) << retried.status().ToString();
  EXPECT_EQ(retried->size(), 1u);
  EXPECT_EQ(fake_.CountRequests("GET", "/api/v2/help_center/en-us/articles"), 2);

  fake_.InjectFault({"GET", "/api/v2/help_center/", 401, 1, ""});
  EXPECT_EQ(hd_->ListArticles("en-us", std::nullopt).status().code(), Code::kUnauthenticated);

  // A wait longer than the adapter may hold a caller comes back as the retry_after.
  fake_.InjectFault({"GET", "/api/v2/help_center/", 429, 10, "120"});
  auto limited = hd_->ListArticles("en-us", std::nullopt);
  EXPECT_EQ(limited.status().code(), Code::kResourceExhausted);
}

TEST_F(ZendeskKnowledgeTest, SolvedTicketsComeFromSearchExportWithFieldsAndComments) {
  const int64_t customer = fake_.AddUser("Ann Customer", "ann@example.com", "end-user");
  const int64_t agent = fake_.AddUser("Bob Agent", "bob@acme.test", "agent");
  const int64_t solved = fake_.AddTicket({{"subject", "Refund"}, {"description", "Where is my refund?"},
                                          {"requester_id", customer}, {"status", "solved"},
                                          {"tags", {"cat_refund", "vip"}},
                                          {"custom_fields", {{{"id", 360001}, {"value", "billing"}}}}});
  fake_.AddComment(solved, agent, "It was sent on Monday.", true);
  const int64_t closed = fake_.AddTicket({{"subject", "Login"}, {"description", "Cannot log in"},
                                          {"requester_id", customer}, {"status", "closed"}});
  fake_.AddTicket({{"subject", "Open one"}, {"description", "Still open"}, {"requester_id", customer},
                   {"status", "open"}});
  fake_.AddTicket({{"subject", "Old"}, {"description", "Solved long ago"}, {"requester_id", customer},
                   {"status", "solved"}, {"updated_at", "2019-01-01T00:00:00Z"}});

  const auto since = Clock::from_time_t(1577836800);  // 2020-01-01
  auto bare = hd_->ListSolvedTickets(since, 100, /*with_comments=*/false);
  ASSERT_TRUE(bare.ok()) << bare.status().ToString();
  ASSERT_EQ(bare->size(), 2u);
  std::set<std::string> ids;
  for (const Ticket& t : *bare) ids.insert(t.id);
  EXPECT_EQ(ids, (std::set<std::string>{std::to_string(solved), std::to_string(closed)}));
  const Ticket& refund = bare->front().id == std::to_string(solved) ? bare->front() : bare->back();
  EXPECT_EQ(refund.tags, (std::vector<std::string>{"cat_refund", "vip"}));
  EXPECT_EQ(refund.custom_fields.at("360001"), "billing");
  EXPECT_EQ(refund.description, "Where is my refund?");
  EXPECT_TRUE(refund.comments.empty());
  const auto requests = fake_.Requests();
  auto search = std::find_if(requests.begin(), requests.end(),
                             [](const ZendeskFake::Request& r) { return r.path == "/api/v2/search/export.json"; });
  ASSERT_NE(search, requests.end());
  EXPECT_EQ(search->params.at("query"), "type:ticket status>=solved updated>=2020-01-01T00:00:00Z");
  EXPECT_EQ(search->params.at("filter[type]"), "ticket");

  auto full = hd_->ListSolvedTickets(since, 100, /*with_comments=*/true);
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  const Ticket& with = full->front().id == std::to_string(solved) ? full->front() : full->back();
  ASSERT_EQ(with.comments.size(), 2u);
  EXPECT_EQ(with.comments[0].author_role, AuthorRole::kCustomer);
  EXPECT_EQ(with.comments[1].author_role, AuthorRole::kAgent);
  EXPECT_EQ(with.comments[1].body, "It was sent on Monday.");

  auto one = hd_->ListSolvedTickets(since, 1, false);  // the limit holds
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u);
}

TEST_F(ZendeskKnowledgeTest, SolvedTicketsPaginateByCursor) {
  const int64_t customer = fake_.AddUser("Ann", "ann@example.com", "end-user");
  for (int i = 0; i < 150; ++i)
    fake_.AddTicket({{"subject", "Ticket number " + std::to_string(i)}, {"description", "d"},
                     {"requester_id", customer}, {"status", "solved"}});
  auto all = hd_->ListSolvedTickets(Clock::from_time_t(0), 1000, false);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->size(), 150u);
  EXPECT_EQ(fake_.CountRequests("GET", "/api/v2/search/export"), 2);
}

// The fake runs triggers the way Zendesk does: a request filed by an end user fires the
// "ticket created" trigger that `webhook register` installs, and the delivery is signed
// with the webhook's signing secret.
TEST_F(ZendeskKnowledgeTest, FakeDeliversSignedTriggerWebhooksForEndUserRequests) {
  httplib::Server receiver;
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> got;  // body, signature ok
  std::string secret;
  receiver.Post("/webhooks/zd", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu);
    const std::string ts = req.get_header_value("X-Zendesk-Webhook-Signature-Timestamp");
    const bool ok = req.get_header_value("X-Zendesk-Webhook-Signature") == Base64Encode(HmacSha256(secret, ts + req.body));
    got.emplace_back(req.body, ok ? "ok" : "bad");
    res.status = 202;
  });
  const int port = receiver.bind_to_any_port("127.0.0.1");
  std::thread t([&] { receiver.listen_after_bind(); });

  ZendeskOptions o;
  o.name = "zd";
  o.base_url = fake_.base_url();
  o.email = "bot@example.com";
  o.api_token = "zd-test-token";
  o.retry.base_delay = milliseconds(1);
  ZendeskApi api(o, http_.get());
  auto reg = RegisterZendeskWebhook(api, "http://127.0.0.1:" + std::to_string(port) + "/webhooks/zd");
  ASSERT_TRUE(reg.ok()) << reg.status().ToString();
  {
    std::lock_guard lock(mu);
    secret = reg->signing_secret;
  }
  const int64_t customer = fake_.AddUser("Ann", "ann@example.com", "end-user");
  httplib::Client client(fake_.base_url());
  auto res = client.Post("/api/v2/requests.json",
                         {{"Authorization", "Basic " + Base64Encode("ann@example.com/token:zd-test-token")}},
                         R"({"request":{"subject":"Help","comment":{"body":"My parcel is late"}}})", "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 201) << res->body;
  const int64_t id = json::parse(res->body)["request"]["id"].get<int64_t>();
  for (int i = 0; i < 200 && fake_.Deliveries().empty(); ++i) std::this_thread::sleep_for(milliseconds(10));
  receiver.stop();
  t.join();
  ASSERT_EQ(fake_.Deliveries().size(), 1u);
  EXPECT_EQ(fake_.Deliveries()[0].status, 202);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].second, "ok");
  const json body = json::parse(got[0].first);
  EXPECT_EQ(body["ticket_id"], std::to_string(id));
  EXPECT_EQ(body["event"], "ticket.created");
  EXPECT_EQ(body["actor_id"], std::to_string(customer));
  EXPECT_EQ(fake_.Ticket(id)["requester_id"], customer);
}

}  // namespace
}  // namespace deskpilot
