// End-to-end: the real `deskpilot serve` in front of the loopback Zammad fake. A delivery
// signed as Zammad signs it goes in; the internal note (and tags) must land in Zammad
// once, redeliveries and deskpilot's own events must be acknowledged and ignored.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "deskpilot/crypto.h"
#include "harness.h"
#include "helpdesk/zammad/zammad_fake.h"
#include "run_command.h"

namespace deskpilot {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

class ZammadEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(DESKPILOT_BINARY)) << DESKPILOT_BINARY;
    dir_ = fs::temp_directory_path() / ("deskpilot-zammad-e2e-" + RandomHex(6));
    fs::create_directories(dir_);
    testing_harness::SeedSampleModels(dir_);
    ASSERT_TRUE(fake_.Start().ok());
    customer_ = fake_.AddUser("Ann", "Lee", "ann.lee@example.com", "Customer");
    signature_token_ = RandomHex(16);
    config_ = (dir_ / "deskpilot.toml").string();
    std::ofstream(config_) << "[server]\nlisten = \"127.0.0.1:0\"\n[storage]\npath = \"" << (dir_ / "deskpilot.db").string()
                           << "\"\n[workers]\npoll_ms = 20\n"
                           << "[[helpdesk]]\nname = \"zm\"\ntype = \"zammad\"\nbase_url = \"" << fake_.base_url()
                           << "\"\napi_token_env = \"ZM_API_TOKEN\"\nsignature_token_env = \"ZM_SIGNATURE_TOKEN\"\n"
                           << "api_user_id = 3\nkb_locale = \"en-us\"\n[policy]\nmode = \"assist\"\n";
  }
  void TearDown() override {
    proxy_.reset();
    fake_.Stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  int StartProxy() {
    proxy_ = std::make_unique<testing_harness::Process>(
        std::vector<std::string>{DESKPILOT_BINARY, "serve", "--config", config_},
        std::vector<std::string>{"ZM_API_TOKEN=zm-test-token", "ZM_SIGNATURE_TOKEN=" + signature_token_},
        (dir_ / "serve.log").string());
    const int port = proxy_->WaitForPort(std::chrono::seconds(120));
    EXPECT_GT(port, 0) << proxy_->Log();
    return port;
  }

  // Posted as Zammad's webhook job posts: X-Hub-Signature over the raw body, the job id.
  httplib::Result Deliver(int port, const std::string& body, const std::string& delivery,
                          const std::string& token) {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(std::chrono::seconds(10));
    httplib::Headers h = {{"X-Hub-Signature", "sha1=" + HexEncode(HmacSha1(token, body))},
                          {"X-Zammad-Delivery", delivery},
                          {"X-Zammad-Trigger", "deskpilot"},
                          {"User-Agent", "Zammad User Agent"}};
    return c.Post("/webhooks/zm", h, body, "application/json");
  }

  int Notes(int64_t ticket_id) {
    int n = 0;
    for (const auto& a : fake_.Articles(ticket_id))
      n += a["internal"] == true && a["body"].get<std::string>().find("deskpilot-ref: ") != std::string::npos;
    return n;
  }

  fs::path dir_;
  std::string config_, signature_token_;
  ZammadFake fake_;
  int64_t customer_ = 0;
  std::unique_ptr<testing_harness::Process> proxy_;
};

