// Crash safety, end to end: hundreds of signed webhooks go to the real `deskpilot serve`
// while it is killed with SIGKILL, at random moments and at each named fail point
// (src/core/failpoint.h), and restarted on the same database each time. Afterwards:
//   - every delivery that was acknowledged (202/200) has a job that finished;
//   - the help desk received exactly one applied write-back per ticket event, and each
//     ticket carries exactly one deskpilot note;
//   - nothing is left queued or leased after a final clean run;
//   - `deskpilot audit verify` passes and PRAGMA integrity_check is ok.
// The sender behaves like a vendor: an unacknowledged delivery is sent again.
#include <filesystem>
#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "deliveries.h"
#include "harness.h"

namespace deskpilot {
namespace {

namespace fs = std::filesystem;
namespace th = testing_harness;
using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr int kTickets = 300;
constexpr int kSenders = 4;

class CrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(DESKPILOT_BINARY)) << DESKPILOT_BINARY;
    ASSERT_TRUE(desk_.started());
    // A 1 s lease brings a killed worker's job back quickly; 2 workers so two jobs can
    // be in flight when the kill lands.
    config_ = desk_.WriteConfig("[workers]\nthreads = 2\nlease_seconds = 1\npoll_ms = 50\n"
                                "[policy]\nmode = \"assist\"\n");
  }
  void TearDown() override {
    if (HasFailure()) desk_.Keep();
  }

  std::unique_ptr<th::Process> Start(const std::string& failpoints) {
    std::vector<std::string> env = desk_.Env();
    if (!failpoints.empty()) env.push_back("DESKPILOT_FAILPOINTS=" + failpoints);
    return std::make_unique<th::Process>(std::vector<std::string>{DESKPILOT_BINARY, "serve", "--config", config_},
                                         env, desk_.Path("serve-" + std::to_string(++starts_) + ".log"));
  }

  th::SandboxDesk desk_{"crash"};
  const std::string db_ = desk_.db();
  std::string config_;
  int starts_ = 0;
};

