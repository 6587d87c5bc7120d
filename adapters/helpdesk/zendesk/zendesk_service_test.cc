// The Zendesk adapter inside the real service: signed webhooks in, one write-back out.
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "deskpilot/config.h"
#include "deskpilot/crypto.h"
#include "deskpilot/http_client.h"
#include "helpdesk/zendesk/zendesk_fake.h"
#include "service/sample_models_test_util.h"
#include "service/service.h"

namespace deskpilot {
namespace {

using nlohmann::json;

constexpr char kSecret[] = "whsec_service_test";

class ZendeskServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("deskpilot_zendesk_service_test_" + std::to_string(getpid()) + "_" + RandomHex(6));
    std::filesystem::create_directories(dir_);
    testing_util::SeedSampleModels(dir_);
    ASSERT_TRUE(fake_.Start().ok());
    customer_ = fake_.AddUser("Bob", "bob@example.com", "end-user");
    setenv("DP_ZD_SVC_TOKEN", "zd-test-token", 1);
    setenv("DP_ZD_SVC_SECRET", kSecret, 1);
    const std::string toml = "[server]\nlisten = \"127.0.0.1:0\"\n[storage]\npath = \"" + (dir_ / "dp.db").string() +
                             "\"\n[workers]\nthreads = 1\npoll_ms = 20\n"
                             "[[helpdesk]]\nname = \"zd\"\ntype = \"zendesk\"\nbase_url = \"" + fake_.base_url() +
                             "\"\nemail = \"bot@example.com\"\napi_token_env = \"DP_ZD_SVC_TOKEN\"\n"
                             "webhook_secret_env = \"DP_ZD_SVC_SECRET\"\n";
    auto config = ParseConfig(toml, "test.toml");
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    BuildOptions build;
    build.sample_dir = DESKPILOT_TEST_SAMPLE_DIR;
    auto service = Service::Create(*config, build);
    ASSERT_TRUE(service.ok()) << service.status().ToString();
    service_ = std::move(service).value();
    ASSERT_TRUE(service_->Start().ok());
  }
  void TearDown() override {
    if (service_) service_->Stop();
    fake_.Stop();
    std::filesystem::remove_all(dir_);
  }

  // Delivers `body` as Zendesk does: signed over timestamp + body.
  int Deliver(const std::string& body) {
    const std::string ts = std::to_string(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
    HttpRequest req;
    req.method = "POST";
    req.url = service_->base_url() + "/webhooks/zd";
    req.headers = {{"Content-Type", "application/json"},
                   {"X-Zendesk-Webhook-Signature-Timestamp", ts},
                   {"X-Zendesk-Webhook-Signature", Base64Encode(HmacSha256(kSecret, ts + body))}};
    req.body = body;
    auto resp = http_->Send(req);
    return resp.ok() ? resp->status : -1;
  }

  // Waits until no job is queued or running.
  void Drain() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      auto counts = service_->components().store->CountJobsByState();
      ASSERT_TRUE(counts.ok());
      int64_t open = 0;
      for (const auto& [state, n] : *counts)
        if (state == "queued" || state == "leased" || state == "running") open += n;
      if (open == 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL() << "jobs did not finish";
  }

  std::filesystem::path dir_;
  ZendeskFake fake_;
  int64_t customer_ = 0;
  std::unique_ptr<Service> service_;
  std::unique_ptr<HttpClient> http_ = NewCurlHttpClient();
};

TEST_F(ZendeskServiceTest, RedeliveredWebhooksProduceExactlyOneWriteBack) {
  const int64_t id = fake_.AddTicket({{"subject", "Where is my order?"},
                                      {"description", "My order NW-20417 has not arrived yet."},
                                      {"requester_id", customer_},
                                      {"tags", {"agent_tag"}}});
  const std::string event = json{{"type", "zen:event-type:ticket.created"},
                                 {"account_id", 1},
                                 {"id", "01HSVC" + std::to_string(id)},
                                 {"time", "2024-05-01T12:00:00Z"},
                                 {"subject", "zen:ticket:" + std::to_string(id)},
                                 {"detail", {{"id", std::to_string(id)}, {"actor_id", std::to_string(customer_)}}},
                                 {"event", json::object()}}
                                .dump();
  EXPECT_EQ(Deliver(event), 202);
  EXPECT_EQ(Deliver(event), 200);  // the redelivery is recognised
  Drain();
  // The trigger-connected body for the same creation, delivered twice as well.
  const std::string trigger = json{{"ticket_id", std::to_string(id)},
                                   {"event", "ticket.created"},
                                   {"updated_at", "2024-05-01T12:00:00Z"},
                                   {"actor_id", std::to_string(customer_)}}
                                  .dump();
  EXPECT_EQ(Deliver(trigger), 202);
  EXPECT_EQ(Deliver(trigger), 200);
  Drain();

  // The second job saw deskpilot's note as the newest comment: nothing new to act on.
  EXPECT_EQ(fake_.CountRequests("PUT", "/api/v2/tickets/"), 1);
  auto comments = fake_.Comments(id);
  ASSERT_EQ(comments.size(), 2u);
  EXPECT_FALSE(comments[1]["public"].get<bool>());
  EXPECT_NE(comments[1]["body"].get<std::string>().find("deskpilot-ref: "), std::string::npos);
  json tags = fake_.Ticket(id)["tags"];
  EXPECT_EQ(tags[0], "agent_tag");
  EXPECT_NE(std::find(tags.begin(), tags.end(), "deskpilot"), tags.end());

  // deskpilot's own update, reported back by Zendesk, is acknowledged and ignored.
  const std::string own = json{{"ticket_id", std::to_string(id)},
                               {"event", "ticket.updated"},
                               {"updated_at", "2024-05-01T12:00:09Z"},
                               {"actor_id", "900001"}}
                              .dump();
  EXPECT_EQ(Deliver(own), 200);
  Drain();
  EXPECT_EQ(fake_.CountRequests("PUT", "/api/v2/tickets/"), 1);

  // Bad signatures are refused.
  HttpRequest forged;
  forged.method = "POST";
  forged.url = service_->base_url() + "/webhooks/zd";
  forged.headers = {{"Content-Type", "application/json"},
                    {"X-Zendesk-Webhook-Signature-Timestamp", "1714564800"},
                    {"X-Zendesk-Webhook-Signature", "AAAA"}};
  forged.body = trigger;
  EXPECT_EQ(http_->Send(forged)->status, 401);
}

}  // namespace
}  // namespace deskpilot
