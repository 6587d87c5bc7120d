// A mutex with two classes of lockers, for the store's one write connection.
//
// Why: webhook acks wait for the group commit, and the group commit needs the connection
// that the workers use in a tight loop (lease, commit, release, lease ...). std::mutex is
// not fair: a worker that unlocks and relocks at once wins again and again over the
// committer that the unlock woke, and under load the committer waited up to 0.45 s for a
// lock nobody held longer than 13 ms (bench/RESULTS.md, "Webhook ack — 2026-11-23 (2)").
//
// Rules: a waiting urgent locker (LockUrgent) goes before waiting normal lockers (lock),
// except that after an urgent holder releases, one waiting normal locker goes first. So
// under contention the two classes alternate: an ack waits for at most one background
// operation, and background work is never starved by a stream of commits. Among lockers
// of the same class the order is unspecified (they are few: the workers and the heartbeat).
#pragma once

#include <condition_variable>
#include <mutex>

namespace deskpilot {

class PriorityMutex {
 public:
  // Normal class (BasicLockable, so std::lock_guard works).
  void lock() {
    std::unique_lock l(m_);
    ++normal_waiting_;
    cv_.wait(l, [this] { return !held_ && (urgent_waiting_ == 0 || normal_turn_); });
    --normal_waiting_;
    normal_turn_ = false;
    held_ = true;
  }

  void LockUrgent() {
    std::unique_lock l(m_);
    ++urgent_waiting_;
    cv_.wait(l, [this] { return !held_ && !(normal_turn_ && normal_waiting_ > 0); });
    --urgent_waiting_;
    held_ = true;
    held_urgent_ = true;
  }

  void unlock() {
    {
      std::lock_guard l(m_);
      // An urgent holder hands the next turn to a normal waiter, if there is one.
      normal_turn_ = held_urgent_ && normal_waiting_ > 0;
      held_ = false;
      held_urgent_ = false;
    }
    cv_.notify_all();
  }

  // For tests: how many lockers of each class are waiting.
  int NormalWaiting() const {
    std::lock_guard l(m_);
    return normal_waiting_;
  }
  int UrgentWaiting() const {
    std::lock_guard l(m_);
    return urgent_waiting_;
  }

 private:
  mutable std::mutex m_;
  std::condition_variable cv_;
  bool held_ = false;
  bool held_urgent_ = false;
  bool normal_turn_ = false;  // set by an urgent unlock while normal lockers wait
  int normal_waiting_ = 0;
  int urgent_waiting_ = 0;
};

// RAII for the urgent class.
class UrgentLock {
 public:
  explicit UrgentLock(PriorityMutex& mu) : mu_(mu) { mu_.LockUrgent(); }
  ~UrgentLock() { mu_.unlock(); }
  UrgentLock(const UrgentLock&) = delete;
  UrgentLock& operator=(const UrgentLock&) = delete;

 private:
  PriorityMutex& mu_;
};

}  // namespace deskpilot