TEST_F(ZammadEndToEnd, SignedDeliveryLandsOneInternalNote) {
  const int port = StartProxy();
  ASSERT_GT(port, 0);
  const int64_t id = fake_.AddTicket({{"title", "Charged twice for order 48213"}, {"customer_id", customer_}, {"tags", {"vip"}}},
                                     "<p>Hi, I was charged twice for my last order and I want a refund of the second "
                                     "payment.</p><p>Thanks</p>",
                                     "text/html");
  const std::string body = fake_.WebhookPayload(id, fake_.Articles(id).front()["id"].get<int64_t>());

  auto forged = Deliver(port, body, "job-1", "not-the-token");
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 401);
  auto first = Deliver(port, body, "job-1", signature_token_);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 202) << first->body;
  auto again = Deliver(port, body, "job-1", signature_token_);  // Zammad's retry of the job
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200) << again->body;
  auto malformed = Deliver(port, R"({"article":{}})", "job-2", signature_token_);
  ASSERT_TRUE(malformed);
  EXPECT_EQ(malformed->status, 400);

  // The note is written first and the tags after it, so wait for both: the note
  // alone showing up says nothing about whether the tags have landed yet.
  const auto tagged = [&] {
    const auto t = fake_.Tags(id);
    return std::find(t.begin(), t.end(), "deskpilot") != t.end();
  };
  testing_harness::Eventually([&] { return Notes(id) > 0 && tagged(); });
  ASSERT_EQ(Notes(id), 1) << proxy_->Log();
  const json note = fake_.Articles(id).back();
  EXPECT_EQ(note["type"], "note");
  EXPECT_EQ(note["created_by_id"], 3);
  EXPECT_NE(note["body"].get<std::string>().find("Predictions:"), std::string::npos);
  auto tags = fake_.Tags(id);
  ASSERT_FALSE(tags.empty());
  EXPECT_EQ(tags.front(), "vip") << "an agent's tag was removed";
  EXPECT_NE(std::find(tags.begin(), tags.end(), "deskpilot"), tags.end());
  for (const auto& a : fake_.Articles(id)) EXPECT_NE(a["type"], "email") << "assist mode must never reply publicly";

  // Zammad reports deskpilot's note back: acknowledged, never queued.
  auto own = Deliver(port, fake_.WebhookPayload(id, note["id"].get<int64_t>()), "job-3", signature_token_);
  ASSERT_TRUE(own);
  EXPECT_EQ(own->status, 200) << own->body;
  EXPECT_NE(own->body.find("ignored"), std::string::npos) << own->body;

  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Notes(id), 1) << "exactly one write-back per delivery";
  EXPECT_EQ(proxy_->Terminate(std::chrono::seconds(20)), 0) << proxy_->Log();
}

// `kb sync` and `train --source` run by the real binary against the fake: the knowledge
// base's published answer becomes a source (a draft does not), closed tickets since the
// date become resolved-ticket passages, and training labels closed tickets by tag.
TEST_F(ZammadEndToEnd, KbSyncAndTrainReadTheKnowledgeBaseAndClosedTickets) {
  const std::string past = "2026-01-01T00:00:00.000Z";
  const int64_t refund_answer = fake_.AddKbAnswer(
      {{"title", "Refund timing"},
       {"body", "<p>Refunds reach your card within five business days of the return.</p>"},
       {"category_id", 2},
       {"published_at", past}});
  fake_.AddKbAnswer({{"title", "Warranty draft"}, {"body", "<p>Warranty claims secret draft.</p>"}});
  const int64_t agent = fake_.AddUser("Alice", "Agent", "alice@acme.test", "Agent");
  const std::vector<std::string> refund = {"refund", "money back", "reimburse", "return payment", "chargeback", "credit"};
  const std::vector<std::string> delivery = {"parcel", "courier", "shipment", "tracking", "package", "dispatch"};
  for (int i = 0; i < 12; ++i) {
    const bool is_refund = i % 2 == 0;
    const std::string word = (is_refund ? refund : delivery)[static_cast<size_t>(i / 2)];
    const int64_t id = fake_.AddTicket({{"title", "Question about " + word},
                                        {"customer_id", customer_},
                                        {"state", "closed"},
                                        {"tags", {is_refund ? "cat_refund" : "cat_delivery"}}},
                                       "Hello, I have a question about my " + word + " please help");
    fake_.AddArticle(id, agent, "We looked into your " + word + " and sorted it out.", false, "Agent", "text/plain",
                     "email");
    fake_.SetUpdatedAt(id, "2026-0" + std::to_string(1 + i % 9) + "-10T10:00:00.000Z");
  }
  // Not listed: an open ticket, and (with --solved-since) one closed before the date.
  fake_.AddTicket({{"title", "Still open"}, {"customer_id", customer_}, {"tags", {"cat_refund"}}}, "open question");
  const int64_t old_ticket =
      fake_.AddTicket({{"title", "Old refund"}, {"customer_id", customer_}, {"state", "closed"}, {"tags", {"cat_refund"}}},
                      "an old refund question");
  fake_.AddArticle(old_ticket, agent, "Old answer about the refund.", false, "Agent", "text/plain", "email");
  fake_.SetUpdatedAt(old_ticket, "2019-06-01T00:00:00.000Z");

  const std::string env = "ZM_API_TOKEN=zm-test-token ZM_SIGNATURE_TOKEN=" + signature_token_ + " timeout 60 " +
                          DESKPILOT_BINARY;
  const auto sync = testing_shell::RunShell(env + " kb sync --config " + config_ + " --source zm --solved-since 2020-01-01");
  ASSERT_EQ(sync.code, 0) << sync.out;
  EXPECT_NE(sync.out.find("articles en-us: 2 listed as changed (first sync), 1 added or updated, 0 unchanged, 0 removed, "
                          "1 published"),
            std::string::npos)
      << sync.out;
  EXPECT_NE(sync.out.find("resolved tickets: 12 solved since 2020-01-01, 12 added or updated"), std::string::npos)
      << sync.out;
  const auto search =
      testing_shell::RunShell(env + " kb search --config " + config_ + " --json refunds card five business days");
  ASSERT_EQ(search.code, 0) << search.out;
  const json hits = json::parse(search.out, nullptr, false);
  ASSERT_TRUE(hits.is_array() && !hits.empty()) << search.out;
  EXPECT_EQ(hits[0]["doc_id"], "zm:en-us:" + std::to_string(refund_answer)) << search.out;
  EXPECT_EQ(hits[0]["url"], fake_.base_url() + "/help/en-us/2/" + std::to_string(refund_answer));
  EXPECT_EQ(search.out.find("secret draft"), std::string::npos);

  const std::string model = (dir_ / "category.model").string();
  const auto train = testing_shell::RunShell(env + " train --config " + config_ +
                                             " --source zm --tag-prefix cat_ --solved-since 2020-01-01 --out " + model);
  ASSERT_EQ(train.code, 0) << train.out;
  EXPECT_NE(train.out.find("solved tickets: 12, labelled 12"), std::string::npos) << train.out;
  EXPECT_TRUE(fs::exists(model));
  // Without a date every closed ticket counts, the old one too; the open one never.
  const auto all = testing_shell::RunShell(env + " train --config " + config_ + " --source zm --tag-prefix cat_ --out " +
                                           model);
  ASSERT_EQ(all.code, 0) << all.out;
  EXPECT_NE(all.out.find("solved tickets: 13, labelled 13"), std::string::npos) << all.out;
}


