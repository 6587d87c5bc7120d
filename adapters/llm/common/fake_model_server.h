// Test support: the loopback half of a fake model API. A vendor fake (FakeOpenAiServer,
// FakeAnthropicServer) supplies the wire format; this class serves HTTP on 127.0.0.1
// port 0, plays a script of behaviours (one step per request, then correct answers),
// lets a hook produce the model's answer from the request (so a test can make the
// fake "obey" text injected into a ticket), and records every request.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "deskpilot/status.h"

namespace deskpilot {

enum class FakeBehavior {
  kAnswer,           // a correct answer: the answer hook's text
  kMalformedOutput,  // the model's text is cut-off JSON
  kSchemaViolation,  // the model's text is valid JSON with none of the expected fields
  kMalformedBody,    // HTTP 200 whose body is not JSON at all
  kRateLimited,      // 429 with Retry-After: FakeStep::retry_after (seconds or HTTP-date)
  kServerError,      // 500
  kOverloaded,       // 529
  kHang,             // answers only after FakeStep::hang (past the client's timeout)
  kQuotaExhausted,   // the vendor's spend-limit / insufficient-quota error
  kUnauthorized,     // 401
};

struct FakeStep {
  FakeStep(FakeBehavior b = FakeBehavior::kAnswer, std::string retry_after_value = {},
           std::chrono::milliseconds hang_for = std::chrono::milliseconds(5000))
      : behavior(b), retry_after(std::move(retry_after_value)), hang(hang_for) {}
  FakeBehavior behavior;
  std::string retry_after;  // kRateLimited: header value; empty sends none
  std::chrono::milliseconds hang;
};

// What the fake received, in vendor-neutral terms (filled by the vendor fake).
struct FakeModelRequest {
  std::string path;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string raw_body;
  nlohmann::json body;  // parsed; null when the body was not JSON
  std::string model;
  std::string system;
  std::vector<std::pair<std::string, std::string>> messages;  // role, content
  std::optional<nlohmann::json> schema;  // the requested output schema, if any
  std::vector<std::string> inputs;       // embeddings
};

struct FakeHttpAnswer {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Rough token count for usage fields: one token per 4 bytes, at least 1.
int64_t FakeTokens(const std::string& text);

class FakeModelServer {
 public:
  using AnswerHook = std::function<std::string(const FakeModelRequest&)>;

  virtual ~FakeModelServer();
  FakeModelServer(const FakeModelServer&) = delete;
  FakeModelServer& operator=(const FakeModelServer&) = delete;

  Status Start();  // binds 127.0.0.1 on a free port; serves on background threads
  void Stop();     // also releases hanging requests
  int port() const { return port_; }
  // What a client's `base_url` should be (vendor-specific prefix included).
  std::string base_url() const;

  // Steps are used one per request, in order; afterwards every request is answered.
  void Script(std::vector<FakeStep> steps);
  // Produces the model's text (JSON text when a schema was requested).
  void SetAnswer(AnswerHook hook);
  // Every answer waits this long first (to observe concurrency). The wait ends at the
  // deadline, not in polling steps, so a benchmark measures this latency and no more.
  void SetLatency(std::chrono::milliseconds latency);
  // Requests served at once (the HTTP thread pool; default 64, above the tests' and the
  // model benchmark's default concurrency of 32). Call before Start().
  void SetMaxConcurrency(int requests);

  std::vector<FakeModelRequest> Requests() const;
  int RequestCount() const;
  int MaxInFlight() const { return max_in_flight_.load(); }

 protected:
  // `prefix` is prepended to base_url ("/v1" for OpenAI-style servers); `paths` are
  // the full POST paths served.
  FakeModelServer(std::string prefix, std::vector<std::string> paths);
  // Fills the neutral fields of `req` from its parsed body.
  virtual void Extract(FakeModelRequest& req) const = 0;
  // The vendor's HTTP answer for `step`; `text` is the model output for answers.
  virtual FakeHttpAnswer Render(const FakeModelRequest& req, const FakeStep& step,
                                const std::string& text) const = 0;

 private:
  struct Impl;
  FakeHttpAnswer Handle(FakeModelRequest req);

  const std::string prefix_;
  const std::vector<std::string> paths_;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
  mutable std::mutex mu_;
  std::deque<FakeStep> script_;
  AnswerHook answer_;
  std::chrono::milliseconds latency_{0};
  std::vector<FakeModelRequest> requests_;
  std::atomic<int> in_flight_{0};
  std::atomic<int> max_in_flight_{0};
  std::atomic<bool> stopping_{false};
  int max_concurrency_ = 64;
  std::mutex wait_mu_;                // with wait_cv_: Stop() ends every latency wait
  std::condition_variable wait_cv_;
};

}  // namespace deskpilot
