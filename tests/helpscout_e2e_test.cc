// End-to-end: the real `deskpilot serve` in front of the loopback Help Scout fake. A
// delivery signed as Help Scout signs it goes in; the internal note (and tags) must land
// once, through an OAuth2 token, and redeliveries and events that do not start triage
// (deskpilot's own note among them) must be acknowledged and ignored.
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
#include "run_command.h"
#include "helpdesk/helpscout/helpscout_fake.h"

namespace deskpilot {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

class HelpScoutEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(DESKPILOT_BINARY)) << DESKPILOT_BINARY;
    dir_ = fs::temp_directory_path() / ("deskpilot-helpscout-e2e-" + RandomHex(6));
    fs::create_directories(dir_);
    testing_harness::SeedSampleModels(dir_);
    ASSERT_TRUE(fake_.Start().ok());
    customer_ = fake_.AddCustomer("Ann", "Lee", "ann.lee@example.com");
    signature_token_ = RandomHex(20);  // 40 characters, Help Scout's longest secret
    WriteConfig("[policy]\nmode = \"assist\"\n");
  }
  void WriteConfig(const std::string& policy) {
    config_ = (dir_ / "deskpilot.toml").string();
    std::ofstream(config_) << "[server]\nlisten = \"127.0.0.1:0\"\n[storage]\npath = \"" << (dir_ / "deskpilot.db").string()
                           << "\"\n[workers]\npoll_ms = 20\n"
                           << "[[helpdesk]]\nname = \"hs\"\ntype = \"helpscout\"\nbase_url = \"" << fake_.base_url()
                           << "\"\napp_id = \"hs-app-id\"\napp_secret_env = \"HS_APP_SECRET\"\n"
                           << "webhook_secret_env = \"HS_WEBHOOK_SECRET\"\napi_user_id = 7\n" << policy;
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
        std::vector<std::string>{"HS_APP_SECRET=hs-app-secret", "HS_WEBHOOK_SECRET=" + signature_token_},
        (dir_ / "serve.log").string());
    const int port = proxy_->WaitForPort(std::chrono::seconds(120));
    EXPECT_GT(port, 0) << proxy_->Log();
    return port;
  }

  // Posted as Help Scout posts: the event name, base64 HMAC-SHA1 over the raw body.
  httplib::Result Deliver(int port, const std::string& body, const std::string& event, const std::string& secret) {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(std::chrono::seconds(10));
    httplib::Headers h = {{"X-HelpScout-Event", event}, {"X-HelpScout-Signature", Base64Encode(HmacSha1(secret, body))}};
    return c.Post("/webhooks/hs", h, body, "application/json");
  }

  bool HasTag(int64_t id, const std::string& tag) {
    const auto t = fake_.Tags(id);
    return std::find(t.begin(), t.end(), tag) != t.end();
  }

  // Threads of `type` that deskpilot's user (the fake's API user, 7) wrote.
  int ByDeskpilot(int64_t id, const std::string& type) {
    int n = 0;
    for (const auto& t : fake_.Threads(id)) n += t["type"] == type && t["createdBy"]["id"] == 7;
    return n;
  }

  int Notes(int64_t id) {
    int n = 0;
    for (const auto& t : fake_.Threads(id))
      n += t["type"] == "note" && t["body"].get<std::string>().find("deskpilot-ref: ") != std::string::npos;
    return n;
  }

  fs::path dir_;
  std::string config_, signature_token_;
  HelpScoutFake fake_;
  int64_t customer_ = 0;
  std::unique_ptr<testing_harness::Process> proxy_;
};

