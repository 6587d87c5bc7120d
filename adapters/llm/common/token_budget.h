// A daily token budget (input + output tokens per UTC day) for one model client.
// The running total lives in the store's cache table under a per-day key, so a restart
// does not hand out a fresh budget; without a store it is kept in memory.
//
// Calls already in flight when the budget runs out still complete, so a day can end a
// few calls over the limit; no call starts once it is reached. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include "deskpilot/status.h"
#include "deskpilot/store.h"

namespace deskpilot {

class TokenBudget {
 public:
  using TimePoint = std::chrono::system_clock::time_point;
  // `scope` names the client ("openai:gpt-4o-mini"); limit 0 means unlimited.
  TokenBudget(Store* store, std::string scope, int64_t daily_limit);

  // OK while today's total is below the limit; kFailedPrecondition (never retried)
  // once it is reached.
  Status Check(TimePoint now = std::chrono::system_clock::now());
  void Charge(int64_t tokens, TimePoint now = std::chrono::system_clock::now());
  int64_t Used(TimePoint now = std::chrono::system_clock::now());

  static std::string UtcDay(TimePoint t);  // "2026-11-22"

 private:
  std::string Key(const std::string& day) const;
  int64_t LoadLocked(const std::string& day);

  Store* const store_;
  const std::string scope_;
  const int64_t limit_;
  std::mutex mu_;
  std::string day_;     // the day `used_` belongs to
  int64_t used_ = 0;
};

}  // namespace deskpilot
