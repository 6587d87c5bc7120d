#include "store/priority_mutex.h"

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace deskpilot {
namespace {

// Spins until `ready` holds; the waiting counters make the interleavings below exact
// rather than dependent on sleeps.
template <typename F>
void WaitUntil(F ready) {
  while (!ready()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

// Each thread takes the lock in its class and appends its name; the vector is guarded by
// the mutex under test itself.
struct Recorder {
  PriorityMutex mu;
  std::vector<std::string> order;
  std::vector<std::thread> threads;

  void Normal(const std::string& name) {
    threads.emplace_back([this, name] {
      std::lock_guard lock(mu);
      order.push_back(name);
    });
  }
  void Urgent(const std::string& name) {
    threads.emplace_back([this, name] {
      UrgentLock lock(mu);
      order.push_back(name);
    });
  }
  void Join() {
    for (auto& t : threads) t.join();
  }
};

TEST(PriorityMutexTest, AWaitingUrgentLockerGoesBeforeNormalOnes) {
  Recorder r;
  r.mu.lock();  // a background operation holds the connection
  r.Normal("worker1");
  WaitUntil([&] { return r.mu.NormalWaiting() == 1; });
  r.Normal("worker2");
  WaitUntil([&] { return r.mu.NormalWaiting() == 2; });
  r.Urgent("commit");
  WaitUntil([&] { return r.mu.UrgentWaiting() == 1; });
  r.mu.unlock();
  r.Join();
  ASSERT_EQ(r.order.size(), 3u);
  EXPECT_EQ(r.order[0], "commit");
}

TEST(PriorityMutexTest, UnderContentionTheClassesAlternateSoNeitherStarves) {
  Recorder r;
  r.mu.LockUrgent();  // a commit holds the connection
  r.Normal("worker1");
  WaitUntil([&] { return r.mu.NormalWaiting() == 1; });
  r.Normal("worker2");
  WaitUntil([&] { return r.mu.NormalWaiting() == 2; });
  r.Urgent("commit1");
  WaitUntil([&] { return r.mu.UrgentWaiting() == 1; });
  r.Urgent("commit2");
  WaitUntil([&] { return r.mu.UrgentWaiting() == 2; });
  r.mu.unlock();
  r.Join();
  ASSERT_EQ(r.order.size(), 4u);
  // After a commit one worker operation goes, then a commit, and so on.
  EXPECT_EQ(r.order[0].substr(0, 6), "worker");
  EXPECT_EQ(r.order[1].substr(0, 6), "commit");
  EXPECT_EQ(r.order[2].substr(0, 6), "worker");
  EXPECT_EQ(r.order[3].substr(0, 6), "commit");
}

TEST(PriorityMutexTest, AnUrgentReleaseWithNoNormalWaiterLeavesNoTurnBehind) {
  PriorityMutex mu;
  mu.LockUrgent();
  mu.unlock();  // nobody waits: no normal turn may be left pending
  std::vector<std::string> order;
  mu.lock();
  std::thread urgent([&] {
    UrgentLock lock(mu);
    order.push_back("commit");
  });
  WaitUntil([&] { return mu.UrgentWaiting() == 1; });
  std::thread normal([&] {
    std::lock_guard lock(mu);
    order.push_back("worker");
  });
  WaitUntil([&] { return mu.NormalWaiting() == 1; });
  mu.unlock();
  urgent.join();
  normal.join();
  EXPECT_EQ(order, (std::vector<std::string>{"commit", "worker"}));
}

TEST(PriorityMutexTest, ExcludesMutuallyUnderMixedLoad) {
  PriorityMutex mu;
  int counter = 0;
  int inside = 0;
  bool overlap = false;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5000; ++i) {
        auto body = [&] {
          if (++inside != 1) overlap = true;
          ++counter;
          --inside;
        };
        if (t % 2 == 0) {
          UrgentLock lock(mu);
          body();
        } else {
          std::lock_guard lock(mu);
          body();
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(counter, 20000);
  EXPECT_FALSE(overlap);
}

}  // namespace
}  // namespace deskpilot
