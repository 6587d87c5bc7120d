// What the tests that kill `deskpilot serve` (CrashTest, PowerLossTest) share: one sandbox
// ticket per delivery, senders that behave like a vendor (redeliver until acknowledged, to
// whichever process is up), and a fixture that starts the binary and, after the kills, runs it
// clean and checks that every delivery was processed and written back exactly once.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness.h"

namespace deskpilot::testing_harness {

struct Delivery {
  std::string event_id;
  std::string ticket_id;
  std::string body;
  int status = 0;  // the acknowledging HTTP status, 0 until acknowledged
};

// n tickets at the sandbox ("Order <first_order + i> has not arrived"), each with the
// ticket.created delivery the vendor would send; empty if the sandbox refused one.
inline std::vector<Delivery> CreateTicketDeliveries(const SandboxDesk& desk, int n, int first_order,
                                                    const std::string& event_prefix) {
  using json = nlohmann::json;
  std::vector<Delivery> out;
  auto c = desk.Client();
  for (int i = 0; i < n; ++i) {
    const std::string order = std::to_string(first_order + i);
    json t = {{"subject", "Order " + order + " has not arrived"},
              {"description", "Hello, my order " + order +
                                  " was supposed to arrive last week and tracking has not moved. Where is it?"},
              {"requester", {{"email", "customer" + std::to_string(i) + "@example.com"}, {"name", "C"}}}};
    auto res = c.Post("/api/tickets", t.dump(), "application/json");
    if (!res || res->status != 201) return {};
    Delivery d;
    d.ticket_id = json::parse(res->body)["ticket"]["id"].get<std::string>();
    d.event_id = event_prefix + std::to_string(i);
    d.body = json{{"id", d.event_id}, {"type", "ticket.created"}, {"time", Timestamp()},
                  {"ticket_id", d.ticket_id}, {"actor", {{"id", "customer"}, {"role", "customer"}}}}
                 .dump();
    out.push_back(std::move(d));
  }
  return out;
}

// `senders` threads post the deliveries in turn, each redelivered until a 202/200 (like a
// vendor), pausing `pace` after each acknowledged one so that ingestion overlaps the test's
// kills. Half keep their connection alive, as vendors' HTTP clients do: the server then
// answers from its store's committer rather than from the connection's thread, and the
// promise (an answer means a durable job) must hold on both paths. SetPort(0) while no
// process is up. Destruction stops and joins them.
class RedeliveringSenders {
 public:
  RedeliveringSenders(std::vector<Delivery>& deliveries, std::string secret, int senders,
                      std::chrono::milliseconds pace)
      : deliveries_(deliveries), secret_(std::move(secret)) {
    for (int s = 0; s < senders; ++s) {
      const bool keep_alive = s % 2 == 0;
      threads_.emplace_back([this, keep_alive, pace] { Run(keep_alive, pace); });
    }
  }
  ~RedeliveringSenders() { Stop(); }
  RedeliveringSenders(const RedeliveringSenders&) = delete;
  RedeliveringSenders& operator=(const RedeliveringSenders&) = delete;

  void SetPort(int port) { port_ = port; }
  int acked() const { return acked_.load(); }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  // Event ids acknowledged so far.
  std::vector<std::string> AckedEventIds() {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const auto& d : deliveries_)
      if (d.status != 0) out.push_back(d.event_id);
    return out;
  }

 private:
  void Run(bool keep_alive, std::chrono::milliseconds pace) {
    using namespace std::chrono_literals;
    std::unique_ptr<httplib::Client> client;
    int client_port = 0;
    for (size_t i; !stop_ && (i = next_.fetch_add(1)) < deliveries_.size();) {
      while (!stop_) {
        const int p = port_.load();
        if (p == 0) {
          std::this_thread::sleep_for(5ms);
          continue;
        }
        if (!client || client_port != p) {
          client = WebhookClient(p, keep_alive);
          client_port = p;
        }
        auto res = PostSignedWith(*client, "desk", deliveries_[i].body, secret_);
        if (!res) client.reset();  // the process died: connect afresh next time
        if (res && (res->status == 202 || res->status == 200)) {
          std::lock_guard lock(mu_);
          deliveries_[i].status = res->status;
          ++acked_;
          break;
        }
        std::this_thread::sleep_for(10ms);
      }
      std::this_thread::sleep_for(pace);
    }
  }

