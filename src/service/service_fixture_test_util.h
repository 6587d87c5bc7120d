// A real Service on a loopback port 0 in front of a real sandbox help desk, for the
// admin API, receiver-limit and replay tests. Each test gets a directory of its own,
// seeded with the sample models of the `sample_models` CTest fixture, and removed with
// everything in it in TearDown.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "deskpilot/config.h"
#include "deskpilot/crypto.h"
#include "helpdesk/sandbox/sandbox_server.h"
#include "service/sample_models_test_util.h"
#include "service/service.h"

namespace deskpilot::testing_util {

class ServiceFixture : public ::testing::Test {
 protected:
  static constexpr char kAdminToken[] = "admin-token-0123456789abcdef01234567";
  static constexpr char kSandboxToken[] = "sandbox-api-token";
  static constexpr char kWebhookSecret[] = "sandbox-webhook-secret";

  // extra_toml is appended to the config (e.g. "[server]" keys are set through server_toml).
  void StartService(const std::string& server_toml = "", bool with_admin = true) {
    prefix_ = "t" + std::to_string(getpid()) + "_" + RandomHex(6);
    dir_ = std::filesystem::temp_directory_path() / ("deskpilot_service_fixture_" + prefix_);
    std::filesystem::create_directories(dir_);
    SeedSampleModels(dir_);
    SandboxOptions so;
    so.db_path = (dir_ / (prefix_ + "-sandbox.db")).string();
    so.api_token = kSandboxToken;
    sandbox_ = std::make_unique<SandboxServer>(so);
    ASSERT_TRUE(sandbox_->Start().ok());
    setenv("DP_SVC_TEST_SANDBOX_TOKEN", kSandboxToken, 1);
    setenv("DP_SVC_TEST_WEBHOOK_SECRET", kWebhookSecret, 1);
    setenv("DP_SVC_TEST_ADMIN_TOKEN", kAdminToken, 1);
    std::string toml = "[server]\nlisten = \"127.0.0.1:0\"\nthreads = 4\n" + server_toml + "[storage]\npath = \"" +
                       (dir_ / (prefix_ + "-dp.db")).string() + "\"\n[workers]\nthreads = 1\npoll_ms = 20\n" +
                       "[[helpdesk]]\nname = \"desk\"\ntype = \"sandbox\"\nbase_url = \"http://127.0.0.1:" +
                       std::to_string(sandbox_->port()) +
                       "\"\napi_token_env = \"DP_SVC_TEST_SANDBOX_TOKEN\"\n"
                       "webhook_secret_env = \"DP_SVC_TEST_WEBHOOK_SECRET\"\n";
    if (with_admin) toml += "[admin]\ntoken_env = \"DP_SVC_TEST_ADMIN_TOKEN\"\n";
    auto config = ParseConfig(toml, "test.toml");
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    BuildOptions build;
    build.sample_dir = DESKPILOT_TEST_SAMPLE_DIR;
    auto service = Service::Create(*config, build);
    ASSERT_TRUE(service.ok()) << service.status().ToString();
    service_ = std::move(service).value();
    ASSERT_TRUE(service_->Start().ok());
    client_ = std::make_unique<httplib::Client>("127.0.0.1", service_->port());
    client_->set_read_timeout(30, 0);
    sandbox_client_ = std::make_unique<httplib::Client>("127.0.0.1", sandbox_->port());
    sandbox_client_->set_bearer_token_auth(kSandboxToken);
  }

  void TearDown() override {
    if (service_) service_->Stop();
    if (sandbox_) sandbox_->Stop();
    service_.reset();
    sandbox_.reset();
    if (dir_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  Store& store() { return *service_->components().store; }

  // A ticket at the sandbox; returns its id.
  std::string AddTicket(nlohmann::json body) {
    if (!body.contains("requester")) body["requester"] = {{"email", "customer@example.com"}, {"name", "Casey"}};
    auto r = sandbox_client_->Post("/api/tickets", body.dump(), "application/json");
    if (!r || r->status != 201) return "";
    return nlohmann::json::parse(r->body)["ticket"]["id"].get<std::string>();
  }
  nlohmann::json Comments(const std::string& id) {
    auto r = sandbox_client_->Get(("/api/tickets/" + id + "/comments").c_str());
    if (!r || r->status != 200) return nullptr;
    return nlohmann::json::parse(r->body)["comments"];
  }

  // Waits until no job is queued or leased.
  void Drain() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      auto counts = store().CountJobsByState();
      ASSERT_TRUE(counts.ok());
      int64_t open = 0;
      for (const auto& [state, n] : *counts)
        if (state == "queued" || state == "leased") open += n;
      if (open == 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL() << "jobs did not finish";
  }

  // A job's final audit row lands just after its state change: wait for the row.
  bool WaitForAudit(int64_t job_id, const std::string& stage, int count = 1) {
    for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
         std::chrono::steady_clock::now() < until; std::this_thread::sleep_for(std::chrono::milliseconds(20))) {
      int n = 0;
      for (const auto& row : store().AuditForJob(job_id).value()) n += row.entry.stage == stage;
      if (n >= count) return true;
    }
    return false;
  }

  std::string Signature(const std::string& ts, const std::string& body) {
    return Base64Encode(HmacSha256(kWebhookSecret, ts + body));
  }
  static std::string NowSeconds() {
    return std::to_string(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  }

  std::filesystem::path dir_;
  std::string prefix_;
  std::unique_ptr<SandboxServer> sandbox_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<httplib::Client> client_;
  std::unique_ptr<httplib::Client> sandbox_client_;
};

}  // namespace deskpilot::testing_util
