#include "deskpilot/circuit_breaker.h"

#include <algorithm>

namespace deskpilot {

CircuitBreaker::CircuitBreaker(std::string upstream, int failure_threshold, std::chrono::milliseconds open_for)
    : upstream_(std::move(upstream)), threshold_(std::max(1, failure_threshold)), open_for_(open_for) {}

Status CircuitBreaker::Allow(Clock::time_point now) {
  std::lock_guard lock(mu_);
  if (state_ == State::kClosed) return Status::Ok();
  if (state_ == State::kOpen && now - opened_at_ >= open_for_) {
    state_ = State::kHalfOpen;
    probe_in_flight_ = false;
  }
  if (state_ == State::kHalfOpen && !probe_in_flight_) {
    probe_in_flight_ = true;  // exactly one probe; everyone else keeps waiting
    return Status::Ok();
  }
  auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(opened_at_ + open_for_ - now);
  Status s = Status::Unavailable("circuit open for " + upstream_ + " after " + std::to_string(threshold_) +
                                 " consecutive failures");
  s.set_deferred().set_retry_after(std::max(wait, std::chrono::milliseconds(1000)));
  return s;
}

void CircuitBreaker::Record(const Status& outcome, Clock::time_point now) {
  std::lock_guard lock(mu_);
  // Only failures that say "the upstream is unwell" count. A deferred status came from
  // a breaker, not from the upstream. A 429 (kResourceExhausted) proves the upstream is up
  // and answering: it is honoured through Retry-After, never by opening the circuit
  // (reliability.md), so it neither counts nor resets.
  if (outcome.code() == Code::kResourceExhausted) return;
  const bool transient = !outcome.ok() && !outcome.deferred() &&
                         (outcome.code() == Code::kUnavailable || outcome.code() == Code::kDeadlineExceeded);
  if (!transient) {
    if (!outcome.deferred()) {
      state_ = State::kClosed;
      failures_ = 0;
      probe_in_flight_ = false;
    }
    return;
  }
  if (state_ == State::kHalfOpen) {
    state_ = State::kOpen;
    opened_at_ = now;
    probe_in_flight_ = false;
    return;
  }
  if (++failures_ >= threshold_ && state_ == State::kClosed) {
    state_ = State::kOpen;
    opened_at_ = now;
  }
}

std::optional<std::chrono::milliseconds> CircuitBreaker::RefusingFor(Clock::time_point now) const {
  std::lock_guard lock(mu_);
  if (state_ != State::kOpen || now - opened_at_ >= open_for_) return std::nullopt;
  return std::chrono::ceil<std::chrono::milliseconds>(opened_at_ + open_for_ - now);
}

CircuitBreaker::State CircuitBreaker::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

}  // namespace deskpilot
