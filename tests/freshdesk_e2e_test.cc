// End-to-end: the real `deskpilot serve` in front of the loopback Freshdesk fake. A
// delivery carrying the shared secret as the automation rule sends it goes in; the
// private note (and tags, merged) must land in Freshdesk once; a redelivery and the rule
// firing again on deskpilot's own update must not write a second note.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "deskpilot/crypto.h"
#include "harness.h"
#include "helpdesk/freshdesk/freshdesk_fake.h"

namespace deskpilot {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

class FreshdeskEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(DESKPILOT_BINARY)) << DESKPILOT_BINARY;
    dir_ = fs::temp_directory_path() / ("deskpilot-freshdesk-e2e-" + RandomHex(6));
    fs::create_directories(dir_);
    testing_harness::SeedSampleModels(dir_);
    ASSERT_TRUE(fake_.Start().ok());
    customer_ = fake_.AddContact("Ann Lee", "ann.lee@example.com");
    secret_ = RandomHex(16);
    config_ = (dir_ / "deskpilot.toml").string();
    std::ofstream(config_) << "[server]\nlisten = \"127.0.0.1:0\"\n[storage]\npath = \"" << (dir_ / "deskpilot.db").string()
                           << "\"\n[workers]\npoll_ms = 20\n"
                           << "[[helpdesk]]\nname = \"fd\"\ntype = \"freshdesk\"\nbase_url = \"" << fake_.base_url()
                           << "\"\napi_key_env = \"FD_API_KEY\"\nwebhook_secret_env = \"FD_WEBHOOK_SECRET\"\n"
                           << "api_agent_id = " << fake_.api_agent_id() << "\n[policy]\nmode = \"assist\"\n";
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
        std::vector<std::string>{"FD_API_KEY=fd-test-key", "FD_WEBHOOK_SECRET=" + secret_},
        (dir_ / "serve.log").string());
    const int port = proxy_->WaitForPort(std::chrono::seconds(120));
    EXPECT_GT(port, 0) << proxy_->Log();
    return port;
  }

  // Posted as the rule's "Trigger Webhook" action posts: JSON, the custom header.
  httplib::Result Deliver(int port, const std::string& body, const std::string& secret) {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(std::chrono::seconds(10));
    return c.Post("/webhooks/fd", {{"X-Deskpilot-Token", secret}}, body, "application/json");
  }

  int Notes(int64_t ticket_id) {
    int n = 0;
    for (const auto& c : fake_.Conversations(ticket_id))
      n += c["private"] == true && c["body"].get<std::string>().find("deskpilot-ref: ") != std::string::npos;
    return n;
  }

  fs::path dir_;
  std::string config_, secret_;
  FreshdeskFake fake_;
  int64_t customer_ = 0;
  std::unique_ptr<testing_harness::Process> proxy_;
};

TEST_F(FreshdeskEndToEnd, AuthenticatedDeliveryLandsOnePrivateNote) {
  const int port = StartProxy();
  ASSERT_GT(port, 0);
  const int64_t id = fake_.AddTicket({{"subject", "Charged twice for order 48213"},
                                      {"requester_id", customer_},
                                      {"tags", {"vip"}}},
                                     "<div>Hi, I was charged twice for my last order and I want a refund of the second "
                                     "payment.</div><div>Thanks</div>");
  const std::string body = fake_.WebhookBody(id, "");

  auto forged = Deliver(port, body, "not-the-secret");
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 401);
  auto first = Deliver(port, body, secret_);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 202) << first->body;
  auto again = Deliver(port, body, secret_);  // Freshdesk's retry resends the same body
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200) << again->body;
  auto malformed = Deliver(port, R"({"ticket":{"id":1}})", secret_);
  ASSERT_TRUE(malformed);
  EXPECT_EQ(malformed->status, 400);

  // The note is written first and the tags after it, so wait for the tags: the
  // note alone showing up says nothing about whether the update has landed yet.
  const auto tagged = [&] {
    const auto t = fake_.Tags(id);
    return std::find(t.begin(), t.end(), "deskpilot") != t.end();
  };
  ASSERT_TRUE(testing_harness::Eventually([&] { return Notes(id) > 0 && tagged(); })) << proxy_->Log();
  ASSERT_EQ(Notes(id), 1);
  const json note = fake_.Conversations(id).back();
  EXPECT_EQ(note["user_id"], fake_.api_agent_id());
  EXPECT_NE(note["body"].get<std::string>().find("Predictions:"), std::string::npos);
  auto tags = fake_.Tags(id);
  ASSERT_FALSE(tags.empty());
  EXPECT_EQ(tags.front(), "vip") << "an agent's tag was removed";
  EXPECT_NE(std::find(tags.begin(), tags.end(), "deskpilot"), tags.end());
  EXPECT_EQ(fake_.CountRequests("POST", "/api/v2/tickets/" + std::to_string(id) + "/reply"), 0)
      << "assist mode must never reply publicly";

  // The update rule fires again on deskpilot's own note (another event, so another
  // body): queued, read, and skipped because the newest conversation is deskpilot's.
  const std::string echo = fake_.WebhookBody(id, "{note_type:{from:,to:private}}");
  ASSERT_NE(echo, body);
  const std::string ticket_path = "/api/v2/tickets/" + std::to_string(id);
  const int reads = fake_.CountRequests("GET", ticket_path + "/conversations");
  auto own = Deliver(port, echo, secret_);
  ASSERT_TRUE(own);
  EXPECT_EQ(own->status, 202) << own->body;
  ASSERT_TRUE(testing_harness::Eventually([&] { return fake_.CountRequests("GET", ticket_path + "/conversations") > reads; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Notes(id), 1) << "exactly one write-back per event: " << proxy_->Log();
  EXPECT_EQ(proxy_->Terminate(std::chrono::seconds(20)), 0) << proxy_->Log();
}

}  // namespace
}  // namespace deskpilot
