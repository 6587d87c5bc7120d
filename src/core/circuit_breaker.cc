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
  // A probe whose outcome never came back (its caller took a path that does not Record)
  // must not shut the upstream out for good: after open_for another probe may go.
  if (state_ == State::kHalfOpen && (!probe_in_flight_ || now - probe_started_at_ >= open_for_)) {
    probe_in_flight_ = true;  // exactly one probe; everyone else keeps waiting
    probe_started_at_ = now;
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
  // (reliability.md), so it neither counts nor resets while the circuit is closed. A probe
  // answered with one is the usual case after an outage (the desk throttles the backlog's
  // burst), and it is the upstream answering: the circuit closes. Returning early there
  // would leave the probe in flight and every later call deferred, for ever.
  if (outcome.code() == Code::kResourceExhausted) {
    if (state_ == State::kHalfOpen) {
      state_ = State::kClosed;
      failures_ = 0;
      probe_in_flight_ = false;
    }
    return;
  }
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