TEST_F(HelpScoutEndToEnd, SignedDeliveryLandsOneInternalNote) {
  const int port = StartProxy();
  ASSERT_GT(port, 0);
  const int64_t id = fake_.AddConversation("Charged twice for order 48213", customer_,
                                           "<p>Hi, I was charged twice for my last order and I want a refund of the "
                                           "second payment.</p><p>Thanks</p>",
                                           {"vip"});
  const std::string body = fake_.WebhookPayload(id);

  auto forged = Deliver(port, body, "convo.created", "not-the-secret");
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 401);
  auto first = Deliver(port, body, "convo.created", signature_token_);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 202) << first->body;
  auto again = Deliver(port, body, "convo.created", signature_token_);  // Help Scout's retry
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200) << again->body;
  EXPECT_NE(again->body.find("duplicate"), std::string::npos) << again->body;
  auto malformed = Deliver(port, R"({"subject":"no id"})", "convo.created", signature_token_);
  ASSERT_TRUE(malformed);
  EXPECT_EQ(malformed->status, 400);
  auto tags = Deliver(port, body, "convo.tags", signature_token_);
  ASSERT_TRUE(tags);
  EXPECT_EQ(tags->status, 200) << tags->body;
  // The conversation's tags carry no approval tag: another tag change, not queued.
  EXPECT_NE(tags->body.find("convo.tags without the approval tag"), std::string::npos) << tags->body;

  // The note is written first and the tags after it, so wait for both: the note
  // alone showing up says nothing about whether the tags have landed yet.
  testing_harness::Eventually([&] { return Notes(id) > 0 && HasTag(id, "deskpilot"); });
  ASSERT_EQ(Notes(id), 1) << proxy_->Log();
  const json note = fake_.Threads(id).back();
  EXPECT_EQ(note["type"], "note");
  EXPECT_EQ(note["createdBy"]["id"], 7);
  EXPECT_NE(note["body"].get<std::string>().find("Predictions:"), std::string::npos);
  auto now_tags = fake_.Tags(id);
  ASSERT_FALSE(now_tags.empty());
  EXPECT_EQ(now_tags.front(), "vip") << "an agent's tag was removed";
  EXPECT_NE(std::find(now_tags.begin(), now_tags.end(), "deskpilot"), now_tags.end());
  for (const auto& t : fake_.Threads(id)) EXPECT_NE(t["type"], "message") << "assist mode must never reply publicly";
  EXPECT_EQ(fake_.TokensIssued(), 1) << "one token for every call";

  // Help Scout reports deskpilot's note back: acknowledged, never queued.
  auto own = Deliver(port, fake_.WebhookPayload(id), "convo.note.created", signature_token_);
  ASSERT_TRUE(own);
  EXPECT_EQ(own->status, 200) << own->body;
  EXPECT_NE(own->body.find("ignored"), std::string::npos) << own->body;

  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Notes(id), 1) << "exactly one write-back per delivery";
  EXPECT_EQ(proxy_->Terminate(std::chrono::seconds(20)), 0) << proxy_->Log();
}

