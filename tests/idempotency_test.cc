// Idempotency, end to end: every delivery of a set of webhook events is sent several
// times, in random order, from concurrent senders (so copies of one delivery race each
// other), to the real `deskpilot serve`. Each event must become exactly one job (one
// 202, every other copy a 200 naming the same job) and exactly one applied write-back
// at the help desk; replaying everything after processing changes nothing.
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness.h"

namespace deskpilot {
namespace {

namespace fs = std::filesystem;
namespace th = testing_harness;
using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr int kEvents = 120;
constexpr int kCopies = 4;
constexpr int kSenders = 8;

class IdempotencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(DESKPILOT_BINARY)) << DESKPILOT_BINARY;
    ASSERT_TRUE(desk_.started());
    const std::string config =
        desk_.WriteConfig("[workers]\nthreads = 4\npoll_ms = 50\n[policy]\nmode = \"assist\"\n");
    proc_ = std::make_unique<th::Process>(std::vector<std::string>{DESKPILOT_BINARY, "serve", "--config", config},
                                          desk_.Env(), desk_.Path("serve.log"));
    port_ = proc_->WaitForPort(60s);
    ASSERT_GT(port_, 0) << proc_->Log();
  }
  void TearDown() override {
    proc_.reset();  // SIGKILL + reap if a test left it running
  }

  struct Answer {
    int status = 0;
    int64_t job_id = 0;
  };
  // Sends every body in `order` from kSenders threads; answers[i] collects body i's replies.
  std::vector<std::vector<Answer>> SendAll(const std::vector<std::string>& bodies, const std::vector<int>& order) {
    std::vector<std::vector<Answer>> answers(bodies.size());
    std::mutex mu;
    std::atomic<size_t> next{0};
    std::vector<std::thread> threads;
    for (int s = 0; s < kSenders; ++s) {
      threads.emplace_back([&] {
        for (size_t k; (k = next.fetch_add(1)) < order.size();) {
          const int i = order[k];
          auto res = th::PostSigned(port_, "desk", bodies[i], desk_.secret());
          Answer a;
          if (res) {
            a.status = res->status;
            auto j = json::parse(res->body, nullptr, false);
            if (j.is_object() && j.contains("job_id")) a.job_id = j["job_id"].get<int64_t>();
          }
          std::lock_guard lock(mu);
          answers[i].push_back(a);
        }
      });
    }
    for (auto& t : threads) t.join();
    return answers;
  }

  bool WaitDrained(int jobs, std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto s = th::JobStates(db_);
      if (s["done"] + s["skipped"] + s["dead"] >= jobs && s["queued"] == 0 && s["leased"] == 0) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  th::SandboxDesk desk_{"idem"};
  const std::string db_ = desk_.db();
  std::unique_ptr<th::Process> proc_;
  int port_ = 0;
};

TEST_F(IdempotencyTest, ReplayedDeliveriesMakeOneJobAndOneWriteEach) {
  std::vector<std::string> bodies, tickets;
  {
    auto c = desk_.Client();
    for (int i = 0; i < kEvents; ++i) {
      json t = {{"subject", "Cannot log in " + std::to_string(i)},
                {"description", "The password reset email never arrives, I tried three times."},
                {"requester", {{"email", "user" + std::to_string(i) + "@example.com"}, {"name", "U"}}}};
      auto res = c.Post("/api/tickets", t.dump(), "application/json");
      ASSERT_TRUE(res && res->status == 201);
      tickets.push_back(json::parse(res->body)["ticket"]["id"].get<std::string>());
      bodies.push_back(json{{"id", "evt_idem_" + std::to_string(i)}, {"type", "ticket.created"},
                            {"time", th::Timestamp()}, {"ticket_id", tickets.back()},
                            {"actor", {{"id", "customer"}, {"role", "customer"}}}}
                           .dump());
    }
  }
  std::vector<int> order;
  for (int copy = 0; copy < kCopies; ++copy)
    for (int i = 0; i < kEvents; ++i) order.push_back(i);
  const unsigned seed = std::random_device{}();
  std::shuffle(order.begin(), order.end(), std::mt19937(seed));
  SCOPED_TRACE("shuffle seed " + std::to_string(seed));

  auto answers = SendAll(bodies, order);
  std::set<int64_t> job_ids;
  for (int i = 0; i < kEvents; ++i) {
    int accepted = 0, duplicates = 0;
    std::set<int64_t> ids;
    for (const Answer& a : answers[i]) {
      accepted += a.status == 202;
      duplicates += a.status == 200;
      ids.insert(a.job_id);
    }
    EXPECT_EQ(accepted, 1) << "event " << i;
    EXPECT_EQ(duplicates, kCopies - 1) << "event " << i;
    EXPECT_EQ(ids.size(), 1u) << "event " << i << ": copies named different jobs";
    job_ids.insert(*ids.begin());
  }
  EXPECT_EQ(job_ids.size(), static_cast<size_t>(kEvents));

  ASSERT_TRUE(WaitDrained(kEvents, 60s)) << proc_->Log();
  // Replays after processing: all duplicates, no new job, no new write.
  std::vector<int> again(kEvents);
  for (int i = 0; i < kEvents; ++i) again[i] = i;
  std::shuffle(again.begin(), again.end(), std::mt19937(seed + 1));
  for (const auto& a : SendAll(bodies, again)) {
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].status, 200);
  }
  std::this_thread::sleep_for(300ms);  // a wrongly created job would run in this window
  ASSERT_TRUE(WaitDrained(kEvents, 30s));
  EXPECT_EQ(proc_->Terminate(30s), 0) << proc_->Log();

  auto states = th::JobStates(db_);
  EXPECT_EQ(states["done"], kEvents);
  EXPECT_EQ(states["dead"], 0);
  auto count = th::Query(db_, "SELECT COUNT(*) FROM jobs");
  ASSERT_TRUE(count.has_value());
  EXPECT_EQ((*count)[0][0], std::to_string(kEvents));

  auto c = desk_.Client();
  for (const auto& id : tickets) {
    auto res = c.Get(("/api/tickets/" + id + "/comments").c_str());
    ASSERT_TRUE(res && res->status == 200);
    int notes = 0;
    const json doc = json::parse(res->body);  // named: a temporary would die before the loop
    for (const auto& cm : doc["comments"])
      notes += cm.value("author_id", "") == std::string(kSandboxApiUserId) && !cm.value("public", true);
    EXPECT_EQ(notes, 1) << "ticket " << id;
  }
  auto stats = c.Get("/api/_stats");
  ASSERT_TRUE(stats && stats->status == 200);
  json st = json::parse(stats->body);
  EXPECT_EQ(st["applied_updates"].get<int>(), kEvents) << st.dump();
  EXPECT_EQ(st["idempotent_replays"].get<int>(), 0) << "nothing should even need the vendor's dedupe: " << st.dump();
}

}  // namespace
}  // namespace deskpilot
