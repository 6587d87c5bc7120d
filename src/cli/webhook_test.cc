// `deskpilot webhook register|list|remove`, run in process through the entry point the
// binary uses. (The Zendesk path is covered in kb_sync_test.cc.)
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

TEST_F(WebhookCliTest, ADeskWithoutTheCapabilityIsAUsageErrorNamingItsType) {
  CliRun run = Webhook({"register", "--config", config_, "--source", "local", "--url", "https://dp.example.com"});
  EXPECT_EQ(run.code, kExitUsage);
  EXPECT_NE(run.err.find("of type \"sandbox\""), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("POST to /webhooks/local by hand (see its adapter README)"), std::string::npos) << run.err;
  EXPECT_EQ(Webhook({"list", "--config", config_, "--source", "nope"}).code, kExitUsage);
}

}  // namespace
}  // namespace deskpilot::cli