// The approve rung through Help Scout: deskpilot's note carries the draft and asks for the
// approval tag; an agent adding it is reported only as convo.tags, which is queued because
// the tag is on the conversation, and the worker posts the draft as the reply, once.
TEST_F(HelpScoutEndToEnd, AddingTheApprovalTagPostsThePendingDraftOnce) {
  // Every category goes to approve (no auto reply), with any category confidence: what
  // is under test is the approval, not the classifier. The sample articles ground the draft.
  WriteConfig("[policy]\nmode = \"auto\"\ndefault_rung = \"approve\"\n[policy.thresholds]\ncategory = 0.01\n");
  std::string out;
  ASSERT_EQ(testing_harness::RunCommand(std::string(DESKPILOT_BINARY) + " kb ingest --db " +
                                            (dir_ / "deskpilot.db").string() + " " + DESKPILOT_TEST_SAMPLE_DIR + "/kb",
                                        &out),
            0)
      << out;
  const int port = StartProxy();
  ASSERT_GT(port, 0);
  const int64_t id = fake_.AddConversation("Payment declined", customer_,
                                           "<p>Hi, my card payment was declined when I tried to pay for my order. "
                                           "What payment methods can I use instead?</p>",
                                           {"vip"});
  auto created = Deliver(port, fake_.WebhookPayload(id), "convo.created", signature_token_);
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 202) << created->body;
  ASSERT_TRUE(testing_harness::Eventually([&] { return Notes(id) == 1 && HasTag(id, "deskpilot"); })) << proxy_->Log();
  const std::string note = fake_.Threads(id).back()["body"];
  ASSERT_NE(note.find("deskpilot_approved"), std::string::npos) << "not decided approve:\n" << note;
  EXPECT_EQ(ByDeskpilot(id, "message"), 0) << "nothing is sent before an agent approves";

  // deskpilot's own tag write comes back as convo.tags: no approval tag, ignored.
  auto own_tags = Deliver(port, fake_.WebhookPayload(id), "convo.tags", signature_token_);
  ASSERT_TRUE(own_tags);
  EXPECT_EQ(own_tags->status, 200) << own_tags->body;

  // The agent approves: the tag is added in Help Scout, which reports the change.
  std::vector<std::string> tags = fake_.Tags(id);
  tags.push_back("deskpilot_approved");
  fake_.SetTags(id, tags);
  const std::string approval = fake_.WebhookPayload(id);
  auto approved = Deliver(port, approval, "convo.tags", signature_token_);
  ASSERT_TRUE(approved);
  EXPECT_EQ(approved->status, 202) << approved->body;
  ASSERT_TRUE(testing_harness::Eventually([&] { return ByDeskpilot(id, "message") > 0; })) << proxy_->Log();
  const json reply = fake_.Threads(id).back();
  EXPECT_EQ(reply["type"], "message");
  EXPECT_NE(note.find(reply["body"].get<std::string>().substr(0, 40)), std::string::npos)
      << "the reply is the draft the note showed:\n" << reply["body"] << "\n---\n" << note;

  // Help Scout's retry of that delivery is a duplicate; a later tag change that keeps the
  // tag is queued, reads the conversation, and finds the draft already posted.
  auto retry = Deliver(port, approval, "convo.tags", signature_token_);
  ASSERT_TRUE(retry);
  EXPECT_EQ(retry->status, 200) << retry->body;
  tags.push_back("followup");
  fake_.SetTags(id, tags);
  const std::string conversation_path = "/v2/conversations/" + std::to_string(id);
  const int reads = fake_.CountRequests("GET", conversation_path);
  auto later = Deliver(port, fake_.WebhookPayload(id), "convo.tags", signature_token_);
  ASSERT_TRUE(later);
  EXPECT_EQ(later->status, 202) << later->body;
  ASSERT_TRUE(testing_harness::Eventually([&] { return fake_.CountRequests("GET", conversation_path) > reads; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(ByDeskpilot(id, "message"), 1) << "the approved draft is posted once: " << proxy_->Log();
  EXPECT_EQ(Notes(id), 1);
  EXPECT_EQ(proxy_->Terminate(std::chrono::seconds(20)), 0) << proxy_->Log();
}

// `deskpilot kb sync` from Help Scout Docs and closed conversations, through the real binary.
TEST_F(HelpScoutEndToEnd, KbSyncPullsDocsArticlesAndClosedConversations) {
  const std::string billing = fake_.AddDocsCollection("Billing");
  const std::string internal = fake_.AddDocsCollection("Internal", "private");
  const std::string refunds = fake_.AddDocsArticle(billing, "Refunds", "<p>Refunds reach your card within five business days.</p>");
  fake_.AddDocsArticle(billing, "Draft", "<p>Unannounced pricing.</p>", "notpublished");
  fake_.AddDocsArticle(internal, "Runbook", "<p>Escalate chargebacks to finance.</p>");
  const int64_t closed = fake_.AddConversation("Parcel lost", customer_, "<p>My parcel never came.</p>");
  fake_.AddThread(closed, "message", "<p>We have sent a replacement parcel by courier.</p>", "user", 33);
  fake_.SetStatus(closed, "closed");
  const std::string db = (dir_ / "deskpilot.db").string();
  const std::string env = "HS_APP_SECRET=hs-app-secret HS_WEBHOOK_SECRET=" + signature_token_ + " ";
  const std::string sync = std::string(DESKPILOT_BINARY) + " kb sync --config " + config_ + " --source hs";

  // Without a Docs key: a usage error naming the setting.
  auto no_key = testing_shell::RunShell(env + sync);
  EXPECT_EQ(no_key.code, 2) << no_key.out;
  EXPECT_NE(no_key.out.find("docs_api_key_env"), std::string::npos) << no_key.out;

  WriteConfig("docs_api_key_env = \"HS_DOCS_KEY\"\ndocs_base_url = \"" + fake_.base_url() +
              "\"\n[policy]\nmode = \"assist\"\n");
  auto first = testing_shell::RunShell(env + "HS_DOCS_KEY=hs-docs-key " + sync + " --solved-since 2020-01-01");
  ASSERT_EQ(first.code, 0) << first.out;
  EXPECT_NE(first.out.find("articles en: 2 listed as changed (first sync), 1 added or updated"), std::string::npos)
      << first.out;
  EXPECT_NE(first.out.find("resolved tickets: 1 solved since 2020-01-01, 1 added or updated"), std::string::npos)
      << first.out;
  auto search = testing_shell::RunShell(std::string(DESKPILOT_BINARY) + " kb search --db " + db + " --json refunds card",
                                        false);
  ASSERT_EQ(search.code, 0) << search.out;
  EXPECT_NE(search.out.find("\"hs:en:" + refunds + "\""), std::string::npos) << search.out;
  EXPECT_NE(search.out.find(fake_.DocsArticle(refunds)["publicUrl"].get<std::string>()), std::string::npos);
  for (const char* hidden : {"Unannounced", "chargebacks"}) {
    auto found = testing_shell::RunShell(std::string(DESKPILOT_BINARY) + " kb search --db " + db + " --json " + hidden, false);
    EXPECT_EQ(found.out.find(hidden), std::string::npos) << found.out;
  }
  auto parcel = testing_shell::RunShell(std::string(DESKPILOT_BINARY) + " kb search --db " + db + " --json replacement courier",
                                        false);
  EXPECT_NE(parcel.out.find("replacement parcel"), std::string::npos) << parcel.out;
  EXPECT_EQ(fake_.CountRequests("GET", "/v1/collections/" + internal), 0);
}

}  // namespace
}  // namespace deskpilot
