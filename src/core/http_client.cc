#include "deskpilot/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <random>
#include <thread>

#include "deskpilot/text.h"

namespace deskpilot {

namespace {

// curl_global_init is not thread-safe and must run before any other thread uses curl,
// so it runs exactly once, on first use of the client.
void EnsureCurlGlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// One easy handle per thread: reusing it keeps connections (and TLS sessions) alive
// between calls, and no handle is ever shared across threads.
struct ThreadHandle {
  CURL* curl = nullptr;
  ThreadHandle() { curl = curl_easy_init(); }
  ~ThreadHandle() {
    if (curl != nullptr) curl_easy_cleanup(curl);
  }
  ThreadHandle(const ThreadHandle&) = delete;
  ThreadHandle& operator=(const ThreadHandle&) = delete;
};

struct BodySink {
  std::string* body;
  size_t cap;  // HttpRequest::max_response_bytes; 0: none
  bool over = false;
};

size_t WriteBody(char* data, size_t size, size_t nmemb, void* user) {
  auto* sink = static_cast<BodySink*>(user);
  const size_t n = size * nmemb;
  if (sink->cap != 0 && n > sink->cap - std::min(sink->cap, sink->body->size())) {
    sink->over = true;
    return 0;  // anything but n: curl ends the transfer (CURLE_WRITE_ERROR)
  }
  sink->body->append(data, n);
  return n;
}

size_t WriteHeader(char* data, size_t size, size_t nmemb, void* user) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(user);
  std::string_view line(data, size * nmemb);
  // A new status line starts a new header block (100 Continue, proxies): keep only
  // the final response's headers.
  if (line.rfind("HTTP/", 0) == 0) {
    headers->clear();
    return size * nmemb;
  }
  auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name = AsciiLower(TrimAsciiSpace(line.substr(0, colon)));
    std::string value(TrimAsciiSpace(line.substr(colon + 1)));
    auto [it, inserted] = headers->emplace(name, value);
    if (!inserted) it->second += ", " + value;  // repeated headers fold per RFC 9110
  }
  return size * nmemb;
}

class CurlHttpClient : public HttpClient {
 public:
  CurlHttpClient() { EnsureCurlGlobalInit(); }

  Result<HttpResponse> Send(const HttpRequest& request) override {
    thread_local ThreadHandle handle;
    CURL* curl = handle.curl;
    if (curl == nullptr) return Status::Internal("curl_easy_init failed");
    // Reset drops the previous request's options but keeps the connection cache.
    curl_easy_reset(curl);

    HttpResponse response;
    char error_buffer[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // signals are unsafe with threads
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(request.connect_timeout.count()));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteBody);
    BodySink sink{&response.body, request.max_response_bytes};
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, WriteHeader);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response.headers);
    curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");  // whatever curl can decode
    // Redirects are not followed: an API that redirects is misconfigured, and
    // following would resend credentials to another host.
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);

    if (request.method == "GET") {
      curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    } else if (request.method == "HEAD") {
      curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else {
      if (request.method != "POST")
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
      if (!request.body.empty() || request.method == "POST") {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(request.body.size()));
      }
    }

    curl_slist* header_list = nullptr;
    for (const auto& [name, value] : request.headers)
      header_list = curl_slist_append(header_list, (name + ": " + value).c_str());
    // "Expect: 100-continue" costs a round trip on every large POST for no benefit here.
    header_list = curl_slist_append(header_list, "Expect:");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, header_list);

    CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(header_list);
    // The list and the error buffer die with this frame; the reused handle must not
    // keep pointers to them.
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);

    if (sink.over) {
      return Status::Unavailable(request.method + " " + request.url + ": response body over " +
                                 std::to_string(request.max_response_bytes) + " bytes: transfer stopped");
    }
    if (rc != CURLE_OK) {
      std::string detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(rc);
      std::string message = request.method + " " + request.url + ": " + detail;
      switch (rc) {
        case CURLE_OPERATION_TIMEDOUT:
          return Status::DeadlineExceeded(message);
        case CURLE_URL_MALFORMAT:
        case CURLE_UNSUPPORTED_PROTOCOL:
          // A bad URL is a configuration error; retrying cannot fix it.
          return Status::InvalidArgument(message);
        default:
          return Status::Unavailable(message);
      }
    }
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    response.status = static_cast<int>(code);
    return response;
  }
};

bool IsRetryableHttpStatus(int status) {
  switch (status) {
    // 409: a concurrent update won the race; StatusFromHttp maps it to kUnavailable too.
    case 408: case 409: case 425: case 429: case 500: case 502: case 503: case 504: case 529:
      return true;
    default:
      return false;
  }
}