TEST_F(CrashTest, KillNineAnywhereLosesNothingAndWritesOnce) {
  // --- the tickets and the events the vendor will deliver (one event per ticket) ---
  std::vector<th::Delivery> deliveries = th::CreateTicketDeliveries(desk_, kTickets, 10000, "evt_crash_");
  ASSERT_EQ(deliveries.size(), static_cast<size_t>(kTickets));

  // --- senders: like a vendor, redeliver until acknowledged, whichever process is up ---
  // Paced so that ingestion overlaps several crashes instead of finishing first.
  th::RedeliveringSenders senders(deliveries, desk_.secret(), kSenders, 25ms);

  // --- crash rounds: each named fail point (at a random hit), alternating with kills at
  // random moments ---
  std::mt19937 rng(std::random_device{}());
  const char* kPoints[] = {"after_enqueue_commit", "after_lease", "after_pipeline", "after_write_back"};
  std::map<std::string, int> fired;
  int random_kills = 0;
  const auto deadline = std::chrono::steady_clock::now() + 75s;
  auto all_points_fired = [&] {
    for (const char* p : kPoints)
      if (fired[p] < 2) return false;
    return true;
  };
  for (int round = 0; std::chrono::steady_clock::now() < deadline; ++round) {
    const bool work_left = senders.acked() < kTickets || th::JobStates(db_)["queued"] + th::JobStates(db_)["leased"] > 0;
    if (all_points_fired() && random_kills >= 6) break;
    if (!work_left) break;
    const bool use_point = round % 2 == 0;
    std::string spec;
    if (use_point) {
      // The enqueue point first (while deliveries still arrive), then round-robin.
      const char* point = kPoints[(round / 2) % 4];
      spec = std::string(point) + "@" + std::to_string(std::uniform_int_distribution<int>(1, 12)(rng));
    }
    auto proc = Start(spec);
    int p = proc->WaitForPort(60s);
    if (p == 0 && use_point && proc->ExitCode() == 128 + SIGKILL) {
      // The fail point fired before the port was printed: the workers start before the
      // "listening" line, and a queued job can reach after_lease first. Still a crash round.
      ++fired[spec.substr(0, spec.find('@'))];
      continue;
    }
    ASSERT_GT(p, 0) << proc->Log();
    senders.SetPort(p);
    if (use_point) {
      // Wait for the fail point; give up (and kill) if the work ran out first.
      bool self_killed = proc->WaitExit(4s);
      if (self_killed) {
        EXPECT_EQ(proc->ExitCode(), 128 + SIGKILL) << proc->Log();
        ++fired[spec.substr(0, spec.find('@'))];
      }
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(50, 600)(rng)));
      ++random_kills;
    }
    senders.SetPort(0);
    proc->Kill();
  }

  // --- a final clean run: everything must drain ---
  auto proc = Start("");
  int p = proc->WaitForPort(60s);
  ASSERT_GT(p, 0) << proc->Log();
  senders.SetPort(p);
  auto drained = std::chrono::steady_clock::now() + 60s;
  std::map<std::string, int> states;
  while (std::chrono::steady_clock::now() < drained) {
    states = th::JobStates(db_);
    if (senders.acked() == kTickets && states["queued"] == 0 && states["leased"] == 0) break;
    std::this_thread::sleep_for(100ms);
  }
  senders.Stop();  // joined: the deliveries' statuses are final
  EXPECT_EQ(proc->Terminate(30s), 0) << proc->Log();

  for (const char* pt : kPoints) EXPECT_GE(fired[pt], 1) << "fail point " << pt << " never fired";
  std::cout << "crash rounds: " << starts_ - 1 << " restarts, random kills " << random_kills << ", fail points:";
  for (const auto& [k, v] : fired) std::cout << " " << k << "=" << v;
  std::cout << "\n";

  // --- every acknowledged delivery was processed, once ---
  ASSERT_EQ(senders.acked(), kTickets);
  EXPECT_EQ(states["queued"], 0);
  EXPECT_EQ(states["leased"], 0);
  EXPECT_EQ(states["dead"], 0);
  auto jobs = th::Query(db_, "SELECT dedupe_key, state FROM jobs");
  ASSERT_TRUE(jobs.has_value());
  std::map<std::string, std::string> job_state;
  for (const auto& r : *jobs) EXPECT_TRUE(job_state.emplace(r[0], r[1]).second) << "two jobs for " << r[0];
  EXPECT_EQ(job_state.size(), static_cast<size_t>(kTickets));
  for (const auto& d : deliveries) {
    ASSERT_NE(d.status, 0) << d.event_id << " was never acknowledged";
    auto it = job_state.find("sandbox:desk:" + d.event_id);
    ASSERT_NE(it, job_state.end()) << "acknowledged delivery " << d.event_id << " has no job";
    EXPECT_TRUE(it->second == "done" || it->second == "skipped") << d.event_id << " is " << it->second;
  }

  // --- exactly one write-back per event at the help desk ---
  int notes_total = 0;
  for (const auto& d : deliveries) {
    std::optional<int> notes = th::DeskpilotNotes(desk_, d.ticket_id);
    ASSERT_TRUE(notes.has_value()) << "ticket " << d.ticket_id;
    EXPECT_EQ(*notes, 1) << "ticket " << d.ticket_id << " has " << *notes << " deskpilot notes";
    notes_total += *notes;
  }
  auto c = desk_.Client();
  auto stats = c.Get("/api/_stats");
  ASSERT_TRUE(stats && stats->status == 200);
  json st = json::parse(stats->body);
  EXPECT_EQ(st["applied_updates"].get<int>(), kTickets) << st.dump();
  EXPECT_EQ(st["unkeyed_updates"].get<int>(), 0) << st.dump();
  std::cout << "help desk: " << notes_total << " notes, " << st["applied_updates"] << " applied updates, "
            << st["idempotent_replays"] << " idempotent replays\n";

  // --- the database and the audit chain survived every kill ---
  std::string out;
  EXPECT_EQ(th::RunCommand(std::string(DESKPILOT_BINARY) + " audit verify --db " + db_, &out), 0) << out;
  auto integrity = th::Query(db_, "PRAGMA integrity_check");
  ASSERT_TRUE(integrity.has_value());
  ASSERT_EQ(integrity->size(), 1u);
  EXPECT_EQ((*integrity)[0][0], "ok");
}

}  // namespace
}  // namespace deskpilot