  std::vector<Delivery>& deliveries_;  // status guarded by mu_ while senders run
  const std::string secret_;
  std::mutex mu_;
  std::atomic<int> port_{0};
  std::atomic<size_t> next_{0};
  std::atomic<int> acked_{0};
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

// deskpilot's internal notes on a sandbox ticket, or nullopt if the sandbox did not answer.
inline std::optional<int> DeskpilotNotes(const SandboxDesk& desk, const std::string& ticket_id) {
  auto c = desk.Client();
  auto res = c.Get(("/api/tickets/" + ticket_id + "/comments").c_str());
  if (!res || res->status != 200) return std::nullopt;
  const nlohmann::json doc = nlohmann::json::parse(res->body);
  int notes = 0;
  for (const auto& cm : doc["comments"])
    notes += cm.value("author_id", "") == std::string(kSandboxApiUserId) && !cm.value("public", true);
  return notes;
}

// The fixture: `deskpilot serve` on the sandbox with 2 workers (two jobs in flight when a kill
// lands) and a 1 s lease (a killed worker's job comes back quickly), in assist mode.
class ServeKillTest : public ::testing::Test {
 protected:
  explicit ServeKillTest(const std::string& name) : desk_(name) {}

  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(DESKPILOT_BINARY)) << DESKPILOT_BINARY;
    ASSERT_TRUE(desk_.started());
    config_ = desk_.WriteConfig("[workers]\nthreads = 2\nlease_seconds = 1\npoll_ms = 50\n"
                                "[policy]\nmode = \"assist\"\n");
  }
  void TearDown() override {
    if (HasFailure()) desk_.Keep();
  }

  // One start of the binary, with `extra_env` beside the desk's secrets; each start logs to
  // its own serve-N.log.
  std::unique_ptr<Process> Start(const std::vector<std::string>& extra_env) {
    std::vector<std::string> env = desk_.Env();
    env.insert(env.end(), extra_env.begin(), extra_env.end());
    return std::make_unique<Process>(std::vector<std::string>{DESKPILOT_BINARY, "serve", "--config", config_},
                                     env, desk_.Path("serve-" + std::to_string(++starts_) + ".log"));
  }

  // After the kills: a clean run that must drain. Then every delivery was acknowledged and has
  // exactly one job, done; each ticket has exactly one deskpilot note and the help desk applied
  // exactly one keyed update per event; the audit chain verifies and integrity_check is ok.
  void DrainAndCheckExactlyOnce(RedeliveringSenders& senders, const std::vector<Delivery>& deliveries) {
    using namespace std::chrono_literals;
    using json = nlohmann::json;
    const int n = static_cast<int>(deliveries.size());
    auto proc = Start({});
    const int p = proc->WaitForPort(60s);
    ASSERT_GT(p, 0) << proc->Log();
    senders.SetPort(p);
    const auto drained = std::chrono::steady_clock::now() + 60s;
    std::map<std::string, int> states;
    while (std::chrono::steady_clock::now() < drained) {
      states = JobStates(db_);
      if (senders.acked() == n && states["queued"] == 0 && states["leased"] == 0) break;
      std::this_thread::sleep_for(100ms);
    }
    senders.Stop();  // joined: the deliveries' statuses are final
    EXPECT_EQ(proc->Terminate(30s), 0) << proc->Log();

    // --- every acknowledged delivery was processed, once ---
    ASSERT_EQ(senders.acked(), n);
    EXPECT_EQ(states["queued"], 0);
    EXPECT_EQ(states["leased"], 0);
    EXPECT_EQ(states["dead"], 0);
    auto jobs = Query(db_, "SELECT dedupe_key, state FROM jobs");
    ASSERT_TRUE(jobs.has_value());
    std::map<std::string, std::string> job_state;
    for (const auto& r : *jobs) EXPECT_TRUE(job_state.emplace(r[0], r[1]).second) << "two jobs for " << r[0];
    EXPECT_EQ(job_state.size(), deliveries.size());
    for (const auto& d : deliveries) {
      ASSERT_NE(d.status, 0) << d.event_id << " was never acknowledged";
      auto it = job_state.find("sandbox:desk:" + d.event_id);
      ASSERT_NE(it, job_state.end()) << "acknowledged delivery " << d.event_id << " has no job";
      EXPECT_TRUE(it->second == "done" || it->second == "skipped") << d.event_id << " is " << it->second;
    }

    // --- exactly one write-back per event at the help desk: a write-back whose "done" a kill
    // undid ran again under the same idempotency key, and the help desk applied it once ---
    int notes_total = 0;
    for (const auto& d : deliveries) {
      std::optional<int> notes = DeskpilotNotes(desk_, d.ticket_id);
      ASSERT_TRUE(notes.has_value()) << "ticket " << d.ticket_id;
      EXPECT_EQ(*notes, 1) << "ticket " << d.ticket_id << " has " << *notes << " deskpilot notes";
      notes_total += *notes;
    }
    auto c = desk_.Client();
    auto stats = c.Get("/api/_stats");
    ASSERT_TRUE(stats && stats->status == 200);
    const json st = json::parse(stats->body);
    EXPECT_EQ(st["applied_updates"].get<int>(), n) << st.dump();
    EXPECT_EQ(st["unkeyed_updates"].get<int>(), 0) << st.dump();
    std::cout << "help desk: " << notes_total << " notes, " << st["applied_updates"] << " applied updates, "
              << st["idempotent_replays"] << " idempotent replays\n";

    // --- the database and the audit chain survived every kill ---
    std::string out;
    EXPECT_EQ(RunCommand(std::string(DESKPILOT_BINARY) + " audit verify --db " + db_, &out), 0) << out;
    auto integrity = Query(db_, "PRAGMA integrity_check");
    ASSERT_TRUE(integrity.has_value());
    ASSERT_EQ(integrity->size(), 1u);
    EXPECT_EQ((*integrity)[0][0], "ok");
  }

  SandboxDesk desk_;
  const std::string db_ = desk_.db();
  std::string config_;
  int starts_ = 0;
};

}  // namespace deskpilot::testing_harness
