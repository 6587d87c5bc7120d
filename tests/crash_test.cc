// Crash safety, end to end: hundreds of signed webhooks go to the real `deskpilot serve`
// while it is killed with SIGKILL, at random moments and at each named fail point
// (src/core/failpoint.h), and restarted on the same database each time. Afterwards:
//   - every delivery that was acknowledged (202/200) has a job that finished;
//   - the help desk received exactly one applied write-back per ticket event, and each
//     ticket carries exactly one deskpilot note;
//   - nothing is left queued or leased after a final clean run;
//   - `deskpilot audit verify` passes and PRAGMA integrity_check is ok.
// The sender behaves like a vendor: an unacknowledged delivery is sent again.
#include <random>

#include <gtest/gtest.h>

#include "kill_harness.h"

namespace deskpilot {
namespace {

namespace th = testing_harness;
using namespace std::chrono_literals;

constexpr int kTickets = 300;
constexpr int kSenders = 4;

class CrashTest : public th::ServeKillTest {
 protected:
  CrashTest() : ServeKillTest("crash") {}

  std::unique_ptr<th::Process> Start(const std::string& failpoints) {
    if (failpoints.empty()) return ServeKillTest::Start({});
    return ServeKillTest::Start({"DESKPILOT_FAILPOINTS=" + failpoints});
  }
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

  for (const char* pt : kPoints) EXPECT_GE(fired[pt], 1) << "fail point " << pt << " never fired";
  std::cout << "crash rounds: " << starts_ << " starts, random kills " << random_kills << ", fail points:";
  for (const auto& [k, v] : fired) std::cout << " " << k << "=" << v;
  std::cout << "\n";

  // --- a final clean run: everything drains, once ---
  DrainAndCheckExactlyOnce(senders, deliveries);
}

}  // namespace
}  // namespace deskpilot
