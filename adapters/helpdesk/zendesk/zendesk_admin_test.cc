#include "helpdesk/zendesk/zendesk_admin.h"

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "helpdesk/zendesk/zendesk_fake.h"
#include "helpdesk/zendesk/zendesk_helpdesk.h"

namespace deskpilot {
namespace {

using nlohmann::json;

class ZendeskAdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fake_.Start().ok());
    ZendeskOptions o;
    o.name = "acme";
    o.base_url = fake_.base_url();
    o.email = "bot@example.com";
    o.api_token = "zd-test-token";
    o.retry.base_delay = std::chrono::milliseconds(1);
    api_ = std::make_unique<ZendeskApi>(o, http_.get());
  }
  int Writes() {
    return fake_.CountRequests("POST", "/api/v2/") + fake_.CountRequests("PUT", "/api/v2/") +
           fake_.CountRequests("PATCH", "/api/v2/") + fake_.CountRequests("DELETE", "/api/v2/");
  }

  ZendeskFake fake_;
  std::unique_ptr<HttpClient> http_ = NewCurlHttpClient();
  std::unique_ptr<ZendeskApi> api_;
};

TEST_F(ZendeskAdminTest, RegisterCreatesWebhookAndTriggersOnceAndReturnsTheSecret) {
  auto reg = RegisterZendeskWebhook(*api_, "https://dp.acme.com/webhooks/acme");
  ASSERT_TRUE(reg.ok()) << reg.status().ToString();
  ASSERT_EQ(fake_.Webhooks().size(), 1u);
  json w = fake_.Webhooks()[0];
  EXPECT_EQ(w["name"], "deskpilot-acme");
  EXPECT_EQ(w["endpoint"], "https://dp.acme.com/webhooks/acme");
  EXPECT_EQ(w["http_method"], "POST");
  EXPECT_EQ(w["request_format"], "json");
  EXPECT_EQ(w["status"], "active");
  EXPECT_EQ(reg->webhook_id, w["id"]);
  EXPECT_FALSE(reg->signing_secret.empty());

  auto triggers = fake_.Triggers();
  ASSERT_EQ(triggers.size(), 2u);
  for (const auto& t : triggers) {
    ASSERT_EQ(t["actions"].size(), 1u);
    EXPECT_EQ(t["actions"][0]["field"], "notification_webhook");
    EXPECT_EQ(t["actions"][0]["value"][0], reg->webhook_id);
  }
  EXPECT_EQ(triggers[0]["conditions"]["all"][0]["value"], "Create");
  // The comment trigger only fires for end users' public comments, never deskpilot's.
  EXPECT_NE(triggers[1]["conditions"].dump().find("end_user"), std::string::npos);
  for (const auto& c : reg->changes) EXPECT_EQ(c.action, "created") << c.name;

  // Running it again changes nothing.
  const int writes = Writes();
  auto again = RegisterZendeskWebhook(*api_, "https://dp.acme.com/webhooks/acme");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(Writes(), writes);
  for (const auto& c : again->changes) EXPECT_EQ(c.action, "unchanged") << c.name;
  EXPECT_EQ(again->signing_secret, reg->signing_secret);
  EXPECT_EQ(fake_.Webhooks().size(), 1u);
  EXPECT_EQ(fake_.Triggers().size(), 2u);
}

