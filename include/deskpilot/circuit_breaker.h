// One circuit breaker per upstream (a help desk's API, a model server). After
// `failure_threshold` consecutive transient failures it opens: calls are refused for
// `open_for` without touching the upstream, and jobs are deferred without using up
// their attempts. Then one probe call is let through (half-open); its success closes
// the circuit (so does a 429: the upstream is answering), its failure opens it again. A
// probe that reports nothing for `open_for` is given up and another let through. Thread-safe.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>

#include "deskpilot/status.h"

namespace deskpilot {

class CircuitBreaker {
 public:
  using Clock = std::chrono::steady_clock;
  enum class State { kClosed, kOpen, kHalfOpen };

  CircuitBreaker(std::string upstream, int failure_threshold = 5,
                 std::chrono::milliseconds open_for = std::chrono::milliseconds(30000));

  // OK when a call may go ahead; otherwise kUnavailable, deferred(), with retry_after
  // set to when the circuit will let a probe through.
  Status Allow(Clock::time_point now = Clock::now());
  // Report the outcome of an allowed call. Only transient failures (5xx, timeouts,
  // resets) count; a 4xx answer proves the upstream is up, and a 429 is neither a
  // failure nor a success (it is honoured through Retry-After instead).
  void Record(const Status& outcome, Clock::time_point now = Clock::now());

  // How long calls will still be refused without a probe (the circuit is open and its
  // open_for has not passed); nullopt when a call may go ahead or a probe is due. Unlike
  // Allow, it changes nothing, so an idle worker can ask before leasing work.
  std::optional<std::chrono::milliseconds> RefusingFor(Clock::time_point now = Clock::now()) const;

  State state() const;
  const std::string& upstream() const { return upstream_; }

 private:
  const std::string upstream_;
  const int threshold_;
  const std::chrono::milliseconds open_for_;
  mutable std::mutex mu_;
  State state_ = State::kClosed;
  int failures_ = 0;
  Clock::time_point opened_at_{};
  bool probe_in_flight_ = false;
  Clock::time_point probe_started_at_{};
};

}  // namespace deskpilot