// `deskpilot webhook register|list|remove` run by the real binary against the fake: the
// webhooks carry the configured signature token, the triggers fire them, a second run
// changes nothing, and remove leaves nothing of this source behind.
TEST_F(ZammadEndToEnd, WebhookRegisterListRemove) {
  const std::string env = "ZM_API_TOKEN=zm-test-token ZM_SIGNATURE_TOKEN=" + signature_token_ + " timeout 60 " +
                          DESKPILOT_BINARY + " webhook ";
  const std::string args = " --config " + config_ + " --source zm";
  const auto reg = testing_shell::RunShell(env + "register" + args + " --url https://dp.example.com");
  ASSERT_EQ(reg.code, 0) << reg.out;
  EXPECT_EQ(reg.out.find(signature_token_), std::string::npos) << reg.out;
  EXPECT_NE(reg.out.find("nothing new to store"), std::string::npos) << reg.out;
  // policy.approval_tag defaults to deskpilot_approved: the approval webhook and trigger too.
  const auto webhooks = fake_.Webhooks();
  ASSERT_EQ(webhooks.size(), 2u) << reg.out;
  for (const auto& [id, w] : webhooks) {
    EXPECT_EQ(w["endpoint"], "https://dp.example.com/webhooks/zm");
    EXPECT_EQ(w["signature_token"], signature_token_);
  }
  EXPECT_EQ(fake_.Triggers().size(), 3u);

  const auto again = testing_shell::RunShell(env + "register" + args + " --url https://dp.example.com/webhooks/zm");
  ASSERT_EQ(again.code, 0) << again.out;
  size_t unchanged = 0;
  for (size_t at = again.out.find("unchanged"); at != std::string::npos; at = again.out.find("unchanged", at + 1))
    ++unchanged;
  EXPECT_EQ(unchanged, 5u) << again.out;
  EXPECT_EQ(again.out.find("created  "), std::string::npos) << again.out;

  const auto list = testing_shell::RunShell(env + "list" + args);
  ASSERT_EQ(list.code, 0) << list.out;
  EXPECT_NE(list.out.find("deskpilot-zm  (this source)  active  https://dp.example.com/webhooks/zm"), std::string::npos)
      << list.out;
  EXPECT_NE(list.out.find("deskpilot-zm: customer article"), std::string::npos) << list.out;

  const auto removed = testing_shell::RunShell(env + "remove" + args);
  ASSERT_EQ(removed.code, 0) << removed.out;
  EXPECT_TRUE(fake_.Webhooks().empty());
  EXPECT_TRUE(fake_.Triggers().empty());
  const auto nothing = testing_shell::RunShell(env + "remove" + args);
  ASSERT_EQ(nothing.code, 0) << nothing.out;
  EXPECT_NE(nothing.out.find("nothing to remove"), std::string::npos) << nothing.out;
}

}  // namespace
}  // namespace deskpilot