// A 429 that means "out of money/quota" will not clear by waiting; retrying only
// burns attempts (OpenAI "insufficient_quota", Anthropic "credit balance", ...).
bool IsQuotaExhausted(const HttpResponse& response) {
  static const char* const kMarkers[] = {"insufficient_quota", "billing", "spend limit",
                                         "credit balance"};
  auto contains_marker = [](const std::string& text) {
    std::string lower = AsciiLower(text);
    for (const char* marker : kMarkers)
      if (lower.find(marker) != std::string::npos) return true;
    return false;
  };
  if (contains_marker(response.body)) return true;
  for (const auto& [name, value] : response.headers)
    if (contains_marker(value)) return true;
  return false;
}

// Retry-After, or the millisecond variant some model APIs send alongside it.
std::optional<std::chrono::milliseconds> RetryAfterOf(const HttpResponse& response) {
  std::string ms = std::string(TrimAsciiSpace(response.Header("retry-after-ms")));
  if (!ms.empty() && ms.size() < 12 &&
      std::all_of(ms.begin(), ms.end(), [](unsigned char c) { return std::isdigit(c); }))
    return std::chrono::milliseconds(std::stoll(ms));
  std::string value = response.Header("retry-after");
  if (value.empty()) return std::nullopt;
  return ParseRetryAfter(value);
}

int MonthIndex(const char* name) {
  static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int i = 0; i < 12; ++i)
    if (std::string_view(name) == kMonths[i]) return i;
  return -1;
}

// Parses the three HTTP-date forms of RFC 9110 §5.6.7 (IMF-fixdate, RFC 850, asctime).
std::optional<std::time_t> ParseHttpDate(const std::string& s) {
  char month[4] = {0};
  int day = 0, year = 0, hour = 0, minute = 0, second = 0, consumed = -1;
  const int len = static_cast<int>(s.size());
  bool parsed = false;
  // %n is only stored when every directive before it matched, so consumed == len
  // proves the whole string had the expected shape.
  if (std::sscanf(s.c_str(), "%*[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n", &day, month,
                  &year, &hour, &minute, &second, &consumed) == 6 &&
      consumed == len) {
    parsed = true;
  }
  consumed = -1;
  if (!parsed &&
      std::sscanf(s.c_str(), "%*[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d GMT%n", &day, month,
                  &year, &hour, &minute, &second, &consumed) == 6 &&
      consumed == len) {
    // Two-digit years: RFC 9110 says to read a date more than 50 years ahead as past.
    year += (year < 70) ? 2000 : 1900;
    parsed = true;
  }
  consumed = -1;
  if (!parsed &&
      std::sscanf(s.c_str(), "%*[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d %4d%n", month, &day, &hour,
                  &minute, &second, &year, &consumed) == 6 &&
      consumed == len) {
    parsed = true;
  }
  if (!parsed) return std::nullopt;
  int mon = MonthIndex(month);
  if (mon < 0 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60 || year < 1970)
    return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return timegm(&tm);
}

}  // namespace

std::unique_ptr<HttpClient> NewCurlHttpClient() { return std::make_unique<CurlHttpClient>(); }

Status StatusFromHttp(const HttpResponse& response, const std::string& what) {
  const int code = response.status;
  if (code >= 200 && code < 300) return Status::Ok();
  // A short body excerpt makes vendor errors actionable; cap it so a whole HTML error
  // page never lands in a log line, and keep it on that line (its line breaks and control
  // characters would otherwise forge log lines or reach an operator's terminal).
  std::string excerpt = OneLineText(Utf8Prefix(response.body, 200));
  std::string message = what + ": HTTP " + std::to_string(code);
  if (!excerpt.empty()) message += ": " + excerpt;
  auto retry_after = RetryAfterOf(response);
  Status status;
  if (code == 429 && IsQuotaExhausted(response)) {
    // Waiting will not refill a spend limit: dead-letter with the reason, and an operator
    // requeues (`deskpilot jobs retry`) once the quota is raised.
    return Status::FailedPrecondition(message + " (quota or spend limit exhausted; not retried)");
  } else if (code == 429) {
    status = Status::ResourceExhausted(message);
  } else if (code == 408 || code == 409 || code >= 500) {
    status = Status::Unavailable(message);
  } else if (code == 401) {
    return Status::Unauthenticated(message);
  } else if (code == 403) {
    return Status::PermissionDenied(message);
  } else if (code == 404 || code == 410) {
    return Status::NotFound(message);
  } else if (code >= 400) {
    return Status::InvalidArgument(message);
  } else {
    // 1xx/3xx as a final answer: the endpoint is misconfigured (e.g. a redirect).
    return Status::FailedPrecondition(message);
  }
  if (retry_after) status.set_retry_after(*retry_after);
  return status;
}

