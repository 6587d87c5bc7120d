#include "deskpilot/circuit_breaker.h"

#include <gtest/gtest.h>

namespace deskpilot {
namespace {

using namespace std::chrono_literals;
using Clock = CircuitBreaker::Clock;

TEST(CircuitBreaker, OpensAfterConsecutiveTransientFailuresAndDefers) {
  CircuitBreaker cb("model", 3, 10s);
  Clock::time_point t0{};
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(cb.Allow(t0).ok());
    cb.Record(Status::Unavailable("503"), t0);
  }
  EXPECT_EQ(cb.state(), CircuitBreaker::State::kClosed);
  ASSERT_TRUE(cb.Allow(t0).ok());
  cb.Record(Status::DeadlineExceeded("timeout"), t0);
  EXPECT_EQ(cb.state(), CircuitBreaker::State::kOpen);
  Status refused = cb.Allow(t0 + 2s);
  EXPECT_EQ(refused.code(), Code::kUnavailable);
  EXPECT_TRUE(refused.deferred());
  EXPECT_TRUE(refused.retryable());
  ASSERT_TRUE(refused.retry_after().has_value());
  EXPECT_EQ(*refused.retry_after(), 8000ms);
}

TEST(CircuitBreaker, RefusingForSaysHowLongAnOpenCircuitStaysShutWithoutChangingIt) {
  CircuitBreaker cb("vendor", 1, 10s);
  Clock::time_point t0{};
  EXPECT_FALSE(cb.RefusingFor(t0).has_value()) << "closed: calls may go ahead";
  cb.Record(Status::Unavailable("503"), t0);
  ASSERT_EQ(cb.state(), CircuitBreaker::State::kOpen);
  EXPECT_EQ(cb.RefusingFor(t0 + 3s), 7000ms);
  EXPECT_EQ(cb.RefusingFor(t0 + 3s), 7000ms) << "asking is not a call";
  EXPECT_EQ(cb.state(), CircuitBreaker::State::kOpen);
  // Once open_for has passed a probe is due: nothing to wait for, even before Allow
  // has moved the circuit to half-open.
  EXPECT_FALSE(cb.RefusingFor(t0 + 10s).has_value());
  ASSERT_TRUE(cb.Allow(t0 + 10s).ok());  // the probe
  EXPECT_FALSE(cb.RefusingFor(t0 + 10s).has_value()) << "half-open is not open";
  cb.Record(Status::Unavailable("503"), t0 + 11s);
  EXPECT_EQ(cb.RefusingFor(t0 + 11s), 10000ms) << "a failed probe opens it for open_for again";
}

TEST(CircuitBreaker, SuccessAndPermanentErrorsResetTheCount) {
  CircuitBreaker cb("vendor", 2, 10s);
  Clock::time_point t0{};
  cb.Record(Status::Unavailable("500"), t0);
  cb.Record(Status::Ok(), t0);
  cb.Record(Status::Unavailable("500"), t0);
  EXPECT_EQ(cb.state(), CircuitBreaker::State::kClosed);
  cb.Record(Status::InvalidArgument("422 proves the upstream answers"), t0);
  cb.Record(Status::Unavailable("500"), t0);
  EXPECT_EQ(cb.state(), CircuitBreaker::State::kClosed);
}

TEST(CircuitBreaker, HalfOpenLetsOneProbeThrough) {
  CircuitBreaker cb("model", 1, 5s);
  Clock::time_point t0{};
  cb.Record(Status::Unavailable("500"), t0);
  EXPECT_FALSE(cb.Allow(t0 + 4s).ok());
  EXPECT_TRUE(cb.Allow(t0 + 5s).ok());    // the probe
  EXPECT_FALSE(cb.Allow(t0 + 5s).ok());   // others still wait
  cb.Record(Status::Unavailable("still down"), t0 + 6s);
  EXPECT_EQ(cb.state(), CircuitBreaker::State::kOpen);
  EXPECT_FALSE(cb.Allow(t0 + 10s).ok());
  EXPECT_TRUE(cb.Allow(t0 + 11s).ok());
  cb.Record(Status::Ok(), t0 + 11s);
  EXPECT_EQ(cb.state(), CircuitBreaker::State::kClosed);
  EXPECT_TRUE(cb.Allow(t0 + 11s).ok());
  EXPECT_TRUE(cb.Allow(t0 + 11s).ok());
}

TEST(CircuitBreaker, RateLimitsNeverOpenTheCircuit) {
  CircuitBreaker cb("model", 2, 5s);
  for (int i = 0; i < 10; ++i) cb.Record(Status::ResourceExhausted("429"));
  EXPECT_EQ(cb.state(), CircuitBreaker::State::kClosed);
  cb.Record(Status::Unavailable("500"));
  cb.Record(Status::ResourceExhausted("429 between two 5xx does not reset"));
  cb.Record(Status::Unavailable("500"));
  EXPECT_EQ(cb.state(), CircuitBreaker::State::kOpen);
}

TEST(CircuitBreaker, DeferredOutcomesDoNotCount) {
  CircuitBreaker cb("model", 1, 5s);
  Status d = Status::Unavailable("other breaker");
  d.set_deferred();
  cb.Record(d);
  EXPECT_EQ(cb.state(), CircuitBreaker::State::kClosed);
}

// After an outage the desk often throttles the backlog's burst: the probe gets a 429. That is
// the upstream answering, so the circuit closes; before, the probe stayed "in flight" and
// every later call was deferred until a restart.
TEST(CircuitBreaker, AProbeAnsweredWithARateLimitClosesTheCircuit) {
  CircuitBreaker cb("vendor", 1, 2s);
  Clock::time_point t0{};
  cb.Record(Status::Unavailable("503"), t0);
  ASSERT_EQ(cb.state(), CircuitBreaker::State::kOpen);
  ASSERT_TRUE(cb.Allow(t0 + 2s).ok()) << "the probe";
  EXPECT_TRUE(cb.Allow(t0 + 2s).deferred()) << "one probe at a time";
  cb.Record(Status::ResourceExhausted("429"), t0 + 2s);
  EXPECT_EQ(cb.state(), CircuitBreaker::State::kClosed);
  EXPECT_TRUE(cb.Allow(t0 + 3s).ok());
  EXPECT_FALSE(cb.RefusingFor(t0 + 3s).has_value());
}

// A probe whose outcome is never recorded does not shut the upstream out for good.
TEST(CircuitBreaker, AProbeThatNeverReportsIsGivenUpAfterOpenFor) {
  CircuitBreaker cb("vendor", 1, 2s);
  Clock::time_point t0{};
  cb.Record(Status::Unavailable("503"), t0);
  ASSERT_TRUE(cb.Allow(t0 + 2s).ok()) << "the probe, never recorded";
  EXPECT_TRUE(cb.Allow(t0 + 3s).deferred());
  ASSERT_TRUE(cb.Allow(t0 + 4s).ok()) << "a second probe once open_for has passed";
  cb.Record(Status::Ok(), t0 + 4s);
  EXPECT_EQ(cb.state(), CircuitBreaker::State::kClosed);
}

}  // namespace
}  // namespace deskpilot
