#include "llm/common/token_budget.h"

#include <ctime>

#include <spdlog/spdlog.h>

namespace deskpilot {

TokenBudget::TokenBudget(Store* store, std::string scope, int64_t daily_limit)
    : store_(store), scope_(std::move(scope)), limit_(daily_limit) {}

std::string TokenBudget::UtcDay(TimePoint t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

std::string TokenBudget::Key(const std::string& day) const { return "llm.tokens:" + scope_ + ":" + day; }

int64_t TokenBudget::LoadLocked(const std::string& day) {
  if (day == day_) return used_;
  day_ = day;
  used_ = 0;
  if (store_ == nullptr) return used_;
  auto got = store_->CacheGet(Key(day));
  if (!got.ok()) {
    // An unreadable counter must not turn into an unlimited budget for the day.
    spdlog::warn("llm budget {}: cannot read today's total: {}", scope_, got.status().ToString());
    used_ = limit_;
    day_.clear();
  } else if (got->has_value()) {
    try {
      used_ = std::stoll(**got);
    } catch (const std::exception&) {
      used_ = limit_;
    }
  }
  return used_;
}

Status TokenBudget::Check(TimePoint now) {
  if (limit_ <= 0) return Status::Ok();
  std::lock_guard lock(mu_);
  const std::string day = UtcDay(now);
  const int64_t used = LoadLocked(day);
  if (used < limit_) return Status::Ok();
  return Status::FailedPrecondition("daily token budget of " + std::to_string(limit_) + " for " +
                                    scope_ + " is used up for " + day + " (UTC)");
}

void TokenBudget::Charge(int64_t tokens, TimePoint now) {
  if (limit_ <= 0 || tokens <= 0) return;
  std::lock_guard lock(mu_);
  const std::string day = UtcDay(now);
  used_ = LoadLocked(day) + tokens;
  if (store_ == nullptr) return;
  Status put = store_->CachePut(Key(day), std::to_string(used_),
                                std::chrono::duration_cast<std::chrono::milliseconds>(
                                    now.time_since_epoch()).count());
  if (!put.ok()) spdlog::warn("llm budget {}: cannot persist today's total: {}", scope_, put.ToString());
}

int64_t TokenBudget::Used(TimePoint now) {
  std::lock_guard lock(mu_);
  return LoadLocked(UtcDay(now));
}

}  // namespace deskpilot