std::optional<std::chrono::milliseconds> ParseRetryAfter(
    const std::string& value, std::chrono::system_clock::time_point now) {
  std::string_view v = TrimAsciiSpace(value);
  if (v.empty()) return std::nullopt;
  std::string_view digits = v;
  bool negative = false;
  if (digits.front() == '-') {
    negative = true;
    digits.remove_prefix(1);
  }
  if (!digits.empty() && std::all_of(digits.begin(), digits.end(),
                                     [](unsigned char c) { return std::isdigit(c); })) {
    if (negative) return std::chrono::milliseconds(0);
    // Absurd values saturate at a day rather than overflowing; the caller treats
    // anything above its max_retry_after the same way.
    if (digits.size() > 6) return std::chrono::milliseconds(86400LL * 1000);
    int64_t seconds = std::stoll(std::string(digits));
    return std::chrono::milliseconds(std::min<int64_t>(seconds, 86400) * 1000);
  }
  auto when = ParseHttpDate(std::string(v));
  if (!when) return std::nullopt;
  // In milliseconds, not through system_clock's nanoseconds: a date past 2262 would
  // overflow them (found by tests/fuzz/fuzz_retry_after). Saturates at a day like above.
  const int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const int64_t delta_ms = static_cast<int64_t>(*when) * 1000 - now_ms;
  return std::chrono::milliseconds(std::clamp<int64_t>(delta_ms, 0, 86400LL * 1000));
}

std::string PercentEncode(std::string_view s) {
  if (s == "." || s == "..") return s.size() == 1 ? "%2E" : "%2E%2E";
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::chrono::milliseconds BackoffDelay(const RetryPolicy& policy, int attempt) {
  // attempt counts retries from 0; the shift is capped so the ceiling never overflows.
  const int shift = std::clamp(attempt, 0, 30);
  const int64_t ceiling =
      std::min<int64_t>(policy.max_delay.count(), policy.base_delay.count() << shift);
  if (ceiling <= 0) return std::chrono::milliseconds(0);
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<int64_t> dist(0, ceiling);
  return std::chrono::milliseconds(dist(rng));
}

Result<HttpResponse> SendWithRetry(HttpClient& client, const HttpRequest& request,
                                   const RetryPolicy& policy, const Sleeper& sleep) {
  const Sleeper& do_sleep =
      sleep ? sleep : Sleeper([](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); });
  const int attempts = std::max(1, policy.max_attempts);
  for (int attempt = 0;; ++attempt) {
    const bool last = attempt + 1 >= attempts;
    Result<HttpResponse> result = client.Send(request);
    if (!result.ok()) {
      if (!result.status().retryable() || last) return result;
      do_sleep(BackoffDelay(policy, attempt));
      continue;
    }
    const HttpResponse& response = result.value();
    if (!IsRetryableHttpStatus(response.status) || last) return result;
    if (response.status == 429 && IsQuotaExhausted(response)) return result;
    std::chrono::milliseconds delay = BackoffDelay(policy, attempt);
    if (auto retry_after = RetryAfterOf(response)) {
      // Holding a worker for a long server-requested wait starves other jobs; hand the
      // response back so the caller reschedules with the retry_after it carries.
      if (*retry_after > policy.max_retry_after) return result;
      delay = std::max(delay, *retry_after);
    }
    do_sleep(delay);
  }
}

Status SendWriteOnce(const std::function<Status()>& send, const std::function<Result<bool>()>& landed,
                     const RetryPolicy& policy, const Sleeper& sleep) {
  const Sleeper& do_sleep =
      sleep ? sleep : Sleeper([](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); });
  const int attempts = std::max(1, policy.max_attempts);
  for (int attempt = 0;; ++attempt) {
    Status st = send();
    if (st.ok() || !st.retryable() || attempt + 1 >= attempts) return st;
    std::chrono::milliseconds delay = BackoffDelay(policy, attempt);
    if (auto ra = st.retry_after()) {
      if (*ra > policy.max_retry_after) return st;
      delay = std::max(delay, *ra);
    }
    do_sleep(delay);
    if (st.code() == Code::kResourceExhausted) continue;
    DP_ASSIGN_OR_RETURN(const bool there, landed());
    if (there) return Status::Ok();
  }
}

}  // namespace deskpilot
