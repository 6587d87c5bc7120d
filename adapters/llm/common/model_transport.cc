#include "llm/common/model_transport.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <thread>

#include <spdlog/spdlog.h>

#include "deskpilot/text.h"

namespace deskpilot {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Far above any real answer (a 64-input embeddings batch of 3072 dimensions is about 4 MB
// of JSON; a reply of the largest max_output_tokens about as much), and a bound on what a
// broken or hostile server can make each worker hold (the parsed JSON takes several times
// the text).
constexpr size_t kMaxResponseBytes = size_t{32} << 20;

// The `error` object both APIs return: OpenAI {"error": {"message", "type", "code"}},
// Anthropic {"type": "error", "error": {"type", "message", "details"?}}.
struct ApiError {
  std::string type;
  std::string code;
  std::string message;
  std::string details;  // Anthropic error.details.error_code
};

ApiError ParseApiError(const std::string& body) {
  ApiError e;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("error")) return e;
  const auto& err = j["error"];
  if (err.is_string()) {
    e.message = err.get<std::string>();  // some OpenAI-compatible servers
    return e;
  }
  if (!err.is_object()) return e;
  auto str = [&](const nlohmann::json& o, const char* k) {
    auto it = o.find(k);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  e.type = str(err, "type");
  e.code = str(err, "code");
  e.message = str(err, "message");
  if (auto d = err.find("details"); d != err.end() && d->is_object()) e.details = str(*d, "error_code");
  return e;
}

bool IsSpendLimit(int status, const ApiError& e) {
  if (status == 402) return true;
  const std::string text = AsciiLower(e.type + " " + e.code + " " + e.details + " " + e.message);
  static const char* const kMarkers[] = {"insufficient_quota", "billing", "credit balance",
                                         "spend limit", "spend_limit", "quota exceeded"};
  for (const char* m : kMarkers)
    if (text.find(m) != std::string::npos) return true;
  return false;
}

}  // namespace

Status ModelHttpStatus(const HttpResponse& response, const std::string& what) {
  const ApiError e = ParseApiError(response.body);
  std::string message = what + ": HTTP " + std::to_string(response.status);
  if (!e.type.empty()) message += " " + e.type;
  if (!e.code.empty()) message += " (" + e.code + ")";
  if (!e.details.empty()) message += " [" + e.details + "]";
  // Error messages describe the problem, not the prompt; capped all the same.
  if (!e.message.empty()) message += ": " + e.message.substr(0, 160);
  if (IsSpendLimit(response.status, e))
    return Status::FailedPrecondition(message + " (quota or spend limit: not retried)");
  // 429 → kResourceExhausted, 408/409/5xx (529 included) → kUnavailable, 401/403 →
  // kUnauthenticated/kPermissionDenied, other 4xx final; Retry-After kept.
  const Status mapped = StatusFromHttp(response, what);
  Status out(mapped.code(), message);
  if (mapped.retry_after()) out.set_retry_after(*mapped.retry_after());
  return out;
}

std::string AnswerString(const nlohmann::json& object, const char* key, const std::string& fallback) {
  if (!object.is_object()) return fallback;
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : fallback;
}

int64_t AnswerTokens(const nlohmann::json& usage, const char* key) {
  if (!usage.is_object()) return 0;
  auto it = usage.find(key);
  if (it == usage.end()) return 0;
  if (it->is_number_unsigned()) return static_cast<int64_t>(std::min<uint64_t>(it->get<uint64_t>(), INT64_MAX));
  if (it->is_number_integer()) return std::max<int64_t>(it->get<int64_t>(), 0);
  return 0;
}

bool ModelTransport::Slots::Acquire(SteadyClock::time_point deadline) {
  std::unique_lock lock(mu_);
  if (!cv_.wait_until(lock, deadline, [&] { return free_ > 0; })) return false;
  --free_;
  return true;
}

void ModelTransport::Slots::Release() {
  {
    std::lock_guard lock(mu_);
    ++free_;
  }
  cv_.notify_one();
}

ModelTransport::ModelTransport(LlmOptions options, HttpClient* http, Store* store)
    : options_(std::move(options)),
      http_(http),
      budget_(store, options_.adapter + ":" + options_.model, options_.daily_token_budget),
      breaker_("llm:" + options_.adapter + ":" + options_.base_url, options_.circuit_failure_threshold,
               options_.circuit_open_for),
      slots_(options_.max_concurrency),
      sleep_([](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); }) {}