// An agent approves a draft by adding the approval tag: an update with no comment, which
// neither the creation nor the customer-comment trigger sees. With approval by tag on,
// register adds a third trigger for it (also to a registration made before), and the
// delivery it makes parses as an approval, never a triage.
TEST_F(ZendeskAdminTest, WithApprovalByTagATriggerReportsTheTagOnAnUpdatedTicket) {
  const std::string endpoint = "http://127.0.0.1:1/webhooks/acme";  // nothing listens: deliveries only logged
  ASSERT_TRUE(RegisterZendeskWebhook(*api_, endpoint).ok());
  ASSERT_EQ(fake_.Triggers().size(), 2u);

  ZendeskOptions o = api_->options();
  o.approval_tag = "Deskpilot_Approved";
  ZendeskApi api(o, http_.get());
  auto reg = RegisterZendeskWebhook(api, endpoint);
  ASSERT_TRUE(reg.ok()) << reg.status().ToString();
  ASSERT_EQ(reg->changes.size(), 4u);
  EXPECT_EQ(reg->changes[1].action, "unchanged");
  EXPECT_EQ(reg->changes[2].action, "unchanged");
  EXPECT_EQ(reg->changes[3].action, "created");
  EXPECT_EQ(reg->changes[3].name, "deskpilot-acme: approval tag on an updated ticket");
  const auto triggers = fake_.Triggers();
  ASSERT_EQ(triggers.size(), 3u);
  const json& approval = triggers[2];
  EXPECT_EQ(approval["conditions"]["all"],
            json::parse(R"([{"field":"update_type","operator":"is","value":"Change"},
                            {"field":"current_tags","operator":"includes","value":"deskpilot_approved"}])"));
  EXPECT_EQ(approval["actions"][0]["value"][0], reg->webhook_id);
  EXPECT_EQ(json::parse(approval["actions"][0]["value"][1].get<std::string>())["event"], kApprovalTagEvent);
  const int writes = Writes();
  auto again = RegisterZendeskWebhook(api, endpoint);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(Writes(), writes);

  // In the fake: another tag change fires nothing; adding the approval tag fires it.
  const int64_t agent = fake_.AddUser("Agent Smith", "smith@example.com", "agent");
  const int64_t customer = fake_.AddUser("Ann", "ann@example.com", "end-user");
  const int64_t id = fake_.AddTicket({{"subject", "Refund"}, {"description", "Refund please"}, {"requester_id", customer}});
  fake_.AgentSetsTags(id, agent, {"vip"});
  fake_.AgentSetsTags(id, agent, {"vip", "deskpilot_approved"});
  std::vector<ZendeskFake::Delivery> deliveries;
  for (int i = 0; i < 200 && deliveries.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    deliveries = fake_.Deliveries();
  }
  ASSERT_EQ(deliveries.size(), 1u) << "only the change that leaves the approval tag is reported";
  const json body = json::parse(deliveries[0].body);
  EXPECT_EQ(body["ticket_id"], std::to_string(id));
  EXPECT_EQ(body["actor_id"], std::to_string(agent));
  WebhookRequest request;
  request.body = deliveries[0].body;
  auto ev = NewZendeskHelpdesk(o, http_.get())->ParseWebhook(request);
  ASSERT_TRUE(ev.ok()) << ev.status().ToString();
  EXPECT_EQ(ev->event_type, kApprovalTagEvent);
  EXPECT_EQ(ev->ticket_id, std::to_string(id));
}

TEST_F(ZendeskAdminTest, RegisterRepairsAChangedEndpointAndAnEditedTrigger) {
  ASSERT_TRUE(RegisterZendeskWebhook(*api_, "https://old.acme.com/webhooks/acme").ok());
  auto reg = RegisterZendeskWebhook(*api_, "https://new.acme.com/webhooks/acme");
  ASSERT_TRUE(reg.ok()) << reg.status().ToString();
  EXPECT_EQ(fake_.Webhooks()[0]["endpoint"], "https://new.acme.com/webhooks/acme");
  EXPECT_EQ(reg->changes[0].action, "updated");
  EXPECT_EQ(reg->changes[1].action, "unchanged");
}

TEST_F(ZendeskAdminTest, TriggerBodyParsesAsAWebhookOnceZendeskFillsItIn) {
  std::string body = ZendeskTriggerBody("ticket.comment_added");
  auto fill = [&](const std::string& placeholder, const std::string& value) {
    body.replace(body.find(placeholder), placeholder.size(), value);
  };
  fill("{{ticket.id}}", "314");
  fill("{{ticket.updated_at_with_timestamp}}", "2024-05-01T12:00:00Z");
  fill("{{current_user.id}}", "777");
  ZendeskOptions o = api_->options();
  o.webhook_secret = "s";
  auto hd = NewZendeskHelpdesk(o, http_.get());
  WebhookRequest req;
  req.body = body;
  auto ev = hd->ParseWebhook(req);
  ASSERT_TRUE(ev.ok()) << ev.status().ToString() << " " << body;
  EXPECT_EQ(ev->ticket_id, "314");
  EXPECT_EQ(ev->event_type, "ticket.comment_added");
}

TEST_F(ZendeskAdminTest, ListAndRemove) {
  ASSERT_TRUE(RegisterZendeskWebhook(*api_, "https://dp.acme.com/webhooks/acme").ok());
  auto list = ListZendeskWebhooks(*api_);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_TRUE((*list)[0].ours);
  EXPECT_EQ((*list)[0].triggers.size(), 2u);

  auto removed = RemoveZendeskWebhook(*api_);
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(removed->size(), 3u);
  EXPECT_EQ(removed->back().kind, "webhook");  // after the triggers that used it
  EXPECT_TRUE(fake_.Webhooks().empty());
  EXPECT_TRUE(fake_.Triggers().empty());

  auto nothing = RemoveZendeskWebhook(*api_);
  ASSERT_TRUE(nothing.ok());
  EXPECT_TRUE(nothing->empty());
}

TEST_F(ZendeskAdminTest, ErrorsAreReported) {
  fake_.InjectFault({"POST", "/api/v2/webhooks", 403, 1, ""});
  auto reg = RegisterZendeskWebhook(*api_, "https://dp.acme.com/webhooks/acme");
  EXPECT_EQ(reg.status().code(), Code::kPermissionDenied) << reg.status().ToString();
  fake_.InjectFault({"GET", "/api/v2/webhooks", 401, 1, ""});
  EXPECT_EQ(ListZendeskWebhooks(*api_).status().code(), Code::kUnauthenticated);
}

}  // namespace
}  // namespace deskpilot
