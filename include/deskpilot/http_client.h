// Outbound HTTP (libcurl) with the retry rules every upstream shares: jittered
// exponential backoff, Retry-After honoured (seconds or HTTP-date), permanent errors
// never retried.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "deskpilot/status.h"

namespace deskpilot {

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds timeout{30000};
  // The most body bytes read (after decompression); a longer body ends the transfer with
  // kUnavailable, so memory stays bounded whatever the server sends. 0: no cap.
  size_t max_response_bytes = 0;
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Transport failures only (refused, reset, timeout, DNS) are errors here:
  // kUnavailable / kDeadlineExceeded. Any HTTP status is a successful Result.
  virtual Result<HttpResponse> Send(const HttpRequest& request) = 0;
};

// A libcurl client; thread-safe (one easy handle per thread, reused for keep-alive).
std::unique_ptr<HttpClient> NewCurlHttpClient();

// Maps an HTTP status to what the caller should do: 2xx OK; 429 → kResourceExhausted
// with retry_after; 408/5xx → kUnavailable (retry_after when given); 401 →
// kUnauthenticated; 403 → kPermissionDenied; 404/410 → kNotFound; 409 → kUnavailable
// (conflict: retry); other 4xx → kInvalidArgument. `what` prefixes the message.
Status StatusFromHttp(const HttpResponse& response, const std::string& what);

// Parses Retry-After: delta-seconds or an HTTP-date (relative to `now`). nullopt when
// malformed. Negative/past values clamp to zero.
std::optional<std::chrono::milliseconds> ParseRetryAfter(
    const std::string& value,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// RFC 3986 percent-encoding for a path segment or query value: unreserved characters
// pass, every other byte becomes %XX (ids are opaque, queries carry ' ', ':', '>', '=').
// A whole value of "." or ".." is encoded too (%2E): as a path segment it would be a dot
// segment, which the client resolves, so an id ".." would take "/tickets/../actions" to
// "/actions".
std::string PercentEncode(std::string_view s);

struct RetryPolicy {
  int max_attempts = 4;  // in-process attempts per call, including the first
  std::chrono::milliseconds base_delay{200};
  std::chrono::milliseconds max_delay{10000};
  // Longer server-requested waits are not slept in-process: the error is returned
  // (with retry_after) so the job is rescheduled instead of holding a worker.
  std::chrono::milliseconds max_retry_after{30000};
};

// Full-jitter backoff: uniform on [0, min(max_delay, base * 2^attempt)].
std::chrono::milliseconds BackoffDelay(const RetryPolicy& policy, int attempt);

using Sleeper = std::function<void(std::chrono::milliseconds)>;

// Sends with retries. Returns the final response for any non-retryable HTTP status
// (callers map it with StatusFromHttp), or the last error once attempts run out.
Result<HttpResponse> SendWithRetry(HttpClient& client, const HttpRequest& request,
                                   const RetryPolicy& policy, const Sleeper& sleep = {});

// A write that is not idempotent (an internal note, a reply) with the policy's retries.
// A 5xx or a timeout can come after the help desk made the write, so before each retry
// `landed` reads it back (true: it is there, done) and a write is never made twice; a 429
// made nothing and is retried without asking. `send` makes one attempt and maps its
// answer (StatusFromHttp). A Retry-After over policy.max_retry_after is returned, so the
// job queue waits instead of a worker.
Status SendWriteOnce(const std::function<Status()>& send, const std::function<Result<bool>()>& landed,
                     const RetryPolicy& policy, const Sleeper& sleep = {});

}  // namespace deskpilot