Result<nlohmann::json> ModelTransport::PostJson(const std::string& path, const Headers& headers,
                                                const std::string& body) {
  DP_RETURN_IF_ERROR(budget_.Check());
  const auto deadline = SteadyClock::now() + options_.timeout;
  if (!slots_.Acquire(deadline))
    return Status::DeadlineExceeded(options_.adapter + " " + path + ": no free call slot within timeout_ms (max_concurrency " +
                                    std::to_string(options_.max_concurrency) + ")");
  struct SlotGuard {
    Slots& s;
    ~SlotGuard() { s.Release(); }
  } guard{slots_};

  // Checked after the slot is ours, so a half-open probe is never stranded waiting.
  DP_RETURN_IF_ERROR(breaker_.Allow());
  HttpRequest request;
  request.method = "POST";
  request.url = options_.base_url + path;
  request.headers = headers;
  request.headers.emplace_back("Content-Type", "application/json");
  request.body = body;
  request.connect_timeout = options_.connect_timeout;
  request.max_response_bytes = kMaxResponseBytes;
  Result<nlohmann::json> result = SendWithDeadline(request, deadline);
  breaker_.Record(result.status());
  return result;
}

Result<nlohmann::json> ModelTransport::SendWithDeadline(const HttpRequest& base,
                                                        SteadyClock::time_point deadline) {
  const std::string what = options_.adapter + " POST " + base.url.substr(options_.base_url.size());
  const int attempts = std::max(1, options_.retry.max_attempts);
  for (int attempt = 0;; ++attempt) {
    const auto remaining =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (remaining.count() <= 0)
      return Status::DeadlineExceeded(what + ": no answer within timeout_ms " +
                                      std::to_string(options_.timeout.count()));
    HttpRequest request = base;
    request.timeout = remaining;
    request.connect_timeout = std::min(base.connect_timeout, remaining);
    const auto started = SteadyClock::now();
    Result<HttpResponse> sent = http_->Send(request);
    Status status;
    if (!sent.ok()) {
      status = sent.status();
    } else if (sent->status >= 200 && sent->status < 300) {
      auto json = nlohmann::json::parse(sent->body, nullptr, false);
      if (!json.is_discarded() && json.is_object()) {
        spdlog::debug("{}: HTTP {} in {} ms, {} bytes out, {} bytes in, attempt {}", what, sent->status,
                      std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - started).count(),
                      base.body.size(), sent->body.size(), attempt + 1);
        return json;
      }
      // A cut-off or garbled body from a proxy or an overloaded server: worth another try.
      status = Status::Unavailable(what + ": HTTP " + std::to_string(sent->status) +
                                   " with a body that is not a JSON object (" +
                                   std::to_string(sent->body.size()) + " bytes)");
    } else {
      status = ModelHttpStatus(*sent, what);
    }
    const bool last = attempt + 1 >= attempts;
    if (!status.retryable() || last) {
      spdlog::warn("{}: giving up after attempt {}: {}", what, attempt + 1, CodeName(status.code()));
      return status;
    }
    std::chrono::milliseconds delay = BackoffDelay(options_.retry, attempt);
    if (auto ra = status.retry_after()) {
      // A long server-requested wait is not slept here: the error (with its
      // retry_after) goes back so the job is rescheduled instead of holding a worker.
      if (*ra > options_.retry.max_retry_after) return status;
      delay = std::max(delay, *ra);
    }
    if (SteadyClock::now() + delay >= deadline) return status;
    spdlog::info("{}: attempt {} failed ({}), retrying in {} ms", what, attempt + 1,
                 CodeName(status.code()), delay.count());
    sleep_(delay);
  }
}

}  // namespace deskpilot
