// The call path both model clients share: daily budget, concurrency bound, circuit
// breaker, retries with jittered backoff honouring Retry-After inside one total
// deadline, and the mapping of model-API errors to Status. The adapters only build
// request bodies and parse answers.
//
// Never logs request or response bodies (they hold prompts and ticket text): only the
// adapter, the endpoint, sizes, attempts and status codes.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "deskpilot/circuit_breaker.h"
#include "deskpilot/http_client.h"
#include "deskpilot/status.h"
#include "deskpilot/store.h"
#include "llm/common/llm_options.h"
#include "llm/common/token_budget.h"

namespace deskpilot {

// Maps a non-2xx model-API answer. Quota and spend-limit errors (OpenAI
// "insufficient_quota", Anthropic billing / credit balance / spend limit, any 402) are
// kFailedPrecondition: waiting does not fix them, so they are never retried. 529
// (overloaded) is transient like 503. The message carries the error's type/code and a
// capped excerpt of its message, never the request.
Status ModelHttpStatus(const HttpResponse& response, const std::string& what);

// An answer's bookkeeping fields (model, stop reason, token counts, block types) as
// servers fill them, loosely: OpenAI-compatible ones send null, floats or strings. A
// field missing or of another type reads as `fallback` (a count: as 0, and never
// below 0), so an odd field costs an accurate figure, never the answer, and never
// throws out of the client.
std::string AnswerString(const nlohmann::json& object, const char* key, const std::string& fallback);
int64_t AnswerTokens(const nlohmann::json& usage, const char* key);

class ModelTransport {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;

  ModelTransport(LlmOptions options, HttpClient* http, Store* store);

  // POSTs `body` to base_url + path and returns the parsed JSON answer.
  Result<nlohmann::json> PostJson(const std::string& path, const Headers& headers,
                                  const std::string& body);

  // Adds a finished call's tokens to today's budget.
  void Charge(int64_t tokens) { budget_.Charge(tokens); }
  const LlmOptions& options() const { return options_; }
  CircuitBreaker& breaker() { return breaker_; }
  // Tests replace the backoff sleep so Retry-After can be checked without waiting.
  void set_sleeper(Sleeper s) { sleep_ = std::move(s); }

 private:
  // A counting semaphore whose acquire gives up at a deadline.
  class Slots {
   public:
    explicit Slots(int n) : free_(n) {}
    bool Acquire(std::chrono::steady_clock::time_point deadline);
    void Release();

   private:
    std::mutex mu_;
    std::condition_variable cv_;
    int free_;
  };

  Result<nlohmann::json> SendWithDeadline(const HttpRequest& base,
                                          std::chrono::steady_clock::time_point deadline);

  const LlmOptions options_;
  HttpClient* const http_;
  TokenBudget budget_;
  CircuitBreaker breaker_;
  Slots slots_;
  Sleeper sleep_;
};

}  // namespace deskpilot
