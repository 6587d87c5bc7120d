// `deskpilot webhook register|list|remove` for a Help Scout source against the loopback
// Help Scout fake, run in process through the entry point the binary uses. (The Zendesk
// path is covered in kb_sync_test.cc.)
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "helpdesk/helpscout/helpscout_fake.h"

namespace deskpilot::cli {
namespace {

namespace fs = std::filesystem;

struct CliRun {
  int code = 0;
  std::string out;
  std::string err;
};

CliRun Webhook(std::vector<std::string> args) {
  args.insert(args.begin(), "deskpilot webhook");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  const int code = RunWebhook(static_cast<int>(args.size()), argv.data());
  std::string out = testing::internal::GetCapturedStdout();
  return {code, out, testing::internal::GetCapturedStderr()};
}

class WebhookCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fake_.Start().ok());
    char tmpl[] = "/tmp/deskpilot-webhookcli-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    setenv("DP_TEST_HS_APP_SECRET", "hs-app-secret", 1);
    setenv("DP_TEST_SB_TOKEN", "sb-token", 1);
    setenv("DP_TEST_SB_SECRET", "sb-secret", 1);
    config_ = (dir_ / "deskpilot.toml").string();
    // No webhook_secret_env for "hs": `register` is what hands it out.
    std::ofstream(config_) << "[storage]\npath = \"" << (dir_ / "deskpilot.db").string() << "\"\n\n"
                           << "[[helpdesk]]\nname = \"hs\"\ntype = \"helpscout\"\nbase_url = \"" << fake_.base_url()
                           << "\"\napp_id = \"hs-app-id\"\napp_secret_env = \"DP_TEST_HS_APP_SECRET\"\n"
                           << "api_user_id = 7\n\n"
                           << "[[helpdesk]]\nname = \"local\"\ntype = \"sandbox\"\nbase_url = \"http://127.0.0.1:1\"\n"
                           << "api_token_env = \"DP_TEST_SB_TOKEN\"\nwebhook_secret_env = \"DP_TEST_SB_SECRET\"\n";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  HelpScoutFake fake_;
  fs::path dir_;
  std::string config_;
};

TEST_F(WebhookCliTest, HelpScoutRegisterListRemove) {
  const int64_t crm = fake_.AddWebhook("https://crm.example.com/hook", {"convo.assigned"}, "crm-secret", "crm");
  // Another integration's webhook, named with terminal escapes by whoever made it.
  fake_.AddWebhook("https://evil.example.com/\x1b[2J", {"convo.assigned"}, "evil-secret", "evil\x1b]0;x\x07\xc2\x9b");
  CliRun reg = Webhook({"register", "--config", config_, "--source", "hs", "--url", "https://dp.example.com/"});
  ASSERT_EQ(reg.code, 0) << reg.out << reg.err;
  auto hooks = fake_.Webhooks();
  ASSERT_EQ(hooks.size(), 3u);
  const std::string id = std::to_string(hooks[2]["id"].get<int64_t>());
  const std::string secret = hooks[2]["secret"];
  EXPECT_EQ(hooks[2]["url"], "https://dp.example.com/webhooks/hs");
  EXPECT_NE(reg.out.find("created  webhook " + id + "  deskpilot-hs\n"), std::string::npos) << reg.out;
  EXPECT_NE(reg.out.find("will POST ticket events to https://dp.example.com/webhooks/hs"), std::string::npos)
      << reg.out;
  EXPECT_NE(reg.out.find("Signing secret"), std::string::npos) << reg.out;
  EXPECT_NE(reg.out.find("\n  " + secret + "\n"), std::string::npos) << reg.out;

  // Again: nothing changes, and the admin is told why no secret is printed.
  CliRun again = Webhook({"register", "--config", config_, "--source", "hs", "--url", "https://dp.example.com"});
  ASSERT_EQ(again.code, 0) << again.out << again.err;
  EXPECT_NE(again.out.find("unchanged  webhook " + id), std::string::npos) << again.out;
  EXPECT_EQ(again.out.find("Signing secret"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("cannot be read back"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("`deskpilot webhook remove` and then `register`"), std::string::npos) << again.out;
  EXPECT_EQ(fake_.Webhooks().size(), 3u);

  CliRun list = Webhook({"list", "--config", config_, "--source", "hs"});
  ASSERT_EQ(list.code, 0) << list.out << list.err;
  EXPECT_NE(list.out.find(std::to_string(crm) + "  crm  enabled  https://crm.example.com/hook\n"
                          "    events: convo.assigned\n"),
            std::string::npos)
      << list.out;
  EXPECT_NE(list.out.find(id + "  deskpilot-hs  (this source)  enabled  https://dp.example.com/webhooks/hs\n"
                          "    events: convo.created, convo.customer.reply.created, convo.tags\n"),
            std::string::npos)
      << list.out;
  EXPECT_NE(list.out.find("  evil ]0;x    enabled  https://evil.example.com/ [2J\n"), std::string::npos) << list.out;
  for (const char* control : {"\x1b", "\x07", "\xc2\x9b"}) EXPECT_EQ(list.out.find(control), std::string::npos);

  CliRun removed = Webhook({"remove", "--config", config_, "--source", "hs"});
  ASSERT_EQ(removed.code, 0) << removed.out << removed.err;
  EXPECT_EQ(removed.out, "deleted  webhook " + id + "  deskpilot-hs\n");
  ASSERT_EQ(fake_.Webhooks().size(), 2u);
  EXPECT_EQ(fake_.Webhooks()[0]["id"], crm);
  CliRun nothing = Webhook({"remove", "--config", config_, "--source", "hs"});
  EXPECT_EQ(nothing.code, 0);
  EXPECT_EQ(nothing.out, "nothing to remove for \"hs\"\n");
}

TEST_F(WebhookCliTest, ADeskWithoutTheCapabilityIsAUsageErrorNamingItsType) {
  CliRun run = Webhook({"register", "--config", config_, "--source", "local", "--url", "https://dp.example.com"});
  EXPECT_EQ(run.code, kExitUsage);
  EXPECT_NE(run.err.find("of type \"sandbox\""), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("POST to /webhooks/local by hand (see its adapter README)"), std::string::npos) << run.err;
  EXPECT_EQ(Webhook({"list", "--config", config_, "--source", "nope"}).code, kExitUsage);
  fake_.RevokeTokens();
  setenv("DP_TEST_HS_APP_SECRET", "wrong", 1);
  CliRun refused = Webhook({"list", "--config", config_, "--source", "hs"});
  EXPECT_EQ(refused.code, kExitFailure) << refused.out << refused.err;
  EXPECT_TRUE(fake_.Webhooks().empty());
}

}  // namespace
}  // namespace deskpilot::cli
